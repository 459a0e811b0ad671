//! Plumbing every tool shares and none owns: units and their parsers, escaping of outside
//! text, capped file reads, the `--root` tree, the munin state file, the `--listen` HTTP server.

pub(crate) mod escape;
pub(crate) mod fsread;
pub(crate) mod munin_state;
pub(crate) mod root;
pub(crate) mod serve;
pub(crate) mod state_file;
pub(crate) mod units;

use root::Root;

/// What every tool gets besides its own arguments.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// Where /proc and /sys are read from (`--root`).
    pub(crate) root: Root,
}
