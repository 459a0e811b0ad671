//! Fetching BIND statistics-channel documents over HTTP (reqwest, blocking, no TLS: the
//! channel is plain HTTP), all requests of a run under ONE deadline (connects, headers and
//! body reads together: a body trickled a byte at a time ends at the deadline), a size cap,
//! deflate/gzip accepted, redirects never followed, and a keep-alive connection the server
//! closed under us retried once on a fresh one.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

use crate::bindstats::model::{parse_reader_after, Stats, ZoneFilter};

/// A fetch that failed for want of this process' own resources (out of file descriptors):
/// the exporter is starved, which says nothing about BIND.
#[derive(Debug)]
pub(crate) struct Starved(pub(crate) String);

impl std::fmt::Display for Starved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Starved {}

/// Whether an error's chain holds an out-of-descriptors (or out-of-threads) error.
fn is_starved(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(io.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) {
                return true;
            }
        }
        src = s.source();
    }
    false
}

/// The end of the run's time budget.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    pub(crate) fn after(d: Duration) -> Deadline {
        Deadline(Instant::now() + d)
    }

    /// What is left, or an error once it has passed.
    fn remaining(&self, url: &str) -> anyhow::Result<Duration> {
        match self.0.checked_duration_since(Instant::now()) {
            Some(d) if !d.is_zero() => Ok(d),
            _ => bail!("{url}: timed out"),
        }
    }
}

/// The statistics channel's base URL from the perl plugin's `HOST` and `PORT` (an IPv6
/// address is bracketed), or `None` when neither is set.
pub(crate) fn url_from_env() -> Option<String> {
    let get = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
    let (host, port) = (get("HOST"), get("PORT"));
    if host.is_none() && port.is_none() {
        return None;
    }
    let host = host.unwrap_or_else(|| "127.0.0.1".into());
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    Some(format!(
        "http://{host}:{}/",
        port.as_deref().unwrap_or("8053")
    ))
}

/// The perl plugin's view list: `VIEW` (its older name, which it read first), else `VIEWS`.
pub(crate) fn views_from_env() -> Option<String> {
    ["VIEW", "VIEWS"]
        .into_iter()
        .find_map(|k| std::env::var(k).ok())
}

pub(crate) struct Fetcher {
    client: reqwest::blocking::Client,
    cap: u64,
    deadline: Deadline,
    /// requests sent so far: a later one may go out on a kept-alive connection
    sent: std::cell::Cell<u32>,
}

/// A read of at most this much at a time, so the deadline is checked often.
const CHUNK: usize = 64 * 1024;

impl Fetcher {
    pub(crate) fn new(deadline: Deadline, cap: u64) -> anyhow::Result<Fetcher> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("opskit-bindstats/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            // bodies are decoded here (flate2), so a corrupt one is named with its encoding
            .no_gzip()
            .no_deflate()
            // the per-request timeout is what is left of the deadline
            .timeout(None)
            .build()
            .context("building the HTTP client")?;
        Ok(Fetcher {
            client,
            cap,
            deadline,
            sent: std::cell::Cell::new(0),
        })
    }

    /// GET `url`: the body to read, or `None` on 404 (a subset this BIND does not serve). A
    /// connection the server closed between two requests is retried once.
    fn get(&self, url: &str) -> anyhow::Result<Option<Body<'_>>> {
        let reused = self.sent.get() > 0;
        match self.get_once(url) {
            Err(Failure::Closed(e)) if reused => {
                self.sent.set(0);
                self.get_once(url)
                    .map_err(|f| f.into_error(url))
                    .map_err(|e2| anyhow!("{e2} (after a retry: {})", describe(&e)))
            }
            r => r.map_err(|f| f.into_error(url)),
        }
    }

    fn get_once(&self, url: &str) -> Result<Option<Body<'_>>, Failure> {
        let left = self.deadline.remaining(url).map_err(Failure::Other)?;
        self.sent.set(self.sent.get() + 1);
        let resp = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip, deflate")
            .timeout(left)
            .send()
            .map_err(Failure::from_reqwest)?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(|l| crate::common::escape::clean(l).into_owned())
                .unwrap_or_default();
            return Err(Failure::Other(anyhow!(
                "{url}: HTTP {status}, redirect to '{to}' not followed"
            )));
        }
        if !status.is_success() {
            return Err(Failure::Other(anyhow!("{url}: HTTP {status}")));
        }
        let encoding = resp
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty() && v != "identity");
        let raw = Raw {
            resp,
            fetcher: self,
        };
        let inner: Box<dyn Read + '_> = match encoding.as_deref() {
            None => Box::new(raw),
            Some("gzip") | Some("x-gzip") => Box::new(flate2::read::MultiGzDecoder::new(raw)),
            Some("deflate") => Box::new(flate2::read::ZlibDecoder::new(raw)),
            Some(other) => {
                return Err(Failure::Other(anyhow!(
                    "{url}: unsupported Content-Encoding '{}'",
                    crate::common::escape::clean(other)
                )))
            }
        };
        Ok(Some(Body {
            inner,
            fetcher: self,
            read: 0,
            encoding,
        }))
    }

    /// Fetch what the graphs need. XML v3 servers are asked for subsets only (`/xml/v3/server`,
    /// `/net` for the socket counters, `/mem`, `/tasks` while it exists, `/zones` when
    /// per-zone counters are wanted): the full document costs named time and locks. JSON URLs
    /// (`.../json/v1`) are fetched as given; servers without v3 (BIND 9.9) answer the root URL
    /// with v2.
    pub(crate) fn fetch(&self, base: &str, zones: &ZoneFilter) -> anyhow::Result<Stats> {
        // parsed as it arrives: a 5 MB document is never held whole
        // the subsets of one fetch keep at most MAX_KEPT together
        let parse = |mut doc: Body, url: &str, spent: usize| {
            parse_reader_after(&mut doc, zones, spent).map_err(|e| {
                // a compressed body the parser choked on may be a corrupt one whose garbage
                // read as tags: the decoder's own error, read on to the end (under the cap and
                // the deadline), says what is wrong
                if doc.encoding.is_some() {
                    if let Err(z) = std::io::copy(&mut doc, &mut std::io::sink()) {
                        return anyhow!("{url}: {z}");
                    }
                }
                anyhow!("{url}: {e}")
            })
        };
        let base = base.trim_end_matches('/');
        if base.contains("/json") {
            let doc = self
                .get(base)?
                .with_context(|| format!("{base}: HTTP 404 Not Found"))?;
            return parse(doc, base, 0);
        }
        let v3 = if base.ends_with("/xml/v3") {
            base.to_string()
        } else {
            format!("{base}/xml/v3")
        };
        let server_url = format!("{v3}/server");
        let Some(doc) = self.get(&server_url)? else {
            // BIND 9.9 and older: v2 at the root
            let root = base.trim_end_matches("/xml/v3");
            let url = format!("{root}/");
            if let Some(doc) = self.get(&url)? {
                return parse(doc, &url, 0);
            }
            // a BIND built without libxml2 serves JSON only
            let json = format!("{root}/json/v1");
            let doc = self.get(&json)?.with_context(|| {
                format!("{server_url}, {url} and {json}: HTTP 404 Not Found (no XML or JSON statistics)")
            })?;
            return parse(doc, &json, 0);
        };
        let mut st = parse(doc, &server_url, 0)?;
        let mut parts = vec!["net", "mem", "tasks"];
        if *zones != ZoneFilter::None {
            parts.push("zones");
        }
        for p in parts {
            let url = format!("{v3}/{p}");
            if let Some(doc) = self.get(&url)? {
                let mut sub = parse(doc, &url, st.items())?;
                if p != "net" {
                    // /server already carries the socket counters on some versions
                    sub.sockstat.clear();
                } else if !sub.sockstat.is_empty() {
                    st.sockstat.clear();
                }
                st.merge(sub);
            }
        }
        Ok(st)
    }
}

/// A response body as sent (maybe compressed), read under the run's deadline (checked before
/// every read of at most [`CHUNK`] bytes).
struct Raw<'f> {
    resp: reqwest::blocking::Response,
    fetcher: &'f Fetcher,
}

impl Read for Raw<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.fetcher.deadline.0 <= Instant::now() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out",
            ));
        }
        let n = out.len().min(CHUNK);
        self.resp
            .read(&mut out[..n])
            .map_err(|e| std::io::Error::new(e.kind(), describe_io(&e)))
    }
}

/// A response body, decoded, under the size cap (of the decoded bytes). Its errors carry no
/// URL: the parse error that wraps them names it; they name the encoding.
struct Body<'f> {
    inner: Box<dyn Read + 'f>,
    fetcher: &'f Fetcher,
    read: u64,
    /// `gzip` or `deflate` when the body was sent compressed
    encoding: Option<String>,
}

impl Read for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let got = self.inner.read(out).map_err(|e| {
            let how = match &self.encoding {
                Some(enc) if e.kind() != std::io::ErrorKind::TimedOut => {
                    format!(" (Content-Encoding: {enc}, a corrupt or truncated body)")
                }
                _ => String::new(),
            };
            std::io::Error::other(format!("reading the body{how}: {}", describe_io(&e)))
        })?;
        self.read += got as u64;
        if self.read > self.fetcher.cap {
            return Err(std::io::Error::other(format!(
                "document larger than the {} byte cap",
                self.fetcher.cap
            )));
        }
        Ok(got)
    }
}

/// Why one request failed.
enum Failure {
    /// the connection was closed or reset before a response: worth one retry
    Closed(reqwest::Error),
    Http(reqwest::Error),
    Other(anyhow::Error),
}

impl Failure {
    fn from_reqwest(e: reqwest::Error) -> Failure {
        if !e.is_timeout() && !e.is_connect() && is_closed(&e) {
            Failure::Closed(e)
        } else {
            Failure::Http(e)
        }
    }

    fn into_error(self, url: &str) -> anyhow::Error {
        match self {
            Failure::Closed(e) | Failure::Http(e) if is_starved(&e) => {
                anyhow::Error::new(Starved(format!("{url}: {}", describe(&e))))
            }
            Failure::Closed(e) | Failure::Http(e) => anyhow!("{url}: {}", describe(&e)),
            Failure::Other(e) => e,
        }
    }
}

/// A connection closed or reset under a request (hyper's "connection closed before message
/// completed", ECONNRESET, EPIPE).
fn is_closed(e: &reqwest::Error) -> bool {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            ) {
                return true;
            }
        }
        let t = s.to_string();
        if t.contains("connection closed") || t.contains("IncompleteMessage") {
            return true;
        }
        src = s.source();
    }
    false
}

/// An I/O error in words: "timed out", or the innermost cause (hyper's and reqwest's outer
/// messages, "request or response body error", say nothing).
fn describe_io(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return "timed out".into();
    }
    let mut src: Option<&dyn std::error::Error> = Some(e);
    let mut last = e.to_string();
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<reqwest::Error>() {
            if r.is_timeout() {
                return "timed out".into();
            }
        }
        last = s.to_string();
        src = s.source();
    }
    last
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = e.to_string();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    if e.is_connect() {
        return format!("cannot connect ({last})");
    }
    last
}

/// named's pid file where Debian's bind9 writes it (bind_exporter's default too).
pub(crate) const DEFAULT_PID_FILE: &str = "/run/named/named.pid";

/// named's process from `/proc`: the pid from `pid_file`, else from [`DEFAULT_PID_FILE`],
/// else the one process whose command is `named`. `Ok(None)` when there is none to find
/// (no pid file given, none at the default place, no or several `named` processes).
pub(crate) fn named_process(
    pid_file: Option<&std::path::Path>,
) -> anyhow::Result<Option<crate::bindstats::model::process::NamedProcess>> {
    use crate::bindstats::model::process as p;
    use crate::common::fsread::read_capped_string;
    let pid = match pid_file {
        Some(f) => Some(read_pid(f)?),
        None => match read_pid(std::path::Path::new(DEFAULT_PID_FILE)) {
            Ok(pid) => Some(pid),
            Err(_) => only_process_named("named"),
        },
    };
    let Some(pid) = pid else {
        return Ok(None);
    };
    let dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let stat_text = read_capped_string(&dir.join("stat"), 64 << 10)
        .with_context(|| format!("named (pid {pid}) is not running"))?;
    let stat = p::parse_stat(&stat_text)
        .with_context(|| format!("/proc/{pid}/stat: unexpected format"))?;
    let btime = read_capped_string(std::path::Path::new("/proc/stat"), 16 << 20)
        .ok()
        .and_then(|s| p::parse_btime(&s))
        .context("/proc/stat: no btime")?;
    let limits = read_capped_string(&dir.join("limits"), 64 << 10)
        .ok()
        .and_then(|s| p::parse_max_fds(&s))
        .flatten();
    let open_fds = std::fs::read_dir(dir.join("fd"))
        .ok()
        .map(|d| d.count() as u64);
    let (ticks, page) = sysconf_ticks_page();
    Ok(Some(p::process(
        pid, stat, btime, ticks, page, open_fds, limits,
    )))
}

fn read_pid(f: &std::path::Path) -> anyhow::Result<u32> {
    let s = crate::common::fsread::read_capped_string(f, 64)?;
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|p| *p > 0)
        .with_context(|| format!("{}: not a process id", f.display()))
}

/// The pid of the one process whose command (`/proc/PID/comm`) is `name`.
fn only_process_named(name: &str) -> Option<u32> {
    let mut found = None;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            if found.is_some() {
                // several (instances): which one the URL talks to is not known
                return None;
            }
            found = Some(pid);
        }
    }
    found
}

/// Clock ticks per second and the page size.
#[allow(unsafe_code)]
fn sysconf_ticks_page() -> (u64, u64) {
    // SAFETY: sysconf reads a constant of the C library
    let (t, p) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (
        u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100),
        u64::try_from(p).ok().filter(|p| *p > 0).unwrap_or(4096),
    )
}
