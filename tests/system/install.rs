//! Installing opskit: the README's first command installs it for the user and touches nothing
//! else (recording shims stand in for apt, dpkg and the service managers) and refuses a Rust
//! older than `rust-version`; the Debian package holds what an operator needs, passes lintian
//! at the pedantic level, carries every compiled crate's license, installs, works under munin
//! and Icinga 2, and is removed and purged like a dh_installsystemd package (its maintainer
//! scripts' calls recorded through shims, since PID 1 need not be systemd here); two builds
//! by different users from different checkouts give the same bytes; `--version` names the
//! commit while the man pages do not.
//!
//! No command here sees the user's PATH, MANPATH or HOME: each runs with a cleared
//! environment, the system directories on PATH (after the test's own shims), a temporary
//! HOME, and the toolchain that built these tests (`env!("CARGO")`'s directory).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use crate::util::{self, opskit, repo, run};

/// The PATH every command here gets, after the test's own directories.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `prog` in the system directories (never the user's PATH).
fn system_prog(prog: &str) -> Option<PathBuf> {
    std::env::split_paths(SYSTEM_PATH)
        .map(|d| d.join(prog))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// True when every program is installed; otherwise says which is not (a skip).
fn have(progs: &[&str]) -> bool {
    match progs.iter().find(|p| system_prog(p).is_none()) {
        None => true,
        Some(p) => {
            util::skip(format_args!(
                "`{p}` is not installed (scripts/test.sh installs it)"
            ));
            false
        }
    }
}

/// A command with a cleared environment: `path` (the test's directories) then the system
/// directories, HOME `home`, the C locale.
fn command(prog: impl AsRef<std::ffi::OsStr>, home: &Path, path: &[&Path]) -> Command {
    let mut dirs: Vec<PathBuf> = path.iter().map(|p| p.to_path_buf()).collect();
    dirs.extend(std::env::split_paths(SYSTEM_PATH));
    command_exact(prog, home, &dirs)
}

/// A command with a cleared environment: PATH exactly `dirs`, HOME `home`, the C locale.
fn command_exact(prog: impl AsRef<std::ffi::OsStr>, home: &Path, dirs: &[PathBuf]) -> Command {
    let mut c = Command::new(prog);
    c.env_clear()
        .env("PATH", std::env::join_paths(dirs).unwrap())
        .env("HOME", home)
        .env("LC_ALL", "C");
    c
}

/// A system program with the system PATH only.
fn sys(prog: &str, home: &Path) -> Command {
    command(prog, home, &[])
}

/// The directory of the cargo (and rustc) that built these tests.
fn toolchain_bin() -> PathBuf {
    Path::new(env!("CARGO")).parent().unwrap().to_path_buf()
}

fn host_triple() -> String {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = run(command("rustc", tmp.path(), &[&toolchain_bin()]).arg("-vV"));
    assert_eq!(code, 0, "rustc -vV: {err}");
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// The CARGO_HOME whose crate sources built these tests: the directory above `registry/` in
/// the path cargo reports for a locked dependency (the toolchain's own setting: the builds
/// here must find the same sources offline).
fn cargo_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--locked", "--offline"])
            .args(["--filter-platform", &host_triple()])
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let paths = meta["packages"].as_array().unwrap().iter();
        let manifest = paths
            .filter_map(|p| p["manifest_path"].as_str())
            .find(|p| p.contains("/registry/src/"))
            .expect("a dependency from a registry");
        PathBuf::from(&manifest[..manifest.find("/registry/src/").unwrap()])
    })
}

/// The cargo target directory the tests were built in (`<target>/debug/opskit`): the install
/// reuses its release build; the package builds in `<target>/package` (other RUSTFLAGS).
fn target_dir() -> PathBuf {
    util::bin()
        .ancestors()
        .nth(2)
        .expect("target dir")
        .to_path_buf()
}

fn write_exec(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A shim that appends `name args...` to `log` and exits 0 (after `extra`, shell code).
fn recorder(dir: &Path, name: &str, log: &Path, extra: &str) {
    write_exec(
        &dir.join(name),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{}'\n{extra}exit 0\n",
            log.display()
        ),
    );
}

fn read_calls(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// The system directories as one directory of links, without the programs `hide`.
fn farm_without(farm: &Path, hide: &[&str]) -> PathBuf {
    fs::create_dir_all(farm).unwrap();
    for dir in std::env::split_paths(SYSTEM_PATH) {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name();
            if hide.iter().any(|h| name == *h) || farm.join(&name).symlink_metadata().is_ok() {
                continue;
            }
            let _ = symlink(e.path(), farm.join(&name));
        }
    }
    farm.to_path_buf()
}

// ---------------------------------------------------------------------------------------
// scripts/install.sh, as the README's first command

/// The commands of the README's first ```sh block, comments stripped.
fn readme_commands() -> Vec<String> {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let block = readme
        .split("```sh\n")
        .nth(1)
        .expect("README.md has a ```sh block");
    let block = block.split("```").next().unwrap();
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn readme_starts_with_the_install_and_the_test_command_ci_runs() {
    let cmds = readme_commands();
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert!(cmds[0].starts_with("bash scripts/install.sh"), "{cmds:?}");
    assert_eq!(cmds[1], "bash scripts/test.sh");
    let ci = fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(ci.contains("exec bash scripts/test.sh"), "{ci}");
}

/// Programs that install packages or touch services, replaced by shims that log their
/// arguments (`sudo` too: a shim does not run what it is given, it only records it).
const SHIMMED: &[&str] = &[
    "apt-get",
    "apt",
    "aptitude",
    "dpkg",
    "systemctl",
    "service",
    "invoke-rc.d",
    "sudo",
];

/// What the install may ask apt for: a C compiler and the C library headers.
const BUILD_PREREQUISITES: &[&str] = &["gcc", "libc6-dev", "build-essential", "clang", "cc"];

/// A temporary HOME and cargo install root, and a PATH of: recording shims for the package
/// and service managers, the install root's bin, the toolchain, the system directories (as a
/// farm without `cc` with `hide_cc`; the apt-get shim then links a `cc` beside itself on
/// `install`, as installing gcc would).
struct Sandbox {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    root: PathBuf,
    shims: PathBuf,
    log: PathBuf,
    path: OsString,
}

impl Sandbox {
    fn new(hide_cc: bool) -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let (home, root, shims, log) = (
            t.join("home"),
            t.join("cargo-root"),
            t.join("shims"),
            t.join("calls.log"),
        );
        fs::create_dir_all(&home).unwrap();
        fs::write(&log, "").unwrap();
        let cc = system_prog("cc");
        for name in SHIMMED {
            let extra = match (&cc, *name, hide_cc) {
                (Some(cc), "apt-get", true) => format!(
                    "case \" $* \" in *' install '*) ln -sf '{}' '{}';; esac\n",
                    cc.display(),
                    shims.join("cc").display()
                ),
                _ => String::new(),
            };
            recorder(&shims, name, &log, &extra);
        }
        let mut dirs = vec![shims.clone(), root.join("bin"), toolchain_bin()];
        if hide_cc {
            dirs.push(farm_without(&t.join("system"), &["cc"]));
        } else {
            dirs.extend(std::env::split_paths(SYSTEM_PATH));
        }
        let path = std::env::join_paths(dirs).unwrap();
        Sandbox {
            _tmp: tmp,
            home,
            root,
            shims,
            log,
            path,
        }
    }

    /// `bash -c cmd` in the checkout, in the sandbox.
    fn bash(&self, cmd: &str) -> Command {
        let mut c = Command::new("/bin/bash");
        c.arg("-c")
            .arg(cmd)
            .current_dir(repo())
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env("LC_ALL", "C")
            // the crate sources stay where they are (offline); only the install moves
            .env("CARGO_HOME", cargo_home())
            .env("CARGO_NET_OFFLINE", "true")
            .env("CARGO_INSTALL_ROOT", &self.root)
            .env("CARGO_TARGET_DIR", target_dir());
        c
    }

    fn calls(&self) -> Vec<String> {
        read_calls(&self.log)
    }

    /// Runs `cmd`; fails on any forbidden call; returns stdout, stderr and the calls made.
    fn run_allowed(&self, cmd: &str) -> (String, String, Vec<String>) {
        let (code, out, err) = run(&mut self.bash(cmd));
        let calls = self.calls();
        let bad: Vec<String> = calls.iter().filter_map(|c| forbidden(c)).collect();
        assert!(bad.is_empty(), "`{cmd}` did what it must not: {bad:#?}");
        assert_eq!(code, 0, "`{cmd}` failed:\n{out}\n{err}");
        (out, err, calls)
    }
}

/// Why one recorded call is not allowed, if it is not.
fn forbidden(call: &str) -> Option<String> {
    let mut words: Vec<&str> = call.split_whitespace().collect();
    // `sudo [env VAR=...] cmd ...` is judged as `cmd ...`
    while let Some(w) = words.first() {
        if *w == "sudo" || *w == "env" || w.contains('=') || (w.starts_with('-') && *w != "-") {
            words.remove(0);
        } else {
            break;
        }
    }
    let (prog, args) = words.split_first()?;
    match *prog {
        "systemctl" | "service" | "invoke-rc.d" => Some(format!("touches a service: {call}")),
        "apt-get" | "apt" | "aptitude" => {
            let mut args = args.iter().filter(|a| !a.starts_with('-'));
            match args.next() {
                None | Some(&"update") => None,
                Some(&"install") => args
                    .find(|p| !BUILD_PREREQUISITES.contains(p))
                    .map(|p| format!("installs {p}, not a build prerequisite: {call}")),
                Some(other) => Some(format!("runs apt {other}: {call}")),
            }
        }
        "dpkg" => args
            .iter()
            .find(|a| {
                matches!(
                    **a,
                    "-i" | "--install" | "--unpack" | "--configure" | "-r" | "--remove" | "-P"
                ) || a.starts_with("--purge")
            })
            .map(|_| format!("changes packages: {call}")),
        _ => None,
    }
}

#[test]
fn recorded_calls_are_judged() {
    assert_eq!(forbidden("apt-get update -qq"), None);
    assert_eq!(
        forbidden("env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev"),
        None
    );
    for bad in [
        "apt-get install -y gcc bind9",
        "sudo apt-get install munin-node",
        "systemctl stop named",
        "sudo -n service munin-node restart",
        "invoke-rc.d bind9 stop",
        "apt-get remove gcc",
        "dpkg -i x.deb",
    ] {
        assert!(forbidden(bad).is_some(), "{bad}");
    }
}

/// The README's first command, run as an operator would, with every package manager and
/// service manager replaced by a recording shim and HOME and the cargo install root in a
/// temporary directory: it must install opskit (binary, man pages, completions) for the user,
/// show itop working, and neither install a server nor call a service manager.
#[test]
fn readme_install_command_installs_for_the_user_and_touches_nothing_else() {
    if !util::require_root("running the README's install command with shimmed apt/systemctl")
        || !have(&["man", "cc"])
    {
        return;
    }
    let cmd = readme_commands().remove(0);
    let sb = Sandbox::new(false);
    let (out, err, calls) = sb.run_allowed(&cmd);
    // a C compiler is here: nothing to install at all
    assert!(!calls.iter().any(|c| c.contains("install")), "{calls:?}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("  interrupts  interval "))
            .count(),
        3,
        "three itop samples expected:\n{out}"
    );
    let (root, home) = (&sb.root, &sb.home);
    for f in [
        root.join("bin/opskit"),
        root.join("share/man/man1/opskit-itop.1"),
        root.join("share/man/man1/opskit.1"),
        home.join(".local/share/bash-completion/completions/opskit"),
    ] {
        assert!(f.is_file(), "{} not installed:\n{err}", f.display());
    }
    // man finds the pages through PATH alone (man-db maps <dir>/bin to <dir>/share/man)
    let mut man = Command::new("man");
    man.args(["-w", "opskit-itop"])
        .env_clear()
        .env("HOME", home)
        .env("PATH", &sb.path)
        .env("LC_ALL", "C");
    let (code, page, merr) = run(&mut man);
    assert_eq!(code, 0, "{merr}");
    assert_eq!(
        page.trim(),
        root.join("share/man/man1/opskit-itop.1").to_string_lossy(),
        "{page}"
    );
}

/// Without a C compiler on PATH, scripts/install.sh asks apt for one (after one update) and
/// for nothing else, then builds and installs.
#[test]
fn install_script_asks_apt_for_a_c_compiler_only_when_cc_is_missing() {
    if !util::require_root("running scripts/install.sh with shimmed apt") || !have(&["cc"]) {
        return;
    }
    let sb = Sandbox::new(true);
    let (_, err, calls) = sb.run_allowed("command -v cc && exit 9; bash scripts/install.sh");
    let installs: Vec<&String> = calls.iter().filter(|c| c.contains(" install ")).collect();
    assert_eq!(installs.len(), 1, "{calls:?}\n{err}");
    assert!(installs[0].ends_with(" gcc libc6-dev"), "{calls:?}");
    assert!(calls[0].starts_with("apt-get update"), "{calls:?}");
    assert!(sb.root.join("bin/opskit").is_file(), "{err}");
}

/// A cargo or rustc older than Cargo.toml's rust-version (Debian 12's cargo is 1.65) stops
/// scripts/install.sh before anything happens, with one line naming both versions; the
/// current toolchain passes (the two tests above).
#[test]
fn install_script_refuses_a_rust_older_than_rust_version() {
    let manifest = fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let need = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("Cargo.toml has rust-version");
    assert_eq!(need, env!("CARGO_PKG_RUST_VERSION"));
    let (major, minor) = need.split_once('.').unwrap();
    let older = format!("{major}.{}.0", minor.parse::<u32>().unwrap() - 1);
    for (tool, version) in [("cargo", "1.65.0"), ("rustc", older.as_str())] {
        let sb = Sandbox::new(false);
        for t in ["cargo", "rustc"] {
            let v = if t == tool { version } else { "1.95.0" };
            write_exec(
                &sb.shims.join(t),
                &format!("#!/bin/sh\necho '{t} {v} (0000000 2026-01-01)'\n"),
            );
        }
        let (code, out, err) = run(&mut sb.bash("bash scripts/install.sh"));
        assert_eq!(code, 1, "{tool} {version} accepted:\n{out}{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{err}");
        for want in [
            format!("needs Rust {need} or newer"),
            format!("is {tool} {version}"),
            "rustup".into(),
        ] {
            assert!(lines[0].contains(&want), "{want:?} missing: {err}");
        }
        assert!(sb.calls().is_empty(), "{:?}", sb.calls());
        assert!(!sb.root.exists(), "something was installed");
    }
}

// ---------------------------------------------------------------------------------------
// The Debian package

/// Every path the package must hold.
const PACKAGE_FILES: &[&str] = &[
    "/usr/bin/opskit",
    "/usr/share/man/man1/opskit.1.gz",
    "/usr/share/man/man1/opskit-itop.1.gz",
    "/usr/share/man/man1/opskit-bindstats.1.gz",
    "/usr/share/man/man1/opskit-ssd-align.1.gz",
    "/usr/share/man/man1/opskit-conn-audit.1.gz",
    "/usr/share/bash-completion/completions/opskit",
    "/usr/share/zsh/vendor-completions/_opskit",
    "/usr/share/fish/vendor_completions.d/opskit.fish",
    "/usr/share/munin/plugins/bind9_opskit",
    "/usr/share/munin/plugins/conn_audit",
    "/usr/share/doc/opskit/copyright",
    "/usr/share/doc/opskit/changelog.Debian.gz",
    "/usr/share/doc/opskit/examples/munin-plugin-conf.d-opskit",
    "/usr/share/doc/opskit/examples/nrpe-opskit.cfg",
    "/usr/share/doc/opskit/examples/nagios-opskit.cfg",
    "/usr/share/doc/opskit/examples/icinga2-opskit.conf",
    "/usr/share/doc/opskit/examples/icinga2-opskit-command.conf",
    "/usr/share/doc/opskit/examples/icinga2-opskit-agent.conf",
    "/usr/share/doc/opskit/examples/prometheus/bind-alerts.yml",
    "/usr/share/doc/opskit/examples/prometheus/bind-alerts.test.yml",
    "/usr/share/doc/opskit/examples/grafana/bind-dashboard.json",
    "/usr/share/lintian/overrides/opskit",
    "/lib/systemd/system/opskit-bindstats-exporter.service",
    "/lib/systemd/system/opskit-conn-audit-textfile.service",
    "/lib/systemd/system/opskit-conn-audit-textfile.timer",
];

/// The units, as the maintainer scripts name them.
const EXPORTER: &str = "opskit-bindstats-exporter.service";
const TIMER: &str = "opskit-conn-audit-textfile.timer";
const TEXTFILE_SERVICE: &str = "opskit-conn-audit-textfile.service";
/// Where `systemctl enable` puts the units' links (their [Install] sections).
const WANTS_LINKS: &[&str] = &[
    "etc/systemd/system/multi-user.target.wants/opskit-bindstats-exporter.service",
    "etc/systemd/system/timers.target.wants/opskit-conn-audit-textfile.timer",
];
/// What the units write: conn-audit's state and node_exporter's textfile.
const STATE_DIR: &str = "var/lib/opskit";
const TEXTFILE_DIR: &str = "var/lib/prometheus/node-exporter";
const TEXTFILE: &str = "opskit_conn_audit.prom";

/// scripts/package.sh with a cleared environment: the toolchain, the crate sources offline,
/// HOME `home`, target directory `target`.
fn package_command(script: &Path, home: &Path, target: &Path) -> Command {
    let mut c = command("/bin/bash", home, &[&toolchain_bin()]);
    c.arg(script)
        .env("CARGO_HOME", cargo_home())
        .env("CARGO_NET_OFFLINE", "true")
        .env("CARGO_TARGET_DIR", target);
    c
}

/// The .deb scripts/package.sh prints on its last line.
fn deb_of(code: i32, out: &str, err: &str) -> PathBuf {
    assert_eq!(code, 0, "scripts/package.sh failed:\n{err}");
    let deb = PathBuf::from(out.lines().last().unwrap_or_default());
    assert!(
        deb.is_file() && deb.extension().is_some_and(|e| e == "deb"),
        "the last line is not the .deb: {out}"
    );
    deb
}

/// The package built by root from this checkout (once per test run: the install test and
/// the reproducibility test share it), in `<target>/package`.
fn package() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let home = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let (code, out, err) = run(&mut package_command(
            &repo().join("scripts/package.sh"),
            home.path(),
            &target_dir().join("package"),
        ));
        eprintln!(
            "package.sh (root, {}): {:.0?}",
            repo().display(),
            started.elapsed()
        );
        deb_of(code, &out, &err)
    })
}

fn package_installed(name: &str, home: &Path) -> bool {
    let (_, out, _) = run(sys("dpkg-query", home).args(["-W", "-f=${Status}", name]));
    out == "install ok installed"
}

fn check_contents_and_metadata(deb: &Path, home: &Path) {
    let (code, list, err) = run(sys("dpkg-deb", home).arg("-c").arg(deb));
    assert_eq!(code, 0, "{err}");
    let paths: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.'))
        .collect();
    for want in PACKAGE_FILES {
        assert!(
            paths.contains(want),
            "{want} missing from the package:\n{list}"
        );
    }
    let (_, fields, _) =
        run(sys("dpkg-deb", home)
            .arg("-f")
            .arg(deb)
            .args(["Version", "Depends", "Description"]));
    let version = format!("Version: {}-1", env!("CARGO_PKG_VERSION"));
    assert!(fields.contains(&version), "{fields}");
    assert!(fields.contains("Depends: libc6 (>= "), "{fields}");
    // the maintainer scripts are the ones in pkg/debian, executable
    let ctl = tempfile::tempdir().unwrap();
    let (code, _, err) = run(sys("dpkg-deb", home).arg("-e").arg(deb).arg(ctl.path()));
    assert_eq!(code, 0, "{err}");
    for script in ["postinst", "prerm", "postrm"] {
        let got = ctl.path().join(script);
        assert_eq!(
            fs::read(&got).unwrap(),
            fs::read(repo().join("pkg/debian").join(script)).unwrap(),
            "{script}"
        );
        assert_eq!(got.metadata().unwrap().permissions().mode() & 0o777, 0o755);
    }
}

/// `sha256sum -c SHA256SUMS` beside the .deb passes, and fails for a changed copy.
fn check_checksums(deb: &Path, home: &Path) {
    let dir = deb.parent().unwrap();
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let name = deb.file_name().unwrap().to_string_lossy();
    assert_eq!(sums.lines().count(), 1, "{sums}");
    assert!(sums.trim_end().ends_with(&format!("  {name}")), "{sums}");
    let (code, out, err) = run(sys("sha256sum", home)
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir));
    assert_eq!((code, out.trim()), (0, &*format!("{name}: OK")), "{err}");
    // the twin: one flipped byte fails the check
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("SHA256SUMS"), &sums).unwrap();
    let mut bytes = fs::read(deb).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(tmp.path().join(&*name), bytes).unwrap();
    let (code, out, _) = run(sys("sha256sum", home)
        .args(["-c", "SHA256SUMS"])
        .current_dir(tmp.path()));
    assert!(code != 0 && out.contains("FAILED"), "{out}");
}

/// lintian --pedantic (info and experimental tags too) shows nothing but overridden tags,
/// and every override in pkg/lintian-overrides follows a comment giving its reason (lintian
/// reports an override that no longer matches as `unused-override`, which would show).
fn check_lintian(deb: &Path, home: &Path) {
    let (code, out, err) = run(sys("lintian", home)
        .args([
            "--pedantic",
            "--display-info",
            "--display-experimental",
            "--show-overrides",
            "--no-tag-display-limit",
        ])
        .arg(deb));
    let shown: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("O: ") && !l.starts_with("N: ") && !l.trim().is_empty())
        .collect();
    assert!(
        code == 0 && shown.is_empty(),
        "lintian shows tags that are not overridden with a reason:\n{out}\n{err}"
    );
    let overrides = fs::read_to_string(repo().join("pkg/lintian-overrides")).unwrap();
    let lines: Vec<&str> = overrides.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("opskit: ") {
            assert!(
                i > 0 && lines[i - 1].starts_with("# "),
                "override without its reason just above: {l}"
            );
        }
    }
    let overridden = out.lines().filter(|l| l.starts_with("O: ")).count();
    let declared = lines.iter().filter(|l| l.starts_with("opskit: ")).count();
    assert_eq!(overridden, declared, "{out}");
}

/// The crates Cargo.lock locks, as "name version".
fn locked_crates() -> BTreeSet<String> {
    let lock = fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    lock.split("[[package]]\n")
        .skip(1)
        .map(|p| {
            let field = |k: &str| {
                p.lines()
                    .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap()
                    .to_string()
            };
            format!("{} {}", field("name"), field("version"))
        })
        .filter(|c| !c.starts_with("opskit "))
        .collect()
}

/// The crates whose sources the binary names (panic locations: /cargo/registry/src/<index>/
/// <name>-<version>/...): code that is certainly linked in, found without cargo.
fn crates_named_in(bin: &Path) -> BTreeSet<String> {
    let bytes = fs::read(bin).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let mut found = BTreeSet::new();
    for part in text.split("/cargo/registry/src/").skip(1) {
        let Some(dir) = part.split('/').nth(1) else {
            continue;
        };
        // name-version: the version starts at the first "-<digit>" followed by a dot
        let split = dir.char_indices().find(|&(i, c)| {
            c == '-'
                && dir[i + 1..].starts_with(|d: char| d.is_ascii_digit())
                && dir[i + 1..].contains('.')
        });
        if let Some((i, _)) = split {
            found.insert(format!("{} {}", &dir[..i], &dir[i + 1..]));
        }
    }
    found
}

/// The copyright file covers every crate in Cargo.lock: a Files paragraph for each crate
/// compiled in (every crate whose source the binary names among them), the others listed as
/// not compiled; each License short name has its paragraph; X-Cargo-Built-Using names the
/// compiled crates. The binary names no build path (checkout, CARGO_HOME, target).
fn check_copyright_and_paths(deb: &Path, home: &Path) {
    let x = tempfile::tempdir().unwrap();
    let (code, _, err) = run(sys("dpkg-deb", home).arg("-x").arg(deb).arg(x.path()));
    assert_eq!(code, 0, "{err}");
    let copyright = fs::read_to_string(x.path().join("usr/share/doc/opskit/copyright")).unwrap();
    let paras: Vec<&str> = copyright.split("\n\n").collect();
    assert!(paras[0]
        .starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"));
    let mut compiled = BTreeSet::new();
    let mut short_names = BTreeSet::new();
    let mut license_paras = BTreeSet::new();
    for p in &paras {
        let field = |k: &str| p.lines().find_map(|l| l.strip_prefix(&format!("{k}: ")));
        if let Some(files) = field("Files") {
            let lic = field("License").unwrap_or_else(|| panic!("no License:\n{p}"));
            assert!(
                field("Copyright").is_some_and(|c| !c.trim().is_empty()),
                "{p}"
            );
            for alt in lic.replace(", and ", " and ").split(" or ") {
                short_names.extend(alt.split(" and ").map(String::from));
            }
            if files != "*" {
                let c = field("Comment").and_then(|c| c.strip_prefix("crate "));
                let c = c.and_then(|c| c.strip_suffix(" from crates.io")).unwrap();
                let (name, version) = c.split_once(' ').unwrap();
                assert_eq!(files, format!("cargo-registry/{name}-{version}/*"));
                compiled.insert(c.to_string());
            }
        } else if let Some(name) = field("License") {
            assert!(
                p.lines().count() > 1,
                "a License paragraph without text: {p}"
            );
            license_paras.insert(name.to_string());
        }
    }
    let missing: Vec<&String> = short_names.difference(&license_paras).collect();
    assert!(missing.is_empty(), "no License paragraph for {missing:?}");
    let not_compiled: BTreeSet<String> = paras[0]
        .lines()
        .skip_while(|l| !l.contains("not compiled into this package"))
        .filter_map(|l| l.strip_prefix(' '))
        .filter(|l| l.split(' ').count() == 2 && !l.contains(':'))
        .map(String::from)
        .collect();
    let locked = locked_crates();
    for c in &locked {
        assert!(
            compiled.contains(c) != not_compiled.contains(c),
            "{c} is not covered (or covered twice) by the copyright file"
        );
    }
    assert!(compiled.is_subset(&locked) && not_compiled.is_subset(&locked));
    let bin = x.path().join("usr/bin/opskit");
    let named = crates_named_in(&bin);
    assert!(named.len() > 20, "{named:?}");
    let absent: Vec<&String> = named.difference(&compiled).collect();
    assert!(
        absent.is_empty(),
        "linked in but not in the copyright file: {absent:?}"
    );

    let (_, bu, _) = run(sys("dpkg-deb", home)
        .arg("-f")
        .arg(deb)
        .arg("X-Cargo-Built-Using"));
    let bu: BTreeSet<String> = bu
        .trim()
        .split(", ")
        .map(|s| s.trim().to_string())
        .collect();
    let want: BTreeSet<String> = compiled
        .iter()
        .map(|c| {
            let (n, v) = c.split_once(' ').unwrap();
            format!("rust-{} (= {v})", n.to_lowercase().replace('_', "-"))
        })
        .collect();
    assert_eq!(bu, want);

    let bytes = fs::read(&bin).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for path in [repo(), cargo_home().to_path_buf(), target_dir()] {
        let p = format!("{}/", path.display());
        assert!(!text.contains(&p), "the binary names the build path {p}");
    }
    assert!(
        text.contains("/cargo/registry/src/"),
        "no remapped source path at all?"
    );
}

/// munin-node-configure offers both plugins, answering autoconf without errors.
fn check_munin(home: &Path) {
    // its exit status is 1 whenever any plugin (postfix_mailqueue, ...) reports an error
    let (_, out, err) = run(sys("munin-node-configure", home).arg("--suggest"));
    assert!(out.starts_with("Plugin "), "{out}\n{err}");
    for plugin in ["bind9_opskit", "conn_audit"] {
        let row = out
            .lines()
            .find(|l| l.split('|').next().map(str::trim) == Some(plugin))
            .unwrap_or_else(|| panic!("{plugin} not offered:\n{out}"));
        let answer = row.rsplit('|').next().unwrap().trim();
        assert!(
            answer == "yes" || answer.starts_with("no ["),
            "{plugin}: {row}"
        );
        assert!(!answer.contains("[[["), "{plugin} has errors:\n{out}");
        assert!(
            !out.contains(&format!("# {plugin}:")),
            "{plugin} has errors:\n{out}"
        );
    }
    // netlink needs no privileges: conn-audit can always run here
    assert!(
        out.lines()
            .any(|l| l.starts_with("conn_audit ") && l.trim_end().ends_with("yes")),
        "{out}"
    );
    // munin-run as munin-node would run them, with the example plugin-conf.d: the wrappers
    // keep the link name as argv[0], which picks the tool (and, for conn_audit, the format)
    let dir = tempfile::tempdir().unwrap();
    for plugin in ["bind9_opskit", "conn_audit"] {
        let link = dir.path().join(plugin);
        symlink(format!("/usr/share/munin/plugins/{plugin}"), &link).unwrap();
    }
    for (plugin, verb, want) in [
        ("conn_audit", "config", "graph_title"),
        ("conn_audit", "", ".value "),
        ("bind9_opskit", "config", "multigraph"),
    ] {
        let (code, out, err) = run(sys("munin-run", home)
            .arg("--servicedir")
            .arg(dir.path())
            .args([
                "--sconffile",
                "/usr/share/doc/opskit/examples/munin-plugin-conf.d-opskit",
            ])
            .arg(plugin)
            .args((!verb.is_empty()).then_some(verb)));
        assert!(
            code == 0 && out.contains(want),
            "munin-run {plugin} {verb}:\n{out}\n{err}"
        );
    }
}

/// The NRPE and Nagios example commands run as written (Nagios macros filled in): each
/// prints a conn-audit status line and exits with a Nagios state.
fn check_nagios_examples(home: &Path) {
    let ex = Path::new("/usr/share/doc/opskit/examples");
    let nrpe = fs::read_to_string(ex.join("nrpe-opskit.cfg")).unwrap();
    let nagios = fs::read_to_string(ex.join("nagios-opskit.cfg")).unwrap();
    let mut cmds: Vec<String> = nrpe
        .lines()
        .filter_map(|l| {
            l.strip_prefix("command[")?
                .split_once("]=")
                .map(|(_, c)| c.into())
        })
        .collect();
    cmds.extend(nagios.lines().filter_map(|l| {
        let c = l.trim().strip_prefix("command_line")?.trim();
        c.starts_with("/usr/bin/opskit").then(|| {
            c.replace("$ARG1$", "5m")
                .replace("$ARG2$", "10")
                .replace("$ARG3$", "50")
        })
    }));
    assert!(cmds.len() >= 3, "{cmds:?}");
    for c in cmds {
        let (code, out, err) = run(sys("/bin/sh", home).args(["-c", &c]));
        assert!(
            (0..=2).contains(&code) && out.starts_with("CONN-AUDIT "),
            "{c}: exit {code}\n{out}{err}"
        );
    }
}

/// The textfile service's command line, `$$` unescaped.
fn unit_exec_start(unit: &str) -> String {
    let text = fs::read_to_string(Path::new("/lib/systemd/system").join(unit)).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("ExecStart="));
    line.expect("ExecStart=").replace("$$", "$")
}

/// The shell script of the textfile service (`/bin/sh -c '...'`).
fn textfile_script() -> String {
    unit_exec_start(TEXTFILE_SERVICE)
        .strip_prefix("/bin/sh -c '")
        .and_then(|s| s.strip_suffix('\''))
        .expect("ExecStart=/bin/sh -c '...'")
        .to_string()
}

/// The units pass systemd-analyze verify; the textfile service's command, run with its
/// directories moved to `dir`, writes the Prometheus file; the exporter's command line is
/// one bindstats accepts.
fn check_units(dir: &Path, home: &Path) {
    if system_prog("systemd-analyze").is_some() {
        for u in [EXPORTER, TEXTFILE_SERVICE, TIMER] {
            let (code, out, err) = run(sys("systemd-analyze", home)
                .args(["verify", "--man=no"])
                .arg(Path::new("/lib/systemd/system").join(u)));
            assert!(code == 0 && err.is_empty(), "{u}: {out}{err}");
        }
    }
    let script = textfile_script()
        .replace("/var/lib/prometheus/node-exporter", &dir.to_string_lossy())
        .replace("/var/lib/opskit", &dir.to_string_lossy());
    let (code, _, err) = run(sys("/bin/sh", home).args(["-c", &script]));
    assert_eq!(code, 0, "{script}: {err}");
    let prom = fs::read_to_string(dir.join(TEXTFILE)).unwrap();
    assert!(prom.contains("# TYPE opskit_conn_audit"), "{prom}");
    assert!(!dir.join(format!("{TEXTFILE}.tmp")).exists());

    let exporter = unit_exec_start(EXPORTER);
    let mut args = exporter.split_whitespace();
    assert_eq!(args.next(), Some("/usr/bin/opskit"));
    // clap rejects an unknown flag before it reaches --help
    let (code, _, err) = run(sys("/usr/bin/opskit", home).args(args).arg("--help"));
    assert_eq!(code, 0, "{exporter}: {err}");
}

/// `prog args` in a private mount namespace in which /run/systemd is a fresh tmpfs holding
/// `system/` when `systemd` (what maintainer scripts test to see systemd running) and nothing
/// otherwise; PATH is exactly `path`.
fn in_systemd_ns(
    systemd: bool,
    home: &Path,
    path: &[PathBuf],
    prog: &str,
    args: &[&OsString],
) -> Command {
    const SETUP: &str = "if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; \
        else mount -t tmpfs tmpfs /run; fi || exit 97; \
        if [ \"$1\" = yes ]; then mkdir -p /run/systemd/system; fi; shift; exec \"$@\"";
    let mut c = command_exact(system_prog("unshare").unwrap(), home, path);
    c.args([
        "--mount",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        SETUP,
        "sh",
    ])
    .arg(if systemd { "yes" } else { "no" })
    .arg(prog)
    .args(args);
    c
}

/// Links named opskit-* under /etc/systemd/system, and deb-systemd-helper's records of them.
fn opskit_unit_traces(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![
        root.join("etc/systemd/system"),
        root.join("var/lib/systemd/deb-systemd-helper-enabled"),
        root.join("var/lib/systemd/deb-systemd-helper-masked"),
    ];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                todo.push(e.path());
            } else if e.file_name().to_string_lossy().contains("opskit-") {
                found.push(e.path());
            }
        }
    }
    found.sort();
    found
}

/// Purges the package when the test ends, passed or not, and removes the directories the
/// test made for the textfile.
struct Cleanup {
    made: Vec<PathBuf>,
    home: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = sys("dpkg", &self.home).args(["--purge", "opskit"]).output();
        for d in self.made.iter().rev() {
            // only when empty: another package may have filled it meanwhile
            let _ = fs::remove_dir(d);
        }
    }
}

/// scripts/package.sh builds the package; it holds every path, carries its checksums and
/// licenses, passes lintian, installs (its postinst recording the units with
/// deb-systemd-helper), works (man, munin, NRPE, itop, units); after `systemctl enable` of
/// both units and a textfile run, removal stops the units (deb-systemd-invoke, recorded by a
/// shim where /run/systemd/system exists) and keeps the data; purge leaves no link, no
/// deb-systemd-helper record, no /var/lib/opskit and no textfile.
#[test]
fn debian_package_installs_works_removes_and_purges() {
    if !util::require_root("installing the Debian package") {
        return;
    }
    if !have(&[
        "dpkg-deb",
        "dpkg-shlibdeps",
        "objcopy",
        "lintian",
        "munin-node-configure",
        "munin-run",
        "man",
        "systemctl",
        "deb-systemd-helper",
        "unshare",
        "sha256sum",
    ]) {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let ci = std::env::var_os("CI").is_some_and(|v| v == "true");
    if package_installed("opskit", home) && !ci {
        util::skip_expected("an opskit package is installed on this machine: not replacing it");
        return;
    }
    let deb = package();
    let size = fs::metadata(deb).unwrap().len();
    eprintln!("{}: {size} bytes", deb.display());
    check_contents_and_metadata(deb, home);
    check_checksums(deb, home);
    check_copyright_and_paths(deb, home);
    check_lintian(deb, home);

    let root = Path::new("/");
    let textfile_dir = root.join(TEXTFILE_DIR);
    let mut made = Vec::new();
    for d in [root.join("var/lib/prometheus"), textfile_dir.clone()] {
        if !d.exists() {
            made.push(d);
        }
    }
    let cleanup = Cleanup {
        made,
        home: home.to_path_buf(),
    };
    assert!(
        opskit_unit_traces(root).is_empty(),
        "leftovers before the test: {:?}",
        opskit_unit_traces(root)
    );

    // dpkg as where systemd runs: systemctl and deb-systemd-invoke are recording shims
    let tmp = tempfile::tempdir().unwrap();
    let (shims, log) = (tmp.path().join("shims"), tmp.path().join("calls.log"));
    recorder(&shims, "systemctl", &log, "");
    recorder(&shims, "deb-systemd-invoke", &log, "");
    let dpkg = |args: &[&str]| {
        let _ = fs::remove_file(&log);
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let args: Vec<&OsString> = args.iter().collect();
        let mut path = vec![shims.clone()];
        path.extend(std::env::split_paths(SYSTEM_PATH));
        let (code, out, err) = run(&mut in_systemd_ns(true, home, &path, "dpkg", &args));
        assert_eq!(code, 0, "dpkg {args:?}:\n{out}\n{err}");
        read_calls(&log)
    };
    let invoked = |calls: &[String]| -> Vec<String> {
        let other: Vec<&String> = calls
            .iter()
            .filter(|c| c.starts_with("systemctl ") && !c.ends_with("daemon-reload"))
            .collect();
        assert!(other.is_empty(), "systemctl called directly: {other:?}");
        calls
            .iter()
            .filter(|c| c.starts_with("deb-systemd-invoke "))
            .cloned()
            .collect()
    };

    let calls = dpkg(&["-i", &deb.to_string_lossy()]);
    // deb-systemd-invoke starts only enabled units: on a first install, none
    assert_eq!(
        invoked(&calls),
        [format!("deb-systemd-invoke start {EXPORTER} {TIMER}")]
    );
    assert!(
        calls.contains(&"systemctl --system daemon-reload".to_string()),
        "{calls:?}"
    );
    for p in PACKAGE_FILES {
        assert!(Path::new(p).exists(), "{p} not installed");
    }

    // man finds the package's page (not one a user install put under some ~/.cargo)
    let (code, page, err) = run(sys("man", home).args(["-w", "opskit-itop"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(page.trim(), "/usr/share/man/man1/opskit-itop.1.gz");
    check_munin(home);
    check_nagios_examples(home);
    let (code, out, err) = run(sys("/usr/bin/opskit", home).args(["itop", "-b", "-n", "1"]));
    assert!(code == 0 && out.contains("IRQ"), "{out}\n{err}");
    let (_, version, _) = run(sys("/usr/bin/opskit", home).arg("--version"));
    let want = format!("opskit {}", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&want), "{version}");
    let units_tmp = tempfile::tempdir().unwrap();
    check_units(units_tmp.path(), home);

    // the admin enables both units (systemctl itself; offline when PID 1 is not systemd)
    // and the timer's service runs once, writing the state and the textfile for real
    let (code, out, err) = run(sys("systemctl", home).args(["enable", EXPORTER, TIMER]));
    assert_eq!(code, 0, "systemctl enable:\n{out}\n{err}");
    for l in WANTS_LINKS {
        assert!(
            root.join(l).symlink_metadata().is_ok(),
            "{l} not made by systemctl enable"
        );
    }
    fs::create_dir_all(root.join(STATE_DIR)).unwrap(); // systemd's StateDirectory=opskit
    fs::create_dir_all(&textfile_dir).unwrap();
    let (code, _, err) = run(sys("/bin/sh", home).args(["-c", &textfile_script()]));
    assert_eq!(code, 0, "the textfile service's command: {err}");
    let textfile = textfile_dir.join(TEXTFILE);
    assert!(textfile.is_file() && root.join(STATE_DIR).join("conn-audit.json").is_file());
    // node_exporter's other textfiles are not opskit's to remove
    let other = textfile_dir.join("opskit-test-other.prom");
    fs::write(&other, "# another collector's file\n").unwrap();

    // removal stops the units and reloads systemd; links, state and textfile stay
    let calls = dpkg(&["--remove", "opskit"]);
    assert_eq!(
        invoked(&calls),
        [format!(
            "deb-systemd-invoke stop {EXPORTER} {TIMER} {TEXTFILE_SERVICE}"
        )]
    );
    assert!(
        calls.contains(&"systemctl --system daemon-reload".to_string()),
        "{calls:?}"
    );
    assert!(!Path::new("/usr/bin/opskit").exists());
    for l in WANTS_LINKS {
        assert!(
            root.join(l).symlink_metadata().is_ok(),
            "remove (not purge) took {l}"
        );
    }
    assert!(root.join(STATE_DIR).is_dir() && textfile.is_file());

    // purge: nothing of opskit is left, and nothing else is taken
    let calls = dpkg(&["--purge", "opskit"]);
    assert_eq!(invoked(&calls), Vec::<String>::new());
    let traces = opskit_unit_traces(root);
    assert!(traces.is_empty(), "purge left {traces:?}");
    assert!(!root.join(STATE_DIR).exists(), "purge left /{STATE_DIR}");
    assert!(!textfile.exists(), "purge left {}", textfile.display());
    assert!(!textfile_dir.join(format!("{TEXTFILE}.tmp")).exists());
    assert!(
        other.is_file(),
        "purge removed another collector's textfile"
    );
    fs::remove_file(&other).unwrap();
    for p in PACKAGE_FILES {
        assert!(!Path::new(p).exists(), "{p} left behind");
    }
    assert!(!Path::new("/usr/share/doc/opskit").exists());
    drop(cleanup);
}

/// The maintainer scripts call deb-systemd-helper, systemctl and deb-systemd-invoke as
/// dh_installsystemd's do (all three recording shims here): record the units on configure,
/// start (first install) or restart (upgrade) them only where systemd runs, stop them on
/// removal (not on upgrade), reload systemd after removal; without deb-systemd-invoke the
/// prerm stops the units through systemctl.
#[test]
fn maintainer_scripts_call_systemd_like_dh_installsystemd() {
    if !util::require_root("a mount namespace with /run/systemd/system") || !have(&["unshare"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (shims, log) = (t.join("shims"), t.join("calls.log"));
    // a first install: deb-systemd-helper knows neither unit
    recorder(
        &shims,
        "deb-systemd-helper",
        &log,
        "case \"$1 $2\" in debian-installed*|'--quiet was-enabled') exit 1;; esac\n",
    );
    recorder(&shims, "deb-systemd-invoke", &log, "");
    recorder(&shims, "systemctl", &log, "");
    let system = farm_without(
        &t.join("system"),
        &["deb-systemd-helper", "deb-systemd-invoke", "systemctl"],
    );
    let no_invoke = t.join("no-invoke");
    fs::create_dir_all(&no_invoke).unwrap();
    for s in ["deb-systemd-helper", "systemctl"] {
        symlink(shims.join(s), no_invoke.join(s)).unwrap();
    }
    let script = |name: &str| repo().join("pkg/debian").join(name);
    let call = |systemd: bool, shim_dir: &Path, name: &str, args: &[&str]| {
        let _ = fs::remove_file(&log);
        let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        argv.insert(0, script(name).into_os_string());
        let argv: Vec<&OsString> = argv.iter().collect();
        let mut c = in_systemd_ns(
            systemd,
            t,
            &[shim_dir.to_path_buf(), system.clone()],
            "/bin/sh",
            &argv,
        );
        // as dpkg runs them
        c.env("DPKG_MAINTSCRIPT_PACKAGE", "opskit")
            .env("DPKG_MAINTSCRIPT_NAME", name);
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{name} {args:?}:\n{out}{err}");
        read_calls(&log)
    };
    let record = [
        format!("deb-systemd-helper debian-installed {EXPORTER}"),
        format!("deb-systemd-helper update-state {EXPORTER}"),
        format!("deb-systemd-helper debian-installed {TIMER}"),
        format!("deb-systemd-helper update-state {TIMER}"),
    ];
    let reload = "systemctl --system daemon-reload".to_string();
    let with = |extra: &[String]| -> Vec<String> { record.iter().chain(extra).cloned().collect() };

    assert_eq!(
        call(true, &shims, "postinst", &["configure", ""]),
        with(&[
            reload.clone(),
            format!("deb-systemd-invoke start {EXPORTER} {TIMER}")
        ])
    );
    assert_eq!(
        call(true, &shims, "postinst", &["configure", "0.1.0-1"]),
        with(&[
            reload.clone(),
            format!("deb-systemd-invoke restart {EXPORTER} {TIMER}")
        ])
    );
    // where systemd does not run, only the records
    assert_eq!(
        call(false, &shims, "postinst", &["configure", "0.1.0-1"]),
        with(&[])
    );

    let stop_all = format!("{EXPORTER} {TIMER} {TEXTFILE_SERVICE}");
    assert_eq!(
        call(true, &shims, "prerm", &["remove"]),
        [format!("deb-systemd-invoke stop {stop_all}")]
    );
    assert_eq!(
        call(true, &shims, "prerm", &["upgrade", "0.1.0-2"]),
        Vec::<String>::new()
    );
    assert_eq!(
        call(false, &shims, "prerm", &["remove"]),
        Vec::<String>::new()
    );
    assert_eq!(
        call(true, &no_invoke, "prerm", &["remove"]),
        [format!("systemctl stop {stop_all}")]
    );
    assert_eq!(call(true, &shims, "postrm", &["remove"]), [reload]);
    assert_eq!(
        call(false, &shims, "postrm", &["remove"]),
        Vec::<String>::new()
    );
    assert_eq!(
        call(true, &shims, "postrm", &["upgrade", "0.1.0-2"]),
        Vec::<String>::new()
    );
}

/// The postrm's purge under DPKG_ROOT (a directory standing for the root file system): with
/// the real deb-systemd-helper (after the real postinst recorded the units and the real
/// `systemctl --root` enabled them) and without it (its fallback), it removes the units'
/// links, conn-audit's state and the textfile, and nothing else: another unit's link and
/// another collector's textfile stay.
#[test]
fn postrm_purge_removes_links_state_and_textfile_only() {
    if !have(&["deb-systemd-helper", "systemctl"]) {
        return;
    }
    for with_helper in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let (r, home) = (tmp.path().join("root"), tmp.path().join("home"));
        fs::create_dir_all(&home).unwrap();
        let units = r.join("lib/systemd/system");
        fs::create_dir_all(&units).unwrap();
        for u in [EXPORTER, TEXTFILE_SERVICE, TIMER] {
            fs::copy(repo().join("pkg/systemd").join(u), units.join(u)).unwrap();
        }
        let path: Vec<PathBuf> = if with_helper {
            std::env::split_paths(SYSTEM_PATH).collect()
        } else {
            vec![farm_without(
                &tmp.path().join("system"),
                &["deb-systemd-helper"],
            )]
        };
        let script = |name: &str, arg: &str| {
            let mut c = command_exact("/bin/sh", &home, &path);
            // as dpkg runs them, for a root file system at DPKG_ROOT
            c.arg(repo().join("pkg/debian").join(name))
                .arg(arg)
                .env("DPKG_ROOT", &r)
                .env("DPKG_MAINTSCRIPT_PACKAGE", "opskit")
                .env("DPKG_MAINTSCRIPT_NAME", name);
            let (code, out, err) = run(&mut c);
            assert_eq!(code, 0, "{name} {arg}:\n{out}{err}");
        };
        script("postinst", "configure");
        let (code, out, err) = run(sys("systemctl", &home)
            .arg(format!("--root={}", r.display()))
            .args(["enable", EXPORTER, TIMER]));
        assert_eq!(code, 0, "systemctl --root enable:\n{out}{err}");
        for l in WANTS_LINKS {
            assert!(r.join(l).symlink_metadata().is_ok(), "{l} not made");
        }
        if with_helper {
            let state = r.join("var/lib/systemd/deb-systemd-helper-enabled");
            assert!(
                state.join(format!("{EXPORTER}.dsh-also")).is_file(),
                "postinst recorded nothing"
            );
        }
        let other_link = r.join("etc/systemd/system/multi-user.target.wants/other.service");
        symlink("/lib/systemd/system/other.service", &other_link).unwrap();
        let state_dir = r.join(STATE_DIR);
        fs::create_dir_all(&state_dir).unwrap();
        fs::write(state_dir.join("conn-audit.json"), "{}").unwrap();
        let tf = r.join(TEXTFILE_DIR);
        fs::create_dir_all(&tf).unwrap();
        for f in [TEXTFILE, &format!("{TEXTFILE}.tmp"), "other.prom"] {
            fs::write(tf.join(f), "x 1\n").unwrap();
        }

        script("postrm", "remove");
        assert!(
            state_dir.is_dir() && tf.join(TEXTFILE).is_file(),
            "remove took the data"
        );
        script("postrm", "purge");
        let traces: Vec<PathBuf> = opskit_unit_traces(&r)
            .into_iter()
            .filter(|p| with_helper || !p.starts_with(r.join("var/lib/systemd")))
            .collect();
        assert!(
            traces.is_empty(),
            "with_helper={with_helper}: purge left {traces:?}"
        );
        assert!(!state_dir.exists() && !tf.join(TEXTFILE).exists());
        assert!(!tf.join(format!("{TEXTFILE}.tmp")).exists());
        assert!(tf.join("other.prom").is_file() && other_link.symlink_metadata().is_ok());
        for u in [EXPORTER, TEXTFILE_SERVICE, TIMER] {
            assert!(
                units.join(u).is_file(),
                "purge took the unit file {u} (dpkg's job)"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reproducibility

/// Removes the throwaway build user when the test ends.
struct User {
    name: String,
    home: PathBuf,
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = sys("userdel", &self.home).arg(&self.name).output();
    }
}

/// A copy of this checkout at `dest`: a clone of its commit (so `git` in build.rs and the
/// package date see the same commit) with the working tree's files over it (so uncommitted
/// changes are built too).
fn copy_checkout(dest: &Path, home: &Path) {
    let git = |dir: &Path, args: &[&str]| {
        let (code, out, err) = run(sys("git", home).arg("-C").arg(dir).args(args));
        assert_eq!(code, 0, "git {args:?}: {err}");
        out
    };
    let head = git(&repo(), &["rev-parse", "HEAD"]);
    let (code, _, err) = run(sys("git", home)
        .args(["clone", "--quiet", "--no-checkout", "--no-hardlinks"])
        .arg(repo())
        .arg(dest));
    assert_eq!(code, 0, "git clone: {err}");
    git(dest, &["checkout", "--quiet", "--detach", head.trim()]);
    let files = git(
        &repo(),
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    );
    for f in files.split('\0').filter(|f| !f.is_empty()) {
        let (src, dst) = (repo().join(f), dest.join(f));
        match src.symlink_metadata() {
            Ok(m) if m.is_file() => {
                fs::create_dir_all(dst.parent().unwrap()).unwrap();
                fs::copy(&src, &dst).unwrap();
            }
            Ok(_) => {}
            Err(_) => {
                let _ = fs::remove_file(&dst); // deleted in the working tree
            }
        }
    }
}

/// Two builds of the package give the same bytes: root's from this checkout (CARGO_HOME,
/// target under it) and a throwaway user's from a copy under /tmp, with its own HOME,
/// CARGO_HOME (the crate sources bound read-only into it) and target directory, and the
/// toolchain bound read-only at another path.
#[test]
fn package_is_reproducible_across_users_and_checkouts() {
    if !util::require_root("building as a throwaway user")
        || !have(&[
            "useradd", "userdel", "unshare", "setpriv", "git", "mount", "dpkg-deb",
        ])
    {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("opskit-repro.")
        .tempdir_in("/tmp")
        .unwrap();
    let t = tmp.path();
    fs::set_permissions(t, fs::Permissions::from_mode(0o755)).unwrap();
    let name = format!("opskit-repro-{}", std::process::id());
    let user = User {
        name: name.clone(),
        home: t.join("home"),
    };
    let (code, _, err) = run(sys("useradd", t)
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/bin/sh",
        ])
        .arg("--home-dir")
        .arg(&user.home)
        .arg(&name));
    assert_eq!(code, 0, "useradd: {err}");
    let (src, cargo, toolchain, target) = (
        t.join("checkout/opskit"),
        t.join("cargo"),
        t.join("toolchain"),
        t.join("target"),
    );
    for d in [&user.home, &cargo.join("registry"), &toolchain, &target] {
        fs::create_dir_all(d).unwrap();
    }
    copy_checkout(&src, t);
    let (code, _, err) = run(sys("chown", t)
        .args(["-R", &format!("{name}:{name}")])
        .arg(&user.home)
        .arg(t.join("checkout"))
        .arg(&cargo)
        .arg(&target));
    assert_eq!(code, 0, "chown: {err}");

    // root's build first (shared with the install test), then the user's
    let deb_root = package();
    let toolchain_dir = toolchain_bin().parent().unwrap().to_path_buf();
    let script =
        "mount --bind -o ro \"$1\" \"$2\" && mount --bind -o ro \"$3\" \"$4\" || exit 97; \
        shift 4; exec \"$@\"";
    let mut c = command(
        system_prog("unshare").unwrap(),
        &user.home,
        &[&toolchain.join("bin")],
    );
    c.args([
        "--mount",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        script,
        "sh",
    ])
    .arg(cargo_home().join("registry"))
    .arg(cargo.join("registry"))
    .arg(&toolchain_dir)
    .arg(&toolchain)
    .args([
        "setpriv",
        "--reuid",
        &name,
        "--regid",
        &name,
        "--init-groups",
        "--",
    ])
    .arg("/bin/bash")
    .arg(src.join("scripts/package.sh"))
    .current_dir(t)
    .env("CARGO_HOME", &cargo)
    .env("CARGO_NET_OFFLINE", "true")
    .env("CARGO_TARGET_DIR", &target)
    .env("USER", &name);
    let started = Instant::now();
    let (code, out, err) = run(&mut c);
    eprintln!(
        "package.sh ({name}, {}): {:.0?}",
        src.display(),
        started.elapsed()
    );
    let deb_user = deb_of(code, &out, &err);
    assert!(deb_user.starts_with(&target));

    let (a, b) = (fs::read(deb_root).unwrap(), fs::read(&deb_user).unwrap());
    if a != b {
        // say which files differ
        let x = |deb: &Path, d: &Path| {
            run(sys("dpkg-deb", t).arg("-R").arg(deb).arg(d));
        };
        let (da, db) = (t.join("a"), t.join("b"));
        x(deb_root, &da);
        x(&deb_user, &db);
        let (_, diff, _) = run(sys("diff", t).args(["-rq"]).arg(&da).arg(&db));
        panic!(
            "{} and {} differ ({} and {} bytes):\n{diff}",
            deb_root.display(),
            deb_user.display(),
            a.len(),
            b.len()
        );
    }
    assert_eq!(
        fs::read(deb_root.with_file_name("SHA256SUMS")).unwrap(),
        fs::read(deb_user.with_file_name("SHA256SUMS")).unwrap()
    );
    drop(user);
}

// ---------------------------------------------------------------------------------------
// Icinga 2

/// `icinga2 daemon -C` on the configuration `conf` (zones.d at `zones`) as root, with
/// icinga2's cache, state and log directories private tmpfs; then its object list of
/// Services. Returns (exit code, validation output, object list).
fn icinga2_validate(conf: &Path, zones: &Path, home: &Path) -> (i32, String, String) {
    const SCRIPT: &str =
        "for d in /var/cache/icinga2 /var/lib/icinga2 /var/log/icinga2 /run/icinga2; do \
        if [ -d $d ]; then mount -t tmpfs tmpfs $d || exit 97; fi; done; \
        icinga2 daemon -C -c \"$1\" -DZonesDir=\"$2\" > \"$3\" 2>&1 || exit $?; \
        icinga2 object list --type Service";
    let out_file = home.join("validate.log");
    let mut c = sys(system_prog("unshare").unwrap().to_str().unwrap(), home);
    c.args([
        "--mount",
        "--propagation",
        "private",
        "/bin/sh",
        "-c",
        SCRIPT,
        "sh",
    ])
    .arg(conf)
    .arg(zones)
    .arg(&out_file)
    // checks run as icinga2's user; validation as root reads the test's files
    .env("ICINGA2_USER", "root")
    .env("ICINGA2_GROUP", "root");
    let (code, list, err) = run(&mut c);
    let log = fs::read_to_string(&out_file).unwrap_or_default();
    (code, format!("{log}{err}"), list)
}

/// The attributes of one object in `icinga2 object list` output.
fn icinga2_object<'a>(list: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let head = format!("Object '{name}' of type 'Service':");
    let rest = list.split(&head).nth(1)?;
    Some(
        rest.lines()
            .skip(1)
            .take_while(|l| !l.starts_with("Object '"))
            .filter_map(|l| l.trim().strip_prefix("* "))
            .collect(),
    )
}

/// A master's configuration (Debian's layout; NodeName and ZoneName as `icinga2 node
/// wizard` sets them) with the examples copied where they say, under `dir`.
fn icinga2_tree(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let ex = repo().join("pkg/examples");
    for d in ["conf.d", "zones.d/master", "zones.d/global-templates"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    let text = [
        (
            "icinga2.conf",
            "include \"constants.conf\"\ninclude \"zones.conf\"\ninclude <itl>\n\
             include <plugins>\ninclude_recursive \"conf.d\"\n",
        ),
        (
            "constants.conf",
            "const NodeName = \"icinga.test.example\"\nconst ZoneName = \"master\"\n\
             const PluginDir = \"/usr/lib/nagios/plugins\"\n",
        ),
        (
            "zones.conf",
            "object Endpoint NodeName { }\n\
             object Zone ZoneName { endpoints = [ NodeName ] }\n\
             object Zone \"global-templates\" { global = true }\n\
             object Endpoint \"agent1.test.example\" { host = \"127.0.0.2\" }\n\
             object Zone \"agent1.test.example\" { endpoints = [ \"agent1.test.example\" ]; parent = ZoneName }\n",
        ),
    ];
    for (f, t) in text {
        fs::write(dir.join(f), t).unwrap();
    }
    for (example, to) in files {
        fs::copy(ex.join(example), dir.join(to)).unwrap();
    }
    dir.join("icinga2.conf")
}

const ICINGA_HOSTS: &str = "object Host NodeName {\n  check_command = \"hostalive\"\n  \
    address = \"127.0.0.1\"\n  vars.os = \"Linux\"\n}\n\
    object Host \"nrpe1.test.example\" {\n  check_command = \"hostalive\"\n  \
    address = \"127.0.0.3\"\n  vars.os = \"Linux\"\n  vars.nrpe = true\n}\n";
const ICINGA_AGENT_HOST: &str = "object Host \"agent1.test.example\" {\n  \
    check_command = \"hostalive\"\n  address = \"127.0.0.2\"\n  vars.os = \"Linux\"\n  \
    vars.agent_endpoint = name\n}\n";

/// The Icinga 2 examples validate where their comments say to copy them, with the real
/// icinga2: on a single node (conf.d) the Icinga host's own check and an NRPE host's; with
/// agents, a Host with an agent endpoint in conf.d or in zones.d/master gets a service sent
/// to its endpoint. The twin: the agent rule without its zone fails as the old example did
/// ("Checkable with command endpoint requires a zone"). The CheckCommand's flags exist.
#[test]
fn icinga2_examples_validate_where_they_say_to_copy_them() {
    if !util::require_root("icinga2 validation in a mount namespace")
        || !have(&["icinga2", "unshare"])
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // icinga2 reads its configuration as its own user before it validates
    fs::set_permissions(t, fs::Permissions::from_mode(0o755)).unwrap();

    let single = t.join("single");
    let conf = icinga2_tree(
        &single,
        &[
            ("icinga2-opskit-command.conf", "conf.d/opskit-command.conf"),
            ("icinga2-opskit.conf", "conf.d/opskit.conf"),
        ],
    );
    fs::write(single.join("conf.d/hosts.conf"), ICINGA_HOSTS).unwrap();
    let (code, log, list) = icinga2_validate(&conf, &single.join("zones.d"), t);
    assert_eq!(code, 0, "{log}");
    let local = icinga2_object(&list, "icinga.test.example!stale-tcp").expect(&list);
    assert!(
        local.contains(&"check_command = \"conn_audit\""),
        "{local:?}"
    );
    assert!(local.contains(&"command_endpoint = \"\""), "{local:?}");
    let nrpe = icinga2_object(&list, "nrpe1.test.example!stale-tcp-nrpe").expect(&list);
    assert!(nrpe.contains(&"check_command = \"nrpe\""), "{nrpe:?}");
    assert!(
        list.contains("nrpe_command = \"check_conn_audit\""),
        "{list}"
    );

    for host_file in ["conf.d/hosts.conf", "zones.d/master/hosts.conf"] {
        let dir = t.join(format!("agent-{}", host_file.replace('/', "-")));
        let conf = icinga2_tree(
            &dir,
            &[
                (
                    "icinga2-opskit-command.conf",
                    "zones.d/global-templates/opskit-command.conf",
                ),
                ("icinga2-opskit-agent.conf", "conf.d/opskit-agent.conf"),
            ],
        );
        fs::write(dir.join(host_file), ICINGA_AGENT_HOST).unwrap();
        let (code, log, list) = icinga2_validate(&conf, &dir.join("zones.d"), t);
        assert_eq!(code, 0, "host in {host_file}:\n{log}");
        let svc = icinga2_object(&list, "agent1.test.example!stale-tcp").expect(&list);
        for want in [
            "check_command = \"conn_audit\"",
            "command_endpoint = \"agent1.test.example\"",
            "zone = \"master\"",
        ] {
            assert!(svc.contains(&want), "{want}: {svc:?}");
        }
        if host_file.starts_with("conf.d") {
            // the twin: the same rule without its zone, as the old example had it
            let rule = dir.join("conf.d/opskit-agent.conf");
            let text = fs::read_to_string(&rule).unwrap();
            let without: String = text
                .lines()
                .filter(|l| l.trim() != "zone = ZoneName")
                .map(|l| format!("{l}\n"))
                .collect();
            assert_ne!(text, without);
            fs::write(&rule, without).unwrap();
            let (code, log, _) = icinga2_validate(&conf, &dir.join("zones.d"), t);
            assert!(
                code != 0 && log.contains("Checkable with command endpoint requires a zone"),
                "{log}"
            );
        }
    }

    // the CheckCommand's flags are conn-audit's
    let command =
        fs::read_to_string(repo().join("pkg/examples/icinga2-opskit-command.conf")).unwrap();
    let (_, help, _) = run(opskit().args(["conn-audit", "--help"]));
    let flags: Vec<&str> = command
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
        .filter(|f| f.starts_with("--"))
        .collect();
    assert!(flags.len() >= 5, "{flags:?}");
    for f in flags.iter().chain(&["--format"]) {
        assert!(help.contains(f), "conn-audit has no {f}");
    }
}

/// `--version` names the commit the binary was built from; `-V` and the man pages only the
/// version (the pages are generated and checked in: they must not change per commit).
#[test]
fn version_names_the_git_commit_and_the_man_pages_do_not() {
    let v = env!("CARGO_PKG_VERSION");
    let (code, short, _) = run(opskit().arg("-V"));
    assert_eq!((code, short.trim()), (0, &*format!("opskit {v}")));
    let (code, long, _) = run(opskit().arg("--version"));
    assert_eq!(code, 0);
    let tmp = tempfile::tempdir().unwrap();
    let (gcode, commit, _) = run(sys("git", tmp.path())
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(repo()));
    if gcode == 0 {
        assert_eq!(long.trim(), format!("opskit {v} (git {})", commit.trim()));
    } else {
        assert_eq!(long.trim(), format!("opskit {v}"));
    }
    for e in fs::read_dir(repo().join("man")).unwrap() {
        let page = fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(!page.contains("(git "), "a man page names a commit");
        assert!(page.contains(&format!("v{v}")) || page.contains(v));
    }
}
