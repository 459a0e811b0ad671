//! Man pages and shell completions, generated from the clap definitions in [`crate::cli`] and
//! the reference text in [`crate::manual`].
//!
//! They are checked in under `man/` and `completions/`; `tests/hermetic/generated.rs` fails
//! when they are stale, and `OPSKIT_BLESS=1 cargo test --test hermetic generated` rewrites
//! them (as does the hidden `opskit generate --out-dir .`).
//!
//! A page is clap_mangen's NAME, DESCRIPTION and OPTIONS, a SYNOPSIS written here (with
//! option arguments), then the manual's own sections (EXAMPLES, EXIT STATUS, FILES,
//! ENVIRONMENT, SEE ALSO...) as real roff sections; long text lines are wrapped so that
//! `mandoc -T lint` has nothing to say.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use clap::{ArgAction, Command};
use clap_complete::Shell;

use crate::manual;

/// Every generated file, keyed by its path relative to the repository root.
pub fn artifacts() -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    // the plain version only: the pages must not change with the git commit; no `help`
    // subcommand on the page (there is no opskit-help(1))
    let mut cmd = manual::command()
        .long_version(None::<&str>)
        .disable_help_subcommand(true);
    cmd.build();

    out.insert("man/opskit.1".to_string(), page(&cmd, "opskit", None)?);
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let tool = sub.get_name();
        let name = format!("opskit-{tool}");
        let page_cmd = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("opskit {tool}"));
        out.insert(format!("man/{name}.1"), page(&page_cmd, &name, Some(tool))?);
    }

    let mut visible = visible(&manual::command());
    visible.build();
    for (shell, file) in [
        (Shell::Bash, "completions/opskit.bash"),
        (Shell::Zsh, "completions/_opskit"),
        (Shell::Fish, "completions/opskit.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut visible.clone(), "opskit", &mut buf);
        out.insert(file.to_string(), buf);
    }
    Ok(out)
}

/// One man page: clap_mangen's sections where they are right, ours where they are not.
fn page(cmd: &Command, name: &str, tool: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let version = cmd.get_version().unwrap_or_default();
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .section("1")
        .date(manual::DATE)
        .source(format!("opskit {version}"))
        .manual("User Commands");
    let mut buf = Vec::new();
    let ctx = || format!("rendering {name}.1");
    man.render_title(&mut buf).with_context(ctx)?;
    man.render_name_section(&mut buf).with_context(ctx)?;
    buf.extend_from_slice(synopsis(cmd).as_bytes());
    man.render_description_section(&mut buf).with_context(ctx)?;
    man.render_options_section(&mut buf).with_context(ctx)?;
    if tool.is_none() {
        buf.extend_from_slice(tools_section(cmd).as_bytes());
    }
    buf.extend_from_slice(manual::to_roff(manual::sections(tool)).as_bytes());
    let text = String::from_utf8(buf).with_context(ctx)?;
    Ok(tidy(&text).into_bytes())
}

/// `opskit itop [-a|--all] [-d|--delay SECS] ... [VERB]`: every visible option with its
/// argument (clap_mangen's synopsis drops them).
fn synopsis(cmd: &Command) -> String {
    let mut parts = vec![format!(
        "\\fB{}\\fR",
        manual::roff_escape(cmd.get_bin_name().unwrap_or(cmd.get_name()))
    )];
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        if a.is_positional() {
            continue;
        }
        let mut flag = match (a.get_short(), a.get_long()) {
            (Some(s), Some(l)) => {
                format!("\\fB\\-{s}\\fR|\\fB\\-\\-{}\\fR", manual::roff_escape(l))
            }
            (Some(s), None) => format!("\\fB\\-{s}\\fR"),
            (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", manual::roff_escape(l)),
            (None, None) => continue,
        };
        if let Some(value) = value_of(a) {
            flag.push_str(&value);
        }
        let repeat = matches!(a.get_action(), ArgAction::Append | ArgAction::Count);
        let dots = if repeat { "..." } else { "" };
        parts.push(if a.is_required_set() {
            format!("{flag}{dots}")
        } else {
            format!("[{flag}]{dots}")
        });
    }
    if cmd.has_subcommands() {
        parts.push("\\fITOOL\\fR [\\fIOPTIONS\\fR]".to_string());
    }
    for a in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let v = a
            .get_value_names()
            .and_then(|v| v.first())
            .map(|v| v.to_string())
            .unwrap_or_else(|| a.get_id().to_string().to_uppercase());
        let v = format!("\\fI{}\\fR", manual::roff_escape(&v));
        parts.push(if a.is_required_set() {
            v
        } else {
            format!("[{v}]")
        });
    }
    format!(".SH SYNOPSIS\n{}\n", parts.join(" "))
}

/// ` \fIVALUE\fR`, ` [\fIVALUE\fR]` for an optional value, or nothing for a flag.
fn value_of(a: &clap::Arg) -> Option<String> {
    let range = a.get_num_args()?;
    if !range.takes_values() {
        return None;
    }
    let name = a
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| a.get_id().to_string().to_uppercase());
    let name = format!("\\fI{}\\fR", manual::roff_escape(&name));
    Some(if range.min_values() == 0 {
        format!(" [{name}]")
    } else {
        format!(" {name}")
    })
}

/// opskit(1)'s list of tools, each with its page.
fn tools_section(cmd: &Command) -> String {
    let mut out = String::from(".SH TOOLS\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        out.push_str(&format!(
            ".TP\n\\fBopskit {}\\fR, opskit\\-{}(1)\n{}\n",
            manual::roff_escape(sub.get_name()),
            manual::roff_escape(sub.get_name()),
            manual::roff_escape(&about)
        ));
    }
    out
}

/// Make clap_mangen's roff lint-clean: no trailing blanks, no `.br` around a blank line (a
/// paragraph break mandoc warns about), text lines wrapped under 80 bytes outside `.nf`.
fn tidy(text: &str) -> String {
    let text = text.replace(".br\n\n.br\n", ".sp\n");
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut nofill = false;
    let mut tag = false;
    for line in text.lines() {
        let line = line.trim_end();
        let after_tp = std::mem::replace(&mut tag, line == ".TP");
        if line.starts_with(".nf") {
            nofill = true;
        } else if line.starts_with(".fi") {
            nofill = false;
        }
        if line.is_empty() {
            // a blank text line is a paragraph break in roff: say so
            out.push_str(".sp\n");
        } else if line.starts_with('.') || line.len() <= 79 {
            out.push_str(line);
            out.push('\n');
        } else if nofill || after_tp || line.starts_with(' ') {
            // one output line, spacing kept (a command, a .TP tag, an indented table line)
            continue_roff(&mut out, line);
        } else {
            wrap_roff(&mut out, line);
        }
    }
    out
}

/// Break a line that must stay one output line, exactly as it is (a command, a `.TP` tag,
/// a line indented by spaces), into input lines joined by roff's `\` continuation: each
/// break after a space, never after a backslash.
fn continue_roff(out: &mut String, line: &str) {
    let mut rest = line;
    while rest.len() > 79 {
        let b = rest.as_bytes();
        let cut = (1..78)
            .rev()
            .find(|&i| b[i] == b' ' && b[i - 1] != b'\\' && rest.is_char_boundary(i + 1));
        let Some(i) = cut else { break };
        out.push_str(&rest[..=i]);
        out.push_str("\\\n");
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out.push('\n');
}

/// Break a filled text line at spaces (never after a backslash: `\ ` is a character, and a
/// trailing `\` would join lines) into lines under 80 bytes where the words allow it.
fn wrap_roff(out: &mut String, line: &str) {
    let mut current = String::new();
    for word in split_roff_words(line) {
        if !current.is_empty() && current.len() + 1 + word.len() > 79 {
            out.push_str(&current);
            out.push('\n');
            current.clear();
        }
        if current.is_empty() {
            if word.starts_with('.') || word.starts_with('\'') {
                current.push_str("\\&");
            }
        } else {
            current.push(' ');
        }
        current.push_str(word);
    }
    out.push_str(&current);
    out.push('\n');
}

fn split_roff_words(line: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = 0;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b' ' && (i == 0 || bytes[i - 1] != b'\\') {
            if i > start {
                words.push(&line[start..i]);
            }
            start = i + 1;
        }
    }
    if start < line.len() {
        words.push(&line[start..]);
    }
    words
}

/// The command without its hidden subcommands and options, for the completion scripts
/// (clap_complete's zsh script offers them otherwise).
fn visible(cmd: &Command) -> Command {
    let mut out = Command::new(cmd.get_name().to_string());
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(version.to_string());
    }
    out = out
        .propagate_version(cmd.is_propagate_version_set())
        .subcommand_required(cmd.is_subcommand_required_set());
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        out = out.arg(a.clone());
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(visible(sub));
    }
    out
}

/// Write every artifact under `dir`.
pub(crate) fn write_all(dir: &Path) -> anyhow::Result<()> {
    for (rel, bytes) in artifacts()? {
        let p = dir.join(&rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        super::super::manual::command().debug_assert();
    }

    #[test]
    fn every_tool_has_a_man_page() {
        let a = super::artifacts().unwrap();
        for t in crate::cli::TOOLS {
            assert!(a.contains_key(&format!("man/opskit-{t}.1")), "{t}");
        }
        assert!(!a.keys().any(|k| k.contains("generate")));
    }

    #[test]
    fn continued_lines_join_back_exactly() {
        let line = format!(
            "  label      {} a\\ b {}",
            "word ".repeat(14),
            "y".repeat(40)
        );
        let mut out = String::new();
        super::continue_roff(&mut out, &line);
        assert!(out.lines().count() > 1, "{out}");
        assert!(out.lines().all(|l| l.len() < 80), "{out}");
        assert_eq!(out.replace("\\\n", "").trim_end(), line);
    }

    #[test]
    fn roff_lines_are_wrapped_at_spaces_only() {
        let mut out = String::new();
        let long = format!("{} a\\ b {}", "word ".repeat(15), "x".repeat(90));
        super::wrap_roff(&mut out, &long);
        assert!(out.contains("a\\ b"), "{out}");
        assert!(out.lines().all(|l| !l.ends_with('\\')), "{out}");
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(words(&out), words(&long));
    }
}
