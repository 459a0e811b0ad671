//! Which CPU takes far more than its fair share of device interrupts (or, in `--softirq`, of
//! NET_RX/NET_TX/BLOCK softirqs), and what to do about it.
//!
//! Fair share: each interrupt source's rate spread evenly over the CPUs it may use (its
//! `smp_affinity_list`; all CPUs when unknown, and for softirqs). A CPU is called out when its
//! load is at least [`MIN_RATE`]/s and [`FACTOR`] times its fair share; a balanced box (every
//! CPU near its share) never is, and a 2-CPU box never reaches the factor.

use std::fmt;
use std::sync::Arc;

use crate::itop::model::interrupts::{is_numbered, RowKind, Snapshot};
use crate::itop::model::rates::{Rates, RowChange};

/// Interrupts/s below which a CPU's load is never called out.
pub const MIN_RATE: f64 = 1000.0;
/// How far above its fair share a CPU's load must be.
pub const FACTOR: f64 = 3.0;
/// The softirqs whose spread an operator can change (RSS/RPS, blk-mq).
pub const SOFTIRQS: [&str; 3] = ["NET_RX", "NET_TX", "BLOCK"];

/// What kind of load is unbalanced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    /// Device (numbered) interrupts.
    Device,
    /// One softirq (NET_RX, NET_TX, BLOCK).
    Softirq(String),
}

/// A CPU taking far more than its fair share.
#[derive(Debug, Clone, PartialEq)]
pub struct Imbalance {
    pub cpu: u32,
    pub load: Load,
    /// Share of all such interrupts/s, 0..=1.
    pub share: f64,
    /// The CPU's load over its fair share.
    pub ratio: f64,
    /// CPUs the sources may use (union of their affinities).
    pub allowed: usize,
    /// The biggest contributors on that CPU (device names, or labels when unnamed).
    pub top: Vec<String>,
    /// Other CPUs called out too.
    pub more: usize,
}

impl Imbalance {
    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match &self.load {
            Load::Device => {
                "spread them: irqbalance, or /proc/irq/N/smp_affinity_list (NIC queues: RSS over more CPUs)"
            }
            Load::Softirq(s) if s == "BLOCK" => {
                "spread block completions: more blk-mq queues, or /sys/block/*/queue/rq_affinity 2"
            }
            Load::Softirq(_) => {
                "spread packet processing: RSS over more queues, or RPS/XPS (/sys/class/net/*/queues/*/rps_cpus)"
            }
        }
    }
}

impl fmt::Display for Imbalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.load {
            Load::Device => "device interrupts".to_string(),
            Load::Softirq(s) => format!("{s} softirqs"),
        };
        write!(
            f,
            "CPU {} takes {:.0} % of {what}, {:.0}x its fair share of the {} CPUs they may use",
            self.cpu,
            self.share * 100.0,
            self.ratio,
            self.allowed
        )?;
        if !self.top.is_empty() {
            write!(f, " ({})", self.top.join(", "))?;
        }
        if self.more > 0 {
            write!(f, " (and {} more CPUs)", self.more)?;
        }
        write!(f, "; {}", self.fix())
    }
}

/// The device name at the end of a description (`IR-PCI-MSI 1048576-edge eth0-TxRx-0` ->
/// `eth0-TxRx-0`).
pub fn device_name(desc: &str) -> &str {
    desc.rsplit(' ').next().unwrap_or(desc)
}

/// Per-CPU load and fair share of a set of rows.
struct Shares {
    load: Vec<f64>,
    fair: Vec<f64>,
    allowed: Vec<bool>,
    total: f64,
}

/// Load and fair share over the rows `rows` (indices into `rates.irqs`); `affinity[k]` is the
/// set of CPU ids row k may use (`None`: all).
fn shares(
    cur: &Snapshot,
    rates: &Rates,
    rows: &[usize],
    affinity: &[Option<Arc<[u32]>>],
) -> Shares {
    let n = cur.cpus.len();
    let mut s = Shares {
        load: vec![0.0; n],
        fair: vec![0.0; n],
        allowed: vec![false; n],
        total: 0.0,
    };
    let known: Vec<usize> = (0..n)
        .filter(|&j| rates.cpu_totals.get(j).is_some_and(|t| t.is_some()))
        .collect();
    let mut cols = Vec::new();
    for &k in rows {
        let ir = &rates.irqs[k];
        let mut rate = 0.0;
        for (j, v) in ir.per_cpu.nonzero() {
            s.load[j] += v;
            rate += v;
        }
        s.total += rate;
        cols.clear();
        match affinity.get(k).and_then(|a| a.as_ref()) {
            Some(ids) => cols.extend(ids.iter().filter_map(|&id| cur.cpu_column(id))),
            None => cols.extend_from_slice(&known),
        }
        if cols.is_empty() {
            cols.extend_from_slice(&known);
        }
        let each = rate / cols.len().max(1) as f64;
        for &j in &cols {
            s.fair[j] += each;
            s.allowed[j] = true;
        }
    }
    s
}

/// The CPUs far above their fair share, worst first: (column, ratio).
fn hot_cpus(s: &Shares) -> Vec<(usize, f64)> {
    let mut hot: Vec<(usize, f64)> = (0..s.load.len())
        .filter(|&j| s.load[j] >= MIN_RATE && s.load[j] >= FACTOR * s.fair[j])
        .map(|j| {
            (
                j,
                if s.fair[j] > 0.0 {
                    s.load[j] / s.fair[j]
                } else {
                    f64::INFINITY
                },
            )
        })
        .collect();
    hot.sort_by(|a, b| s.load[b.0].total_cmp(&s.load[a.0]));
    hot
}

/// The biggest contributors to column `j` among `rows`.
fn top_sources(cur: &Snapshot, rates: &Rates, rows: &[usize], j: usize) -> Vec<String> {
    let mut contrib: Vec<(f64, &str)> = rows
        .iter()
        .filter_map(|&k| {
            let ir = &rates.irqs[k];
            let v = ir.per_cpu.get(j)?;
            let r = cur.row(ir.row);
            let name = device_name(r.desc);
            (v > 0.0).then_some((v, if name.is_empty() { r.label } else { name }))
        })
        .collect();
    contrib.sort_by(|a, b| b.0.total_cmp(&a.0));
    contrib
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

fn judge(
    cur: &Snapshot,
    rates: &Rates,
    rows: &[usize],
    affinity: &[Option<Arc<[u32]>>],
    load: Load,
) -> Option<Imbalance> {
    if cur.cpus.len() < 2 {
        return None;
    }
    let s = shares(cur, rates, rows, affinity);
    let hot = hot_cpus(&s);
    let &(j, ratio) = hot.first()?;
    Some(Imbalance {
        cpu: cur.cpus[j],
        load,
        share: s.load[j] / s.total,
        ratio,
        allowed: s.allowed.iter().filter(|&&a| a).count(),
        top: top_sources(cur, rates, rows, j),
        more: hot.len() - 1,
    })
}

/// The worst device-interrupt imbalance, if any (`affinity` per `rates.irqs` entry: the CPUs
/// each IRQ may use, from smp_affinity_list).
pub fn imbalance(
    cur: &Snapshot,
    rates: &Rates,
    affinity: &[Option<Arc<[u32]>>],
) -> Option<Imbalance> {
    let rows: Vec<usize> = (0..rates.irqs.len())
        .filter(|&k| {
            let ir = &rates.irqs[k];
            let r = cur.row(ir.row);
            ir.change == RowChange::Known && r.kind == RowKind::PerCpu && is_numbered(r.label)
        })
        .collect();
    judge(cur, rates, &rows, affinity, Load::Device)
}

/// The worst NET_RX/NET_TX/BLOCK imbalance in a /proc/softirqs sample, if any.
pub fn softirq_imbalance(cur: &Snapshot, rates: &Rates) -> Option<Imbalance> {
    SOFTIRQS
        .iter()
        .filter_map(|name| {
            let k = (0..rates.irqs.len()).find(|&k| {
                let ir = &rates.irqs[k];
                ir.change == RowChange::Known && cur.row(ir.row).label == *name
            })?;
            let mut i = judge(cur, rates, &[k], &[], Load::Softirq((*name).to_string()))?;
            i.top.clear();
            Some(i)
        })
        .max_by(|a, b| a.share.total_cmp(&b.share))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itop::model::rates::rates;

    fn snap(t: &str) -> Snapshot {
        Snapshot::parse(t).unwrap()
    }

    #[test]
    fn device_interrupts_piled_on_one_cpu_are_called_out() {
        let a = snap("  CPU0 CPU1 CPU2 CPU3\n 30: 0 0 0 0  PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 0 0 0  PCI-MSI 2-edge eth0-TxRx-1\n 32: 0 0 0 0 PCI-MSI 3-edge nvme0q1\nLOC: 0 0 0 0 timer\n");
        let b = snap("  CPU0 CPU1 CPU2 CPU3\n 30: 10 0 0 5000  PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 0 0 2100  PCI-MSI 2-edge eth0-TxRx-1\n 32: 100 100 80 0 PCI-MSI 3-edge nvme0q1\nLOC: 9999 9999 9999 0 timer\n");
        let r = rates(&a, &b, 1.0);
        let i = imbalance(&b, &r, &[]).unwrap();
        assert_eq!(i.cpu, 3);
        assert_eq!(i.top, ["eth0-TxRx-0", "eth0-TxRx-1"]);
        // hand-checked: 7100 of 7390/s on CPU 3; fair share 7390/4 = 1847.5; ratio 3.84
        assert_eq!(
            i.to_string(),
            "CPU 3 takes 96 % of device interrupts, 4x its fair share of the 4 CPUs they may use (eth0-TxRx-0, eth0-TxRx-1); spread them: irqbalance, or /proc/irq/N/smp_affinity_list (NIC queues: RSS over more CPUs)"
        );
        // the same load when the IRQs may only use CPU 3: that is its fair share
        let pinned: Vec<Option<Arc<[u32]>>> =
            vec![Some(Arc::from([3u32])), Some(Arc::from([3u32])), None, None];
        assert!(imbalance(&b, &r, &pinned).is_none());
    }

    #[test]
    fn never_on_a_balanced_box() {
        // 2 CPUs, each with its own queue at the same rate; and all on one of 2 CPUs
        let a = snap("  CPU0 CPU1\n 30: 0 0 eth0-0\n 31: 0 0 eth0-1\n");
        let b = snap("  CPU0 CPU1\n 30: 50000 0 eth0-0\n 31: 0 50000 eth0-1\n");
        assert!(imbalance(&b, &rates(&a, &b, 1.0), &[]).is_none());
        let b = snap("  CPU0 CPU1\n 30: 50000 0 eth0-0\n 31: 50000 0 eth0-1\n");
        assert!(
            imbalance(&b, &rates(&a, &b, 1.0), &[]).is_none(),
            "2 CPUs: at most 2x"
        );
        // below the floor rate: nothing to say
        let a = snap("  CPU0 CPU1 CPU2 CPU3\n 30: 0 0 0 0 x\n");
        let b = snap("  CPU0 CPU1 CPU2 CPU3\n 30: 900 0 0 0 x\n");
        assert!(imbalance(&b, &rates(&a, &b, 1.0), &[]).is_none());
    }

    #[test]
    fn softirq_net_rx_on_one_cpu() {
        let a = snap("  CPU0 CPU1 CPU2 CPU3\nNET_RX: 0 0 0 0\nTIMER: 0 0 0 0\n");
        let b = snap(
            "  CPU0 CPU1 CPU2 CPU3\nNET_RX: 95000 2000 2000 1000\nTIMER: 9000 9000 9000 9000\n",
        );
        let i = softirq_imbalance(&b, &rates(&a, &b, 1.0)).unwrap();
        assert_eq!((i.cpu, i.load.clone()), (0, Load::Softirq("NET_RX".into())));
        assert!(
            i.to_string()
                .starts_with("CPU 0 takes 95 % of NET_RX softirqs, 4x"),
            "{i}"
        );
        assert!(i.to_string().contains("RPS"), "{i}");
        let b =
            snap("  CPU0 CPU1 CPU2 CPU3\nNET_RX: 25000 25000 25000 25000\nTIMER: 0 0 0 90000\n");
        assert!(softirq_imbalance(&b, &rates(&a, &b, 1.0)).is_none());
    }
}
