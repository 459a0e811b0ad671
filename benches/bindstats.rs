//! bindstats benchmark: parse + munin values of the 1600-zone XML v3 document (5 MB, a real
//! named with zone statistics), side by side with `xmllint --stream --noout` on the same file,
//! and opskit's peak RSS. `cargo bench --bench bindstats`.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Wall time and peak RSS (KiB) of one run, via wait4.
#[allow(unsafe_code, clippy::zombie_processes)]
fn run(cmd: &mut Command) -> (f64, i64) {
    let t0 = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 reaps our own child and fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    (t0.elapsed().as_secs_f64(), ru.ru_maxrss)
}

fn main() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/bind/bind-9.18.49-lab-xml-v3-full-1600zones.xml.gz");
    if !src.exists() {
        eprintln!("SKIP: {} is absent", src.display());
        return;
    }
    let mut doc = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&src).unwrap())
        .read_to_end(&mut doc)
        .unwrap();
    let file = std::env::temp_dir().join(format!("opskit-bind-bench-{}.xml", std::process::id()));
    std::fs::write(&file, &doc).unwrap();
    let bin = env!("CARGO_BIN_EXE_opskit");
    let runs = 20;
    let mut ours = Vec::new();
    let mut rss = 0;
    let mut lint = Vec::new();
    for _ in 0..runs {
        let (t, r) = run(Command::new(bin)
            .args(["bindstats", "--master-zones", "example.com", "--file"])
            .arg(&file));
        ours.push(t);
        rss = rss.max(r);
        let (t, _) = run(Command::new("xmllint")
            .args(["--stream", "--noout"])
            .arg(&file));
        lint.push(t);
    }
    ours.sort_by(f64::total_cmp);
    lint.sort_by(f64::total_cmp);
    let (o, l) = (ours[runs / 2], lint[runs / 2]);
    println!(
        "document: {} bytes (1600 zones, zone statistics)",
        doc.len()
    );
    println!("opskit bindstats --file (parse + munin values, process included): median {:.1} ms, peak RSS {} KiB", o * 1e3, rss);
    println!("xmllint --stream --noout: median {:.1} ms", l * 1e3);
    println!("ratio: {:.2} (budget 0.5, RSS budget 16 MiB)", o / l);
    let _ = std::fs::remove_file(&file);
}
