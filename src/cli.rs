//! The command line: the one source of `--help`, the man pages and the shell completions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Sysadmin tools in one binary.
#[derive(Debug, Parser)]
#[command(
    name = "opskit",
    version,
    long_version = env!("OPSKIT_LONG_VERSION"), // `--version`: plus the git commit (build.rs)
    propagate_version = true,
    max_term_width = 100,
    about = "Sysadmin tools in one binary: interrupts, BIND statistics, SSD alignment, stale TCP",
    long_about = "Sysadmin tools in one binary.\n\n\
        Each tool is a subcommand. The binary can also be run under a tool's name through a \
        symlink (argv[0] dispatch): `ln -s /usr/bin/opskit /usr/local/bin/itop`, or \
        `ln -s /usr/share/munin/plugins/bind9_opskit /etc/munin/plugins/` for the packaged munin \
        plugin wrapper.",
    after_help = "Run `opskit <TOOL> --help` for a tool's options; `man opskit-<tool>` for its page."
)]
pub(crate) struct Cli {
    /// Read /proc and /sys under DIR instead of / (captured trees, sosreports)
    ///
    /// Every reader of /proc and /sys reads DIR/proc/... and DIR/sys/... instead, so a captured
    /// tree or an sosreport directory can be analysed on another machine.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub(crate) root: PathBuf,

    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

/// The tools. Each one's `about`/`long_about` lives on its `Args` struct (a doc comment
/// here would override them).
#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    Itop(crate::itop::Args),
    Bindstats(crate::bindstats::Args),
    SsdAlign(crate::ssd_align::Args),
    ConnAudit(crate::conn_audit::Args),
    /// Write the man pages and shell completions (for packagers)
    #[command(hide = true)]
    Generate(GenerateArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Directory to write man/ and completions/ under
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub(crate) out_dir: PathBuf,
}

/// The tools, as (subcommand name, names accepted in argv[0]).
pub const TOOLS: &[&str] = &["itop", "bindstats", "ssd-align", "conn-audit"];
