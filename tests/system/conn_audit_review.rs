//! `opskit conn-audit`, the hostile review of issue #11: F5 (the age of a handshake is a lower
//! bound, never more than the socket's real age) and F6 (a verdict never claims more sockets
//! of a reason than its group has; the Nagios breakdown, the table and JSON agree). Real
//! sockets on loopback from tests/helpers/conn_stuck.py.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{opskit, require_tool, run};

/// tests/helpers/conn_stuck.py running (killed on drop), its listener's port, and when it
/// was started (its sockets are younger than that).
struct Stuck {
    /// killed with its process group on drop
    _child: crate::util::Killed,
    port: String,
    started: Instant,
}

impl Stuck {
    fn start(args: &[&str]) -> Option<Stuck> {
        if !require_tool("python3") {
            return None;
        }
        let started = Instant::now();
        let (child, info) = crate::util::start_py_helper("conn_stuck.py", args);
        let port = info["port"].as_u64().unwrap().to_string();
        Some(Stuck {
            _child: child,
            port,
            started,
        })
    }

    fn sleep_until(&self, secs: f64) {
        let at = self.started + Duration::from_secs_f64(secs);
        if let Some(d) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
}

fn audit_json(state: &std::path::Path, idle: &str, port: &str) -> Value {
    let (code, out, err) = run(opskit()
        .args(["conn-audit", "--idle", idle, "--state"])
        .arg(state)
        .args(["--port", port, "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// The handshake group's age (its oldest socket) and verdict.
fn connecting(v: &Value) -> (f64, String) {
    let g = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["reason"] == "connecting")
        .unwrap_or_else(|| panic!("no connecting group: {v}"));
    (
        g["max_idle_s"].as_f64().unwrap(),
        g["message"].as_str().unwrap().to_string(),
    )
}

/// The reported age must be within [half the real age, the real age + 0.5 s].
fn assert_lower_bound(age: f64, stuck: &Stuck, v: &Value) {
    let real = stuck.started.elapsed().as_secs_f64();
    assert!(
        age <= real + 0.5,
        "SYN_SENT age {age} s overstated: the sockets are at most {real:.2} s old: {v}"
    );
    assert!(
        age >= real * 0.5,
        "SYN_SENT age {age} s too low for {real:.2} s: {v}"
    );
}

/// F5: 4 connects to a listen(0) listener that never accepts; the ones stuck in SYN_SENT are
/// not older than the process, from the SYN schedule alone (`--state /dev/null`) and from a
/// state file that first saw them 1.5 s in; the text says "at least".
#[test]
fn syn_sent_age_is_never_more_than_the_real_age() {
    if !require_tool("ss") {
        return;
    }
    let Some(stuck) = Stuck::start(&["syn", "4"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("st");
    stuck.sleep_until(1.5);
    audit_json(&st, "2s", &stuck.port);
    stuck.sleep_until(4.6);
    let v = audit_json(std::path::Path::new("/dev/null"), "2s", &stuck.port);
    let (age, verdict) = connecting(&v);
    assert_lower_bound(age, &stuck, &v);
    assert!(verdict.contains(" stuck in connect to "), "{verdict}");
    assert!(verdict.contains(" for at least "), "{verdict}");
    let v = audit_json(&st, "2s", &stuck.port);
    let (age, _) = connecting(&v);
    assert_lower_bound(age, &stuck, &v);
    // ss agrees they are still in SYN_SENT
    let out = Command::new("ss")
        .args([
            "-tanH",
            "state",
            "syn-sent",
            "dport",
            "=",
            &format!(":{}", stuck.port),
        ])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "no SYN_SENT socket"
    );
}

/// `3 stale (1 close-wait, 2 idle)` -> {"close-wait": 1, "idle": 2}.
fn breakdown(line: &str) -> BTreeMap<String, u64> {
    let inner = line
        .split_once(" stale (")
        .and_then(|(_, r)| r.split_once(')'))
        .unwrap_or_else(|| panic!("no breakdown: {line}"))
        .0;
    inner
        .split(", ")
        .map(|p| {
            let (n, r) = p.split_once(' ').unwrap();
            (r.to_string(), n.parse().unwrap())
        })
        .collect()
}

/// F6: one process holding an idle connection and a CLOSE_WAIT one to the same listener.
/// The group of both is worded by its parts; the sum over groups of each reason equals the
/// breakdown of JSON, the Nagios line and the text summary.
#[test]
fn counts_add_up_in_a_mixed_group() {
    let Some(stuck) = Stuck::start(&["mixed"]) else {
        return;
    };
    stuck.sleep_until(1.6);
    let null = std::path::Path::new("/dev/null");
    let p = &stuck.port;
    let v = audit_json(null, "1s", p);
    let groups = v["groups"].as_array().unwrap();
    let mixed = groups
        .iter()
        .find(|g| g["reasons"].as_object().unwrap().len() > 1)
        .unwrap_or_else(|| panic!("no mixed group: {v}"));
    assert_eq!(
        mixed["message"].as_str().unwrap(),
        format!(
            "2 sockets of 1 python3 process (1 close-wait, 1 idle > 1 s) on 127.0.0.1:{p} - \
             close-wait: the peer closed; the local program never called close() (fd leak); \
             idle: both ends are held by the same process"
        ),
        "{v}"
    );
    // the sum over groups of each reason is the breakdown
    let mut sum: BTreeMap<String, u64> = BTreeMap::new();
    for g in groups.iter().filter(|g| g["outside_filters"] != true) {
        for (r, n) in g["reasons"].as_object().unwrap() {
            *sum.entry(r.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    let json: BTreeMap<String, u64> = v["by_reason"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(r, n)| (r.clone(), n.as_u64().unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(sum, json, "{v}");
    assert_eq!(json.get("close-wait"), Some(&1), "{v}");
    assert_eq!(json.get("idle"), Some(&2), "{v}");
    assert_eq!(json.values().sum::<u64>(), v["stale"].as_u64().unwrap());
    let audit = |fmt: &[&str]| {
        let (code, out, err) = run(opskit()
            .args([
                "conn-audit",
                "--idle",
                "1s",
                "--state",
                "/dev/null",
                "--port",
                p,
            ])
            .args(fmt));
        assert_eq!(code, 0, "{err}");
        out
    };
    let nagios = audit(&["--format", "nagios"]);
    assert_eq!(breakdown(&nagios), json, "{nagios}");
    // the headline is the mixed group's verdict, whose parts add up to its count
    assert!(
        nagios.contains(mixed["message"].as_str().unwrap()),
        "{nagios}"
    );
    let text = audit(&[]);
    let summary = text.lines().find(|l| l.contains(" stale (")).unwrap();
    assert_eq!(breakdown(summary), json, "{text}");
    // the table's REASONS column adds up to the same
    let mut table: BTreeMap<String, u64> = BTreeMap::new();
    let rows = text
        .lines()
        .skip_while(|l| !l.starts_with("COUNT"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty());
    for row in rows {
        for (r, n) in row.split_whitespace().filter_map(|w| w.split_once('=')) {
            *table.entry(r.to_string()).or_default() += n.parse::<u64>().unwrap();
        }
    }
    assert_eq!(table, json, "{text}");
}
