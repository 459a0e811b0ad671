//! `opskit bindstats`: every shared document, a real named on loopback checked against its own
//! JSON and XML, munin-run with a symlinked plugin, and failures.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{free_port, munin_fields, opskit, require_tool, run, shared_fixtures, which};

fn json_of(file: &Path) -> Value {
    let (code, out, err) = run(opskit()
        .args(["bindstats", "--format", "json", "--file"])
        .arg(file));
    assert_eq!(code, 0, "{}: {err}", file.display());
    serde_json::from_str(&out).unwrap()
}

/// Non-zero counters of a group (JSON leaves zero counters out, XML keeps them).
fn nz(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default()
}

fn gunzip(src: &Path, dir: &Path) -> PathBuf {
    let mut d = flate2::read::GzDecoder::new(std::fs::File::open(src).unwrap());
    let mut buf = Vec::new();
    d.read_to_end(&mut buf).unwrap();
    let p = dir.join(src.file_stem().unwrap());
    std::fs::write(&p, buf).unwrap();
    p
}

#[test]
fn every_shared_document_parses() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let p = if name.ends_with(".gz") {
            gunzip(&p, tmp.path())
        } else {
            p
        };
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".xml") || name.ends_with(".json")) {
            continue;
        }
        let v = json_of(&p);
        let want = if name.contains("v2") {
            "xml-v2"
        } else if name.ends_with(".xml") {
            "xml-v3"
        } else {
            "json-v1"
        };
        assert_eq!(v["format"], want, "{name}");
        // munin config and values agree on the field set for every document
        let (c1, config, _) = run(opskit().args(["bindstats", "config", "--file"]).arg(&p));
        let (c2, values, _) = run(opskit().args(["bindstats", "--file"]).arg(&p));
        assert_eq!((c1, c2), (0, 0), "{name}");
        assert_eq!(
            munin_fields(&config, ".label "),
            munin_fields(&values, ".value "),
            "{name}"
        );
        for l in config.lines().chain(values.lines()) {
            let key = l.split([' ', '.']).next().unwrap();
            assert!(
                valid_name(key) || l.starts_with("graph_") || l.starts_with("multigraph"),
                "{name}: invalid field in '{l}'"
            );
        }
        n += 1;
    }
    assert!(n >= 50, "{n} documents");
}

fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

#[test]
fn xml_and_json_of_the_same_server_give_the_same_fields() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    for ver in ["9.18.49", "9.20.23"] {
        let (x, j) = (
            dir.join(format!("bind-{ver}-lab-xml-v3-full.xml")),
            dir.join(format!("bind-{ver}-lab-json-v1-full.json")),
        );
        // JSON leaves zero counters out, XML keeps them: the munin fields do not care
        let config = |f: &Path| run(opskit().args(["bindstats", "config", "--file"]).arg(f)).1;
        assert_eq!(
            munin_fields(&config(&x), ".label "),
            munin_fields(&config(&j), ".label "),
            "{ver}"
        );
        // nor do the declared counters of the JSON output
        let (xs, js) = (json_of(&x), json_of(&j));
        for k in ["nsstat", "sockstat", "opcodes"] {
            for name in xs[k].as_object().unwrap().keys() {
                let declared = [
                    "Requestv4",
                    "QryAuthAns",
                    "UDP4Open",
                    "TCP6RecvErr",
                    "QUERY",
                ];
                if declared.contains(&name.as_str()) {
                    assert!(js[k].get(name).is_some(), "{ver} {k} {name}");
                }
            }
        }
        assert!(js["views"][0]["resstats"]["QryRTT1600+"].is_u64(), "{ver}");
    }
}

#[test]
fn xml_and_json_of_the_same_server_agree() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    for ver in ["9.18.49", "9.20.23"] {
        let x = json_of(&dir.join(format!("bind-{ver}-lab-xml-v3-server.xml")));
        let j = json_of(&dir.join(format!("bind-{ver}-lab-json-v1-server.json")));
        for k in ["opcodes", "rcodes", "qtypes", "nsstat", "sockstat"] {
            assert_eq!(nz(&x[k]), nz(&j[k]), "{ver} {k}");
        }
        assert!(!nz(&x["nsstat"]).is_empty());
        let xm = json_of(&dir.join(format!("bind-{ver}-lab-xml-v3-mem.xml")));
        let jm = json_of(&dir.join(format!("bind-{ver}-lab-json-v1-mem.json")));
        // the two were fetched moments apart: the same summary keys and context names
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&xm["memory"]), keys(&jm["memory"]), "{ver}");
        assert_eq!(keys(&xm["contexts"]), keys(&jm["contexts"]), "{ver}");
    }
    // 9.18 reports tasks; 9.20 has none and a reduced memory summary
    let t = json_of(&dir.join("bind-9.18.49-lab-xml-v3-tasks.xml"));
    assert!(t["tasks"]["by_state"]["idle"].as_u64().unwrap() > 0);
    assert!(t["tasks"]["distinct_names"].as_u64().unwrap() > 0);
    let f = json_of(&dir.join("bind-9.20.23-lab-xml-v3-full.xml"));
    assert!(f["tasks"].is_null());
    let keys: Vec<&String> = f["memory"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["InUse", "Malloced"]);
    let (code, config, _) = run(opskit()
        .args(["bindstats", "config", "--file"])
        .arg(dir.join("bind-9.20.23-lab-xml-v3-full.xml")));
    assert_eq!(code, 0);
    assert!(!config.contains("multigraph tasks"));
    // contexts that share a name are summed (the perl plugin kept only one)
    let m = json_of(&dir.join("bind-9.18.49-lab-xml-v3-mem.xml"));
    let raw = std::fs::read_to_string(dir.join("bind-9.18.49-lab-xml-v3-mem.xml")).unwrap();
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    for ctx in raw.split("<context>").skip(1) {
        let name = ctx
            .split("<name>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap_or("")
            .to_string();
        let inuse: u64 = ctx
            .split("<inuse>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        *sums.entry(name).or_default() += inuse;
    }
    let ours: BTreeMap<String, u64> = m["contexts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(ours, sums);
}

#[test]
fn munin_field_names_keep_rrd_history() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let (_, config, _) = run(opskit()
        .args(["bindstats", "config", "--file"])
        .arg(dir.join("bind-9.18.49-lab-xml-v3-full.xml")));
    // negative cache entries `!A` are stored by the munin master as `_A`
    let cache = config
        .split("multigraph cache_db_rrsets_internal")
        .nth(1)
        .unwrap()
        .split("multigraph")
        .next()
        .unwrap();
    if cache.contains("!") {
        assert!(cache.contains(".label !"), "{cache}");
        assert!(!cache.lines().any(|l| l.starts_with('!')), "{cache}");
    }
    assert!(config.contains("graph_category dns"));
    assert!(
        config.contains(".type DERIVE")
            && config.contains(".type GAUGE")
            && config.contains(".min 0")
    );
    // stacked graphs: AREA first, then STACK, biggest first
    let q = config
        .split("multigraph queries_in\n")
        .nth(1)
        .unwrap()
        .split("multigraph")
        .next()
        .unwrap();
    let draws: Vec<&str> = q
        .lines()
        .filter(|l| l.contains(".draw "))
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(draws.first(), Some(&"AREA"));
    assert!(draws[1..].iter().all(|d| *d == "STACK"));
    // _bind is left out unless asked for
    assert!(!config.contains("queries_out__bind"));
    let (_, config, _) = run(opskit()
        .args(["bindstats", "config", "--views", "_bind", "--file"])
        .arg(dir.join("bind-9.18.49-lab-xml-v3-full.xml")));
    assert!(config.contains("queries_out__bind") && !config.contains("queries_out_internal"));
    // the perl plugin's VIEW (read before VIEWS) and comma lists
    let full = dir.join("bind-9.18.49-lab-xml-v3-full.xml");
    let views = |env: &[(&str, &str)]| {
        let (_, c, _) = run(opskit()
            .args(["bindstats", "config", "--file"])
            .arg(&full)
            .envs(env.iter().copied()));
        let mut v: Vec<String> = c
            .lines()
            .filter_map(|l| l.strip_prefix("multigraph queries_out_"))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(views(&[]), ["external", "internal"]);
    assert_eq!(views(&[("VIEWS", "internal,_bind")]), ["_bind", "internal"]);
    assert_eq!(
        views(&[("VIEW", "external"), ("VIEWS", "internal")]),
        ["external"]
    );
    // ANY thresholds from ANYWARN/ANYCRIT
    let (_, config, _) = run(opskit()
        .args(["bindstats", "config", "--file"])
        .arg(dir.join("bind-9.18.49-lab-xml-v3-full.xml"))
        .env("ANYWARN", "50")
        .env("ANYCRIT", "100"));
    assert!(
        config.contains("ANY.warning 50") && config.contains("ANY.critical 100"),
        "{config}"
    );
}

/// A real named on free loopback ports, two views (TSIG-keyed), zone statistics; killed on drop.
struct Named {
    child: Child,
    dns: u16,
    stats: u16,
    _dir: tempfile::TempDir,
}

const KEY: &str = "hmac-sha256:ext:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";

impl Named {
    fn start() -> Option<Named> {
        Named::start_views("internal", "external")
    }

    /// With views named `a` (unkeyed clients) and `b` (TSIG key `ext`), as named.conf
    /// strings (a backslash written `\\`).
    fn start_views(a: &str, b: &str) -> Option<Named> {
        let named = which("named")?;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let dns = free_port();
        let stats = free_port();
        for z in ["example.com", "example.net"] {
            std::fs::write(
                dir.path().join(format!("{z}.zone")),
                format!("$TTL 300\n@ IN SOA ns.{z}. admin.{z}. 1 3600 600 86400 300\n@ IN NS ns.{z}.\nns IN A 127.0.0.1\nwww IN A 192.0.2.10\nmail IN MX 10 ns.{z}.\n"),
            )
            .unwrap();
        }
        std::fs::write(
            dir.path().join("named.conf"),
            format!(
                r#"options {{ directory "{d}"; pid-file "{d}/named.pid"; listen-on port {dns} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
  recursion no; zone-statistics full; dnssec-validation no; managed-keys-directory "{d}"; session-keyfile "{d}/session.key"; }};
statistics-channels {{ inet 127.0.0.1 port {stats} allow {{ 127.0.0.1; }}; }};
controls {{ }};
key "ext" {{ algorithm hmac-sha256; secret "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"; }};
view "{a}" {{ match-clients {{ !key ext; any; }}; zone "example.com" {{ type primary; file "{d}/example.com.zone"; }}; }};
view "{b}" {{ match-clients {{ key ext; }}; zone "example.net" {{ type primary; file "{d}/example.net.zone"; }}; }};
"#
            ),
        )
        .unwrap();
        let child = Command::new(named)
            .args(["-g", "-n", "1", "-c"])
            .arg(dir.path().join("named.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let n = Named {
            child,
            dns,
            stats,
            _dir: dir,
        };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", stats)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "named did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(n)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.stats)
    }

    fn dig(&self, name: &str, qtype: &str, keyed: bool) {
        let mut c = Command::new("dig");
        c.args([
            "@127.0.0.1",
            "-p",
            &self.dns.to_string(),
            name,
            qtype,
            "+notcp",
            "+tries=1",
            "+time=2",
        ]);
        if keyed {
            c.args(["-y", KEY]);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "dig {name} {qtype}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn get(&self, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.stats)).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).unwrap();
        buf.split_once("\r\n\r\n").unwrap().1.to_string()
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn real_named_values_equal_its_own_json_and_xml() {
    if !require_tool("named") || !require_tool("dig") {
        return;
    }
    let Some(n) = Named::start() else { return };
    for _ in 0..3 {
        n.dig("www.example.com", "A", false);
    }
    n.dig("example.com", "MX", false);
    n.dig("www.example.net", "A", true);
    n.dig("nonexistent.example.com", "AAAA", false);
    n.dig("example.com", "ANY", false);
    std::thread::sleep(Duration::from_millis(300));
    let (code, out, err) = run(opskit().args([
        "bindstats",
        "--format",
        "json",
        "--master-zones",
        "example.com example.net",
        "--url",
        &n.url(),
    ]));
    assert_eq!(code, 0, "{err}");
    let ours: Value = serde_json::from_str(&out).unwrap();
    // read the same counters independently from the server's own JSON and XML
    let j: Value = serde_json::from_str(&n.get("/json/v1")).unwrap();
    let xml = n.get("/xml/v3/server");
    assert_eq!(nz(&ours["opcodes"]), nz(&j["opcodes"]));
    assert_eq!(nz(&ours["qtypes"]), nz(&j["qtypes"]));
    assert_eq!(nz(&ours["nsstat"]), nz(&j["nsstats"]));
    assert_eq!(ours["qtypes"]["A"].as_u64(), Some(4));
    assert_eq!(ours["qtypes"]["ANY"].as_u64(), Some(1));
    let xml_query: u64 = xml
        .split("<counter name=\"QUERY\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ours["opcodes"]["QUERY"].as_u64(), Some(xml_query));
    assert_eq!(xml_query, 7);
    // per view and per zone
    let views: Vec<&str> = ours["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(
        views.contains(&"internal") && views.contains(&"external"),
        "{views:?}"
    );
    let zone = |view: &str, zone: &str| -> Value {
        ours["views"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == view)
            .unwrap()["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["name"] == zone)
            .unwrap()["qtypes"]
            .clone()
    };
    let jz = |view: &str, zone: &str| -> Value {
        j["views"][view]["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["name"] == zone)
            .unwrap()["qtypes"]
            .clone()
    };
    assert_eq!(
        nz(&zone("internal", "example.com")),
        nz(&jz("internal", "example.com"))
    );
    assert_eq!(
        nz(&zone("external", "example.net")),
        nz(&jz("external", "example.net"))
    );
    assert_eq!(zone("external", "example.net")["A"].as_u64(), Some(1));

    // munin values from the same server: the ANY field and the per-zone graph
    let (code, vals, err) = run(opskit()
        .args(["bindstats", "--url", &n.url()])
        .env("MASTERZONES", "example.com"));
    assert_eq!(code, 0, "{err}");
    assert!(vals.contains("multigraph queries_in\n"), "{vals}");
    assert!(vals.contains("ANY.value 1"), "{vals}");
    assert!(
        vals.contains("multigraph masterzone_reqs_internal\nexample_com.value "),
        "{vals}"
    );
    let (_, auto, _) = run(opskit().args(["bindstats", "autoconf", "--url", &n.url()]));
    assert_eq!(auto.trim(), "yes");
}

#[test]
fn munin_run_with_a_symlinked_plugin() {
    if !require_tool("named") || !require_tool("munin-run") {
        return;
    }
    let Some(n) = Named::start() else { return };
    n.dig("www.example.com", "A", false);
    let tmp = tempfile::tempdir().unwrap();
    let services = tmp.path().join("plugins");
    let conf = tmp.path().join("plugin-conf.d");
    let state = tmp.path().join("state");
    for d in [&services, &conf, &state] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::os::unix::fs::symlink(crate::util::bin(), services.join("bind9_opskit")).unwrap();
    std::fs::write(
        conf.join("bind9_opskit"),
        format!(
            "[bind9_opskit]\nuser root\nenv.url {}\nenv.timeout 5s\n",
            n.url()
        ),
    )
    .unwrap();
    let munin = |arg: Option<&str>| {
        let mut c = Command::new(which("munin-run").unwrap());
        c.arg("--servicedir")
            .arg(&services)
            .arg("--sconfdir")
            .arg(&conf)
            .env("MUNIN_PLUGSTATE", &state)
            .arg("bind9_opskit");
        if let Some(a) = arg {
            c.arg(a);
        }
        run(&mut c)
    };
    let (code, config, err) = munin(Some("config"));
    assert_eq!(code, 0, "{err}");
    assert!(
        config.contains("multigraph queries_in") && config.contains("graph_category dns"),
        "{config} {err}"
    );
    let (code, values, err) = munin(None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        munin_fields(&config, ".label "),
        munin_fields(&values, ".value ")
    );
    assert!(values.contains("A.value 1"), "{values}");

    // BIND down: config still succeeds from the saved state, and every value is unknown
    drop(n);
    let (code, config2, _) = munin(Some("config"));
    assert_eq!(code, 0);
    assert_eq!(
        munin_fields(&config, ".label "),
        munin_fields(&config2, ".label ")
    );
    let (code, values, err) = munin(None);
    assert_eq!(code, 0);
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(
        values
            .lines()
            .filter(|l| l.contains(".value "))
            .all(|l| l.ends_with(".value U")),
        "{values}"
    );
    assert_eq!(
        munin_fields(&config, ".label "),
        munin_fields(&values, ".value ")
    );
}

/// A one-shot HTTP server answering with `response` (or never, when `None`).
fn fake_server(response: Option<&'static str>) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for mut s in l.incoming().take(4).flatten() {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            match response {
                Some(r) => {
                    let _ = s.write_all(r.as_bytes());
                }
                None => std::thread::sleep(Duration::from_secs(4)),
            }
        }
    });
    (port, h)
}

#[test]
fn failures_are_one_line_and_never_partial() {
    // server down
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let (code, out, err) = run(opskit().args(["bindstats", "--format", "json", "--url", &url]));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("connect"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // munin: unknown for every field, exit 0, the cause on stderr
    let (code, out, err) = run(opskit().args(["bindstats", "--url", &url]));
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .filter(|l| l.contains(".value"))
            .all(|l| l.ends_with(" U")),
        "{out}"
    );
    assert!(!out.contains(".value 0"), "never a zero: {out}");
    assert_eq!(err.lines().count(), 1);
    let (code, out, _) = run(opskit().args(["bindstats", "autoconf", "--url", &url]));
    assert_eq!(code, 0);
    assert!(out.starts_with("no (") && out.contains("connect"), "{out}");
    // config succeeds with BIND down and no saved state
    let (code, out, _) = run(opskit().args(["bindstats", "config", "--url", &url]));
    assert_eq!(code, 0);
    assert!(
        out.contains("multigraph requests_ip") && out.contains("Requestv4.label"),
        "{out}"
    );

    // accepts and never answers: the timeout is honoured
    let (port, _h) = fake_server(None);
    let t0 = Instant::now();
    let (code, out, err) = run(opskit().args([
        "bindstats",
        "--format",
        "json",
        "--timeout",
        "1s",
        "--url",
        &format!("http://127.0.0.1:{port}/"),
    ]));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("timed out"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());

    // HTTP 500
    let (port, _h) = fake_server(Some(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ));
    let (code, out, err) = run(opskit().args([
        "bindstats",
        "--format",
        "json",
        "--url",
        &format!("http://127.0.0.1:{port}/"),
    ]));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("HTTP 500"), "{err}");

    // truncated and garbage documents
    let tmp = tempfile::tempdir().unwrap();
    let trunc = tmp.path().join("trunc.xml");
    std::fs::write(&trunc, "<?xml version=\"1.0\"?><statistics version=\"3.13\"><server><counters type=\"opcode\"><counter name=\"QUERY\">5</counter>").unwrap();
    let garbage = tmp.path().join("garbage.bin");
    std::fs::write(&garbage, [0x8bu8, 0x1f, 0x00, 0x42]).unwrap();
    let html = tmp.path().join("page.html");
    std::fs::write(&html, "<html><body>It works!</body></html>").unwrap();
    for (f, want) in [
        (&trunc, "truncated"),
        (&garbage, "not a BIND"),
        (&html, "no <statistics>"),
    ] {
        let (code, out, err) = run(opskit()
            .args(["bindstats", "--format", "json", "--file"])
            .arg(f));
        assert_eq!(code, 1, "{err}");
        assert!(out.is_empty());
        assert!(
            err.contains(&f.display().to_string()) && err.contains(want),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
    }
}

#[test]
fn argv0_dispatch_as_a_munin_plugin_name_with_dots() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("bind9_ns1.example.com");
    std::os::unix::fs::symlink(crate::util::bin(), &link).unwrap();
    let (code, out, err) = run(Command::new(&link)
        .arg("config")
        .arg("--file")
        .arg(dir.join("bind-9.18.49-lab-xml-v3-full.xml")));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("multigraph ns1_example_com_queries_in\n"),
        "{out}"
    );
}

#[test]
fn two_instances_keep_their_own_graph_names_and_state() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let plugin = |name: &str| {
        let p = tmp.path().join(name);
        if !p.exists() {
            std::os::unix::fs::symlink(crate::util::bin(), &p).unwrap();
        }
        let mut c = Command::new(p);
        c.env("MUNIN_PLUGSTATE", &state).env_remove("url");
        c
    };
    let full = dir.join("bind-9.18.49-lab-xml-v3-full.xml");
    // ns1 is up (its views internal and external), ns2 is down and never was up
    let (code, ns1, _) = run(plugin("bind9_ns1").arg("config").arg("--file").arg(&full));
    assert_eq!(code, 0);
    assert!(
        ns1.contains("multigraph ns1_queries_out_internal\n"),
        "{ns1}"
    );
    assert!(!ns1.contains("multigraph queries_in"), "{ns1}");
    let down = format!("http://127.0.0.1:{}/", free_port());
    let (code, ns2, _) = run(plugin("bind9_ns2").args(["config", "--url", &down]));
    assert_eq!(code, 0);
    assert!(ns2.contains("multigraph ns2_queries_in\n"), "{ns2}");
    assert!(!ns2.contains("internal"), "ns2 shows ns1's views: {ns2}");
    let (_, plain, _) = run(plugin("bind9_opskit").args(["config", "--url", &down]));
    assert!(plain.contains("multigraph queries_in\n") && !plain.contains("internal"));
    let mut files: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["opskit-bindstats-ns1.json"]);
    // ns1 down now: its saved graphs, every value unknown
    let (code, vals, _) = run(plugin("bind9_ns1").args(["--url", &down]));
    assert_eq!(code, 0);
    assert!(
        vals.contains("multigraph ns1_queries_out_internal\n"),
        "{vals}"
    );
    assert!(vals
        .lines()
        .filter(|l| l.contains(".value"))
        .all(|l| l.ends_with(" U")));
}

#[test]
fn skipping_zones_changes_nothing_else() {
    use opskit::api::bind::{parse, parse_doc, ZoneFilter};
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for f in [
        gunzip(
            &dir.join("bind-9.18.49-lab-xml-v3-full-1600zones.xml.gz"),
            tmp.path(),
        ),
        dir.join("bind-9.20.23-lab-xml-v3-full.xml"),
        dir.join("bind_exporter-xml-v3-server.xml"),
    ] {
        let doc = std::fs::read(&f).unwrap();
        let mut full = parse(&doc).unwrap();
        // the quick scan finds what the full parse finds: name, class, serial, QryAuthAns
        let summary = parse_doc(&doc, &ZoneFilter::Summary(vec!["example.com".into()])).unwrap();
        let brief =
            |st: &opskit::api::bind::Stats| -> Vec<(String, String, Option<u64>, Option<u64>)> {
                st.views
                    .iter()
                    .flat_map(|v| &v.zones)
                    .map(|z| {
                        let auth = z.rcodes.get("QryAuthAns").copied();
                        (z.name.clone(), z.class.clone(), z.serial, auth)
                    })
                    .collect()
            };
        assert_eq!(brief(&summary), brief(&full), "{}", f.display());
        if f.display().to_string().contains("1600") {
            let n = brief(&full)
                .iter()
                .filter(|z| z.2.is_some() && z.3.is_some())
                .count();
            assert!(n > 1500, "{n}");
        }
        let ex = summary
            .views
            .iter()
            .flat_map(|v| &v.zones)
            .find(|z| z.name == "example.com");
        if let Some(ex) = ex {
            assert!(ex.rcodes.len() > 1, "a listed zone is parsed in full");
        }
        let none = parse_doc(&doc, &ZoneFilter::None).unwrap();
        let some = parse_doc(&doc, &ZoneFilter::Only(vec!["example.com".into()])).unwrap();
        assert!(some
            .views
            .iter()
            .flat_map(|v| &v.zones)
            .all(|z| z.name == "example.com"));
        for v in &mut full.views {
            v.zones.clear();
        }
        assert_eq!(full, none, "{}", f.display());
    }
}

/// A counter from a live named's own JSON (`/json/v1/net`...): 0 when BIND leaves it out.
fn json_counter(v: &Value, group: &str, name: &str) -> u64 {
    v[group][name].as_u64().unwrap_or(0)
}

/// munin values of one graph: field -> value.
fn graph_values(values: &str, graph: &str) -> BTreeMap<String, String> {
    values
        .split(&format!("multigraph {graph}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no graph {graph}: {values}"))
        .split("multigraph ")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(".value "))
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect()
}

#[test]
fn live_socket_io_statistics_equal_json_v1_net() {
    if !require_tool("named") || !require_tool("dig") {
        return;
    }
    let Some(n) = Named::start() else { return };
    n.dig("www.example.com", "A", false);
    std::thread::sleep(Duration::from_millis(200));
    let before: Value = serde_json::from_str(&n.get("/json/v1/net")).unwrap();
    let (code, vals, err) = run(opskit().args(["bindstats", "--url", &n.url()]));
    assert_eq!(code, 0, "{err}");
    let after: Value = serde_json::from_str(&n.get("/json/v1/net")).unwrap();
    let ours = graph_values(&vals, "socket_io_statistics");
    assert_eq!(ours.len(), 19, "{ours:?}");
    let mut nonzero = 0;
    for (f, v) in &ours {
        let v: u64 = v.parse().unwrap_or_else(|_| panic!("{f}: {v}"));
        let (lo, hi) = (
            json_counter(&before, "sockstats", f),
            json_counter(&after, "sockstats", f),
        );
        // the statistics channel's own connections may move TCP counters in between
        assert!(lo <= v && v <= hi, "{f}: {lo} <= {v} <= {hi}");
        nonzero += usize::from(v > 0);
    }
    assert!(nonzero >= 2, "{ours:?}");
    assert!(ours["UDP4Open"] != "0", "{ours:?}");
    // the same counters in the Prometheus output
    let (_, prom, _) =
        run(opskit().args(["bindstats", "--format", "prometheus", "--url", &n.url()]));
    assert!(
        prom.contains("bind_socket_stats_total{name=\"UDP4Open\"} "),
        "{prom}"
    );
}

#[test]
fn live_two_instances_keep_apart() {
    if !require_tool("named") || !require_tool("dig") {
        return;
    }
    let (Some(ns1), Some(ns2)) = (Named::start(), Named::start()) else {
        return;
    };
    for _ in 0..3 {
        ns1.dig("www.example.com", "A", false);
    }
    ns2.dig("example.com", "MX", false);
    std::thread::sleep(Duration::from_millis(200));
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let plugin = |name: &str, url: &str, verb: Option<&str>| {
        let p = tmp.path().join(name);
        if !p.exists() {
            std::os::unix::fs::symlink(crate::util::bin(), &p).unwrap();
        }
        let mut c = Command::new(p);
        c.env("MUNIN_PLUGSTATE", &state)
            .env("url", url)
            .env_remove("HOST");
        if let Some(v) = verb {
            c.arg(v);
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{name}: {err}");
        out
    };
    let v1 = plugin("bind9_ns1", &ns1.url(), None);
    let v2 = plugin("bind9_ns2", &ns2.url(), None);
    assert_eq!(graph_values(&v1, "ns1_queries_in")["A"], "3", "{v1}");
    assert_eq!(graph_values(&v2, "ns2_queries_in")["MX"], "1", "{v2}");
    assert_eq!(graph_values(&v2, "ns2_queries_in")["A"], "0", "{v2}");
    assert!(!v1.contains("multigraph ns2_") && !v2.contains("multigraph ns1_"));
    // ns2 goes down: its config comes from its own state, its values are unknown; ns1 is fine
    let c2 = plugin("bind9_ns2", &ns2.url(), Some("config"));
    drop(ns2);
    let down = plugin(
        "bind9_ns2",
        &format!("http://127.0.0.1:{}/", free_port()),
        Some("config"),
    );
    assert_eq!(munin_fields(&c2, ".label "), munin_fields(&down, ".label "));
    let v1 = plugin("bind9_ns1", &ns1.url(), None);
    assert!(!v1.contains(".value U"), "{v1}");
    let mut files: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["opskit-bindstats-ns1.json", "opskit-bindstats-ns2.json"]
    );
}

#[test]
fn live_listen_scraped_with_curl_live_and_dead() {
    if !require_tool("named") || !require_tool("dig") || !require_tool("curl") {
        return;
    }
    let Some(n) = Named::start() else { return };
    for _ in 0..2 {
        n.dig("www.example.com", "A", false);
    }
    std::thread::sleep(Duration::from_millis(200));
    let l = crate::bindstats_prom::Listener::start(&n.url());
    let (status, body) = l.curl("/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("\nbind_up 1\n"), "{body}");
    assert!(
        body.contains("\nbind_incoming_queries_total{type=\"A\"} 2\n"),
        "{body}"
    );
    assert!(
        body.contains("bind_zone_serial{view=\"internal\",zone_name=\"example.com\"} 1\n"),
        "{body}"
    );
    if let Some(m) = crate::bindstats_prom::parse_exposition(&body) {
        assert_eq!(m["bind_boot_time_seconds"].0, "gauge");
        assert!(m["bind_boot_time_seconds"].1[0].2 > 1.6e9);
    }
    drop(n);
    // a fetch done within the last second answers a scrape: bind_up 0 once it is older
    let mut last = String::new();
    let down = crate::util::wait_until(Duration::from_secs(5), || {
        let (status, body) = l.curl("/metrics");
        assert_eq!(status, 200);
        last = body;
        last.contains("\nbind_up 0\n")
    });
    assert!(down, "{last}");
}

/// `--file`, standard input and HTTP bodies are parsed in chunks as they are read; the
/// library's `parse_doc` parses a document in memory. Both give the same model (or the same
/// error, at the same position) for every shared document and zone filter, with chunk
/// boundaries put at every kind of place (inside tags, inside a jumped-over zone, inside
/// `</zone>` itself, inside a byte order mark) and reads of one to three bytes.
#[test]
fn streamed_documents_parse_as_in_memory_ones() {
    use opskit::api::bind::Chunked;
    use opskit::api::bind::{parse_chunked, parse_doc, ZoneFilter};
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let filters = [
        ZoneFilter::All,
        ZoneFilter::None,
        ZoneFilter::Summary(vec!["example.com".into()]),
        ZoneFilter::Only(vec!["example.com".into()]),
    ];
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut n = 0;
    for p in names {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let p = match name.ends_with(".gz") {
            true => gunzip(&p, tmp.path()),
            false => p,
        };
        if !(name.contains(".xml") || name.contains(".json")) {
            continue;
        }
        let doc = std::fs::read(&p).unwrap();
        let big = doc.len() > 1 << 20;
        for z in &filters {
            let want = parse_doc(&doc, z);
            let caps: &[usize] = match big {
                true => &[64 << 10],
                false => &[64, 67, 1000, 4099],
            };
            for &cap in caps {
                let got = parse_chunked(Chunked::with_capacity(&doc[..], cap), z);
                assert_eq!(got, want, "{name} {z:?} chunk {cap}");
            }
        }
        // a cut document is an error either way, never a partial model, and the error names
        // the same position (line and column for JSON), leading whitespace counted
        for lead in [&b""[..], b"\n\n  \t"] {
            let cut = [lead, &doc[..doc.len() * 2 / 3]].concat();
            let z = ZoneFilter::Summary(vec![]);
            let want = parse_doc(&cut, &z);
            let got = parse_chunked(Chunked::with_capacity(&cut[..], 100), &z);
            assert!(want.is_err(), "{name}");
            assert_eq!(got, want, "{name}");
            if !big {
                let got = parse_chunked(Chunked::with_capacity(Trickle(&cut, 0), 64), &z);
                assert_eq!(got, want, "{name}, read a few bytes at a time");
            }
        }
        if !big {
            for z in &filters {
                let got = parse_chunked(Chunked::with_capacity(Trickle(&doc, 0), 64), z);
                assert_eq!(
                    got,
                    parse_doc(&doc, z),
                    "{name} {z:?}, a few bytes at a time"
                );
            }
        }
        n += 1;
    }
    assert!(n >= 50, "{n} documents");
    // a byte order mark after a jumped-over zone is dropped by a restarted reader in memory:
    // the same when a read ends inside it
    let doc = b"<statistics version=\"3.0\"><server><counters type=\"opcode\"><counter name=\"QUERY\"><zone name=\"x\"></zone>\xef\xbb\xbf12</counter></counters></server></statistics>";
    let z = ZoneFilter::Summary(vec![]);
    let want = parse_doc(doc, &z).unwrap();
    assert_eq!(want.opcodes.get("QUERY"), Some(&12));
    for cap in 64..=100 {
        let got = parse_chunked(Chunked::with_capacity(&doc[..], cap), &z);
        assert_eq!(got.as_ref(), Ok(&want), "chunk {cap}");
    }
    let got = parse_chunked(Chunked::with_capacity(Trickle(doc, 0), 64), &z);
    assert_eq!(got, Ok(want), "read a few bytes at a time");
}

/// A reader that gives one, two or three bytes a read (a trickling pipe or HTTP body).
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.1 += 1;
        let n = (self.1 % 3 + 1).min(out.len()).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Label parity with the real bind_exporter (Debian's prometheus-bind-exporter) scraping the
/// same named: for every family both export, the same label sets; `bind_zone_serial` without
/// the `_bind` view (405 series against 401 before); a backslash in a view name is the real
/// name once parsed (escaped once, by the exposition rules), as bind_exporter reports it.
#[test]
fn label_parity_with_the_real_bind_exporter() {
    use crate::bindstats_prom::parse_exposition;
    if !require_tool("named") || !require_tool("dig") || !require_tool("prometheus-bind-exporter") {
        return;
    }
    let Some(n) = Named::start_views("in\\side", "external") else {
        return;
    };
    n.dig("www.example.com", "A", false);
    n.dig("www.example.net", "A", true);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let exporter = crate::util::Killed(
        Command::new("prometheus-bind-exporter")
            .arg(format!("--bind.stats-url={}", n.url()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--bind.pid-file={}/none.pid", dir.path().display()))
            .arg("--bind.stats-groups=server,view,tasks")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let scrape = || -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        Some(buf.split_once("\r\n\r\n")?.1.to_string())
    };
    let t0 = Instant::now();
    let theirs = loop {
        if let Some(t) = scrape().filter(|t| t.contains("bind_up 1")) {
            break t;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "bind_exporter did not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(exporter);
    let (code, ours, err) =
        run(opskit().args(["bindstats", "--format", "prometheus", "--url", &n.url()]));
    assert_eq!(code, 0, "{err}");
    let (Some(theirs), Some(ours)) = (parse_exposition(&theirs), parse_exposition(&ours)) else {
        return;
    };
    let labels = |p: &crate::bindstats_prom::Parsed, fam: &str| -> BTreeSet<String> {
        // `_total` is the parser's for a counter: bind_recursive_clients is a gauge here
        p[fam]
            .1
            .iter()
            .map(|(name, l, _)| format!("{}{l}", name.trim_end_matches("_total")))
            .collect()
    };
    let mut compared = 0;
    for fam in theirs.keys().filter(|f| ours.contains_key(*f)) {
        // process metrics are named the same but are the exporter's own (no pid file here)
        if fam.starts_with("process_") || fam.starts_with("go_") {
            continue;
        }
        let (t, o) = (labels(&theirs, fam), labels(&ours, fam));
        // opskit exports zeros bind_exporter leaves out (BIND 9.18 omits zero counters in
        // neither XML): every series bind_exporter has, opskit has
        let missing: Vec<_> = t.difference(&o).collect();
        assert!(
            missing.is_empty(),
            "{fam}: bind_exporter has, opskit lacks: {missing:?}"
        );
        compared += t.len();
    }
    assert!(compared > 50, "{compared} series compared");
    assert_eq!(
        labels(&theirs, "bind_zone_serial"),
        labels(&ours, "bind_zone_serial")
    );
    let views: BTreeSet<String> = ours["bind_zone_serial"]
        .1
        .iter()
        .map(|(_, l, _)| l["view"].as_str().unwrap().to_string())
        .collect();
    assert!(
        views.contains("in\\side") && !views.contains("_bind"),
        "{views:?}"
    );
}

/// named's own health (`bind_process_*`) from its pid file, under bind_exporter's names and
/// agreeing with the real bind_exporter reading the same pid file; a pid file that is not
/// there is one warning and no process metrics (bind_up unaffected).
#[test]
fn named_process_metrics_agree_with_bind_exporter() {
    use crate::bindstats_prom::parse_exposition;
    if !require_tool("named") || !require_tool("prometheus-bind-exporter") {
        return;
    }
    let Some(n) = Named::start() else {
        return;
    };
    let pid_file = n._dir.path().join("named.pid");
    let t0 = Instant::now();
    while std::fs::read_to_string(&pid_file).map_or(true, |s| s.trim().is_empty()) {
        assert!(t0.elapsed() < Duration::from_secs(10), "no pid file");
        std::thread::sleep(Duration::from_millis(50));
    }
    let port = free_port();
    let exporter = crate::util::Killed(
        Command::new("prometheus-bind-exporter")
            .arg(format!("--bind.stats-url={}", n.url()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--bind.pid-file={}", pid_file.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let scrape = || -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        Some(buf.split_once("\r\n\r\n")?.1.to_string())
    };
    let t0 = Instant::now();
    let theirs = loop {
        if let Some(t) = scrape().filter(|t| t.contains("bind_process_start_time_seconds")) {
            break t;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "bind_exporter did not answer"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(exporter);
    let (code, ours, err) = run(opskit()
        .args([
            "bindstats",
            "--format",
            "prometheus",
            "--url",
            &n.url(),
            "--pid-file",
        ])
        .arg(&pid_file));
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    let (Some(theirs), Some(ours)) = (parse_exposition(&theirs), parse_exposition(&ours)) else {
        return;
    };
    // the parser names a counter family without `_total`
    let value = |p: &crate::bindstats_prom::Parsed, fam: &str| -> f64 {
        p.get(fam.trim_end_matches("_total"))
            .unwrap_or_else(|| panic!("no {fam}"))
            .1[0]
            .2
    };
    let ours_process: Vec<&String> = ours
        .keys()
        .filter(|k| k.starts_with("bind_process_"))
        .collect();
    assert_eq!(ours_process.len(), 6, "{ours_process:?}");
    for fam in &ours_process {
        assert!(theirs.contains_key(*fam), "bind_exporter has no {fam}");
        assert_eq!(ours[*fam].0, theirs[*fam].0, "{fam}: type");
    }
    let close = |fam: &str, tol: f64| {
        let (a, b) = (value(&ours, fam), value(&theirs, fam));
        assert!((a - b).abs() <= tol, "{fam}: opskit {a}, bind_exporter {b}");
    };
    close("bind_process_start_time_seconds", 0.02);
    close("bind_process_max_fds", 0.0);
    close("bind_process_open_fds", 4.0);
    close("bind_process_cpu_seconds_total", 1.0);
    let (a, b) = (
        value(&ours, "bind_process_resident_memory_bytes"),
        value(&theirs, "bind_process_resident_memory_bytes"),
    );
    assert!(a > 1e6 && (a - b).abs() / b < 0.2, "resident: {a} vs {b}");
    // the twin: a pid file that is not there
    let gone = n._dir.path().join("gone.pid");
    let (code, out, err) = run(opskit()
        .args([
            "bindstats",
            "--format",
            "prometheus",
            "--url",
            &n.url(),
            "--pid-file",
        ])
        .arg(&gone));
    assert_eq!(code, 0);
    assert!(
        out.contains("\nbind_up 1\n") && !out.contains("bind_process_"),
        "{out}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("gone.pid"), "{err}");
}
