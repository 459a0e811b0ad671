//! opskit: the sysadmin tools an operator reaches for when a box misbehaves, in one binary.
//!
//! Layout (see `../shared/STYLE.md`):
//! - [`domain`]: the shared, pure, I/O-free core (parsers, arithmetic, classification).
//! - [`sys`]: the only code that touches the OS (/proc, /sys, sockets, HTTP, devices).
//! - [`cmd`]: one module per tool, gluing `sys` -> `domain` -> [`output`].
//! - [`output`]: renderers (table, JSON, munin, Nagios, Prometheus) writing to any `Write`.
//! - [`app`]: runs a parsed command line (the one place that knows every tool).
//! - [`cli`], [`dispatch`], [`exit`], [`generate`]: the command line, argv[0] dispatch, exit
//!   codes, and the generated man pages and completions.

pub mod app;
pub mod cli;
pub mod cmd;
pub mod dispatch;
pub mod domain;
pub mod exit;
pub mod generate;
pub mod manual;
pub mod output;
pub mod sys;
