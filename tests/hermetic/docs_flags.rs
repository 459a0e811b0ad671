//! The commands the docs show: every shell command of the README's code blocks and of the man
//! pages' EXAMPLES sections, and the check that every option they give opskit exists in that
//! tool's `--help`. `tests/system/docs_commands.rs` (which includes this file) runs them.

use std::path::Path;

use crate::util::{opskit, repo, run};

/// A command as the docs write it, where it was found, and (for a `$ command` line of a
/// console block) the output the docs show for it.
#[derive(Debug, Clone)]
pub struct DocCommand {
    pub origin: String,
    pub text: String,
    pub shown: Option<String>,
}

/// The README's commands: each line of a ```sh block (a trailing `  # comment` removed), and
/// each `$ ` line of a ```console block with the lines after it as its output.
pub fn readme_commands(readme: &str) -> Vec<DocCommand> {
    let mut out = Vec::new();
    let mut block: Option<&str> = None;
    for (i, line) in readme.lines().enumerate() {
        let origin = format!("README.md:{}", i + 1);
        if let Some(fence) = line.strip_prefix("```") {
            block = match block {
                None => Some(if fence.is_empty() { "text" } else { fence }),
                Some(_) => None,
            };
            continue;
        }
        match block {
            Some("sh") => {
                let cmd = strip_comment(line);
                if !cmd.is_empty() {
                    out.push(DocCommand {
                        origin,
                        text: cmd.to_string(),
                        shown: None,
                    });
                }
            }
            Some("console") => {
                if let Some(cmd) = line.strip_prefix("$ ") {
                    out.push(DocCommand {
                        origin,
                        text: cmd.to_string(),
                        shown: Some(String::new()),
                    });
                } else if let Some(last) = out.last_mut().and_then(|c| c.shown.as_mut()) {
                    last.push_str(line);
                    last.push('\n');
                }
            }
            _ => {}
        }
    }
    out
}

/// A `sh` line without its comment: the docs put two spaces before a trailing `# `.
fn strip_comment(line: &str) -> &str {
    let line = line.trim();
    if line.starts_with('#') {
        return "";
    }
    match line.find("  # ") {
        Some(i) => line[..i].trim_end(),
        None => line,
    }
}

/// The commands of a man page's EXAMPLES section: the tag line of each `.TP` (continued
/// with `\` over input lines), with the roff escapes undone.
pub fn man_examples(page: &str, name: &str) -> Vec<DocCommand> {
    let mut out = Vec::new();
    let mut in_examples = false;
    let mut lines = page.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if let Some(title) = line.strip_prefix(".SH ") {
            in_examples = title.trim_matches('"') == "EXAMPLES";
            continue;
        }
        if !in_examples || line != ".TP" {
            continue;
        }
        let mut tag = String::new();
        for (_, l) in lines.by_ref() {
            match l.strip_suffix('\\') {
                Some(part) => tag.push_str(part),
                None => {
                    tag.push_str(l);
                    break;
                }
            }
        }
        out.push(DocCommand {
            origin: format!("man/{name}:{}", i + 2),
            text: unroff(&tag),
            shown: None,
        });
    }
    out
}

/// Roff text back to plain text (the escapes `opskit::manual::roff_escape` writes, and fonts).
fn unroff(s: &str) -> String {
    s.replace("\\fB", "")
        .replace("\\fR", "")
        .replace("\\fI", "")
        .replace("\\-", "-")
        .replace("\\(aq", "'")
        .replace("\\(ga", "`")
        .replace("\\(dq", "\"")
        .replace("\\&", "")
        .replace("\\e", "\\")
}

/// Every command of the README and of every checked-in man page's EXAMPLES.
pub fn all_commands() -> Vec<DocCommand> {
    let root = repo();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut cmds = readme_commands(&readme);
    let mut pages: Vec<_> = std::fs::read_dir(root.join("man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    for p in pages {
        let text = std::fs::read_to_string(&p).unwrap();
        cmds.extend(man_examples(&text, &file_name(&p)));
    }
    cmds
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The opskit invocations in a command line: (tool, the options given before the tool, the
/// options given to it). Pipelines and lists are split at `|`, `;`, `&&` and `||`.
pub fn opskit_calls(cmd: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut calls = Vec::new();
    for seg in cmd.split(['|', ';', '&']) {
        let words: Vec<&str> = seg.split_whitespace().collect();
        let Some(start) = words.iter().position(|w| *w == "opskit") else {
            continue;
        };
        let mut global = Vec::new();
        let mut rest = words[start + 1..].iter();
        let mut tool = None;
        while let Some(w) = rest.next() {
            if w.starts_with('-') {
                global.push(w.to_string());
                if *w == "--root" {
                    rest.next();
                }
            } else {
                tool = Some(w.to_string());
                break;
            }
        }
        let Some(tool) = tool else { continue };
        let opts = rest
            .filter(|w| is_option(w))
            .map(|w| w.split('=').next().unwrap_or(w).to_string())
            .collect();
        calls.push((tool, global, opts));
    }
    calls
}

/// `--long`, `--long=value` or `-x`; not a negative number or a value such as `-5:5`.
fn is_option(w: &str) -> bool {
    if let Some(long) = w.strip_prefix("--") {
        return long.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    }
    w.len() == 2 && w.starts_with('-') && w.as_bytes()[1].is_ascii_alphabetic()
}

/// Whether `help` (clap's `--help` text) documents the option `opt`: a line such as
/// `  -d, --delay <SECS>` or `      --watch [<INTERVAL>]` names it.
fn documents(help: &str, opt: &str) -> bool {
    help.lines().any(|l| {
        let l = l.trim_start();
        let head = l.split("  ").next().unwrap_or(l);
        l.starts_with('-')
            && head
                .split(", ")
                .any(|p| p.split([' ', '[', '=']).next() == Some(opt))
    })
}

/// Every option a doc command gives opskit that the tool's `--help` does not document, as
/// `origin: tool option`.
pub fn undocumented_options(cmds: &[DocCommand]) -> Vec<String> {
    let mut helps = std::collections::HashMap::new();
    let mut help_of = |tool: &str| -> Option<String> {
        helps
            .entry(tool.to_string())
            .or_insert_with(|| {
                let mut c = opskit();
                if !tool.is_empty() {
                    c.arg(tool);
                }
                let (code, out, _) = run(c.arg("--help"));
                (code == 0).then_some(out)
            })
            .clone()
    };
    let mut missing = Vec::new();
    for c in cmds {
        for (tool, global, opts) in opskit_calls(&c.text) {
            let top = help_of("").unwrap_or_default();
            for g in &global {
                if !documents(&top, g) {
                    missing.push(format!("{}: opskit {g}", c.origin));
                }
            }
            let Some(help) = help_of(&tool) else {
                missing.push(format!("{}: opskit {tool} (no such tool)", c.origin));
                continue;
            };
            for o in &opts {
                if !documents(&help, o) {
                    missing.push(format!("{}: opskit {tool} {o}", c.origin));
                }
            }
        }
    }
    missing
}

#[test]
fn the_docs_show_commands_for_every_tool() {
    let cmds = all_commands();
    for tool in ["itop", "bindstats", "ssd-align", "conn-audit"] {
        let n = cmds
            .iter()
            .filter(|c| c.origin.starts_with("README"))
            .filter(|c| opskit_calls(&c.text).iter().any(|(t, _, _)| t == tool))
            .count();
        assert!(n >= 2, "the README shows {n} {tool} commands");
        let page = format!("man/opskit-{tool}.1:");
        let n = cmds.iter().filter(|c| c.origin.starts_with(&page)).count();
        assert!(n >= 4, "{page} has {n} examples");
    }
}

#[test]
fn every_option_the_docs_give_opskit_exists() {
    let missing = undocumented_options(&all_commands());
    assert!(missing.is_empty(), "options not in --help: {missing:#?}");
}

#[test]
fn an_option_that_does_not_exist_is_caught() {
    // the healthy twin of the check above: it must see a wrong option
    let bad = readme_commands(
        "```sh\nopskit itop --no-such-flag -b\nopskit --rooot itop\nopskit itp -b\n```\n",
    );
    let missing = undocumented_options(&bad);
    assert_eq!(
        missing,
        [
            "README.md:2: opskit itop --no-such-flag",
            "README.md:3: opskit --rooot",
            "README.md:4: opskit itp (no such tool)",
        ],
    );
}

#[test]
fn commands_are_extracted_as_written() {
    let cmds = readme_commands(
        "text\n```sh\n# a comment\nopskit itop -b  # samples\n```\n```console\n$ opskit x\nout 1\nout 2\n$ true\n```\n",
    );
    let got: Vec<_> = cmds
        .iter()
        .map(|c| (c.text.as_str(), c.shown.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("opskit itop -b", None),
            ("opskit x", Some("out 1\nout 2\n")),
            ("true", Some("")),
        ]
    );
    let page = ".SH EXAMPLES\n.TP\n\\fBopskit itop \\-b \\e \\\n| jq \\(aq.x\\(aq\\fR\nwhat it does\n.SH FILES\n.TP\nnot a command\n";
    let ex = man_examples(page, "p.1");
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].text, "opskit itop -b \\ | jq '.x'");
    assert_eq!(
        opskit_calls(
            "opskit --root /x itop -b -n 2 --format=json | jq . && opskit conn-audit --idle 5m"
        ),
        [
            (
                "itop".to_string(),
                vec!["--root".to_string()],
                vec!["-b".into(), "-n".into(), "--format".into()]
            ),
            ("conn-audit".to_string(), vec![], vec!["--idle".to_string()]),
        ]
    );
}
