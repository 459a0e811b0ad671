//! `/proc/interrupts` and `/proc/softirqs`: parsing one snapshot.
//!
//! The format, as every kernel and architecture prints it:
//! - a header of `CPUn` tokens: the *ids* of the online CPUs (softirqs: the possible CPUs), in
//!   increasing order. Offline CPUs leave gaps (`CPU0 .. CPU5 CPU7`), so columns are labelled
//!   from the header, never by position;
//! - one row per interrupt: a label, a `:` (the FIRST one: arm64 prints `IPI0:2768808080` with
//!   no space, s390x descriptions contain `:`), then one count per CPU column, or a single count
//!   (`ERR`, `MIS`, `Err`), or none (`FIQ:  usb_fiq`), then a free-text description (chip, hwirq,
//!   trigger, device names: spaces, `:` and `[]` included);
//! - blank and whitespace-only lines anywhere; named rows before and after numbered ones;
//! - s390x: summary rows (`EXT`, `I/O`, `AIO`, no description) whose interrupts are also
//!   counted, by cause, in rows described `[EXT] ...`, `[I/O] ...`, `[AIO] ...`; numbered
//!   (PCI MSI) interrupts arrive as adapter interrupts and are counted in `AIO` too.
//!
//! What the kernel never prints is refused with the line: a numbered IRQ with fewer counts
//! than CPU columns (a truncated line), more counts than columns, a label twice, CPU ids out of
//! order, a label that is not short printable ASCII. Descriptions are device names, which can
//! hold any byte a network interface name can: invalid UTF-8 there is replaced (U+FFFD) and the
//! line is reported as a warning.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

/// The longest label accepted (real ones: `BLOCK_IOPOLL`, 12 bytes).
pub const MAX_LABEL: usize = 32;

/// The most rows accepted: real kernels have at most a few thousand interrupt lines (the
/// 1152-CPU capture has 1056); a file with more is refused, not held in memory row by row.
pub const MAX_ROWS: usize = 100_000;

/// What went wrong, and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    Empty,
    NoHeader,
    /// A CPU id not above the one before it (the kernel prints them in increasing order).
    CpuOrder(u32),
    NoColon,
    EmptyLabel,
    /// A label longer than [`MAX_LABEL`] or with bytes other than printable ASCII.
    BadLabel,
    /// A numbered IRQ with fewer counts than CPU columns (a truncated line).
    ShortRow {
        counts: usize,
        cpus: usize,
    },
    /// More counts than CPU columns.
    LongRow {
        cpus: usize,
    },
    BadNumber(String),
    DuplicateLabel(String),
    /// More than [`MAX_ROWS`] rows.
    TooManyRows,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        match &self.kind {
            ParseErrorKind::Empty => write!(f, "empty file: no CPU header"),
            ParseErrorKind::NoHeader => write!(
                f,
                "line {line}: expected a header of CPU columns (CPU0 CPU1 ...)"
            ),
            ParseErrorKind::CpuOrder(id) => write!(
                f,
                "line {line}: CPU{id} is not above the CPU before it (ids must increase)"
            ),
            ParseErrorKind::NoColon => {
                write!(f, "line {line}: expected 'LABEL: counts...', found no ':'")
            }
            ParseErrorKind::EmptyLabel => write!(f, "line {line}: empty interrupt label"),
            ParseErrorKind::BadLabel => write!(
                f,
                "line {line}: the label is not a short ASCII name (at most {MAX_LABEL} bytes)"
            ),
            ParseErrorKind::ShortRow { counts, cpus } => write!(
                f,
                "line {line}: {counts} counts for {cpus} CPU columns (truncated line?)"
            ),
            ParseErrorKind::LongRow { cpus } => {
                write!(f, "line {line}: more counts than the {cpus} CPU columns")
            }
            ParseErrorKind::BadNumber(s) => {
                write!(f, "line {line}: count '{s}' is not a number")
            }
            ParseErrorKind::DuplicateLabel(s) => {
                write!(f, "line {line}: interrupt '{s}' appears twice")
            }
            ParseErrorKind::TooManyRows => write!(
                f,
                "line {line}: more than {MAX_ROWS} interrupt rows (real kernels have a few thousand)"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// How a row's counts relate to the CPU columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// One count per CPU column.
    PerCpu,
    /// One system-wide count (ERR, MIS, Err).
    Single,
    /// No count at all (`FIQ:  usb_fiq`).
    NoCount,
}

/// Whether a row's interrupts are counted in totals, or already counted by a summary row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowRole {
    /// Counted once, on its own.
    Plain,
    /// A summary row (s390x `EXT`, `I/O`, `AIO`): counted; its members are not.
    Summary,
    /// Counted by the summary row at this index (s390x `[EXT] Clock Comparator`); not added
    /// to totals again.
    Member(usize),
}

/// One row of a snapshot. Strings live in the snapshot's text buffer; counts in its flat array.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    label: Range<usize>,
    desc: Range<usize>,
    /// Into `counts`, `wide` or `small`, as `store` says.
    counts: Range<usize>,
    store: Store,
    kind: RowKind,
    role: RowRole,
}

/// Where a row's counts are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    /// 32-bit, as the kernel prints them.
    Narrow,
    /// 64-bit: a row with a count above `u32::MAX`.
    Wide,
    /// 8-bit: a long row whose counts are all below 256 (a 100,000-CPU row of small counts
    /// takes 100 KB, not 400 KB: memory follows the file's size, not its CPU x IRQ matrix).
    Small,
    /// 16-bit: a long row whose counts are all below 65536.
    Half,
}

/// The fewest counts in a row for it to be kept in 8 bits when it can.
const SMALL_ROW: usize = 64;

/// One parsed `/proc/interrupts` (or `/proc/softirqs`).
///
/// Built to be parsed again in place ([`Snapshot::parse_into`]) so a long-running sampler
/// reuses its buffers instead of allocating per sample.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// CPU ids, in column order (increasing), from the header.
    pub cpus: Vec<u32>,
    rows: Vec<Row>,
    /// The counts of every row, as the kernel prints them (`unsigned int`): 4 bytes a cell
    /// (the 1152-CPU capture has 1.2 million).
    counts: Vec<u32>,
    /// The counts of the rare rows with a value above `u32::MAX`.
    wide: Vec<u64>,
    /// The counts of long rows of small counts.
    small: Vec<u8>,
    /// The counts of long rows of counts below 65536.
    half: Vec<u16>,
    text: String,
    /// Lines whose description was not valid UTF-8 (replaced by U+FFFD), at most 16.
    pub lossy_lines: Vec<usize>,
}

impl Clone for Snapshot {
    fn clone(&self) -> Self {
        let mut s = Snapshot::default();
        s.clone_from(self);
        s
    }

    /// Field by field, so the destination's buffers are reused (the TUI copies every sample).
    fn clone_from(&mut self, src: &Self) {
        self.cpus.clone_from(&src.cpus);
        self.rows.clone_from(&src.rows);
        self.counts.clone_from(&src.counts);
        self.wide.clone_from(&src.wide);
        self.small.clone_from(&src.small);
        self.half.clone_from(&src.half);
        self.text.clone_from(&src.text);
        self.lossy_lines.clone_from(&src.lossy_lines);
    }
}

/// The lines of `text` (split at `\n`, as `split` would, with memchr's speed: the 1152-CPU
/// capture is 13.4 MB in 1056 lines).
pub fn lines_of(text: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', text);
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let line = match ends.next() {
            Some(e) => &text[start..e],
            None => {
                done = true;
                &text[start..]
            }
        };
        start += line.len() + 1;
        Some(line)
    })
}

/// Where an incremental parse is ([`Snapshot::begin_lines`]).
#[derive(Debug, Default)]
pub struct LineState {
    /// Lines fed so far (the number of the last one).
    lineno: usize,
    header: bool,
    seen: HashSet<String>,
}

/// A borrowed view of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef<'a> {
    pub label: &'a str,
    /// The description with runs of blanks folded to one space (as lsirq shows it).
    pub desc: &'a str,
    /// Per-CPU counts (PerCpu), the single count (Single) or nothing (NoCount).
    pub counts: Counts<'a>,
    pub kind: RowKind,
    pub role: RowRole,
}

impl RowRef<'_> {
    /// Sum of the row's counts (what lsirq calls TOTAL).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// True for numbered (device) interrupts: `24`, `1160`.
    pub fn is_numbered(&self) -> bool {
        is_numbered(self.label)
    }
}

/// A row's counts: 32-bit as the kernel prints them, or 64-bit for a row with a larger one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts<'a> {
    Narrow(&'a [u32]),
    Wide(&'a [u64]),
    Small(&'a [u8]),
    Half(&'a [u16]),
}

impl Counts<'_> {
    pub fn len(&self) -> usize {
        match self {
            Counts::Narrow(c) => c.len(),
            Counts::Wide(c) => c.len(),
            Counts::Small(c) => c.len(),
            Counts::Half(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Count `j` (`None` past the end).
    pub fn get(&self, j: usize) -> Option<u64> {
        match self {
            Counts::Narrow(c) => c.get(j).map(|&v| u64::from(v)),
            Counts::Wide(c) => c.get(j).copied(),
            Counts::Small(c) => c.get(j).map(|&v| u64::from(v)),
            Counts::Half(c) => c.get(j).map(|&v| u64::from(v)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let (n, w, b, h): (&[u32], &[u64], &[u8], &[u16]) = match *self {
            Counts::Narrow(c) => (c, &[], &[], &[]),
            Counts::Wide(c) => (&[], c, &[], &[]),
            Counts::Small(c) => (&[], &[], c, &[]),
            Counts::Half(c) => (&[], &[], &[], c),
        };
        n.iter()
            .map(|&v| u64::from(v))
            .chain(w.iter().copied())
            .chain(b.iter().map(|&v| u64::from(v)))
            .chain(h.iter().map(|&v| u64::from(v)))
    }

    pub fn to_vec(self) -> Vec<u64> {
        self.iter().collect()
    }
}

/// True when an IRQ label is a number (a device interrupt with /proc/irq/N/).
pub fn is_numbered(label: &str) -> bool {
    !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit())
}

/// The index of the first non-blank byte of `rest` at or after `i`. Counts are padded with
/// runs of spaces (`%10u `): eight bytes at a time, then byte by byte for other blanks.
#[inline]
fn skip_blanks(rest: &[u8], mut i: usize) -> usize {
    const SPACES: u64 = 0x2020_2020_2020_2020;
    while let Some(w) = rest.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let x = u64::from_le_bytes(*w) ^ SPACES;
        if x != 0 {
            // the lowest non-zero byte is the first that is not a space
            i += (x.trailing_zeros() / 8) as usize;
            break;
        }
        i += 8;
    }
    while i < rest.len() && rest[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// One count token at the start of `rest[*pos..]`: `Ok(Some(v))` and `*pos` past it, `Ok(None)`
/// (and `*pos` past the blanks) when the next token is not a number. The hot loop of the
/// parser (1.2 million counts in the 1152-CPU capture): one pass, overflow checked only for
/// tokens long enough to overflow.
#[inline]
fn next_count(rest: &[u8], pos: &mut usize) -> Result<Option<u64>, ParseErrorKind> {
    let mut i = skip_blanks(rest, *pos);
    *pos = i;
    let start = i;
    let mut v: u64 = 0;
    while i < rest.len() {
        let d = rest[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    if i == start || (i < rest.len() && !rest[i].is_ascii_whitespace()) {
        return Ok(None);
    }
    if i - start >= 20 {
        // u64::MAX has 20 digits: check this one properly
        let tok = &rest[start..i];
        let bad = || ParseErrorKind::BadNumber(String::from_utf8_lossy(tok).into_owned());
        v = std::str::from_utf8(tok)
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or_else(bad)?;
    }
    *pos = i;
    Ok(Some(v))
}

/// The CPU ids of a header line (strictly increasing).
fn parse_header(line: &[u8], lineno: usize, cpus: &mut Vec<u32>) -> Result<(), ParseError> {
    let err = |kind| ParseError { line: lineno, kind };
    for tok in line
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        let id = tok
            .strip_prefix(b"CPU")
            .and_then(|n| std::str::from_utf8(n).ok())
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or(err(ParseErrorKind::NoHeader))?;
        if cpus.last().is_some_and(|&last| id <= last) {
            return Err(err(ParseErrorKind::CpuOrder(id)));
        }
        cpus.push(id);
    }
    if cpus.is_empty() {
        return Err(err(ParseErrorKind::NoHeader));
    }
    Ok(())
}

/// The label of a row (before the first `:`), checked; and the bytes after the `:`.
fn split_label(line: &[u8]) -> Result<(&str, &[u8]), ParseErrorKind> {
    let colon = memchr::memchr(b':', line).ok_or(ParseErrorKind::NoColon)?;
    let label = line[..colon].trim_ascii();
    if label.is_empty() {
        return Err(ParseErrorKind::EmptyLabel);
    }
    if label.len() > MAX_LABEL || !label.iter().all(|b| b.is_ascii_graphic()) {
        return Err(ParseErrorKind::BadLabel);
    }
    // checked ASCII above
    let label = std::str::from_utf8(label).map_err(|_| ParseErrorKind::BadLabel)?;
    Ok((label, &line[colon + 1..]))
}

impl Snapshot {
    /// Parse a whole file.
    pub fn parse(text: impl AsRef<[u8]>) -> Result<Snapshot, ParseError> {
        let mut s = Snapshot::default();
        s.parse_into(text.as_ref())?;
        Ok(s)
    }

    /// Parse `text` into `self`, reusing its allocations. On error `self` is left empty.
    pub fn parse_into(&mut self, text: &[u8]) -> Result<(), ParseError> {
        self.clear();
        let r = self.parse_inner(text);
        if r.is_err() {
            self.clear();
        }
        r
    }

    fn clear(&mut self) {
        self.cpus.clear();
        self.rows.clear();
        self.counts.clear();
        self.wide.clear();
        self.small.clear();
        self.half.clear();
        self.text.clear();
        self.lossy_lines.clear();
    }

    fn parse_inner(&mut self, text: &[u8]) -> Result<(), ParseError> {
        let mut lines = LineState::default();
        for line in lines_of(text) {
            self.feed_line(&mut lines, line)?;
        }
        self.finish_lines(&lines)
    }

    /// Start an incremental parse (the file is read in pieces): [`Snapshot::feed_line`] every
    /// line in order, then [`Snapshot::finish_lines`]. Reuses the buffers as `parse_into`.
    pub fn begin_lines(&mut self) -> LineState {
        self.clear();
        LineState::default()
    }

    /// One line (without its `\n`). On error the snapshot is left empty.
    pub fn feed_line(&mut self, st: &mut LineState, line: &[u8]) -> Result<(), ParseError> {
        st.lineno += 1;
        let r = self.line(st, line);
        if r.is_err() {
            self.clear();
        }
        r
    }

    /// The end of the file: an empty one is an error; s390x roles are assigned.
    pub fn finish_lines(&mut self, st: &LineState) -> Result<(), ParseError> {
        if !st.header {
            self.clear();
            return Err(ParseError {
                line: 1,
                kind: ParseErrorKind::Empty,
            });
        }
        self.assign_roles();
        Ok(())
    }

    fn line(&mut self, st: &mut LineState, line: &[u8]) -> Result<(), ParseError> {
        if line.trim_ascii().is_empty() {
            return Ok(());
        }
        let lineno = st.lineno;
        if !st.header {
            parse_header(line, lineno, &mut self.cpus)?;
            st.header = true;
            return Ok(());
        }
        let err = |kind| ParseError { line: lineno, kind };
        if self.rows.len() >= MAX_ROWS {
            return Err(err(ParseErrorKind::TooManyRows));
        }
        let (label, rest) = split_label(line).map_err(err)?;
        if st.seen.contains(label) {
            return Err(err(ParseErrorKind::DuplicateLabel(label.to_string())));
        }
        st.seen.insert(label.to_string());
        self.push_row(label, rest, lineno).map_err(err)
    }

    /// Counts and description of one row (`rest`: the bytes after the label's `:`).
    fn push_row(&mut self, label: &str, rest: &[u8], lineno: usize) -> Result<(), ParseErrorKind> {
        let ncpu = self.cpus.len();
        let cstart = self.counts.len();
        // where the row's counts start in `wide`, once one does not fit in 32 bits
        let mut wide: Option<usize> = None;
        let mut pos = 0;
        let mut n = 0;
        while n < ncpu {
            let Some(v) = next_count(rest, &mut pos)? else {
                break;
            };
            match (wide, u32::try_from(v)) {
                (None, Ok(v)) => self.counts.push(v),
                (None, Err(_)) => {
                    wide = Some(self.wide.len());
                    self.wide.extend(self.counts.drain(cstart..).map(u64::from));
                    self.wide.push(v);
                }
                (Some(_), _) => self.wide.push(v),
            }
            n += 1;
        }
        let kind = match n {
            n if n == ncpu => RowKind::PerCpu,
            0 if !is_numbered(label) => RowKind::NoCount,
            1 if !is_numbered(label) => RowKind::Single,
            n => {
                return Err(ParseErrorKind::ShortRow {
                    counts: n,
                    cpus: ncpu,
                })
            }
        };
        if kind == RowKind::PerCpu && matches!(next_count(rest, &mut { pos }), Ok(Some(_))) {
            return Err(ParseErrorKind::LongRow { cpus: ncpu });
        }
        let lstart = self.text.len();
        self.text.push_str(label);
        let dstart = self.text.len();
        self.push_desc(&rest[pos..], lineno);
        let (counts, store) = match wide {
            Some(w) => (w..self.wide.len(), Store::Wide),
            None if n >= SMALL_ROW => {
                let max = self.counts[cstart..].iter().copied().max().unwrap_or(0);
                if max <= 0xff {
                    let b = self.small.len();
                    self.small
                        .extend(self.counts.drain(cstart..).map(|v| v as u8));
                    (b..self.small.len(), Store::Small)
                } else if max <= 0xffff {
                    let b = self.half.len();
                    self.half
                        .extend(self.counts.drain(cstart..).map(|v| v as u16));
                    (b..self.half.len(), Store::Half)
                } else {
                    (cstart..self.counts.len(), Store::Narrow)
                }
            }
            None => (cstart..self.counts.len(), Store::Narrow),
        };
        self.rows.push(Row {
            label: lstart..dstart,
            desc: dstart..self.text.len(),
            counts,
            store,
            kind,
            role: RowRole::Plain,
        });
        Ok(())
    }

    /// The description, blanks folded; invalid UTF-8 replaced and its line noted.
    fn push_desc(&mut self, desc: &[u8], lineno: usize) {
        let desc = desc.strip_suffix(b"\r").unwrap_or(desc);
        let desc = match std::str::from_utf8(desc) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => {
                if self.lossy_lines.len() < 16 {
                    self.lossy_lines.push(lineno);
                }
                String::from_utf8_lossy(desc)
            }
        };
        for (k, word) in desc.split_ascii_whitespace().enumerate() {
            if k > 0 {
                self.text.push(' ');
            }
            self.text.push_str(word);
        }
    }

    /// s390x summary rows and their members (see the module documentation).
    fn assign_roles(&mut self) {
        let text = &self.text;
        // candidates: rows without a description, by label
        let summaries: std::collections::HashMap<&str, usize> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.desc.is_empty())
            .map(|(i, r)| (&text[r.label.clone()], i))
            .collect();
        if summaries.is_empty() {
            return;
        }
        let mut roles: Vec<(usize, usize)> = Vec::new();
        for (m, r) in self.rows.iter().enumerate() {
            let group = text[r.desc.clone()]
                .strip_prefix('[')
                .and_then(|d| d.split_once(']'))
                .map(|(g, _)| g);
            if let Some(&s) = group.and_then(|g| summaries.get(g)) {
                if s != m && self.rows[s].kind == r.kind {
                    roles.push((m, s));
                }
            }
        }
        let aio = summaries
            .get("AIO")
            .copied()
            .filter(|&a| roles.iter().any(|&(_, s)| s == a));
        if let Some(aio) = aio {
            for (m, r) in self.rows.iter().enumerate() {
                if is_numbered(&text[r.label.clone()]) && r.kind == self.rows[aio].kind {
                    roles.push((m, aio));
                }
            }
        }
        for (m, s) in roles {
            self.rows[m].role = RowRole::Member(s);
            self.rows[s].role = RowRole::Summary;
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> RowRef<'_> {
        let r = &self.rows[i];
        RowRef {
            label: &self.text[r.label.clone()],
            desc: &self.text[r.desc.clone()],
            counts: match r.store {
                Store::Wide => Counts::Wide(&self.wide[r.counts.clone()]),
                Store::Narrow => Counts::Narrow(&self.counts[r.counts.clone()]),
                Store::Small => Counts::Small(&self.small[r.counts.clone()]),
                Store::Half => Counts::Half(&self.half[r.counts.clone()]),
            },
            kind: r.kind,
            role: r.role,
        }
    }

    /// All rows, in file order.
    pub fn rows(&self) -> impl Iterator<Item = RowRef<'_>> + '_ {
        (0..self.rows.len()).map(|i| self.row(i))
    }

    /// The column of CPU `id` (the header is sorted, so a binary search).
    pub fn cpu_column(&self, id: u32) -> Option<usize> {
        self.cpus.binary_search(&id).ok()
    }
}

/// When a snapshot was taken: a monotonic reading (for rates) and the wall clock (to show).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// Seconds on a monotonic clock; only differences matter.
    pub mono: f64,
    /// Unix time, seconds and nanoseconds.
    pub wall: (i64, u32),
}

/// Format a unix time (seconds + nanoseconds, UTC) as RFC 3339 with millisecond precision.
pub fn rfc3339_utc(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        nanos / 1_000_000
    )
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A small x86 /proc/interrupts (the rates tests use it too).
    pub const X86: &str = "           CPU0       CPU1       \n\
  0:         44          0   IO-APIC   2-edge      timer\n\
  8:          0          1   IO-APIC   8-edge      rtc0\n\
NMI:          0          0   Non-maskable interrupts\n\
LOC:      12345      23456   Local timer interrupts\n\
ERR:          3\n\
MIS:          0\n";

    #[test]
    fn counts_above_32_bits_keep_their_row_wide() {
        let t = "  CPU0 CPU1 CPU2\n 1: 7 4294967296 9 a\n 2: 1 2 3 b\nBIG: 18446744073709551615\n";
        let s = Snapshot::parse(t).unwrap();
        assert_eq!(s.row(0).counts, Counts::Wide(&[7, 1 << 32, 9]));
        assert_eq!(s.row(0).total(), (1 << 32) + 16);
        assert_eq!(s.row(1).counts, Counts::Narrow(&[1, 2, 3]));
        assert_eq!(s.row(2).counts.get(0), Some(u64::MAX));
        assert_eq!(s.row(2).counts.get(1), None);
        assert_eq!(s.counts.len() + s.wide.len(), 7);
        // rates across a wide and a narrow row of the same label
        let u = Snapshot::parse("  CPU0 CPU1 CPU2\n 1: 9 4294967300 9 a\n 2: 1 2 3 b\nBIG: 5\n")
            .unwrap();
        let r = crate::itop::model::rates::rates(&s, &u, 1.0);
        assert_eq!(
            r.irqs[0].per_cpu.to_vec(),
            [Some(2.0), Some(4.0), Some(0.0)]
        );
        assert_eq!(
            r.irqs[2].change,
            crate::itop::model::rates::RowChange::Reset
        );
        let back = crate::itop::model::rates::rates(&u, &s, 1.0);
        assert_eq!(
            back.irqs[0].change,
            crate::itop::model::rates::RowChange::Reset
        );
    }

    #[test]
    fn parses_rows_kinds_and_descriptions() {
        let s = Snapshot::parse(X86).unwrap();
        assert_eq!(s.cpus, [0, 1]);
        assert_eq!(s.len(), 6);
        let r = s.row(0);
        assert_eq!(
            (r.label, r.desc, r.counts.to_vec()),
            ("0", "IO-APIC 2-edge timer", vec![44, 0])
        );
        assert_eq!(r.kind, RowKind::PerCpu);
        assert_eq!(s.row(3).total(), 35801);
        let e = s.row(4);
        assert_eq!(
            (e.label, e.kind, e.counts.to_vec(), e.desc),
            ("ERR", RowKind::Single, vec![3], "")
        );
    }

    #[test]
    fn arm64_label_without_space_and_row_without_counts() {
        let t = "      CPU0  CPU1\nIPI0:2768808080 2844211768       Rescheduling interrupts\nFIQ:  usb_fiq\nErr:          0\n  \t \n";
        let s = Snapshot::parse(t).unwrap();
        assert_eq!(s.row(0).label, "IPI0");
        assert_eq!(
            s.row(0).counts,
            Counts::Narrow(&[2_768_808_080, 2_844_211_768])
        );
        assert_eq!(s.row(0).desc, "Rescheduling interrupts");
        assert_eq!(s.row(1).kind, RowKind::NoCount);
        assert_eq!(s.row(1).desc, "usb_fiq");
        assert_eq!(s.row(2).kind, RowKind::Single);
    }

    #[test]
    fn descriptions_with_colons_and_brackets() {
        let t = "  CPU0 CPU1\nEXC:   5  6   [EXT] CPU-Measurement: Sampling\n 98:  1  2  PCI-MSIX-0000:00:01.0   0-edge  mlx5_comp0@pci:0002:00:00.0\n";
        let s = Snapshot::parse(t).unwrap();
        assert_eq!(s.row(0).desc, "[EXT] CPU-Measurement: Sampling");
        assert_eq!(
            s.row(1).desc,
            "PCI-MSIX-0000:00:01.0 0-edge mlx5_comp0@pci:0002:00:00.0"
        );
    }

    #[test]
    fn header_with_offline_gap() {
        let t = "  CPU0 CPU1 CPU3\n 1: 1 2 3 x\n";
        let s = Snapshot::parse(t).unwrap();
        assert_eq!(s.cpus, [0, 1, 3]);
        assert_eq!(s.cpu_column(3), Some(2));
        assert_eq!(s.cpu_column(2), None);
    }

    #[test]
    fn malformed_input_names_the_line() {
        let e = Snapshot::parse("  CPU0 CPU1\n 0: 1 2 3 x\n").unwrap_err();
        assert_eq!((e.line, e.kind), (2, ParseErrorKind::LongRow { cpus: 2 }));
        let e = Snapshot::parse("  CPU0 CPU1\n 0: 1 x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: 1 counts for 2 CPU columns (truncated line?)"
        );
        let e = Snapshot::parse("  CPU0 CPU1\n 0:\n").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::ShortRow { counts: 0, cpus: 2 });
        let e = Snapshot::parse("  CPU0 CPU1\n 0: 1 2 a\nLOC: 1 2\n\n 0: 3 4 b\n").unwrap_err();
        assert_eq!(e.to_string(), "line 5: interrupt '0' appears twice");
        let e = Snapshot::parse("  CPU1 CPU0\n").unwrap_err();
        assert_eq!((e.line, e.kind), (1, ParseErrorKind::CpuOrder(0)));
        let e = Snapshot::parse("  CPU0 CPU0\n").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::CpuOrder(0));
        let many: String = std::iter::once("  CPU0\n".to_string())
            .chain((0..=MAX_ROWS).map(|i| format!("{i}: 1\n")))
            .collect();
        let e = Snapshot::parse(&many).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::TooManyRows);
        assert_eq!(
            e.to_string(),
            "line 100002: more than 100000 interrupt rows (real kernels have a few thousand)"
        );
        let long = format!("  CPU0\n{}: 1\n", "X".repeat(MAX_LABEL + 1));
        assert_eq!(
            Snapshot::parse(long).unwrap_err().kind,
            ParseErrorKind::BadLabel
        );
        let e = Snapshot::parse("  CPU0\n\x1b[2J: 1\n").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::BadLabel);
        let e = Snapshot::parse("  CPU0 CPU+1\n").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::NoHeader);
        let e = Snapshot::parse("").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Empty);
        let e = Snapshot::parse("hello world\n").unwrap_err();
        assert_eq!((e.line, e.kind), (1, ParseErrorKind::NoHeader));
        let e = Snapshot::parse("  CPU0 CPU1 CPU2\n 0: 1 2 3 x\n 1: 4 5\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(
            e.to_string(),
            "line 3: 2 counts for 3 CPU columns (truncated line?)"
        );
        let e = Snapshot::parse("  CPU0\n garbage line\n").unwrap_err();
        assert_eq!((e.line, e.kind), (2, ParseErrorKind::NoColon));
        let e = Snapshot::parse("  CPU0\n 0: 99999999999999999999999 x\n").unwrap_err();
        assert!(matches!(e.kind, ParseErrorKind::BadNumber(_)));
        let e = Snapshot::parse("  CPU0\n : 1\n").unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::EmptyLabel);
    }

    #[test]
    fn invalid_utf8_in_a_description_is_replaced_and_noted() {
        let s = Snapshot::parse(b"  CPU0\n 1: 5 PCI-MSI eth\xff0\n 2: 6 ok\n").unwrap();
        assert_eq!(s.row(0).desc, "PCI-MSI eth\u{fffd}0");
        assert_eq!(s.lossy_lines, [2]);
        // a label or count is never a device name: invalid bytes there are an error
        let e = Snapshot::parse(b"  CPU0\n \xff1: 5 x\n").unwrap_err();
        assert_eq!((e.line, e.kind), (2, ParseErrorKind::BadLabel));
    }

    #[test]
    fn s390x_summary_rows_and_members() {
        let t = "  CPU0 CPU1\nEXT: 30 70\nI/O: 5 5\nAIO: 4 0\n 3: 1 0 PCI-MSI mlx5\nCLK: 10 60 [EXT] Clock Comparator\nEXC: 20 10 [EXT] External Call\nDAS: 5 5 [I/O] DASD\nQAI: 3 0 [AIO] QDIO\nPCF: 1 0 [AIO] PCI Floating\nNMI: 0 0 [NMI] Machine Check\n";
        let s = Snapshot::parse(t).unwrap();
        let roles: Vec<_> = s.rows().map(|r| (r.label, r.role)).collect();
        assert_eq!(
            roles,
            [
                ("EXT", RowRole::Summary),
                ("I/O", RowRole::Summary),
                ("AIO", RowRole::Summary),
                ("3", RowRole::Member(2)),
                ("CLK", RowRole::Member(0)),
                ("EXC", RowRole::Member(0)),
                ("DAS", RowRole::Member(1)),
                ("QAI", RowRole::Member(2)),
                ("PCF", RowRole::Member(2)),
                ("NMI", RowRole::Plain),
            ]
        );
        // only summary rows without members: plain (pcp_s390x_2cpu)
        let s = Snapshot::parse("  CPU0 CPU1\nEXT: 1 2\nI/O: 3 4\n").unwrap();
        assert!(s.rows().all(|r| r.role == RowRole::Plain));
    }

    #[test]
    fn a_huge_header_parses_in_linear_time() {
        let n = 200_000;
        let mut t: String = (0..n).map(|c| format!(" CPU{c}")).collect();
        t.push('\n');
        let t0 = std::time::Instant::now();
        let s = Snapshot::parse(&t).unwrap();
        assert_eq!(s.cpus.len(), n);
        let r = crate::itop::model::rates::rates(&s, &s, 1.0);
        assert_eq!(r.cpu_totals.len(), n);
        assert!(t0.elapsed().as_secs_f64() < 2.0, "{:?}", t0.elapsed());
    }

    #[test]
    fn parse_into_reuses_and_resets() {
        let mut s = Snapshot::parse(X86).unwrap();
        s.parse_into(b"  CPU5\n 1: 7 dev\n").unwrap();
        assert_eq!(s.cpus, [5]);
        assert_eq!(s.len(), 1);
        assert!(s.parse_into(b"nonsense").is_err());
        assert!(s.is_empty());
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_utc(1_795_000_000, 123_456_789),
            "2026-11-18T11:06:40.123Z"
        );
        assert_eq!(rfc3339_utc(951_782_400, 0), "2000-02-29T00:00:00.000Z");
    }
}
