//! Which CPU takes more than its share of device interrupts.

use std::fmt;

use super::interrupts::{RowKind, Snapshot};
use super::irq_rates::Rates;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::irq_rates::rates;

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
}
