//! `opskit itop`: parser over real captures, rates, lsirq agreement, batch/JSON, TUI in tmux.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use opskit::api::itop::{RowKind, Snapshot};

use crate::util::{bunzip, opskit, require_root, require_tool, run, shared_fixtures};

/// The fake /proc + /sys tree generator the hermetic tests use.
#[path = "../hermetic/itop_tree.rs"]
#[allow(dead_code)]
mod itop_tree;

/// Every interrupts/softirqs capture in ../shared (bz2 ones decompressed into `tmp`).
fn shared_captures(tmp: &Path) -> Option<Vec<PathBuf>> {
    let dir = shared_fixtures("interrupts")?;
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if !(n.contains("interrupts") || n.contains("softirqs")) {
            continue; // SOURCES.md, /proc/stat samples
        }
        if n.ends_with(".bz2") {
            out.push(bunzip(&p, tmp)?);
        } else {
            out.push(p);
        }
    }
    Some(out)
}

fn parse_file(p: &Path) -> Snapshot {
    let text = std::fs::read_to_string(p).unwrap();
    Snapshot::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn parses_every_shared_capture() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(files) = shared_captures(tmp.path()) else {
        return;
    };
    assert!(files.len() >= 35, "{files:?}");
    for p in &files {
        let s = parse_file(p);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!s.cpus.is_empty(), "{name}");
        assert!(!s.is_empty(), "{name}: no rows");
        for r in s.rows() {
            assert!(
                !r.label.is_empty() && !r.label.contains(char::is_whitespace),
                "{name}: {r:?}"
            );
            if r.kind == RowKind::PerCpu {
                assert_eq!(r.counts.len(), s.cpus.len(), "{name}: {}", r.label);
            }
        }
        let labels: std::collections::HashSet<&str> = s.rows().map(|r| r.label).collect();
        assert_eq!(labels.len(), s.len(), "{name}: a label twice");
        let mut sorted = s.cpus.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), s.cpus.len(), "{name}: duplicate CPU ids");
    }
}

#[test]
fn shared_capture_quirks() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(dir) = shared_fixtures("interrupts") else {
        return;
    };
    // offline CPU gap: CPU ids from the header, never from the position
    let s = parse_file(&dir.join("sysstat_root3_interrupts.txt"));
    assert_eq!(s.cpus, [0, 1, 2, 3, 4, 5, 7]);
    // arm64: IPI0:2768808080 with no space, Err with one count, trailing blank line
    let s = parse_file(&dir.join("node_exporter_aarch64_8cpu_gicv3_interrupts.txt"));
    let ipi0 = s.rows().find(|r| r.label == "IPI0").unwrap();
    assert_eq!(ipi0.counts.get(0).unwrap(), 2_768_808_080);
    assert_eq!(ipi0.desc, "Rescheduling interrupts");
    let err = s.rows().find(|r| r.label == "Err").unwrap();
    assert_eq!((err.kind, err.counts.to_vec()), (RowKind::Single, vec![0]));
    // s390x: named rows before and after the numbered ones, ':' inside descriptions
    let s = parse_file(&dir.join("pcp_s390x_16cpu_interrupts.txt"));
    let labels: Vec<&str> = s.rows().map(|r| r.label).collect();
    assert_eq!(labels[0], "EXT");
    assert!(labels.contains(&"I/O"));
    assert!(
        s.rows()
            .any(|r| r.desc == "[EXT] CPU-Measurement: Sampling"),
        "{labels:?}"
    );
    let first_num = labels
        .iter()
        .position(|l| l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap();
    assert!(labels[first_num..]
        .iter()
        .any(|l| !l.bytes().all(|b| b.is_ascii_digit())));
    // Raspberry Pi: FIQ with no count at all
    let s = parse_file(&dir.join("telegraf_rpi3_bcm2836_4cpu_FIQ_interrupts_testliteral.txt"));
    let fiq = s.rows().find(|r| r.label == "FIQ").unwrap();
    assert_eq!((fiq.kind, fiq.desc), (RowKind::NoCount, "usb_fiq"));
    // kernel 6.13+ layout with PCI-MSIX-0000:00:01.0 chip names
    let s = parse_file(&dir.join("local_research_vm_2cpu_interrupts.txt"));
    assert!(s
        .rows()
        .any(|r| r.desc == "PCI-MSIX-0000:00:01.0 0-edge virtio0-config"));
    // softirqs list possible CPUs: 9 columns where interrupts has 8
    assert_eq!(
        parse_file(&dir.join("sysstat_root2_softirqs.txt"))
            .cpus
            .len(),
        9
    );
    assert_eq!(
        parse_file(&dir.join("sysstat_root2_interrupts.txt"))
            .cpus
            .len(),
        8
    );
    // 1152 CPUs x 1056 rows
    let Some(big) = bunzip(
        &dir.join("pcp_x86_64_1152cpu_interrupts.txt.bz2"),
        tmp.path(),
    ) else {
        return;
    };
    let s = parse_file(&big);
    assert_eq!(s.cpus.len(), 1152);
    assert_eq!(s.len(), 1056);
    assert!(s.rows().any(|r| r.desc.ends_with("i40e-0000:c3:00.0:misc")));
}

/// `lsirq -J` run on FILE, bind-mounted over /proc/interrupts (or /proc/softirqs) in a private
/// mount namespace: label -> total.
fn lsirq_totals(file: &Path, softirq: bool) -> BTreeMap<String, u64> {
    let target = if softirq {
        "/proc/softirqs"
    } else {
        "/proc/interrupts"
    };
    let flag = if softirq { " -S" } else { "" };
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!("mount --bind \"$1\" {target} && lsirq -J{flag}"))
        .arg("sh")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lsirq on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = if softirq { "softirqs" } else { "interrupts" };
    let list = v[key]
        .as_array()
        .or_else(|| v["interrupts"].as_array())
        .unwrap();
    list.iter()
        .map(|i| {
            (
                i["irq"].as_str().unwrap().to_string(),
                i["total"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn totals_agree_with_lsirq() {
    let tmp = tempfile::tempdir().unwrap();
    if !require_root("bind-mounting captures over /proc/interrupts for lsirq")
        || !require_tool("lsirq")
    {
        return;
    }
    let Some(files) = shared_captures(tmp.path()) else {
        return;
    };
    let mut compared = 0;
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("1152cpu_softirqs") || name.contains("testliteral") {
            // the telegraf literal has Go-source tabs lsirq also reads, but keep the oracle on
            // real kernel output only
            continue;
        }
        let softirq = name.contains("softirqs");
        let ours: BTreeMap<String, u64> = parse_file(&p)
            .rows()
            .filter(|r| r.kind != RowKind::NoCount)
            .map(|r| (r.label.to_string(), r.total()))
            .collect();
        let theirs = lsirq_totals(&p, softirq);
        // lsirq drops rows it cannot use; every row it reports must agree with ours
        assert!(!theirs.is_empty(), "{name}: lsirq printed nothing");
        for (label, total) in &theirs {
            assert_eq!(ours.get(label), Some(total), "{name}: IRQ {label}");
        }
        assert!(
            theirs.len() * 10 >= ours.len() * 9,
            "{name}: lsirq {} rows vs ours {}",
            theirs.len(),
            ours.len()
        );
        compared += 1;
    }
    assert!(compared >= 30, "compared {compared} files");
}

fn json_samples(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn irq<'a>(sample: &'a serde_json::Value, label: &str) -> &'a serde_json::Value {
    sample["irqs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["irq"] == label)
        .unwrap_or_else(|| panic!("no {label}"))
}

#[test]
fn rates_between_real_snapshots() {
    let Some(dir) = shared_fixtures("interrupts") else {
        return;
    };
    let a = dir.join("netutils_multinic_4cpu_interrupts_t1.txt");
    let b = dir.join("netutils_multinic_4cpu_interrupts_t2.txt");
    let (code, out, err) = run(opskit()
        .args(["itop", "--format", "json", "-d", "2", "--from"])
        .arg(&a)
        .arg("--from")
        .arg(&b));
    assert_eq!(code, 0, "{err}");
    let s = &json_samples(&out)[0];
    assert_eq!(s["elapsed_s"], 2.0);
    assert_eq!(s["absent_cpus"], serde_json::json!([]));
    let sa = parse_file(&a);
    let sb = parse_file(&b);
    // every rate is (b - a) / 2 per CPU, summed for the total
    for rb in sb.rows().filter(|r| r.kind == RowKind::PerCpu) {
        let ra = sa.rows().find(|r| r.label == rb.label).unwrap();
        let j = irq(s, rb.label);
        let mut sum = 0.0;
        for (k, cpu) in sb.cpus.iter().enumerate() {
            let want = (rb.counts.get(k).unwrap() - ra.counts.get(k).unwrap()) as f64 / 2.0;
            sum += want;
            // zero cells are left out of `rates` (a shown CPU without a key took 0/s)
            let got = j["rates"]
                .get(cpu.to_string())
                .map_or(0.0, |v| v.as_f64().unwrap());
            assert!(
                (got - want).abs() < 0.01,
                "{} cpu{cpu}: {got} vs {want}",
                rb.label
            );
        }
        assert!(
            (j["total_rate"].as_f64().unwrap() - sum).abs() < 0.02,
            "{}",
            rb.label
        );
    }
}

const INC: u64 = 200_000_000;

#[test]
fn u32_wrap_new_irq_and_cpu_offline() {
    let Some(dir) = shared_fixtures("interrupts") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // near-wrap capture, advanced by 2e8 per cell modulo 2^32 (the largest cells wrap)
    let a_path = dir.join("datadog_kvm_4cpu_near_u32_wrap_interrupts.txt");
    let a = std::fs::read_to_string(&a_path).unwrap();
    let snap = Snapshot::parse(&a).unwrap();
    let mut b = String::new();
    b.push_str(a.lines().next().unwrap());
    b.push('\n');
    for r in snap.rows() {
        b.push_str(&format!("{}:", r.label));
        for c in r.counts.iter() {
            b.push_str(&format!(" {}", (c + INC) % (1 << 32)));
        }
        b.push_str(&format!(" {}\n", r.desc));
    }
    // drop the first row from the older snapshot: it "appears" in the newer one
    let first = snap.row(0).label.to_string();
    let a_minus: String = a
        .lines()
        .filter(|l| !l.trim_start().starts_with(&format!("{first}:")))
        .map(|l| format!("{l}\n"))
        .collect();
    let pa = tmp.path().join("a");
    let pb = tmp.path().join("b");
    std::fs::write(&pa, a_minus).unwrap();
    std::fs::write(&pb, &b).unwrap();
    // 100 s apart: 2e6/s per cell, a rate hardware can do (2e8 in one second would be a reset)
    let (code, out, err) = run(opskit()
        .args([
            "itop", "--format", "json", "--sort", "irq", "-d", "100", "--from",
        ])
        .arg(&pa)
        .arg("--from")
        .arg(&pb));
    assert_eq!(code, 0, "{err}");
    let s = &json_samples(&out)[0];
    let wrapped = snap
        .rows()
        .find(|r| r.counts.iter().any(|c| c + INC >= 1 << 32))
        .expect("a cell that wraps");
    let w = irq(s, wrapped.label);
    let ncpu = snap.cpus.len() as f64;
    let want = if wrapped.kind == RowKind::PerCpu {
        INC as f64 * ncpu / 100.0
    } else {
        INC as f64 / 100.0
    };
    assert_eq!(
        w["total_rate"].as_f64().unwrap(),
        want,
        "wrap of {}",
        wrapped.label
    );
    let new = irq(s, &first);
    assert!(
        new["total_rate"].is_null(),
        "an IRQ seen for the first time has no rate: {new}"
    );
    assert_eq!(new["rates"], serde_json::json!({}));

    // a CPU goes offline (root1: CPU0-8 -> root3: CPU6 missing) and comes back
    let r1 = dir.join("sysstat_root1_interrupts.txt");
    let r3 = dir.join("sysstat_root3_interrupts.txt");
    let (code, out, err) = run(opskit()
        .args(["itop", "--format", "json", "--from"])
        .arg(&r1)
        .arg("--from")
        .arg(&r3)
        .arg("--from")
        .arg(&r1));
    assert_eq!(code, 0, "{err}");
    let samples = json_samples(&out);
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0]["cpus"], serde_json::json!([0, 1, 2, 3, 4, 5, 7]));
    for i in samples[0]["irqs"].as_array().unwrap() {
        assert!(i["rates"].get("6").is_none(), "{i}");
        assert!(
            i["rates"].get("8").is_none(),
            "CPU8 is absent from root3: {i}"
        );
    }
    // back online: CPU6 and CPU8 are absent from the older snapshot, so they have no key
    let back = &samples[1];
    assert_eq!(back["cpus"].as_array().unwrap().len(), 9);
    for i in back["irqs"].as_array().unwrap() {
        assert!(
            i["rates"].get("6").is_none() && i["rates"].get("8").is_none(),
            "{i}"
        );
        if !i["rates"].as_object().unwrap().is_empty() {
            assert!(
                i["rates"].get("7").is_some(),
                "CPU7 stays keyed by its id: {i}"
            );
        }
    }
    assert!(back["cpu_totals"].get("6").is_none());
}

#[test]
fn batch_text_views_and_options() {
    let Some(dir) = shared_fixtures("interrupts") else {
        return;
    };
    let a = dir.join("netutils_2xE5-2640_32cpu_ixgbe_interrupts.txt");
    // 32 CPUs: totals by default
    let (code, out, err) = run(opskit()
        .args(["itop", "--top", "5", "--from"])
        .arg(&a)
        .arg("--from")
        .arg(&a));
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("32 CPUs"), "{out}");
    assert!(lines[1].starts_with("busiest CPUs"), "{out}");
    assert!(
        lines[2].starts_with("IRQ") && lines[2].contains("TOTAL") && !lines[2].contains("CPU0"),
        "{out}"
    );
    assert_eq!(lines.len(), 1 + 1 + 1 + 5 + 1, "{out}");
    // -a forces the columns; --cpus restricts them
    let (_, out, _) = run(opskit()
        .args(["itop", "-a", "--cpus", "0-2,31", "--from"])
        .arg(&a)
        .arg("--from")
        .arg(&a));
    let head = out.lines().nth(1).unwrap();
    assert!(
        head.contains("CPU0")
            && head.contains("CPU2")
            && head.contains("CPU31")
            && !head.contains("CPU3 "),
        "{head}"
    );
    // filter + hide-idle (identical snapshots: everything is idle)
    let (_, out, _) = run(opskit()
        .args(["itop", "--hide-idle", "--from"])
        .arg(&a)
        .arg("--from")
        .arg(&a));
    assert_eq!(out.lines().count(), 4, "{out}");
    let (_, out, _) = run(opskit()
        .args([
            "itop",
            "--filter",
            "ETH1-TXRX",
            "--format",
            "json",
            "--from",
        ])
        .arg(&a)
        .arg("--from")
        .arg(&a));
    let s = &json_samples(&out)[0];
    assert!(!s["irqs"].as_array().unwrap().is_empty());
    for i in s["irqs"].as_array().unwrap() {
        assert!(
            i["description"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("eth1-txrx"),
            "{i}"
        );
    }
}

#[test]
fn root_dir_live_sampling_with_affinity_and_softirqs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("proc/irq/30")).unwrap();
    std::fs::write(
        root.join("proc/interrupts"),
        "  CPU0 CPU1 CPU2 CPU3\n 30: 1 2 3 4 PCI-MSI eth0\nLOC: 5 6 7 8 Local timer interrupts\n",
    )
    .unwrap();
    std::fs::write(
        root.join("proc/softirqs"),
        "  CPU0 CPU1\nHI: 1 2\nNET_RX: 3 4\n",
    )
    .unwrap();
    std::fs::write(root.join("proc/irq/30/smp_affinity_list"), "0-3\n").unwrap();
    std::fs::write(root.join("proc/irq/30/effective_affinity_list"), "2\n").unwrap();
    let t0 = Instant::now();
    let (code, out, err) = run(opskit()
        .args(["--root"])
        .arg(root)
        .args(["itop", "-b", "-n", "2", "-d", "0.2", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "samples are --delay apart"
    );
    let samples = json_samples(&out);
    assert_eq!(samples.len(), 2);
    let el = samples[0]["elapsed_s"].as_f64().unwrap();
    assert!((0.15..1.0).contains(&el), "measured interval {el}");
    assert_eq!(
        irq(&samples[0], "30")["affinity"],
        "2",
        "effective affinity first"
    );
    assert!(irq(&samples[0], "LOC")["affinity"].is_null());
    let (code, out, err) = run(opskit().args(["--root"]).arg(root).args([
        "itop",
        "--softirq",
        "-b",
        "-n",
        "1",
        "-d",
        "0.05",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("softirqs") && out.contains("NET_RX"), "{out}");
}

#[test]
fn errors_are_one_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad");
    std::fs::write(&bad, "  CPU0 CPU1 CPU2\n 0: 1 2 3 timer\n 1: 4 5\n").unwrap();
    let (code, out, err) = run(opskit()
        .args(["itop", "--from"])
        .arg(&bad)
        .arg("--from")
        .arg(&bad));
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("line 3"),
        "{err}"
    );

    let (code, out, err) =
        run(opskit().args(["--root", "/nonexistent-root", "itop", "-b", "-n", "1"]));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("/nonexistent-root/proc/interrupts"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let (code, _, err) = run(opskit().args(["itop", "--from", "/etc/hostname"]));
    assert_eq!(code, 2);
    assert!(err.contains("at least two"), "{err}");
    for bad_arg in [
        ["--cpus", "3-1"],
        ["-d", "0"],
        ["--sort", "bogus"],
        ["-d", "abc"],
        ["-d", "2d"],
        ["-n", "0"],
        ["--top", "0"],
    ] {
        let (code, _, err) = run(opskit().arg("itop").args(bad_arg));
        assert_eq!(code, 2, "{bad_arg:?}: {err}");
    }
}

/// A tmux session running a command; killed on drop.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(cmd: &str) -> Tmux {
        Tmux::start_sized(cmd, 120, 30)
    }

    fn start_sized(cmd: &str, w: u16, h: u16) -> Tmux {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("opskit-itop-{}-{n}-{w}x{h}", std::process::id());
        let (w, h) = (w.to_string(), h.to_string());
        let st = Command::new("tmux")
            .args([
                "-L",
                &name,
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                &w,
                "-y",
                &h,
                "sh",
                "-c",
                cmd,
            ])
            .env_remove("TMUX")
            .status()
            .unwrap();
        assert!(st.success());
        Tmux { name }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.name, "capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, what: &str) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(what) || t0.elapsed() > Duration::from_secs(15) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, k: &str) {
        Command::new("tmux")
            .args(["-L", &self.name, "send-keys", "-t", &self.name, k])
            .status()
            .unwrap();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.name, "kill-server"])
            .status();
    }
}

fn tui_cmd(extra: &str) -> String {
    // after itop exits: its status, and whether the tty is back in canonical mode with echo
    format!(
        "{} itop {extra}; echo ITOP-EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; echo; echo PROMPT-BACK; sleep 60",
        crate::util::bin().display()
    )
}

#[test]
fn tui_in_tmux_quits_on_q_and_restores_the_terminal() {
    if !require_tool("tmux") {
        return;
    }
    let t = Tmux::start(&tui_cmd("-t -d 0.3"));
    let s = t.wait_for("TOTAL");
    assert!(
        s.contains("opskit itop") && s.contains("TOTAL") && s.contains("q quit"),
        "{s}"
    );
    assert!(
        s.contains("Local timer interrupts") || s.contains("LOC"),
        "{s}"
    );
    t.keys("?");
    let s = t.wait_for("itop keys");
    assert!(s.contains("itop keys"), "{s}");
    t.keys("q"); // closes help
    t.keys("q");
    let s = t.wait_for("PROMPT-BACK");
    assert!(s.contains("ITOP-EXIT=0"), "{s}");
    assert!(
        s.contains("icanon") && !s.contains("-icanon") && !s.contains("-echo"),
        "tty not restored: {s}"
    );
    assert!(!s.contains("q quit"), "alternate screen left behind: {s}");
}

#[test]
fn tui_in_tmux_restores_the_terminal_on_sigterm() {
    if !require_tool("tmux") {
        return;
    }
    let t = Tmux::start(&tui_cmd("-a -d 0.3 --filter tmuxsigterm"));
    let s = t.wait_for("opskit itop");
    assert!(s.contains("opskit itop"), "{s}");
    // the pane's shell is the parent of opskit
    let out = Command::new("tmux")
        .args([
            "-L",
            &t.name,
            "list-panes",
            "-t",
            &t.name,
            "-F",
            "#{pane_pid}",
        ])
        .output()
        .unwrap();
    let sh = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = Command::new("pgrep")
        .args(["-P", &sh, "-x", "opskit"])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !pid.is_empty(),
        "opskit not found under the pane's shell {sh}"
    );
    let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success());
    let s = t.wait_for("PROMPT-BACK");
    assert!(s.contains("ITOP-EXIT=143"), "{s}");
    assert!(
        s.contains("icanon") && !s.contains("-icanon") && !s.contains("-echo"),
        "tty not restored: {s}"
    );
}

#[test]
fn tui_exits_when_the_terminal_goes_away() {
    if !require_tool("tmux") {
        return;
    }
    let marker = format!("hangup{}", std::process::id());
    let t = Tmux::start(&format!(
        "{} itop -t -d 0.3 --filter {marker}; sleep 60",
        crate::util::bin().display()
    ));
    let s = t.wait_for("opskit itop");
    assert!(s.contains("opskit itop"), "{s}");
    drop(t); // kills the tmux server: the pty hangs up
    let t0 = Instant::now();
    loop {
        let out = Command::new("pgrep")
            .args(["-f", &format!("--filter {marker}")])
            .output()
            .unwrap();
        if out.stdout.is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "itop still running 1 s after its terminal went away"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pid of the opskit running under the tmux pane's shell.
fn pane_opskit(t: &Tmux) -> String {
    let out = Command::new("tmux")
        .args([
            "-L",
            &t.name,
            "list-panes",
            "-t",
            &t.name,
            "-F",
            "#{pane_pid}",
        ])
        .output()
        .unwrap();
    let sh = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = Command::new("pgrep")
        .args(["-P", &sh, "-x", "opskit"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// CPU seconds (user + system) a process used so far.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// A fake /proc with 32 CPUs (a real 2xE5-2640 capture) for TUI tests.
fn root_32cpu(tmp: &Path) -> Option<PathBuf> {
    let dir = shared_fixtures("interrupts")?;
    std::fs::create_dir_all(tmp.join("proc")).unwrap();
    std::fs::copy(
        dir.join("netutils_2xE5-2640_32cpu_ixgbe_interrupts.txt"),
        tmp.join("proc/interrupts"),
    )
    .unwrap();
    Some(tmp.to_path_buf())
}

#[test]
fn tui_started_with_stdin_from_dev_null_reads_keys_from_the_terminal() {
    if !require_tool("tmux") {
        return;
    }
    let t = Tmux::start(&tui_cmd("-t -d 0.3 </dev/null"));
    let s = t.wait_for("TOTAL");
    assert!(
        s.contains("TOTAL") && s.contains("q quit"),
        "the TUI, not batch: {s}"
    );
    let pid = pane_opskit(&t);
    assert!(!pid.is_empty());
    let c0 = cpu_secs(&pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_secs(&pid) - c0;
    assert!(used < 0.3, "{used} s of CPU in 2 s: busy loop on stdin?");
    t.keys("q");
    let s = t.wait_for("PROMPT-BACK");
    assert!(s.contains("ITOP-EXIT=0"), "{s}");
    assert!(s.contains("icanon") && !s.contains("-icanon"), "{s}");
}

#[test]
fn tui_handles_keys_that_arrive_together() {
    if !require_tool("tmux") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(root) = root_32cpu(tmp.path()) else {
        return;
    };
    let cmd = format!(
        "{} --root {} itop -a -d 0.5; sleep 60",
        crate::util::bin().display(),
        root.display()
    );
    let t = Tmux::start(&cmd);
    let s = t.wait_for("CPU cols 1-");
    assert!(s.contains("CPU cols 1-"), "{s}");
    t.keys("p"); // paused: no sample redraws the screen from here on
    let s = t.wait_for("PAUSED");
    assert!(s.contains("PAUSED"), "{s}");
    // one write of three arrows: three columns, with no later key or sample
    Command::new("tmux")
        .args([
            "-L",
            &t.name,
            "send-keys",
            "-t",
            &t.name,
            "Right",
            "Right",
            "Right",
        ])
        .status()
        .unwrap();
    let s = t.wait_for("CPU cols 4-");
    assert!(s.contains("CPU cols 4-"), "{s}");
    // a filter typed in one go appears whole
    t.keys("/");
    std::thread::sleep(Duration::from_millis(300));
    Command::new("tmux")
        .args(["-L", &t.name, "send-keys", "-l", "-t", &t.name, "eth2-TxRx"])
        .status()
        .unwrap();
    let s = t.wait_for("cancel): eth2-TxRx_");
    assert!(s.contains("cancel): eth2-TxRx_"), "{s}");
}

#[test]
fn tui_falls_back_to_plain_samples_without_a_usable_terminal() {
    if !require_tool("tmux") {
        return;
    }
    let t = Tmux::start(&format!(
        "TERM=dumb {} itop -d 3 --top 5; sleep 60",
        crate::util::bin().display()
    ));
    let s = t.wait_for("printing plain samples");
    assert!(
        s.contains("TERM is dumb") && s.contains("printing plain samples"),
        "{s}"
    );
    let s = t.wait_for("interval");
    assert!(s.contains("interval") && !s.contains("q quit"), "{s}");
}

/// The text output of `itop --from ...` (which must succeed).
fn itop_text(files: &[&Path], extra: &[&str]) -> String {
    let mut cmd = opskit();
    cmd.args(["itop"]).args(extra);
    for f in files {
        cmd.arg("--from").arg(f);
    }
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{err}");
    out
}

fn itop_json(files: &[&Path], extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut cmd = opskit();
    cmd.args(["itop", "--format", "json"]).args(extra);
    for f in files {
        cmd.arg("--from").arg(f);
    }
    let (code, out, err) = run(&mut cmd);
    let samples = if code == 0 {
        json_samples(&out)
    } else {
        Vec::new()
    };
    (code, samples, err)
}

#[test]
fn a_counter_reset_is_not_read_as_a_wrap() {
    let d = crate::util::fixtures().join("itop");
    let (a, b) = (d.join("reset_a.txt"), d.join("reset_b.txt"));
    let (code, s, err) = itop_json(&[&a, &b], &[]);
    assert_eq!(code, 0, "{err}");
    let s = &s[0];
    // hand-checked: IRQ 35 500 + 100, LOC 1000 + 1000; IRQ 34 restarted: no rate
    assert_eq!(s["total_rate"], 2600.0, "{s}");
    let eth = irq(s, "34");
    assert!(eth["total_rate"].is_null(), "{eth}");
    assert_eq!(eth["change"], "reset");
    assert_eq!(eth["rates"], serde_json::json!({}));
    assert_eq!(s["resets"], serde_json::json!(["34"]));
    assert_eq!(
        irq(s, "35")["rates"],
        serde_json::json!({"0": 500.0, "1": 100.0})
    );
    assert_eq!(
        s["cpu_totals"],
        serde_json::json!({"0": 1500.0, "1": 1100.0})
    );
    let (code, out, err) = run(opskit()
        .args(["itop", "--from"])
        .arg(&a)
        .arg("--from")
        .arg(&b));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("total 2600 /s"), "{out}");
    assert!(
        out.contains("note: counters restarted (driver reload?) for IRQ 34: no rate this interval"),
        "{out}"
    );
    let millions = out
        .split_whitespace()
        .any(|w| w.ends_with('M') && w.starts_with(|c: char| c.is_ascii_digit()));
    assert!(!millions, "no spike in millions: {out}");
}

#[test]
fn s390x_summary_rows_count_each_interrupt_once() {
    let d = crate::util::fixtures().join("itop");
    let (a, b) = (d.join("s390x_a.txt"), d.join("s390x_b.txt"));
    let (code, s, err) = itop_json(&[&a, &b], &[]);
    assert_eq!(code, 0, "{err}");
    let s = &s[0];
    assert_eq!(s["total_rate"], 1000.0, "1000 interrupts, not 2000: {s}");
    assert_eq!(s["cpu_totals"], serde_json::json!({"0": 450.0, "1": 550.0}));
    assert_eq!(irq(s, "CLK")["group"], "EXT");
    assert_eq!(irq(s, "CLK")["total_rate"], 600.0);
    assert_eq!(irq(s, "3")["group"], "AIO");
    assert!(irq(s, "EXT").get("group").is_none());
    // the summary rows head their members
    let order: Vec<&str> = s["irqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["irq"].as_str().unwrap())
        .collect();
    let ext = order.iter().position(|&l| l == "EXT").unwrap();
    assert_eq!(&order[ext..ext + 3], ["EXT", "CLK", "EXC"], "{order:?}");
    // in text, the members are drawn indented under their summary row; shown without it
    // (filtered out), they are not
    let text = itop_text(&[&a, &b], &["-a"]);
    let line = |l: &str| {
        text.lines()
            .find(|x| x.trim_start().starts_with(&format!("{l} ")))
            .unwrap_or_else(|| panic!("{l} in {text}"))
            .to_string()
    };
    assert!(line("CLK").ends_with("└ [EXT] Clock Comparator"), "{text}");
    assert!(!line("EXT").contains('└'), "{text}");
    let text = itop_text(&[&a, &b], &["--filter", "clock"]);
    assert!(text.contains(" [EXT] Clock Comparator"), "{text}");
    assert!(!text.contains('└'), "{text}");
    // the real 16-CPU capture against itself: total = EXT + I/O + AIO + NMI + RST rows only
    let Some(dir) = shared_fixtures("interrupts") else {
        return;
    };
    let real = dir.join("pcp_s390x_16cpu_interrupts.txt");
    let snap = parse_file(&real);
    let mut bumped = String::new();
    let text = std::fs::read_to_string(&real).unwrap();
    bumped.push_str(text.lines().next().unwrap());
    bumped.push('\n');
    for r in snap.rows() {
        let counts: String = r.counts.iter().map(|c| format!(" {}", c * 2)).collect();
        bumped.push_str(&format!("{}:{counts} {}\n", r.label, r.desc));
    }
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("b");
    std::fs::write(&b, bumped).unwrap();
    let (code, s, err) = itop_json(&[&real, &b], &[]);
    assert_eq!(code, 0, "{err}");
    let want: u64 = snap
        .rows()
        .filter(|r| ["EXT", "I/O", "AIO", "NMI", "RST"].contains(&r.label))
        .map(|r| r.total())
        .sum();
    assert_eq!(s[0]["total_rate"].as_f64().unwrap(), want as f64);
}

#[test]
fn malformed_snapshots_are_errors_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    std::fs::write(&good, "  CPU0 CPU1\n 1: 1 2 eth0\nLOC: 5 6 timer\n").unwrap();
    let cases: &[(&[u8], &str)] = &[
        (
            b"  CPU0 CPU1\n 1: 1 2 eth0\n 1: 3 4 eth1\n",
            "line 3: interrupt '1' appears twice",
        ),
        (
            b"  CPU0 CPU1\n 1: 1 2 eth0\n 2: 3\n",
            "line 3: 1 counts for 2 CPU columns",
        ),
        (
            b"  CPU0 CPU1\n 1: 1 2 3 eth0\n",
            "line 2: more counts than the 2 CPU columns",
        ),
        (
            b"  CPU0 CPU1\n\xff1: 1 2 eth0\n",
            "line 2: the label is not a short ASCII name",
        ),
        (b"  CPU1 CPU0\n", "line 1: CPU0 is not above"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let bad = tmp.path().join(format!("bad{i}"));
        std::fs::write(&bad, text).unwrap();
        let (code, out, err) = run(opskit()
            .args(["itop", "--from"])
            .arg(&good)
            .arg("--from")
            .arg(&bad));
        assert_eq!(code, 1, "{want}: {err}");
        assert!(out.is_empty(), "no partial output: {out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&bad.display().to_string()) && err.contains(want),
            "{want}: {err}"
        );
    }
    // a device name that is not UTF-8 (network interfaces may be named so): a warning with
    // the line, the row shown with U+FFFD
    let lossy = tmp.path().join("lossy");
    std::fs::write(&lossy, b"  CPU0 CPU1\n 1: 3 4 eth\xff0\nLOC: 5 6 timer\n").unwrap();
    let (code, out, err) = run(opskit()
        .args(["itop", "--from"])
        .arg(&good)
        .arg("--from")
        .arg(&lossy));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("lossy: line 2") && err.contains("not valid UTF-8"),
        "{err}"
    );
    assert!(out.contains("eth\u{fffd}0"), "{out}");
}

#[test]
fn cpus_that_do_not_exist_are_usage_errors() {
    let d = crate::util::fixtures().join("itop");
    let (a, b) = (d.join("reset_a.txt"), d.join("reset_b.txt"));
    for (args, want) in [
        (
            &["--cpus", "64"][..],
            "--cpus: no CPU 64 in the snapshot (its CPUs: 0-1)",
        ),
        (
            &["--sort", "cpu99"][..],
            "--sort cpu99: CPU 99 is not shown",
        ),
        (
            &["--cpus", "0", "--sort", "cpu1"][..],
            "--sort cpu1: CPU 1 is not shown",
        ),
    ] {
        let (code, s, err) = itop_json(&[&a, &b], args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(s.is_empty());
        assert!(err.contains(want), "{err}");
    }
    let (code, s, err) = itop_json(&[&a, &b], &["--cpus", "1", "--sort", "cpu1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s[0]["cpus"], serde_json::json!([1]));
}

#[test]
fn hostile_input_neither_hangs_nor_explodes_nor_reaches_the_terminal_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    std::fs::write(&good, "  CPU0\n 1: 1 PCI-MSI \x1b[2Jevil\x07\n").unwrap();
    let evil = tmp.path().join("evil");
    std::fs::write(&evil, "  CPU0\n 1: 9 PCI-MSI \x1b[2Jevil\x07\n").unwrap();
    let (code, out, err) = run(opskit()
        .args(["itop", "--from"])
        .arg(&good)
        .arg("--from")
        .arg(&evil));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("\\x1b[2Jevil\\x07"), "{out}");
    // JSON carries the name escaped as the table does (never a raw or \u001b ESC)
    let (_, s, _) = itop_json(&[&good, &evil], &[]);
    assert_eq!(irq(&s[0], "1")["description"], "PCI-MSI \\x1b[2Jevil\\x07");

    // a FIFO as --from: refused at once, not a hang
    let fifo = crate::util::mkfifo(tmp.path(), "fifo");
    let t0 = Instant::now();
    let (code, _, err) = run(opskit()
        .args(["itop", "--from"])
        .arg(&fifo)
        .arg("--from")
        .arg(&good));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a FIFO"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5));

    // 3 MB of rows with huge labels: an error at once, no padding to the widest label
    let mut big = String::from("  CPU0\n");
    for i in 0..3000 {
        big.push_str(&format!("{}{i}: 1 x\n", "L".repeat(1000)));
    }
    let huge = tmp.path().join("huge");
    std::fs::write(&huge, &big).unwrap();
    let t0 = Instant::now();
    let (code, out, err) = run(opskit()
        .args(["itop", "--from"])
        .arg(&huge)
        .arg("--from")
        .arg(&huge));
    assert_eq!(code, 1, "{err}");
    assert!(
        out.is_empty() && err.contains("line 2: the label is not a short ASCII name"),
        "{err}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    // long descriptions are the last column: never padded
    let mut wide = String::from("  CPU0\n");
    for i in 0..3000 {
        wide.push_str(&format!("{i}: 1 {}\n", "n".repeat(1000)));
    }
    std::fs::write(&huge, &wide).unwrap();
    let (code, out, err) = run(opskit()
        .args(["itop", "--from"])
        .arg(&huge)
        .arg("--from")
        .arg(&huge));
    assert_eq!(code, 0, "{err}");
    assert!(out.len() < 3_300_000, "{} bytes", out.len());
}

#[test]
fn imbalance_against_fair_share() {
    let d = crate::util::fixtures().join("itop");
    // a balanced 2-CPU box: never called out
    let (a, b) = (d.join("balanced_2cpu_a.txt"), d.join("balanced_2cpu_b.txt"));
    let (code, s, err) = itop_json(&[&a, &b], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s[0]["total_rate"], 102_000.0);
    assert!(s[0]["imbalance"].is_null(), "{}", s[0]["imbalance"]);
    // NET_RX piled on CPU 0 (hand-checked: 95000 of 100000/s, fair share 25000/s)
    let (a, b) = (
        d.join("softirq_net_rx_a.txt"),
        d.join("softirq_net_rx_b.txt"),
    );
    let (code, s, err) = itop_json(&[&a, &b], &["--softirq"]);
    assert_eq!(code, 0, "{err}");
    let i = &s[0]["imbalance"];
    assert_eq!(
        (i["cpu"].as_u64(), i["load"].as_str()),
        (Some(0), Some("NET_RX")),
        "{i}"
    );
    assert_eq!(i["share"], 0.95);
    assert_eq!(i["ratio"], 3.8);
    assert!(i["message"].as_str().unwrap().contains("RPS"), "{i}");
    let (code, out, err) = run(opskit()
        .args(["itop", "--softirq", "--from"])
        .arg(&a)
        .arg("--from")
        .arg(&b));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("CPU 0 takes 95 % of NET_RX softirqs (95k/s, 4x the mean of 4 CPUs)"),
        "{out}"
    );
}

#[test]
fn imbalance_on_1152_cpus() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(dir) = shared_fixtures("interrupts") else {
        return;
    };
    let Some(a) = bunzip(
        &dir.join("pcp_x86_64_1152cpu_interrupts.txt.bz2"),
        tmp.path(),
    ) else {
        return;
    };
    let snap = parse_file(&a);
    assert_eq!(snap.cpus.len(), 1152);
    // every device IRQ +1/s on every CPU; CPU 3 also takes 100,000/s from ten NIC queues
    let text = std::fs::read_to_string(&a).unwrap();
    let mut b = String::with_capacity(text.len() + (1 << 20));
    b.push_str(text.lines().next().unwrap());
    b.push('\n');
    let mut boosted = 0;
    let mut numbered = 0u64;
    for r in snap.rows() {
        b.push_str(r.label);
        b.push(':');
        let dev = r.is_numbered() && r.kind == RowKind::PerCpu;
        numbered += u64::from(dev);
        for (j, c) in r.counts.iter().enumerate() {
            let mut v = c + u64::from(dev);
            if dev && j == 3 && boosted < 10 {
                v += 100_000;
            }
            b.push_str(&format!(" {v}"));
        }
        if dev && boosted < 10 {
            boosted += 1;
        }
        b.push(' ');
        b.push_str(r.desc);
        b.push('\n');
    }
    let pb = tmp.path().join("b");
    std::fs::write(&pb, b).unwrap();
    let (code, s, err) = itop_json(&[&a, &pb], &["--top", "3"]);
    assert_eq!(code, 0, "{err}");
    let i = &s[0]["imbalance"];
    assert_eq!(i["cpu"], 3, "{i}");
    let total = numbered as f64 * 1152.0 + 1e6;
    let on3 = numbered as f64 + 1e6;
    assert_eq!(i["share"], ((on3 / total) * 1000.0).round() / 1000.0, "{i}");
    // the devices that put it there, named (at most four), each with its remedy
    let culprits = i["culprits"].as_array().unwrap();
    assert!((1..=4).contains(&culprits.len()), "{i}");
    let on_them: f64 = culprits.iter().map(|c| c["rate"].as_f64().unwrap()).sum();
    assert!(on_them >= 0.4 * 1e6, "{i}");
    assert!(
        i["message"].as_str().unwrap().starts_with("CPU 3 takes"),
        "{i}"
    );
}

#[test]
fn queue_irqs_fold_into_their_device_in_text_and_json() {
    let d = crate::util::fixtures().join("itop");
    let (a, b) = (d.join("balanced_2cpu_a.txt"), d.join("balanced_2cpu_b.txt"));
    // hand-checked: eth0-TxRx-0 50,000/s on CPU0, eth0-TxRx-1 50,000/s on CPU1
    let text = itop_text(&[&a, &b], &["-a", "--by-device"]);
    let line = text
        .lines()
        .find(|l| l.contains("eth0 (2 IRQs)"))
        .unwrap_or_else(|| panic!("{text}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&f[..4], ["+2", "50000", "50000", "100000"], "{text}");
    assert!(!text.contains("eth0-TxRx-0"), "folded: {text}");
    assert!(text.contains("LOC"), "{text}");
    // without the flag, the queues are lines of their own
    let text = itop_text(&[&a, &b], &["-a"]);
    assert!(
        text.contains("eth0-TxRx-1") && !text.contains("(2 IRQs)"),
        "{text}"
    );
    // JSON: a devices summary beside the per-IRQ rows; --cpus restricts it
    let (code, s, err) = itop_json(&[&a, &b], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        s[0]["devices"],
        serde_json::json!([{"device": "eth0", "kind": "other", "pci": null, "node": null,
            "affinity": null, "irqs": ["24", "25"], "total_rate": 100000.0,
            "rates": {"0": 50000.0, "1": 50000.0}}])
    );
    assert_eq!(s[0]["irqs"].as_array().unwrap().len(), 3);
    // members in the view's order: over CPU 1 alone, IRQ 25 is the busier
    let (_, s, _) = itop_json(&[&a, &b], &["--cpus", "1"]);
    assert_eq!(
        s[0]["devices"],
        serde_json::json!([{"device": "eth0", "kind": "other", "pci": null, "node": null,
            "affinity": null, "irqs": ["25", "24"], "total_rate": 50000.0,
            "rates": {"1": 50000.0}}])
    );
}

/// `opskit itop ARGS --from A --from B --stat SA --stat SB`: two snapshots, each with its
/// /proc/stat.
fn itop_with_stat(from: [&Path; 2], stat: [&Path; 2], args: &[&str]) -> (i32, String, String) {
    let mut cmd = opskit();
    cmd.arg("itop").args(args);
    for (f, st) in from.iter().zip(stat) {
        cmd.arg("--from").arg(f).arg("--stat").arg(st);
    }
    run(&mut cmd)
}

#[test]
fn time_in_handlers_from_proc_stat_pairs() {
    let d = crate::util::fixtures().join("itop");
    let (a, b) = (d.join("balanced_2cpu_a.txt"), d.join("balanced_2cpu_b.txt"));
    let (sa, sb) = (d.join("stat_a.txt"), d.join("stat_b.txt"));
    let (code, out, err) = itop_with_stat([&a, &b], [&sa, &sb], &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let s = &json_samples(&out)[0];
    // hand-checked: cpu0 2 + 85 of 100 ticks, cpu1 1 + 3 of 100
    assert_eq!(
        s["cpu_time"],
        serde_json::json!({"0": {"irq": 2.0, "softirq": 85.0}, "1": {"irq": 1.0, "softirq": 3.0}})
    );
    let (code, out, err) = itop_with_stat([&a, &b], [&sa, &sb], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("handlers (/proc/stat): busiest CPU 0 irq 2.0 % softirq 85.0 %"),
        "{out}"
    );
    assert!(
        out.contains(
            "CPU 0 spends 87 % of its time in interrupt handlers (irq 2.0 %, softirq 85.0 %)"
        ),
        "{out}"
    );
    assert_eq!(
        s["busy_cpus"],
        serde_json::json!([{"cpu": 0, "irq": 2.0, "softirq": 85.0}]),
        "CPU 0 at 87 % in handlers is called out in JSON too"
    );
    // without --stat: null; a count that does not match: a usage error
    let (_, s, _) = itop_json(&[&a, &b], &[]);
    assert!(s[0]["cpu_time"].is_null());
    assert!(s[0]["busy_cpus"].is_null());
    let (code, _, err) = itop_json(&[&a, &b], &["--stat", sa.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--stat: 1 files for 2 --from snapshots"),
        "{err}"
    );
}

/// `mpstat -I SCPU`'s `Average:` lines: (CPU id, softirq name) -> per second.
fn mpstat_softirqs(out: &str) -> BTreeMap<(u32, String), f64> {
    let mut names: Vec<String> = Vec::new();
    let mut m = BTreeMap::new();
    for l in out.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1) == Some(&"CPU") {
            // the column header (after a time stamp)
            names = f[2..]
                .iter()
                .map(|n| n.trim_end_matches("/s").to_string())
                .collect();
        } else if f.first() != Some(&"Average:") {
            continue;
        } else if let Ok(cpu) = f[1].parse::<u32>() {
            for (n, v) in names.iter().zip(&f[2..]) {
                m.insert((cpu, n.clone()), v.parse().unwrap());
            }
        }
    }
    m
}

/// UDP over loopback (NET_RX softirqs) until the returned flag is set.
fn loopback_load() -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<()>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let h = std::thread::spawn(move || {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let mut buf = [0u8; 64];
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = tx.send_to(&buf[..32], to);
            while rx.recv(&mut buf).is_ok() {}
        }
    });
    (stop, h)
}

#[test]
fn softirq_rates_agree_with_mpstat_live() {
    if !require_tool("mpstat") {
        return;
    }
    let (stop, load) = loopback_load();
    std::thread::sleep(Duration::from_millis(300));
    // Other tests run beside this one and make their own softirqs; the two windows start a
    // few ms apart, so a burst from them can fall in one window only. Three tries: a real
    // disagreement fails all three, a neighbour's burst does not hit all three.
    let mut failures = Vec::new();
    for _ in 0..3 {
        match softirqs_against_mpstat() {
            Ok(()) => break,
            Err(e) => failures.push(e),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    assert!(failures.len() < 3, "{failures:#?}");
}

/// One 3 s sample of opskit and mpstat, started together: every (CPU, softirq) rate mpstat
/// reports agrees with ours, and the loopback load shows as NET_RX.
fn softirqs_against_mpstat() -> Result<(), String> {
    let mp = Command::new("mpstat")
        .args(["-I", "SCPU", "3", "1"])
        .env("LC_ALL", "C")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (code, out, err) = run(opskit().args([
        "itop",
        "--softirq",
        "-b",
        "-n",
        "1",
        "-d",
        "3",
        "--format",
        "json",
    ]));
    let mp = mp.wait_with_output().unwrap();
    assert_eq!(code, 0, "{err}");
    let ours = &json_samples(&out)[0];
    let theirs = mpstat_softirqs(&String::from_utf8_lossy(&mp.stdout));
    assert!(
        theirs.contains_key(&(0, "NET_RX".to_string())),
        "{}",
        String::from_utf8_lossy(&mp.stdout)
    );
    let mut net_rx = 0.0;
    for ((cpu, name), want) in &theirs {
        let Some(row) = ours["irqs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["irq"] == name.as_str())
        else {
            panic!("no {name} row in {ours}");
        };
        // a CPU absent from `rates` took 0/s (zero cells are omitted)
        let got = row["rates"][cpu.to_string()].as_f64().unwrap_or(0.0);
        if name == "NET_RX" {
            net_rx += got;
        }
        // the two sample a few ms apart over 3 s: within 5 % (+ 40/s for the timer-driven
        // softirqs, whose tick may fall either side of the edges)
        if (got - want).abs() > 0.05 * want.max(got) + 40.0 {
            return Err(format!("cpu{cpu} {name}: ours {got}/s, mpstat {want}/s"));
        }
        eprintln!("cpu{cpu} {name}: {got} vs {want}");
    }
    if net_rx <= 1000.0 {
        return Err(format!("the loopback load shows as NET_RX: {net_rx}/s"));
    }
    Ok(())
}

/// mpstat's `Average:` %irq and %soft per CPU id.
fn mpstat_averages(out: &str) -> BTreeMap<u32, (f64, f64)> {
    let mut cols = (0, 0);
    let mut m = BTreeMap::new();
    for l in out.lines().filter(|l| l.starts_with("Average:")) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let (Some(i), Some(s)) = (
            f.iter().position(|&x| x == "%irq"),
            f.iter().position(|&x| x == "%soft"),
        ) {
            cols = (i, s);
        } else if let Ok(cpu) = f[1].parse::<u32>() {
            m.insert(
                cpu,
                (f[cols.0].parse().unwrap(), f[cols.1].parse().unwrap()),
            );
        }
    }
    m
}

#[test]
fn time_in_handlers_agrees_with_mpstat_live() {
    if !require_tool("mpstat") {
        return;
    }
    // softirq load: UDP over loopback (NET_RX) during the interval
    let (stop, load) = loopback_load();
    std::thread::sleep(Duration::from_millis(300));
    let mp = Command::new("mpstat")
        .args(["-P", "ALL", "3", "1"])
        .env("LC_ALL", "C")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (code, out, err) =
        run(opskit().args(["itop", "-b", "-n", "1", "-d", "3", "--format", "json"]));
    let mp = mp.wait_with_output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    assert_eq!(code, 0, "{err}");
    let ours = &json_samples(&out)[0]["cpu_time"];
    let theirs = mpstat_averages(&String::from_utf8_lossy(&mp.stdout));
    assert!(
        !theirs.is_empty(),
        "{}",
        String::from_utf8_lossy(&mp.stdout)
    );
    for (cpu, (irq, soft)) in &theirs {
        let o = &ours[cpu.to_string()];
        let (oi, os) = (o["irq"].as_f64().unwrap(), o["softirq"].as_f64().unwrap());
        // the two tools sample a few ms apart over 3 s (300 ticks a CPU): within 3 points
        assert!(
            (oi - irq).abs() <= 3.0,
            "cpu{cpu} %irq ours {oi} mpstat {irq}"
        );
        assert!(
            (os - soft).abs() <= 3.0,
            "cpu{cpu} %soft ours {os} mpstat {soft}"
        );
        eprintln!("cpu{cpu}: %irq {oi} vs {irq}, %soft {os} vs {soft}");
    }
}

#[test]
fn numa_nodes_and_devices_served_off_their_node() {
    let r = crate::util::fixtures().join("itop/numa");
    let mut cmd = opskit();
    cmd.arg("--root")
        .arg(&r)
        .args(["itop", "--format", "json", "--from"]);
    cmd.arg(r.join("interrupts_a.txt"))
        .arg("--from")
        .arg(r.join("interrupts_b.txt"));
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{err}");
    let s = &json_samples(&out)[0];
    assert_eq!(s["numa_nodes"], serde_json::json!({"0": "0-1", "1": "2-3"}));
    assert_eq!(irq(s, "30")["node"], 1);
    assert_eq!(irq(s, "30")["affinity"], "0");
    assert_eq!(
        s["numa_warnings"],
        serde_json::json!(["eth0 (NUMA node 1): 83 % of its 6000 interrupts/s handled on other nodes' CPUs while node 1's CPUs 2-3 are online; set the affinity of its IRQs 30, 31 to them"])
    );
    let mut cmd = opskit();
    cmd.arg("--root").arg(&r).args(["itop", "--from"]);
    cmd.arg(r.join("interrupts_a.txt"))
        .arg("--from")
        .arg(r.join("interrupts_b.txt"));
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("NUMA node 0: CPUs 0-1, node 1: CPUs 2-3"),
        "{out}"
    );
    assert!(out.contains("NODE"), "{out}");
    assert!(out.contains("eth0 (NUMA node 1): 83 %"), "{out}");
}

#[test]
fn proc_stat_counters_near_2_64_are_an_error_not_200_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let d = crate::util::fixtures().join("itop");
    let (a, b) = (d.join("balanced_2cpu_a.txt"), d.join("balanced_2cpu_b.txt"));
    let line = |v: &str| format!("{v} {v} {v} {v} {v} {v} {v} {v} 0 0");
    let stat = |v: &str| format!("cpu  {l}\ncpu0 {l}\ncpu1 {l}\nintr 1\n", l = line(v));
    let (sa, sb) = (tmp.path().join("stat_a"), tmp.path().join("stat_b"));
    std::fs::write(&sa, stat("1")).unwrap();
    std::fs::write(&sb, stat("18446744073709551615")).unwrap();
    // handler time is optional: a warning naming the file and line, the rates still come
    let (code, out, err) = itop_with_stat([&a, &b], [&sa, &sb], &["--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let s = &json_samples(&out)[0];
    assert!(s["cpu_time"].is_null(), "no implausible number: {out}");
    assert_eq!(s["total_rate"], 102_000.0);
    assert!(
        err.contains(&format!(
            "warning: parsing {}: line 2: the times of cpu0 add up past 2^64",
            sb.display()
        )),
        "{err}"
    );
    // a counter reset between the readings: that CPU's time is unknown, never above 100 %
    std::fs::write(&sa, "cpu0 100 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0\n").unwrap();
    std::fs::write(&sb, "cpu0 10 0 0 0 0 60 60 0\ncpu1 0 0 0 0 0 0 0 0\n").unwrap();
    let (code, out, err) = itop_with_stat([&a, &b], [&sa, &sb], &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let s = &json_samples(&out)[0];
    assert_eq!(s["cpu_time"], serde_json::json!({}), "{out}");
    assert_eq!(s["busy_cpus"], serde_json::json!([]), "{out}");
    // ... and named, so an empty handler column has its reason: cpu0 went back, cpu1 idled
    assert_eq!(s["stat_resets"], serde_json::json!([0]), "{out}");
    let (code, out, err) = itop_with_stat([&a, &b], [&sa, &sb], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("note: /proc/stat counters went back (CPU hot-plugged?) for CPU 0: handler time unknown this interval"),
        "{out}"
    );
}

#[test]
fn json_escapes_outside_text_from_a_root_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("proc/irq/24")).unwrap();
    std::fs::write(
        root.join("proc/interrupts"),
        "  CPU0 CPU1\n 24: 1 2 PCI-MSI 1-edge \x1b[2Jeth0\u{9b}31m-TxRx-0\nLOC: 5 6 Local timer\n",
    )
    .unwrap();
    std::fs::write(root.join("proc/irq/24/smp_affinity_list"), "0-1\n").unwrap();
    let (code, out, err) = run(opskit()
        .args(["--root"])
        .arg(root)
        .args(["itop", "-b", "-n", "2", "-d", "0.1", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let bytes = out.as_bytes();
    assert!(!bytes.contains(&0x1b), "raw ESC: {out:?}");
    assert!(
        !bytes.windows(2).any(|w| w == [0xc2, 0x9b]),
        "raw CSI: {out:?}"
    );
    assert!(!out.to_lowercase().contains("\\u001b"), "{out}");
    assert!(!out.to_lowercase().contains("\\u009b"), "{out}");
    let s = json_samples(&out);
    assert_eq!(
        irq(&s[0], "24")["description"],
        "PCI-MSI 1-edge \\x1b[2Jeth0\\x9b31m-TxRx-0"
    );
}

#[test]
fn too_many_rows_or_a_endless_line_is_an_error_naming_the_file_and_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("interrupts");
    let mut text = String::from("  CPU0 CPU1\n");
    for i in 0..150_000 {
        text.push_str(&format!("{i}:  1 2  x\n"));
    }
    std::fs::write(&f, &text).unwrap();
    let t0 = Instant::now();
    let (code, out, err) = run(opskit()
        .args(["itop", "-t", "--from"])
        .arg(&f)
        .arg("--from")
        .arg(&f));
    assert_eq!(code, 1, "{out}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        err.trim_end(),
        format!(
            "opskit itop: parsing {}: line 100002: more than 100000 interrupt rows (real kernels have a few thousand)",
            f.display()
        )
    );
    assert!(t0.elapsed() < Duration::from_secs(10));
    // 8 MB without a newline: refused at the line limit, not read whole
    std::fs::write(&f, vec![b'0'; 8 << 20]).unwrap();
    let (code, _, err) = run(opskit()
        .args(["itop", "--from"])
        .arg(&f)
        .arg("--from")
        .arg(&f));
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "parsing {}: a line longer than the 1 MiB limit",
            f.display()
        )),
        "{err}"
    );
}

/// A number as the TUI shows it (`200000`, `2.5`, `200k`, `1.2M`) and the rounding it
/// implies: (value, half a unit of its last digit).
fn shown_number(tok: &str) -> Option<(f64, f64)> {
    let (num, mult) = match tok.chars().last()? {
        'k' => (&tok[..tok.len() - 1], 1e3),
        'M' => (&tok[..tok.len() - 1], 1e6),
        'G' => (&tok[..tok.len() - 1], 1e9),
        _ => (tok, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    let decimals = num.split_once('.').map_or(0, |(_, d)| d.len());
    Some((v * mult, 0.5 * 10f64.powi(-(decimals as i32)) * mult))
}

/// Lifetime totals per label in a /proc/interrupts file (the sum of its counts).
fn lifetime_totals(file: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let (label, rest) = l.split_once(':')?;
            let sum = rest
                .split_whitespace()
                .map_while(|t| t.parse::<u64>().ok())
                .sum();
            Some((label.trim().to_string(), sum))
        })
        .collect()
}

/// Every number in the TUI's table is the true one: per-CPU cells, SUM and % rows, RATE/s,
/// MAX/s and the lifetime TOTAL, checked against the JSON of the same files and the counts.
fn check_screen_numbers(screen: &str, json: &serde_json::Value, b: &Path, what: &str) -> usize {
    let lifetime = lifetime_totals(b);
    let lines: Vec<&str> = screen.lines().collect();
    let hi = lines
        .iter()
        .position(|l| l.contains("RATE/s"))
        .unwrap_or_else(|| panic!("{what}: no table header: {screen}"));
    // the right-aligned columns end where their title ends: (title, first char, last char)
    let head: Vec<char> = lines[hi].chars().collect();
    let mut cols: Vec<(String, usize, usize)> = Vec::new();
    let mut k = 0;
    while k < head.len() {
        if head[k] == ' ' {
            k += 1;
            continue;
        }
        let start = k;
        while k < head.len() && head[k] != ' ' {
            k += 1;
        }
        let title: String = head[start..k].iter().collect();
        if title == "AFFINITY" || title == "NAME" {
            break;
        }
        let from = cols.last().map_or(0, |c| c.2 + 1);
        cols.push((title, from, k - 1));
    }
    let mut checked = 0;
    let cpu_totals = &json["cpu_totals"];
    let all: f64 = cpu_totals
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    for line in &lines[hi + 1..] {
        if line.contains("q quit") || line.starts_with("no more samples") {
            break;
        }
        let chars: Vec<char> = line.chars().collect();
        let cell = |c: &(String, usize, usize)| -> String {
            chars
                .get(c.1..=c.2.min(chars.len().saturating_sub(1)))
                .map(|x| x.iter().collect::<String>().trim().to_string())
                .unwrap_or_default()
        };
        let label = cell(&cols[0]);
        if label.is_empty() {
            continue;
        }
        let irq = json["irqs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["irq"] == label.as_str());
        for c in &cols[1..] {
            let text = cell(c);
            if text.is_empty() {
                continue;
            }
            let cpu = c.0.strip_prefix("CPU");
            let want = match (label.as_str(), c.0.as_str(), cpu) {
                ("SUM", _, Some(id)) => cpu_totals[id].as_f64().unwrap(),
                ("SUM", "RATE/s", _) => all,
                ("%", _, Some(id)) => cpu_totals[id].as_f64().unwrap() / all * 100.0,
                (_, _, Some(id)) => irq.unwrap()["rates"][id].as_f64().unwrap_or(0.0),
                (_, "RATE/s" | "MAX/s", _) => irq.unwrap()["total_rate"].as_f64().unwrap(),
                (_, "TOTAL", _) => lifetime[&label] as f64,
                (_, "NODE", _) => irq.unwrap()["node"].as_f64().unwrap(),
                _ => panic!(
                    "{what}: unexpected cell {text:?} in {:?} of {label}: {line}",
                    c.0
                ),
            };
            let (v, tol) = shown_number(&text).unwrap_or_else(|| {
                panic!(
                    "{what}: {text:?} in {} is not a whole number: {line}\n{screen}",
                    c.0
                )
            });
            assert!(
                (v - want).abs() <= tol + 1e-6,
                "{what}: {} of {label:?} shows {text} ({v} ±{tol}), the true value is {want}: {line}\n{screen}",
                c.0
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn tui_numbers_are_true_and_paused_is_visible_at_every_size() {
    if !require_tool("tmux") {
        return;
    }
    let mut m = itop_tree::healthy();
    let eth2 = m.irq_mut(45);
    eth2.rate = 200_000.0;
    eth2.affinity = vec![0];
    eth2.effective = None;
    m.loc = (0..24).map(|c| (c, 24_000.0)).collect();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    m.write_tree(&root);
    let files = m.snapshots(&root, dir.path(), 1.0);
    let mut c = opskit();
    c.arg("--root").arg(&root).arg("itop");
    c.arg("--from").arg(&files[0]).arg("--from").arg(&files[1]);
    let (code, out, err) = run(c.args(["-d", "1", "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (w, h) in [(40u16, 10u16), (44, 24), (80, 24), (200, 50)] {
        for mode in ["-t", "-a"] {
            let cmd = format!(
                "{} --root {} itop -i {mode} -d 1 --from {} --from {}; sleep 60",
                crate::util::bin().display(),
                root.display(),
                files[0].display(),
                files[1].display()
            );
            let t = Tmux::start_sized(&cmd, w, h);
            let what = format!("{w}x{h} {mode}");
            let s = t.wait_for("no more samples");
            assert!(s.contains("no more samples"), "{what}: {s}");
            let n = check_screen_numbers(&s, &json, &files[1], &what);
            assert!(n >= 3, "{what}: only {n} numbers on screen: {s}");
            if w >= 80 {
                assert!(s.contains("CPU 0 takes"), "{what}: the verdict: {s}");
            }
            t.keys("p");
            let s = t.wait_for("PAUSED");
            let first = s.lines().next().unwrap_or("");
            assert!(first.contains("PAUSED"), "{what}: {s}");
            t.keys("q");
        }
    }
}

#[test]
fn prometheus_exposition_passes_promtool_and_listen_serves_it() {
    if !require_tool("promtool") {
        return;
    }
    let mut m = itop_tree::healthy();
    let eth2 = m.irq_mut(45);
    eth2.rate = 200_000.0;
    eth2.affinity = vec![0];
    eth2.effective = None;
    m.handlers.insert(0, (3.0, 94.0));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    m.write_tree(&root);
    let files = m.snapshots(&root, dir.path(), 1.0);
    let mut c = opskit();
    c.arg("--root").arg(&root).arg("itop");
    c.arg("--from").arg(&files[0]).arg("--from").arg(&files[1]);
    c.arg("--stat").arg(&files[2]).arg("--stat").arg(&files[3]);
    let (code, out, err) = run(c.args(["-d", "1", "--format", "prometheus"]));
    assert_eq!(code, 0, "{err}");
    let check = |text: &str| {
        let mut p = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let o = p.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "promtool: {}{}\n{text}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    check(&out);
    for want in [
        "opskit_itop_cpu_device_interrupts_per_second{cpu=\"0\"} 202001\n",
        "opskit_itop_cpu_handler_time_ratio{cpu=\"0\",kind=\"softirq\"} 0.94\n",
        "opskit_itop_irq_per_second{irq=\"45\",device=\"eth2\"} 200000\n",
        "opskit_itop_hot_cpus 1\n",
        "opskit_itop_hot_cpu_share{cpu=\"0\",load=\"device\",trigger=\"both\"} 0.49",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    // --listen on a free loopback port: the live exposition, promtool-clean
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(crate::util::bin())
        .args([
            "itop",
            "-d",
            "0.2",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _k = crate::util::Killed(child);
    let t0 = Instant::now();
    let body = loop {
        use std::io::{Read as _, Write as _};
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut r = String::new();
            s.read_to_string(&mut r).unwrap();
            if r.starts_with("HTTP/1.1 200") {
                break r.split_once("\r\n\r\n").unwrap().1.to_string();
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "no answer on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        body.contains("opskit_itop_cpu_interrupts_per_second{cpu=\"0\"}"),
        "{body}"
    );
    assert!(
        body.contains("opskit_itop_cpu_softirqs_per_second{cpu=\"0\",softirq=\"NET_RX\"}"),
        "{body}"
    );
    assert!(body.contains("opskit_itop_hot_cpus "), "{body}");
    check(&body);
}

/// A `/proc/interrupts` of `ncpu` CPUs and `rows` device rows, every count `count`.
fn write_wide_capture(path: &Path, ncpu: usize, rows: usize, count: u64) {
    use std::io::Write as _;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let head: Vec<String> = (0..ncpu).map(|c| format!("CPU{c}")).collect();
    writeln!(f, "{}", head.join(" ")).unwrap();
    let cells = vec![count.to_string(); ncpu].join(" ");
    for r in 0..rows {
        writeln!(f, "{r}: {cells} PCI-MSI {r}-edge eth{r}").unwrap();
    }
}

/// Run opskit with `args` (output discarded); its exit code and peak RSS in KiB, as GNU time
/// measures it. (wait4 on a child this test process spawns would also count the test
/// process's own high-water RSS, which the kernel carries over when the spawned child execs
/// out of a vfork shared with it; time forks opskit from its own small process.)
fn peak_rss(args: &[&std::ffi::OsStr]) -> (i32, i64) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rss");
    let status = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&out)
        .arg(crate::util::bin())
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("GNU time (package time)");
    let text = std::fs::read_to_string(&out).unwrap();
    // time writes "Command exited with non-zero status N" before the figure then
    let kib = text
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .parse()
        .unwrap_or(i64::MAX);
    (status.code().unwrap_or(-1), kib)
}

#[test]
fn memory_on_100k_cpu_captures_stays_under_200_mb_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    // the pairs of the security issue: ~20 MB (100 rows) and ~65 MB (325 rows) of 100,000
    // CPUs, each under the 64 MiB cap; every cell busy (the worst case for rates)
    for (rows, formats) in [
        (
            100,
            &[
                &["-t"][..],
                &["--format", "json"],
                &["-a"],
                &["--format", "prometheus"],
            ][..],
        ),
        (325, &[&["-t"][..], &["--format", "prometheus"]][..]),
    ] {
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        write_wide_capture(&a, 100_000, rows, 0);
        write_wide_capture(&b, 100_000, rows, 1);
        let size = std::fs::metadata(&b).unwrap().len();
        assert!(size < 64 << 20, "under the input cap: {size}");
        for f in formats {
            let mut args: Vec<&std::ffi::OsStr> = vec!["itop".as_ref(), "--from".as_ref()];
            args.push(a.as_os_str());
            args.push("--from".as_ref());
            args.push(b.as_os_str());
            args.extend(f.iter().map(std::ffi::OsStr::new));
            let (code, kib) = peak_rss(&args);
            assert_eq!(code, 0, "{rows} rows {f:?}");
            assert!(
                kib < 200 * 1024,
                "{rows} rows x 100,000 CPUs {f:?}: peak RSS {kib} KiB"
            );
            eprintln!("{size} bytes {f:?}: peak RSS {} MiB", kib / 1024);
        }
    }
}
