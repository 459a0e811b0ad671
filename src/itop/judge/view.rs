//! What to show of a sample: which CPU columns, which rows in which order. Pure; shared by
//! the batch printers and the TUI.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::itop::model::devices::{DeviceKind, Facts};

use crate::itop::model::interrupts::{is_numbered, RowKind, RowRole, Snapshot};
use crate::itop::model::rates::{CellRates, IrqRate, Rates};

/// Which columns to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Per-CPU columns on boxes with 8 CPUs or fewer, totals otherwise.
    Auto,
    /// A column per CPU.
    All,
    /// Only the per-IRQ total.
    Total,
}

/// Row order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Busiest first.
    Rate,
    /// By IRQ number, named rows after.
    Irq,
    /// By description.
    Name,
    /// Busiest on this CPU id first.
    Cpu(u32),
}

impl SortKey {
    /// `rate`, `irq`, `name`, `cpu3` or `3`.
    pub fn parse(s: &str) -> Result<SortKey, String> {
        let l = s.trim().to_ascii_lowercase();
        match l.as_str() {
            "rate" | "total" => Ok(SortKey::Rate),
            "irq" => Ok(SortKey::Irq),
            "name" => Ok(SortKey::Name),
            _ => l
                .strip_prefix("cpu")
                .unwrap_or(&l)
                .parse::<u32>()
                .map(SortKey::Cpu)
                .map_err(|_| {
                    format!("invalid sort key '{s}': expected rate, irq, name or a CPU (cpu3 or 3)")
                }),
        }
    }

    pub fn label(&self) -> String {
        match self {
            SortKey::Rate => "rate".into(),
            SortKey::Irq => "irq".into(),
            SortKey::Name => "name".into(),
            SortKey::Cpu(c) => format!("cpu{c}"),
        }
    }

    /// The next key in the TUI's `s` cycle.
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Rate => SortKey::Irq,
            SortKey::Irq => SortKey::Name,
            _ => SortKey::Rate,
        }
    }
}

/// The user's view options.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewOpts {
    pub mode: Mode,
    /// Only these CPU ids (columns, totals, JSON keys).
    pub cpus: Option<Vec<u32>>,
    pub top: Option<usize>,
    pub sort: SortKey,
    /// Case-insensitive substring of the IRQ label or description.
    pub filter: Option<String>,
    pub hide_idle: bool,
    /// Fold the queue IRQs of one device into one line (`--by-device`, the TUI's `g`).
    pub by_device: bool,
}

impl Default for ViewOpts {
    fn default() -> Self {
        ViewOpts {
            mode: Mode::Auto,
            cpus: None,
            top: None,
            sort: SortKey::Rate,
            filter: None,
            hide_idle: false,
            by_device: false,
        }
    }
}

/// The CPUs at which Auto switches from per-CPU columns to totals.
pub const AUTO_MAX_CPUS: usize = 8;

/// A computed view of one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// Snapshot column indices of the CPUs selected (all, or `--cpus`).
    pub cols: Vec<usize>,
    /// Whether per-CPU columns are shown.
    pub per_cpu: bool,
    /// Indices into `rates.irqs`, filtered and sorted, cut to `--top`.
    pub rows: Vec<usize>,
    /// The same before `--top` (devices are folded from these, then cut).
    pub all_rows: Vec<usize>,
    /// `--top`.
    pub top: Option<usize>,
    /// Total rate over the selected rows and CPUs.
    pub total: f64,
}

/// The rate of a row over the selected columns (`None` when unknown).
pub fn row_rate(ir: &IrqRate, kind: RowKind, cols: &[usize], all_cols: bool) -> Option<f64> {
    if all_cols || kind != RowKind::PerCpu {
        return ir.total;
    }
    ir.total?;
    Some(
        cols.iter()
            .filter_map(|&j| ir.per_cpu.get(j))
            .fold(0.0, |a, b| a + b),
    )
}

impl ViewOpts {
    /// Checks `--cpus` and `--sort cpuN` against a snapshot: the `--cpus` ids it does not
    /// have (offline CPUs: the others are shown); a usage error when none of them is there, or
    /// `--sort cpuN` names a CPU not shown.
    pub fn check(&self, snap: &Snapshot) -> Result<Vec<u32>, String> {
        let present = |id: &u32| snap.cpu_column(*id).is_some();
        let mut missing = Vec::new();
        if let Some(sel) = &self.cpus {
            missing = sel.iter().copied().filter(|c| !present(c)).collect();
            if missing.len() == sel.len() {
                return Err(format!(
                    "--cpus: no CPU {} in the snapshot (its CPUs: {})",
                    crate::common::units::format_cpu_list(&missing),
                    crate::common::units::format_cpu_list(&snap.cpus)
                ));
            }
        }
        if let SortKey::Cpu(id) = self.sort {
            if !present(&id) || self.cpus.as_ref().is_some_and(|c| !c.contains(&id)) {
                return Err(format!("--sort cpu{id}: CPU {id} is not shown"));
            }
        }
        Ok(missing)
    }
}

impl View {
    pub fn build(snap: &Snapshot, rates: &Rates, opts: &ViewOpts) -> View {
        let cols: Vec<usize> = match &opts.cpus {
            None => (0..snap.cpus.len()).collect(),
            Some(sel) => {
                let mut sel = sel.clone();
                sel.sort_unstable();
                (0..snap.cpus.len())
                    .filter(|&j| sel.binary_search(&snap.cpus[j]).is_ok())
                    .collect()
            }
        };
        let per_cpu = match opts.mode {
            Mode::All => true,
            Mode::Total => false,
            Mode::Auto => cols.len() <= AUTO_MAX_CPUS,
        };
        let mut rows = select_rows(snap, rates, opts, &cols);
        sort_rows(snap, rates, opts.sort, &mut rows);
        let total = view_total(snap, rates, &rows);
        let all_rows = group_members(snap, rates, rows.into_iter().map(|(k, _)| k).collect());
        let mut rows = all_rows.clone();
        if let Some(n) = opts.top {
            rows.truncate(n);
        }
        View {
            cols,
            per_cpu,
            rows,
            all_rows,
            top: opts.top,
            total,
        }
    }
}

/// The rows that pass the filter and the idle check, with their rates over `cols`.
fn select_rows(
    snap: &Snapshot,
    rates: &Rates,
    opts: &ViewOpts,
    cols: &[usize],
) -> Vec<(usize, Option<f64>)> {
    let all_cols = opts.cpus.is_none();
    let filter = opts.filter.as_ref().map(|f| f.to_lowercase());
    rates
        .irqs
        .iter()
        .enumerate()
        .filter_map(|(k, ir)| {
            let r = snap.row(ir.row);
            let rate = row_rate(ir, r.kind, cols, all_cols);
            if opts.hide_idle && rate.unwrap_or(0.0) == 0.0 {
                return None;
            }
            if let Some(f) = &filter {
                let hit = r.label.to_lowercase().contains(f.as_str())
                    || r.desc.to_lowercase().contains(f.as_str());
                if !hit {
                    return None;
                }
            }
            Some((k, rate))
        })
        .collect()
}

fn sort_rows(snap: &Snapshot, rates: &Rates, sort: SortKey, rows: &mut [(usize, Option<f64>)]) {
    let label = |k: usize| snap.row(rates.irqs[k].row).label;
    match sort {
        SortKey::Rate => rows.sort_by(|a, b| cmp_desc(a.1, b.1)),
        SortKey::Cpu(id) => {
            let j = snap.cpu_column(id);
            let v = |k: usize| j.and_then(|j| rates.irqs[k].per_cpu.get(j));
            rows.sort_by(|a, b| cmp_desc(v(a.0), v(b.0)).then(cmp_desc(a.1, b.1)));
        }
        SortKey::Irq => rows.sort_by(|a, b| irq_order(label(a.0), label(b.0))),
        SortKey::Name => rows.sort_by(|a, b| {
            let ra = snap.row(rates.irqs[a.0].row);
            let rb = snap.row(rates.irqs[b.0].row);
            ra.desc
                .to_lowercase()
                .cmp(&rb.desc.to_lowercase())
                .then_with(|| irq_order(ra.label, rb.label))
        }),
    }
}

/// The total of the shown rows, each interrupt once: a member of a summary row (s390x) counts
/// only when its summary row is not shown.
fn view_total(snap: &Snapshot, rates: &Rates, rows: &[(usize, Option<f64>)]) -> f64 {
    let shown: std::collections::HashSet<usize> =
        rows.iter().map(|&(k, _)| rates.irqs[k].row).collect();
    rows.iter()
        .filter(|&&(k, _)| match snap.row(rates.irqs[k].row).role {
            RowRole::Member(s) => !shown.contains(&s),
            _ => true,
        })
        .filter_map(|(_, r)| *r)
        .fold(0.0, |a, b| a + b)
}

/// Members of a summary row follow it (in their sorted order), as the rows of a group.
fn group_members(snap: &Snapshot, rates: &Rates, rows: Vec<usize>) -> Vec<usize> {
    let role = |k: usize| snap.row(rates.irqs[k].row).role;
    if !rows.iter().any(|&k| role(k) == RowRole::Summary) {
        return rows;
    }
    let shown: std::collections::HashSet<usize> = rows.iter().map(|&k| rates.irqs[k].row).collect();
    let in_group = |k: usize| matches!(role(k), RowRole::Member(s) if shown.contains(&s));
    let mut out = Vec::with_capacity(rows.len());
    for &k in rows.iter().filter(|&&k| !in_group(k)) {
        out.push(k);
        if role(k) == RowRole::Summary {
            let me = rates.irqs[k].row;
            out.extend(
                rows.iter()
                    .copied()
                    .filter(|&m| role(m) == RowRole::Member(me)),
            );
        }
    }
    out
}

/// How a member row's name is marked when it is shown under its summary row (s390x).
pub const MEMBER_MARK: &str = "└ ";

impl View {
    /// True when row `k` (an index into `rates.irqs`) is an s390x member shown with its summary
    /// row: the view puts it right under that row, and it is drawn indented.
    pub fn under_summary(&self, snap: &Snapshot, rates: &Rates, k: usize) -> bool {
        let RowRole::Member(s) = snap.row(rates.irqs[k].row).role else {
            return false;
        };
        self.rows.iter().any(|&h| rates.irqs[h].row == s)
    }
}

/// A line of the table when queue IRQs are grouped by device.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// One IRQ: an index into `rates.irqs`.
    Irq(usize),
    /// The IRQs of one device (`eth0-TxRx-0..7` -> `eth0`), added up.
    Device(Box<DeviceGroup>),
}

/// Several IRQs of one device, added up.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceGroup {
    /// The device: its netdev or nvme name from sysfs, else from the IRQ names.
    pub name: String,
    pub kind: DeviceKind,
    pub pci: Option<String>,
    /// Indices into `rates.irqs`.
    pub members: Vec<usize>,
    /// Per CPU column: the sum of the members' known rates (`None` when none is known).
    pub per_cpu: CellRates,
    pub total: Option<f64>,
    /// The device's NUMA node (sysfs, else its IRQs' when they agree).
    pub node: Option<u32>,
    /// The CPUs its IRQs may use, together (empty when unknown).
    pub affinity: Vec<u32>,
}

impl View {
    /// The table's lines: rows, or with `by_device` the queue IRQs of each device folded
    /// into one line; folded first, then cut to `--top`, so a device's line adds up all its
    /// IRQs.
    pub fn lines(
        &self,
        snap: &Snapshot,
        rates: &Rates,
        facts: &Facts,
        by_device: bool,
    ) -> Vec<Line> {
        if !by_device {
            return self.rows.iter().map(|&k| Line::Irq(k)).collect();
        }
        let mut out = group_by_device(snap, rates, facts, &self.all_rows);
        if let Some(n) = self.top {
            out.truncate(n);
        }
        out
    }

    /// Every device with two or more IRQs among the rows before `--top`.
    pub fn devices(&self, snap: &Snapshot, rates: &Rates, facts: &Facts) -> Vec<DeviceGroup> {
        group_by_device(snap, rates, facts, &self.all_rows)
            .into_iter()
            .filter_map(|l| match l {
                Line::Device(g) => Some(*g),
                Line::Irq(_) => None,
            })
            .collect()
    }
}

/// `rows` with the numbered IRQs of one device (two or more) folded into one line, placed
/// where its first member was (so sorting still holds).
pub fn group_by_device(snap: &Snapshot, rates: &Rates, facts: &Facts, rows: &[usize]) -> Vec<Line> {
    use crate::itop::judge::numa::{device_name, device_of};
    let dev = |k: usize| -> Option<String> {
        let r = snap.row(rates.irqs[k].row);
        if !r.is_numbered() {
            return None;
        }
        Some(match facts.device(k) {
            Some(d) => d.name.clone(),
            None => device_of(device_name(r.desc)).to_string(),
        })
    };
    let keys: Vec<Option<String>> = rows.iter().map(|&k| dev(k)).collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for d in keys.iter().flatten() {
        *count.entry(d.as_str()).or_default() += 1;
    }
    let mut out: Vec<Line> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for (i, &k) in rows.iter().enumerate() {
        let Some(d) = keys[i].as_deref().filter(|d| count[d] > 1) else {
            out.push(Line::Irq(k));
            continue;
        };
        let idx = *at.entry(d).or_insert_with(|| {
            let info = facts.device(k);
            out.push(Line::Device(Box::new(DeviceGroup {
                name: d.to_string(),
                kind: info.map_or(DeviceKind::Other, |x| x.kind),
                pci: info.and_then(|x| x.pci.clone()),
                members: Vec::new(),
                per_cpu: CellRates::default(),
                total: None,
                node: info.and_then(|x| x.node),
                affinity: Vec::new(),
            })));
            out.len() - 1
        });
        if let Line::Device(g) = &mut out[idx] {
            g.members.push(k);
            if let Some(t) = rates.irqs[k].total {
                g.total = Some(g.total.unwrap_or(0.0) + t);
            }
        }
    }
    for line in &mut out {
        if let Line::Device(g) = line {
            // sparse, as the rows' rates: 148 devices x 1152 CPUs stay small
            let parts = g.members.iter().map(|&k| &rates.irqs[k].per_cpu);
            g.per_cpu = CellRates::summed(parts, &rates.cpu_totals);
            let mut aff: Vec<u32> = g
                .members
                .iter()
                .filter_map(|&k| facts.get(k).allowed.as_deref())
                .flatten()
                .copied()
                .collect();
            aff.sort_unstable();
            aff.dedup();
            g.affinity = aff;
            if g.node.is_none() {
                let nodes: Vec<Option<u32>> =
                    g.members.iter().map(|&k| facts.get(k).node).collect();
                if nodes.first().copied().flatten().is_some()
                    && nodes.windows(2).all(|w| w[0] == w[1])
                {
                    g.node = nodes[0];
                }
            }
        }
    }
    out
}

/// Descending, unknown last (stable sort keeps file order for ties).
fn cmp_desc(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Numbered IRQs by number, then named ones by name.
pub fn irq_order(a: &str, b: &str) -> Ordering {
    match (is_numbered(a), is_numbered(b)) {
        (true, true) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itop::model::rates::rates;

    fn sample() -> (Snapshot, Rates) {
        let a = Snapshot::parse("  CPU0 CPU1 CPU2\n 9: 0 0 0 IO-APIC 9-fasteoi acpi\n 30: 0 0 0 PCI-MSI eth0\nLOC: 0 0 0 Local timer interrupts\nERR: 0\n").unwrap();
        let b = Snapshot::parse("  CPU0 CPU1 CPU2\n 9: 1 0 0 IO-APIC 9-fasteoi acpi\n 30: 0 50 0 PCI-MSI eth0\nLOC: 10 10 10 Local timer interrupts\nERR: 0\n 31: 5 5 5 PCI-MSI eth1\n").unwrap();
        let r = rates(&a, &b, 1.0);
        (b, r)
    }

    fn labels(s: &Snapshot, r: &Rates, v: &View) -> Vec<String> {
        v.rows
            .iter()
            .map(|&k| s.row(r.irqs[k].row).label.to_string())
            .collect()
    }

    #[test]
    fn sorts_filters_and_limits() {
        let (s, r) = sample();
        let v = View::build(&s, &r, &ViewOpts::default());
        assert_eq!(labels(&s, &r, &v), ["30", "LOC", "9", "ERR", "31"]);
        assert!(v.per_cpu);
        assert_eq!(v.total, 81.0);
        let v = View::build(
            &s,
            &r,
            &ViewOpts {
                sort: SortKey::Irq,
                ..Default::default()
            },
        );
        assert_eq!(labels(&s, &r, &v), ["9", "30", "31", "ERR", "LOC"]);
        let v = View::build(
            &s,
            &r,
            &ViewOpts {
                sort: SortKey::Cpu(0),
                ..Default::default()
            },
        );
        assert_eq!(labels(&s, &r, &v)[..2], ["LOC", "9"]);
        let v = View::build(
            &s,
            &r,
            &ViewOpts {
                hide_idle: true,
                top: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(labels(&s, &r, &v), ["30", "LOC"]);
        let v = View::build(
            &s,
            &r,
            &ViewOpts {
                filter: Some("ETH".into()),
                ..Default::default()
            },
        );
        assert_eq!(labels(&s, &r, &v), ["30", "31"]);
        let v = View::build(
            &s,
            &r,
            &ViewOpts {
                sort: SortKey::Name,
                ..Default::default()
            },
        );
        assert_eq!(labels(&s, &r, &v)[0], "ERR");
    }

    #[test]
    fn cpu_selection_restricts_totals() {
        let (s, r) = sample();
        let v = View::build(
            &s,
            &r,
            &ViewOpts {
                cpus: Some(vec![0, 2]),
                ..Default::default()
            },
        );
        assert_eq!(v.cols, [0, 2]);
        assert_eq!(labels(&s, &r, &v)[0], "LOC");
        assert_eq!(v.total, 21.0);
        let v = View::build(
            &s,
            &r,
            &ViewOpts {
                mode: Mode::Total,
                ..Default::default()
            },
        );
        assert!(!v.per_cpu);
    }

    #[test]
    fn cpus_that_do_not_exist_are_named_and_refused_when_none_does() {
        let (s, _) = sample();
        let ok = ViewOpts {
            cpus: Some(vec![0, 2]),
            sort: SortKey::Cpu(2),
            ..Default::default()
        };
        assert_eq!(ok.check(&s), Ok(vec![]));
        let some = ViewOpts {
            cpus: Some(vec![0, 64, 65]),
            ..Default::default()
        };
        assert_eq!(
            some.check(&s),
            Ok(vec![64, 65]),
            "the ones that exist are shown"
        );
        let bad = ViewOpts {
            cpus: Some(vec![64, 65]),
            ..Default::default()
        };
        assert_eq!(
            bad.check(&s).unwrap_err(),
            "--cpus: no CPU 64-65 in the snapshot (its CPUs: 0-2)"
        );
        let bad = ViewOpts {
            sort: SortKey::Cpu(99),
            ..Default::default()
        };
        assert_eq!(
            bad.check(&s).unwrap_err(),
            "--sort cpu99: CPU 99 is not shown"
        );
    }

    #[test]
    fn s390x_groups_follow_their_summary_and_count_once() {
        let a = Snapshot::parse(
            "  CPU0\nEXT: 0\nI/O: 0\nCLK: 0 [EXT] Clock\nEXC: 0 [EXT] Call\nDAS: 0 [I/O] DASD\n",
        )
        .unwrap();
        let b = Snapshot::parse("  CPU0\nEXT: 100\nI/O: 5\nCLK: 70 [EXT] Clock\nEXC: 30 [EXT] Call\nDAS: 5 [I/O] DASD\n").unwrap();
        let r = rates(&a, &b, 1.0);
        let v = View::build(&b, &r, &ViewOpts::default());
        assert_eq!(labels(&b, &r, &v), ["EXT", "CLK", "EXC", "I/O", "DAS"]);
        assert_eq!(v.total, 105.0);
        let f = ViewOpts {
            filter: Some("clock".into()),
            ..Default::default()
        };
        let v = View::build(&b, &r, &f);
        assert_eq!(
            (labels(&b, &r, &v), v.total),
            (vec!["CLK".to_string()], 70.0)
        );
    }

    #[test]
    fn queue_irqs_fold_into_their_device() {
        let a = Snapshot::parse("  CPU0 CPU1\n 30: 0 0 PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 0 PCI-MSI 2-edge eth0-TxRx-1\n 40: 0 0 PCI-MSI 3-edge nvme0q1\nLOC: 0 0 timer\n").unwrap();
        let b = Snapshot::parse("  CPU0 CPU1\n 30: 100 0 PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 50 PCI-MSI 2-edge eth0-TxRx-1\n 40: 7 0 PCI-MSI 3-edge nvme0q1\nLOC: 1000 1000 timer\n").unwrap();
        let r = rates(&a, &b, 1.0);
        let v = View::build(&b, &r, &ViewOpts::default());
        let lines = group_by_device(&b, &r, &Facts::default(), &v.rows);
        assert_eq!(lines.len(), 3, "{lines:?}");
        let Line::Device(g) = &lines[1] else {
            panic!("{lines:?}")
        };
        assert_eq!((g.name.as_str(), g.members.len()), ("eth0", 2));
        assert_eq!(g.per_cpu.to_vec(), [Some(100.0), Some(50.0)]);
        assert_eq!(g.total, Some(150.0));
        assert!(
            matches!(lines[2], Line::Irq(_)),
            "a device with one IRQ stays a row"
        );
        // --top cuts after folding: the device line adds up every IRQ of the device
        let v = View::build(
            &b,
            &r,
            &ViewOpts {
                top: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(v.rows.len(), 2, "LOC and IRQ 30");
        let lines = v.lines(&b, &r, &Facts::default(), true);
        assert_eq!(lines.len(), 2);
        let Line::Device(g) = &lines[1] else {
            panic!("{lines:?}")
        };
        assert_eq!(g.total, Some(150.0));
        assert_eq!(v.devices(&b, &r, &Facts::default()).len(), 1);
    }

    #[test]
    fn sort_keys_and_rates() {
        assert_eq!(SortKey::parse("cpu3"), Ok(SortKey::Cpu(3)));
        assert_eq!(SortKey::parse("3"), Ok(SortKey::Cpu(3)));
        assert_eq!(SortKey::parse("RATE"), Ok(SortKey::Rate));
        assert!(SortKey::parse("bogus").is_err());
    }
}
