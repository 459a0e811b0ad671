//! One module per tool: each has `Args` (its clap definition) and
//! `run(args, &Context) -> anyhow::Result<Outcome>`; [`crate::app`] calls them and
//! [`crate::exit`] maps outcomes to codes. A tool only wires `sys` (gather) -> `domain`
//! (judge) -> `output` (render); nothing here knows the command line as a whole.

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
