//! `opskit ssd-align` on stacked devices through sysfs (md arrays, their partitions and
//! device-mapper nodes resolved to their members), the kernel's partition table against the
//! on-disk one, and extended partitions as containers.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::ssd_align::root_json as json;
use crate::util::{fixtures, opskit, require_root, require_tool, run};

/// A root whose sys/block and sys/class/block hold every device of `tree` and its
/// partitions, as the kernel lays them out.
fn root_of(tree: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for sub in ["sys/block", "sys/class/block"] {
        std::fs::create_dir_all(root.path().join(sub)).unwrap();
    }
    for e in std::fs::read_dir(tree).unwrap() {
        let dev = e.unwrap().path();
        let name = dev.file_name().unwrap().to_owned();
        for sub in ["sys/block", "sys/class/block"] {
            std::os::unix::fs::symlink(&dev, root.path().join(sub).join(&name)).unwrap();
        }
        for p in std::fs::read_dir(&dev).unwrap() {
            let p = p.unwrap().path();
            if p.join("partition").is_file() {
                std::os::unix::fs::symlink(
                    &p,
                    root.path()
                        .join("sys/class/block")
                        .join(p.file_name().unwrap()),
                )
                .unwrap();
            }
        }
    }
    root
}

fn part<'a>(v: &'a Value, device: &str) -> &'a Value {
    v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["device"] == device)
        .unwrap_or_else(|| panic!("no {device} in {v}"))
}

#[test]
fn md_raid10_on_three_disks_its_partition_and_its_members_down_to_the_flash() {
    // fixtures/sysfs/md-raid10-3: md0 raid10 near=2 (layout 258) over sda1 sdb1 sdc1, 512 KiB
    // chunk, metadata 1.2; data offsets 2048, 2048 and 2200 sectors; md0p1 at 1 MiB, md0p2
    // at 51 MiB
    let r = root_of(&fixtures().join("sysfs/md-raid10-3"));
    let (code, v, err) = json(r.path(), "md0", "512k");
    assert_eq!(code, 1, "{err}");
    // an odd device count is valid: the stripe spans all three disks (the kernel's rule)
    assert_eq!(v["raid"]["level"], "raid10 (2 copies)");
    assert_eq!(v["raid"]["data_disks"], 3);
    assert_eq!(v["raid"]["source"], "md");
    assert_eq!(v["grain_bytes"], 1_572_864, "lcm(512 KiB, 3 x 512 KiB)");
    assert_eq!(v["stripe_width"], 384);
    // md0p1 at 1 MiB is off the 1.5 MiB full stripe; md0p2 at 51 MiB is on it
    assert_eq!(part(&v, "/dev/md0p1")["aligned"], false);
    assert_eq!(part(&v, "/dev/md0p2")["aligned"], true);
    // the members: their data start on their disks, judged against the erase block
    for (m, aligned, start) in [
        ("/dev/sda1", true, (2048 + 2048) * 512),
        ("/dev/sdb1", true, (2048 + 2048) * 512),
        ("/dev/sdc1", false, (2048 + 2200) * 512),
    ] {
        let p = part(&v, m);
        assert_eq!(p["via"], serde_json::json!({"holder": "md", "top": "md0"}));
        assert_eq!(p["aligned"], aligned, "{m}: {p}");
        assert_eq!(p["layers"][0]["kind"], "md");
        assert_eq!(p["layers"][0]["start_bytes"].as_u64(), Some(start), "{m}");
        assert_eq!(p["fix"], Value::Null, "members are never moved");
    }
    // md0p1 keeps its array's geometry
    let (code, v, err) = json(r.path(), "md0p1", "512k");
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["raid"]["data_disks"], 3);
    assert_eq!(v["grain_bytes"], 1_572_864);
    assert_eq!(part(&v, "/dev/md0p1")["aligned"], false);
    // no command names a device that does not exist (md0p0)
    let (_, text, _) = run(opskit().arg("--root").arg(r.path()).args([
        "ssd-align",
        "--erase-block",
        "512k",
        "md0",
    ]));
    assert!(!text.contains("md0p0") && !text.contains("p0 "), "{text}");
    assert!(
        text.contains("sdc1 @1MiB -> md data @+1100KiB (MISALIGNED)"),
        "{text}"
    );
    // the layout commands only when asked for, then with the warning
    assert!(!text.contains("mklabel"), "{text}");
    let (_, text, _) = run(opskit().arg("--root").arg(r.path()).args([
        "ssd-align",
        "--erase-block",
        "512k",
        "--layout",
        "md0",
    ]));
    assert!(text.contains("destroy"), "{text}");
}

#[test]
fn a_device_mapper_node_is_judged_through_its_member() {
    // fixtures/sysfs/dm-crypt: dm-0 (CRYPT-LUKS2-...) over sdb1, which starts at sector 63
    let r = root_of(&fixtures().join("sysfs/dm-crypt"));
    let (code, v, err) = json(r.path(), "dm-0", "512k");
    assert_eq!(code, 1, "{err}");
    let p = part(&v, "/dev/sdb1");
    assert_eq!(
        p["via"],
        serde_json::json!({"holder": "device_mapper", "top": "dm-0"})
    );
    assert_eq!(p["start_bytes"], 63 * 512);
    assert_eq!(p["aligned"], false);
    assert!(
        v["notes"]
            .to_string()
            .contains("layers on it were not read"),
        "{v}"
    );
    assert!(
        v["commands_destroy"].is_null(),
        "dm-0 has no partitions of its own"
    );
}

fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_stale_kernel_partition_table_is_warned_about() {
    if !require_root("losetup -P") || !require_tool("sfdisk") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("stale.img");
    sh(&format!(
        "truncate -s 64M {0} && printf 'label: dos\\nstart=2048, size=20000\\n' | sfdisk -q {0}",
        img.display()
    ));
    let l = crate::util::LoopDev::attach(&img, None);
    let name = l.0.trim_start_matches("/dev/").to_string();
    for _ in 0..50 {
        if Path::new(&format!("/sys/class/block/{name}p1")).exists() {
            break;
        }
        let _ = Command::new("partx").arg("-u").arg(&l.0).status();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // rewrite the table behind the kernel's back
    sh(&format!(
        "printf 'label: dos\\nstart=4096, size=20000\\n' | sfdisk -q --no-tell-kernel {}",
        l.0
    ));
    let (code, out, err) = run(opskit()
        .args(["ssd-align", "--format", "json", "--erase-block", "512k"])
        .arg(&l.0));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let w = v["warnings"].to_string();
    assert!(w.contains("stale") && w.contains("partx -u"), "{v}");
    assert!(
        w.contains("starts at byte 1048576, the on-disk table says 2097152"),
        "{w}"
    );
    // the on-disk table is what is judged
    assert_eq!(v["partitions"][0]["start_bytes"], 2_097_152);
}

#[test]
fn an_extended_partition_is_a_container_and_its_logicals_are_judged() {
    if !require_tool("sfdisk") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("ext.img");
    // the extended partition at sector 63 (off the grain) holds a logical at 4096 (aligned)
    sh(&format!(
        "truncate -s 64M {0} && printf 'label: dos\\nstart=2048, size=1000, type=83\\ntype=5, start=3063, size=60000\\nstart=4096, size=20000\\n' | sfdisk -q {0}",
        img.display()
    ));
    let (code, out, err) = run(opskit()
        .args([
            "ssd-align",
            "--format",
            "json",
            "--erase-block",
            "512k",
            "--sector-size",
            "512",
        ])
        .arg(&img));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let p = v["partitions"].as_array().unwrap();
    assert_eq!(p[1]["number"], 2);
    assert_eq!(p[1]["role"], "extended");
    assert_eq!(p[1]["aligned"], true);
    assert_eq!(
        p[1]["fix"],
        Value::Null,
        "an extended partition is never moved"
    );
    assert_eq!(p[2]["number"], 5);
    assert_eq!(p[2]["start_sector"], 4096);
    assert_eq!(p[2]["aligned"], true);
    assert!(
        v["notes"]
            .to_string()
            .contains("p2 is an extended partition"),
        "{v}"
    );
}
