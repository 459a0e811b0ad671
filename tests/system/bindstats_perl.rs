//! RRD continuity with the perl `bind9_statchannel` plugin this tool replaces: both are run on
//! the same XML v2 documents served on 127.0.0.1, and every graph and field the perl plugin
//! prints must come out of opskit with the same graph name, field name (as the munin master
//! stores it), type, draw style and value. The only exceptions are the differences the README
//! documents (its "Differences from bind9_statchannel" table), checked here one by one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use opskit::api::format::clean_fieldname;

use crate::util::{opskit, run, shared_fixtures, skip, which};

/// Serve `doc` at `/` (and 404 for everything else, as BIND 9.9 does for `/xml/v3/...`) on a
/// loopback port, for as long as the test process lives.
pub fn serve_v2(doc: Vec<u8>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let path = String::from_utf8_lossy(&req)
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            let (status, body): (&str, &[u8]) = if path == "/" {
                ("200 OK", &doc)
            } else {
                ("404 Not Found", b"not found")
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(body);
        }
    });
    port
}

/// A copy of the perl plugin with the one-line fix SOURCES.md gives for perl >= 5.22.
fn perl_plugin(dir: &Path) -> Option<PathBuf> {
    let src = crate::util::repo().join("../shared/anchors/bind9_statchannel");
    if !src.exists() {
        skip(format_args!("{} is absent", src.display()));
        return None;
    }
    if which("perl").is_none() {
        skip("perl is not installed");
        return None;
    }
    let ok = Command::new("perl")
        .args(["-MXML::Simple", "-MXML::Parser", "-MLWP::UserAgent", "-e1"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip("perl modules XML::Simple, XML::Parser or LWP missing (libxml-simple-perl, libxml-parser-perl, libwww-perl)");
        return None;
    }
    let text = std::fs::read_to_string(&src).unwrap();
    let broken = "\telsif (%{${$graphs}{$graphname}{config}}) {";
    assert!(
        text.contains(broken),
        "the anchor changed: line 355 not found"
    );
    let fixed = text.replacen(
        broken,
        "\telsif (%{${$graphs}{$graphname}{config} || {}}) {",
        1,
    );
    let p = dir.join("bind9_statchannel");
    std::fs::write(&p, fixed).unwrap();
    Some(p)
}

/// graph -> field -> attribute -> value, from `config` and values output (field names as the
/// munin master stores them).
type Parsed = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

fn parse_munin(config: &str, values: &str) -> Parsed {
    let mut out = Parsed::new();
    for text in [config, values] {
        let mut graph = String::new();
        for l in text.lines() {
            if let Some(g) = l.strip_prefix("multigraph ") {
                graph = g.to_string();
                out.entry(graph.clone()).or_default();
                continue;
            }
            if l.starts_with("graph_") || l.trim().is_empty() {
                continue;
            }
            let (key, val) = l.split_once(' ').unwrap();
            let (field, attr) = key.rsplit_once('.').unwrap();
            out.entry(graph.clone())
                .or_default()
                .entry(clean_fieldname(field))
                .or_default()
                .insert(attr.to_string(), val.to_string());
        }
    }
    out
}

fn run_perl(plugin: &Path, port: u16, env: &[(&str, &str)]) -> Parsed {
    let go = |arg: Option<&str>| {
        let mut c = Command::new("perl");
        c.arg(plugin)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string());
        c.envs(env.iter().copied());
        if let Some(a) = arg {
            c.arg(a);
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "perl plugin: {err}");
        out
    };
    parse_munin(&go(Some("config")), &go(None))
}

fn run_opskit(port: u16, env: &[(&str, &str)]) -> Parsed {
    let go = |arg: Option<&str>| {
        let mut c = opskit();
        c.arg("bindstats")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string());
        c.envs(env.iter().copied());
        if let Some(a) = arg {
            c.arg(a);
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "opskit: {err}");
        assert!(err.is_empty(), "{err}");
        out
    };
    parse_munin(&go(Some("config")), &go(None))
}

/// Memory context names (the perl plugin's, trailing digits stripped) that several contexts
/// share in `doc`: the perl plugin kept one of them (XML::Simple folds by name), opskit sums.
fn shared_context_names(doc: &str) -> BTreeSet<String> {
    let mut seen = BTreeMap::<String, u32>::new();
    for ctx in doc.split("<context>").skip(1) {
        let name = ctx
            .split("<name>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap_or("");
        let stripped = name.trim_end_matches(|c: char| c.is_ascii_digit());
        let perl = if !stripped.is_empty()
            && stripped.len() < name.len()
            && stripped.chars().all(|c| c.is_ascii_alphabetic())
        {
            stripped
        } else {
            name
        };
        *seen.entry(clean_fieldname(perl)).or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect()
}

/// Graphs opskit adds (README: "Differences").
const EXTRA_GRAPHS: &[&str] = &["opcodes", "rcodes", "requests_ip"];

fn compare(name: &str, doc: &str, perl: &Parsed, ours: &Parsed) -> usize {
    let shared = shared_context_names(doc);
    let mut checked = 0;
    assert!(!perl.is_empty(), "{name}: the perl plugin printed nothing");
    for (g, fields) in perl {
        let mine = ours
            .get(g)
            .unwrap_or_else(|| panic!("{name}: graph {g} missing; ours: {:?}", ours.keys()));
        for (f, attrs) in fields {
            let m = mine
                .get(f)
                .unwrap_or_else(|| panic!("{name}: {g}.{f} missing; ours: {:?}", mine.keys()));
            let ty =
                |a: &BTreeMap<String, String>| a.get("type").cloned().unwrap_or("GAUGE".into());
            assert_eq!(ty(attrs), ty(m), "{name}: {g}.{f} type");
            assert_eq!(attrs.get("draw"), m.get("draw"), "{name}: {g}.{f} draw");
            for a in ["min", "warning", "critical"] {
                assert_eq!(attrs.get(a), m.get(a), "{name}: {g}.{f}.{a}");
            }
            let (pv, ov) = (&attrs["value"], &m["value"]);
            if g == "memory_contexts" && shared.contains(f) {
                // documented: opskit sums every context sharing the name
                let (p, o): (u64, u64) = (pv.parse().unwrap(), ov.parse().unwrap());
                assert!(o >= p, "{name}: {g}.{f}: {o} < perl's {p}");
            } else {
                assert_eq!(pv, ov, "{name}: {g}.{f} value");
            }
            checked += 1;
        }
        // documented: declared fields the document leaves out are printed as 0
        for (f, m) in mine.iter().filter(|(f, _)| !fields.contains_key(*f)) {
            assert_eq!(
                m["value"], "0",
                "{name}: {g}.{f} is not the perl plugin's and not 0"
            );
        }
    }
    for g in ours.keys().filter(|g| !perl.contains_key(*g)) {
        assert!(
            EXTRA_GRAPHS.contains(&g.as_str()),
            "{name}: undocumented graph {g}"
        );
    }
    checked
}

/// The bind_exporter v2 document, with a zone that has per-zone counters and a serial >= 100,
/// and a view named with `-` and `.`.
fn with_zones_and_odd_view(doc: &str) -> String {
    let counters = "<counters><Requestv4>50</Requestv4><QryAuthAns>42</QryAuthAns>\
                    <QrySuccess>40</QrySuccess></counters>";
    doc.replacen(
        "<name>127.in-addr.arpa/IN</name>\n              <rdataclass>IN</rdataclass>\n              <serial>1</serial>",
        &format!("<name>example.com/IN</name><rdataclass>IN</rdataclass><serial>2024010101</serial>{counters}"),
        1,
    )
    .replacen(
        "<name>localhost/IN</name>\n              <rdataclass>IN</rdataclass>\n              <serial>2</serial>",
        &format!("<name>localhost/IN</name><rdataclass>IN</rdataclass><serial>2</serial>{}", counters.replace("42", "7")),
        1,
    )
    .replace("_default", "my-view.x")
}

#[test]
fn perl_plugin_and_opskit_agree_field_by_field_on_xml_v2() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let Some(plugin) = perl_plugin(tmp.path()) else {
        return;
    };
    let exporter = std::fs::read_to_string(dir.join("bind_exporter-v0.7.0-v2.xml")).unwrap();
    let zoned = with_zones_and_odd_view(&exporter);
    assert!(zoned.contains("example.com/IN") && zoned.contains("my-view.x"));
    let telegraf = std::fs::read_to_string(dir.join("telegraf-xml-v2.xml")).unwrap();
    type Env<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(&str, &String, Env)> = vec![
        ("bind_exporter v2", &exporter, vec![]),
        (
            "bind_exporter v2, ANYWARN/ANYCRIT",
            &exporter,
            vec![("ANYWARN", "5"), ("ANYCRIT", "7")],
        ),
        ("zones + odd view name, autodetected", &zoned, vec![]),
        (
            "zones, MASTERZONES list",
            &zoned,
            vec![("MASTERZONES", "example.com,localhost")],
        ),
        ("zones, VIEWS", &zoned, vec![("VIEWS", "my-view.x")]),
        ("telegraf v2", &telegraf, vec![]),
    ];
    let mut total = 0;
    for (name, doc, env) in &cases {
        let port = serve_v2(doc.as_bytes().to_vec());
        let perl = run_perl(&plugin, port, env);
        let ours = run_opskit(port, env);
        total += compare(name, doc, &perl, &ours);
    }
    // the zone graph really was compared, with the perl plugin's graph and field names
    let port = serve_v2(zoned.as_bytes().to_vec());
    let perl = run_perl(&plugin, port, &[]);
    let z = &perl["masterzone_reqs_my-view.x"];
    assert_eq!(z.keys().collect::<Vec<_>>(), ["example_com"]);
    assert_eq!(z["example_com"]["value"], "42");
    assert!(perl.contains_key("resolver_statistics_my-view.x"));
    let explicit = run_perl(&plugin, port, &[("MASTERZONES", "example.com,localhost")]);
    assert_eq!(explicit["masterzone_reqs_my-view.x"].len(), 2);
    assert!(total > 150, "{total} fields compared");
}

/// Five reverse zones whose munin field names collide (a leading digit becomes `_`): the
/// perl plugin prints five lines under two field names (the munin master merges them into
/// two RRDs); opskit prints five distinct field names, each labelled with its zone and
/// carrying the value the perl plugin printed for that zone.
#[test]
fn five_colliding_reverse_zones_are_five_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(plugin) = perl_plugin(tmp.path()) else {
        return;
    };
    let zones = [
        "0.168.192.in-addr.arpa",
        "1.168.192.in-addr.arpa",
        "2.168.192.in-addr.arpa",
        "10.0.10.in-addr.arpa",
        "20.0.10.in-addr.arpa",
    ];
    let doc =
        std::fs::read_to_string(crate::util::fixtures().join("bind/bind_exporter-v0.7.0-v2.xml"))
            .unwrap();
    let added: String = zones
        .iter()
        .enumerate()
        .map(|(i, z)| {
            format!(
                "<zone><name>{z}/IN</name><rdataclass>IN</rdataclass><serial>2024010101</serial>\
                 <counters><QryAuthAns>{}</QryAuthAns></counters></zone>",
                100 + i
            )
        })
        .collect();
    let doc = doc.replacen("<zones>", &format!("<zones>{added}"), 1);
    let port = serve_v2(doc.into_bytes());
    let env = [("MASTERZONES", &zones.join(",") as &str)];
    let section = |out: &str| -> Vec<String> {
        out.split("multigraph ")
            .find(|g| g.starts_with("masterzone_reqs__default"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    // (label, value) per raw field of the zone graph
    let raw = |config: &str, values: &str| -> Vec<(String, String)> {
        let (c, v) = (section(config), section(values));
        c.iter()
            .filter_map(|l| l.split_once(".label "))
            .map(|(f, label)| {
                let val = v
                    .iter()
                    .find_map(|l| l.strip_prefix(&format!("{f}.value ")))
                    .unwrap_or("?");
                (label.to_string(), val.to_string())
            })
            .collect()
    };
    let perl_run = |arg: &[&str]| {
        let (code, out, err) = run(Command::new("perl")
            .arg(&plugin)
            .args(arg)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("MASTERZONES", env[0].1));
        assert_eq!(code, 0, "{err}");
        out
    };
    let perl_out = perl_run(&["config"]);
    let perl = raw(&perl_out, &perl_run(&[]));
    assert_eq!(perl.len(), 5, "{perl_out}");
    let perl_names: BTreeSet<String> = perl_out
        .lines()
        .filter_map(|l| l.split_once(".label ").map(|(f, _)| clean_fieldname(f)))
        .filter(|f| f.contains("in_addr_arpa"))
        .collect();
    assert_eq!(
        perl_names.len(),
        2,
        "the perl plugin's collision: {perl_names:?}"
    );
    let ours_run = |arg: &[&str]| {
        let (code, out, err) = run(opskit()
            .arg("bindstats")
            .args(arg)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("MASTERZONES", env[0].1));
        assert_eq!(code, 0, "{err}");
        out
    };
    let ours_out = ours_run(&["config"]);
    let ours = raw(&ours_out, &ours_run(&[]));
    assert_eq!(ours.len(), 5, "{ours_out}");
    let mut a = perl.clone();
    let mut b = ours.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "same zones, same values");
    assert!(a.iter().all(|(_, v)| v.parse::<u64>().is_ok()), "{a:?}");
    let names: BTreeSet<String> = ours_out
        .split("multigraph ")
        .find(|g| g.starts_with("masterzone_reqs__default"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(".label ").map(|(f, _)| f.to_string()))
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.iter().all(|n| &clean_fieldname(n) == n));
    assert!(
        ours_out.contains("graph_info Zones whose munin field names would be the same"),
        "{ours_out}"
    );
}
