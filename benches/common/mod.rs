//! What the benches share: running a command to completion with its wall time and its own
//! peak RSS; medians.
//!
//! The command's stdout goes to a file, not to a pipe the bench reads: a spawned child's peak
//! RSS starts from the spawning process's (vfork shares its memory until exec), so the bench
//! itself must stay small while it measures.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

pub struct Run {
    /// Wall time in seconds, spawn to reap.
    pub wall: f64,
    /// The child's own peak RSS in KiB (wait4's rusage).
    pub rss_kib: i64,
}

/// Run `cmd` to completion with its stdout written to `out`; panic unless it exits 0. The
/// child is reaped with wait4 (std's wait would not give the rusage).
#[allow(unsafe_code, clippy::zombie_processes, clippy::unwrap_used)]
pub fn run(cmd: &mut Command, out: &Path) -> Run {
    let file = std::fs::File::create(out).unwrap();
    let t0 = Instant::now();
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
    Run {
        wall: t0.elapsed().as_secs_f64(),
        rss_kib: ru.ru_maxrss,
    }
}

/// A copy of the opskit binary in the temp dir, as `cargo install` and dpkg leave one: the
/// file the linker just wrote sits in the page cache in a form that costs its process start
/// about 0.5 ms more (measured: 7.2 ms against 6.5 ms for the same bytes, copied), which on a
/// 5 ms run is noise a bench should not measure. Removed by the caller.
#[allow(clippy::unwrap_used, dead_code)] // the bindstats bench's (5 ms runs)
pub fn installed_copy(tag: &str) -> std::path::PathBuf {
    let to = std::env::temp_dir().join(format!("opskit-{tag}-bench-bin-{}", std::process::id()));
    std::fs::copy(env!("CARGO_BIN_EXE_opskit"), &to).unwrap();
    to
}

/// The median of some timings.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
