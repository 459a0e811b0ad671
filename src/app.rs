//! From argv to an exit code: the one place that knows every tool.
//!
//! Arrows run one way: `bin` -> `app` -> `cli` (what was asked) and each tool's `run` (doing
//! it); `exit` maps each tool's [`Outcome`] to a code.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::FromArgMatches as _;

use crate::cli::{Cli, Cmd};
use crate::common::root::Root;
use crate::common::Context;
use crate::exit::{report, ErrorCode, Outcome};
use crate::{bindstats, conn_audit, itop, ssd_align};

/// argv[0] dispatch, the command line, the tool, the exit code.
pub(crate) fn main() -> ExitCode {
    let argv = match crate::dispatch::normalize(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("opskit: {e}");
            return ExitCode::from(2);
        }
    };
    let nagios = nagios_label(&argv);
    // the command with the manual's text as `--help`'s long epilogue (src/manual.rs)
    let parsed = crate::manual::command()
        .try_get_matches_from(argv)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| e.format(&mut crate::manual::command()));
    match parsed {
        Ok(cli) => run(cli),
        Err(e) => match nagios {
            Some(label) if e.use_stderr() => crate::exit::nagios_usage(&e, label),
            _ => crate::exit::from_clap(&e),
        },
    }
}

/// The tools that print Nagios checks, with their status-line labels.
const NAGIOS_TOOLS: &[(&str, &str)] = &[("conn-audit", "CONN-AUDIT")];

/// The Nagios label a usage error must carry: `Some` only when the tool on the command line
/// prints Nagios checks and `--format nagios` was asked of it (a monitoring system can only
/// parse a status line then). Any other tool's usage error is clap's (exit 2), whatever
/// `--format` says.
fn nagios_label(argv: &[OsString]) -> Option<&'static str> {
    let tool = tool_of(argv)?;
    let (_, label) = NAGIOS_TOOLS.iter().find(|(t, _)| *t == tool)?;
    crate::exit::wants_nagios(argv).then_some(*label)
}

/// The subcommand named on a normalized command line (past the global `--root DIR`).
fn tool_of(argv: &[OsString]) -> Option<&str> {
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_str()?;
        if a == "--root" {
            it.next();
        } else if a.starts_with("--root=") {
            continue;
        } else {
            return crate::cli::TOOLS.iter().find(|t| **t == a).copied();
        }
    }
    None
}

/// Run the parsed command line and turn its outcome into an exit code.
fn run(cli: Cli) -> ExitCode {
    let ctx = Context {
        root: Root::new(cli.root),
    };
    match cli.cmd {
        Cmd::Itop(a) => report("itop", itop::run(a, &ctx), ErrorCode::One),
        Cmd::Bindstats(a) => report("bindstats", bindstats::run(a, &ctx), ErrorCode::One),
        Cmd::SsdAlign(a) => report("ssd-align", ssd_align::run(a, &ctx), ErrorCode::Two),
        Cmd::ConnAudit(a) => report("conn-audit", conn_audit::run(a, &ctx), ErrorCode::Two),
        Cmd::Generate(a) => report(
            "generate",
            crate::generate::write_all(&a.out_dir).map(|()| Outcome::Success),
            ErrorCode::One,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn only_a_nagios_tool_gets_a_nagios_label() {
        assert_eq!(
            nagios_label(&argv("opskit conn-audit --format nagios --idle x")),
            Some("CONN-AUDIT")
        );
        assert_eq!(
            nagios_label(&argv("opskit --root /x conn-audit --format=nagios")),
            Some("CONN-AUDIT")
        );
        // healthy twins: no Nagios asked, or a tool that has no Nagios output
        assert_eq!(nagios_label(&argv("opskit conn-audit --idle x")), None);
        assert_eq!(nagios_label(&argv("opskit itop --format nagios")), None);
        assert_eq!(
            nagios_label(&argv("opskit ssd-align --format nagios")),
            None
        );
        assert_eq!(
            nagios_label(&argv("opskit bindstats --format nagios --bad")),
            None
        );
    }
}
