//! One module per tool: each has `Args` (its clap definition) and
//! `run(args, &Context) -> anyhow::Result<Outcome>`; [`crate::exit`] maps outcomes to codes.

use std::process::ExitCode;

use crate::cli::{Cli, Cmd};
use crate::exit::{report, ErrorCode, Outcome};
use crate::sys::root::Root;

pub mod bindstats;
pub mod conn_audit;
pub mod itop;
pub mod ssd_align;

/// What every tool gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where /proc and /sys are read from (`--root`).
    pub root: Root,
}

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
