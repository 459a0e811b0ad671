//! conn-audit benchmark, the issue-20 budget: 15,000 idle ESTABLISHED loopback connections
//! (30,000 sockets) held by helper processes (pairs of at most 10,000); the full audit (idle
//! times from tcp_info, owners from /proc/PID/fd) by the release binary, interleaved with
//! its peers: `--format json` against `ss -tnpi`, the table against `ss -tnp`. CPU time
//! (user + system, from wait4) and peak RSS, medians of the rounds. The budget: CPU at most
//! 0.3x ss's, peak RSS at most 2x ss's.
//! `cargo bench --bench conn_audit` (as root, so that every owner is readable).
#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the shared helpers this bench does not use (it needs CPU time)
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::median;

/// CPU seconds (user + system) and peak RSS (KiB) of a command run to completion, its
/// stdout in `out` (a file: the bench must stay small, see common).
#[allow(unsafe_code, clippy::zombie_processes)]
fn cpu_run(cmd: &mut Command, out: &Path) -> (f64, i64) {
    let file = std::fs::File::create(out).unwrap();
    let child = cmd.stdout(Stdio::from(file)).spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 reaps our own child and fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed: status {status}"
    );
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss)
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_opskit");
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/helpers/conn_bulk.py");
    let tmp = std::env::temp_dir().join(format!("opskit-conn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let rounds = 9;
    let n = 15_000u32;
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
    std::thread::sleep(Duration::from_secs(2));
    let state = tmp.join("state.json");
    let cases: [(&str, Vec<&str>, Vec<&str>); 2] = [
        (
            "json",
            vec!["conn-audit", "--idle", "1s", "--format", "json", "--state"],
            vec!["-tnpi"],
        ),
        (
            "table",
            vec!["conn-audit", "--idle", "1s", "--state"],
            vec!["-tnp"],
        ),
    ];
    println!("| sockets | opskit conn-audit | CPU (median) | peak RSS | ss | CPU (median) | peak RSS | CPU ratio | RSS ratio |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, ours_args, ss_args) in &cases {
        let (mut ours, mut ss) = (Vec::new(), Vec::new());
        let (mut ours_rss, mut ss_rss) = (0, 0);
        for round in 0..rounds {
            // alternate which runs first: neither always follows the other
            let mut one = |who: usize| {
                if who == 0 {
                    let (c, r) = cpu_run(
                        Command::new(bin).args(ours_args).arg(&state),
                        &tmp.join("out"),
                    );
                    ours.push(c);
                    ours_rss = ours_rss.max(r);
                } else {
                    let (c, r) = cpu_run(Command::new("ss").args(ss_args), &tmp.join("ss.txt"));
                    ss.push(c);
                    ss_rss = ss_rss.max(r);
                }
            };
            one(round % 2);
            one(1 - round % 2);
        }
        let (o, s) = (median(ours), median(ss));
        println!(
            "| {} | {name} | {:.0} ms | {} KiB | ss {} | {:.0} ms | {} KiB | {:.2} | {:.2} |",
            2 * n,
            o * 1e3,
            ours_rss,
            ss_args.join(" "),
            s * 1e3,
            ss_rss,
            o / s,
            ours_rss as f64 / ss_rss as f64
        );
    }
    for pid in line.split_whitespace().skip(1) {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&tmp);
}
