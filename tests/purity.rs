//! The shared core (`src/domain/`) stays free of I/O. (Address *types* from std::net are
//! plain values and allowed; sockets and name resolution are not.)

use crate::util::repo;

#[test]
fn domain_has_no_io() {
    let forbidden = [
        "std::fs",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "ToSocketAddrs",
        "std::env",
        "std::process",
        "reqwest",
        "crossterm",
        "ratatui",
        "Instant::now",
        "SystemTime::now",
        "std::io::stdin",
        "std::io::stdout",
        "println!",
        "eprintln!",
        "crate::sys",
    ];
    let mut bad = Vec::new();
    for e in std::fs::read_dir(repo().join("src/domain")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            // unit tests may read fixtures
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for f in forbidden {
                if code.contains(f) {
                    bad.push(format!("{} uses {f}", p.display()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "I/O in the pure core: {bad:#?}");
}
