//! Fetching BIND statistics-channel documents over HTTP (reqwest, blocking, no TLS: the
//! channel is plain HTTP), with a total timeout, a size cap and deflate/gzip accepted.

use std::io::Read;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::domain::bind::{parse_reader, Stats, ZoneFilter};

pub struct Fetcher {
    client: reqwest::blocking::Client,
    cap: u64,
}

impl Fetcher {
    pub fn new(timeout: Duration, cap: u64) -> anyhow::Result<Fetcher> {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("opskit-bindstats/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(Fetcher { client, cap })
    }

    /// GET `url`: the body, or `None` on 404 (a subset this BIND does not serve).
    pub fn get(&self, url: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let resp = self
            .client
            .get(url)
            .send()
            .map_err(|e| anyhow::anyhow!("{url}: {}", describe(&e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            bail!("{url}: HTTP {status}");
        }
        let mut body = Vec::new();
        resp.take(self.cap + 1)
            .read_to_end(&mut body)
            .map_err(|e| anyhow::anyhow!("{url}: reading the body: {e}"))?;
        if body.len() as u64 > self.cap {
            bail!("{url}: document larger than the {} byte cap", self.cap);
        }
        Ok(Some(body))
    }

    /// Fetch what the graphs need. XML v3 servers are asked for subsets only (`/xml/v3/server`,
    /// `/mem`, `/tasks` while it exists, `/zones` when per-zone graphs are on): the full
    /// document costs named time and locks. JSON URLs (`.../json/v1`) are fetched as given;
    /// servers without v3 (BIND 9.9) answer the root URL with v2.
    pub fn fetch(&self, base: &str, zones: &ZoneFilter) -> anyhow::Result<Stats> {
        let parse = |doc: &[u8]| parse_reader(doc, zones);
        let base = base.trim_end_matches('/');
        if base.contains("/json") {
            let doc = self
                .get(base)?
                .with_context(|| format!("{base}: HTTP 404 Not Found"))?;
            return parse(&doc).map_err(|e| anyhow::anyhow!("{base}: {e}"));
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
            let doc = self
                .get(&url)?
                .with_context(|| format!("{url}: HTTP 404 Not Found"))?;
            return parse(&doc).map_err(|e| anyhow::anyhow!("{url}: {e}"));
        };
        let mut st = parse(&doc).map_err(|e| anyhow::anyhow!("{server_url}: {e}"))?;
        let mut parts = vec!["mem", "tasks"];
        if *zones != ZoneFilter::None {
            parts.push("zones");
        }
        for p in parts {
            let url = format!("{v3}/{p}");
            if let Some(doc) = self.get(&url)? {
                let sub = parse(&doc).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
                st.merge(sub);
            }
        }
        Ok(st)
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    if e.is_connect() {
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
        let mut last = String::from("connection failed");
        while let Some(s) = src {
            last = s.to_string();
            src = s.source();
        }
        return format!("cannot connect ({last})");
    }
    e.to_string()
}
