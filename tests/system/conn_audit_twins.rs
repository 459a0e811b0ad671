//! `opskit conn-audit`, issue #20: a cause needs evidence. The healthy twins of every cause
//! (a DB pooler whose requests are all answered, a real nginx with an upstream keep-alive
//! pool and answered keep-alive clients, a process talking to itself) are never named a
//! cause at the default `--idle 60s`; nginx in front of a silent upstream is, with its
//! workers counted by pid and its clients waiting (not "gave up"); the seed incident gives
//! the same cause as root and as `nobody` (NRPE's default user); the Prometheus exposition
//! has one series per group (parsed here, and `promtool check metrics`); `--kill` refuses
//! sockets without a cookie.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{bin, opskit, require_root, require_tool, run, start_py_helper, which};

/// A helper process group (tests/helpers/conn_*.py), killed on drop.
struct Helper {
    /// killed with its process group on drop
    _child: crate::util::Killed,
    info: Value,
}

impl Helper {
    fn start(name: &str, args: &[&str]) -> Option<Helper> {
        if !require_tool("python3") {
            return None;
        }
        let (child, info) = start_py_helper(name, args);
        Some(Helper {
            _child: child,
            info,
        })
    }

    fn port(&self, name: &str) -> u16 {
        self.info["ports"][name].as_u64().unwrap() as u16
    }
}

/// A real nginx (master + 2 workers) in a temp prefix, proxying `front -> upstream` with an
/// upstream keep-alive pool for each pair; stopped on drop.
struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(pairs: &[(u16, u16)]) -> Option<Nginx> {
        let Some(nginx) = which("nginx") else {
            crate::util::skip("`nginx` is not installed (scripts/test.sh installs nginx-light)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let mut servers = String::new();
        for (i, (front, up)) in pairs.iter().enumerate() {
            servers.push_str(&format!(
                "upstream u{i} {{ server 127.0.0.1:{up}; keepalive 16; keepalive_timeout 600s; }}\n\
                 server {{ listen 127.0.0.1:{front}; keepalive_timeout 600s; \
                 keepalive_requests 100000; location / {{ proxy_pass http://u{i}; \
                 proxy_http_version 1.1; proxy_set_header Connection \"\"; \
                 proxy_read_timeout 3600s; }} }}\n"
            ));
        }
        let conf = format!(
            "daemon off; master_process on; worker_processes 2; pid {d}/nginx.pid;\n\
             error_log {d}/error.log;\n\
             events {{ worker_connections 512; }}\n\
             http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p;\n\
             fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n{servers}}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(nginx)
            .args(["-p"])
            .arg(dir.path())
            .args(["-e"])
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // ready when every front port accepts
        let deadline = Instant::now() + Duration::from_secs(10);
        for (front, _) in pairs {
            while std::net::TcpStream::connect(("127.0.0.1", *front)).is_err() {
                assert!(Instant::now() < deadline, "nginx did not listen on {front}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Some(Nginx { child, _dir: dir })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn json(args: &[&str]) -> Value {
    let (code, out, err) = run(opskit()
        .args(["conn-audit", "--format", "json", "--state", "/dev/null"])
        .args(args));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn groups(v: &Value) -> &Vec<Value> {
    v["groups"].as_array().unwrap()
}

/// Groups of a process (by name).
fn of<'a>(v: &'a Value, process: &str) -> Vec<&'a Value> {
    groups(v)
        .iter()
        .filter(|g| g["process"] == process)
        .collect()
}

/// #1, #2: at the default --idle 60s, the healthy pooler, nginx with a keep-alive upstream
/// pool and answered keep-alive clients, and a process talking to itself are idle, and
/// never "blocked", never a cause, never a symptom.
#[test]
fn healthy_twins_are_never_a_cause_at_the_default_idle() {
    let Some(tw) = Helper::start("conn_twins.py", &[]) else {
        return;
    };
    let front = crate::util::free_port();
    let Some(_ngx) = Nginx::start(&[(front, tw.port("upstream"))]) else {
        return;
    };
    let Some(_cl) = Helper::start(
        "conn_twins.py",
        &["--clients", &front.to_string(), "6", "kacli"],
    ) else {
        return;
    };
    // poll until every twin's connections have been idle for the default 60 s
    let deadline = Instant::now() + Duration::from_secs(120);
    let v = loop {
        let v = json(&[]);
        let stale = |p: &str| !of(&v, p).is_empty();
        if ["pooler", "appcli", "selfloop", "kacli", "nginx"]
            .iter()
            .all(|p| stale(p))
        {
            break v;
        }
        assert!(Instant::now() < deadline, "twins never stale: {v}");
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(v["idle_threshold_s"], 60.0);
    for p in [
        "pooler", "appcli", "dbsrv", "selfloop", "kacli", "nginx", "upsrv",
    ] {
        for g in of(&v, p) {
            assert_eq!(g["role"], "alone", "{p}: {g}");
            assert_eq!(g["class"], "other", "{p}: {g}");
            let m = g["message"].as_str().unwrap();
            assert!(!m.contains("blocked") && !m.contains("gave up"), "{m}");
        }
    }
    // the pooler's 8 server connections: idle, every query answered
    let pool = of(&v, "pooler")
        .into_iter()
        .find(|g| g["direction"] == "outbound")
        .unwrap();
    assert_eq!(pool["count"], 8, "{pool}");
    assert_eq!(pool["evidence"]["answered"], 8, "{pool}");
    assert_eq!(pool["evidence"]["blocked"], 0, "{pool}");
    assert!(
        pool["message"]
            .as_str()
            .unwrap()
            .ends_with("every request answered: kept open (a connection pool or keep-alive)"),
        "{pool}"
    );
    // nginx's upstream pool and its clients' side
    let up = of(&v, "nginx")
        .into_iter()
        .find(|g| g["direction"] == "outbound")
        .unwrap();
    assert_eq!(up["evidence"]["blocked"], 0, "{up}");
    // the self-loop: its request to itself is unanswered, and it is still no cause
    let lp = of(&v, "selfloop")
        .into_iter()
        .find(|g| g["direction"] == "outbound")
        .unwrap();
    assert_eq!(lp["evidence"]["self_loop"], 1, "{lp}");
    // no headline names a cause
    let (_, out, _) =
        run(opskit().args(["conn-audit", "--format", "nagios", "--state", "/dev/null"]));
    assert!(!out.contains("blocked on"), "{out}");
}

/// #3: nginx (2 workers) in front of a silent upstream: its workers are counted by pid,
/// its sockets by socket, and its clients are waiting (their sockets are open), never
/// "gave up".
#[test]
fn nginx_before_a_silent_upstream_is_blocked_and_its_clients_wait() {
    let Some(tw) = Helper::start("conn_twins.py", &[]) else {
        return;
    };
    let front = crate::util::free_port();
    let Some(_ngx) = Nginx::start(&[(front, tw.port("deadup"))]) else {
        return;
    };
    let Some(_cl) = Helper::start(
        "conn_twins.py",
        &["--clients", &front.to_string(), "30", "waitcli"],
    ) else {
        return;
    };
    let dead = tw.port("deadup").to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let v = json(&["--idle", "2s", "--process", "nginx"]);
        let ready = groups(&v).first().is_some_and(|g| {
            g["role"] == "cause" && g["count"] == 30 && g["clients"]["waiting"] == 30
        });
        if ready {
            break v;
        }
        assert!(Instant::now() < deadline, "{v:#}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let c = &groups(&v)[0];
    assert_eq!(
        (c["class"].as_str(), c["port"].as_u64()),
        (Some("silent-peer"), Some(dead.parse().unwrap()))
    );
    let workers = c["processes"].as_u64().unwrap();
    assert!((1..=2).contains(&workers), "{c}");
    assert_eq!(c["evidence"]["unanswered_requests"], 30, "{c}");
    assert_eq!(c["clients"]["gave_up"], 0, "{c}");
    let m = c["message"].as_str().unwrap();
    assert!(
        m.starts_with(&format!(
            "{} (30 sockets) blocked on 127.0.0.1:{dead} for ",
            if workers == 1 {
                "1 nginx process".to_string()
            } else {
                format!("{workers} nginx processes")
            }
        )),
        "{m}"
    );
    assert!(
        m.ends_with("30 requests unanswered; their 30 clients are waiting"),
        "{m}"
    );
    let s = &groups(&v)[1];
    assert_eq!(s["role"], "symptom", "{s}");
    assert_eq!(s["cause_rank"], 1, "{s}");
    let m = s["message"].as_str().unwrap();
    assert!(
        m.contains("30 clients waiting") && !m.contains("gave up"),
        "{m}"
    );
    assert!(!m.contains("keepalive"), "{m}");
}

/// The cause's identity in JSON: what must not depend on who runs the check.
fn cause_of(v: &Value) -> (Value, Value, Value, Value, Value) {
    let g = &groups(v)[0];
    (
        g["class"].clone(),
        g["remote"].clone(),
        g["port"].clone(),
        g["evidence"]["unanswered_requests"].clone(),
        g["role"].clone(),
    )
}

/// #5: the seed incident as root and as `nobody` (NRPE's default user) gives the same cause;
/// the unprivileged run says why it cannot name the process.
#[test]
fn the_incident_as_root_and_as_nobody_gives_the_same_cause() {
    if !require_root("running a check as nobody") || !require_tool("setpriv") {
        return;
    }
    let Some(inc) = Helper::start("conn_incident.py", &[]) else {
        return;
    };
    let up = inc.port("upstream");
    let args = ["--idle", "2s", "--dport", &up.to_string()];
    let deadline = Instant::now() + Duration::from_secs(20);
    let root = loop {
        let v = json(&args);
        if groups(&v)
            .first()
            .is_some_and(|g| g["role"] == "cause" && g["count"] == 4)
        {
            break v;
        }
        assert!(Instant::now() < deadline, "{v:#}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let as_nobody = |format: &str| {
        run(Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(bin())
            .args(["conn-audit", "--state", "/dev/null", "--format", format])
            .args(args)
            .env("LC_ALL", "C"))
    };
    let (code, out, err) = as_nobody("json");
    assert_eq!(code, 0, "{err}");
    let nobody: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cause_of(&root), cause_of(&nobody), "{root:#}\n{nobody:#}");
    assert_eq!(groups(&root)[0]["process"], "apache2");
    assert_eq!(groups(&nobody)[0]["owner_unknown"], true);
    assert_eq!(nobody["unowned"], 4);
    let (_, out, _) = as_nobody("nagios");
    assert!(
        out.contains(&format!(
            "; 4 sockets (owner unknown: run as root to name the process) blocked on 127.0.0.1:{up} for "
        )),
        "{out}"
    );
    assert!(!out.contains("fd leak"), "{out}");
    // the packaged NRPE check filters on the service port: the clients are linked to the
    // upstream their requests were forwarded to (the same user, within a second), so the
    // unprivileged headline is the cause, as root's is
    let front = inc.port("front").to_string();
    let nrpe = |cmd: &mut Command| {
        let (_, out, _) = run(cmd
            .args([
                "conn-audit",
                "--state",
                "/dev/null",
                "--format",
                "nagios",
                "--idle",
                "2s",
                "--port",
                &front,
            ])
            .env("LC_ALL", "C"));
        out
    };
    let out = nrpe(
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(bin()),
    );
    assert!(
        out.contains(&format!(
            "; 4 sockets (owner unknown: run as root to name the process) blocked on 127.0.0.1:{up} for "
        )) && out.contains("their 4 clients gave up (CLOSE_WAIT)"),
        "{out}"
    );
    let out = nrpe(&mut opskit());
    assert!(
        out.contains(&format!(
            "; 4 apache2 processes (4 sockets) blocked on 127.0.0.1:{up} for "
        )),
        "{out}"
    );
    // root's line names the workers, counted by pid
    let (_, out, _) = run(opskit()
        .args(["conn-audit", "--state", "/dev/null", "--format", "nagios"])
        .args(args));
    assert!(
        out.contains(&format!(
            "; 4 apache2 processes (4 sockets) blocked on 127.0.0.1:{up} for "
        )),
        "{out}"
    );
}

/// Parse an exposition: every sample's (name, sorted labels), failing on a duplicate.
fn series(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (id, _value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match id.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (id, ""),
        };
        let mut l: Vec<String> = labels
            .split("\",")
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('"').to_string() + "\"")
            .collect();
        l.sort();
        let key = format!("{name}{{{}}}", l.join(","));
        assert!(
            seen.insert(key.clone()),
            "duplicate series {key} in\n{text}"
        );
    }
    seen
}

/// #4: the incident with its upstream dropping new connections (idle and connecting workers
/// on one upstream): one series per group, checked by parsing and by promtool.
#[test]
fn one_series_per_group_in_the_exposition() {
    let Some(inc) = Helper::start("conn_incident.py", &[]) else {
        return;
    };
    // the queue scenario has a connecting client and an accept queue on one port, the
    // incident idle workers: every kind of group at once
    std::thread::sleep(Duration::from_millis(2500));
    let (code, out, err) = run(opskit().args([
        "conn-audit",
        "--idle",
        "2s",
        "--state",
        "/dev/null",
        "--format",
        "prometheus",
    ]));
    assert_eq!(code, 0, "{err}");
    let s = series(&out);
    let q = inc.port("queue");
    assert!(
        s.iter().any(|x| x.contains("group_stale")
            && x.contains("kind=\"handshakes\"")
            && x.contains(&format!("port=\"{q}\""))),
        "{out}"
    );
    assert!(
        s.iter().any(|x| x.contains("group_stale")
            && x.contains("kind=\"connections\"")
            && x.contains(&format!("port=\"{q}\""))),
        "{out}"
    );
    // the rank of every group, 1 first
    assert!(out.contains("opskit_conn_audit_group_rank{"), "{out}");
    if which("promtool").is_some() {
        let mut p = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        p.stdin.take().unwrap().write_all(out.as_bytes()).unwrap();
        let o = p.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    } else {
        crate::util::skip("promtool is not installed (package prometheus)");
    }
}

/// Issue 22 #1: sockets from /proc/net/tcp have no cookie: --kill refuses them and closes
/// nothing (ss still shows the socket).
#[test]
fn kill_refuses_sockets_without_a_cookie() {
    let Some(inc) = Helper::start("conn_incident.py", &[]) else {
        return;
    };
    let up = inc.port("upstream").to_string();
    std::thread::sleep(Duration::from_millis(2500));
    let (code, out, err) = run(opskit().args([
        "conn-audit",
        "--idle",
        "2s",
        "--state",
        "/dev/null",
        "--source",
        "procfs",
        "--dport",
        &up,
        "--kill",
        "--yes",
    ]));
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("cookie") && err.contains("--source procfs"),
        "{err}"
    );
    assert!(!out.contains("closed"), "{out}");
    let root = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run(opskit()
            .arg("--root")
            .arg(root.path())
            .args(["conn-audit", "--kill", "--yes"]));
    assert_ne!(code, 0);
    assert!(err.contains("capture"), "{err}");
    let (_, ss, _) = run(Command::new("ss").args([
        "-Htn",
        "state",
        "established",
        "dport",
        "=",
        &format!(":{up}"),
    ]));
    assert_eq!(ss.lines().count(), 4, "{ss}");
}

/// A private network namespace, deleted on drop.
struct Ns(String);

impl Ns {
    fn add(name: &str) -> Option<Ns> {
        if !require_root("ip netns add") || !require_tool("ip") {
            return None;
        }
        let name = format!("{name}{}", std::process::id());
        let (code, _, err) = run(Command::new("ip").args(["netns", "add", &name]));
        assert_eq!(code, 0, "{err}");
        let ns = Ns(name);
        let (code, _, err) = run(Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"]));
        assert_eq!(code, 0, "{err}");
        Some(ns)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// #8 (#10 of the issue): the incident in another network namespace. `--netns NAME` and
/// `--netns PID` audit it, `--all-netns` too with each socket and group naming its
/// namespace; `--process apache2` run here says where apache2 lives instead of a bare OK.
#[test]
fn other_namespaces_are_audited_or_named() {
    let Some(ns) = Ns::add("ca") else { return };
    if !require_tool("python3") {
        return;
    }
    let mut child = crate::util::Killed::spawn(
        Command::new("ip")
            .args(["netns", "exec", &ns.0, "python3"])
            .arg(crate::util::repo().join("tests/helpers/conn_incident.py"))
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.0.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let inc = Helper {
        _child: child,
        info: serde_json::from_str(&line).unwrap(),
    };
    let up = inc.port("upstream");
    let worker = inc.info["pids"]["workers"][0].as_u64().unwrap().to_string();
    let is_cause = |v: &Value| {
        groups(v).first().is_some_and(|g| {
            g["role"] == "cause" && g["port"] == up && g["process"] == "apache2" && g["count"] == 4
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = json(&["--idle", "2s", "--netns", &ns.0]);
        if is_cause(&v) {
            let want = format!("({})", ns.0);
            assert!(
                groups(&v)[0]["netns"].as_str().unwrap().ends_with(&want),
                "{v}"
            );
            assert!(
                v["sockets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|s| s["netns"] == groups(&v)[0]["netns"]),
                "{v}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{v:#}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // by a process living there
    assert!(is_cause(&json(&["--idle", "2s", "--netns", &worker])));
    // every namespace: this one's and the incident's, each socket naming its own
    let v = json(&["--idle", "2s", "--all-netns", "--dport", &up.to_string()]);
    assert!(v["namespaces"].as_array().unwrap().len() >= 2, "{v}");
    assert!(is_cause(&v), "{v:#}");
    assert!(
        groups(&v)[0]["message"]
            .as_str()
            .unwrap()
            .contains("[in net:["),
        "{v}"
    );
    // --process apache2 here: not a bare "no stale connections"
    let (code, out, _) = run(opskit().args([
        "conn-audit",
        "--idle",
        "2s",
        "--state",
        "/dev/null",
        "--process",
        "apache2",
        "--format",
        "nagios",
    ]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: apache2 (pid ")
            && out.contains("which was not audited: use --netns"),
        "{out}"
    );
    // the namespace is entered by a thread, never by the process: a wrong name is an error
    let (code, _, err) = run(opskit().args(["conn-audit", "--netns", "no-such-ns-here"]));
    assert_eq!(code, 2);
    assert!(err.contains("--netns 'no-such-ns-here'"), "{err}");
}

/// #7: a handshake the client never completes (SYN_RECV, from a TUN device in a private
/// namespace) is reported at the default --idle 60s without any state file: its age comes
/// from the SYN-ACK backoff (1, 3, 7, 15, 31, 63 s) and the time left to the next one.
/// (tcp_synack_retries 6 in the namespace keeps the request past 63 s.)
#[test]
fn syn_recv_is_reported_at_the_default_idle() {
    if !require_root("unshare -n and a TUN device")
        || !require_tool("unshare")
        || !require_tool("ip")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        r#"set -e
ip link set lo up
sysctl -qw net.ipv4.tcp_synack_retries=6
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
time.sleep(90)
PY
PYPID=$!
while [ ! -s {d}/port ]; do sleep 0.05; done
sleep 0.3
{bin} conn-audit --format json --state /dev/null > {d}/first.json
# poll: the requests reach 60 s once, then every run sees them (until 127 s)
i=0
while [ $i -lt 80 ]; do
  {bin} conn-audit --format json --state /dev/null > {d}/later.json
  grep -q '"half-open":2' {d}/later.json && break
  sleep 1; i=$((i+1))
done
ss -tanoH state syn-recv > {d}/ss.txt
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
    let first: Value = serde_json::from_str(&read("first.json")).unwrap();
    assert_eq!(
        (first["syn_recv"].as_u64(), first["stale"].as_u64()),
        (Some(2), Some(0)),
        "{first}"
    );
    let later: Value = serde_json::from_str(&read("later.json")).unwrap();
    assert_eq!(later["by_reason"]["half-open"], 2, "{later}");
    let g = &groups(&later)[0];
    let age = g["max_idle_s"].as_f64().unwrap();
    // the requests exist at most ~62 s when first reported; never an age they cannot have
    assert!((60.0..=64.0).contains(&age), "{g}");
    // ss agrees they are in SYN_RECV with the retransmit timer running
    assert_eq!(read("ss.txt").lines().count(), 2, "{}", read("ss.txt"));
}

/// #8, #9: a database vanishes (nftables drops everything to it, in a private namespace).
/// Of the app's 8 connections, 3 were sending (retransmitting now) and 5 idle, 2 of them with
/// SO_KEEPALIVE at the kernel's defaults (no probe sent yet): the group is a cause led by
/// the retransmissions ("the peer is gone"), never "no read timeout", and the keepalive
/// ones are "idle", not "keepalive-idle" (nothing proved the peer alive).
#[test]
fn a_vanished_database_leads_with_its_retransmissions() {
    if !require_root("unshare -n and nft") || !require_tool("unshare") || !require_tool("nft") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        r#"set -e
ip link set lo up
python3 - <<'PY' &
import ctypes, os, socket, time
libc = ctypes.CDLL(None)
srv = socket.socket(); srv.bind(("127.0.0.2", 0)); srv.listen(8); port = srv.getsockname()[1]
if os.fork() == 0:
    # the database: another process, answering one query a connection
    libc.prctl(1, 9, 0, 0, 0); libc.prctl(15, b"db", 0, 0, 0)
    held = []
    for i in range(8):
        a, _ = srv.accept(); a.recv(100); a.sendall(b"1"); held.append(a)
    time.sleep(90)
    os._exit(0)
srv.close()
libc.prctl(15, b"app", 0, 0, 0)
conns = []
for i in range(8):
    c = socket.socket()
    if i >= 6:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.connect(("127.0.0.2", port))
    c.sendall(b"SELECT 1"); c.recv(100)
    conns.append((c, None))
open("{d}/port", "w").write(str(port))
time.sleep(0.5)
# the database is gone: whatever is sent now is never acknowledged
while not open("{d}/dropped").read():
    time.sleep(0.05)
for c, _ in conns[:3]:
    c.sendall(b"SELECT 2")
time.sleep(60)
PY
PYPID=$!
while [ ! -s {d}/port ]; do sleep 0.05; done
: > {d}/dropped
nft add table inet ca
nft add chain inet ca out '{{ type filter hook output priority 0; }}'
nft add rule inet ca out ip daddr 127.0.0.2 drop
echo 1 > {d}/dropped
sleep 4.5
{bin} conn-audit --idle 2s --format json --state /dev/null --dport $(cat {d}/port) > {d}/out.json
ss -tnoiH dst 127.0.0.2 > {d}/ss.txt
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
            "private namespace with nftables failed here: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    let read = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
    let v: Value = serde_json::from_str(&read("out.json")).unwrap();
    let ss = read("ss.txt");
    let g = &groups(&v)[0];
    assert_eq!(
        (g["role"].as_str(), g["class"].as_str()),
        (Some("cause"), Some("silent-peer")),
        "{v:#}"
    );
    assert_eq!(g["reason"], "retransmitting", "{g}");
    assert_eq!(g["evidence"]["retransmits"], 3, "{g}");
    // the idle ones outnumber the retransmitting ones: the stronger evidence leads anyway
    assert_eq!(g["reasons"]["idle"], 5, "{g}");
    let m = g["message"].as_str().unwrap();
    assert!(
        m.contains(" - the peer is gone: 3 retransmitting (no ACK)"),
        "{m}"
    );
    assert!(!m.contains("no read timeout"), "{m}");
    // keepalive armed at the defaults, no probe yet: ss shows the timer, nobody is credited
    assert_eq!(v["by_reason"]["keepalive-idle"], 0, "{v}");
    assert_eq!(ss.matches("timer:(keepalive,").count(), 2, "{ss}");
    let ka: Vec<&Value> = v["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["timer"] == "keepalive")
        .collect();
    assert_eq!(ka.len(), 2, "{v}");
    assert!(ka.iter().all(|s| s["reason"] == "idle"), "{v}");
}

/// #11: a client that half-closed after its request (FIN_WAIT2) still waits: its server's
/// CLOSE_WAIT is worded as such, never an fd leak, and the client is blocked on the server
/// (its request unanswered).
#[test]
fn a_half_closed_client_is_waiting_not_an_fd_leak() {
    let Some(hc) = Helper::start("conn_halfclose.py", &[]) else {
        return;
    };
    let port = hc.info["port"].as_u64().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let v = json(&["--idle", "2s", "--port", &port]);
        if groups(&v).len() == 2 {
            break v;
        }
        assert!(Instant::now() < deadline, "{v:#}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(v["fin_wait2"], 1, "{v}");
    let cli = &groups(&v)[0];
    assert_eq!(
        (cli["process"].as_str(), cli["role"].as_str()),
        (Some("hccli"), Some("cause")),
        "{v:#}"
    );
    assert_eq!(cli["reasons"]["half-closed"], 1, "{cli}");
    let srv = &groups(&v)[1];
    assert_eq!(srv["evidence"]["half_closed_clients"], 1, "{srv}");
    let m = srv["message"].as_str().unwrap();
    assert!(
        m.ends_with("the clients half-closed and still wait for the answer (FIN_WAIT2)"),
        "{m}"
    );
    assert!(!m.contains("fd leak") && !m.contains("gave up"), "{m}");
}
