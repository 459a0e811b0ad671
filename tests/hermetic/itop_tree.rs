//! A generator of fake /proc + /sys trees for `opskit --root`: a 24-CPU, 2-node box with a
//! 16-queue mlx5 NIC, a single-queue NIC (eth2), an NVMe drive with one kernel-managed queue
//! per CPU, and the per-CPU interrupts (LOC, RES). It plays the kernel: each IRQ's interrupts
//! land on the first online CPU of its effective affinity, which it reads back from the tree,
//! so a remedy written into the tree (an `smp_affinity_list`, an `rps_cpus`) changes the next
//! snapshots the way the kernel would.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One interrupt source.
#[derive(Debug, Clone)]
pub struct Irq {
    pub n: u32,
    /// The action name (`eth2`, `mlx5_comp3@pci:0000:5e:00.0`, `nvme0q4`).
    pub action: String,
    /// Interrupts/s it raises.
    pub rate: f64,
    /// `smp_affinity_list`.
    pub affinity: Vec<u32>,
    /// Where the kernel delivers it when not the first CPU of `affinity` (x86 picks one CPU
    /// of the mask; a tuning script or irqbalance may have chosen another).
    pub effective: Option<u32>,
    /// The PCI address of its device.
    pub pci: &'static str,
    pub managed: bool,
    /// For per-CPU managed queues: the I/O comes from this CPU (the queue's own), and
    /// stops when it goes offline.
    pub per_cpu_io: bool,
}

/// A PCI device.
#[derive(Debug, Clone)]
pub struct Dev {
    pub pci: &'static str,
    pub node: u32,
    /// A netdev name with its receive queues, or an NVMe controller name.
    pub net: Option<(&'static str, usize)>,
    pub nvme: Option<&'static str>,
}

/// The box.
#[derive(Debug, Clone)]
pub struct Machine {
    pub ncpu: u32,
    pub nodes: Vec<Vec<u32>>,
    pub offline: Vec<u32>,
    pub devs: Vec<Dev>,
    pub irqs: Vec<Irq>,
    /// LOC and RES per CPU (id -> rate); named, per-CPU interrupts.
    pub loc: BTreeMap<u32, f64>,
    pub res: BTreeMap<u32, f64>,
    /// % of time in (irq, softirq) handlers per CPU, for the /proc/stat pair (others 1 %).
    pub handlers: BTreeMap<u32, (f64, f64)>,
}

pub const MLX5: &str = "0000:5e:00.0";
pub const ETH2: &str = "0000:af:00.0";
pub const NVME: &str = "0000:3b:00.0";

/// A healthy box: irqbalance-style affinities, every queue on a CPU of its device's node,
/// the NVMe queues one per CPU (managed), eth2 quiet.
pub fn healthy() -> Machine {
    let mut irqs = Vec::new();
    // eth2: single queue, node 0
    irqs.push(Irq {
        n: 45,
        action: "eth2".into(),
        rate: 500.0,
        affinity: (0..12).collect(),
        effective: Some(3),
        pci: ETH2,
        managed: false,
        per_cpu_io: false,
    });
    // mlx5: 16 queues on node 1 (CPUs 12-23), one per CPU, wrapping
    for q in 0..16u32 {
        irqs.push(Irq {
            n: 100 + q,
            action: format!("mlx5_comp{q}@pci:{MLX5}"),
            rate: 10_000.0,
            affinity: vec![12 + q % 12],
            effective: None,
            pci: MLX5,
            managed: false,
            per_cpu_io: false,
        });
    }
    // nvme0: the admin queue and one managed I/O queue per CPU
    irqs.push(Irq {
        n: 199,
        action: "nvme0q0".into(),
        rate: 1.0,
        affinity: (0..12).collect(),
        effective: None,
        pci: NVME,
        managed: false,
        per_cpu_io: false,
    });
    for c in 0..24u32 {
        irqs.push(Irq {
            n: 200 + c,
            action: format!("nvme0q{}", c + 1),
            rate: 2000.0,
            affinity: vec![c],
            effective: None,
            pci: NVME,
            managed: true,
            per_cpu_io: true,
        });
    }
    Machine {
        ncpu: 24,
        nodes: vec![(0..12).collect(), (12..24).collect()],
        offline: Vec::new(),
        devs: vec![
            Dev {
                pci: MLX5,
                node: 1,
                net: Some(("enp94s0f0", 16)),
                nvme: None,
            },
            Dev {
                pci: ETH2,
                node: 0,
                net: Some(("eth2", 1)),
                nvme: None,
            },
            Dev {
                pci: NVME,
                node: 0,
                net: None,
                nvme: Some("nvme0"),
            },
        ],
        irqs,
        loc: (0..24).map(|c| (c, 1000.0)).collect(),
        res: (0..24).map(|c| (c, 50.0)).collect(),
        handlers: BTreeMap::new(),
    }
}

impl Machine {
    pub fn irq_mut(&mut self, n: u32) -> &mut Irq {
        self.irqs.iter_mut().find(|i| i.n == n).unwrap()
    }

    fn online(&self) -> Vec<u32> {
        (0..self.ncpu)
            .filter(|c| !self.offline.contains(c))
            .collect()
    }

    /// Write the tree (sysfs, /proc/irq) under `root`.
    pub fn write_tree(&self, root: &Path) {
        let w = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        for (n, cpus) in self.nodes.iter().enumerate() {
            w(
                &format!("sys/devices/system/node/node{n}/cpulist"),
                &format!("{}-{}\n", cpus[0], cpus[cpus.len() - 1]),
            );
        }
        for d in &self.devs {
            let base = format!("sys/bus/pci/devices/{}", d.pci);
            w(&format!("{base}/numa_node"), &format!("{}\n", d.node));
            for i in self.irqs.iter().filter(|i| i.pci == d.pci) {
                w(&format!("{base}/msi_irqs/{}", i.n), "msix\n");
            }
            if let Some((name, queues)) = d.net {
                w(&format!("{base}/net/{name}/ifindex"), "3\n");
                for q in 0..queues {
                    w(
                        &format!("sys/class/net/{name}/queues/rx-{q}/rps_cpus"),
                        "000000\n",
                    );
                }
            }
            if let Some(name) = d.nvme {
                w(&format!("{base}/nvme/{name}/dev"), "259:0\n");
            }
        }
        for i in &self.irqs {
            let list = list(&i.affinity);
            w(
                &format!("proc/irq/{}/smp_affinity_list", i.n),
                &format!("{list}\n"),
            );
            let eff = i.effective.unwrap_or(i.affinity[0]);
            w(
                &format!("proc/irq/{}/effective_affinity_list", i.n),
                &format!("{eff}\n"),
            );
            let node = self.devs.iter().find(|d| d.pci == i.pci).unwrap().node;
            w(&format!("proc/irq/{}/node", i.n), &format!("{node}\n"));
            let state = if i.managed {
                "handler:  handle_edge_irq\ndstate:   0x3660a200\n            IRQD_ACTIVATED\n            IRQD_AFFINITY_MANAGED\n"
            } else {
                "handler:  handle_edge_irq\ndstate:   0x3600a200\n            IRQD_ACTIVATED\n"
            };
            w(&format!("sys/kernel/debug/irq/irqs/{}", i.n), state);
        }
    }

    /// Where IRQ `i` lands, as the kernel would deliver it given the tree's affinity files
    /// (read back, so what a test wrote there counts): the effective CPU when online, else
    /// the first online CPU of `smp_affinity_list`; `None` (no interrupts) for a managed
    /// per-CPU queue whose CPU is offline.
    fn lands(&self, root: &Path, i: &Irq) -> Option<u32> {
        let read = |f: &str| {
            std::fs::read_to_string(root.join(format!("proc/irq/{}/{f}", i.n)))
                .ok()
                .map(|s| parse_list(s.trim()))
        };
        let smp = read("smp_affinity_list").unwrap_or_else(|| i.affinity.clone());
        let eff = read("effective_affinity_list").unwrap_or_default();
        let online = self.online();
        if i.per_cpu_io {
            return smp.first().copied().filter(|c| online.contains(c));
        }
        eff.iter()
            .chain(&smp)
            .copied()
            .find(|c| online.contains(c) && smp.contains(c))
    }

    /// `/proc/interrupts` after `secs` seconds of load; `acc(irq)` is how many interrupts
    /// the IRQ raised since time 0 (they land where [`Machine::lands`] says).
    pub fn interrupts(&self, root: &Path, secs: f64, acc: &dyn Fn(&Irq) -> f64) -> String {
        let online = self.online();
        let mut s: String = online
            .iter()
            .map(|c| format!(" {:>10}", format!("CPU{c}")))
            .collect();
        s.insert_str(0, "    ");
        s.push('\n');
        for i in &self.irqs {
            let at = self.lands(root, i);
            let _ = write!(s, "{:>4}:", i.n);
            for &c in &online {
                let mut count = 1_000_000.0 + f64::from(c) * 7.0;
                if at == Some(c) {
                    count += acc(i).round();
                }
                let _ = write!(s, " {:>10}", count as u64);
            }
            let _ = writeln!(s, "  IR-PCI-MSI-edge      {}", i.action);
        }
        for (label, rates, what) in [
            ("LOC", &self.loc, "Local timer interrupts"),
            ("RES", &self.res, "Rescheduling interrupts"),
        ] {
            let _ = write!(s, "{label:>4}:");
            for &c in &online {
                let count = 5_000_000.0 + (rates.get(&c).copied().unwrap_or(0.0) * secs).round();
                let _ = write!(s, " {:>10}", count as u64);
            }
            let _ = writeln!(s, "  {what}");
        }
        s.push_str(" ERR:          0\n");
        s
    }

    /// `/proc/stat` after `secs` seconds at 100 ticks a second.
    pub fn stat(&self, secs: f64) -> String {
        let mut s = String::from("cpu  1 1 1 1 1 1 1 0 0 0\n");
        for c in self.online() {
            let (irq, soft) = self.handlers.get(&c).copied().unwrap_or((0.5, 0.5));
            let ticks = 100.0 * secs;
            let irq_t = (irq / 100.0 * ticks).round() as u64;
            let soft_t = (soft / 100.0 * ticks).round() as u64;
            let idle = ticks as u64 - irq_t - soft_t;
            let _ = writeln!(
                s,
                "cpu{c} 1000 0 1000 {} 0 {} {} 0 0 0",
                100_000 + idle,
                500 + irq_t,
                500 + soft_t
            );
        }
        s.push_str("intr 0\nctxt 0\n");
        s
    }

    /// Write the pair of snapshots (and /proc/stat) `a` (time 0) and `b` (after `secs`) next
    /// to the tree; returns their paths (a, b, stat a, stat b).
    pub fn snapshots(&self, root: &Path, dir: &Path, secs: f64) -> [PathBuf; 4] {
        let a = dir.join("interrupts.a");
        let b = dir.join("interrupts.b");
        let sa = dir.join("stat.a");
        let sb = dir.join("stat.b");
        std::fs::write(&a, self.interrupts(root, 0.0, &|_| 0.0)).unwrap();
        std::fs::write(&b, self.interrupts(root, secs, &|i| i.rate * secs)).unwrap();
        std::fs::write(&sa, self.stat(0.0)).unwrap();
        std::fs::write(&sb, self.stat(secs)).unwrap();
        [a, b, sa, sb]
    }
}

/// `0-3,8` from ids.
pub fn list(ids: &[u32]) -> String {
    let mut v = ids.to_vec();
    v.sort_unstable();
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        while i + 1 < v.len() && v[i + 1] == v[i] + 1 {
            i += 1;
        }
        out.push(if v[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", v[i])
        });
        i += 1;
    }
    out.join(",")
}

/// Ids from `0-3,8`.
pub fn parse_list(s: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => v.extend(a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()),
            None => v.push(part.parse().unwrap()),
        }
    }
    v
}

/// Apply a printed command (`echo VALUE > /path`) to the fake tree: VALUE written to
/// ROOT/path, which must already exist (as the kernel's file would).
pub fn apply(root: &Path, cmd: &str) {
    let (value, path) = cmd
        .strip_prefix("echo ")
        .and_then(|c| c.split_once(" > "))
        .unwrap_or_else(|| panic!("not an echo command: {cmd}"));
    let p = root.join(path.trim_start_matches('/'));
    assert!(
        p.exists(),
        "{cmd}: {} does not exist in the tree",
        p.display()
    );
    std::fs::write(&p, format!("{value}\n")).unwrap();
    // the kernel also moves the effective affinity into the new mask: x86's vector matrix
    // takes the CPU of the mask with the fewest vectors allocated (ties: the lowest id)
    if let Some(dir) = path.strip_suffix("/smp_affinity_list") {
        let mask = parse_list(value);
        let mut used: BTreeMap<u32, usize> = mask.iter().map(|&c| (c, 0)).collect();
        for e in std::fs::read_dir(root.join("proc/irq")).unwrap().flatten() {
            if e.path() == root.join(dir.trim_start_matches('/')) {
                continue;
            }
            if let Ok(t) = std::fs::read_to_string(e.path().join("effective_affinity_list")) {
                for c in parse_list(t.trim()) {
                    if let Some(n) = used.get_mut(&c) {
                        *n += 1;
                    }
                }
            }
        }
        let best = used
            .iter()
            .min_by_key(|(c, n)| (**n, **c))
            .map(|(c, _)| *c)
            .unwrap();
        std::fs::write(
            root.join(format!(
                "{}/effective_affinity_list",
                dir.trim_start_matches('/')
            )),
            format!("{best}\n"),
        )
        .unwrap();
    }
}
