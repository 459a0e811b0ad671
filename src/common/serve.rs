//! `--listen ADDR:PORT`: a small HTTP endpoint for Prometheus (`/metrics`, and what else a tool
//! serves), on hyper's HTTP/1 server and a current-thread tokio runtime (both already built
//! for reqwest).
//!
//! Every scrape waits for the endpoint's renderer, run on its own thread, up to its own
//! deadline: the scraper's `X-Prometheus-Scrape-Timeout-Seconds` less a margin, else
//! [`Options::default_timeout`]. Scrapes that arrive while one render is under way wait for
//! it and get the same answer, so a burst of scrapers costs one fetch; a scrape whose own
//! deadline passes first gets the endpoint's `late` answer (`bind_up 0`) instead of a timeout.
//!
//! The shared render runs to the server's own cap ([`Options::default_timeout`]), never to
//! the deadline of the scraper that happened to start it: an unauthenticated client saying
//! `X-Prometheus-Scrape-Timeout-Seconds: 0.3` only shortens its own answer, never that of a
//! scraper that joined the same fetch with 10 s. A render that finished less than
//! [`REUSE`] ago answers the next scrape too, so a client pipelining thousands of requests
//! on one connection costs BIND a fetch a second, not one per request.
//!
//! Hostile or merely numerous clients cannot make it lie or grow:
//! - the soft open-file limit is raised to the hard limit at start;
//! - at most [`max_connections`] connections are kept (the file-descriptor limit less
//!   [`FD_RESERVE`] for the renderer's own fetch, and never more than [`MAX_CONNECTIONS`]);
//!   a new connection past the cap closes the oldest one that has no request under way, and
//!   is answered 503 when every kept one is mid-request;
//! - when `accept` itself fails for want of descriptors, a spare descriptor is given up to
//!   accept the client and answer 503 (never a silent hang);
//! - a request head is at most [`MAX_HEAD`] bytes (431 beyond), read within
//!   [`HEAD_TIMEOUT`], so buffered headers are at most `MAX_CONNECTIONS * MAX_BUF` bytes in
//!   all whatever the clients send;
//! - a renderer that reports the exporter itself starved ([`Reply::Unavailable`]) is
//!   answered 503, not a body claiming the monitored service is down;
//! - after every scrape the allocator gives freed memory back to the system.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Cursor;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;

/// What renders one scrape's exposition (it may block: it runs on its own thread). The plain
/// form, served at `/metrics` by [`serve`].
pub(crate) type Scrape = dyn Fn() -> Vec<u8> + Send + Sync;

/// What one scrape produced.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// answered 200 with the endpoint's content type
    Body(Vec<u8>),
    /// the exporter itself could not scrape (out of file descriptors...): 503 with this
    /// reason, never a body that would say something false about the monitored service
    Unavailable(String),
}

/// Renders one scrape that should be done by the given instant (it may block).
pub(crate) type Render = dyn Fn(Instant) -> Reply + Send + Sync;

/// The answer to a scrape the renderer did not finish in time.
pub(crate) type Late = dyn Fn() -> Vec<u8> + Send + Sync;

/// One path served.
pub(crate) struct Endpoint {
    pub(crate) path: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) render: Arc<Render>,
    /// answered (200) when the renderer is not done by the deadline; `None`: 503
    pub(crate) late: Option<Arc<Late>>,
}

/// Server settings.
pub(crate) struct Options {
    /// The tool's name in the lines printed on stderr (`opskit bindstats: ...`).
    pub(crate) tool: &'static str,
    /// The time a scrape gets when the scraper does not say (Prometheus always does): kept
    /// below Prometheus' default scrape timeout (10 s).
    pub(crate) default_timeout: Duration,
}

/// Prometheus' text exposition content type.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Descriptors kept free for the renderer (its HTTP client, runtime, files) and stdio.
pub(crate) const FD_RESERVE: u64 = 64;
/// The most connections kept open, whatever the descriptor limit.
pub(crate) const MAX_CONNECTIONS: usize = 2048;
/// The longest request head (request line and headers) read; a scrape's is under 1 KiB.
pub(crate) const MAX_HEAD: usize = 4096;
/// hyper's per-connection read buffer (its minimum).
pub(crate) const MAX_BUF: usize = 8192;
/// A render that finished this recently answers a new scrape of the same path.
pub(crate) const REUSE: Duration = Duration::from_secs(1);
/// The time a client gets to send a whole request head (idle keep-alive included).
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

type Body = Full<Cursor<Vec<u8>>>;

/// Where to listen: `ADDR:PORT`, `HOST:PORT` (resolved: `localhost:9119`), or `:PORT` /
/// `PORT` for every address (IPv6 and IPv4, as Prometheus exporters read `:9119`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listen {
    /// tried in order; the first that binds is served
    pub(crate) addrs: Vec<SocketAddr>,
    /// `:PORT` or `PORT`: every address
    pub(crate) every_address: bool,
}

impl From<SocketAddr> for Listen {
    fn from(a: SocketAddr) -> Listen {
        Listen {
            addrs: vec![a],
            every_address: a.ip().is_unspecified(),
        }
    }
}

/// `--listen`'s value parser.
pub(crate) fn parse_listen(s: &str) -> Result<Listen, String> {
    let t = s.trim();
    let port_only = t.strip_prefix(':').unwrap_or(t);
    if !port_only.is_empty() && port_only.bytes().all(|b| b.is_ascii_digit()) {
        let port: u16 = port_only
            .parse()
            .map_err(|_| format!("bad port '{port_only}': expected 0-65535"))?;
        return Ok(Listen {
            addrs: vec![
                SocketAddr::from(([0u16; 8], port)),
                SocketAddr::from(([0u8; 4], port)),
            ],
            every_address: true,
        });
    }
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a.into());
    }
    let Some((host, port)) = t.rsplit_once(':') else {
        return Err("expected ADDR:PORT, HOST:PORT, :PORT or PORT".into());
    };
    if port.parse::<u16>().is_err() {
        return Err(format!(
            "bad port '{}': expected ADDR:PORT, HOST:PORT, :PORT or PORT",
            crate::common::escape::clean(port)
        ));
    }
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return Err("expected ADDR:PORT (an IPv6 address in brackets: [::1]:9119)".into());
    }
    let mut addrs: Vec<SocketAddr> = t
        .to_socket_addrs()
        .map_err(|e| {
            format!(
                "cannot resolve '{}': {e}",
                crate::common::escape::clean(host)
            )
        })?
        .collect();
    // IPv4 first, as Go's listeners pick it for `localhost:9119`
    addrs.sort_by_key(|a| a.is_ipv6());
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!(
            "'{}' resolves to no address",
            crate::common::escape::clean(host)
        ));
    }
    Ok(Listen {
        addrs,
        every_address: false,
    })
}

/// Serve `scrape` as Prometheus text at `/metrics` until the process is stopped; `tool`
/// (`opskit itop`) names the server in its log lines.
pub(crate) fn serve(
    tool: &'static str,
    addr: SocketAddr,
    scrape: Arc<Scrape>,
) -> anyhow::Result<()> {
    let render: Arc<Render> = Arc::new(move |_| Reply::Body(scrape()));
    serve_endpoints(
        &addr.into(),
        vec![Endpoint {
            path: "/metrics",
            content_type: PROMETHEUS_TEXT,
            render,
            late: None,
        }],
        Options {
            tool,
            default_timeout: Duration::from_millis(9500),
        },
    )
}

/// Serve the endpoints until the process is stopped.
pub(crate) fn serve_endpoints(
    listen: &Listen,
    endpoints: Vec<Endpoint>,
    opts: Options,
) -> anyhow::Result<()> {
    let limit = raise_fd_limit();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting the HTTP server runtime")?;
    let cap = max_connections(limit);
    rt.block_on(accept_loop(listen, endpoints, opts, cap))
}

/// Raise the soft open-file limit to the hard one (systemd's default soft limit is 1024);
/// returns the soft limit now in force.
#[allow(unsafe_code)]
pub(crate) fn raise_fd_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the one struct passed
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 1024;
    }
    if r.rlim_cur < r.rlim_max {
        let want = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        // SAFETY: as above
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            r.rlim_cur = r.rlim_max;
        }
    }
    r.rlim_cur
}

/// Connections kept for a soft descriptor limit of `limit`: room is left for the
/// renderer's own fetch ([`FD_RESERVE`]), and at most [`MAX_CONNECTIONS`].
pub(crate) fn max_connections(limit: u64) -> usize {
    let room = limit.saturating_sub(FD_RESERVE).max(4);
    usize::try_from(room)
        .unwrap_or(MAX_CONNECTIONS)
        .min(MAX_CONNECTIONS)
}

/// Give freed memory back to the system (glibc keeps a thread's arena otherwise: a scrape of a
/// large document would leave its peak resident).
#[allow(unsafe_code)]
fn trim_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and only walks the allocator's own arenas
    unsafe {
        libc::malloc_trim(0);
    }
}

type Answer = Option<Arc<Reply>>;

struct Served {
    ep: Endpoint,
    /// the scrape under way, if any: its result arrives on this channel
    inflight: Mutex<Option<watch::Receiver<Answer>>>,
    /// the last render's answer and when it finished (reused within [`REUSE`])
    last: Mutex<Option<(Instant, Arc<Reply>)>>,
}

struct Shared {
    endpoints: Vec<Served>,
    opts: Options,
}

/// The connections kept, oldest first, each with whether a request is under way on it.
#[derive(Default)]
struct Conns {
    next: u64,
    open: BTreeMap<u64, (Arc<AtomicBool>, tokio::task::AbortHandle)>,
}

/// Removes a connection from [`Conns`] when its task ends (or is aborted).
struct Gone(Arc<Mutex<Conns>>, u64);

impl Drop for Gone {
    fn drop(&mut self) {
        lock(&self.0).open.remove(&self.1);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn bind(listen: &Listen) -> anyhow::Result<tokio::net::TcpListener> {
    let mut last = None;
    for a in &listen.addrs {
        match tokio::net::TcpListener::bind(a).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some((a, e)),
        }
    }
    match last {
        Some((a, e)) => Err(anyhow::anyhow!("listening on {a}: {e}")),
        None => Err(anyhow::anyhow!("no address to listen on")),
    }
}

const UNAVAILABLE_HEAD: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
    Connection: close\r\nRetry-After: 1\r\nContent-Length: ";

/// A 503 written straight to a socket that will not be served (best effort: never blocks).
fn refuse(s: &tokio::net::TcpStream, why: &str) {
    let body = format!("{why}\n");
    let mut msg = UNAVAILABLE_HEAD.to_vec();
    msg.extend_from_slice(format!("{}\r\n\r\n{body}", body.len()).as_bytes());
    let _ = s.try_write(&msg);
}

fn out_of_fds(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

async fn accept_loop(
    listen: &Listen,
    endpoints: Vec<Endpoint>,
    opts: Options,
    cap: usize,
) -> anyhow::Result<()> {
    let listener = bind(listen).await?;
    let local = listener.local_addr().context("the listening address")?;
    let paths: Vec<&str> = endpoints.iter().map(|e| e.path).collect();
    let every = if listen.every_address {
        match local.ip() {
            std::net::IpAddr::V6(_) => " (every address, IPv6 and IPv4)",
            std::net::IpAddr::V4(_) => " (every IPv4 address)",
        }
    } else {
        ""
    };
    eprintln!(
        "{}: serving http://{local}{}{every}",
        opts.tool,
        paths.join(&format!(" and http://{local}"))
    );
    let shared = Arc::new(Shared {
        endpoints: endpoints
            .into_iter()
            .map(|ep| Served {
                ep,
                inflight: Mutex::new(None),
                last: Mutex::new(None),
            })
            .collect(),
        opts,
    });
    let conns = Arc::new(Mutex::new(Conns::default()));
    // given up when accept fails for want of descriptors, to accept and answer 503
    let mut spare = std::fs::File::open("/dev/null").ok();
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) if out_of_fds(&e) => {
                drop(spare.take());
                if let Ok((s, _)) = listener.accept().await {
                    refuse(&s, "the exporter is out of file descriptors");
                }
                spare = std::fs::File::open("/dev/null").ok();
                if spare.is_none() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                continue;
            }
            Err(_) => {
                // a connection reset before it was accepted and the like: never spin
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let busy = Arc::new(AtomicBool::new(false));
        let evicted = {
            let mut g = lock(&conns);
            if g.open.len() >= cap {
                let idle = g
                    .open
                    .iter()
                    .find(|(_, (b, _))| !b.load(Ordering::Relaxed))
                    .map(|(id, _)| *id);
                match idle.and_then(|id| g.open.remove(&id)) {
                    Some((_, old)) => {
                        old.abort();
                        true
                    }
                    None => {
                        refuse(&stream, "too many connections, every one mid-request");
                        continue;
                    }
                }
            } else {
                false
            }
        };
        if evicted {
            // let the aborted task be dropped (its socket closed) before another is accepted
            tokio::task::yield_now().await;
        }
        let id = {
            let mut g = lock(&conns);
            g.next += 1;
            g.next
        };
        let sh = shared.clone();
        let gone = Gone(conns.clone(), id);
        let flag = busy.clone();
        let task = tokio::spawn(async move {
            let _gone = gone;
            let svc = hyper::service::service_fn(move |req| {
                let sh = sh.clone();
                let flag = flag.clone();
                async move {
                    flag.store(true, Ordering::Relaxed);
                    let r = handle(req, &sh).await;
                    flag.store(false, Ordering::Relaxed);
                    Ok::<_, Infallible>(r)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_BUF)
                .max_header_size(MAX_HEAD)
                .max_headers(32)
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
        // the task has not run yet (one thread): it is registered before it can end
        lock(&conns).open.insert(id, (busy, task.abort_handle()));
    }
}

fn reply(status: StatusCode, ctype: &str, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Cursor::new(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// The scrape deadline: the scraper's timeout (`X-Prometheus-Scrape-Timeout-Seconds`) less a
/// margin for the answer to travel (a tenth, at least 50 ms and at most 500 ms), else the
/// default.
pub(crate) fn scrape_budget(header: Option<&str>, default: Duration) -> Duration {
    let said = header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)));
    match said {
        Some(t) => {
            let margin = (t / 10).clamp(Duration::from_millis(50), Duration::from_millis(500));
            t.saturating_sub(margin).max(Duration::from_millis(10))
        }
        None => default,
    }
}

async fn handle(req: Request<Incoming>, sh: &Arc<Shared>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            b"GET or HEAD only\n".to_vec(),
        );
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    let path = req.uri().path();
    if path == "/" {
        let links: String = sh
            .endpoints
            .iter()
            .map(|s| format!("<a href=\"{0}\">{0}</a><br>", s.ep.path))
            .collect();
        return reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            format!("<html><body>{links}</body></html>\n").into_bytes(),
        );
    }
    let Some(idx) = sh.endpoints.iter().position(|s| s.ep.path == path) else {
        return reply(StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec());
    };
    let header = req
        .headers()
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok());
    let budget = scrape_budget(header, sh.opts.default_timeout);
    let deadline = Instant::now() + budget;
    let served = &sh.endpoints[idx];
    match scrape(sh, idx, deadline).await {
        Some(r) => match &*r {
            Reply::Body(b) => reply(StatusCode::OK, served.ep.content_type, b.clone()),
            Reply::Unavailable(why) => {
                eprintln!("{}: answered 503: {why}", sh.opts.tool);
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    format!("{why}\n").into_bytes(),
                )
            }
        },
        None => {
            eprintln!(
                "{}: the scrape was not done within {:.1}s: answered as a failed fetch",
                sh.opts.tool,
                budget.as_secs_f64()
            );
            match &served.ep.late {
                Some(late) => reply(StatusCode::OK, served.ep.content_type, late()),
                None => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    b"the scrape was not done in time\n".to_vec(),
                ),
            }
        }
    }
}

/// The answer of the scrape under way, or of a new one; `None` when it is not there by the
/// deadline (or its thread died).
async fn scrape(sh: &Arc<Shared>, idx: usize, deadline: Instant) -> Answer {
    let sv = &sh.endpoints[idx];
    let mut rx = {
        let mut g = lock(&sv.inflight);
        match g.as_ref() {
            Some(rx) => rx.clone(),
            None => {
                if let Some((at, r)) = lock(&sv.last).as_ref() {
                    if at.elapsed() < REUSE {
                        return Some(r.clone());
                    }
                }
                let (tx, rx) = watch::channel(None);
                *g = Some(rx.clone());
                let render = sv.ep.render.clone();
                let sh2 = sh.clone();
                // the server's own cap, never this scraper's deadline: others may join
                let until = Instant::now() + sh.opts.default_timeout;
                let spawned = std::thread::Builder::new()
                    .name("scrape".into())
                    .spawn(move || {
                        let body = Arc::new(render(until));
                        // what the render freed goes back before the answer (a millisecond)
                        trim_memory();
                        let sv = &sh2.endpoints[idx];
                        *lock(&sv.last) = Some((Instant::now(), body.clone()));
                        // a scrape arriving from now on starts a fresh one (or takes `last`)
                        *lock(&sv.inflight) = None;
                        let _ = tx.send(Some(body.clone()));
                        // the answer is not kept beyond its reuse: the memory goes back
                        std::thread::sleep(REUSE);
                        let mut last = lock(&sv.last);
                        if last.as_ref().is_some_and(|(_, r)| Arc::ptr_eq(r, &body)) {
                            *last = None;
                            drop(last);
                            drop(body);
                            trim_memory();
                        }
                    });
                if spawned.is_err() {
                    *g = None;
                    return Some(Arc::new(Reply::Unavailable(
                        "the exporter cannot start a thread".into(),
                    )));
                }
                rx
            }
        }
    };
    let wait = async {
        loop {
            if let Some(b) = rx.borrow_and_update().clone() {
                return Some(b);
            }
            if rx.changed().await.is_err() {
                // the scrape thread died: forget it so the next scrape starts over
                *lock(&sv.inflight) = None;
                return None;
            }
        }
    };
    // a little grace lets a render finishing at this deadline through rather than the late
    // answer
    let grace =
        (deadline.saturating_duration_since(Instant::now()) / 20).min(Duration::from_millis(200));
    tokio::time::timeout_at((deadline + grace).into(), wait)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let every = parse_listen(":9119").unwrap();
        assert!(every.every_address);
        assert_eq!(every.addrs[0], "[::]:9119".parse().unwrap());
        assert_eq!(every.addrs[1], "0.0.0.0:9119".parse().unwrap());
        assert_eq!(parse_listen("9119").unwrap(), every);
        let one = parse_listen("127.0.0.1:9119").unwrap();
        assert_eq!(one.addrs, ["127.0.0.1:9119".parse().unwrap()]);
        assert!(!one.every_address);
        assert_eq!(
            parse_listen("[::1]:9119").unwrap().addrs,
            ["[::1]:9119".parse().unwrap()]
        );
        assert!(parse_listen("0.0.0.0:9119").unwrap().every_address);
        for bad in ["", ":", "99999", ":99999", "host:", "::1:9119", "a:b"] {
            assert!(parse_listen(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scrape_budget_leaves_a_margin() {
        let d = Duration::from_millis(9500);
        assert_eq!(scrape_budget(None, d), d);
        assert_eq!(scrape_budget(Some("junk"), d), d);
        assert_eq!(scrape_budget(Some("-1"), d), d);
        assert_eq!(scrape_budget(Some("NaN"), d), d);
        assert_eq!(scrape_budget(Some("3"), d), Duration::from_millis(2700));
        assert_eq!(scrape_budget(Some("10"), d), Duration::from_millis(9500));
        assert_eq!(scrape_budget(Some("0.2"), d), Duration::from_millis(150));
    }

    #[test]
    fn connections_leave_room_for_the_fetch() {
        assert_eq!(max_connections(1024), 960);
        assert_eq!(max_connections(1 << 20), MAX_CONNECTIONS);
        assert_eq!(max_connections(10), 4);
    }
}
