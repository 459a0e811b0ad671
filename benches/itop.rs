//! itop benchmark: one sample of the 1152-CPU x 1056-row capture (parse + rates + JSON),
//! side by side with `lsirq -J` on the same file; then the live TUI's CPU use and RSS.
//!
//! `cargo bench --bench itop` (as root for lsirq's private mount namespace, with tmux for the
//! TUI part). Prints a table for the README.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use opskit::api::itop::CpuNodes;
use opskit::api::itop::ViewOpts;
use opskit::api::itop::{rates_into, RateScratch, Rates};
use opskit::api::itop::{write_json, Sample, Source};
use opskit::api::itop::{Facts, Report};
use opskit::api::itop::{Snapshot, Stamp};

fn cpu_time(who: libc::c_int) -> f64 {
    let mut ru: libc::rusage = unsafe_zeroed();
    // SAFETY: getrusage only writes into the struct we pass.
    #[allow(unsafe_code)]
    unsafe {
        libc::getrusage(who, &mut ru);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

#[allow(unsafe_code)]
fn unsafe_zeroed() -> libc::rusage {
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

static NO_NODES: CpuNodes = CpuNodes { nodes: Vec::new() };
static NO_FACTS: Facts = Facts {
    info: Vec::new(),
    devices: Vec::new(),
};
static NO_REPORT: Report = Report {
    hot: Vec::new(),
    numa: Vec::new(),
    cpu_time: Vec::new(),
    stat_resets: Vec::new(),
    went_offline: Vec::new(),
};

/// The sample the batch writer gets, at a made-up time `i` s.
fn sample<'a>(cur: &'a Snapshot, rates: &'a Rates, i: usize) -> Sample<'a> {
    Sample {
        snap: cur,
        rates,
        stamp: Stamp {
            mono: i as f64,
            wall: (0, 0),
        },
        source: Source::Interrupts,
        facts: &NO_FACTS,
        nodes: &NO_NODES,
        report: &NO_REPORT,
    }
}

fn fixture(tmp: &Path) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/interrupts/pcp_x86_64_1152cpu_interrupts.txt.bz2");
    if !src.exists() {
        eprintln!("SKIP: {} is absent", src.display());
        return None;
    }
    let out = Command::new("bzcat").arg(&src).output().ok()?;
    let dst = tmp.join("interrupts-1152");
    std::fs::write(&dst, out.stdout).ok()?;
    Some(dst)
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("opskit-itop-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let Some(file) = fixture(&tmp) else { return };
    let text = std::fs::read_to_string(&file).unwrap();
    println!("input: {} ({} bytes)", file.display(), text.len());

    // --- opskit, in process: parse + rates + JSON, buffers reused as the sampler does
    let iters = 30;
    let mut prev = Snapshot::parse(&text).unwrap();
    let mut cur = Snapshot::default();
    let mut scratch = RateScratch::default();
    let mut rates = Rates::default();
    let mut out = Vec::new();
    let opts = ViewOpts::default();
    let mut json_len = 0;
    let c0 = cpu_time(libc::RUSAGE_SELF);
    let w0 = Instant::now();
    for i in 0..iters {
        cur.parse_into(text.as_bytes()).unwrap();
        rates_into(&prev, &cur, 1.0, &mut scratch, &mut rates);
        out.clear();
        write_json(&mut out, &sample(&cur, &rates, i), &opts).unwrap();
        json_len = out.len();
        std::mem::swap(&mut prev, &mut cur);
    }
    let ours_cpu = (cpu_time(libc::RUSAGE_SELF) - c0) / iters as f64;
    let ours_wall = w0.elapsed().as_secs_f64() / iters as f64;
    println!(
        "opskit parse+rates+json: {:.1} ms CPU, {:.1} ms wall per sample ({} bytes of JSON)",
        ours_cpu * 1e3,
        ours_wall * 1e3,
        json_len
    );

    // breakdown of the same work, phase by phase
    let c0 = cpu_time(libc::RUSAGE_SELF);
    for _ in 0..iters {
        cur.parse_into(text.as_bytes()).unwrap();
    }
    let parse_cpu = (cpu_time(libc::RUSAGE_SELF) - c0) / iters as f64;
    let c0 = cpu_time(libc::RUSAGE_SELF);
    for _ in 0..iters {
        rates_into(&prev, &cur, 1.0, &mut scratch, &mut rates);
    }
    let rates_cpu = (cpu_time(libc::RUSAGE_SELF) - c0) / iters as f64;
    let c0 = cpu_time(libc::RUSAGE_SELF);
    for i in 0..iters {
        out.clear();
        write_json(&mut out, &sample(&cur, &rates, i), &opts).unwrap();
    }
    let json_cpu = (cpu_time(libc::RUSAGE_SELF) - c0) / iters as f64;
    println!(
        "  of which parse {:.1} ms, rates {:.1} ms, JSON {:.1} ms",
        parse_cpu * 1e3,
        rates_cpu * 1e3,
        json_cpu * 1e3
    );

    // --- the binary end to end: two parses (two files) + rates + JSON, process start included
    let bin = env!("CARGO_BIN_EXE_opskit");
    let c0 = cpu_time(libc::RUSAGE_CHILDREN);
    let runs = 10;
    for _ in 0..runs {
        let st = Command::new(bin)
            .args(["itop", "--format", "json", "-a", "--from"])
            .arg(&file)
            .arg("--from")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    }
    let bin_cpu = (cpu_time(libc::RUSAGE_CHILDREN) - c0) / runs as f64;
    println!(
        "opskit binary (--from f --from f --format json -a): {:.1} ms CPU per run",
        bin_cpu * 1e3
    );

    // --- lsirq -J on the same file, bind-mounted over /proc/interrupts in a private namespace
    let n = 20;
    let c0 = cpu_time(libc::RUSAGE_CHILDREN);
    let st = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!("mount --bind \"$1\" /proc/interrupts && i=0; while [ $i -lt {n} ]; do lsirq -J >/dev/null || exit 1; i=$((i+1)); done"))
        .arg("sh")
        .arg(&file)
        .status();
    match st {
        Ok(s) if s.success() => {
            let lsirq_cpu = (cpu_time(libc::RUSAGE_CHILDREN) - c0) / n as f64;
            println!("lsirq -J: {:.1} ms CPU per run", lsirq_cpu * 1e3);
            println!(
                "ratio opskit sample / lsirq: {:.3} (budget 0.25)",
                ours_cpu / lsirq_cpu
            );
            println!(
                "ratio opskit binary run / lsirq: {:.3} (budget 0.3)",
                bin_cpu / lsirq_cpu
            );
        }
        _ => println!("SKIP lsirq: needs root (unshare -m) and util-linux-extra"),
    }

    // --- the live TUI at 1 s: CPU share and RSS over time, on this box and on the 1152-CPU
    // capture served as a --root tree
    if std::env::var_os("ITOP_BENCH_NO_TUI").is_some() {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("SKIP TUI: tmux missing");
        return;
    }
    let root = tmp.join("root");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::copy(&file, root.join("proc/interrupts")).unwrap();
    for (what, extra) in [
        ("live /proc (this box)", vec![]),
        (
            "1152-CPU capture via --root",
            vec!["--root".to_string(), root.display().to_string()],
        ),
    ] {
        let sock = format!("opskit-bench-{}", std::process::id());
        let cmd = format!("{bin} {} itop -t -d 1; sleep 5", extra.join(" "));
        Command::new("tmux")
            .args([
                "-L",
                &sock,
                "new-session",
                "-d",
                "-s",
                "b",
                "-x",
                "160",
                "-y",
                "50",
                "sh",
                "-c",
                &cmd,
            ])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let pane = String::from_utf8(
            Command::new("tmux")
                .args(["-L", &sock, "list-panes", "-t", "b", "-F", "#{pane_pid}"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let pid = String::from_utf8(
            Command::new("pgrep")
                .args(["-P", pane.trim(), "-x", "opskit"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let pid = pid.trim().to_string();
        let stat = |pid: &str| -> (f64, u64) {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
            let ticks = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
            let rss_pages: u64 = f[21].parse().unwrap();
            (ticks / 100.0, rss_pages * 4)
        };
        let (t0, rss0) = stat(&pid);
        let secs = 30.0;
        std::thread::sleep(Duration::from_secs_f64(secs));
        let (t1, rss1) = stat(&pid);
        println!(
            "TUI -t at 1 s, {what}: {:.2} % of a core over {secs} s; RSS {rss0} KiB -> {rss1} KiB",
            (t1 - t0) / secs * 100.0
        );
        Command::new("tmux")
            .args(["-L", &sock, "kill-server"])
            .status()
            .unwrap();
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
