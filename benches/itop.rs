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

    whole_process(&file, tmp.as_path());

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

/// A dense pair: `ncpu` CPUs x `rows` rows, every cell a large count that grows by 1..5000
/// (the worst case for rates and JSON: every cell is written).
fn dense_pair(dir: &Path, ncpu: usize, rows: usize) -> (PathBuf, PathBuf) {
    use std::io::Write as _;
    let mut seed: u64 = 7;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base: Vec<Vec<u64>> = (0..rows)
        .map(|_| {
            (0..ncpu)
                .map(|_| 1_000_000 + rnd() % 3_000_000_000)
                .collect()
        })
        .collect();
    let add: Vec<Vec<u64>> = (0..rows)
        .map(|_| (0..ncpu).map(|_| 1 + rnd() % 5000).collect())
        .collect();
    let mut out = Vec::new();
    for (name, grow) in [("dense_a", false), ("dense_b", true)] {
        let p = dir.join(name);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        let head: Vec<String> = (0..ncpu)
            .map(|c| format!("{:>10}", format!("CPU{c}")))
            .collect();
        writeln!(f, "      {}", head.join(" ")).unwrap();
        for r in 0..rows {
            write!(f, "{:>4}:", r + 24).unwrap();
            for c in 0..ncpu {
                let v = base[r][c] + if grow { add[r][c] } else { 0 };
                write!(f, " {v:>10}").unwrap();
            }
            writeln!(f, "  IR-PCI-MSI {r}-edge eth{}-TxRx-{}", r / 16, r % 16).unwrap();
        }
        out.push(p);
    }
    (out[0].clone(), out[1].clone())
}

/// Run a command `n` times; CPU seconds per run (children's rusage) and the peak RSS (KiB)
/// of one run (wait4).
#[allow(unsafe_code, clippy::zombie_processes)] // reaped by wait4, for its rusage
fn measure(cmd: &mut dyn FnMut() -> Command, n: usize) -> Option<(f64, i64)> {
    let mut cpu = 0.0;
    let mut peak = 0;
    for _ in 0..n {
        let child = cmd()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut status = 0;
        let mut ru: libc::rusage = unsafe_zeroed();
        let pid = child.id() as libc::pid_t;
        // SAFETY: waits for our own child and fills a plain struct
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r != pid || status != 0 {
            return None;
        }
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        cpu += t(ru.ru_utime) + t(ru.ru_stime);
        peak = peak.max(ru.ru_maxrss);
    }
    Some((cpu / n as f64, peak))
}

/// The whole process, side by side with `lsirq -J` (the newer file bind-mounted over
/// /proc/interrupts): on the 1152-CPU capture (the same file twice) and on a dense generated
/// 1152 x 1014 pair, every output format, CPU per run and peak RSS.
fn whole_process(capture: &Path, tmp: &Path) {
    let bin = env!("CARGO_BIN_EXE_opskit");
    let (da, db) = dense_pair(tmp, 1152, 1014);
    let runs = 20;
    println!("\nwhole process, {runs} runs each (budget: CPU <= 0.25x lsirq -J, RSS < 64 MB):");
    for (name, a, b) in [
        (
            "1152-CPU capture",
            capture.to_path_buf(),
            capture.to_path_buf(),
        ),
        ("dense 1152x1014 pair", da, db),
    ] {
        let lsirq = measure(
            &mut || {
                let mut c = Command::new("unshare");
                c.args([
                    "-m",
                    "sh",
                    "-c",
                    "mount --bind \"$1\" /proc/interrupts && lsirq -J",
                ])
                .arg("sh")
                .arg(&b);
                c
            },
            runs,
        );
        for fmt in [
            &["-t"][..],
            &["-a"],
            &["--format", "json"],
            &["--format", "json", "-a"],
            &["--format", "prometheus"],
        ] {
            let ours = measure(
                &mut || {
                    let mut c = Command::new(bin);
                    c.args(["itop", "--from"])
                        .arg(&a)
                        .arg("--from")
                        .arg(&b)
                        .args(fmt);
                    c
                },
                runs,
            );
            let Some((cpu, rss)) = ours else {
                println!("  {name} {fmt:?}: opskit failed");
                continue;
            };
            let ratio = lsirq.map_or(
                "lsirq unavailable (root, util-linux-extra)".to_string(),
                |(l, _)| format!("{:.3}x lsirq -J ({:.1} ms)", cpu / l, l * 1e3),
            );
            println!(
                "  {name} {}: {:.1} ms CPU, peak RSS {:.1} MB, {ratio}",
                fmt.join(" "),
                cpu * 1e3,
                rss as f64 / 1024.0
            );
        }
    }
}
