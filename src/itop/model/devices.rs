//! What itop knows about the devices behind the IRQs and about each IRQ's placement, as
//! gathered from /proc/irq and /sys. Pure values (the gather fills them; the judge reads them).

use std::sync::Arc;

/// What a device is, for the remedy: a NIC is spread with RSS/RPS, an NVMe drive's queues
/// are placed by the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A network interface (`/sys/bus/pci/devices/*/net/*`, `/sys/class/net/*`).
    Net,
    /// An NVMe controller (`/sys/bus/pci/devices/*/nvme/*`).
    Nvme,
    /// Anything else.
    Other,
}

/// A device that owns interrupts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its name: the netdev (`eth2`), the NVMe controller (`nvme0`), else the PCI address or
    /// the name in /proc/interrupts.
    pub name: String,
    /// Its PCI address (`0000:5e:00.0`), when known.
    pub pci: Option<String>,
    pub kind: DeviceKind,
    /// Its NUMA node (`numa_node`; -1 and unknown: `None`).
    pub node: Option<u32>,
    /// Receive queues of a netdev (`/sys/class/net/DEV/queues/rx-*`; 0 when unknown).
    pub rx_queues: usize,
    /// The CPUs of `queues/rx-0/rps_cpus` (empty: RPS off or unknown).
    pub rps_cpus: Vec<u32>,
}

/// What is known about one IRQ row (per `rates.irqs` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IrqInfo {
    /// `effective_affinity_list` (where the kernel really delivers it), else
    /// `smp_affinity_list`, as a CPU list for display.
    pub shown: Option<String>,
    /// `smp_affinity_list`: the CPUs the IRQ may use.
    pub allowed: Option<Arc<[u32]>>,
    /// `/proc/irq/N/node`: its device's NUMA node.
    pub node: Option<u32>,
    /// Kernel-managed affinity (per-CPU queues of NVMe, virtio-blk...): the kernel refuses
    /// affinity writes, and each queue is meant to be served where its I/O comes from.
    pub managed: bool,
    /// Index into the device table, when the IRQ's device is known from sysfs.
    pub device: Option<usize>,
}

/// The facts beside one sample's rows: per `rates.irqs` entry, and the device table they
/// point into.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub info: Vec<IrqInfo>,
    pub devices: Vec<Device>,
}

impl Facts {
    pub fn clear(&mut self) {
        self.info.clear();
        self.devices.clear();
    }

    /// The facts of row `k` (empty when unknown).
    pub fn get(&self, k: usize) -> &IrqInfo {
        static NONE: IrqInfo = IrqInfo {
            shown: None,
            allowed: None,
            node: None,
            managed: false,
            device: None,
        };
        self.info.get(k).unwrap_or(&NONE)
    }

    /// The device of row `k`, when known.
    pub fn device(&self, k: usize) -> Option<&Device> {
        self.get(k).device.and_then(|d| self.devices.get(d))
    }
}

/// The CPU ids of a kernel CPU mask (`ff,ffffffff`: 32-bit words, most significant first);
/// `None` when it is not one.
pub fn parse_cpu_mask(s: &str) -> Option<Vec<u32>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let words: Vec<&str> = s.split(',').collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().rev().enumerate() {
        let v = u32::from_str_radix(w, 16).ok()?;
        for b in 0..32 {
            if v & (1 << b) != 0 {
                out.push(u32::try_from(i).ok()?.checked_mul(32)? + b);
            }
        }
    }
    out.sort_unstable();
    Some(out)
}

/// A kernel CPU mask for CPU ids (`rps_cpus`, `smp_affinity` syntax): hex, 32-bit words
/// separated by commas, most significant first, no leading zero words (`fffffe` for 1-23).
pub fn format_cpu_mask(cpus: &[u32]) -> String {
    let Some(&max) = cpus.iter().max() else {
        return "0".into();
    };
    let mut words = vec![0u32; max as usize / 32 + 1];
    for &c in cpus {
        words[c as usize / 32] |= 1 << (c % 32);
    }
    let mut out = String::new();
    for (i, w) in words.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&format!("{w:x}"));
        } else {
            out.push_str(&format!(",{w:08x}"));
        }
    }
    out
}

/// Whether an action name is a kernel-managed per-CPU queue by its driver's naming, for when
/// debugfs (`/sys/kernel/debug/irq/irqs/N`) cannot say: NVMe I/O queues (`nvme0q3`; `q0` is
/// the admin queue) and virtio-blk/scsi request queues (`virtio2-req.0`, `virtio1-request`).
pub fn managed_by_name(action: &str) -> bool {
    if let Some(rest) = action.strip_prefix("nvme") {
        if let Some((ctrl, q)) = rest.split_once('q') {
            return !ctrl.is_empty()
                && ctrl.bytes().all(|b| b.is_ascii_digit())
                && !q.is_empty()
                && q.bytes().all(|b| b.is_ascii_digit())
                && q != "0";
        }
        return false;
    }
    if let Some(rest) = action.strip_prefix("virtio") {
        return rest.contains("-req.") || rest.ends_with("-request");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_masks_both_ways() {
        assert_eq!(format_cpu_mask(&(1..24).collect::<Vec<_>>()), "fffffe");
        assert_eq!(format_cpu_mask(&[0, 33]), "2,00000001");
        assert_eq!(format_cpu_mask(&[]), "0");
        assert_eq!(parse_cpu_mask("fffffe"), Some((1..24).collect()));
        assert_eq!(parse_cpu_mask("2,00000001"), Some(vec![0, 33]));
        assert_eq!(parse_cpu_mask("0"), Some(vec![]));
        assert_eq!(parse_cpu_mask("xyz"), None);
        let many: Vec<u32> = (0..1152).step_by(7).collect();
        assert_eq!(parse_cpu_mask(&format_cpu_mask(&many)), Some(many));
    }

    #[test]
    fn managed_queues_by_name() {
        assert!(managed_by_name("nvme0q1"));
        assert!(managed_by_name("nvme12q31"));
        assert!(!managed_by_name("nvme0q0"), "the admin queue");
        assert!(managed_by_name("virtio2-req.0"));
        assert!(
            !managed_by_name("virtio0-input.0"),
            "virtio-net is not managed"
        );
        assert!(!managed_by_name("eth0-TxRx-0"));
        assert!(!managed_by_name("mlx5_comp3@pci:0000:5e:00.0"));
    }
}
