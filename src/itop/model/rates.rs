//! Rates between two snapshots of `/proc/interrupts` or `/proc/softirqs`.
//!
//! Rows are matched by label and CPU columns by id. The kernel's counters are 32-bit: a count
//! that went down is a wrap only when the modular increase is plausible (less than half the
//! counter range, and at most [`MAX_CELL_RATE`]/s); otherwise the counter restarted (a driver
//! reload frees and re-requests its IRQ) and the row has no rate for that interval, as for a
//! new IRQ, instead of a 98 G/s spike.

use std::collections::HashMap;

use super::interrupts::{Counts, RowKind, RowRole, Snapshot};

/// More interrupts per second than one CPU can take from one source (each costs a
/// microsecond or more): a decrease that would need more is a reset, not a wrap.
pub const MAX_CELL_RATE: f64 = 20e6;

/// The increase of one counter over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    Count(u64),
    /// The counter went down and cannot have wrapped: it restarted.
    Reset,
}

/// The increase of a 32-bit kernel counter from `prev` to `cur` over `elapsed` seconds.
pub fn counter_delta(prev: u64, cur: u64, elapsed: f64) -> Delta {
    if cur >= prev {
        return Delta::Count(cur - prev);
    }
    if prev > u64::from(u32::MAX) {
        // not a 32-bit counter: a decrease is never a wrap
        return Delta::Reset;
    }
    // cur < prev <= u32::MAX: no overflow
    let d = cur + (1u64 << 32) - prev;
    // an unknown interval (NaN) cannot rule a wrap out by its rate
    let rate_ok = elapsed.is_nan() || elapsed <= 0.0 || d as f64 / elapsed <= MAX_CELL_RATE;
    if d < (1u64 << 31) && rate_ok {
        Delta::Count(d)
    } else {
        Delta::Reset
    }
}

/// What is known about a row over the interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowChange {
    /// Seen in both snapshots: rates are known.
    Known,
    /// Not in the older snapshot (or its shape changed): no rate yet.
    New,
    /// A counter went down without a plausible wrap: no rate this interval.
    Reset,
    /// The row has no counts (`FIQ:  usb_fiq`).
    NoCount,
}

/// Rates of one row between two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct IrqRate {
    /// Index of the row in the newer snapshot.
    pub row: usize,
    pub change: RowChange,
    /// Interrupts per second over all CPUs; `None` unless `change` is `Known`.
    pub total: Option<f64>,
    /// Per CPU column of the newer snapshot: `None` where that CPU was absent from the older
    /// snapshot, or the rate is unknown; empty when the row has no per-CPU counts.
    pub per_cpu: CellRates,
}

/// A row's per-CPU rates. Sparse where most cells are zero (only the non-zero cells are
/// stored: on the 1152-CPU capture nearly all are zero, and a dense `Option<f64>` per cell
/// was 19 MB); dense where most are not, as the 4-byte increase of each cell (a 100,000-CPU
/// row with every cell busy is 400 KB, not 1.6 MB of (column, rate) pairs). Either way a
/// cell's rate is its increase over the interval, computed when read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellRates {
    /// (column, rate) in increasing column order: the non-zero rates, and NaN for a CPU
    /// absent from the older snapshot (no rate known). Empty when `dense` is used.
    cells: Vec<(u32, f64)>,
    /// The increase of every column ([`ABSENT`]: no rate known), when not empty.
    dense: Vec<u32>,
    /// The same in a byte when every increase is below 255 ([`ABSENT8`]: no rate known).
    dense8: Vec<u8>,
    /// The same in 16 bits when every increase is below 65535 ([`ABSENT16`]).
    dense16: Vec<u16>,
    /// The interval, to turn `dense` increases into rates.
    elapsed: f64,
    /// The number of columns (0 for a row without per-CPU counts).
    len: usize,
    /// False when no rate is known for the row (new, reset): every cell is `None`.
    known: bool,
}

/// A dense cell with no rate known (its CPU was absent from the older snapshot).
const ABSENT: u32 = u32::MAX;
/// The same in a byte.
const ABSENT8: u8 = u8::MAX;
/// The same in 16 bits.
const ABSENT16: u16 = u16::MAX;
/// The fewest columns for a row to be stored densely (small boxes stay sparse).
const DENSE_MIN: usize = 64;

impl CellRates {
    /// The rate of column `j`: `None` when unknown or out of range.
    pub fn get(&self, j: usize) -> Option<f64> {
        if !self.known || j >= self.len {
            return None;
        }
        if !self.dense.is_empty() {
            let d = self.dense[j];
            return (d != ABSENT).then(|| f64::from(d) / self.elapsed);
        }
        if !self.dense8.is_empty() {
            let d = self.dense8[j];
            return (d != ABSENT8).then(|| f64::from(d) / self.elapsed);
        }
        if !self.dense16.is_empty() {
            let d = self.dense16[j];
            return (d != ABSENT16).then(|| f64::from(d) / self.elapsed);
        }
        match self.cells.binary_search_by_key(&j, |c| c.0 as usize) {
            Ok(i) => Some(self.cells[i].1).filter(|v| !v.is_nan()),
            Err(_) => Some(0.0),
        }
    }

    /// Every column in order (dense).
    pub fn iter(&self) -> impl Iterator<Item = Option<f64>> + '_ {
        let mut next = self.cells.iter().peekable();
        (0..self.len).map(move |j| {
            if !self.known {
                return None;
            }
            if !self.dense.is_empty() || !self.dense8.is_empty() || !self.dense16.is_empty() {
                return self.get(j);
            }
            match next.next_if(|c| c.0 as usize == j) {
                Some(c) => Some(c.1).filter(|v| !v.is_nan()),
                None => Some(0.0),
            }
        })
    }

    /// The known non-zero cells, (column, rate), in column order.
    pub fn nonzero(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        let known = self.known;
        let sparse = self
            .cells
            .iter()
            .filter(move |c| known && !c.1.is_nan())
            .map(|&(j, v)| (j as usize, v));
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter(move |&(_, &d)| known && d != 0 && d != ABSENT)
            .map(|(j, &d)| (j, f64::from(d) / self.elapsed));
        let dense8 = self
            .dense8
            .iter()
            .enumerate()
            .filter(move |&(_, &d)| known && d != 0 && d != ABSENT8)
            .map(|(j, &d)| (j, f64::from(d) / self.elapsed));
        let dense16 = self
            .dense16
            .iter()
            .enumerate()
            .filter(move |&(_, &d)| known && d != 0 && d != ABSENT16)
            .map(|(j, &d)| (j, f64::from(d) / self.elapsed));
        sparse.chain(dense).chain(dense8).chain(dense16)
    }

    /// Dense, for tests and small views.
    pub fn to_vec(&self) -> Vec<Option<f64>> {
        self.iter().collect()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cell-wise sum of `parts` (rows of one snapshot pair): known when one of them is,
    /// `None` where the CPU is absent from the older snapshot (`cpu_totals` is `None`).
    pub fn summed<'a>(
        parts: impl Iterator<Item = &'a CellRates>,
        cpu_totals: &[Option<f64>],
    ) -> CellRates {
        let mut out = CellRates {
            len: cpu_totals.len(),
            ..CellRates::default()
        };
        for p in parts.filter(|p| p.known && p.len > 0) {
            out.known = true;
            out.cells.extend(p.nonzero().map(|(j, v)| (j as u32, v)));
        }
        out.cells.sort_unstable_by_key(|c| c.0);
        out.cells.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 += later.1;
            }
            same
        });
        if out.known && cpu_totals.iter().any(Option::is_none) {
            let absent = (0..cpu_totals.len()).filter(|&j| cpu_totals[j].is_none());
            out.cells.extend(absent.map(|j| (j as u32, f64::NAN)));
            out.cells.sort_unstable_by_key(|c| c.0);
        }
        out
    }

    fn reset(&mut self, len: usize, known: bool) {
        self.cells.clear();
        self.dense.clear();
        self.dense8.clear();
        self.dense16.clear();
        self.len = len;
        self.known = known;
    }

    /// Store one row's increases (`(column, increase)`, `None`: unknown), non-zero and
    /// unknown cells only, in increasing column order.
    fn fill(&mut self, deltas: &[(u32, Option<u64>)], elapsed: f64) {
        self.elapsed = elapsed;
        let fits =
            |max: u64| self.len >= DENSE_MIN && deltas.iter().all(|d| d.1.is_none_or(|v| v < max));
        // (column, f64) pairs cost 16 bytes a cell, a dense increase 1 or 4 a column
        if deltas.len() * 16 > self.len && fits(u64::from(ABSENT8)) {
            self.dense8.resize(self.len, 0);
            for &(j, d) in deltas {
                self.dense8[j as usize] = d.map_or(ABSENT8, |d| d as u8);
            }
        } else if deltas.len() * 16 > self.len * 2 && fits(u64::from(ABSENT16)) {
            self.dense16.resize(self.len, 0);
            for &(j, d) in deltas {
                self.dense16[j as usize] = d.map_or(ABSENT16, |d| d as u16);
            }
        } else if deltas.len() * 16 > self.len * 4 && fits(u64::from(ABSENT)) {
            self.dense.resize(self.len, 0);
            for &(j, d) in deltas {
                self.dense[j as usize] = d.map_or(ABSENT, |d| d as u32);
            }
        } else {
            self.cells.extend(
                deltas
                    .iter()
                    .map(|&(j, d)| (j, d.map_or(f64::NAN, |d| d as f64 / elapsed))),
            );
        }
    }
}

/// Rates of every row between two snapshots, plus per-CPU totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// Seconds between the snapshots (measured, not nominal).
    pub elapsed: f64,
    pub irqs: Vec<IrqRate>,
    /// Per CPU column of the newer snapshot: interrupts/s over all counted per-CPU rows,
    /// `None` for a CPU absent from the older snapshot.
    pub cpu_totals: Vec<Option<f64>>,
    /// Sum of all known row totals, each interrupt counted once (s390x members of a summary
    /// row are not added again).
    pub total: f64,
}

impl Rates {
    /// Rows whose counters restarted during the interval (indices into `irqs`).
    pub fn resets(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.irqs.len()).filter(|&k| self.irqs[k].change == RowChange::Reset)
    }
}

/// Reusable scratch space for [`rates_into`], so sampling does not allocate per sample.
#[derive(Debug, Default)]
pub struct RateScratch {
    by_label: HashMap<String, usize>,
    col_map: Vec<Option<usize>>,
    cpu_sums: Vec<u64>,
    /// The current row's (column, increase) for the non-zero and unknown (`None`) cells.
    deltas: Vec<(u32, Option<u64>)>,
    /// Both snapshots have the same CPU columns.
    same_cols: bool,
}

/// Compute rates from `prev` to `cur`, `elapsed` seconds apart.
pub fn rates(prev: &Snapshot, cur: &Snapshot, elapsed: f64) -> Rates {
    let mut out = Rates::default();
    rates_into(prev, cur, elapsed, &mut RateScratch::default(), &mut out);
    out
}

/// Column `j` of `cur` -> column of the same CPU id in `prev`; linear (both headers are
/// sorted), so a 200,000-CPU header costs no more than reading it.
fn map_columns(prev: &[u32], cur: &[u32], out: &mut Vec<Option<usize>>) {
    out.clear();
    if prev == cur {
        out.extend((0..cur.len()).map(Some));
        return;
    }
    let mut i = 0;
    for &id in cur {
        while i < prev.len() && prev[i] < id {
            i += 1;
        }
        out.push((i < prev.len() && prev[i] == id).then_some(i));
    }
}

/// Index the older snapshot's rows by label (kept while the older snapshot keeps its rows).
fn index_labels(prev: &Snapshot, by_label: &mut HashMap<String, usize>) {
    let same = by_label.len() == prev.len()
        && prev
            .rows()
            .enumerate()
            .all(|(i, r)| by_label.get(r.label) == Some(&i));
    if !same {
        by_label.clear();
        for (i, r) in prev.rows().enumerate() {
            by_label.entry(r.label.to_string()).or_insert(i);
        }
    }
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
    map_columns(&prev.cpus, &cur.cpus, &mut scratch.col_map);
    scratch.same_cols = prev.cpus == cur.cpus;
    index_labels(prev, &mut scratch.by_label);
    scratch.cpu_sums.clear();
    scratch.cpu_sums.resize(cur.cpus.len(), 0);
    out.irqs.truncate(cur.len());
    for i in 0..cur.len() {
        if out.irqs.len() <= i {
            out.irqs.push(IrqRate {
                row: i,
                change: RowChange::New,
                total: None,
                per_cpu: CellRates::default(),
            });
        }
        let t = row_rate(prev, cur, i, elapsed, scratch, &mut out.irqs[i]);
        out.total += t;
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

/// Fill `slot` with the rates of row `i` of `cur`; returns what it adds to the total.
fn row_rate(
    prev: &Snapshot,
    cur: &Snapshot,
    i: usize,
    elapsed: f64,
    scratch: &mut RateScratch,
    slot: &mut IrqRate,
) -> f64 {
    let r = cur.row(i);
    slot.row = i;
    slot.total = None;
    let ncols = if r.kind == RowKind::PerCpu {
        cur.cpus.len()
    } else {
        0
    };
    slot.per_cpu.reset(ncols, false);
    let prev_row = scratch.by_label.get(r.label).map(|&k| prev.row(k));
    if r.kind == RowKind::NoCount {
        slot.change = RowChange::NoCount;
        return 0.0;
    }
    let Some(p) = prev_row.filter(|p| p.kind == r.kind) else {
        slot.change = RowChange::New;
        return 0.0;
    };
    let Some(sum) = row_deltas(p.counts, r.counts, r.kind, elapsed, scratch) else {
        slot.change = RowChange::Reset;
        return 0.0;
    };
    slot.change = RowChange::Known;
    slot.per_cpu.reset(ncols, true);
    let counted = !matches!(r.role, RowRole::Member(_));
    if r.kind == RowKind::PerCpu {
        if counted {
            for &(j, d) in &scratch.deltas {
                if let Some(d) = d {
                    let s = &mut scratch.cpu_sums[j as usize];
                    *s = s.saturating_add(d);
                }
            }
        }
        slot.per_cpu.fill(&scratch.deltas, elapsed);
    }
    let t = sum as f64 / elapsed;
    slot.total = Some(t);
    if counted {
        t
    } else {
        0.0
    }
}

/// The increases of one row into `scratch.deltas` (non-zero and unknown cells only); their
/// sum, or `None` when a counter restarted.
fn row_deltas(
    prev: Counts,
    cur: Counts,
    kind: RowKind,
    elapsed: f64,
    scratch: &mut RateScratch,
) -> Option<u64> {
    scratch.deltas.clear();
    let mut sum = 0u64;
    let cell = |p: u64, c: u64| -> Option<u64> {
        if c >= p {
            return Some(c - p);
        }
        match counter_delta(p, c, elapsed) {
            Delta::Count(d) => Some(d),
            Delta::Reset => None,
        }
    };
    let deltas = &mut scratch.deltas;
    let mut push = |j: usize, d: Option<u64>| match d {
        Some(0) => {}
        Some(d) => {
            sum = sum.saturating_add(d);
            deltas.push((j as u32, Some(d)));
        }
        None => deltas.push((j as u32, None)),
    };
    let same_cols = kind != RowKind::PerCpu || scratch.same_cols;
    match (prev, cur) {
        (Counts::Narrow(p), Counts::Narrow(c)) if same_cols => {
            // the common case: 32-bit counts, the same CPUs column for column
            for (j, (&p, &c)) in p.iter().zip(c).enumerate() {
                push(j, Some(cell(u64::from(p), u64::from(c))?));
            }
        }
        (p, c) if same_cols && p.len() == c.len() => {
            for (j, (p, c)) in p.iter().zip(c.iter()).enumerate() {
                push(j, Some(cell(p, c)?));
            }
        }
        _ => {
            for (j, c) in cur.iter().enumerate() {
                let pj = if same_cols {
                    Some(j)
                } else {
                    scratch.col_map[j]
                };
                match pj.and_then(|pj| prev.get(pj)) {
                    Some(p) => push(j, Some(cell(p, c)?)),
                    None => push(j, None),
                }
            }
        }
    }
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::itop::model::interrupts::tests::X86;

    #[test]
    fn busy_rows_are_stored_densely_and_read_the_same() {
        // 100 CPUs, every cell busy: dense increases; CPU 2 absent from the older snapshot
        // (CPU 100 instead), and one row with an increase above a byte
        let head = |ids: &[u32]| ids.iter().map(|i| format!(" CPU{i}")).collect::<String>();
        let ids_a: Vec<u32> = (0..100).filter(|&i| i != 2).chain([100]).collect();
        let ids_b: Vec<u32> = (0..100).collect();
        let row = |n: usize, f: &dyn Fn(usize) -> u64| {
            (0..n).map(|j| format!(" {}", f(j))).collect::<String>()
        };
        let a = format!(
            "{}\n 1:{} a\n 2:{} b\n",
            head(&ids_a),
            row(100, &|_| 10),
            row(100, &|_| 0)
        );
        let b = format!(
            "{}\n 1:{} a\n 2:{} b\n",
            head(&ids_b),
            row(100, &|j| 10 + (j as u64 % 7) + 1),
            row(100, &|j| 500 * (j as u64 + 1))
        );
        let (a, b) = (Snapshot::parse(a).unwrap(), Snapshot::parse(b).unwrap());
        let r = rates(&a, &b, 2.0);
        let c = &r.irqs[0].per_cpu;
        assert!(c.cells.is_empty() && c.dense8.len() == 100, "{c:?}");
        let want: Vec<Option<f64>> = (0..100)
            .map(|j| (j != 2).then(|| ((j % 7) + 1) as f64 / 2.0))
            .collect();
        assert_eq!(c.to_vec(), want);
        assert_eq!(c.get(2), None);
        assert_eq!(c.nonzero().count(), 99);
        let c2 = &r.irqs[1].per_cpu;
        assert!(
            c2.dense16.len() == 100,
            "increases above a byte: 2 bytes each"
        );
        assert_eq!(c2.get(5), Some(1500.0));
        assert_eq!(c2.get(2), None);
        let sum = CellRates::summed([c, c].into_iter(), &r.cpu_totals);
        assert_eq!(sum.get(3), Some(4.0));
        assert_eq!(sum.get(2), None);
    }

    #[test]
    fn cell_rates_are_sparse_and_read_densely() {
        let a =
            Snapshot::parse("  CPU0 CPU1 CPU3 CPU4\n 1: 10 20 30 40 a\n 2: 0 0 0 0 b\n").unwrap();
        // CPU 2 comes online (absent before), CPU 3 goes away
        let b =
            Snapshot::parse("  CPU0 CPU1 CPU2 CPU4\n 1: 10 26 5 41 a\n 2: 0 0 0 0 b\n").unwrap();
        let r = rates(&a, &b, 2.0);
        let c = &r.irqs[0].per_cpu;
        assert_eq!(c.to_vec(), [Some(0.0), Some(3.0), None, Some(0.5)]);
        assert_eq!(
            (c.get(1), c.get(2), c.get(0), c.get(9)),
            (Some(3.0), None, Some(0.0), None)
        );
        assert_eq!(c.nonzero().collect::<Vec<_>>(), [(1, 3.0), (3, 0.5)]);
        assert_eq!(c.len(), 4);
        // an idle row stores only the absent CPU
        assert_eq!(r.irqs[1].per_cpu.cells.len(), 1);
        assert_eq!(
            r.irqs[1].per_cpu.to_vec(),
            [Some(0.0), Some(0.0), None, Some(0.0)]
        );
        assert_eq!(r.cpu_totals, [Some(0.0), Some(3.0), None, Some(0.5)]);
        // a reset row is unknown everywhere
        let c2 = Snapshot::parse("  CPU0 CPU1 CPU2 CPU4\n 1: 0 0 0 0 a\n 2: 0 0 0 0 b\n").unwrap();
        let r = rates(&b, &c2, 1.0);
        assert_eq!(r.irqs[0].change, RowChange::Reset);
        assert_eq!(r.irqs[0].per_cpu.to_vec(), [None; 4]);
        assert_eq!(r.irqs[0].per_cpu.nonzero().count(), 0);
    }

    #[test]
    fn summed_cells_add_known_rows_and_keep_absent_cpus_unknown() {
        let a = Snapshot::parse("  CPU0 CPU1 CPU3\n 1: 10 20 30 q0\n 2: 5 5 5 q1\n").unwrap();
        // CPU 2 appears; IRQ 3 is new
        let b = Snapshot::parse(
            "  CPU0 CPU1 CPU2 CPU3\n 1: 12 20 9 31 q0\n 2: 6 5 9 8 q1\n 3: 1 1 1 1 q2\n",
        )
        .unwrap();
        let r = rates(&a, &b, 1.0);
        let s = CellRates::summed(r.irqs.iter().map(|i| &i.per_cpu), &r.cpu_totals);
        assert_eq!(s.to_vec(), [Some(3.0), Some(0.0), None, Some(4.0)]);
        let none = CellRates::summed(std::iter::once(&r.irqs[2].per_cpu), &r.cpu_totals);
        assert_eq!(none.to_vec(), [None; 4], "only unknown rows: unknown");
    }

    #[test]
    fn u32_wrap_delta() {
        assert_eq!(counter_delta(4_294_967_290, 10, 1.0), Delta::Count(16));
        assert_eq!(counter_delta(10, 25, 1.0), Delta::Count(15));
        assert_eq!(counter_delta(0, 0, 1.0), Delta::Count(0));
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
        assert_eq!(r.irqs[0].per_cpu.to_vec(), [None, None]);
        assert_eq!(r.irqs[1].total, Some(4.0));
        assert_eq!(r.irqs[1].per_cpu.to_vec(), [Some(1.0), Some(3.0)]);
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
        assert_eq!(r.irqs[0].per_cpu.to_vec(), [Some(0.0), None, Some(0.0)]);
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
    fn a_restart_is_a_reset_not_a_wrap() {
        // IRQ 34 drops from millions to 7 after a driver reload
        assert_eq!(counter_delta(5_000_000, 7, 1.0), Delta::Reset);
        // more than half the range: not a wrap
        assert_eq!(counter_delta(1 << 31, 0, 1e6), Delta::Reset);
        // a plausible modular increase but an impossible rate
        assert_eq!(
            counter_delta(u64::from(u32::MAX) - 100_000_000, 0, 1.0),
            Delta::Reset
        );
        assert_eq!(
            counter_delta(u64::from(u32::MAX) - 100_000_000, 0, 10.0),
            Delta::Count(100_000_001)
        );
        // not a 32-bit counter: never wraps
        assert_eq!(counter_delta(1 << 40, 5, 1.0), Delta::Reset);
        let a =
            Snapshot::parse("  CPU0 CPU1\n 34: 3000000 2000000 eth0\n 35: 10 10 eth1\n").unwrap();
        let b = Snapshot::parse("  CPU0 CPU1\n 34: 7 0 eth0\n 35: 20 30 eth1\n").unwrap();
        let r = rates(&a, &b, 1.0);
        assert_eq!(r.irqs[0].change, RowChange::Reset);
        assert_eq!(r.irqs[0].total, None);
        assert_eq!(r.irqs[0].per_cpu.to_vec(), [None, None]);
        assert_eq!(r.total, 30.0);
        assert_eq!(r.cpu_totals, [Some(10.0), Some(20.0)]);
        assert_eq!(r.resets().collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn s390x_members_are_not_counted_twice() {
        let a = "  CPU0 CPU1\nEXT: 0 0\nI/O: 0 0\nCLK: 0 0 [EXT] Clock\nEXC: 0 0 [EXT] Call\nDAS: 0 0 [I/O] DASD\nRST: 0 0 [CPU] CPU Restart\n";
        let b = "  CPU0 CPU1\nEXT: 600 400\nI/O: 0 0\nCLK: 500 100 [EXT] Clock\nEXC: 100 300 [EXT] Call\nDAS: 0 0 [I/O] DASD\nRST: 0 0 [CPU] CPU Restart\n";
        let r = rates(
            &Snapshot::parse(a).unwrap(),
            &Snapshot::parse(b).unwrap(),
            1.0,
        );
        assert_eq!(r.total, 1000.0, "1000 interrupts, not 2000");
        assert_eq!(r.cpu_totals, [Some(600.0), Some(400.0)]);
        assert_eq!(r.irqs[2].total, Some(600.0), "members keep their own rate");
    }
}
