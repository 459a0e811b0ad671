//! `--kill`: close exactly the sockets the report listed (each matched by its 4-tuple and
//! socket cookie, never by re-evaluating the filters), report each, and succeed when every
//! one of them is closed.

use std::io::{IsTerminal, Write as _};

use anyhow::bail;

use crate::conn_audit::gather::net::{self, Destroyed};
use crate::conn_audit::judge::{Source, Stale};
use crate::exit::Outcome;

/// Whether to ask before closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confirm {
    Ask,
    /// `--yes`
    Assumed,
}

fn line(s: &Stale) -> String {
    format!(
        "{} -> {} {} {} pid {}",
        s.sock.local,
        s.sock.remote,
        s.sock.state.name(),
        s.reason.label(),
        s.pids
            .first()
            .map_or_else(|| "?".to_string(), |p| p.to_string())
    )
}

/// True when the operator agreed (a terminal is required to ask).
fn confirmed(confirm: Confirm) -> anyhow::Result<bool> {
    if confirm == Confirm::Assumed {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to --kill without --yes: stdin is not a terminal");
    }
    print!("close them? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Why `--kill` refuses before asking anything.
pub(crate) fn refusal(source: Source, capture: bool, listed: &[Stale]) -> Option<String> {
    if capture {
        return Some(
            "--kill refuses to close sockets read from a --root capture: they belong to another \
             machine, and SOCK_DESTROY would be sent to this one"
                .into(),
        );
    }
    if source != Source::Netlink {
        return Some(
            "--kill needs each socket's cookie, which only netlink gives: these sockets were read \
             from /proc/net/tcp (--source procfs, or netlink was unavailable); nothing closed"
                .into(),
        );
    }
    let no_cookie = listed.iter().filter(|s| s.sock.cookie == 0).count();
    (no_cookie > 0).then(|| {
        format!("--kill: {no_cookie} of the listed sockets have no cookie; nothing closed")
    })
}

pub(crate) fn kill(listed: &[Stale], confirm: Confirm) -> anyhow::Result<Outcome> {
    if listed.is_empty() {
        println!("nothing to kill");
        return Ok(Outcome::Success);
    }
    println!(
        "\nabout to close {} sockets with SOCK_DESTROY:",
        listed.len()
    );
    for s in listed {
        println!("  {}", line(s));
    }
    if !confirmed(confirm)? {
        println!("nothing closed");
        return Ok(Outcome::Success);
    }
    let (mut closed, mut gone, mut failed) = (0, 0, 0);
    for s in listed {
        match net::destroy(&s.sock) {
            Ok(Destroyed::Closed) => {
                closed += 1;
                println!("closed {}", line(s));
            }
            // both ends of a local connection listed: closing one resets the other
            Ok(Destroyed::AlreadyGone) => {
                gone += 1;
                println!("already gone {}", line(s));
            }
            Err(e) => {
                let msg = crate::exit::one_line(&e);
                if msg.contains("CONFIG_INET_DIAG_DESTROY") {
                    bail!("{msg}");
                }
                eprintln!("opskit conn-audit: {}: {msg}", line(s));
                failed += 1;
            }
        }
    }
    println!(
        "closed {closed} of {} sockets; {gone} already gone; {failed} failed",
        listed.len()
    );
    Ok(if failed > 0 {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}
