//! bindstats' Prometheus output as bind_exporter users know it: its metric names, labels and
//! types, checked with the official Python client's parser; `bind_up 0` on failure.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{opskit, run, shared_fixtures, skip};

/// (sample name, labels, value)
pub type Sample = (String, Value, f64);
/// family -> (type, samples)
pub type Parsed = BTreeMap<String, (String, Vec<Sample>)>;

/// The exposition parsed by prometheus_client (/usr/bin/python3, Debian's
/// python3-prometheus-client): family -> (type, [(sample name, labels, value)]).
pub fn parse_exposition(text: &str) -> Option<Parsed> {
    let py = r#"
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families as parse
out = {}
for f in parse(sys.stdin.read()):
    out[f.name] = [f.type, [[s.name, s.labels, None if math.isnan(s.value) else s.value] for s in f.samples]]
print(json.dumps(out))
"#;
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip("/usr/bin/python3 with prometheus_client is missing (python3-prometheus-client)");
        return None;
    }
    let mut c = Command::new("/usr/bin/python3");
    c.args(["-c", py])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    type Raw = BTreeMap<String, (String, Vec<(String, Value, Option<f64>)>)>;
    let v: Raw = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        v.into_iter()
            .map(|(k, (t, s))| {
                (
                    k,
                    (
                        t,
                        s.into_iter()
                            .map(|(n, l, v)| (n, l, v.unwrap_or(f64::NAN)))
                            .collect(),
                    ),
                )
            })
            .collect(),
    )
}

fn prom(file: &Path) -> String {
    let (code, out, err) = run(opskit()
        .args(["bindstats", "--format", "prometheus", "--file"])
        .arg(file));
    assert_eq!(code, 0, "{err}");
    out
}

#[test]
fn bind_exporter_names_labels_and_types() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let text = prom(&dir.join("bind-9.18.49-lab-xml-v3-full.xml"));
    let Some(m) = parse_exposition(&text) else {
        return;
    };
    // prometheus_client strips _total from counter family names
    let want = [
        ("bind_up", "gauge"),
        ("bind_boot_time_seconds", "gauge"),
        ("bind_config_time_seconds", "gauge"),
        ("bind_incoming_queries", "counter"),
        ("bind_incoming_requests", "counter"),
        ("bind_responses", "counter"),
        ("bind_response_rcodes", "counter"),
        ("bind_resolver_queries", "counter"),
        ("bind_resolver_cache_rrsets", "gauge"),
        ("bind_resolver_query_duration_seconds", "histogram"),
        ("bind_resolver_response_errors", "counter"),
        ("bind_resolver_dnssec_validation_success", "counter"),
        ("bind_zone_serial", "counter"),
        ("bind_recursive_clients", "gauge"),
        ("bind_tasks_running", "gauge"),
        ("bind_worker_threads", "gauge"),
        ("bind_socket_stats", "counter"),
    ];
    for (name, ty) in want {
        let (t, _) = m
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing: {:?}", m.keys()));
        assert_eq!(t, ty, "{name}");
    }
    let samples = |n: &str| m[n].1.clone();
    assert_eq!(samples("bind_up")[0].2, 1.0);
    // boot-time 2026-11-25T02:45:21.570Z
    assert_eq!(samples("bind_boot_time_seconds")[0].2, 1_795_574_721.0);
    let results: Vec<String> = samples("bind_responses")
        .iter()
        .map(|s| s.1["result"].as_str().unwrap().to_string())
        .collect();
    for r in &results {
        assert!(
            ["Success", "Referral", "Nxrrset", "SERVFAIL", "FORMERR", "NXDOMAIN"]
                .contains(&r.as_str()),
            "{r}"
        );
    }
    assert!(results.contains(&"Success".to_string()));
    // one histogram per view, cumulative, ending at +Inf = count
    let h = samples("bind_resolver_query_duration_seconds");
    let internal: Vec<&Sample> = h.iter().filter(|s| s.1["view"] == "internal").collect();
    let buckets: Vec<f64> = internal
        .iter()
        .filter(|s| s.0.ends_with("_bucket"))
        .map(|s| s.2)
        .collect();
    assert_eq!(buckets.len(), 6);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
    let count = internal.iter().find(|s| s.0.ends_with("_count")).unwrap().2;
    assert_eq!(*buckets.last().unwrap(), count);
    // the zone serial of every zone, with bind_exporter's labels
    let serials = samples("bind_zone_serial");
    assert!(serials
        .iter()
        .any(|s| s.1["zone_name"] == "example.com" && s.2 == 2_024_010_101.0));
}

#[test]
fn failure_is_bind_up_0_and_exit_0() {
    let url = format!("http://127.0.0.1:{}/", crate::util::free_port());
    let (code, out, err) =
        run(opskit().args(["bindstats", "--format", "prometheus", "--url", &url]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&url), "{err}");
    assert!(out.contains("\nbind_up 0\n"), "{out}");
    assert_eq!(
        out.lines().filter(|l| !l.starts_with('#')).count(),
        1,
        "{out}"
    );
    if let Some(m) = parse_exposition(&out) {
        assert_eq!(m["bind_up"].1[0].2, 0.0);
    }
}

#[test]
fn view_names_are_escaped_in_labels() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let doc = std::fs::read_to_string(dir.join("bind-9.18.49-lab-xml-v3-server.xml"))
        .unwrap()
        .replace("view name=\"internal\"", "view name=\"in&#27;[2Jternal\"");
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("evil.xml");
    std::fs::write(&f, doc).unwrap();
    let text = prom(&f);
    assert!(!text.contains('\u{1b}'));
    assert!(text.contains(r#"view="in\\x1b[2Jternal""#), "{text}");
    let (_, config, _) = run(opskit().args(["bindstats", "config", "--file"]).arg(&f));
    assert!(!config.contains('\u{1b}'));
    assert!(config.contains(r"Queries Out in\x1b[2Jternal"), "{config}");
}

/// A JSON v1 document whose view and zone names carry an erase-screen sequence and a C1 CSI.
fn hostile_json(dir: &Path) -> Option<std::path::PathBuf> {
    let fixtures = shared_fixtures("bind")?;
    let doc = std::fs::read_to_string(fixtures.join("bind-9.18.49-lab-json-v1-full.json"))
        .unwrap()
        .replace("\"internal\":", "\"in\\u001b[2J\\u009bternal\":")
        .replace(
            "\"name\":\"example.org\"",
            "\"name\":\"ex\\u001b[2J\\u009bample.org\"",
        );
    let f = dir.join("evil.json");
    std::fs::write(&f, doc).unwrap();
    Some(f)
}

#[test]
fn json_output_escapes_view_and_zone_names() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(f) = hostile_json(tmp.path()) else {
        return;
    };
    let out = Command::new(crate::util::bin())
        .args([
            "bindstats",
            "--format",
            "json",
            "--master-zones",
            "example.org",
            "--file",
        ])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = out.stdout;
    assert!(!bytes.contains(&0x1b), "raw ESC in JSON");
    assert!(
        !bytes.windows(2).any(|w| w == [0xc2, 0x9b]),
        "raw U+009B in JSON"
    );
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.to_ascii_lowercase().contains("\\u001b"), "{text}");
    assert!(!text.to_ascii_lowercase().contains("\\u009b"), "{text}");
    // the names are still there, visibly escaped (as conn-audit's JSON)
    assert!(text.contains(r#""in\\x1b[2J\\x9bternal""#), "{text}");
    assert!(text.contains(r#"ex\\x1b[2J\\x9bample.org"#), "{text}");
    // munin and Prometheus stay escaped too
    let (_, config, _) = run(opskit().args(["bindstats", "config", "--file"]).arg(&f));
    assert!(
        !config.contains('\u{1b}') && !config.contains('\u{9b}'),
        "{config}"
    );
    assert!(config.contains(r"in\x1b[2J\x9bternal"), "{config}");
    let text = prom(&f);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{9b}'),
        "{text}"
    );
    assert!(text.contains(r#"view="in\\x1b[2J\\x9bternal""#), "{text}");
}

#[test]
fn long_view_names_are_capped_and_stay_distinct() {
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    // two 900 KB view names sharing their first 900 KB, in 3-byte characters (a text or
    // tag over 1 MiB is refused: bindstats_listen and the hermetic memory tests)
    let long = "例".repeat(300_000);
    let doc = std::fs::read_to_string(dir.join("bind-9.18.49-lab-xml-v3-server.xml"))
        .unwrap()
        .replace("view name=\"internal\"", &format!("view name=\"{long}1\""))
        .replace("view name=\"external\"", &format!("view name=\"{long}2\""));
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("long.xml");
    std::fs::write(&f, doc).unwrap();
    let text = prom(&f);
    assert!(text.len() < 1_000_000, "{} bytes of exposition", text.len());
    let views: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.split_once("view=\"")?.1.split_once('"'))
        .map(|(v, _)| v)
        .filter(|v| *v != "_bind")
        .collect();
    assert_eq!(views.len(), 2, "{views:?}");
    for v in &views {
        assert!(
            v.len() <= 255 && v.starts_with("例例") && v.contains("..."),
            "{v}"
        );
    }
    let (code, config, err) = run(opskit().args(["bindstats", "config", "--file"]).arg(&f));
    assert_eq!(code, 0, "{err}");
    let graphs: Vec<&str> = config
        .lines()
        .filter_map(|l| l.strip_prefix("multigraph queries_out_"))
        .collect();
    assert_eq!(graphs.len(), 2, "{graphs:?}");
    assert_ne!(graphs[0], graphs[1]);
    assert!(config.len() < 1_000_000, "{} bytes of config", config.len());
    let out = Command::new(crate::util::bin())
        .args(["bindstats", "--format", "json", "--file"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout.len() < 1_000_000,
        "{} bytes of JSON",
        out.stdout.len()
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["views"].as_array().map(Vec::len), Some(3), "with _bind");
}

/// A fake BIND 9.9 (XML v2 at `/`, answered after `delay`) and counts the documents it
/// served.
fn counting_bind(
    doc: Vec<u8>,
    delay: std::time::Duration,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let n = served.clone();
    let doc = std::sync::Arc::new(doc);
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let (n, doc) = (n.clone(), doc.clone());
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut b = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(1) => req.push(b[0]),
                        _ => return,
                    }
                }
                if req.starts_with(b"GET / ") {
                    std::thread::sleep(delay);
                    n.fetch_add(1, Ordering::SeqCst);
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        doc.len()
                    );
                    let _ = s.write_all(&doc);
                } else {
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            });
        }
    });
    (port, served)
}

/// `opskit bindstats --listen` on a free port, killed on drop.
pub struct Listener(std::process::Child, pub u16);

impl Listener {
    pub fn start(url: &str) -> Listener {
        let port = crate::util::free_port();
        let child = opskit()
            .args(["bindstats", "--timeout", "3s", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--url", url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed().as_secs() < 10, "--listen did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Listener(child, port)
    }

    pub fn curl(&self, path: &str) -> (i32, String) {
        let (code, out, err) = run(Command::new("curl")
            .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{}{path}", self.1)));
        assert_eq!(code, 0, "curl: {err}");
        let (body, status) = out.rsplit_once('\n').unwrap();
        (status.parse().unwrap(), body.to_string())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn listen_serves_metrics_one_fetch_per_scrape_shared_by_concurrent_scrapes() {
    if !crate::util::require_tool("curl") {
        return;
    }
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let doc = std::fs::read(dir.join("bind_exporter-v0.7.0-v2.xml")).unwrap();
    let (port, served) = counting_bind(doc, std::time::Duration::from_millis(2000));
    let l = Listener::start(&format!("http://127.0.0.1:{port}/"));
    let (status, body) = l.curl("/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("\nbind_up 1\n"), "{body}");
    if let Some(m) = parse_exposition(&body) {
        assert_eq!(m["bind_incoming_queries"].0, "counter");
    }
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    // a scrape within a second of the last fetch reuses it: let that second pass
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // five scrapers at once: one fetch
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let port = l.1;
            std::thread::spawn(move || {
                let (_, out, _) = run(Command::new("curl")
                    .args(["-sS", "--max-time", "10"])
                    .arg(format!("http://127.0.0.1:{port}/metrics")));
                out
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap().contains("\nbind_up 1\n"));
    }
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(l.curl("/nope").0, 404);
}

#[test]
fn listen_with_bind_down_says_bind_up_0() {
    if !crate::util::require_tool("curl") {
        return;
    }
    let l = Listener::start(&format!("http://127.0.0.1:{}/", crate::util::free_port()));
    let (status, body) = l.curl("/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("\nbind_up 0\n"), "{body}");
    if let Some(m) = parse_exposition(&body) {
        assert_eq!(m["bind_up"].1[0].2, 0.0);
    }
}

/// The packaged alerting rules pass `promtool check rules`, and their unit tests (every alert
/// firing on its trigger and silent on its healthy twin) pass `promtool test rules`.
#[test]
fn packaged_alert_rules_pass_promtool_check_and_unit_tests() {
    if !crate::util::require_tool("promtool") {
        return;
    }
    let dir = crate::util::repo().join("pkg/examples/prometheus");
    let (code, out, err) = run(Command::new("promtool")
        .args(["check", "rules"])
        .arg(dir.join("bind-alerts.yml")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("SUCCESS: 5 rules found"), "{out}");
    let (code, out, err) = run(Command::new("promtool")
        .args(["test", "rules"])
        .arg(dir.join("bind-alerts.test.yml")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("SUCCESS"), "{out}");
    // the unit tests can fail: a threshold moved past its test series is caught
    let tmp = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(dir.join("bind-alerts.yml"))
        .unwrap()
        .replace(
            "bind_recursive_clients > 900",
            "bind_recursive_clients > 990",
        );
    std::fs::write(tmp.path().join("bind-alerts.yml"), rules).unwrap();
    std::fs::copy(
        dir.join("bind-alerts.test.yml"),
        tmp.path().join("bind-alerts.test.yml"),
    )
    .unwrap();
    let (code, out, _) = run(Command::new("promtool")
        .args(["test", "rules"])
        .arg(tmp.path().join("bind-alerts.test.yml")));
    assert_ne!(code, 0, "{out}");
}
