//! bindstats over HTTP against misbehaving servers on 127.0.0.1: one deadline for the whole
//! run (a trickled body, slow subsets), a kept-alive connection closed under a request,
//! redirects, IPv6 HOST, a bad env.timeout.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::{opskit, run, shared_fixtures, skip_expected};

/// What the server does with one request: (path, index of the request on its connection).
type Handler = dyn Fn(&str, usize, &mut TcpStream) -> bool + Send + Sync;

/// Serve every connection on its own thread with `h`; `h` returns false to close.
fn server(l: TcpListener, h: Arc<Handler>) -> u16 {
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let h = h.clone();
            std::thread::spawn(move || serve_conn(s, &*h));
        }
    });
    port
}

fn serve_conn(mut s: TcpStream, h: &Handler) {
    let mut i = 0;
    loop {
        let mut req = Vec::new();
        let mut b = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => req.push(b[0]),
                _ => return,
            }
        }
        let path = String::from_utf8_lossy(&req)
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        if !h(&path, i, &mut s) {
            return;
        }
        i += 1;
    }
}

fn local() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

fn respond(s: &mut TcpStream, body: &[u8]) -> bool {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).is_ok() && s.write_all(body).is_ok()
}

fn fixture(name: &str) -> Option<Vec<u8>> {
    shared_fixtures("bind").map(|d| std::fs::read(d.join(name)).unwrap())
}

/// v3 subsets from the 9.18 lab captures.
fn v3_handler(delay: Duration) -> Option<Arc<Handler>> {
    let dir = shared_fixtures("bind")?;
    let read =
        move |p: &str| std::fs::read(dir.join(format!("bind-9.18.49-lab-xml-v3-{p}.xml"))).ok();
    Some(Arc::new(move |path: &str, _i, s: &mut TcpStream| {
        std::thread::sleep(delay);
        match path.strip_prefix("/xml/v3/").and_then(&read) {
            Some(b) => respond(s, &b),
            None => s
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .is_ok(),
        }
    }))
}

fn timed(args: &[&str]) -> (i32, String, String, Duration) {
    let t0 = Instant::now();
    let (c, o, e) = run(opskit().arg("bindstats").args(args));
    (c, o, e, t0.elapsed())
}

#[test]
fn a_trickled_body_ends_at_the_deadline() {
    let port = server(
        local(),
        Arc::new(|_p: &str, _i, s: &mut TcpStream| {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n<",
            );
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(300));
                if s.write_all(b" ").is_err() {
                    break;
                }
            }
            false
        }),
    );
    let url = format!("http://127.0.0.1:{port}/");
    let (code, out, err, took) = timed(&["--format", "json", "--timeout", "3s", "--url", &url]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("timed out") && err.contains(&url), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(took < Duration::from_millis(3500), "{took:?}");
    assert!(took >= Duration::from_millis(2900), "{took:?}");
}

#[test]
fn slow_subsets_share_one_deadline() {
    // each of the 5 subset requests takes 1.2 s: fine alone, 6 s together
    let Some(h) = v3_handler(Duration::from_millis(1200)) else {
        return;
    };
    let port = server(local(), h);
    let url = format!("http://127.0.0.1:{port}/");
    let (code, out, err, took) = timed(&["--format", "json", "--timeout", "3s", "--url", &url]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("timed out"), "{err}");
    assert!(took < Duration::from_millis(3500), "{took:?}");
    // munin: every value unknown, within the deadline too
    let (code, out, err, took) = timed(&["--timeout", "3s", "--url", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(out
        .lines()
        .filter(|l| l.contains(".value"))
        .all(|l| l.ends_with(" U")));
    assert!(took < Duration::from_millis(3500), "{took:?}");
    // the same server is fine with time to spare, and the socket counters come from /net
    let (code, out, err, _) = timed(&["--format", "json", "--timeout", "9s", "--url", &url]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["sockstat"]["UDP4Open"].as_u64().unwrap() > 0,
        "{}",
        v["sockstat"]
    );
}

#[test]
fn a_closed_keep_alive_connection_is_retried_once() {
    let Some(h) = v3_handler(Duration::ZERO) else {
        return;
    };
    // every connection answers its first request, then reads the next one and hangs up
    let closing: Arc<Handler> = Arc::new(move |p: &str, i, s: &mut TcpStream| i == 0 && h(p, i, s));
    let port = server(local(), closing);
    let url = format!("http://127.0.0.1:{port}/");
    let (code, out, err, _) = timed(&["--timeout", "5s", "--url", &url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    assert!(!out.contains(".value U"), "{out}");
    assert!(
        out.contains("multigraph socket_io_statistics\nUDP4Open.value "),
        "{out}"
    );
}

#[test]
fn redirects_are_not_followed() {
    let target = format!("http://127.0.0.2:{}/", crate::util::free_port());
    let to = target.clone();
    let port = server(
        local(),
        Arc::new(move |_p: &str, _i, s: &mut TcpStream| {
            let _ = write!(
                s,
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n"
            );
            true
        }),
    );
    let url = format!("http://127.0.0.1:{port}/");
    let (code, out, err, _) = timed(&["--format", "json", "--url", &url]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains(&format!("127.0.0.1:{port}"))
            && err.contains("not followed")
            && err.contains(&target),
        "{err}"
    );
}

#[test]
fn ipv6_host_is_bracketed() {
    let Some(doc) = fixture("bind_exporter-v0.7.0-v2.xml") else {
        return;
    };
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        skip_expected("no IPv6 loopback here");
        return;
    };
    let doc = Arc::new(doc);
    let port = server(
        l,
        Arc::new(move |p: &str, _i, s: &mut TcpStream| {
            if p == "/" {
                respond(s, &doc)
            } else {
                s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    .is_ok()
            }
        }),
    );
    let (code, out, err) = run(opskit()
        .args(["bindstats", "--format", "json"])
        .env("HOST", "::1")
        .env("PORT", port.to_string()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"xml-v2\""));
}

#[test]
fn a_bad_env_timeout_is_one_line_and_munin_still_gets_config_and_unknowns() {
    for verb in [Some("config"), None] {
        let mut c = opskit();
        c.arg("bindstats")
            .env("timeout", "abc")
            .env("url", "http://127.0.0.1:9/");
        if let Some(v) = verb {
            c.arg(v);
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("bad timeout 'abc'"), "{err}");
        match verb {
            Some(_) => assert!(out.contains("multigraph queries_in\ngraph_title"), "{out}"),
            None => assert!(out.contains("ANY.value U"), "{out}"),
        }
    }
    let (code, _, err) = run(opskit().args(["bindstats", "--format", "json", "--timeout", "abc"]));
    assert_eq!(code, 2);
    assert!(err.contains("bad timeout"), "{err}");
}

#[test]
fn a_zero_or_absurd_timeout_is_a_usage_error_on_the_command_line() {
    for t in ["0s", "0", "0ms", "2h", "--timeout=0s"] {
        for format in ["munin", "json", "prometheus"] {
            let mut c = opskit();
            c.args([
                "bindstats",
                "--url",
                "http://127.0.0.1:9/",
                "--format",
                format,
            ]);
            match t.strip_prefix("--timeout=") {
                Some(_) => c.arg(t),
                None => c.args(["--timeout", t]),
            };
            let (code, out, err) = run(&mut c);
            assert_eq!(code, 2, "{t} {format}: {out} {err}");
            assert!(out.is_empty(), "{t} {format}: {out}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains("bad timeout"), "{err}");
        }
    }
    // --listen too: nothing served
    let (code, _, err) =
        run(opskit().args(["bindstats", "--timeout", "0s", "--listen", "127.0.0.1:0"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_non_utf8_argument_is_an_error_line_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"/nonexistent/\xff.xml");
    let (code, out, err) = run(opskit()
        .args(["bindstats", "--format", "json", "--file"])
        .arg(bad));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_zero_env_timeout_keeps_munin_graphs_with_unknowns() {
    for t in ["0s", "90000s"] {
        for verb in [Some("config"), None] {
            let mut c = opskit();
            c.arg("bindstats")
                .env("timeout", t)
                .env("url", "http://127.0.0.1:9/");
            c.args(verb);
            let (code, out, err) = run(&mut c);
            assert_eq!(code, 0, "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains(&format!("bad timeout '{t}'")), "{err}");
            match verb {
                Some(_) => assert!(out.contains("multigraph queries_in\ngraph_title"), "{out}"),
                None => assert!(out.contains("ANY.value U"), "{out}"),
            }
        }
    }
}

#[test]
fn bad_any_thresholds_are_one_line_and_munin_keeps_its_graphs() {
    let Some(dir) = crate::util::shared_fixtures("bind") else {
        return;
    };
    let f = dir.join("bind-9.18.49-lab-xml-v3-server.xml");
    let config = |env: &[(&str, &str)], flags: &[&str]| {
        let mut c = opskit();
        c.envs(env.iter().copied())
            .args(["bindstats", "config", "--file"])
            .arg(&f)
            .args(flags);
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{err}");
        let any: Vec<String> = out
            .lines()
            .filter(|l| l.starts_with("ANY.warning") || l.starts_with("ANY.critical"))
            .map(str::to_string)
            .collect();
        (out, err, any)
    };
    // env, as plugin-conf.d sets them
    let (out, err, any) = config(&[("ANYWARN", "NaN"), ("ANYCRIT", "1e400")], &[]);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.contains("bad ANYWARN 'NaN'"), "{err}");
    assert!(err.contains("bad ANYCRIT '1e400'"), "{err}");
    assert_eq!(any, ["ANY.warning 10", "ANY.critical 50"], "{out}");
    assert!(out.contains("multigraph queries_in\ngraph_title"), "{out}");
    // a newline cannot forge a config line
    let (out, err, any) = config(&[("ANYCRIT", "5\nANY.cdef 0")], &[]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out.contains("ANY.cdef"), "{out}");
    assert_eq!(any, ["ANY.warning 10", "ANY.critical 50"], "{out}");
    // the flags; munin ranges pass
    let (_, err, any) = config(&[], &["--any-warn=-1", "--any-crit", "100:"]);
    assert!(err.contains("bad ANYWARN '-1'"), "{err}");
    assert_eq!(any, ["ANY.warning 10", "ANY.critical 100:"]);
    let (_, err, any) = config(&[], &["--any-warn", "5:20", "--any-crit", ":80"]);
    assert!(err.is_empty(), "{err}");
    assert_eq!(any, ["ANY.warning 5:20", "ANY.critical :80"]);
    // values still print
    let (code, out, err) = run(opskit()
        .env("ANYWARN", "inf")
        .args(["bindstats", "--file"])
        .arg(&f));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("multigraph queries_in\n"), "{out}");
    assert!(out.contains("\nANY.value "), "{out}");
}

#[test]
fn stdin_honours_max_size_and_fifos_are_refused() {
    let Some(doc) = fixture("bind-9.18.49-lab-xml-v3-server.xml") else {
        return;
    };
    let mut c = opskit();
    c.args([
        "bindstats",
        "--format",
        "json",
        "--max-size",
        "1K",
        "--file",
        "-",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&doc);
    });
    let out = child.wait_with_output().unwrap();
    let _ = w.join();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("standard input") && err.contains("1 KiB"),
        "{err}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let fifo = crate::util::mkfifo(tmp.path(), "fifo");
    let t0 = Instant::now();
    let (code, _, err) = run(opskit()
        .args(["bindstats", "--format", "json", "--file"])
        .arg(&fifo));
    assert_eq!(code, 1);
    assert!(err.contains("a FIFO"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(2));
}
