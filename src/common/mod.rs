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

/// Write a whole rendered output to stdout and flush it: the one place the tools print what
/// they rendered (built in a buffer first, so an error never leaves a partial output; a
/// broken pipe comes back as an error that [`crate::exit`] maps to exit 0).
pub(crate) fn print(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut so = std::io::stdout().lock();
    so.write_all(bytes)?;
    so.flush()
}
