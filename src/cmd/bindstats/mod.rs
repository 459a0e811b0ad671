//! `opskit bindstats` (not yet implemented).

use std::process::ExitCode;

use crate::cmd::Context;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, _ctx: &Context) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
