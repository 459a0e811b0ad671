//! conn-audit benchmark: N idle ESTABLISHED loopback connections (2N sockets) held by two
//! helper processes (pairs of at most 10,000); the full audit (idle times from tcp_info, owners from /proc/PID/fd) by
//! the release binary, side by side with `ss -tanpi state established` (runs interleaved,
//! medians), at several socket counts to show how time and memory grow.
//! `cargo bench --bench conn_audit` (as root, so that every owner is readable).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{median, run};

/// The report's `"stale":N`, read in small pieces (the bench must stay small: see common).
fn stale_count(path: &std::path::Path) -> u64 {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(path).unwrap().read(&mut head).unwrap();
    let text = String::from_utf8_lossy(&head[..n]);
    let at = text
        .find("\"stale\":")
        .expect("a JSON report with \"stale\"")
        + 8;
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_opskit");
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/helpers/conn_bulk.py");
    let tmp = std::env::temp_dir().join(format!("opskit-conn-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let runs = 7;
    println!("| connections | sockets | opskit conn-audit (median wall) | ss -tanpi state established (median wall) | ratio | opskit max RSS |");
    println!("|---|---|---|---|---|---|");
    for n in [5_000u32, 15_000, 25_000] {
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
        let (mut ours, mut ss) = (Vec::new(), Vec::new());
        let mut rss = 0;
        let mut stale = 0;
        for _ in 0..runs {
            let out = tmp.join("out.json");
            let r = run(
                Command::new(bin)
                    .args(["conn-audit", "--idle", "1s", "--format", "json", "--state"])
                    .arg(&state),
                &out,
            );
            ours.push(r.wall);
            rss = rss.max(r.rss_kib);
            stale = stale_count(&out);
            ss.push(
                run(
                    Command::new("ss").args(["-tanpi", "state", "established"]),
                    &tmp.join("ss.txt"),
                )
                .wall,
            );
        }
        let (o, s) = (median(ours), median(ss));
        println!(
            "| {n} | {} ({stale} stale) | {:.0} ms | {:.0} ms | {:.2} | {} KiB |",
            2 * n,
            o * 1e3,
            s * 1e3,
            o / s,
            rss
        );
        // the helper's processes ("READY <pid> <pid> ..."), then the helper
        for pid in line.split_whitespace().skip(1) {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
        let _ = child.kill();
        let _ = child.wait();
        std::thread::sleep(Duration::from_secs(1));
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
