//! bindstats benchmark: every output format on the 1600-zone XML v3 document (5 MB, a real
//! named with zone statistics), side by side with `xmllint --stream --noout` on the same file
//! (runs interleaved, in a rotating order, so machine load hits all alike), and opskit's
//! peak RSS.
//! `cargo bench --bench bindstats`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{median, run};

/// (label, arguments before `--file`)
const CASES: &[(&str, &[&str])] = &[
    ("munin values (MASTERZONES autodetected)", &[]),
    (
        "munin values (MASTERZONES=example.com)",
        &["--master-zones", "example.com"],
    ),
    ("--format prometheus", &["--format", "prometheus"]),
    ("--format json", &["--format", "json"]),
];

fn main() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/bind/bind-9.18.49-lab-xml-v3-full-1600zones.xml.gz");
    if !src.exists() {
        eprintln!("SKIP: {} is absent", src.display());
        return;
    }
    let file = std::env::temp_dir().join(format!("opskit-bind-bench-{}.xml", std::process::id()));
    let out = file.with_extension("out");
    // decompressed straight to the file: the bench stays small (see common)
    std::io::copy(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&src).unwrap()),
        &mut std::fs::File::create(&file).unwrap(),
    )
    .unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    let bin = common::installed_copy("bind");
    let runs = 30;
    let mut ours = vec![Vec::new(); CASES.len()];
    let mut rss = vec![0; CASES.len()];
    let mut lint = Vec::new();
    // each round starts at another case (xmllint included), so no case always runs right
    // after the same neighbour (the first run after xmllint was up to 1.5 ms slower)
    for round in 0..runs {
        for k in 0..=CASES.len() {
            let i = (round + k) % (CASES.len() + 1);
            let Some((_, args)) = CASES.get(i) else {
                lint.push(
                    run(
                        Command::new("xmllint")
                            .args(["--stream", "--noout"])
                            .arg(&file),
                        &out,
                    )
                    .wall,
                );
                continue;
            };
            let r = run(
                Command::new(&bin)
                    .arg("bindstats")
                    .args(*args)
                    .arg("--file")
                    .arg(&file),
                &out,
            );
            ours[i].push(r.wall);
            rss[i] = rss[i].max(r.rss_kib);
        }
    }
    let l = median(lint);
    println!("document: {size} bytes (1600 zones, zone statistics), {runs} runs each");
    println!("xmllint --stream --noout: median {:.1} ms", l * 1e3);
    for (i, (label, _)) in CASES.iter().enumerate() {
        let o = median(std::mem::take(&mut ours[i]));
        println!(
            "opskit bindstats {label}: median {:.1} ms, ratio {:.2} (budget 0.25), peak RSS {} KiB",
            o * 1e3,
            o / l,
            rss[i]
        );
    }
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&bin);
}
