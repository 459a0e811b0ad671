//! `opskit conn-audit`, issue #11: the cause named before its symptoms, handshakes that never
//! finish, the accept queue, direction from the listening table, `--kill` closing exactly
//! what it listed, escaped process names, munin fields independent of privileges, and the
//! command line's bounds. Real processes on loopback (tests/helpers/conn_incident.py), with
//! `ss` and `lsof` counting the same sockets.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{munin_fields, opskit, require_root, require_tool, run};

/// tests/helpers/conn_incident.py running; its process group is killed on drop.
struct Incident {
    /// killed with its process group on drop
    _child: crate::util::Killed,
    info: Value,
}

impl Incident {
    fn start() -> Option<Incident> {
        if !require_tool("python3") || !require_tool("ss") {
            return None;
        }
        let (child, info) = crate::util::start_py_helper("conn_incident.py", &[]);
        // every connection has been quiet for more than the 2 s threshold after this, and
        // the SYN_SENT client has retransmitted at least twice
        std::thread::sleep(Duration::from_millis(3500));
        Some(Incident {
            _child: child,
            info,
        })
    }

    fn port(&self, name: &str) -> String {
        self.info["ports"][name].as_u64().unwrap().to_string()
    }

    fn pid(&self, name: &str) -> String {
        self.info["pids"][name].as_u64().unwrap().to_string()
    }
}

fn audit(state: &Path, args: &[&str]) -> (i32, String, String) {
    run(opskit()
        .args(["conn-audit", "--idle", "2s", "--state"])
        .arg(state)
        .args(args))
}

fn json(state: &Path, args: &[&str]) -> Value {
    let (code, out, err) = audit(state, &[&["--format", "json"], args].concat());
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// `ss -tanH state STATE FILTER...`: the lines.
fn ss(state: &str, filter: &[&str]) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-tanH", "state", state])
        .args(filter)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The incident: 4 workers blocked on a silent upstream while their clients give up. The
/// cause leads the table and the Nagios line; the symptom is not called an fd leak; ss, lsof
/// and conn-audit count the same sockets.
#[test]
fn the_cause_leads_and_three_tools_count_the_same() {
    let Some(inc) = Incident::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("st");
    let (up, front) = (inc.port("upstream"), inc.port("front"));
    // "4 apache2 processes (4 sockets) blocked on 127.0.0.1:UP for N s - ...: evidence;
    // their clients ..."
    let is_cause = |v: &str| {
        v.starts_with(&format!(
            "4 apache2 processes (4 sockets) blocked on 127.0.0.1:{up} for "
        )) && v.ends_with(
            " s - the peer does not answer, no read timeout: 4 requests unanswered; their 4 clients gave up (CLOSE_WAIT)",
        )
    };
    // the workers' sockets, whatever else runs here
    let (code, out, err) = audit(&st, &["--process", "apache2"]);
    assert_eq!(code, 0, "{err}");
    let verdicts: Vec<&str> = out
        .split("verdicts:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert!(is_cause(verdicts[0].trim()), "{out}");
    assert!(
        verdicts[1].contains(&format!(
            "4 sockets of 4 apache2 processes from 127.0.0.1 on local port {front}: 4 clients gave up (CLOSE_WAIT), their requests unanswered - the process is blocked on 127.0.0.1:{up} (the cause)"
        )),
        "{out}"
    );
    assert!(!out.contains("fd leak"), "{out}");

    // Nagios: the headline is the cause; the counts add up; the thresholds apply to them
    let (code, out, _) = audit(
        &st,
        &[
            "--process",
            "apache2",
            "--format",
            "nagios",
            "--warning",
            "7",
            "--critical",
            "20",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let text = out.split(" | ").next().unwrap();
    assert!(
        text.starts_with("CONN-AUDIT WARNING - 8 stale (4 close-wait, 4 idle) of "),
        "{out}"
    );
    let headline = text.split_once("; ").unwrap().1;
    assert!(
        is_cause(headline.trim_end_matches(" (+1 more groups)")),
        "{out}"
    );

    // the packaged NRPE example filters on the service port: the upstream is outside
    // --port, and still named as the cause (its sockets not counted)
    let (code, out, _) = audit(&st, &["--port", &front, "--format", "nagios"]);
    assert_eq!(code, 0, "{out}");
    let text = out.split(" | ").next().unwrap();
    assert!(
        text.starts_with("CONN-AUDIT OK - 4 stale (4 close-wait) of 4 TCP connections; "),
        "{out}"
    );
    let headline = text.split_once("; ").unwrap().1;
    assert!(
        is_cause(headline.trim_end_matches(" (+1 more groups)")),
        "{out}"
    );
    let v = json(&st, &["--port", &front]);
    assert_eq!(v["groups"][0]["outside_filters"], true, "{v}");

    // filtered on the upstream instead: the workers' clients are outside --dport, and the
    // workers are still their cause (the verdict an unfiltered run gives); the clients are
    // not reported, so there are no "more groups"
    let (code, out, _) = audit(&st, &["--dport", &up, "--format", "nagios"]);
    assert_eq!(code, 0, "{out}");
    let text = out.split(" | ").next().unwrap();
    assert!(
        text.starts_with("CONN-AUDIT OK - 4 stale (4 idle) of 4 TCP connections; "),
        "{out}"
    );
    assert!(is_cause(text.split_once("; ").unwrap().1), "{out}");
    let v = json(&st, &["--dport", &up]);
    assert_eq!(v["groups"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["groups"][0]["outside_filters"], false, "{v}");

    // ss and lsof see the same sockets: 4 CLOSE_WAIT on the front port, 4 to the upstream
    let v = json(&st, &["--process", "apache2"]);
    // #11: --process filters the connection counts too (the workers' 8, not the host's)
    assert_eq!(
        (
            v["connections"].as_u64(),
            v["established"].as_u64(),
            v["close_wait"].as_u64()
        ),
        (Some(8), Some(4), Some(4)),
        "{v}"
    );
    let ours = |reason: &str| {
        v["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["reason"] == reason)
            .map(|s| s["local"].as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>()
    };
    let ss_cw: BTreeSet<String> = ss("close-wait", &["sport", "=", &format!(":{front}")])
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect();
    let ss_up: BTreeSet<String> = ss("established", &["dport", "=", &format!(":{up}")])
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect();
    assert_eq!(ours("close-wait"), ss_cw);
    assert_eq!(ours("idle"), ss_up);
    if require_tool("lsof") {
        let pids: Vec<String> = inc.info["pids"]["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.to_string())
            .collect();
        let out = Command::new("lsof")
            .args(["-nP", "-a", "-iTCP", "-p", &pids.join(",")])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.matches("(CLOSE_WAIT)").count(), 4, "{text}");
        assert_eq!(
            text.matches(&format!("->127.0.0.1:{up} (ESTABLISHED)"))
                .count(),
            4,
            "{text}"
        );
    }
}

/// A listener that never accepts: its queue is named with the listener, and the client whose
/// SYN is dropped (queue full) is stale in SYN_SENT.
#[test]
fn the_accept_queue_and_a_client_stuck_in_connect() {
    let Some(inc) = Incident::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("st");
    let q = inc.port("queue");
    let v = json(&st, &["--port", &q]);
    assert_eq!(v["syn_sent"], 1, "{v}");
    let verdicts: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["message"].as_str().unwrap())
        .collect();
    let slowsrv = inc.pid("slowsrv");
    // #6: the full local accept queue leads (its SYNs are dropped: the dialer's connect is
    // its symptom), then the stuck connect
    assert_eq!(
        verdicts[0],
        format!(
            "2 connections waiting to be accepted on :{q} (listener {slowsrv}/slowsrv), queue full (2 queued, backlog 1): new SYNs are dropped - the server is not accepting"
        ),
        "{verdicts:#?}"
    );
    assert!(
        verdicts[1].starts_with(&format!(
            "1 stuckcli process (1 socket) stuck in connect to 127.0.0.1:{q} for at least "
        )) && verdicts[1]
            .ends_with(" s - the peer drops SYNs, no connect timeout: 1 connect unanswered"),
        "{verdicts:#?}"
    );
    let classes: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes[..2], ["accept-queue", "stuck-connect"], "{v}");
    // the queued sockets count for the listener's process in the summary, the groups and
    // by_process alike (they were 0 unowned but 3 "unknown" before)
    assert_eq!(v["unowned"], 0, "{v}");
    assert!(
        v["by_process"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["process"] == "slowsrv" && p["count"] == 2),
        "{v}"
    );
    // ss sees the same: one SYN_SENT to the port, two queued on the server side
    assert_eq!(ss("syn-sent", &["dport", "=", &format!(":{q}")]).len(), 1);
    let queued = v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["direction"] == "inbound" && s["inode"] == 0)
        .count();
    assert_eq!(queued, 2, "{v}");
    // the first sighting is remembered per socket (inode and cookie)
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&st).unwrap()).unwrap();
    assert_eq!(saved["version"], 2);
}

/// A client whose source port is another address's listening port is outbound; `--port P`
/// means the listening port of inbound connections and the remote port of outbound ones, and
/// `--kill --port P` leaves that client alone (checked with ss); both ends of a local
/// connection closed is success.
#[test]
fn direction_from_the_listening_table_and_kill_spares_the_unrelated() {
    let Some(inc) = Incident::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("st");
    let (p, sink) = (inc.port("other"), inc.port("sink"));
    let v = json(&st, &["--sport", &p]);
    let sportcli = v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["process"] == "sportcli")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(sportcli["direction"], "outbound", "{v}");
    assert_eq!(sportcli["remote"], format!("127.0.0.3:{sink}"));
    let v = json(&st, &["--port", &p]);
    let procs: BTreeSet<&str> = v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["process"].as_str().unwrap())
        .collect();
    assert_eq!(procs, BTreeSet::from(["other", "pcli"]), "{v}");

    if !require_root("SOCK_DESTROY needs CAP_NET_ADMIN") {
        return;
    }
    let (code, out, err) = audit(&st, &["--port", &p, "--kill", "--yes"]);
    if err.contains("CONFIG_INET_DIAG_DESTROY") {
        crate::util::skip_expected(&err);
        return;
    }
    assert_eq!(code, 0, "{out} {err}");
    // issue 22 #1: closing one end of a local connection resets the other: that one is
    // "already gone", counted apart from what this run closed
    assert!(
        out.contains("about to close 2 sockets")
            && out.contains("closed 1 of 2 sockets; 1 already gone; 0 failed"),
        "{out}"
    );
    assert_eq!(out.matches("\nclosed 127.0.0.").count(), 1, "{out}");
    assert_eq!(out.matches("\nalready gone 127.0.0.").count(), 1, "{out}");
    std::thread::sleep(Duration::from_millis(200));
    let alive = ss("established", &["sport", "=", &format!(":{p}")]);
    assert_eq!(alive.len(), 1, "{alive:?}");
    assert!(alive[0].contains(&format!("127.0.0.3:{sink}")), "{alive:?}");
    // the listener's connection is gone, both ends
    let to_other = format!("127.0.0.2:{p}");
    assert!(
        !ss("established", &[]).iter().any(|l| l.contains(&to_other)),
        "{:?}",
        ss("established", &[])
    );
}

/// Any user can name a process "\x1b[2J...": no output format lets it through raw.
#[test]
fn process_names_are_escaped_in_every_format() {
    let Some(inc) = Incident::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("st");
    let evil = inc.pid("evil");
    for format in [
        &["--format", "table"][..],
        &["--format", "nagios"],
        &["--format", "prometheus"],
        &["--format", "munin", "config"],
        &["--format", "json"],
    ] {
        let (code, out, err) = audit(&st, &[&["--process", evil.as_str()], format].concat());
        assert!(code == 0 || format[1] == "nagios", "{format:?}: {err}");
        assert!(!out.contains('\x1b'), "{format:?}: {out:?}");
        if format[1] != "munin" {
            assert!(
                out.contains(r"\x1b[2Jevil") || out.contains(r"\\x1b[2Jevil"),
                "{format:?}: {out}"
            );
        }
    }
}

/// munin-node runs plugins as nobody unless told `user root`: the field names must not
/// depend on it (RRD history would be lost when the owner becomes known).
#[test]
fn munin_fields_do_not_depend_on_privileges() {
    if !require_root("setpriv to an unprivileged user") || !require_tool("setpriv") {
        return;
    }
    let Some(inc) = Incident::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let bin = tmp.path().join("opskit");
    std::fs::copy(opskit().get_program(), &bin).unwrap();
    let args = [
        "conn-audit",
        "--idle",
        "2s",
        "--port",
        &inc.port("front"),
        "--format",
        "munin",
        "config",
    ];
    let (code, root, err) = run(opskit().args(args).arg("--state").arg(tmp.path().join("a")));
    assert_eq!(code, 0, "{err}");
    let (code, nobody, err) = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(args)
        .arg("--state")
        .arg(tmp.path().join("b")));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        munin_fields(&root, ".label "),
        munin_fields(&nobody, ".label ")
    );
    assert!(root.contains("user root"), "{root}");
}

/// The command line's bounds: one-line usage errors, exit 2.
#[test]
fn usage_errors_and_small_promises() {
    for (args, want) in [
        (&["--port", "0"][..], "--port"),
        (&["--sport", "0"], "--sport"),
        (&["--idle", "0"], "--idle"),
        (&["--idle", "0s"], "--idle"),
        (&["--watch", "0"], "--watch"),
        (&["--watch", "2d"], "--watch"),
        (&["--yes"], "--kill"),
        (&["-n", "2"], "--watch"),
        (&["--watch", "1s", "-n", "0"], "--iterations"),
        (&["--top", "1000000"], "--top"),
    ] {
        let (code, out, err) = run(opskit().arg("conn-audit").args(args));
        assert_eq!(code, 2, "{args:?}: {out} {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // under --format nagios the same mistakes are UNKNOWN, on the status line
    let (code, out, _) = run(opskit().args(["conn-audit", "--format", "nagios", "--yes"]));
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("CONN-AUDIT UNKNOWN - --yes"), "{out}");
    let tmp = tempfile::tempdir().unwrap();
    // a negative range without '=', and a fractional --idle said as it was given
    let (code, out, err) = run(opskit()
        .args([
            "conn-audit",
            "--format",
            "nagios",
            "--warning",
            "-5:5",
            "--critical",
            "~:100000",
            "--idle",
            "500ms",
            "--port",
            "1",
            "--state",
        ])
        .arg(tmp.path().join("st")));
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("'stale'=0;-5:5;~:100000;0;"), "{out}");
    let (code, out, _) = run(opskit()
        .args(["conn-audit", "--idle", "500ms", "--port", "1", "--state"])
        .arg(tmp.path().join("st")));
    assert_eq!(code, 0);
    assert!(out.contains("idle threshold 0.5 s"), "{out}");
    // a state file that is a FIFO never hangs the run
    let fifo = crate::util::mkfifo(tmp.path(), "fifo");
    let (code, out, _) = run(opskit()
        .args(["conn-audit", "--format", "json", "--port", "1", "--state"])
        .arg(&fifo));
    assert_eq!(code, 0);
    assert!(out.contains("a FIFO"), "{out}");
}

/// `--idle` means duration for every label: a busy upload over a lossy link (retransmissions
/// in flight, ACKs still coming) and a stream to a slow reader (the persist timer caught
/// between window updates) are never stale at `--idle 5m`, however often one audit catches a
/// timer (ss shows they were caught). A private namespace with `tc netem` loss on lo, or,
/// where the kernel has no netem, a route to the upload's server that is black-holed for
/// 400 ms of every second (longer than the minimum RTO; a qdisc that drops locally, like tbf, makes TCP back off without
/// retransmitting: no loss as the peer would see it).
#[test]
fn busy_lossy_and_slow_streams_are_never_stale_at_a_long_idle() {
    if !require_root("unshare -n and tc") || !require_tool("tc") || !require_tool("unshare") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        r#"set -e
ip link set lo up
NETEM=yes
tc qdisc add dev lo root netem loss 3% 2>/dev/null || NETEM=
python3 - <<'PY' &
import socket, threading, time
def serve(srv, rcvbuf, pause):
    c, _ = srv.accept()
    while True:
        if not c.recv(512 if pause else 65536):
            return
        if pause:
            time.sleep(pause)
def send(addr):
    c = socket.create_connection(addr)
    while True:
        c.sendall(b"x" * 65536)
for host, rcvbuf, pause in [("127.0.0.2", None, 0), ("127.0.0.1", 4096, 0.02)]:
    srv = socket.socket()
    if rcvbuf:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.bind((host, 0)); srv.listen(1)
    threading.Thread(target=serve, args=(srv, rcvbuf, pause), daemon=True).start()
    threading.Thread(target=send, args=(srv.getsockname(),), daemon=True).start()
time.sleep(60)
PY
PYPID=$!
sleep 1
if [ -z "$NETEM" ]; then
  # connected: now the local table after the blackhole rule, which drops everything to
  # 127.0.0.2 while it is there
  ip rule add from all lookup local pref 1000
  ip rule del pref 0
  (while :; do ip rule add to 127.0.0.2 blackhole pref 100; sleep 0.4; ip rule del pref 100; sleep 0.6; done) &
  FLAP=$!
  sleep 1
fi
for i in $(seq 1 40); do
  {bin} conn-audit --idle 5m --format json --state {tmp}/st.json > {tmp}/out.$i.json
  ss -tnoiH state established >> {tmp}/ss.txt
  sleep 0.2
done
kill $PYPID ${{FLAP:-}}
"#,
        bin = crate::util::bin().display(),
        tmp = tmp.path().display()
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .unwrap();
    if !out.status.success() {
        crate::util::skip(format_args!(
            "private namespace with netem failed here: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    for i in 1..=40 {
        let read = |name: &str| -> Value {
            let p = tmp.path().join(format!("{name}.{i}.json"));
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
        };
        let v = read("out");
        assert_eq!(v["stale"], 0, "audit {i}: {v}");
    }
    // the conditions were there to be caught: ss saw the persist timer and retransmissions
    // (one audit catching either was enough to flag a stream before #11)
    let ss = std::fs::read_to_string(tmp.path().join("ss.txt")).unwrap();
    assert!(ss.contains("timer:(persist"), "no persist timer seen: {ss}");
    assert!(ss.contains(" retrans:"), "no retransmission seen: {ss}");
    // and both streams moved data all along (a blackhole would not be "busy")
    let most_acked = ss
        .split("bytes_acked:")
        .skip(1)
        .filter_map(|t| {
            t.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    assert!(
        most_acked > 1_000_000,
        "{most_acked} bytes acked at most: {ss}"
    );
}

/// Concurrent runs sharing `--state` never warn (unique temporary names), and runs in two
/// network namespaces keep their own sections of the file.
#[test]
fn a_shared_state_file_under_concurrency_and_namespaces() {
    let Some(inc) = Incident::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let st = tmp.path().join("st.json");
    let front = inc.port("front");
    let runs: Vec<_> = (0..8)
        .map(|_| {
            opskit()
                .args([
                    "conn-audit",
                    "--idle",
                    "2s",
                    "--format",
                    "json",
                    "--port",
                    &front,
                ])
                .arg("--state")
                .arg(&st)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in runs {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
        // the workers' side of the front port: the clients' side is closed
        assert_eq!(v["stale"], 4, "{v}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["st.json"],
        "temporary files left: {leftovers:?}"
    );
    if !require_root("unshare -n") || !require_tool("unshare") {
        return;
    }
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c"])
        .arg(format!(
            "ip link set lo up && python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(1); c=socket.create_connection(s.getsockname()); a=s.accept(); time.sleep(3)' & sleep 2.5; {} conn-audit --idle 1s --state {}",
            crate::util::bin().display(),
            st.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&st).unwrap()).unwrap();
    assert_eq!(v["netns"].as_object().unwrap().len(), 2, "{v}");
}

/// `--peer HOST` gives up after 2 s when the resolver never answers (a private namespace
/// whose resolv.conf points at a UDP server that reads and never replies).
#[test]
fn a_peer_lookup_has_a_timeout() {
    if !require_root("unshare -m -n") || !require_tool("unshare") || !require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:30 attempts:5\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("nsswitch.conf"), "hosts: dns\n").unwrap();
    let script = format!(
        r#"set -e
ip link set lo up
mount --bind {d}/resolv.conf /etc/resolv.conf
mount --bind {d}/nsswitch.conf /etc/nsswitch.conf
python3 -c 'import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",53)); open("{d}/ready","w"); time.sleep(30)' &
PYPID=$!
while [ ! -e {d}/ready ]; do sleep 0.05; done
start=$(date +%s%N)
{bin} conn-audit --peer crl.example --state /dev/null > {d}/out 2> {d}/err || echo $? > {d}/code
echo $(( ($(date +%s%N) - start) / 1000000 )) > {d}/ms
kill $PYPID ${{FLAP:-}}
"#,
        d = tmp.path().display(),
        bin = crate::util::bin().display()
    );
    let out = Command::new("unshare")
        .args(["-m", "-n", "sh", "-c", &script])
        .output()
        .unwrap();
    if !out.status.success() {
        crate::util::skip(format_args!(
            "private mount+net namespace failed here: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    let read = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap_or_default();
    let ms: u64 = read("ms").trim().parse().unwrap();
    assert_eq!(read("code").trim(), "2", "{}", read("err"));
    assert!(
        read("err").contains("did not resolve within 2 s"),
        "{}",
        read("err")
    );
    assert!((1900..4000).contains(&ms), "{ms} ms");
}

/// The server's half of a handshake the client never completes (SYN_RECV): a "remote"
/// client behind a TUN device in a private namespace sends SYNs and never answers the
/// SYN-ACKs. The kernel gives the request no age: the first audit remembers it (state file),
/// the next one, 2.5 s later, calls it half-open, with the listener's owner; ss agrees.
#[test]
fn a_handshake_never_completed_is_half_open_after_idle() {
    if !require_root("unshare -n and a TUN device") || !require_tool("unshare") {
        return;
    }
    if !Path::new("/dev/net/tun").exists() {
        crate::util::skip("/dev/net/tun is absent");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        r#"set -e
ip link set lo up
python3 - <<'PY' &
import fcntl, os, socket, struct, subprocess, time
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454ca, 0x0001, 0x1000
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", b"t0", IFF_TUN | IFF_NO_PI))
subprocess.run("ip link set t0 up && ip addr add 10.9.9.1/24 dev t0", shell=True, check=True)
srv = socket.socket(); srv.bind(("10.9.9.1", 0)); srv.listen(8)
port = srv.getsockname()[1]
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
src, dst = socket.inet_aton("10.9.9.9"), socket.inet_aton("10.9.9.1")
for sport in (40001, 40002):
    tcp = struct.pack("!HHIIBBHHH", sport, port, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    os.write(tun, ip + tcp)
open("{d}/port", "w").write(str(port))
time.sleep(20)  # the SYN-ACKs go out t0 and nobody answers
PY
PYPID=$!
while [ ! -s {d}/port ]; do sleep 0.05; done
sleep 0.3
ss -tanH state syn-recv > {d}/ss.txt
{bin} conn-audit --idle 2s --format json --state {d}/st.json > {d}/first.json
sleep 2.5
{bin} conn-audit --idle 2s --format json --state {d}/st.json > {d}/second.json
echo $PYPID > {d}/pid
kill $PYPID
"#,
        d = tmp.path().display(),
        bin = crate::util::bin().display()
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .unwrap();
    if !out.status.success() {
        crate::util::skip(format_args!(
            "private namespace with a TUN device failed here: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    let read = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
    let json = |f: &str| -> Value { serde_json::from_str(&read(f)).unwrap() };
    assert_eq!(read("ss.txt").lines().count(), 2, "{}", read("ss.txt"));
    let first = json("first.json");
    assert_eq!(
        (first["syn_recv"].as_u64(), first["stale"].as_u64()),
        (Some(2), Some(0)),
        "{first}"
    );
    let second = json("second.json");
    assert_eq!(second["by_reason"]["half-open"], 2, "{second}");
    assert_eq!(second["unowned"], 0, "{second}");
    let (port, pid) = (read("port"), read("pid"));
    let v = second["groups"][0]["message"].as_str().unwrap();
    assert!(
        v.starts_with(&format!(
            "2 half-open connections from 10.9.9.9 on :{port} (listener {}/python3) for ",
            pid.trim()
        )) && v.ends_with(
            " - the client never completed the handshake (SYN flood, or its ACKs are lost)"
        ),
        "{v}"
    );
}
