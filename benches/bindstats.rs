//! bindstats benchmark: parse + munin values of the 1600-zone XML v3 document (5 MB, a real
//! named with zone statistics), side by side with `xmllint --stream --noout` on the same file,
//! and opskit's peak RSS. `cargo bench --bench bindstats`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{median, run};

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
    let bin = env!("CARGO_BIN_EXE_opskit");
    let runs = 20;
    let mut ours = Vec::new();
    let mut rss = 0;
    let mut lint = Vec::new();
    for _ in 0..runs {
        let r = run(
            Command::new(bin)
                .args(["bindstats", "--master-zones", "example.com", "--file"])
                .arg(&file),
            &out,
        );
        ours.push(r.wall);
        rss = rss.max(r.rss_kib);
        lint.push(
            run(
                Command::new("xmllint")
                    .args(["--stream", "--noout"])
                    .arg(&file),
                &out,
            )
            .wall,
        );
    }
    let (o, l) = (median(ours), median(lint));
    println!("document: {} bytes (1600 zones, zone statistics)", size);
    println!("opskit bindstats --file (parse + munin values, process included): median {:.1} ms, peak RSS {} KiB", o * 1e3, rss);
    println!("xmllint --stream --noout: median {:.1} ms", l * 1e3);
    println!("ratio: {:.2} (budget 0.5, RSS budget 16 MiB)", o / l);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&out);
}
