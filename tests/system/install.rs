//! Installing opskit: the README's first command installs it for the user and touches nothing
//! else (recording shims stand in for apt, dpkg and the service managers); the Debian package
//! holds what an operator needs, passes lintian, installs, works under munin and is removed
//! cleanly; `--version` names the commit while the man pages do not.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, opskit, repo, run};

/// The cargo target directory the tests were built in (`<target>/debug/opskit`): the install
/// and the package reuse its release build.
fn target_dir() -> PathBuf {
    let bin = util::bin();
    bin.ancestors().nth(2).expect("target dir").to_path_buf()
}

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

/// Shims that log their arguments and succeed; with `cc` set, `apt-get install` also puts a
/// `cc` (a link to that compiler) beside them, as installing gcc would.
fn write_shims(dir: &Path, log: &Path, cc: Option<&Path>) {
    fs::create_dir_all(dir).unwrap();
    for name in SHIMMED {
        let p = dir.join(name);
        let mut script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{}'\n",
            log.display()
        );
        if let (Some(cc), "apt-get") = (cc, *name) {
            script += &format!(
                "case \" $* \" in *' install '*) ln -sf '{}' '{}';; esac\n",
                cc.display(),
                dir.join("cc").display()
            );
        }
        fs::write(&p, script + "exit 0\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// `dir` with every entry but `cc`, as symlinks in `farm`.
fn without_cc(dir: &Path, farm: &Path) {
    fs::create_dir_all(farm).unwrap();
    for e in fs::read_dir(dir).unwrap().flatten() {
        if e.file_name() != "cc" {
            let _ = std::os::unix::fs::symlink(e.path(), farm.join(e.file_name()));
        }
    }
}

/// A temporary HOME and cargo install root, and a PATH whose package and service managers
/// are recording shims (and, with `hide_cc`, on which no `cc` is found).
struct Sandbox {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    root: PathBuf,
    log: PathBuf,
    path: std::ffi::OsString,
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
        let cc = util::which("cc");
        write_shims(&shims, &log, cc.as_deref().filter(|_| hide_cc));
        let mut dirs = vec![shims, root.join("bin")];
        for (i, d) in std::env::split_paths(&std::env::var_os("PATH").unwrap()).enumerate() {
            if hide_cc && d.join("cc").exists() {
                let farm = t.join(format!("path{i}"));
                without_cc(&d, &farm);
                dirs.push(farm);
            } else {
                dirs.push(d);
            }
        }
        let path = std::env::join_paths(dirs).unwrap();
        Sandbox {
            _tmp: tmp,
            home,
            root,
            log,
            path,
        }
    }

    /// `bash -c cmd` in the checkout, in the sandbox.
    fn bash(&self, cmd: &str) -> Command {
        let real_home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()));
        let env_or = |k: &str, d: PathBuf| std::env::var_os(k).map_or(d, PathBuf::from);
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(cmd)
            .current_dir(repo())
            .env("HOME", &self.home)
            // the toolchain and the crate cache stay where they are; only the install moves
            .env("CARGO_HOME", env_or("CARGO_HOME", real_home.join(".cargo")))
            .env(
                "RUSTUP_HOME",
                env_or("RUSTUP_HOME", real_home.join(".rustup")),
            )
            .env("CARGO_INSTALL_ROOT", &self.root)
            .env("CARGO_TARGET_DIR", target_dir())
            .env("PATH", &self.path)
            .env("LC_ALL", "C");
        for k in ["XDG_DATA_HOME", "XDG_CONFIG_HOME", "MANPATH"] {
            c.env_remove(k);
        }
        c
    }

    /// Runs `cmd`; fails on any forbidden call; returns stdout, stderr and the calls made.
    fn run_allowed(&self, cmd: &str) -> (String, String, Vec<String>) {
        let (code, out, err) = run(&mut self.bash(cmd));
        let calls: Vec<String> = fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
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
        || !util::require_tool("man")
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
    let (code, page, merr) = run(Command::new("man")
        .args(["-w", "opskit-itop"])
        .env("HOME", home)
        .env("PATH", &sb.path)
        .env_remove("MANPATH"));
    assert_eq!(code, 0, "{merr}");
    assert!(page.trim().starts_with(&*root.to_string_lossy()), "{page}");
}

/// Without a C compiler on PATH, scripts/install.sh asks apt for one (after one update) and
/// for nothing else, then builds and installs.
#[test]
fn install_script_asks_apt_for_a_c_compiler_only_when_cc_is_missing() {
    if !util::require_root("running scripts/install.sh with shimmed apt") {
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
    "/lib/systemd/system/opskit-bindstats-exporter.service",
    "/lib/systemd/system/opskit-conn-audit-textfile.service",
    "/lib/systemd/system/opskit-conn-audit-textfile.timer",
];

fn package_installed(name: &str) -> bool {
    let (_, out, _) = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", name]));
    out == "install ok installed"
}

/// Purges the package when the test ends, passed or not.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "opskit"]).output();
    }
}

fn build_package() -> PathBuf {
    let (code, out, err) = run(Command::new("bash")
        .arg(repo().join("scripts/package.sh"))
        .env("CARGO_TARGET_DIR", target_dir()));
    assert_eq!(code, 0, "scripts/package.sh failed:\n{err}");
    let deb = PathBuf::from(out.lines().last().unwrap_or_default());
    assert!(
        deb.is_file() && deb.extension().is_some_and(|e| e == "deb"),
        "the last line is not the .deb: {out}"
    );
    deb
}

fn check_contents_and_metadata(deb: &Path) {
    let (code, list, err) = run(Command::new("dpkg-deb").arg("-c").arg(deb));
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
    let (_, fields, _) = run(Command::new("dpkg-deb").arg("-f").arg(deb).args([
        "Version",
        "Depends",
        "Description",
    ]));
    let version = format!("Version: {}-1", env!("CARGO_PKG_VERSION"));
    assert!(fields.contains(&version), "{fields}");
    assert!(fields.contains("Depends: libc6 (>= "), "{fields}");
}

/// lintian: no error, and every warning kept is explained in the README by its tag.
fn check_lintian(deb: &Path) {
    let (code, out, err) = run(Command::new("lintian").arg(deb));
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("E: ")).collect();
    assert!(errors.is_empty() && code == 0, "lintian:\n{out}\n{err}");
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    for w in out.lines().filter(|l| l.starts_with("W: ")) {
        let tag = w.split_whitespace().nth(2).unwrap_or_default();
        assert!(
            readme.contains(&format!("`{tag}`")),
            "lintian warning not explained in the README: {w}"
        );
    }
}

/// munin-node-configure offers both plugins, answering autoconf without errors.
fn check_munin() {
    // its exit status is 1 whenever any plugin (postfix_mailqueue, ...) reports an error
    let (_, out, err) = run(Command::new("munin-node-configure").arg("--suggest"));
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
        std::os::unix::fs::symlink(format!("/usr/share/munin/plugins/{plugin}"), &link).unwrap();
    }
    for (plugin, verb, want) in [
        ("conn_audit", "config", "graph_title"),
        ("conn_audit", "", ".value "),
        ("bind9_opskit", "config", "multigraph"),
    ] {
        let (code, out, err) = run(Command::new("munin-run")
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
fn check_nagios_examples() {
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
        let (code, out, err) = run(Command::new("/bin/sh").args(["-c", &c]));
        assert!(
            (0..=2).contains(&code) && out.starts_with("CONN-AUDIT "),
            "{c}: exit {code}\n{out}{err}"
        );
    }
}

/// The textfile service's command, run with its directories moved to `dir`, writes the
/// Prometheus file; the exporter's command line is one bindstats accepts.
fn check_units(dir: &Path) {
    let units = Path::new("/lib/systemd/system");
    if util::which("systemd-analyze").is_some() {
        for u in [
            "opskit-bindstats-exporter.service",
            "opskit-conn-audit-textfile.service",
            "opskit-conn-audit-textfile.timer",
        ] {
            let (code, out, err) = run(Command::new("systemd-analyze")
                .args(["verify", "--man=no"])
                .arg(units.join(u)));
            assert!(code == 0 && err.is_empty(), "{u}: {out}{err}");
        }
    }
    let exec_start = |unit: &str| {
        let text = fs::read_to_string(units.join(unit)).unwrap();
        let line = text.lines().find_map(|l| l.strip_prefix("ExecStart="));
        line.expect("ExecStart=").replace("$$", "$")
    };
    let textfile = exec_start("opskit-conn-audit-textfile.service");
    let script = textfile
        .strip_prefix("/bin/sh -c '")
        .and_then(|s| s.strip_suffix('\''))
        .expect("ExecStart=/bin/sh -c '...'")
        .replace("/var/lib/prometheus/node-exporter", &dir.to_string_lossy())
        .replace("/var/lib/opskit", &dir.to_string_lossy());
    let (code, _, err) = run(Command::new("/bin/sh").args(["-c", &script]));
    assert_eq!(code, 0, "{script}: {err}");
    let prom = fs::read_to_string(dir.join("opskit_conn_audit.prom")).unwrap();
    assert!(prom.contains("# TYPE opskit_conn_audit"), "{prom}");
    assert!(!dir.join("opskit_conn_audit.prom.tmp").exists());

    let exporter = exec_start("opskit-bindstats-exporter.service");
    let (_, help, _) = run(opskit().args(["bindstats", "--help"]));
    if !help.contains("--listen") {
        util::skip_expected("bindstats has no --listen yet: the exporter unit's flags unchecked");
        return;
    }
    let mut args = exporter.split_whitespace();
    assert_eq!(args.next(), Some("/usr/bin/opskit"));
    // clap rejects an unknown flag before it reaches --help
    let (code, _, err) = run(Command::new("/usr/bin/opskit").args(args).arg("--help"));
    assert_eq!(code, 0, "{exporter}: {err}");
}

/// scripts/package.sh builds the package (from the release build, reused when current); it
/// holds every path, passes lintian, installs, works (man, munin, itop, units) and is removed.
#[test]
fn debian_package_installs_works_and_purges() {
    if !util::require_root("installing the Debian package") {
        return;
    }
    for t in [
        "dpkg-deb",
        "dpkg-shlibdeps",
        "objcopy",
        "lintian",
        "munin-node-configure",
        "munin-run",
        "man",
    ] {
        if !util::require_tool(t) {
            return;
        }
    }
    let ci = std::env::var_os("CI").is_some_and(|v| v == "true");
    if package_installed("opskit") && !ci {
        util::skip_expected("an opskit package is installed on this machine: not replacing it");
        return;
    }
    let deb = build_package();
    check_contents_and_metadata(&deb);
    check_lintian(&deb);

    let purge = Purge;
    let (code, out, err) = run(Command::new("dpkg").arg("-i").arg(&deb));
    assert_eq!(code, 0, "dpkg -i:\n{out}\n{err}");
    let (code, page, err) = run(Command::new("man").args(["-w", "opskit-itop"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(page.trim(), "/usr/share/man/man1/opskit-itop.1.gz");
    check_munin();
    check_nagios_examples();
    let (code, out, err) = run(Command::new("/usr/bin/opskit").args(["itop", "-b", "-n", "1"]));
    assert!(code == 0 && out.contains("IRQ"), "{out}\n{err}");
    let (_, version, _) = run(Command::new("/usr/bin/opskit").arg("--version"));
    let want = format!("opskit {}", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&want), "{version}");
    let tmp = tempfile::tempdir().unwrap();
    check_units(tmp.path());

    let (code, out, err) = run(Command::new("dpkg").args(["--purge", "opskit"]));
    assert_eq!(code, 0, "dpkg --purge:\n{out}\n{err}");
    drop(purge);
    for p in PACKAGE_FILES {
        assert!(!Path::new(p).exists(), "{p} left behind");
    }
    assert!(!Path::new("/usr/share/doc/opskit").exists());
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
    let (gcode, commit, _) = run(Command::new("git")
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
