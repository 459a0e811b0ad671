//! The command line itself: help, version, argv[0] dispatch, errors.

use crate::util::{opskit, run};

#[test]
fn version_and_help() {
    let (code, out, _) = run(opskit().arg("--version"));
    assert_eq!(code, 0);
    assert!(out.starts_with("opskit "), "{out}");
    let (code, out, _) = run(opskit().arg("--help"));
    assert_eq!(code, 0);
    for t in opskit::api::TOOLS {
        assert!(out.contains(t), "--help lacks {t}: {out}");
    }
    assert!(!out.contains("generate"), "hidden subcommand shown: {out}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = run(opskit().arg("no-such-tool"));
    assert_eq!(code, 2);
    assert!(err.contains("no-such-tool"), "{err}");
}

#[test]
fn argv0_dispatch_through_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("itop");
    std::os::unix::fs::symlink(crate::util::bin(), &link).unwrap();
    let (code, out, _) = run(std::process::Command::new(&link).arg("--help"));
    assert_eq!(code, 0);
    assert!(out.contains("opskit itop"), "{out}");

    let bad = dir.path().join("frobnicate");
    std::os::unix::fs::symlink(crate::util::bin(), &bad).unwrap();
    let (code, out, err) = run(&mut std::process::Command::new(&bad));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("frobnicate") && err.contains("itop") && err.contains("conn-audit"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn error_lines_escape_what_they_quote() {
    // a file name (or URL) with an escape sequence must not reach the terminal raw, whether
    // the tool reports it or clap does
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("\x1b[2Jevil");
    for args in [
        vec!["itop".into(), "--from".into(), evil.clone(), evil.clone()],
        vec![
            "bindstats".into(),
            "--format".into(),
            "json".into(),
            "--file".into(),
            evil.clone(),
        ],
        vec!["conn-audit".into(), "--idle".into(), "\x1b[2J".into()],
    ] {
        let args: Vec<std::path::PathBuf> = args;
        let (code, _, err) = run(opskit().args(&args));
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains("\\x1b[2J"), "{args:?}: {err}");
        assert!(!err.contains('\x1b'), "{args:?}: raw ESC in {err:?}");
    }
}
