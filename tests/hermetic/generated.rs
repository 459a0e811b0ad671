//! The checked-in man pages and completions match the clap definitions.

use crate::util::repo;

#[test]
fn man_pages_and_completions_are_fresh() {
    let bless = std::env::var_os("OPSKIT_BLESS").is_some();
    let mut stale = Vec::new();
    for (rel, want) in opskit::api::artifacts().unwrap() {
        let p = repo().join(&rel);
        if std::fs::read(&p).ok().as_deref() != Some(&want[..]) {
            if bless {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, &want).unwrap();
            } else {
                stale.push(rel);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run `OPSKIT_BLESS=1 cargo test --test hermetic generated`"
    );
}

#[test]
fn every_checked_in_page_is_still_generated() {
    let want = opskit::api::artifacts().unwrap();
    for dir in ["man", "completions"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let rel = format!("{dir}/{}", e.unwrap().file_name().to_string_lossy());
            assert!(
                want.contains_key(&rel),
                "{rel} is no longer generated: delete it"
            );
        }
    }
}

fn pages() -> Vec<(String, String)> {
    opskit::api::artifacts()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k.starts_with("man/"))
        .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
        .collect()
}

#[test]
fn completions_offer_no_hidden_items() {
    for (rel, bytes) in opskit::api::artifacts().unwrap() {
        if !rel.starts_with("completions/") {
            continue;
        }
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains("conn-audit"),
            "{rel}: not a completion script"
        );
        assert!(
            text.contains("master-zones"),
            "{rel}: lost a visible option"
        );
        for hidden in ["generate", "instance"] {
            assert!(!text.contains(hidden), "{rel} offers the hidden {hidden}");
        }
    }
}

#[test]
fn man_pages_have_real_sections_and_cite_real_pages() {
    let pages = pages();
    let names: Vec<String> = pages
        .iter()
        .map(|(k, _)| {
            k.trim_start_matches("man/")
                .trim_end_matches(".1")
                .to_string()
        })
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    for (rel, text) in &pages {
        let th = text.lines().find(|l| l.starts_with(".TH ")).unwrap();
        // a date mandoc can parse: YYYY-MM-DD
        let date = th.split_whitespace().nth(3).unwrap();
        assert!(
            date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
            "{rel}: .TH date {date:?}"
        );
        let sections: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(".SH "))
            .map(|s| s.trim_matches('"'))
            .collect();
        let mut want = vec![
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "EXAMPLES",
            "EXIT STATUS",
            "SEE ALSO",
        ];
        if rel != "man/opskit.1" {
            want.extend(["ENVIRONMENT", "FILES", "JSON FIELDS"]);
        }
        for w in want {
            assert!(
                sections.contains(&w),
                "{rel}: no {w} section in {sections:?}"
            );
        }
        for bad in ["EXTRA", "VERSION"] {
            assert!(
                !sections.contains(&bad),
                "{rel}: non-standard {bad} section"
            );
        }
        // every opskit page cited exists
        for (i, _) in text.match_indices("opskit\\-") {
            let rest = &text[i..];
            if let Some(end) = rest.find("(1)") {
                let cited = rest[..end].replace("\\-", "-");
                if !cited.contains(' ') && !cited.contains('\n') {
                    assert!(
                        names.contains(&cited),
                        "{rel} cites {cited}(1), which is not generated"
                    );
                }
            }
        }
        assert!(!text.contains("opskit\\-help"), "{rel} cites opskit-help");
    }
}

#[test]
fn synopsis_shows_option_arguments() {
    let pages = pages();
    let itop = &pages
        .iter()
        .find(|(k, _)| k == "man/opskit-itop.1")
        .unwrap()
        .1;
    let synopsis: String = itop
        .split(".SH SYNOPSIS\n")
        .nth(1)
        .unwrap()
        .split(".SH")
        .next()
        .unwrap()
        .replace('\n', " ");
    assert!(
        synopsis.contains("[\\fB\\-d\\fR|\\fB\\-\\-delay\\fR \\fISECS\\fR]"),
        "{synopsis}"
    );
    assert!(
        synopsis.contains("[\\fB\\-\\-from\\fR \\fIFILE\\fR]..."),
        "{synopsis}"
    );
    let conn = &pages
        .iter()
        .find(|(k, _)| k == "man/opskit-conn-audit.1")
        .unwrap()
        .1;
    assert!(
        conn.contains("[\\fB\\-\\-watch\\fR [\\fIINTERVAL\\fR]]"),
        "optional value"
    );
    let ssd = &pages
        .iter()
        .find(|(k, _)| k == "man/opskit-ssd-align.1")
        .unwrap()
        .1;
    assert!(
        ssd.contains(" \\fB\\-\\-erase\\-block\\fR \\fISIZE\\fR "),
        "required option unbracketed"
    );
}

#[test]
fn long_help_carries_the_manual_and_short_help_does_not() {
    use crate::util::{opskit, run};
    for (tool, section) in [
        ("itop", "TUI KEYS:"),
        ("bindstats", "ENVIRONMENT:"),
        ("ssd-align", "JSON FIELDS:"),
        ("conn-audit", "EXIT STATUS:"),
    ] {
        let (code, out, err) = run(opskit().args([tool, "--help"]));
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(section), "{tool} --help lacks {section}");
        assert!(out.contains("SEE ALSO:"), "{tool} --help lacks SEE ALSO");
        let (_, short, _) = run(opskit().args([tool, "-h"]));
        assert!(
            !short.contains("SEE ALSO:"),
            "{tool} -h carries the long text"
        );
    }
}
