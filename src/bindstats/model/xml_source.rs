//! The bytes an XML walk reads events from, and can jump forward in without tokenizing:
//! a document already in memory ([`Slice`]) or one read in fixed chunks from any reader
//! ([`Chunked`]), so a 5 MB statistics document is never held whole (reading it into one
//! buffer cost more than parsing it: a page fault per 4 KiB of fresh memory).

use std::io::{self, BufRead, Read};

use memchr::memmem::Finder;

/// What receives the bytes jumped over.
pub type Body<'b> = &'b mut dyn FnMut(&[u8]);

/// A buffered source with a forward jump to a marker.
pub trait XmlSource: BufRead {
    /// Consume everything up to and including the first `needle`. The bytes before it are
    /// passed to `body` (in one piece) when it is given. `Ok(false)`: the input ended first.
    fn jump_past(&mut self, needle: &Finder<'_>, body: Option<Body<'_>>) -> io::Result<bool>;

    /// Bytes consumed so far (for error positions).
    fn consumed(&self) -> u64;
}

/// A whole document in memory (an HTTP body).
pub struct Slice<'a> {
    doc: &'a [u8],
    at: usize,
}

impl<'a> Slice<'a> {
    pub fn new(doc: &'a [u8]) -> Self {
        Slice { doc, at: 0 }
    }
}

impl Read for Slice<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = (&self.doc[self.at..]).read(out)?;
        self.at += n;
        Ok(n)
    }
}

impl BufRead for Slice<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(&self.doc[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.doc.len());
    }
}

impl XmlSource for Slice<'_> {
    fn jump_past(&mut self, needle: &Finder<'_>, body: Option<Body<'_>>) -> io::Result<bool> {
        let rest = &self.doc[self.at..];
        let Some(i) = needle.find(rest) else {
            self.at = self.doc.len();
            return Ok(false);
        };
        if let Some(f) = body {
            f(&rest[..i]);
        }
        self.at += i + needle.needle().len();
        Ok(true)
    }

    fn consumed(&self) -> u64 {
        self.at as u64
    }
}

/// The chunk size of [`Chunked`]: big enough that a read is a few syscalls per megabyte,
/// small enough to stay in the CPU's cache.
pub const CHUNK: usize = 256 << 10;

/// A reader read in chunks of one reused buffer.
pub struct Chunked<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    consumed: u64,
    eof: bool,
    /// a jumped-over body that spans chunks, gathered
    scratch: Vec<u8>,
    /// the whitespace [`Chunked::first_non_space`] consumed, given back by
    /// [`Chunked::into_rest`] (a JSON parser's line and column count it)
    lead: Vec<u8>,
}

impl<R: Read> Chunked<R> {
    pub fn new(inner: R) -> Self {
        Self::with_capacity(inner, CHUNK)
    }

    /// A chunk size of its own (tests use a few bytes to put every boundary everywhere).
    pub fn with_capacity(inner: R, cap: usize) -> Self {
        Chunked {
            inner,
            buf: vec![0; cap.max(64)],
            start: 0,
            end: 0,
            consumed: 0,
            eof: false,
            scratch: Vec::new(),
            lead: Vec::new(),
        }
    }

    /// Move what is left to the front and read more after it. `false` at the end of input.
    fn more(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buf.len() {
            // only a caller that never consumes gets here: grow rather than stall
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The first byte that is not ASCII whitespace, consuming the whitespace before it (kept
    /// for [`Chunked::into_rest`]).
    pub fn first_non_space(&mut self) -> io::Result<Option<u8>> {
        loop {
            let avail = &self.buf[self.start..self.end];
            let ws = avail
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(avail.len());
            self.lead.extend_from_slice(&avail[..ws]);
            self.consume(ws);
            if self.start < self.end {
                return Ok(Some(self.buf[self.start]));
            }
            if !self.more()? {
                return Ok(None);
            }
        }
    }

    /// The whitespace [`Chunked::first_non_space`] consumed, and a reader of the rest.
    pub fn into_parts(mut self) -> (Vec<u8>, impl Read) {
        let lead = std::mem::take(&mut self.lead);
        let buffered = self.buf[self.start..self.end].to_vec();
        (lead, io::Cursor::new(buffered).chain(self.inner))
    }

    /// Everything from the start, read to the end (the whitespace
    /// [`Chunked::first_non_space`] skipped included, so positions count from the start).
    pub fn into_rest(mut self) -> io::Result<Vec<u8>> {
        let mut v = std::mem::take(&mut self.lead);
        v.extend_from_slice(&self.buf[self.start..self.end]);
        if !self.eof {
            self.inner.read_to_end(&mut v)?;
        }
        Ok(v)
    }
}

impl<R: Read> Read for Chunked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Chunked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.more()?;
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.consumed += n as u64;
    }
}

impl<R: Read> XmlSource for Chunked<R> {
    fn jump_past(&mut self, needle: &Finder<'_>, mut body: Option<Body<'_>>) -> io::Result<bool> {
        let n = needle.needle().len();
        let mut spanned = false;
        self.scratch.clear();
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(i) = needle.find(avail) {
                if let Some(f) = body.as_mut() {
                    if spanned {
                        self.scratch.extend_from_slice(&avail[..i]);
                        f(&self.scratch);
                    } else {
                        f(&avail[..i]);
                    }
                }
                self.consume(i + n);
                // a reader restarted here first looks for a byte order mark in what one
                // fill_buf gives: let that be all three bytes, as in memory
                while self.end - self.start < 3 && self.more()? {}
                return Ok(true);
            }
            // the last n-1 bytes may be the start of the needle: keep them for the next read
            let safe = avail.len().saturating_sub(n.saturating_sub(1));
            if body.is_some() {
                self.scratch.extend_from_slice(&avail[..safe]);
                spanned = true;
            }
            self.consume(safe);
            if !self.more()? {
                return Ok(false);
            }
        }
    }

    fn consumed(&self) -> u64 {
        self.consumed
    }
}

/// The longest text or tag taken in an XML document, in bytes. BIND's texts are numbers and
/// names and its tags short: [`Bounded`] refuses to read on past this many bytes without a
/// `<` or without a `>`, so what the XML reader buffers for one event (and the text the walk
/// gathers) stays bounded whatever the document.
pub const MAX_RUN: u64 = 1 << 20;

/// A source that fails once [`MAX_RUN`] bytes go by without a `<` or without a `>`.
pub struct Bounded<S> {
    inner: S,
    since_lt: u64,
    since_gt: u64,
}

impl<S: XmlSource> Bounded<S> {
    pub fn new(inner: S) -> Self {
        Bounded {
            inner,
            since_lt: 0,
            since_gt: 0,
        }
    }
}

impl<S: XmlSource> Read for Bounded<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<S: XmlSource> BufRead for Bounded<S> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.since_lt > MAX_RUN || self.since_gt > MAX_RUN {
            return Err(io::Error::other(format!(
                "a text or tag longer than {MAX_RUN} bytes before byte {} (BIND's are numbers \
                 and names)",
                self.inner.consumed()
            )));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        // the bytes handed out by the last fill_buf, still there (no read happens)
        if let Ok(b) = self.inner.fill_buf() {
            let b = &b[..n.min(b.len())];
            let run = |last: Option<usize>, was: u64| match last {
                Some(i) => (b.len() - i - 1) as u64,
                None => was + b.len() as u64,
            };
            self.since_lt = run(memchr::memrchr(b'<', b), self.since_lt);
            self.since_gt = run(memchr::memrchr(b'>', b), self.since_gt);
        }
        self.inner.consume(n);
    }
}

impl<S: XmlSource> XmlSource for Bounded<S> {
    fn jump_past(&mut self, needle: &Finder<'_>, body: Option<Body<'_>>) -> io::Result<bool> {
        // a jump ends just past an end tag
        self.since_lt = 0;
        self.since_gt = 0;
        self.inner.jump_past(needle, body)
    }

    fn consumed(&self) -> u64 {
        self.inner.consumed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jumps<S: XmlSource>(mut s: S) -> Vec<(bool, Vec<u8>, u64)> {
        let f = Finder::new(b"</z>");
        let mut out = Vec::new();
        loop {
            let mut got = Vec::new();
            let found = s
                .jump_past(&f, Some(&mut |b: &[u8]| got = b.to_vec()))
                .unwrap();
            out.push((found, got, s.consumed()));
            if !found {
                return out;
            }
        }
    }

    #[test]
    fn chunked_jumps_agree_with_the_slice_at_every_chunk_size() {
        let doc = b"<a><z>one</z><z>two, a longer body over boundaries</z></z>tail</z";
        let want = jumps(Slice::new(doc));
        assert_eq!(want.len(), 4);
        assert_eq!(want[1].1, b"<z>two, a longer body over boundaries");
        for cap in [64, 65, 100, 4096] {
            let padded: Vec<u8> = [&[b' '; 70][..], doc].concat();
            let mut c = Chunked::with_capacity(&padded[..], cap);
            assert_eq!(c.first_non_space().unwrap(), Some(b'<'));
            let got = jumps(c);
            let shifted: Vec<_> = want
                .iter()
                .map(|(f, b, n)| (*f, b.clone(), n + 70))
                .collect();
            // at the end nothing is found: the slice consumes all, the reader keeps n-1 bytes
            assert_eq!(got[..3], shifted[..3], "chunk {cap}");
            assert!(!got[3].0);
        }
    }

    #[test]
    fn bounded_refuses_a_long_run_without_angle_brackets() {
        let read_all = |doc: &[u8]| -> io::Result<usize> {
            let mut b = Bounded::new(Chunked::with_capacity(doc, 4096));
            let mut n = 0;
            loop {
                let got = b.fill_buf()?.len();
                if got == 0 {
                    return Ok(n);
                }
                b.consume(got);
                n += got;
            }
        };
        // refused within a chunk past the limit
        let run = MAX_RUN as usize + 2 * 4096;
        let text = [b"<a>".as_slice(), &vec![b'x'; run], b"</a>"].concat();
        assert!(read_all(&text).is_err(), "text");
        let tag = [b"<a b=\"".as_slice(), &vec![b'<'; run], b"\">"].concat();
        assert!(read_all(&tag).is_err(), "tag");
        // the healthy twin: as many bytes, with tags all along
        let fine = b"<a>12345</a>".repeat(run / 12 + 1);
        assert_eq!(read_all(&fine).unwrap(), fine.len());
    }

    #[test]
    fn first_non_space_and_rest() {
        let doc = [vec![b'\n'; 300], b"{\"a\":1}".to_vec()].concat();
        let mut c = Chunked::with_capacity(&doc[..], 64);
        assert_eq!(c.first_non_space().unwrap(), Some(b'{'));
        assert_eq!(c.into_rest().unwrap(), doc, "the whitespace is given back");
        let mut c = Chunked::with_capacity(&b"   \n\t"[..], 64);
        assert_eq!(c.first_non_space().unwrap(), None);
    }
}
