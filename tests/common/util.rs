//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built `opskit` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_opskit"))
}

/// A `Command` for opskit with an environment that cannot change its output.
pub fn opskit() -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("OPSKIT_") || k.starts_with("MUNIN_") {
            c.env_remove(&*k);
        }
    }
    for k in [
        "NO_COLOR",
        "COLUMNS",
        "LINES",
        "url",
        "timeout",
        "HOST",
        "PORT",
        "VIEWS",
        "VIEW",
        "MASTERZONES",
        "ANYWARN",
        "ANYCRIT",
        "MAXZONES",
    ] {
        c.env_remove(k);
    }
    c.env("LC_ALL", "C");
    c
}

/// Run a command; returns (status code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("spawning command");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's own fixtures (`fixtures/`).
pub fn fixtures() -> PathBuf {
    repo().join("fixtures")
}

/// Say that the calling test cannot run here and why (`SKIPPED: reason` on stderr, which
/// `cargo test` shows for failing tests and `--nocapture` runs). Under `CI=true` a skip is
/// unexpected (CI runs as root, with ../shared beside the clone and every test dependency
/// installed by scripts/test.sh) and fails the test instead of passing silently; use
/// [`skip_expected`] for the few conditions CI may really lack.
pub fn skip(reason: impl std::fmt::Display) {
    eprintln!("SKIPPED: {reason}");
    if std::env::var_os("CI").is_some_and(|v| v == "true") {
        panic!("unexpected skip under CI=true: {reason}");
    }
}

/// [`skip`] for a condition that CI may lack through no fault of the project (a kernel
/// without a feature, a sandbox that forbids tracing): never fails the run.
pub fn skip_expected(reason: impl std::fmt::Display) {
    eprintln!("SKIPPED: {reason}");
}

/// `../shared/fixtures/<area>`, or `None` with a message saying the test is skipped.
pub fn shared_fixtures(area: &str) -> Option<PathBuf> {
    let p = repo().join("../shared/fixtures").join(area);
    if p.is_dir() {
        Some(p)
    } else {
        skip(format_args!(
            "{} is absent (../shared is not beside the checkout)",
            p.display()
        ));
        None
    }
}

/// True when running as root; otherwise prints why the caller skips.
pub fn require_root(what: &str) -> bool {
    if nix_is_root() {
        true
    } else {
        skip(format_args!("{what} needs root"));
        false
    }
}

fn nix_is_root() -> bool {
    // SAFETY-free: geteuid through /proc/self/status keeps the tests free of unsafe
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// True when `prog` is on PATH; otherwise prints why the caller skips.
pub fn require_tool(prog: &str) -> bool {
    if which(prog).is_some() {
        true
    } else {
        skip(format_args!(
            "`{prog}` is not installed (scripts/test.sh installs it)"
        ));
        false
    }
}

/// Full path of `prog` on PATH (also /usr/sbin and /sbin, which a non-login PATH may lack).
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(prog))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Decompress a `.bz2` fixture with `bzcat` into a temp file; `None` (with a message) if
/// bzcat is missing.
pub fn bunzip(src: &Path, dir: &Path) -> Option<PathBuf> {
    if !require_tool("bzcat") {
        return None;
    }
    let name = src.file_stem()?.to_owned();
    let dst = dir.join(name);
    let out = Command::new("bzcat")
        .arg(src)
        .output()
        .expect("running bzcat");
    assert!(out.status.success(), "bzcat {} failed", src.display());
    std::fs::write(&dst, out.stdout).expect("writing decompressed fixture");
    Some(dst)
}

/// A free TCP port on 127.0.0.1 (bound then released).
/// A FIFO named `name` in `dir`, for the "refused at once, never a hang" tests.
pub fn mkfifo(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    p
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral loopback port")
}

/// (graph, field) pairs of munin output.
pub fn munin_fields(text: &str, suffix: &str) -> Vec<(String, String)> {
    let mut graph = String::new();
    let mut out = Vec::new();
    for l in text.lines() {
        if let Some(g) = l.strip_prefix("multigraph ") {
            graph = g.to_string();
        } else if let Some((f, _)) = l.split_once(suffix) {
            out.push((graph.clone(), f.to_string()));
        }
    }
    out.sort();
    out
}

/// Start the python3 helper `tests/helpers/NAME` with `args` in its own process group and
/// read the one JSON line it prints once its sockets are set up; dropping the guard kills the
/// helper and everything it started.
pub fn start_py_helper(name: &str, args: &[&str]) -> (Killed, serde_json::Value) {
    use std::io::{BufRead, BufReader};
    let mut child = Killed::spawn(
        Command::new("python3")
            .arg(repo().join("tests/helpers").join(name))
            .args(args)
            .stdout(std::process::Stdio::piped()),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("reading the helper's ready line");
    let info = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
    (child, info)
}

/// A child process (and its whole process group) killed and reaped on drop: the one
/// kill-on-drop guard for servers and helpers the tests start.
pub struct Killed(pub std::process::Child);

impl Killed {
    /// Spawn `cmd` in a new process group, so that dropping the guard also kills what it
    /// started (a shell's children, a server's workers).
    pub fn spawn(cmd: &mut Command) -> Killed {
        use std::os::unix::process::CommandExt as _;
        Killed(
            cmd.process_group(0)
                .spawn()
                .expect("spawning a test process"),
        )
    }

    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        // the group when it has one, else the process alone
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(-pid), nix::sys::signal::SIGKILL)
            .is_err()
        {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Run a command with its address space capped at `bytes` (RLIMIT_AS, set in the child
/// before exec): a program that needs more fails its allocation and aborts, so a test sees a
/// memory bound broken as a failed run. (A child's peak RSS from wait4 would also count the
/// memory of this test process, parallel tests included, shared with the child until exec.)
#[allow(unsafe_code)]
pub fn run_capped_memory(cmd: &mut Command, bytes: u64) -> (i32, String, String) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    run(cmd)
}

/// A loop device over an image file, detached on drop.
pub struct LoopDev(pub String);

impl LoopDev {
    /// `losetup -f --show -P [--sector-size N] IMAGE`; panics with losetup's message.
    pub fn attach(image: &Path, sector_size: Option<u32>) -> LoopDev {
        let mut c = Command::new("losetup");
        c.args(["-f", "--show", "-P"]);
        if let Some(n) = sector_size {
            c.arg(format!("--sector-size={n}"));
        }
        let out = c.arg(image).output().expect("spawning losetup");
        assert!(
            out.status.success(),
            "losetup {}: {}",
            image.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        LoopDev(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn path(&self) -> &str {
        &self.0
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// Poll `ready` every 20 ms until it is true or `limit` passes; true when it became ready.
/// Tests wait for readiness this way instead of sleeping a fixed time.
pub fn wait_until(limit: std::time::Duration, mut ready: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A value in KiB from /proc/PID/status (`VmHWM`, `VmRSS`).
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
