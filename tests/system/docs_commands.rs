//! Every shell command the docs show is run: each line of the README's ```sh blocks, each
//! `$ ` line of its ```console blocks (whose output must be what the README shows, timestamps
//! aside), and each command of the man pages' EXAMPLES sections. Extraction and the `--help`
//! check of every option are in `tests/hermetic/docs_flags.rs`.
//!
//! The commands run in the order the docs give them, in a scratch directory holding what they
//! name (`fixtures/`, `stats.xml`, `disk.img`, a captured `/var/tmp/sosreport-x` and
//! `/var/tmp/capture`), with opskit the binary under test, and each in a network namespace of
//! its own (loopback only: `--resolve` and the default statistics channel URL reach nothing
//! outside). A command that cannot run here is in [`POLICY`] with the reason; a command the
//! table does not name must exit 0. An entry that names no command fails the test, so the
//! table follows the docs.

#[path = "../hermetic/docs_flags.rs"]
mod docs_flags;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use docs_flags::{all_commands, DocCommand};

use crate::util::{
    bin, fixtures, free_port, repo, require_root, require_tool, shared_fixtures, Killed, LoopDev,
};

/// What to do with a command the docs show.
#[derive(Debug, Clone, Copy)]
enum Policy {
    /// Not run, and why (what covers it instead).
    Skip(&'static str),
    /// Run it; it must exit with this status (0 is the default for commands not listed).
    Status(i32),
    /// Any of these statuses (a check whose state depends on the machine).
    AnyStatus(&'static [i32]),
    /// It runs until stopped (the TUI, --watch without -n): it must still be running, having
    /// printed something, after this many milliseconds.
    Until(u64),
    /// A server on `--listen ADDR:PORT` (the port is replaced by a free one): it must answer
    /// `GET /metrics` with BIND metrics, on loopback, before it is stopped.
    Serve,
}

use Policy::{AnyStatus, Serve, Skip, Status, Until};

/// Commands by a piece of their text: the first entry whose text the command contains wins.
const POLICY: &[(&str, Policy)] = &[
    ("bash scripts/install.sh", Skip("installs opskit into ~/.cargo for the user: tests/system/install.rs runs it with recording apt/dpkg shims")),
    ("bash scripts/test.sh", Skip("the whole suite, which runs this test")),
    ("bash scripts/package.sh", Skip("builds the .deb (minutes): tests/system/install.rs builds, installs, lints and purges it")),
    ("sha256sum -c SHA256SUMS", Skip("checks the .deb scripts/package.sh wrote: tests/system/install.rs checks it, and that one changed byte fails")),
    ("apt install ./target/debian/", Skip("installs the .deb on this machine: tests/system/install.rs installs and purges it")),
    ("ln -s /usr/share/munin/plugins/", Skip("changes /etc/munin: tests/system/install.rs links the packaged plugins and runs them with munin-run")),
    ("/etc/munin/plugin-conf.d/opskit", Skip("changes /etc/munin: tests/system/install.rs uses the packaged plugin-conf.d example")),
    ("munin-run ", Skip("needs the packaged plugins linked into /etc/munin/plugins: tests/system/install.rs runs both")),
    ("systemctl restart munin-node", Skip("restarts a service on this machine")),
    ("/etc/nagios/nrpe.d/", Skip("changes /etc/nagios: tests/system/install.rs runs the packaged NRPE commands as written")),
    ("systemctl reload nagios-nrpe-server", Skip("reloads a service on this machine")),
    ("check_nrpe -H HOST", Skip("talks to an NRPE daemon on another host")),
    ("systemctl enable --now", Skip("enables and starts a packaged unit: needs the installed package and a systemd PID 1")),
    ("curl -s http://127.0.0.1:9119/metrics", Skip("reads the exporter the packaged unit starts (the README's --listen example is run on a free port and scraped)")),
    ("curl -s http://127.0.0.1:8053/", Skip("needs a running named's statistics channel: tests/system/bindstats.rs runs a real named")),
    ("--listen 127.0.0.1:9119", Serve),
    ("ssd-align --erase-block 512k /dev/sdb", Status(1)),
    ("ssd-align --erase-block 1536k --format json disk.img", Status(1)),
    ("--format nagios --warning 10 --critical 50", AnyStatus(&[0, 1, 2])),
    ("opskit itop -t", Until(1500)),
    ("opskit itop -a --cpus 0-1", Until(1500)),
];

/// `opskit itop` alone (the TUI): matched exactly, not as a piece of every itop command.
const UNTIL_EXACT: &[&str] = &["opskit itop"];

/// Texts the docs use for things a test machine has under another name.
fn substitutions(work: &Path, loopdev: &str, port: u16) -> Vec<(String, String)> {
    vec![
        ("/dev/sdb".into(), loopdev.into()),
        (
            "/var/tmp/sosreport-x".into(),
            work.join("sosreport-x").display().to_string(),
        ),
        (
            "/var/tmp/capture".into(),
            work.join("capture").display().to_string(),
        ),
        ("127.0.0.1:9119".into(), format!("127.0.0.1:{port}")),
        (
            "nsenter -t PID".into(),
            format!("nsenter -t {}", std::process::id()),
        ),
    ]
}

fn policy(cmd: &str) -> Option<Policy> {
    if UNTIL_EXACT.contains(&cmd) {
        return Some(Until(1500));
    }
    POLICY
        .iter()
        .find(|(k, _)| cmd.contains(k))
        .map(|(_, p)| *p)
}

/// Make a 64 MiB image with p1 at sector 63 (misaligned) and p2 at 32768, as the README does.
fn make_image(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(64 << 20).unwrap();
    let mut c = Command::new("sfdisk")
        .args(["-q"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(b"start=63, size=20000\nstart=32768\n")
        .unwrap();
    assert!(c.wait().unwrap().success(), "sfdisk {}", path.display());
}

/// The scratch directory the commands run in.
fn prepare(work: &Path, bind: &Path) {
    std::os::unix::fs::symlink(fixtures(), work.join("fixtures")).unwrap();
    std::fs::copy(
        bind.join("bind-9.18.49-lab-xml-v3-full.xml"),
        work.join("stats.xml"),
    )
    .unwrap();
    make_image(&work.join("disk.img"));
    make_image(&work.join("sdb.img"));
    // a captured tree with proc/interrupts and proc/stat
    let sos = work.join("sosreport-x/proc");
    std::fs::create_dir_all(&sos).unwrap();
    std::fs::copy(
        fixtures().join("itop/balanced_2cpu_a.txt"),
        sos.join("interrupts"),
    )
    .unwrap();
    std::fs::copy(fixtures().join("itop/stat_a.txt"), sos.join("stat")).unwrap();
    // a captured /sys/block tree with an md RAID5
    for sub in ["sys/block", "sys/class/block"] {
        let d = work.join("capture").join(sub);
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::symlink(fixtures().join("sysfs/md-raid5/md0"), d.join("md0")).unwrap();
    }
    // opskit on PATH is the binary under test
    let bindir = work.join("bin");
    std::fs::create_dir_all(&bindir).unwrap();
    std::os::unix::fs::symlink(bin(), bindir.join("opskit")).unwrap();
    std::fs::create_dir_all(work.join("home")).unwrap();
}

/// `bash -c CMD` in the scratch directory with a clean environment; in a new network
/// namespace (loopback up) unless `host_net`.
fn shell(work: &Path, cmd: &str, host_net: bool) -> Command {
    let script = if host_net {
        cmd.to_string()
    } else {
        format!("ip link set lo up; {cmd}")
    };
    let mut c = if host_net {
        Command::new("bash")
    } else {
        let mut c = Command::new("unshare");
        c.args(["--net", "bash"]);
        c
    };
    c.arg("-c")
        .arg(script)
        .current_dir(work)
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                work.join("bin").display()
            ),
        )
        .env("HOME", work.join("home"))
        .env("XDG_STATE_HOME", work.join("home/state"))
        .env("LC_ALL", "C")
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .process_group(0);
    c
}

/// Run to completion within `limit`: (status, stdout, stderr).
fn run_bounded(
    mut c: Command,
    work: &Path,
    limit: Duration,
) -> Result<(i32, String, String), String> {
    let out = work.join(".out");
    let err = work.join(".err");
    c.stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let mut g = Killed::spawn(&mut c);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            return Err(format!("still running after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Ok((status.code().unwrap_or(-1), read(&out), read(&err)))
}

/// Start, wait `ms`, and check it is still running and has printed something.
fn run_until(c: Command, work: &Path, ms: u64) -> Result<(), String> {
    let mut c = c;
    let out = work.join(".out");
    c.stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(work.join(".err")).unwrap());
    let mut g = Killed::spawn(&mut c);
    let deadline = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < deadline {
        if let Some(s) = g.0.try_wait().unwrap() {
            let err = std::fs::read_to_string(work.join(".err")).unwrap_or_default();
            return Err(format!("exited ({s}) instead of running: {err}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // a sample may take the whole first interval: give it until output appears
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) == 0 {
        if Instant::now() > deadline {
            return Err("printed nothing".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Start the exporter, scrape `/metrics` on `port`, stop it.
fn run_serve(c: Command, work: &Path, port: u16) -> Result<(), String> {
    let mut c = c;
    c.stdout(std::fs::File::create(work.join(".out")).unwrap())
        .stderr(std::fs::File::create(work.join(".err")).unwrap());
    let mut g = Killed::spawn(&mut c);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            let err = std::fs::read_to_string(work.join(".err")).unwrap_or_default();
            return Err(format!("exited ({s}): {err}"));
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
            s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                .unwrap();
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            return if body.starts_with("HTTP/1.") && body.contains("\nbind_up ") {
                Ok(())
            } else {
                Err(format!("GET /metrics answered {body:?}"))
            };
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listens on 127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Timestamps (`2026-12-06T00:57:18.565Z`) as `<TIME>`, trailing blank lines dropped.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let b = line.as_bytes();
        let mut l = String::new();
        let mut i = 0;
        while i < b.len() {
            let is_stamp = b.len() >= i + 24
                && b[i..i + 24].iter().enumerate().all(|(j, &c)| match j {
                    4 | 7 => c == b'-',
                    10 => c == b'T',
                    13 | 16 => c == b':',
                    19 => c == b'.',
                    23 => c == b'Z',
                    _ => c.is_ascii_digit(),
                });
            if is_stamp {
                l.push_str("<TIME>");
                i += 24;
            } else {
                let ch = line[i..].chars().next().unwrap();
                l.push(ch);
                i += ch.len_utf8();
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// One doc command, run as its policy says; `Ok(None)` when skipped (with the reason).
fn run_one(
    c: &DocCommand,
    work: &Path,
    subs: &[(String, String)],
    port: u16,
) -> Result<Option<&'static str>, String> {
    let p = policy(&c.text);
    if let Some(Skip(reason)) = p {
        return Ok(Some(reason));
    }
    let mut text = c.text.clone();
    for (from, to) in subs {
        text = text.replace(from, to);
    }
    match p {
        Some(Until(ms)) => run_until(shell(work, &text, false), work, ms).map(|_| None),
        Some(Serve) => run_serve(shell(work, &text, true), work, port).map(|_| None),
        _ => {
            let (code, out, err) =
                run_bounded(shell(work, &text, false), work, Duration::from_secs(90))?;
            let ok = match p {
                Some(Status(s)) => code == s,
                Some(AnyStatus(s)) => s.contains(&code),
                _ => code == 0,
            };
            if !ok {
                return Err(format!("exit status {code}, stderr: {err}"));
            }
            if let Some(shown) = &c.shown {
                let (want, got) = (normalize(shown), normalize(&out));
                if want != got {
                    return Err(format!(
                        "output differs from the docs\n--- shown\n{want}\n--- printed\n{got}\n---"
                    ));
                }
            }
            Ok(None)
        }
    }
}

#[test]
fn every_command_in_the_docs_runs() {
    if !require_root("running the docs' commands in network namespaces and on a loop device")
        || !["unshare", "ip", "losetup", "sfdisk", "jq", "truncate"]
            .iter()
            .all(|t| require_tool(t))
    {
        return;
    }
    let Some(bind) = shared_fixtures("bind") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    prepare(work.path(), &bind);
    let dev = LoopDev::attach(&work.path().join("sdb.img"), None);
    let port = free_port();
    let subs = substitutions(work.path(), dev.path(), port);

    let cmds = all_commands();
    assert!(cmds.len() > 40, "only {} commands found", cmds.len());
    let mut failures = Vec::new();
    let (mut ran, mut skipped) = (0, 0);
    for c in &cmds {
        match run_one(c, work.path(), &subs, port) {
            Ok(None) => ran += 1,
            Ok(Some(reason)) => {
                skipped += 1;
                eprintln!("not run: {}: {} ({reason})", c.origin, c.text);
            }
            Err(e) => failures.push(format!("{}: {}: {e}", c.origin, c.text)),
        }
    }
    eprintln!("{ran} commands run, {skipped} not run (reasons above)");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // every policy entry still names a command the docs show
    for (k, _) in POLICY {
        assert!(
            cmds.iter().any(|c| c.text.contains(k)),
            "POLICY entry {k:?} matches no command in the docs: remove it"
        );
    }
    for k in UNTIL_EXACT {
        assert!(
            cmds.iter().any(|c| c.text == *k),
            "UNTIL_EXACT {k:?} matches nothing"
        );
    }
}

#[test]
fn shown_output_is_compared_not_assumed() {
    // the twin of the comparison above: a wrong line in a shown output is a failure
    if !require_root("network namespaces") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(fixtures(), work.path().join("fixtures")).unwrap();
    std::fs::create_dir_all(work.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(bin(), work.path().join("bin/opskit")).unwrap();
    let cmd =
        "opskit itop --from fixtures/itop/reset_a.txt --from fixtures/itop/reset_b.txt --top 1";
    let good = DocCommand {
        origin: "t".into(),
        text: cmd.into(),
        shown: Some(
            "2000-01-01T00:00:00.000Z  interrupts  interval 1.00 s  2 CPUs  total 2600 /s\n\
             IRQ  CPU0  CPU1  TOTAL  AFFINITY  NAME\n\
             LOC  1000  1000   2000            Local timer interrupts\n\
             SUM  1500  1100   2600\n\
             \x20 %  57.7  42.3  100.0\n\
             note: counters restarted (driver reload?) for IRQ 34: no rate this interval\n"
                .into(),
        ),
    };
    let r = run_one(&good, work.path(), &[], 0);
    assert!(matches!(r, Ok(None)), "{r:?}");
    let mut bad = good.clone();
    bad.shown = Some(good.shown.unwrap().replace("2600", "2601"));
    let r = run_one(&bad, work.path(), &[], 0);
    assert!(
        matches!(&r, Err(e) if e.contains("output differs")),
        "{r:?}"
    );
}

#[test]
fn man_pages_pass_mandoc_lint() {
    if !require_tool("mandoc") {
        return;
    }
    let pages: Vec<PathBuf> = std::fs::read_dir(repo().join("man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pages.len(), 5);
    let out = Command::new("mandoc")
        .args(["-T", "lint"])
        .args(&pages)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.is_empty(),
        "mandoc -T lint:\n{text}"
    );
}
