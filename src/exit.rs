//! Exit codes, decided in one place.
//!
//! | situation                | code |
//! |--------------------------|------|
//! | success, help, version   | 0    |
//! | usage error (clap)       | 2    |
//! | runtime error            | the tool's: 1 (itop, bindstats), 2 (ssd-align, conn-audit) |
//! | broken pipe              | 0    |
//!
//! Tools with a contract of their own (ssd-align 0/1/2, Nagios 0/1/2/3, munin autoconf always 0)
//! return the code they mean as `Ok(ExitCode)`.

use std::process::ExitCode;

/// Map a clap error to its exit code after printing it (help/version -> 0, usage -> 2).
pub fn from_clap(e: &clap::Error) -> ExitCode {
    if e.use_stderr() {
        // usage errors: the `error:` line (and clap's `tip:` lines), without the usage block,
        // so a bad value is one line a script's log can carry
        let text = e.render().to_string();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("error:") || l.trim_start().starts_with("tip:"))
            .collect();
        if lines.is_empty() {
            eprint!("{text}");
        } else {
            eprintln!("opskit: {}", lines.join(" ").trim_start_matches("error: "));
        }
        ExitCode::from(2)
    } else {
        // help and version; printing to a closed pipe is not an error worth reporting
        let _ = e.print();
        ExitCode::SUCCESS
    }
}

/// True when the command line asks for Nagios output (`--format nagios`): usage errors must
/// then be an UNKNOWN status line with exit 3, which is all a monitoring system can parse.
pub fn wants_nagios(argv: &[std::ffi::OsString]) -> bool {
    argv.windows(2)
        .any(|w| w[0] == "--format" && w[1] == "nagios")
        || argv.iter().any(|a| a == "--format=nagios")
}

/// A usage error as a Nagios UNKNOWN line (exit 3).
pub fn nagios_usage(e: &clap::Error) -> ExitCode {
    let text = e.render().to_string();
    let msg = text
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ");
    println!("CONN-AUDIT UNKNOWN - {}", msg.replace('|', " "));
    ExitCode::from(3)
}

/// True when the error (or any cause) is a broken pipe: the reader went away, exit quietly.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Report a tool's failure as one line `opskit TOOL: cause: cause...` and pick the exit code.
pub fn report(tool: &str, result: anyhow::Result<ExitCode>, error_code: u8) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("opskit {tool}: {}", one_line(&e));
            ExitCode::from(error_code)
        }
    }
}

/// anyhow's `{:#}` chain, with embedded newlines folded so the message stays on one line.
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace(['\n', '\r'], " ")
}
