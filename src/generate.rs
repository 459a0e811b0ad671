//! Man pages and shell completions, generated from the clap definitions in [`crate::cli`].
//!
//! They are checked in under `man/` and `completions/`; `tests/generated.rs` fails when they
//! are stale, and `OPSKIT_BLESS=1 cargo test --test hermetic generated` rewrites them
//! (as does the hidden `opskit generate --out-dir .`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory;
use clap_complete::Shell;

/// Every generated file, keyed by its path relative to the repository root.
pub fn artifacts() -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    // the plain version only: the pages must not change with the git commit
    let mut cmd = crate::cli::Cli::command().long_version(None::<&str>);
    cmd.build();

    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .context("rendering opskit.1")?;
    out.insert("man/opskit.1".to_string(), buf);

    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let name = format!("opskit-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("opskit {}", sub.get_name()));
        let mut buf = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut buf)
            .with_context(|| format!("rendering {name}.1"))?;
        out.insert(format!("man/{name}.1"), buf);
    }

    for (shell, file) in [
        (Shell::Bash, "completions/opskit.bash"),
        (Shell::Zsh, "completions/_opskit"),
        (Shell::Fish, "completions/opskit.fish"),
    ] {
        let mut buf = Vec::new();
        let mut c = crate::cli::Cli::command();
        clap_complete::generate(shell, &mut c, "opskit", &mut buf);
        out.insert(file.to_string(), buf);
    }
    Ok(out)
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
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
    }

    #[test]
    fn every_tool_has_a_man_page() {
        let a = super::artifacts().unwrap();
        for t in crate::cli::TOOLS {
            assert!(a.contains_key(&format!("man/opskit-{t}.1")), "{t}");
        }
        assert!(!a.keys().any(|k| k.contains("generate")));
    }
}
