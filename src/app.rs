//! From a parsed command line to an exit code: the one place that knows every tool.
//!
//! Arrows run one way: `bin` -> `app` -> `cli` (what was asked) and `cmd::<tool>` (doing it)
//! -> `sys`/`domain`/`output`; `exit` maps each tool's [`Outcome`] to a code.

use std::process::ExitCode;

use crate::cli::{Cli, Cmd};
use crate::cmd::{bindstats, conn_audit, itop, ssd_align, Context};
use crate::exit::{report, ErrorCode, Outcome};
use crate::sys::root::Root;

/// Run the parsed command line and turn its outcome into an exit code.
pub fn run(cli: Cli) -> ExitCode {
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
