//! One module per tool: each has `Args` (its clap definition) and
//! `run(args, &Context) -> anyhow::Result<ExitCode>`.

use std::process::ExitCode;

use crate::cli::{Cli, Cmd};
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
        Cmd::Itop(a) => crate::exit::report("itop", itop::run(a, &ctx), 1),
        Cmd::Bindstats(a) => crate::exit::report("bindstats", bindstats::run(a, &ctx), 1),
        Cmd::SsdAlign(a) => crate::exit::report("ssd-align", ssd_align::run(a, &ctx), 2),
        Cmd::ConnAudit(a) => crate::exit::report("conn-audit", conn_audit::run(a, &ctx), 2),
        Cmd::Generate(a) => crate::exit::report(
            "generate",
            crate::generate::write_all(&a.out_dir).map(|()| ExitCode::SUCCESS),
            1,
        ),
    }
}
