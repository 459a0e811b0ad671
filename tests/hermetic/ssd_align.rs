//! `opskit ssd-align` without a device: the calculator's whole output byte for byte, the RAID
//! grain (data disks x lcm(chunk, erase block)), and sysfs trees under `--root`
//! (`fixtures/sysfs/`, see fixtures/README.md) where the kernel has no md or dm.

use std::path::Path;

use serde_json::Value;

use crate::util::{fixtures, opskit, run};

/// A temp root whose sys/block/<dev> are copies of the fixture tree `tree` (so a test may
/// change a value).
fn root_of(tree: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dst = root.path().join("sys/block");
    std::fs::create_dir_all(&dst).unwrap();
    copy(&fixtures().join("sysfs").join(tree), &dst);
    // as in sysfs: every block device, partitions too, under sys/class/block
    let class = root.path().join("sys/class/block");
    std::fs::create_dir_all(&class).unwrap();
    for disk in std::fs::read_dir(&dst).unwrap() {
        let disk = disk.unwrap().path();
        link(&disk, &class);
        for p in std::fs::read_dir(&disk).unwrap() {
            let p = p.unwrap().path();
            if p.join("partition").is_file() {
                link(&p, &class);
            }
        }
    }
    root
}

fn link(dev: &Path, class: &Path) {
    std::os::unix::fs::symlink(dev, class.join(dev.file_name().unwrap())).unwrap();
}

fn copy(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&t).unwrap();
            copy(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn json(root: &Path, args: &[&str]) -> (i32, Value, String) {
    let (code, out, err) = run(opskit()
        .arg("--root")
        .arg(root)
        .args(["ssd-align", "--format", "json"])
        .args(args));
    (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

/// Issue 19 item 4: raid5 over 5 devices (4 data disks), 64 KiB chunk, 512 KiB erase block:
/// each member's data stays on its erase blocks only at 4 x lcm(64k, 512k) = 2 MiB (not
/// lcm(512k, 256k) = 512 KiB). The calculator's whole text, byte for byte.
#[test]
fn the_raid_calculator_byte_for_byte() {
    let (code, out, err) = run(opskit().args([
        "ssd-align",
        "--erase-block",
        "512k",
        "--raid",
        "5",
        "--devices",
        "5",
        "--chunk",
        "64k",
    ]));
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        include_str!("../../fixtures/ssd_align/calc-raid5-5x64k-512k.txt")
    );
}

#[test]
fn the_raid_grain_is_data_disks_times_lcm_of_chunk_and_erase_block() {
    let root = tempfile::tempdir().unwrap();
    let grain = |level: &str, devices: &str, chunk: &str, eb: &str| {
        let (code, v, err) = json(
            root.path(),
            &[
                "--erase-block",
                eb,
                "--raid",
                level,
                "--devices",
                devices,
                "--chunk",
                chunk,
            ],
        );
        assert_eq!(code, 0, "{err}");
        v["grain_bytes"].as_u64().unwrap()
    };
    assert_eq!(grain("5", "5", "64k", "512k"), 2 << 20);
    assert_eq!(grain("0", "4", "64k", "512k"), 2 << 20);
    assert_eq!(grain("6", "6", "64k", "512k"), 2 << 20);
    assert_eq!(grain("0", "2", "512k", "1536k"), 3 << 20);
    // healthy twins: odd data-disk counts and a mirror are unchanged
    assert_eq!(grain("5", "4", "64k", "512k"), 1536 << 10);
    assert_eq!(grain("1", "2", "64k", "512k"), 512 << 10);
    // from md's own sysfs: raid5, 64 KiB chunk; 5 devices (4 data disks) gives 2 MiB
    let r = root_of("md-raid5");
    std::fs::write(r.path().join("sys/block/md0/md/raid_disks"), "5\n").unwrap();
    let (code, v, err) = json(r.path(), &["--erase-block", "512k", "md0"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["grain_bytes"], 2 << 20);
    assert_eq!(v["raid"]["data_disks"], 4);
}

/// Issue 19 item 11: a sysfs md/raid_disks of 0 is an error naming that file, not
/// "--devices 0 is outside ..." (no --devices was given). Twin: 4 is read.
#[test]
fn a_sysfs_raid_disks_of_0_names_the_file() {
    let r = root_of("md-raid5");
    let (code, v, err) = json(r.path(), &["--erase-block", "512k", "md0"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["raid"]["devices"], 4);
    std::fs::write(r.path().join("sys/block/md0/md/raid_disks"), "0\n").unwrap();
    let (code, out, err) = run(opskit().arg("--root").arg(r.path()).args([
        "ssd-align",
        "--erase-block",
        "512k",
        "md0",
    ]));
    assert_eq!(code, 2, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("md/raid_disks: 0 devices"), "{err}");
    assert!(!err.contains("--devices"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// A whole checked report, byte for byte: md raid10 near=2 over three members (captured
/// sysfs tree): the array's partitions against the 1.5 MiB grain, each member down to its
/// md data offset, and the TRIM chain as far as the tree tells it.
#[test]
fn an_md_report_byte_for_byte() {
    let r = root_of("md-raid10-3");
    let (code, out, err) = run(opskit().arg("--root").arg(r.path()).args([
        "ssd-align",
        "--erase-block",
        "512k",
        "md0",
    ]));
    assert_eq!((code, err.as_str()), (1, ""));
    assert_eq!(
        out,
        include_str!("../../fixtures/ssd_align/md-raid10-3-512k.txt")
    );
}
