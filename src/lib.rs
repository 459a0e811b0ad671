//! opskit: the sysadmin tools an operator reaches for when a box misbehaves, in one binary.
//!
//! One folder per tool, each holding its own command line, gather, judge and render:
//! - [`itop`], [`bindstats`], [`ssd_align`], [`conn_audit`]: `mod.rs` wires the tool's
//!   `gather` (the only code that touches the OS) to its `model` (pure parsers of what was
//!   read), its `judge` (pure verdicts, typed) and its `render` (words, tables, commands).
//! - [`format`]: the output formats tools share (munin, Nagios, Prometheus, JSON, tables),
//!   writers of typed data that know no tool.
//! - [`common`]: shared plumbing (units, escaping, capped reads, `--root`, state files).
//! - [`app`], [`cli`], [`dispatch`], [`exit`], [`generate`]: running a command line, argv[0]
//!   dispatch, exit codes, and the generated man pages and completions.
//!
//! Everything is crate-private but [`api`], the few parsers and writers the fuzz targets and
//! benches call, and [`main`].

pub(crate) mod app;
pub(crate) mod bindstats;
pub(crate) mod cli;
pub(crate) mod common;
pub(crate) mod conn_audit;
pub(crate) mod dispatch;
pub(crate) mod exit;
pub(crate) mod format;
pub(crate) mod generate;
pub(crate) mod itop;
pub(crate) mod manual;
pub(crate) mod ssd_align;

pub mod api;

/// The whole program: argv[0] dispatch, the command line, the tool, the exit code.
pub fn main() -> std::process::ExitCode {
    app::main()
}
