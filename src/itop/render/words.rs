//! The judge's typed findings in words, and the shell commands of their remedies. The only
//! place itop's verdicts become text.

use std::fmt::Write as _;

use crate::common::units::format_cpu_list;
use crate::itop::judge::hot::{Culprit, Hotspot, Load, Placement, Remedy, SoftirqKind, Trigger};
use crate::itop::judge::numa::NumaMismatch;
use crate::itop::judge::Finding;
use crate::itop::model::devices::{format_cpu_mask, DeviceKind};

/// A rate for prose: whole, with k/M above ten thousand (`200000/s` reads `200k/s`).
pub fn rate_words(v: f64) -> String {
    if v >= 1e7 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// `IRQ 45` or `IRQs 100, 101 and 14 more`.
fn irq_words(irqs: &[String]) -> String {
    match irqs {
        [one] => format!("IRQ {one}"),
        _ => {
            let shown: Vec<&str> = irqs.iter().take(3).map(String::as_str).collect();
            let more = irqs.len().saturating_sub(3);
            if more > 0 {
                format!("{} IRQs {} and {more} more", irqs.len(), shown.join(", "))
            } else {
                format!("IRQs {}", shown.join(", "))
            }
        }
    }
}

/// One device's part: `eth2 (IRQ 45, 200k/s, pinned to CPU 0)`.
pub fn culprit_words(c: &Culprit, cpu: u32) -> String {
    let mut s = format!(
        "{} ({}, {}/s",
        c.device,
        irq_words(&c.irqs),
        rate_words(c.rate)
    );
    match c.placement {
        Placement::Pinned => {
            let _ = write!(s, ", pinned to CPU {cpu}");
        }
        Placement::AllowsOthers(n) => {
            let _ = write!(s, ", its affinity allows {n} CPUs");
        }
        Placement::Unknown => {}
    }
    if c.managed {
        s.push_str(", managed by the kernel");
    }
    s.push(')');
    s
}

/// What to do, in words (commands apart: [`remedy_commands`]).
pub fn remedy_words(c: &Culprit) -> String {
    match &c.remedy {
        Remedy::Rps { netdev, cpus } => format!(
            "{netdev} has one receive queue, which affinity cannot spread: spread its packets with RPS/RFS over CPUs {} (/sys/class/net/{netdev}/queues/rx-0/rps_cpus), or give it more queues (ethtool -L {netdev} combined N)",
            format_cpu_list(cpus)
        ),
        Remedy::RpsInPlace { netdev, cpus } => format!(
            "{netdev} has one receive queue; RPS already spreads its packets over CPUs {}",
            format_cpu_list(cpus)
        ),
        Remedy::Spread { moves } => format!(
            "give {}'s queues a CPU each: move {} IRQs (/proc/irq/N/smp_affinity_list), or let irqbalance place them",
            c.device,
            moves.len()
        ),
        Remedy::MoreQueues { netdev, queues } => format!(
            "{netdev} has {queues} queues, one of them here: more queues spread it further (ethtool -l {netdev}; ethtool -L {netdev} combined N)"
        ),
        Remedy::Managed => format!(
            "{}'s queues are placed by the kernel (managed affinity): no affinity to set; the load follows the CPUs that submit the I/O",
            c.device
        ),
        Remedy::OneLine { irq } => format!(
            "IRQ {irq} is a single line: it can only be moved to a quieter CPU (/proc/irq/{irq}/smp_affinity_list), not spread"
        ),
    }
}

fn softirq_fix(k: SoftirqKind) -> &'static str {
    match k {
        SoftirqKind::Block => {
            "spread block completions: more blk-mq queues, or /sys/block/*/queue/rq_affinity 2"
        }
        _ => "spread packet processing: RSS over more queues, or RPS/XPS (/sys/class/net/*/queues/*/rps_cpus)",
    }
}

/// The shell commands that apply a remedy (empty when there is nothing to write).
pub fn remedy_commands(c: &Culprit) -> Vec<String> {
    match &c.remedy {
        Remedy::Rps { netdev, cpus } => vec![format!(
            "echo {} > /sys/class/net/{netdev}/queues/rx-0/rps_cpus",
            format_cpu_mask(cpus)
        )],
        Remedy::Spread { moves } => moves
            .iter()
            .map(|(irq, cpu)| format!("echo {cpu} > /proc/irq/{irq}/smp_affinity_list"))
            .collect(),
        _ => Vec::new(),
    }
}

/// The commands that move a device's IRQs to its node.
pub fn numa_commands(m: &NumaMismatch) -> Vec<String> {
    let list = format_cpu_list(&m.local_cpus);
    m.irqs
        .iter()
        .map(|irq| format!("echo {list} > /proc/irq/{irq}/smp_affinity_list"))
        .collect()
}

/// `CPU 0 takes 49 % of device interrupts (200k/s, 12x the mean of 24 CPUs) and spends 97 %
/// of its time in handlers: eth2 (...); fix: ...`
pub fn hotspot_words(h: &Hotspot) -> String {
    let what = match h.load {
        Load::Device => "device interrupts".to_string(),
        Load::Softirq(k) => format!("{} softirqs", k.label()),
    };
    let mut s = format!("CPU {}", h.cpu);
    let rate = format!(
        " takes {:.0} % of {what} ({}/s, {:.0}x the mean of {} CPUs)",
        h.share * 100.0,
        rate_words(h.rate),
        h.ratio,
        h.cpus
    );
    let time = h.handlers.map(|t| {
        format!(
            " spends {:.0} % of its time in interrupt handlers (irq {:.1} %, softirq {:.1} %)",
            t.total(),
            t.irq,
            t.softirq
        )
    });
    match (h.trigger, time) {
        (Trigger::Rate, _) | (_, None) => s.push_str(&rate),
        (Trigger::HandlerTime, Some(t)) => s.push_str(&t),
        (Trigger::Both, Some(t)) => {
            s.push_str(&rate);
            s.push_str(" and");
            s.push_str(&t);
        }
    }
    if !h.culprits.is_empty() {
        let parts: Vec<String> = h.culprits.iter().map(|c| culprit_words(c, h.cpu)).collect();
        let _ = write!(s, ": {}", parts.join(", "));
    }
    match h.load {
        Load::Softirq(k) => {
            let _ = write!(s, "; {}", softirq_fix(k));
        }
        Load::Device => {
            for c in &h.culprits {
                let _ = write!(s, "; {}", remedy_words(c));
            }
        }
    }
    s
}

/// `eth0 (NUMA node 1): 83 % of its 6000 interrupts/s handled on other nodes' CPUs; ...`
pub fn numa_words(m: &NumaMismatch) -> String {
    format!(
        "{} (NUMA node {}): {:.0} % of its {} interrupts/s handled on other nodes' CPUs while node {}'s CPUs {} are online; set the affinity of its {} to them",
        m.device,
        m.node,
        m.remote * 100.0,
        rate_words(m.rate),
        m.node,
        format_cpu_list(&m.local_cpus),
        irq_words(&m.irqs)
    )
}

/// `CPU 5 went offline` / `CPUs 5, 7 went offline`.
pub fn offline_words(ids: &[u32]) -> String {
    let list = format_cpu_list(ids);
    if ids.len() == 1 {
        format!("CPU {list} went offline during the interval (no rate for it)")
    } else {
        format!("CPUs {list} went offline during the interval (no rate for them)")
    }
}

/// CPUs whose /proc/stat counters went back.
pub fn stat_reset_words(ids: &[u32]) -> String {
    let (first, rest) = ids.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let mut list = first.to_string();
    for id in rest.iter().take(7) {
        let _ = write!(list, ", {id}");
    }
    if rest.len() > 7 {
        let _ = write!(list, " and {} more", rest.len() - 7);
    }
    let cpus = if rest.is_empty() { "CPU" } else { "CPUs" };
    format!("/proc/stat counters went back (CPU hot-plugged?) for {cpus} {list}: handler time unknown this interval")
}

/// A finding in one line.
pub fn finding_words(f: &Finding) -> String {
    match f {
        Finding::Hot(h) => hotspot_words(h),
        Finding::Numa(m) => numa_words(m),
        Finding::WentOffline(ids) => offline_words(ids),
        Finding::StatResets(ids) => stat_reset_words(ids),
    }
}

/// The `kind` of a device for JSON and words.
pub fn kind_name(k: DeviceKind) -> &'static str {
    match k {
        DeviceKind::Net => "net",
        DeviceKind::Nvme => "nvme",
        DeviceKind::Other => "other",
    }
}
