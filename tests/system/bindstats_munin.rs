//! bindstats under munin's own tools: `munin-node-configure --suggest` finds it through the
//! magic markers of a wrapper script (as packaged) and its `autoconf`/`suggest` answers.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::bindstats_perl::serve_v2;
use crate::util::{bin, free_port, require_tool, run, shared_fixtures, which};

fn wrapper(path: &std::path::Path, url: &str, caps: &str) {
    std::fs::write(
        path,
        format!(
            "#!/bin/sh\n#%# family=auto\n#%# capabilities={caps}\nurl={url} exec {} bindstats \"$@\"\n",
            bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn configure(url: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let (lib, services, conf) = (
        tmp.path().join("lib"),
        tmp.path().join("services"),
        tmp.path().join("conf"),
    );
    for d in [&lib, &services, &conf] {
        std::fs::create_dir(d).unwrap();
    }
    // the plain plugin (as packaged) and a wildcard link munin asks for suggestions
    wrapper(&lib.join("bind9_opskit"), url, "autoconf");
    wrapper(&lib.join("bind9_"), url, "autoconf suggest");
    std::fs::write(conf.join("bind9"), "[bind9*]\nuser root\n").unwrap();
    let node_conf = tmp.path().join("munin-node.conf");
    std::fs::write(&node_conf, "").unwrap();
    let (code, out, err) = run(Command::new(which("munin-node-configure").unwrap())
        .arg("--suggest")
        .arg("--config")
        .arg(&node_conf)
        .arg("--libdir")
        .arg(&lib)
        .arg("--servicedir")
        .arg(&services)
        .arg("--sconfdir")
        .arg(&conf));
    assert_eq!(code, 0, "{out} {err}");
    out
}

#[test]
fn munin_node_configure_suggests_the_plugin_when_bind_answers() {
    if !require_tool("munin-node-configure") {
        return;
    }
    let Some(dir) = shared_fixtures("bind") else {
        return;
    };
    let doc = std::fs::read(dir.join("bind_exporter-v0.7.0-v2.xml")).unwrap();
    let port = serve_v2(doc);
    let out = configure(&format!("http://127.0.0.1:{port}/"));
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} line: {out}"))
            .to_string()
    };
    // Plugin | Used | Suggestions
    let plain = line("bind9_opskit");
    assert!(plain.contains("| yes"), "{out}");
    let wild = line("bind9_");
    assert!(wild.contains("+opskit"), "{out}");
    // BIND down: autoconf says no with the reason, nothing is suggested
    let out = configure(&format!("http://127.0.0.1:{}/", free_port()));
    assert!(!out.contains("+opskit"), "{out}");
    assert!(
        out.contains("bind9_opskit") && out.contains("| no"),
        "{out}"
    );
}
