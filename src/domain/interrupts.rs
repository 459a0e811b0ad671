//! `/proc/interrupts` and `/proc/softirqs`: parsing snapshots and computing rates.
//!
//! The format, as every kernel and architecture prints it:
//! - a header of `CPUn` tokens: the *ids* of the online CPUs (softirqs: the possible CPUs).
//!   Offline CPUs leave gaps (`CPU0 .. CPU5 CPU7`), so columns are labelled from the header,
//!   never by position;
//! - one row per interrupt: a label, a `:` (the FIRST one: arm64 prints `IPI0:2768808080` with
//!   no space, s390x descriptions contain `:`), then one count per CPU column, or a single count
//!   (`ERR`, `MIS`, `Err`), or none (`FIQ:  usb_fiq`), then a free-text description (chip, hwirq,
//!   trigger, device names: spaces, `:` and `[]` included);
//! - blank and whitespace-only lines anywhere; named rows before and after numbered ones.
//!
//! Counters are 32-bit in the kernel: a delta is taken modulo 2^32 per cell, then summed in u64.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

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
    NoColon,
    EmptyLabel,
    /// A row with more than one but fewer counts than CPU columns (a truncated line).
    ShortRow {
        counts: usize,
        cpus: usize,
    },
    BadNumber(String),
    DuplicateLabel(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ParseErrorKind::Empty => write!(f, "empty file: no CPU header"),
            ParseErrorKind::NoHeader => write!(
                f,
                "line {}: expected a header of CPU columns (CPU0 CPU1 ...)",
                self.line
            ),
            ParseErrorKind::NoColon => {
                write!(
                    f,
                    "line {}: expected 'LABEL: counts...', found no ':'",
                    self.line
                )
            }
            ParseErrorKind::EmptyLabel => write!(f, "line {}: empty interrupt label", self.line),
            ParseErrorKind::ShortRow { counts, cpus } => write!(
                f,
                "line {}: {counts} counts for {cpus} CPU columns (truncated line?)",
                self.line
            ),
            ParseErrorKind::BadNumber(s) => {
                write!(f, "line {}: count '{s}' is not a number", self.line)
            }
            ParseErrorKind::DuplicateLabel(s) => {
                write!(f, "line {}: interrupt '{s}' appears twice", self.line)
            }
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

/// One row of a snapshot. Strings live in the snapshot's text buffer; counts in its flat array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    label: Range<usize>,
    desc: Range<usize>,
    counts: Range<usize>,
    pub kind: RowKind,
}

/// One parsed `/proc/interrupts` (or `/proc/softirqs`).
///
/// Built to be parsed again in place ([`Snapshot::parse_into`]) so a long-running sampler
/// reuses its buffers instead of allocating per sample.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// CPU ids, in column order, from the header.
    pub cpus: Vec<u32>,
    rows: Vec<Row>,
    counts: Vec<u64>,
    text: String,
}

impl Clone for Snapshot {
    fn clone(&self) -> Self {
        Snapshot {
            cpus: self.cpus.clone(),
            rows: self.rows.clone(),
            counts: self.counts.clone(),
            text: self.text.clone(),
        }
    }

    /// Field by field, so the destination's buffers are reused (the TUI copies every sample).
    fn clone_from(&mut self, src: &Self) {
        self.cpus.clone_from(&src.cpus);
        self.rows.clone_from(&src.rows);
        self.counts.clone_from(&src.counts);
        self.text.clone_from(&src.text);
    }
}

/// A borrowed view of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRef<'a> {
    pub label: &'a str,
    /// The description with runs of blanks folded to one space (as lsirq shows it).
    pub desc: &'a str,
    /// Per-CPU counts (PerCpu), the single count (Single) or nothing (NoCount).
    pub counts: &'a [u64],
    pub kind: RowKind,
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

/// True when an IRQ label is a number (a device interrupt with /proc/irq/N/).
pub fn is_numbered(label: &str) -> bool {
    !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit())
}

impl Snapshot {
    /// Parse a whole file.
    pub fn parse(text: &str) -> Result<Snapshot, ParseError> {
        let mut s = Snapshot::default();
        s.parse_into(text)?;
        Ok(s)
    }

    /// Parse `text` into `self`, reusing its allocations. On error `self` is left empty.
    pub fn parse_into(&mut self, text: &str) -> Result<(), ParseError> {
        self.cpus.clear();
        self.rows.clear();
        self.counts.clear();
        self.text.clear();
        let r = self.parse_inner(text);
        if r.is_err() {
            self.cpus.clear();
            self.rows.clear();
            self.counts.clear();
            self.text.clear();
        }
        r
    }

    fn parse_inner(&mut self, text: &str) -> Result<(), ParseError> {
        let mut lines = text.split('\n').enumerate();
        // header: the first non-blank line
        let mut header = None;
        for (i, line) in lines.by_ref() {
            if !line.trim().is_empty() {
                header = Some((i + 1, line));
                break;
            }
        }
        let Some((hline, header)) = header else {
            return Err(ParseError {
                line: 1,
                kind: ParseErrorKind::Empty,
            });
        };
        for tok in header.split_ascii_whitespace() {
            let id = tok
                .strip_prefix("CPU")
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or(ParseError {
                    line: hline,
                    kind: ParseErrorKind::NoHeader,
                })?;
            self.cpus.push(id);
        }
        if self.cpus.is_empty() {
            return Err(ParseError {
                line: hline,
                kind: ParseErrorKind::NoHeader,
            });
        }
        let ncpu = self.cpus.len();
        for (i, line) in lines {
            let lineno = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.bytes().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let err = |kind| ParseError { line: lineno, kind };
            let colon = line.find(':').ok_or_else(|| err(ParseErrorKind::NoColon))?;
            let label = line[..colon].trim();
            if label.is_empty() {
                return Err(err(ParseErrorKind::EmptyLabel));
            }
            let rest = &line.as_bytes()[colon + 1..];
            let cstart = self.counts.len();
            let mut pos = 0;
            let mut n = 0;
            // counts: up to ncpu leading numeric tokens
            while n < ncpu {
                while pos < rest.len() && rest[pos].is_ascii_whitespace() {
                    pos += 1;
                }
                let tok_start = pos;
                let mut v: u64 = 0;
                let mut overflow = false;
                while pos < rest.len() && rest[pos].is_ascii_digit() {
                    match v
                        .checked_mul(10)
                        .and_then(|x| x.checked_add(u64::from(rest[pos] - b'0')))
                    {
                        Some(x) => v = x,
                        None => overflow = true,
                    }
                    pos += 1;
                }
                let at_end = pos >= rest.len() || rest[pos].is_ascii_whitespace();
                if pos == tok_start || !at_end {
                    // not a number: the description starts here
                    pos = tok_start;
                    break;
                }
                if overflow {
                    let tok = String::from_utf8_lossy(&rest[tok_start..pos]).into_owned();
                    return Err(err(ParseErrorKind::BadNumber(tok)));
                }
                self.counts.push(v);
                n += 1;
            }
            let kind = match n {
                0 => RowKind::NoCount,
                1 if ncpu > 1 => RowKind::Single,
                n if n == ncpu => RowKind::PerCpu,
                n => {
                    return Err(err(ParseErrorKind::ShortRow {
                        counts: n,
                        cpus: ncpu,
                    }))
                }
            };
            let lstart = self.text.len();
            self.text.push_str(label);
            let dstart = self.text.len();
            // description, blanks folded
            let desc = &line[colon + 1 + pos..];
            for (k, word) in desc.split_ascii_whitespace().enumerate() {
                if k > 0 {
                    self.text.push(' ');
                }
                self.text.push_str(word);
            }
            self.rows.push(Row {
                label: lstart..dstart,
                desc: dstart..self.text.len(),
                counts: cstart..self.counts.len(),
                kind,
            });
        }
        Ok(())
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
            counts: &self.counts[r.counts.clone()],
            kind: r.kind,
        }
    }

    /// All rows, in file order.
    pub fn rows(&self) -> impl Iterator<Item = RowRef<'_>> + '_ {
        (0..self.rows.len()).map(|i| self.row(i))
    }

    /// Rows whose label appears more than once (none in real kernels; kept to report it).
    pub fn duplicate_label(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::new();
        self.rows().map(|r| r.label).find(|l| !seen.insert(*l))
    }
}

/// A 32-bit kernel counter's increase, robust to one wrap: `(cur - prev) mod 2^32`.
#[inline]
pub fn delta32(prev: u64, cur: u64) -> u64 {
    cur.wrapping_sub(prev) & 0xffff_ffff
}

/// Rates of one row between two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct IrqRate {
    /// Index of the row in the newer snapshot.
    pub row: usize,
    /// Interrupts per second over all CPUs; `None` the first time the row is seen.
    pub total: Option<f64>,
    /// Per CPU column of the newer snapshot: `None` where that CPU was absent from the older
    /// snapshot, or the row is new, or the row has no per-CPU counts.
    pub per_cpu: Vec<Option<f64>>,
}

/// Rates of every row between two snapshots, plus per-CPU totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// Seconds between the snapshots (measured, not nominal).
    pub elapsed: f64,
    pub irqs: Vec<IrqRate>,
    /// Per CPU column of the newer snapshot: interrupts/s over all per-CPU rows, `None` for a
    /// CPU absent from the older snapshot.
    pub cpu_totals: Vec<Option<f64>>,
    /// Sum of all known row totals.
    pub total: f64,
}

/// Reusable scratch space for [`rates_into`], so sampling does not allocate per sample.
#[derive(Debug, Default)]
pub struct RateScratch {
    by_label: HashMap<String, usize>,
    col_map: Vec<Option<usize>>,
    cpu_sums: Vec<u64>,
}

/// Compute rates from `prev` to `cur`, `elapsed` seconds apart.
pub fn rates(prev: &Snapshot, cur: &Snapshot, elapsed: f64) -> Rates {
    let mut out = Rates::default();
    rates_into(prev, cur, elapsed, &mut RateScratch::default(), &mut out);
    out
}

/// [`rates`], reusing `scratch` and `out`.
pub fn rates_into(
    prev: &Snapshot,
    cur: &Snapshot,
    elapsed: f64,
    scratch: &mut RateScratch,
    out: &mut Rates,
) {
    let elapsed = if elapsed > 0.0 { elapsed } else { f64::NAN };
    out.elapsed = elapsed;
    out.total = 0.0;
    // CPU columns matched by id
    scratch.col_map.clear();
    scratch.col_map.extend(
        cur.cpus
            .iter()
            .map(|id| prev.cpus.iter().position(|p| p == id)),
    );
    if cur.cpus.len() > 64 {
        // the linear search above is fine for small boxes; index the big ones
        let idx: HashMap<u32, usize> = prev.cpus.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        for (j, id) in cur.cpus.iter().enumerate() {
            scratch.col_map[j] = idx.get(id).copied();
        }
    }
    // rows matched by label
    if scratch.by_label.len() != prev.len()
        || !prev
            .rows()
            .enumerate()
            .all(|(i, r)| scratch.by_label.get(r.label) == Some(&i))
    {
        scratch.by_label.clear();
        for (i, r) in prev.rows().enumerate() {
            scratch.by_label.entry(r.label.to_string()).or_insert(i);
        }
    }
    scratch.cpu_sums.clear();
    scratch.cpu_sums.resize(cur.cpus.len(), 0);
    out.irqs.truncate(cur.len());
    for (i, r) in cur.rows().enumerate() {
        if out.irqs.len() <= i {
            out.irqs.push(IrqRate {
                row: i,
                total: None,
                per_cpu: Vec::new(),
            });
        }
        let slot = &mut out.irqs[i];
        slot.row = i;
        slot.per_cpu.clear();
        let prev_row = scratch.by_label.get(r.label).map(|&k| prev.row(k));
        let Some(p) = prev_row.filter(|p| p.kind == r.kind) else {
            slot.total = None;
            if r.kind == RowKind::PerCpu {
                slot.per_cpu.resize(cur.cpus.len(), None);
            }
            continue;
        };
        match r.kind {
            RowKind::PerCpu => {
                let mut sum = 0u64;
                for (j, &c) in r.counts.iter().enumerate() {
                    match scratch.col_map[j] {
                        Some(pj) => {
                            let d = delta32(p.counts[pj], c);
                            sum += d;
                            scratch.cpu_sums[j] += d;
                            slot.per_cpu.push(Some(d as f64 / elapsed));
                        }
                        None => slot.per_cpu.push(None),
                    }
                }
                let t = sum as f64 / elapsed;
                slot.total = Some(t);
                out.total += t;
            }
            RowKind::Single => {
                let t = delta32(p.counts[0], r.counts[0]) as f64 / elapsed;
                slot.total = Some(t);
                out.total += t;
            }
            RowKind::NoCount => slot.total = None,
        }
    }
    out.cpu_totals.clear();
    out.cpu_totals.extend(
        scratch
            .cpu_sums
            .iter()
            .zip(&scratch.col_map)
            .map(|(s, m)| m.map(|_| *s as f64 / elapsed)),
    );
}

/// A CPU that takes a disproportionate share of device interrupts.
#[derive(Debug, Clone, PartialEq)]
pub struct Imbalance {
    pub cpu: u32,
    /// Share of all device (numbered) interrupts/s, 0..=1.
    pub share: f64,
    /// The biggest contributors on that CPU (descriptions, or labels when unnamed).
    pub top: Vec<String>,
}

impl fmt::Display for Imbalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CPU {} takes {:.0} % of device interrupts ({})",
            self.cpu,
            self.share * 100.0,
            self.top.join(", ")
        )
    }
}

/// The device name at the end of a description (`IR-PCI-MSI 1048576-edge eth0-TxRx-0` ->
/// `eth0-TxRx-0`).
pub fn device_name(desc: &str) -> &str {
    desc.rsplit(' ').next().unwrap_or(desc)
}

/// Call out a CPU taking at least `min_share` of device interrupts, when the box has more than
/// one CPU and device interrupts run at `min_rate`/s or more.
pub fn imbalance(
    cur: &Snapshot,
    rates: &Rates,
    min_share: f64,
    min_rate: f64,
) -> Option<Imbalance> {
    let ncpu = cur.cpus.len();
    if ncpu < 2 {
        return None;
    }
    let mut per_cpu = vec![0f64; ncpu];
    let mut total = 0.0;
    for ir in &rates.irqs {
        let r = cur.row(ir.row);
        if !r.is_numbered() || r.kind != RowKind::PerCpu {
            continue;
        }
        for (j, v) in ir.per_cpu.iter().enumerate() {
            if let Some(v) = v {
                per_cpu[j] += v;
                total += v;
            }
        }
    }
    if total < min_rate || total <= 0.0 {
        return None;
    }
    let (j, &max) = per_cpu
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    let share = max / total;
    if share < min_share {
        return None;
    }
    let mut contrib: Vec<(f64, String)> = rates
        .irqs
        .iter()
        .filter_map(|ir| {
            let r = cur.row(ir.row);
            if !r.is_numbered() {
                return None;
            }
            let v = ir.per_cpu.get(j).copied().flatten()?;
            (v > 0.0).then(|| {
                let name = device_name(r.desc);
                let name = if name.is_empty() { r.label } else { name };
                (v, name.to_string())
            })
        })
        .collect();
    contrib.sort_by(|a, b| b.0.total_cmp(&a.0));
    Some(Imbalance {
        cpu: cur.cpus[j],
        share,
        top: contrib.into_iter().take(3).map(|(_, n)| n).collect(),
    })
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
mod tests {
    use super::*;

    const X86: &str = "           CPU0       CPU1       \n\
  0:         44          0   IO-APIC   2-edge      timer\n\
  8:          0          1   IO-APIC   8-edge      rtc0\n\
NMI:          0          0   Non-maskable interrupts\n\
LOC:      12345      23456   Local timer interrupts\n\
ERR:          3\n\
MIS:          0\n";

    #[test]
    fn parses_rows_kinds_and_descriptions() {
        let s = Snapshot::parse(X86).unwrap();
        assert_eq!(s.cpus, [0, 1]);
        assert_eq!(s.len(), 6);
        let r = s.row(0);
        assert_eq!(
            (r.label, r.desc, r.counts),
            ("0", "IO-APIC 2-edge timer", &[44, 0][..])
        );
        assert_eq!(r.kind, RowKind::PerCpu);
        assert_eq!(s.row(3).total(), 35801);
        let e = s.row(4);
        assert_eq!(
            (e.label, e.kind, e.counts, e.desc),
            ("ERR", RowKind::Single, &[3][..], "")
        );
    }

    #[test]
    fn arm64_label_without_space_and_row_without_counts() {
        let t = "      CPU0  CPU1\nIPI0:2768808080 2844211768       Rescheduling interrupts\nFIQ:  usb_fiq\nErr:          0\n  \t \n";
        let s = Snapshot::parse(t).unwrap();
        assert_eq!(s.row(0).label, "IPI0");
        assert_eq!(s.row(0).counts, [2_768_808_080, 2_844_211_768]);
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
    }

    #[test]
    fn malformed_input_names_the_line() {
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
    fn parse_into_reuses_and_resets() {
        let mut s = Snapshot::parse(X86).unwrap();
        s.parse_into("  CPU5\n 1: 7 dev\n").unwrap();
        assert_eq!(s.cpus, [5]);
        assert_eq!(s.len(), 1);
        assert!(s.parse_into("nonsense").is_err());
        assert!(s.is_empty());
    }

    #[test]
    fn u32_wrap_delta() {
        assert_eq!(delta32(4_294_967_290, 10), 16);
        assert_eq!(delta32(10, 25), 15);
        assert_eq!(delta32(0, 0), 0);
    }

    #[test]
    fn rates_match_rows_by_label_and_cpus_by_id() {
        let a = Snapshot::parse(
            "  CPU0 CPU1 CPU2\n 1: 10 20 30 a\nLOC: 4294967290 0 5 timer\nERR: 1\n",
        )
        .unwrap();
        // CPU1 went offline; a new IRQ 9 appeared; LOC wrapped on CPU0
        let b =
            Snapshot::parse("  CPU0 CPU2\n 9: 100 100 new\n 1: 12 36 a\nLOC: 10 9 timer\nERR: 3\n")
                .unwrap();
        let r = rates(&a, &b, 2.0);
        assert_eq!(r.irqs[0].total, None, "a new IRQ has no rate, not a spike");
        assert_eq!(r.irqs[0].per_cpu, [None, None]);
        assert_eq!(r.irqs[1].total, Some(4.0));
        assert_eq!(r.irqs[1].per_cpu, [Some(1.0), Some(3.0)]);
        assert_eq!(r.irqs[2].total, Some(10.0)); // (16 + 4) / 2
        assert_eq!(r.irqs[3].total, Some(1.0));
        assert_eq!(r.cpu_totals, [Some(9.0), Some(5.0)]);
        assert_eq!(r.total, 15.0);

        // CPU1 comes back: no rate for it (absent from the older snapshot), columns by id
        let c = Snapshot::parse(
            "  CPU0 CPU1 CPU2\n 9: 100 7 100 new\n 1: 12 0 36 a\nLOC: 10 1 9 timer\nERR: 3\n",
        )
        .unwrap();
        let r = rates(&b, &c, 1.0);
        assert_eq!(r.irqs[0].per_cpu, [Some(0.0), None, Some(0.0)]);
        assert_eq!(r.cpu_totals, [Some(0.0), None, Some(0.0)]);
    }

    #[test]
    fn rates_into_reuses_buffers() {
        let a = Snapshot::parse(X86).unwrap();
        let mut scratch = RateScratch::default();
        let mut out = Rates::default();
        rates_into(&a, &a, 1.0, &mut scratch, &mut out);
        let cap = out.irqs.capacity();
        for _ in 0..10 {
            rates_into(&a, &a, 1.0, &mut scratch, &mut out);
        }
        assert_eq!(out.irqs.capacity(), cap);
        assert_eq!(out.total, 0.0);
    }

    #[test]
    fn imbalance_is_called_out() {
        let a = Snapshot::parse("  CPU0 CPU1 CPU2 CPU3\n 30: 0 0 0 0  PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 0 0 0  PCI-MSI 2-edge eth0-TxRx-1\n 32: 0 0 0 0 PCI-MSI 3-edge nvme0q1\nLOC: 0 0 0 0 timer\n").unwrap();
        let b = Snapshot::parse("  CPU0 CPU1 CPU2 CPU3\n 30: 10 0 0 500  PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 0 0 210  PCI-MSI 2-edge eth0-TxRx-1\n 32: 100 100 80 0 PCI-MSI 3-edge nvme0q1\nLOC: 9999 9999 9999 0 timer\n").unwrap();
        let r = rates(&a, &b, 1.0);
        let i = imbalance(&b, &r, 0.5, 10.0).unwrap();
        assert_eq!(i.cpu, 3);
        assert_eq!(i.top, ["eth0-TxRx-0", "eth0-TxRx-1"]);
        assert_eq!(
            i.to_string(),
            "CPU 3 takes 71 % of device interrupts (eth0-TxRx-0, eth0-TxRx-1)"
        );
        assert!(imbalance(&b, &r, 0.8, 10.0).is_none());
        assert!(imbalance(&b, &r, 0.5, 1e6).is_none());
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
