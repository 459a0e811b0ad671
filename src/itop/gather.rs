//! Reading interrupt counters: live from `/proc` (under `--root`), or replayed from files.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use crate::common::fsread;
use crate::common::root::Root;
use crate::itop::judge::numa::CpuNodes;
use crate::itop::model::cpustat::CpuStat;
use crate::itop::model::devices::{
    managed_by_name, parse_cpu_mask, Device, DeviceKind, Facts, IrqInfo,
};
use crate::itop::model::interrupts::{lines_of, Snapshot, Stamp};
use crate::itop::model::rates::Rates;

/// A source of snapshots.
pub(crate) trait Sampler {
    /// Read the next snapshot into `into` (reusing its buffers). `Ok(false)` when a finite
    /// source is exhausted.
    fn sample(&mut self, into: &mut Snapshot) -> anyhow::Result<Option<Stamp>>;
    /// What is being read, for messages.
    fn describe(&self) -> String;
    /// Start again from the first snapshot (replayed files; live sources have no start).
    fn rewind(&mut self) {}
    /// The file the last snapshot came from, for messages about its content.
    fn describe_last(&self) -> String {
        self.describe()
    }
    /// The /proc/stat that goes with the last snapshot (`None`: not available).
    fn stat(&mut self) -> anyhow::Result<Option<CpuStat>>;
}

/// Read and parse a /proc/stat; the error names the file and line.
fn read_stat(path: &Path, buf: &mut Vec<u8>) -> anyhow::Result<CpuStat> {
    fsread::read_capped_into(path, MAX_FILE, buf)?;
    CpuStat::parse(buf).with_context(|| format!("parsing {}", path.display()))
}

fn wall_now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_nanos(),
        ),
        Err(_) => (0, 0),
    }
}

/// The live `/proc/interrupts` (or `/proc/softirqs`) under a root.
pub(crate) struct ProcSampler {
    path: PathBuf,
    stat_path: PathBuf,
    buf: Vec<u8>,
    start: Instant,
}

impl ProcSampler {
    pub(crate) fn new(root: &Root, softirq: bool) -> Self {
        let rel = if softirq {
            "/proc/softirqs"
        } else {
            "/proc/interrupts"
        };
        ProcSampler {
            path: root.path(rel),
            stat_path: root.path("/proc/stat"),
            buf: Vec::with_capacity(64 * 1024),
            start: Instant::now(),
        }
    }
}

/// The largest interrupts file read: the 1152-CPU capture is 13.4 MB; a file above this is
/// refused with its name (it is streamed, never held whole).
pub(crate) const MAX_FILE: u64 = 64 << 20;

/// The longest line: a row of the 1152-CPU capture is 12.7 KB, one for 8192 CPUs (the
/// kernel's NR_CPUS limit) about 100 KB. A longer line is an error as soon as it is seen, so
/// a file with no newline is not buffered up to [`MAX_FILE`].
const MAX_LINE: usize = 1 << 20;

/// Read `path` (a regular file, never blocking on a FIFO, at most [`MAX_FILE`] bytes) into
/// `buf` and parse it into `into`; errors name the file and line.
fn read_snapshot(path: &Path, buf: &mut Vec<u8>, into: &mut Snapshot) -> anyhow::Result<()> {
    let f = fsread::open_regular(path)?;
    let r = parse_stream(f, buf, into, MAX_FILE, &path.display().to_string());
    if r.is_err() {
        into.parse_into(b"").ok();
    }
    r
}

/// The piece read at a time: the 1152-CPU capture (13.4 MB) is never held whole, only a
/// line or so beyond this.
const CHUNK: usize = 256 << 10;

/// Parse what `r` yields, `CHUNK` bytes at a time in `buf`, at most `max` bytes.
fn parse_stream(
    mut r: impl Read,
    buf: &mut Vec<u8>,
    into: &mut Snapshot,
    max: u64,
    name: &str,
) -> anyhow::Result<()> {
    let parsing = || format!("parsing {name}");
    let mut st = into.begin_lines();
    let mut filled = 0;
    let mut total = 0u64;
    loop {
        if buf.len() < filled + CHUNK {
            buf.resize(filled + CHUNK, 0);
        }
        let n = match r.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {name}")),
        };
        total += n as u64;
        if total > max {
            anyhow::bail!("reading {name}: larger than the {} MiB limit", max >> 20);
        }
        if n == 0 {
            into.feed_line(&mut st, &buf[..filled])
                .with_context(parsing)?;
            return into.finish_lines(&st).with_context(parsing);
        }
        let end = filled + n;
        // every whole line read so far; the tail waits for the rest of its line
        let done = match memchr::memrchr(b'\n', &buf[filled..end]) {
            Some(k) => filled + k + 1,
            None if end > MAX_LINE => {
                anyhow::bail!(
                    "parsing {name}: a line longer than the {} MiB limit",
                    MAX_LINE >> 20
                );
            }
            None => {
                filled = end;
                continue;
            }
        };
        for line in lines_of(&buf[..done - 1]) {
            into.feed_line(&mut st, line).with_context(parsing)?;
        }
        buf.copy_within(done..end, 0);
        filled = end - done;
    }
}

/// The warning for descriptions that were not valid UTF-8 (`None` when all were).
pub(crate) fn lossy_warning(what: &str, snap: &Snapshot) -> Option<String> {
    let lines = &snap.lossy_lines;
    let first = lines.first()?;
    let more = if lines.len() > 1 {
        format!(" (and {} more lines)", lines.len() - 1)
    } else {
        String::new()
    };
    Some(format!(
        "{what}: line {first}{more}: a name is not valid UTF-8 (shown with U+FFFD)"
    ))
}

impl Sampler for ProcSampler {
    fn sample(&mut self, into: &mut Snapshot) -> anyhow::Result<Option<Stamp>> {
        let mono = self.start.elapsed().as_secs_f64();
        let wall = wall_now();
        read_snapshot(&self.path, &mut self.buf, into)?;
        Ok(Some(Stamp { mono, wall }))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    /// /proc/stat under the root; absent (a captured tree without it): `None`.
    fn stat(&mut self) -> anyhow::Result<Option<CpuStat>> {
        match std::fs::symlink_metadata(&self.stat_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => read_stat(&self.stat_path, &mut self.buf).map(Some),
        }
    }
}

/// Reads the /proc/stat beside each snapshot. Handler time is optional: an unreadable or
/// garbled /proc/stat is a warning (once, naming the file and line), never the end of the
/// run; the samples then have no handler time.
#[derive(Debug, Default)]
pub(crate) struct StatReader {
    warned: bool,
}

impl StatReader {
    pub(crate) fn read(&mut self, s: &mut dyn Sampler) -> Option<CpuStat> {
        match s.stat() {
            Ok(v) => v,
            Err(e) => {
                if !self.warned {
                    eprintln!(
                        "opskit itop: warning: {}: no time in handlers",
                        crate::exit::one_line(&e)
                    );
                    self.warned = true;
                }
                None
            }
        }
    }
}

/// Captured snapshots (`--from a --from b ...`), `delay` seconds apart; no sleeping.
pub(crate) struct FileSampler {
    files: Vec<PathBuf>,
    /// /proc/stat captures, one per snapshot (`--stat`), or none.
    stats: Vec<PathBuf>,
    next: usize,
    delay: f64,
    buf: Vec<u8>,
}

impl FileSampler {
    pub(crate) fn new(files: Vec<PathBuf>, stats: Vec<PathBuf>, delay: f64) -> Self {
        FileSampler {
            files,
            stats,
            next: 0,
            delay,
            buf: Vec::new(),
        }
    }
}

impl Sampler for FileSampler {
    fn sample(&mut self, into: &mut Snapshot) -> anyhow::Result<Option<Stamp>> {
        let Some(path) = self.files.get(self.next) else {
            return Ok(None);
        };
        let i = self.next;
        self.next += 1;
        read_snapshot(path, &mut self.buf, into)?;
        let wall = std::fs::metadata(path)
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map(|d| (i64::try_from(d.as_secs()).unwrap_or(0), d.subsec_nanos()))
            .unwrap_or_else(wall_now);
        Ok(Some(Stamp {
            mono: i as f64 * self.delay,
            wall,
        }))
    }

    fn describe(&self) -> String {
        self.files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn rewind(&mut self) {
        self.next = 0;
    }

    fn describe_last(&self) -> String {
        match self.files.get(self.next.wrapping_sub(1)) {
            Some(p) => p.display().to_string(),
            None => self.describe(),
        }
    }

    fn stat(&mut self) -> anyhow::Result<Option<CpuStat>> {
        match self.stats.get(self.next.wrapping_sub(1)) {
            Some(p) => read_stat(p, &mut self.buf).map(Some),
            None => Ok(None),
        }
    }
}

/// The NUMA nodes and their CPUs under the root (`/sys/devices/system/node/nodeN/cpulist`);
/// empty when absent (a capture without /sys, a kernel without NUMA).
pub(crate) fn cpu_nodes(root: &Root) -> CpuNodes {
    let mut out = CpuNodes::default();
    let Ok(dir) = std::fs::read_dir(root.path("/sys/devices/system/node")) else {
        return out;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix("node"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let list = root
            .read_value(format!("/sys/devices/system/node/node{n}/cpulist"))
            .ok()
            .flatten()
            .and_then(|v| crate::common::units::parse_cpu_list(&v).ok());
        if let Some(cpus) = list.filter(|c| !c.is_empty()) {
            out.nodes.push((n, cpus));
        }
    }
    out.nodes.sort();
    out
}

/// The names in a directory (empty when it cannot be read), sorted.
fn dir_names(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The devices under the root that own interrupts, and which IRQ (label) belongs to which:
/// PCI functions (`/sys/bus/pci/devices/*`: `msi_irqs/N`, `irq`, `numa_node`, `net/*`,
/// `nvme/*`), then netdevs not found there (`/sys/class/net/*`, virtio and the like).
pub(crate) fn read_devices(root: &Root) -> (Vec<Device>, HashMap<String, usize>) {
    let mut devices = Vec::new();
    let mut by_irq = HashMap::new();
    let pci = root.path("/sys/bus/pci/devices");
    for addr in dir_names(&pci) {
        let dir = pci.join(&addr);
        let mut irqs = dir_names(&dir.join("msi_irqs"));
        if let Ok(Some(v)) = root.read_value(format!("/sys/bus/pci/devices/{addr}/irq")) {
            if v != "0" && irqs.is_empty() {
                irqs.push(v);
            }
        }
        if irqs.is_empty() {
            continue;
        }
        let net = dir_names(&dir.join("net"));
        let nvme = dir_names(&dir.join("nvme"));
        let (name, kind) = if let Some(n) = net.first() {
            (n.clone(), DeviceKind::Net)
        } else if let Some(n) = nvme.first() {
            (n.clone(), DeviceKind::Nvme)
        } else {
            (addr.clone(), DeviceKind::Other)
        };
        let node = root
            .read_value(format!("/sys/bus/pci/devices/{addr}/numa_node"))
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u32>().ok());
        let k = devices.len();
        devices.push(Device {
            name,
            pci: Some(addr),
            kind,
            node,
            rx_queues: 0,
            rps_cpus: Vec::new(),
        });
        for irq in irqs {
            by_irq.insert(irq, k);
        }
    }
    for dev in dir_names(&root.path("/sys/class/net")) {
        if dev == "lo" {
            continue;
        }
        if !devices.iter().any(|d| d.name == dev) {
            devices.push(Device {
                name: dev.clone(),
                pci: None,
                kind: DeviceKind::Net,
                node: None,
                rx_queues: 0,
                rps_cpus: Vec::new(),
            });
        }
    }
    for d in devices.iter_mut().filter(|d| d.kind == DeviceKind::Net) {
        let q = root.path(format!("/sys/class/net/{}/queues", d.name));
        d.rx_queues = dir_names(&q)
            .iter()
            .filter(|n| n.starts_with("rx-"))
            .count();
        d.rps_cpus = root
            .read_value(format!("/sys/class/net/{}/queues/rx-0/rps_cpus", d.name))
            .ok()
            .flatten()
            .and_then(|v| parse_cpu_mask(&v))
            .unwrap_or_default();
    }
    (devices, by_irq)
}

/// IRQ affinities from `/proc/irq/N/{effective_affinity_list,smp_affinity_list,node}`, whether
/// the kernel manages them, and their devices from sysfs; cached and refreshed every
/// `refresh` samples (they change rarely; reading a thousand files per second would cost
/// more than the whole sample).
pub(crate) struct AffinityReader {
    root: Root,
    cache: HashMap<String, IrqInfo>,
    devices: Option<(Vec<Device>, HashMap<String, usize>)>,
    age: u32,
    refresh: u32,
}

impl AffinityReader {
    pub(crate) fn new(root: Root, refresh: u32) -> Self {
        AffinityReader {
            root,
            cache: HashMap::new(),
            devices: None,
            age: 0,
            refresh: refresh.max(1),
        }
    }

    /// Called once per sample: ages the cache.
    fn tick(&mut self) {
        self.age += 1;
        if self.age >= self.refresh {
            self.age = 0;
            self.cache.clear();
            self.devices = None;
        }
    }

    /// Once per sample: the facts of every row of `rates` into `out` (cache aged by one).
    pub(crate) fn fill(&mut self, snap: &Snapshot, rates: &Rates, out: &mut Facts) {
        self.tick();
        if self.devices.is_none() {
            self.devices = Some(read_devices(&self.root));
        }
        out.clear();
        for ir in &rates.irqs {
            let r = snap.row(ir.row);
            if !self.cache.contains_key(r.label) {
                let v = if r.is_numbered() {
                    self.read(r.label, r.desc)
                } else {
                    IrqInfo::default()
                };
                self.cache.insert(r.label.to_string(), v);
            }
            out.info
                .push(self.cache.get(r.label).cloned().unwrap_or_default());
        }
        if let Some((d, _)) = &self.devices {
            out.devices.clone_from(d);
        }
    }

    fn list(&self, label: &str, file: &str) -> Option<Vec<u32>> {
        let v = self
            .root
            .read_value(format!("/proc/irq/{label}/{file}"))
            .ok()??;
        crate::common::units::parse_cpu_list(&v)
            .ok()
            .filter(|c| !c.is_empty())
    }

    fn read(&self, label: &str, desc: &str) -> IrqInfo {
        let allowed = self.list(label, "smp_affinity_list");
        let shown = self
            .list(label, "effective_affinity_list")
            .or_else(|| allowed.clone())
            .map(|c| crate::common::units::format_cpu_list(&c));
        let node = self
            .root
            .read_value(format!("/proc/irq/{label}/node"))
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u32>().ok());
        let action = crate::itop::judge::numa::device_name(desc);
        // debugfs says it when mounted and readable; else the driver's naming
        let managed = match self
            .root
            .read_optional(format!("/sys/kernel/debug/irq/irqs/{label}"))
        {
            Ok(Some(t)) => t.contains("IRQD_AFFINITY_MANAGED"),
            _ => managed_by_name(action),
        };
        let device = self.devices.as_ref().and_then(|(devs, by_irq)| {
            by_irq.get(label).copied().or_else(|| {
                let name = crate::itop::judge::numa::device_of(action);
                let pci = name.strip_prefix("pci:");
                devs.iter().position(|d| {
                    d.name == name
                        || (pci.is_some() && d.pci.as_deref() == pci)
                        || action.starts_with(&format!("{}-", d.name))
                })
            })
        });
        IrqInfo {
            shown,
            allowed: allowed.map(Arc::from),
            node,
            managed,
            device,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `step` bytes at a time (as /proc does, a page at a time).
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn big_file() -> String {
        // lines longer than a chunk, a blank line, no final newline
        let ncpu = 40_000;
        let mut s: String = (0..ncpu).map(|i| format!(" CPU{i}")).collect();
        s.push('\n');
        for irq in 0..12 {
            s.push_str(&format!("{irq}:"));
            for c in 0..ncpu {
                s.push_str(&format!(" {:>10}", (irq * 7 + c) % 1000));
            }
            s.push_str(" IO-APIC eth0\n\n");
        }
        s.push_str("ERR: 3");
        s
    }

    #[test]
    fn streamed_parse_is_the_whole_file_parse() {
        let text = big_file();
        let want = Snapshot::parse(&text).unwrap();
        for step in [1 << 20, 4096, 7] {
            let mut buf = Vec::new();
            let mut got = Snapshot::default();
            let r = Trickle {
                data: text.as_bytes(),
                step,
            };
            parse_stream(r, &mut buf, &mut got, MAX_FILE, "f").unwrap();
            assert_eq!(got, want, "step {step}");
            assert!(
                buf.len() < 2 * CHUNK + 500_000,
                "the file is never held whole"
            );
        }
    }

    #[test]
    fn streamed_errors_name_the_file_and_line() {
        let text = b"  CPU0 CPU1\n 1: 1 2 a\n\n 1: 3 4 b\n";
        let mut snap = Snapshot::default();
        let r = Trickle {
            data: text,
            step: 5,
        };
        let e = parse_stream(r, &mut Vec::new(), &mut snap, MAX_FILE, "/x/interrupts").unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "parsing /x/interrupts: line 4: interrupt '1' appears twice"
        );
        assert!(snap.is_empty());
        let e = parse_stream(&b""[..], &mut Vec::new(), &mut snap, MAX_FILE, "f").unwrap_err();
        assert_eq!(format!("{e:#}"), "parsing f: empty file: no CPU header");
        let e = parse_stream(&text[..], &mut Vec::new(), &mut snap, 10, "f").unwrap_err();
        assert!(format!("{e:#}").contains("reading f: larger than"), "{e:#}");
        // a file with no newline: refused after MAX_LINE, not buffered to MAX_FILE
        let mut buf = Vec::new();
        let zeros = std::io::repeat(0).take(MAX_FILE);
        let e = parse_stream(zeros, &mut buf, &mut snap, MAX_FILE, "z").unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "parsing z: a line longer than the 1 MiB limit"
        );
        assert!(buf.len() < MAX_LINE + 2 * CHUNK, "{}", buf.len());
    }
}
