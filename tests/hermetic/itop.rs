//! itop's verdicts on generated fake /proc + /sys trees (`--root`), each with its healthy
//! twin, and each printed remedy applied to the tree and the verdict re-checked.

use std::path::{Path, PathBuf};

use crate::itop_tree::{apply, healthy, Machine, ETH2};
use crate::util::{opskit, run};

/// `opskit --root ROOT itop --from a --from b -d 1 --stat sa --stat sb ARGS`.
fn itop(root: &Path, files: &[PathBuf; 4], args: &[&str]) -> (i32, String, String) {
    let mut c = opskit();
    c.arg("--root").arg(root).arg("itop");
    c.arg("--from").arg(&files[0]).arg("--from").arg(&files[1]);
    c.arg("--stat").arg(&files[2]).arg("--stat").arg(&files[3]);
    c.args(["-d", "1"]).args(args);
    run(&mut c)
}

fn json(root: &Path, files: &[PathBuf; 4], args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    let (code, out, err) = itop(root, files, &a);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(out.lines().next().unwrap()).unwrap()
}

/// A tree for `m` in a temp dir: (dir, root, snapshot files).
fn tree(m: &Machine) -> (tempfile::TempDir, PathBuf, [PathBuf; 4]) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    m.write_tree(&root);
    let files = m.snapshots(&root, dir.path(), 1.0);
    (dir, root, files)
}

fn commands(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn healthy_box_is_silent() {
    let m = healthy();
    let (_d, root, files) = tree(&m);
    let v = json(&root, &files, &[]);
    assert_eq!(v["hot_cpus"], serde_json::json!([]), "{v}");
    assert!(v["imbalance"].is_null());
    assert_eq!(v["numa"], serde_json::json!([]));
    let (code, out, err) = itop(&root, &files, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("fix:"), "{out}");
    assert!(!out.contains("CPU 12 takes"), "{out}");
}

#[test]
fn pinned_single_queue_nic_is_called_out_with_rps_and_rps_resolves_it() {
    let mut m = healthy();
    let eth2 = m.irq_mut(45);
    eth2.rate = 200_000.0;
    eth2.affinity = vec![0];
    eth2.effective = None;
    m.handlers.insert(0, (3.0, 94.0));
    let (dir, root, files) = tree(&m);
    let v = json(&root, &files, &[]);
    let h = &v["hot_cpus"][0];
    assert_eq!(h["cpu"], 0, "{v}");
    assert_eq!(h["trigger"], "both");
    assert_eq!(v["hot_cpus"].as_array().unwrap().len(), 1, "{v}");
    // eth2 200000 + its NVMe queue 2000 + the admin queue 1, of 200000 + 160000 (mlx5)
    // + 48000 (nvme) + 1 /s: 202001 / 408001
    assert_eq!(h["share"], 0.495, "{v}");
    assert_eq!(h["rate"], 202_001.0);
    let c = &h["culprits"][0];
    assert_eq!(c["device"], "eth2");
    assert_eq!(c["kind"], "net");
    assert_eq!(c["pci"], ETH2);
    assert_eq!(c["irqs"], serde_json::json!(["45"]));
    assert_eq!(c["placement"], "pinned");
    assert_eq!(c["managed"], false);
    assert_eq!(c["remedy"]["kind"], "rps");
    assert_eq!(
        h["culprits"].as_array().unwrap().len(),
        1,
        "CPU 0's own NVMe queue is not a culprit: {h}"
    );
    // node 0's other CPUs, 1-11: 0xffe
    let cmds = commands(&c["remedy"]["commands"]);
    assert_eq!(
        cmds,
        ["echo ffe > /sys/class/net/eth2/queues/rx-0/rps_cpus"]
    );
    let (_, text, _) = itop(&root, &files, &[]);
    let verdict = text.lines().find(|l| l.starts_with("CPU 0 ")).unwrap();
    assert_eq!(
        verdict,
        "CPU 0 takes 50 % of device interrupts (202k/s, 12x the mean of 24 CPUs) and spends 97 % of its time in interrupt handlers (irq 3.0 %, softirq 94.0 %): eth2 (IRQ 45, 200k/s, pinned to CPU 0); eth2 has one receive queue, which affinity cannot spread: spread its packets with RPS/RFS over CPUs 1-11 (/sys/class/net/eth2/queues/rx-0/rps_cpus), or give it more queues (ethtool -L eth2 combined N)"
    );
    assert!(
        text.contains("\n  fix: echo ffe > /sys/class/net/eth2/queues/rx-0/rps_cpus\n"),
        "{text}"
    );
    // apply it; with RPS the softirq work moves to CPUs 1-11 (the simulated kernel)
    apply(&root, &cmds[0]);
    m.handlers.insert(0, (3.0, 8.0));
    for c in 1..12 {
        m.handlers.insert(c, (0.0, 8.0));
    }
    let files = m.snapshots(&root, dir.path(), 1.0);
    let v = json(&root, &files, &[]);
    assert_eq!(v["hot_cpus"], serde_json::json!([]), "resolved: {v}");
}

#[test]
fn pinned_nic_is_called_out_without_proc_stat_and_under_80_percent() {
    let mut m = healthy();
    let eth2 = m.irq_mut(45);
    eth2.rate = 200_000.0;
    eth2.affinity = vec![0];
    eth2.effective = None;
    let (dir, root, files) = tree(&m);
    // no --stat at all
    let mut c = opskit();
    c.arg("--root").arg(&root).arg("itop");
    c.arg("--from").arg(&files[0]).arg("--from").arg(&files[1]);
    c.args(["-d", "1", "--format", "json"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["imbalance"]["cpu"], 0, "{v}");
    assert_eq!(v["imbalance"]["trigger"], "rate");
    drop(dir);
}

#[test]
fn sixteen_mlx5_queues_pinned_to_cpu_12_are_called_out_and_spreading_them_resolves_it() {
    let mut m = healthy();
    for q in 0..16 {
        let i = m.irq_mut(100 + q);
        i.affinity = vec![12];
    }
    let (dir, root, files) = tree(&m);
    let v = json(&root, &files, &[]);
    let h = &v["hot_cpus"][0];
    assert_eq!(h["cpu"], 12, "{v}");
    assert_eq!(h["rate"], 162_000.0, "16 x 10000 + its NVMe queue");
    let c = &h["culprits"][0];
    assert_eq!(c["device"], "enp94s0f0", "the netdev name from sysfs: {c}");
    assert_eq!(c["placement"], "pinned");
    assert_eq!(c["irqs"].as_array().unwrap().len(), 16);
    assert_eq!(c["remedy"]["kind"], "spread");
    let cmds = commands(&c["remedy"]["commands"]);
    assert_eq!(cmds.len(), 15, "one queue stays: {cmds:?}");
    assert_eq!(cmds[0], "echo 13 > /proc/irq/101/smp_affinity_list");
    for cmd in &cmds {
        let cpu: u32 = cmd.split(' ').nth(1).unwrap().parse().unwrap();
        assert!((13..24).contains(&cpu), "node 1's CPUs only: {cmd}");
        apply(&root, cmd);
    }
    let files = m.snapshots(&root, dir.path(), 1.0);
    let v = json(&root, &files, &[]);
    assert_eq!(v["hot_cpus"], serde_json::json!([]), "resolved: {v}");
}

#[test]
fn the_same_load_with_the_default_affinity_is_called_out_the_same_way() {
    let mut m = healthy();
    for q in 0..16 {
        let i = m.irq_mut(100 + q);
        i.affinity = (0..24).collect();
        i.effective = Some(12);
    }
    let (_d, root, files) = tree(&m);
    let v = json(&root, &files, &[]);
    let h = &v["hot_cpus"][0];
    assert_eq!(h["cpu"], 12, "{v}");
    let c = &h["culprits"][0];
    assert_eq!(c["placement"], "allows_others");
    assert_eq!(c["allowed_cpus"], 24);
    assert_eq!(c["remedy"]["kind"], "spread");
}

#[test]
fn cross_node_nic_is_warned_managed_nvme_queues_never_and_the_fix_resolves_it() {
    let mut m = healthy();
    // the mlx5 (node 1) queues placed on node 0's CPUs; the NVMe (node 0) serves every CPU
    for q in 0..16 {
        m.irq_mut(100 + q).affinity = vec![q % 12];
    }
    let (dir, root, files) = tree(&m);
    let v = json(&root, &files, &[]);
    let numa = v["numa"].as_array().unwrap();
    assert_eq!(numa.len(), 1, "{v}");
    assert_eq!(numa[0]["device"], "enp94s0f0");
    assert_eq!(numa[0]["node"], 1);
    assert_eq!(numa[0]["local_cpus"], "12-23");
    assert_eq!(numa[0]["remote_share"], 1.0);
    assert_eq!(v["hot_cpus"], serde_json::json!([]), "{v}");
    let cmds = commands(&numa[0]["commands"]);
    assert_eq!(cmds.len(), 16);
    assert_eq!(cmds[0], "echo 12-23 > /proc/irq/100/smp_affinity_list");
    for cmd in &cmds {
        apply(&root, cmd);
    }
    let files = m.snapshots(&root, dir.path(), 1.0);
    let v = json(&root, &files, &[]);
    assert_eq!(v["numa"], serde_json::json!([]), "resolved: {v}");
    assert_eq!(
        v["hot_cpus"],
        serde_json::json!([]),
        "and nothing piled up: {v}"
    );
}

/// Snapshots `0..n` of `m` one second apart with each managed queue's rate jittered by
/// +-5 % per interval; from snapshot `off_at` on, CPU 5 is offline.
fn jittered_series(m: &Machine, root: &Path, dir: &Path, n: u32, off_at: u32) -> Vec<PathBuf> {
    // a fixed pseudo-random sequence: the same test every run
    let jitter = |t: u32, irq: u32| {
        let x = (t.wrapping_mul(2_654_435_761) ^ irq.wrapping_mul(40_503)) % 1001;
        0.95 + 0.1 * f64::from(x) / 1000.0
    };
    (0..n)
        .map(|k| {
            let mut mk = m.clone();
            if k >= off_at {
                mk.offline = vec![5];
            }
            let acc = |i: &crate::itop_tree::Irq| {
                if i.managed {
                    (0..k).map(|t| i.rate * jitter(t, i.n)).sum()
                } else {
                    i.rate * f64::from(k)
                }
            };
            let p = dir.join(format!("interrupts.{k}"));
            std::fs::write(&p, mk.interrupts(root, f64::from(k), &acc)).unwrap();
            p
        })
        .collect()
}

#[test]
fn per_cpu_nvme_queues_with_jitter_and_loc_res_are_never_called_out_even_after_a_cpu_goes_offline()
{
    let mut m = healthy();
    // timer and rescheduling interrupts piled on CPU 3: per-CPU, never an imbalance
    m.loc.insert(3, 90_000.0);
    m.res.insert(3, 50_000.0);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    m.write_tree(&root);
    let files = jittered_series(&m, &root, dir.path(), 10, 6);
    let mut c = opskit();
    c.arg("--root").arg(&root).arg("itop");
    for f in &files {
        c.arg("--from").arg(f);
    }
    c.args(["-d", "1", "--format", "json"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    let samples: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(samples.len(), 9);
    for (i, v) in samples.iter().enumerate() {
        assert_eq!(v["hot_cpus"], serde_json::json!([]), "interval {i}: {v}");
        assert_eq!(v["numa"], serde_json::json!([]), "interval {i}: {v}");
        let off = if i == 5 {
            serde_json::json!([5])
        } else {
            serde_json::json!([])
        };
        assert_eq!(v["went_offline"], off, "interval {i}");
    }
    // the offline note in text
    let mut c = opskit();
    c.arg("--root").arg(&root).arg("itop");
    c.arg("--from").arg(&files[5]).arg("--from").arg(&files[6]);
    let (code, out, err) = run(c.args(["-d", "1"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("note: CPU 5 went offline during the interval (no rate for it)\n"),
        "{out}"
    );
}

#[test]
fn by_device_top_folds_every_queue_first_with_node_and_affinity() {
    let m = healthy();
    let (_d, root, files) = tree(&m);
    let (code, out, err) = itop(&root, &files, &["--by-device", "--top", "3"]);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.contains("enp94s0f0"))
        .unwrap_or_else(|| panic!("{out}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        f,
        ["+16", "160000", "1", "12-23", "enp94s0f0", "(16", "IRQs)"],
        "{out}"
    );
    let nvme = out.lines().find(|l| l.contains("nvme0 (")).unwrap();
    assert!(nvme.starts_with("+25"), "{nvme}");
    let v = json(&root, &files, &["--top", "2"]);
    let devs = v["devices"].as_array().unwrap();
    let mlx = devs.iter().find(|d| d["device"] == "enp94s0f0").unwrap();
    assert_eq!(
        mlx["irqs"].as_array().unwrap().len(),
        16,
        "JSON devices are whole"
    );
    assert_eq!(mlx["total_rate"], 160_000.0);
    assert_eq!(mlx["kind"], "net");
    assert_eq!(mlx["node"], 1);
    assert_eq!(mlx["affinity"], "12-23");
}

#[test]
fn garbled_proc_stat_is_a_warning_and_the_rates_still_come() {
    let m = healthy();
    let (dir, root, mut files) = tree(&m);
    let bad = dir.path().join("stat.bad");
    std::fs::write(&bad, "cpu0 1 2 x 4\n").unwrap();
    files[3] = bad.clone();
    let (code, out, err) = itop(&root, &files, &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["cpu_time"].is_null());
    assert!(v["total_rate"].as_f64().unwrap() > 200_000.0);
    assert_eq!(
        err.trim_end(),
        format!(
            "opskit itop: warning: parsing {}: line 1: 'x' is not a number: no time in handlers",
            bad.display()
        )
    );
    // unreadable (a directory)
    files[3] = dir.path().to_path_buf();
    let (code, out, err) = itop(&root, &files, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("TOTAL"), "{out}");
    assert!(
        err.contains("warning") && err.contains("no time in handlers"),
        "{err}"
    );
}

#[test]
fn cpus_list_with_an_offline_cpu_shows_the_others_and_names_it() {
    let mut m = healthy();
    m.offline = vec![5];
    let (_d, root, files) = tree(&m);
    let (code, out, err) = itop(&root, &files, &["--cpus", "4-6", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cpus"], serde_json::json!([4, 6]));
    assert_eq!(
        err.trim_end(),
        format!(
            "opskit itop: warning: --cpus: CPU 5 not online (absent from {}): showing the others",
            files[0].display()
        )
    );
}

#[test]
fn the_non_utf8_warning_names_the_bad_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("good");
    let b = dir.path().join("bad");
    std::fs::write(&a, "  CPU0 CPU1\n 30: 1 1 eth0\n").unwrap();
    std::fs::write(&b, b"  CPU0 CPU1\n 30: 5 5 eth\xff0\n").unwrap();
    let mut c = opskit();
    c.arg("itop").arg("--from").arg(&a).arg("--from").arg(&b);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "opskit itop: {}: line 2: a name is not valid UTF-8 (shown with U+FFFD)",
            b.display()
        )
    );
}
