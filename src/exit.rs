//! Exit codes, decided in one place: every tool returns an [`Outcome`] (or an error), and
//! [`Outcome::code`] and [`report`] are the one table that turns it into a process exit code.
//!
//! | situation                                  | code |
//! |--------------------------------------------|------|
//! | success, help, version                     | 0    |
//! | usage error (clap, or [`UsageError`] once input is read) | 2 |
//! | findings (ssd-align: misaligned data; conn-audit: a socket `--kill` could not close) | 1 |
//! | a Nagios check                             | its state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN |
//! | stopped by SIGTERM/SIGHUP/SIGINT           | 128 + signal |
//! | runtime error                              | the tool's [`ErrorCode`]: 1 (itop, bindstats), 2 (ssd-align, conn-audit) |
//! | broken pipe                                | 0    |
//!
//! munin `autoconf` always exits 0 (`Outcome::Success`), whatever it answers.

use std::process::ExitCode;

use crate::format::nagios::State;

/// How a tool's run ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done; nothing the caller must act on.
    Success,
    /// The check found what it exists to find (misaligned data; sockets left open by `--kill`).
    Findings,
    /// A monitoring check's state (Nagios/Icinga plugin exit codes).
    Nagios(State),
    /// Stopped by a signal after restoring what it had changed (the terminal): 128 + signal,
    /// as a shell reports it.
    Signalled(i32),
}

impl Outcome {
    /// The process exit code.
    pub(crate) fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Findings => 1,
            Outcome::Nagios(s) => s.code(),
            Outcome::Signalled(sig) => u8::try_from(128 + sig.clamp(0, 127)).unwrap_or(255),
        }
    }
}

/// The exit code a tool's runtime errors get (kept per tool, as its `--help` documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// 1: itop, bindstats (a plain tool failed).
    One,
    /// 2: ssd-align, conn-audit (1 already means "findings").
    Two,
}

impl ErrorCode {
    fn code(self) -> u8 {
        match self {
            ErrorCode::One => 1,
            ErrorCode::Two => 2,
        }
    }
}

/// Map a clap error to its exit code after printing it (help/version -> 0, usage -> 2).
pub(crate) fn from_clap(e: &clap::Error) -> ExitCode {
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
            let line = lines.join(" ");
            let line = crate::common::escape::clean(line.trim_start_matches("error: "));
            eprintln!("opskit: {line}");
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
pub(crate) fn wants_nagios(argv: &[std::ffi::OsString]) -> bool {
    argv.windows(2)
        .any(|w| w[0] == "--format" && w[1] == "nagios")
        || argv.iter().any(|a| a == "--format=nagios")
}

/// A usage error as a Nagios UNKNOWN line (exit 3); `service` is the status line's label
/// (the tool's name, upper-case, as Nagios plugins print it).
pub(crate) fn nagios_usage(e: &clap::Error, service: &str) -> ExitCode {
    let text = e.render().to_string();
    let msg = text
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ");
    let mut out = Vec::new();
    // writing to a Vec cannot fail
    let _ = crate::format::nagios::write_status(&mut out, service, State::Unknown, msg, &[]);
    let _ = crate::common::print(&out);
    ExitCode::from(State::Unknown.code())
}

/// An error in what was asked that only shows once input is read (`itop --cpus 64` on a 2-CPU
/// box): reported like any error, but with the usage exit code 2.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// True when the error (or any cause) is a broken pipe: the reader went away, exit quietly.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Turn a tool's result into the exit code; a failure is reported as one line
/// `opskit TOOL: cause: cause...`.
pub(crate) fn report(tool: &str, result: anyhow::Result<Outcome>, on_error: ErrorCode) -> ExitCode {
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("opskit {tool}: {}", one_line(&e));
            if e.chain().any(|c| c.is::<UsageError>()) {
                return ExitCode::from(2);
            }
            ExitCode::from(on_error.code())
        }
    }
}

/// anyhow's `{:#}` chain, with embedded newlines folded so the message stays on one line.
/// Control characters a message quotes from outside (a file name or URL with an escape
/// sequence, text from a document) are escaped, so an error line cannot redraw the terminal.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}").replace(['\n', '\r'], " ");
    crate::common::escape::clean(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_table() {
        assert_eq!(Outcome::Success.code(), 0);
        assert_eq!(Outcome::Findings.code(), 1);
        assert_eq!(Outcome::Nagios(State::Critical).code(), 2);
        assert_eq!(Outcome::Nagios(State::Unknown).code(), 3);
        assert_eq!(Outcome::Signalled(15).code(), 143);
        assert_eq!(Outcome::Signalled(1).code(), 129);
        assert_eq!(ErrorCode::One.code(), 1);
        assert_eq!(ErrorCode::Two.code(), 2);
    }

    #[test]
    fn an_error_line_carries_no_control_characters() {
        let e = anyhow::anyhow!("no such file").context("reading /tmp/\x1b[2Jevil\nline");
        let line = one_line(&e);
        assert_eq!(line, "reading /tmp/\\x1b[2Jevil line: no such file");
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
}
