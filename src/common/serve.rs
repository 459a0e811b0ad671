//! `opskit bindstats --listen ADDR:PORT`: a Prometheus `/metrics` endpoint, served by hyper's
//! HTTP/1 server on a current-thread tokio runtime (both already built for reqwest).
//!
//! Every scrape runs the given `scrape` once (a BIND fetch under its own deadline, rendered);
//! scrapes that arrive while one is under way wait for it and get the same answer, so a burst
//! of scrapers costs named one fetch.

use std::convert::Infallible;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;

/// What renders one scrape's exposition (it may block: it runs on its own thread).
pub(crate) type Scrape = dyn Fn() -> Vec<u8> + Send + Sync;

type Answer = Option<Arc<Vec<u8>>>;

struct Shared {
    scrape: Arc<Scrape>,
    /// the fetch under way, if any: its result arrives on this channel
    inflight: Mutex<Option<watch::Receiver<Answer>>>,
}

type Body = Full<Cursor<Vec<u8>>>;

/// Serve until the process is stopped.
pub(crate) fn serve(addr: SocketAddr, scrape: Arc<Scrape>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("starting the HTTP server runtime")?;
    rt.block_on(accept_loop(addr, scrape))
}

async fn accept_loop(addr: SocketAddr, scrape: Arc<Scrape>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr().unwrap_or(addr);
    eprintln!("opskit bindstats: serving http://{local}/metrics");
    let shared = Arc::new(Shared {
        scrape,
        inflight: Mutex::new(None),
    });
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                // out of file descriptors and the like: let it pass, never spin
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let sh = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let sh = sh.clone();
                async move { Ok::<_, Infallible>(handle(req, &sh).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
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

async fn handle(req: Request<Incoming>, sh: &Arc<Shared>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            b"GET only\n".to_vec(),
        );
    }
    match req.uri().path() {
        "/metrics" => match metrics(sh).await {
            Some(b) => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                b.to_vec(),
            ),
            None => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                b"the scrape failed\n".to_vec(),
            ),
        },
        "/" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            b"<html><body><a href=\"/metrics\">/metrics</a></body></html>\n".to_vec(),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", b"not found\n".to_vec()),
    }
}

/// The exposition of the fetch under way, or of a new one.
async fn metrics(sh: &Arc<Shared>) -> Answer {
    let mut rx = {
        let mut g = sh.inflight.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_ref() {
            Some(rx) => rx.clone(),
            None => {
                let (tx, rx) = watch::channel(None);
                *g = Some(rx.clone());
                let sh = sh.clone();
                std::thread::spawn(move || {
                    let body = Arc::new((sh.scrape)());
                    // a scrape arriving from now on starts a fresh fetch
                    *sh.inflight.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    let _ = tx.send(Some(body));
                });
                rx
            }
        }
    };
    loop {
        if let Some(b) = rx.borrow_and_update().clone() {
            return Some(b);
        }
        if rx.changed().await.is_err() {
            // the fetch thread died: forget it so the next scrape starts over
            *sh.inflight.lock().unwrap_or_else(|e| e.into_inner()) = None;
            return None;
        }
    }
}
