//! argv[0] dispatch: `opskit` under another name (a symlink) runs the tool of that name.
//!
//! Pure: a rewrite of argv into the canonical `opskit TOOL ARGS...` form, then one clap parse.
//! The match is on the whole file name (`Path::file_name`), never its stem: munin plugin links
//! such as `bind9_opskit.example.com` carry dots.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::Path;

/// How a program name maps to a tool.
struct Rule {
    /// The name (exact) or prefix the program name must have.
    name: &'static str,
    prefix: bool,
    tool: &'static str,
    /// Arguments the name implies (unless the command line sets `--format` itself).
    format: Option<&'static str>,
    /// The name's suffix after the first `_` names an instance (`bind9_ns1` -> `--instance
    /// ns1`), except these plain plugin names.
    instance_unless: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        name: "itop",
        prefix: false,
        tool: "itop",
        format: None,
        instance_unless: &[],
    },
    Rule {
        name: "bindstats",
        prefix: false,
        tool: "bindstats",
        format: None,
        instance_unless: &[],
    },
    // munin plugin links: any name starting with `bind` (bind9_opskit, bind9_statchannel, ...);
    // another suffix is an instance with its own graph names and state (bind9_ns1)
    Rule {
        name: "bind",
        prefix: true,
        tool: "bindstats",
        format: None,
        instance_unless: &["opskit", "statchannel"],
    },
    Rule {
        name: "ssd-align",
        prefix: false,
        tool: "ssd-align",
        format: None,
        instance_unless: &[],
    },
    Rule {
        name: "ssd_align",
        prefix: false,
        tool: "ssd-align",
        format: None,
        instance_unless: &[],
    },
    Rule {
        name: "conn-audit",
        prefix: true,
        tool: "conn-audit",
        format: None,
        instance_unless: &[],
    },
    Rule {
        // a munin plugin link (munin's underscore naming): munin-node fetches with no
        // arguments at all
        name: "conn_audit",
        prefix: true,
        tool: "conn-audit",
        format: Some("munin"),
        instance_unless: &[],
    },
];

/// A program name that is neither `opskit` nor a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownName(pub(crate) String);

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown program name '{}': run as 'opskit TOOL' or through a link named itop, \
             bindstats, bind* (munin plugin), ssd-align or conn-audit*",
            self.0
        )
    }
}

impl std::error::Error for UnknownName {}

fn rule_for(name: &OsStr) -> Result<Option<&'static Rule>, UnknownName> {
    let Some(name) = name.to_str() else {
        return Err(UnknownName(name.to_string_lossy().into_owned()));
    };
    if name.starts_with("opskit") || name.is_empty() {
        return Ok(None);
    }
    RULES
        .iter()
        .filter(|r| {
            if r.prefix {
                name.starts_with(r.name)
            } else {
                name == r.name
            }
        })
        .max_by_key(|r| (r.name.len(), !r.prefix))
        .map(Some)
        .ok_or_else(|| UnknownName(name.to_string()))
}

/// The instance a link name implies under `rule`, if any.
fn instance<'a>(rule: &Rule, name: &'a OsStr) -> Option<&'a str> {
    if rule.instance_unless.is_empty() {
        return None;
    }
    let (_, suffix) = name.to_str()?.split_once('_')?;
    (!suffix.is_empty() && !rule.instance_unless.contains(&suffix)).then_some(suffix)
}

/// Rewrite argv so that clap always sees `opskit TOOL ARGS...` (or plain `opskit ARGS...`).
pub(crate) fn normalize(argv: Vec<OsString>) -> Result<Vec<OsString>, UnknownName> {
    let mut it = argv.into_iter();
    let Some(argv0) = it.next() else {
        return Ok(vec![OsString::from("opskit")]);
    };
    let name = Path::new(&argv0)
        .file_name()
        .map(OsStr::to_os_string)
        .unwrap_or_default();
    let mut out = vec![OsString::from("opskit")];
    let rest: Vec<OsString> = it.collect();
    if let Some(rule) = rule_for(&name)? {
        out.push(OsString::from(rule.tool));
        let has_format = rest
            .iter()
            .any(|a| a.to_str().is_some_and(|a| a.starts_with("--format")));
        if let Some(f) = rule.format.filter(|_| !has_format) {
            out.extend([OsString::from("--format"), OsString::from(f)]);
        }
        if let Some(i) = instance(rule, &name) {
            out.extend([OsString::from("--instance"), OsString::from(i)]);
        }
    }
    out.extend(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(args: &[&str]) -> Result<Vec<String>, UnknownName> {
        normalize(args.iter().map(OsString::from).collect()).map(|v| {
            v.into_iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect()
        })
    }

    #[test]
    fn opskit_itself_is_unchanged() {
        assert_eq!(
            n(&["/usr/bin/opskit", "itop", "-t"]).unwrap(),
            ["opskit", "itop", "-t"]
        );
        assert_eq!(
            n(&["target/debug/deps/opskit-1a2b", "-V"]).unwrap(),
            ["opskit", "-V"]
        );
    }

    #[test]
    fn tool_names_select_the_tool() {
        assert_eq!(
            n(&["/usr/local/bin/itop", "-t"]).unwrap(),
            ["opskit", "itop", "-t"]
        );
        assert_eq!(
            n(&["ssd-align", "x"]).unwrap(),
            ["opskit", "ssd-align", "x"]
        );
        assert_eq!(n(&["conn-audit"]).unwrap(), ["opskit", "conn-audit"]);
    }

    #[test]
    fn munin_links_with_dots_use_the_whole_file_name() {
        assert_eq!(
            n(&["/etc/munin/plugins/bind9_opskit", "config"]).unwrap(),
            ["opskit", "bindstats", "config"]
        );
        assert_eq!(
            n(&["/etc/munin/plugins/bind9_ns1.example.com"]).unwrap(),
            ["opskit", "bindstats", "--instance", "ns1.example.com"]
        );
        for plain in ["bind9_opskit", "bind9_statchannel", "bind9", "bindstats"] {
            assert_eq!(
                n(&[plain, "config"]).unwrap(),
                ["opskit", "bindstats", "config"]
            );
        }
        assert_eq!(
            n(&["/etc/munin/plugins/conn_audit_apache"]).unwrap(),
            ["opskit", "conn-audit", "--format", "munin"]
        );
        assert_eq!(
            n(&["/etc/munin/plugins/conn_audit", "config"]).unwrap(),
            ["opskit", "conn-audit", "--format", "munin", "config"]
        );
        // the dash name is the command, not a plugin
        assert_eq!(
            n(&["/usr/local/bin/conn-audit", "--port", "80"]).unwrap(),
            ["opskit", "conn-audit", "--port", "80"]
        );
    }

    #[test]
    fn unknown_names_are_an_error_naming_the_known_ones() {
        let e = n(&["/usr/bin/frobnicate"]).unwrap_err();
        assert_eq!(e.0, "frobnicate");
        let msg = e.to_string();
        for t in ["itop", "bindstats", "ssd-align", "conn-audit"] {
            assert!(msg.contains(t), "{msg}");
        }
        // a stem match would wrongly accept "itop.sh"
        assert!(n(&["itop.sh"]).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_are_an_error_not_a_panic() {
        use std::os::unix::ffi::OsStringExt;
        let argv = vec![OsString::from_vec(vec![b'i', 0xff, b'p'])];
        assert!(normalize(argv).is_err());
    }
}
