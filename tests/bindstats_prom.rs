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
