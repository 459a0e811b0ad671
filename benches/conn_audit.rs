//! conn-audit benchmark: N idle ESTABLISHED loopback connections (2N sockets) held by two
//! helper processes; the full audit (idle times from tcp_info, owners from /proc/PID/fd) by
//! the release binary, side by side with `ss -tanpi state established`, at two socket counts
//! to show how time and memory grow. `cargo bench --bench conn_audit`.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Run a command to completion; its stdout and its own peak RSS (KiB), via wait4 (which
/// reaps it: std's wait would not give the rusage).
#[allow(clippy::zombie_processes)]
#[allow(unsafe_code)]
fn run_with_rss(cmd: &mut Command) -> (Vec<u8>, i64) {
    use std::io::Read;
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 writes status and usage for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "exit status {status}"
    );
    (out, ru.ru_maxrss)
}

fn time_runs(runs: u32, mut f: impl FnMut()) -> f64 {
    let t0 = Instant::now();
    for _ in 0..runs {
        f();
    }
    t0.elapsed().as_secs_f64() / f64::from(runs)
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_opskit");
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/helpers/conn_bulk.py");
    let tmp = std::env::temp_dir().join(format!("opskit-conn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    println!("| connections | sockets | opskit conn-audit (wall) | ss -tanpi state established (wall) | ratio | opskit max RSS |");
    println!("|---|---|---|---|---|---|");
    for n in [5_000u32, 15_000] {
        let mut child = Command::new("python3")
            .arg(helper)
            .arg(n.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("READY"), "helper: {line}");
        std::thread::sleep(Duration::from_secs(1));
        let state = tmp.join(format!("state-{n}.json"));
        // only the process is timed; reading its JSON back happens after
        let mut stale = 0;
        let mut rss = 0;
        let mut outs = Vec::new();
        let ours = time_runs(5, || {
            let (out, r) = run_with_rss(
                Command::new(bin)
                    .args(["conn-audit", "--idle", "1s", "--format", "json", "--state"])
                    .arg(&state),
            );
            rss = rss.max(r);
            outs.push(out);
        });
        for out in &outs {
            let v: serde_json::Value = serde_json::from_slice(out).unwrap();
            stale = v["stale"].as_u64().unwrap();
        }
        let ss = time_runs(5, || {
            let st = Command::new("ss")
                .args(["-tanpi", "state", "established"])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        });
        println!(
            "| {n} | {} ({stale} stale) | {:.0} ms | {:.0} ms | {:.2} | {} KiB |",
            2 * n,
            ours * 1e3,
            ss * 1e3,
            ours / ss,
            rss
        );
        // the helper and its forked server half ("READY <server pid>")
        let server = line.split_whitespace().nth(1).unwrap_or("0").to_string();
        let _ = Command::new("kill").args(["-KILL", &server]).status();
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_secs(1));
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
