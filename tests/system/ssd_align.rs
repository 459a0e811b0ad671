//! `opskit ssd-align`: calculator, captured sysfs trees, images built with sfdisk/mkfs and
//! checked against parted and sfdisk, real loop devices, and proof that nothing is written.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{fixtures, opskit, require_root, require_tool, run, shared_fixtures};

fn json(args: &[&str]) -> (i32, Value, String) {
    let (code, out, err) = run(opskit()
        .arg("ssd-align")
        .args(["--format", "json"])
        .args(args));
    let v = serde_json::from_str(&out).unwrap_or(Value::Null);
    (code, v, err)
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
fn calculator_prints_the_layout_commands() {
    let (code, out, err) =
        run(opskit().args(["ssd-align", "--erase-block", "512k", "--legacy-fdisk"]));
    assert_eq!(code, 0, "{err}");
    for want in [
        "grain 512KiB",
        "sector 2048 (512 B) / 256 (4Kn)",
        "grain: 512KiB",
        "pvcreate --dataalignment 512k",
        "vgcreate -s 4096k",
        "mkfs.ext4 -b 4096 -E stride=128,stripe-width=128",
        "mkfs.xfs -b size=4096 -d su=512k,sw=1",
        "fstrim.timer",
        "-c=dos",
        "verdict: calculated",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert_eq!(out.matches("mkfs.ext4").count(), 1);
    assert_eq!(
        out.lines()
            .find(|l| l.contains("mkfs.ext4"))
            .unwrap()
            .matches(" -E ")
            .count(),
        1
    );

    let (code, v, _) = json(&["--erase-block", "1536K"]);
    assert_eq!(code, 0);
    assert_eq!(v["grain_bytes"], 1_572_864);
    assert_eq!(v["stride"], 384);
    assert_eq!(v["first_start_512"], 3072);
    assert_eq!(v["first_start_4096"], 384);
    assert_eq!(v["verdict"], "calculated");
    assert!(v["commands"].as_array().unwrap().len() >= 8);

    let (code, v, _) = json(&[
        "--erase-block",
        "512k",
        "--raid",
        "5",
        "--devices",
        "4",
        "--chunk",
        "64k",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        (v["stride"].as_u64(), v["stripe_width"].as_u64()),
        (Some(16), Some(48))
    );
    assert_eq!(v["raid"]["data_disks"], 3);
    let (_, v, _) = json(&[
        "--erase-block",
        "512k",
        "--raid",
        "10",
        "--devices",
        "4",
        "--chunk",
        "64k",
    ]);
    assert_eq!(v["raid"]["data_disks"], 2);
    let (_, v, _) = json(&["--erase-block", "2048s"]);
    assert_eq!(v["grain_bytes"], 1_048_576);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let truncated = tmp.path().join("truncated.img");
    // an MBR whose partition runs past the end of a 64 KiB file
    let mut mbr = vec![0u8; 65536];
    mbr[446 + 4] = 0x83;
    mbr[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
    mbr[446 + 12..446 + 16].copy_from_slice(&100_000u32.to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xAA;
    std::fs::write(&truncated, &mbr).unwrap();
    let garbage = tmp.path().join("garbage.img");
    std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
    let tiny = tmp.path().join("tiny.img");
    std::fs::write(&tiny, b"x").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--erase-block".into(), "abc".into()], "abc"),
        (vec!["--erase-block".into(), "0".into()], "greater than 0"),
        (
            vec!["--erase-block".into(), "1000".into()],
            "multiple of 512",
        ),
        (
            vec![
                "--erase-block".into(),
                "512k".into(),
                "/dev/nonexistent-opskit".into(),
            ],
            "/dev/nonexistent-opskit",
        ),
        (
            vec![
                "--erase-block".into(),
                "512k".into(),
                truncated.display().to_string(),
            ],
            "past the end",
        ),
        (
            vec![
                "--erase-block".into(),
                "512k".into(),
                garbage.display().to_string(),
            ],
            "no partition table",
        ),
        (
            vec![
                "--erase-block".into(),
                "512k".into(),
                tiny.display().to_string(),
            ],
            "too short",
        ),
        (
            vec![
                "--erase-block".into(),
                "512k".into(),
                "--raid".into(),
                "6".into(),
                "--devices".into(),
                "2".into(),
                "--chunk".into(),
                "64k".into(),
            ],
            "at least 3",
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = run(opskit().arg("ssd-align").args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: partial output {out}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

/// A temp root whose sys/block/<dev> points at a captured tree.
fn sysfs_root(tree: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("sys/block")).unwrap();
    for e in std::fs::read_dir(tree).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            std::os::unix::fs::symlink(e.path(), root.path().join("sys/block").join(e.file_name()))
                .unwrap();
        }
    }
    root
}

pub(crate) fn root_json(root: &Path, dev: &str, eb: &str) -> (i32, Value, String) {
    let (code, out, err) = run(opskit().arg("--root").arg(root).args([
        "ssd-align",
        "--format",
        "json",
        "--erase-block",
        eb,
        dev,
    ]));
    (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

#[test]
fn captured_sysfs_trees() {
    let Some(dir) = shared_fixtures("sysfs") else {
        return;
    };
    // 512/512, p1 at 63 (misaligned), p2 at 2048
    let r = sysfs_root(&dir.join("loop-512-mbr-63-2048"));
    let (code, v, err) = root_json(r.path(), "loop0", "512k");
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["verdict"], "misaligned");
    assert_eq!(
        (v["logical_sector"].as_u64(), v["physical_sector"].as_u64()),
        (Some(512), Some(512))
    );
    let p = v["partitions"].as_array().unwrap();
    assert_eq!(
        (
            p[0]["number"].as_u64(),
            p[0]["start_sector"].as_u64(),
            p[0]["start_bytes"].as_u64()
        ),
        (Some(1), Some(63), Some(32256))
    );
    assert_eq!(p[0]["aligned"], false);
    let reasons: Vec<&str> = p[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("p1 starts at sector 63 = 32256 B, 32256 mod 524288 = 32256")),
        "{reasons:?}"
    );
    // lsblk -D shows DISC-ALN 512 for p1 (4K discard granularity): that check fails too
    assert!(
        reasons.iter().any(|r| r.starts_with("discard_granularity")),
        "{reasons:?}"
    );
    assert_eq!(
        (p[1]["start_sector"].as_u64(), p[1]["aligned"].as_bool()),
        (Some(2048), Some(true))
    );
    assert!(v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("optimal_io_size is 0")));

    // 4Kn: sysfs start/size are in 512-byte units even here (504 = 63 x 8, 2048 = 256 x 8)
    let r = sysfs_root(&dir.join("loop-4kn-mbr-63-256"));
    let (code, v, _) = root_json(r.path(), "loop0", "512k");
    assert_eq!(code, 1);
    assert_eq!(v["logical_sector"], 4096);
    let p = v["partitions"].as_array().unwrap();
    assert_eq!(
        (p[0]["start_bytes"].as_u64(), p[0]["aligned"].as_bool()),
        (Some(504 * 512), Some(false))
    );
    assert_eq!(
        (p[1]["start_bytes"].as_u64(), p[1]["aligned"].as_bool()),
        (Some(2048 * 512), Some(true))
    );

    // a real 512e virtio disk without partitions: nothing misaligned
    let r = sysfs_root(&dir.join("real-virtio-512e-nopart"));
    let (code, v, _) = root_json(r.path(), "vda", "512k");
    assert_eq!(code, 0);
    assert_eq!(
        (v["logical_sector"].as_u64(), v["physical_sector"].as_u64()),
        (Some(512), Some(4096))
    );
    assert_eq!(v["partitions"], serde_json::json!([]));
    // zram reports a believable optimal_io_size of 4096
    let r = sysfs_root(&dir.join("real-zram-4kn"));
    let (code, v, _) = root_json(r.path(), "zram0", "512k");
    assert_eq!(code, 0);
    assert_eq!(v["optimal_io"], 4096);
    // an unknown device under the root
    let (code, _, err) = root_json(r.path(), "sdq", "512k");
    assert_eq!(code, 2);
    assert!(err.contains("no block device 'sdq'"), "{err}");
}

#[test]
fn own_sysfs_trees_usb_bridge_and_md_raid() {
    // fixtures/sysfs/usb-bridge: optimal_io_size 33553920 (0xFFFF x 512) must be ignored;
    // fixtures/sysfs/md-raid5: md0 with level raid5, 4 disks, 64 KiB chunk
    let r = sysfs_root(&fixtures().join("sysfs/usb-bridge"));
    let (code, v, _) = root_json(r.path(), "sdc", "512k");
    assert_eq!(code, 0);
    assert!(v["optimal_io"].is_null());
    assert!(v["notes"].to_string().contains("USB bridge"), "{v}");
    let r = sysfs_root(&fixtures().join("sysfs/md-raid5"));
    let (code, v, err) = root_json(r.path(), "md0", "512k");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["raid"]["level"], "raid5");
    assert_eq!(v["raid"]["source"], "md");
    assert_eq!(
        v["raid"]["members"],
        serde_json::json!(["sda1", "sdb1", "sdc1", "sdd1"])
    );
    assert_eq!(
        (v["stride"].as_u64(), v["stripe_width"].as_u64()),
        (Some(16), Some(48))
    );
}

/// Build a 64 MiB image with an sfdisk script.
fn image(dir: &Path, name: &str, script: &str) -> PathBuf {
    let p = dir.join(name);
    sh(&format!(
        "truncate -s 64M {0} && printf '{script}' | sfdisk -q {0}",
        p.display()
    ));
    p
}

fn parted_aligned(img: &Path, n: u64) -> bool {
    let st = Command::new("parted")
        .args(["-s"])
        .arg(img)
        .args(["align-check", "opt", &n.to_string()])
        .status()
        .unwrap();
    st.success()
}

fn sfdisk_starts(img: &Path) -> Vec<u64> {
    let out = Command::new("sfdisk").arg("-J").arg(img).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["start"].as_u64().unwrap())
        .collect()
}

#[test]
fn images_agree_with_parted_and_sfdisk() {
    if !require_tool("sfdisk") || !require_tool("parted") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mbr = image(tmp.path(), "mbr.img", "label: dos\\nstart=63, size=40000, type=83\\nstart=43008, size=20000, type=83\\ntype=5, start=65536, size=40000\\nstart=67584, size=10000\\nstart=79000, size=10000\\n");
    let gpt = image(
        tmp.path(),
        "gpt.img",
        "label: gpt\\nfirst-lba: 34\\nstart=34, size=40000\\nstart=43008, size=40000\\n",
    );
    for img in [&mbr, &gpt] {
        // parted's "opt" for a file is 1 MiB: the same as --erase-block 1M
        let (code, v, err) = json(&["--erase-block", "1M", img.to_str().unwrap()]);
        assert_eq!(code, 1, "{err}");
        let parts = v["partitions"].as_array().unwrap();
        let ours: Vec<u64> = parts
            .iter()
            .map(|p| p["start_sector"].as_u64().unwrap())
            .collect();
        assert_eq!(ours, sfdisk_starts(img), "{}", img.display());
        for p in parts {
            let n = p["number"].as_u64().unwrap();
            assert_eq!(
                p["aligned"].as_bool().unwrap(),
                parted_aligned(img, n),
                "{} partition {n}",
                img.display()
            );
        }
    }
    let (_, v, _) = json(&["--erase-block", "512k", mbr.to_str().unwrap()]);
    assert_eq!(v["table"], "dos");
    let numbers: Vec<u64> = v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [1, 2, 3, 5, 6],
        "logical partitions inside the extended one"
    );

    // an aligned GPT made from opskit's own printed sfdisk script passes, and parted agrees
    let (_, out, _) = run(opskit().args(["ssd-align", "--erase-block", "1536k"]));
    let script_line = out
        .lines()
        .find(|l| l.contains("| sfdisk"))
        .unwrap()
        .trim()
        .to_string();
    let own = tmp.path().join("own.img");
    sh(&format!(
        "truncate -s 64M {0} && {1}",
        own.display(),
        script_line.replace("/dev/sdX", &own.display().to_string())
    ));
    let (code, v, err) = json(&["--erase-block", "1536k", own.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["partitions"][0]["start_sector"], 3072);
    assert_eq!(sfdisk_starts(&own), [3072]);
    // parted's "opt" is 1 MiB for a file, which 1536 KiB is not a multiple of: parted says
    // no where opskit, checking against the erase block, says yes
    assert!(!parted_aligned(&own, 1));

    // a copy of the GPT image with one byte flipped at `at`, checked: (exit, stdout, stderr)
    let corrupted = |name: &str, at: usize| {
        let bad = tmp.path().join(name);
        let mut bytes = std::fs::read(&gpt).unwrap();
        bytes[at] ^= 0xff;
        std::fs::write(&bad, bytes).unwrap();
        run(opskit()
            .args(["ssd-align", "--erase-block", "512k"])
            .arg(&bad))
    };
    // a corrupted primary header CRC: one line, exit 2 (gptman alone would fall back to the
    // backup header silently)
    let (code, out, err) = corrupted("badcrc.img", 512 + 16);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("CRC") && err.contains("badcrc.img"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // the same for the primary partition entry array (LBA 2): one byte of partition 1's name
    let (code, out, err) = corrupted("badarray.img", 1024 + 56);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("partition entry array")
            && err.contains("CRC")
            && err.contains("badarray.img"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn ext4_xfs_and_lvm_on_images() {
    if !require_tool("mkfs.ext4") || !require_tool("mkfs.xfs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("fs.img");
    sh(&format!(
        "truncate -s 1200M {0} && printf 'label: dos\\nstart=2048, size=40960\\nstart=43008, size=40960\\nstart=86016, size=2200000\\n' | sfdisk -q {0}",
        img.display()
    ));
    // p1: ext4 with stride (one -E with a comma list), p2: ext4 without
    sh(&format!(
        "mkfs.ext4 -q -F -b 4096 -E offset={},stride=128,stripe-width=128 {} 20M",
        2048 * 512,
        img.display()
    ));
    sh(&format!(
        "mkfs.ext4 -q -F -b 4096 -E offset={} {} 20M",
        43008 * 512,
        img.display()
    ));
    // p3: XFS with su=256k, made in its own file and copied in (superblock first)
    let xfs = tmp.path().join("xfs.img");
    sh(&format!(
        "mkfs.xfs -q -l su=32k -d file,name={},size=1g,su=256k,sw=1",
        xfs.display()
    ));
    sh(&format!(
        "dd if={} of={} bs=1M seek=42 count=1 conv=notrunc status=none",
        xfs.display(),
        img.display()
    ));
    // stride/stripe-width and sunit/swidth are tuning: warnings with their fix, not
    // misalignment (every partition starts on the grain: exit 0)
    let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let p = v["partitions"].as_array().unwrap();
    assert_eq!(p[0]["aligned"], true, "{}", p[0]);
    assert_eq!(p[0]["contents"][0]["ext4"]["stride"], 128);
    assert_eq!(p[0]["contents"][0]["ok"], true);
    assert_eq!(p[0]["layers"][0]["kind"], "ext4");
    assert_eq!(p[0]["layers"][0]["start_bytes"], 2048 * 512);
    assert_eq!(p[1]["aligned"], true);
    assert_eq!(p[1]["contents"][0]["ext4"]["stride"], 0);
    assert_eq!(p[1]["contents"][0]["ok"], false);
    assert_eq!(
        p[1]["contents"][0]["fix"],
        "tune2fs -E stride=128,stripe_width=128 /dev/loopXp2"
    );
    assert_eq!(p[2]["contents"][0]["kind"], "xfs");
    assert_eq!(p[2]["contents"][0]["xfs"]["sunit_blocks"], 64);
    // xfs_db reads the same superblock values
    if crate::util::which("xfs_db").is_some() {
        let o = Command::new("xfs_db")
            .args(["-r", "-c", "sb 0", "-c", "p unit width"])
            .arg(&xfs)
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(t.contains("unit = 64") && t.contains("width = 64"), "{t}");
        assert_eq!(p[2]["contents"][0]["xfs"]["swidth_blocks"], 64);
    }
    // dumpe2fs reads the same stride for p1 (extracted)
    if crate::util::which("dumpe2fs").is_some() {
        let p1 = tmp.path().join("p1.ext4");
        sh(&format!(
            "dd if={} of={} bs=1M skip=1 count=20 status=none",
            img.display(),
            p1.display()
        ));
        let o = Command::new("dumpe2fs")
            .arg("-h")
            .arg(&p1)
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(t.contains("RAID stride:              128"), "{t}");
        assert!(t.contains("RAID stripe width:        128"), "{t}");
    }
    assert_eq!(
        p[2]["contents"][0]["ok"], false,
        "su 256k vs an erase block of 512k"
    );
    // no mount option is offered for XFS: the kernel refuses or ignores it (see
    // ssd_align_safety::xfs_stripe_advice_is_what_the_kernel_accepts); recreate, or leave it
    assert!(
        p[2]["contents"][0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("# no mount option fits"),
        "{}",
        p[2]["contents"][0]
    );
    assert_eq!(p[2]["contents"][0]["tune"]["su"], 512 << 10);
    let (_, text, _) = run(opskit()
        .args(["ssd-align", "--erase-block", "512k"])
        .arg(&img));
    assert!(text.contains("TUNE ext4"), "{text}");
    assert!(text.contains("filesystem tuning warning"), "{text}");
    let (code, v, _) = json(&["--erase-block", "256k", img.to_str().unwrap()]);
    assert_eq!(code, 0, "tuning only");
    assert_eq!(
        v["partitions"][0]["contents"][0]["ok"], false,
        "p1's stride 128 is wrong for 256k"
    );

    // the printed fix, applied through a loop device's partition: ext4 is then aligned
    if require_root("losetup -P to apply the tune2fs fix") {
        let l = crate::util::LoopDev::attach(&img, None);
        let part = format!("{}p2", l.0);
        for _ in 0..20 {
            if Path::new(&part).exists() {
                break;
            }
            let _ = Command::new("partx").args(["-a"]).arg(&l.0).status();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let fix = p[1]["contents"][0]["fix"]
            .as_str()
            .unwrap()
            .replace("/dev/loopX", &l.0);
        sh(&format!("{fix} >/dev/null"));
        drop(l);
        let (_, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
        let p2 = &v["partitions"][1];
        assert_eq!(p2["contents"][0]["ext4"]["stride"], 128, "{err}");
        assert_eq!(p2["contents"][0]["ext4"]["stripe_width"], 128, "{p2}");
        assert_eq!(p2["contents"][0]["ok"], true, "{p2}");
    }

    // LVM: pvcreate on a loop device (root), pe_start read back and checked against pvs
    if !require_root("pvcreate on a loop device") || !require_tool("pvcreate") {
        return;
    }
    // 16 MiB: the PV fits the 20 MiB p1 it is copied into (a PV recording a larger device
    // than its partition is a conflict, not a verdict)
    let pv = tmp.path().join("pv.img");
    sh(&format!("truncate -s 16M {}", pv.display()));
    let loopdev = crate::util::LoopDev::attach(&pv, None);
    let out = Command::new("pvcreate")
        .args(["-q", "-y", "--dataalignment", "192k"])
        .arg(&loopdev.0)
        .output()
        .unwrap();
    if !out.status.success() {
        crate::util::skip(format_args!(
            "pvcreate failed here: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    let pvs = Command::new("pvs")
        .args([
            "--noheadings",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            "pe_start",
        ])
        .arg(&loopdev.0)
        .output()
        .unwrap();
    let pe_start: u64 = String::from_utf8_lossy(&pvs.stdout).trim().parse().unwrap();
    drop(loopdev);
    // the PV's first MiB becomes p1 of an image
    let img2 = image(
        tmp.path(),
        "lvm.img",
        "label: dos\\nstart=2048, size=40960, type=8e\\n",
    );
    sh(&format!(
        "dd if={} of={} bs=1M seek=1 count=2 conv=notrunc status=none",
        pv.display(),
        img2.display()
    ));
    let (code, v, err) = json(&["--erase-block", "512k", img2.to_str().unwrap()]);
    let lvm = &v["partitions"][0]["layers"][0];
    assert_eq!(lvm["kind"], "pv", "{v} {err}");
    assert_eq!(
        lvm["info"]["pe_start"].as_u64(),
        Some(pe_start),
        "pvs says {pe_start}"
    );
    assert_eq!(lvm["start_bytes"].as_u64(), Some(1_048_576 + pe_start));
    let aligned = (1_048_576 + pe_start) % 524_288 == 0;
    assert_eq!(lvm["aligned"].as_bool(), Some(aligned));
    assert_eq!(code, if aligned { 0 } else { 1 });
}

#[test]
fn four_kn_loop_devices_through_sysfs_and_as_images() {
    if !require_root("losetup --sector-size 4096") || !require_tool("losetup") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (label, script, starts) in [
        (
            "gpt",
            "label: gpt\nstart=256, size=2000\nstart=2307, size=2000\n",
            [256u64, 2307],
        ),
        (
            "dos",
            "label: dos\nstart=63, size=2000, type=83\nstart=2305, size=2000, type=83\n",
            [63, 2305],
        ),
    ] {
        let img = tmp.path().join(format!("{label}4k.img"));
        sh(&format!("truncate -s 64M {}", img.display()));
        {
            let l = crate::util::LoopDev::attach(&img, Some(4096));
            let mut child = Command::new("sfdisk")
                .args(["-q"])
                .arg(&l.0)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(script.as_bytes())
                .unwrap();
            assert!(child.wait().unwrap().success());
            let _ = Command::new("partx").args(["-u"]).arg(&l.0).status();
            // the kernel's view through sysfs: starts in 512-byte units
            let (code, v, err) = json(&["--erase-block", "512k", &l.0]);
            assert_eq!(code, 1, "{label}: {err}");
            assert_eq!(v["source"], "sysfs");
            assert_eq!(v["logical_sector"], 4096);
            let p = v["partitions"].as_array().unwrap();
            assert_eq!(p.len(), 2, "{label}: {v}");
            assert_eq!(p[0]["start_bytes"].as_u64(), Some(starts[0] * 4096));
            assert_eq!(p[1]["start_bytes"].as_u64(), Some(starts[1] * 4096));
            // the on-disk table, in the device's own 4096-byte sectors
            assert_eq!(p[0]["start_sector"].as_u64(), Some(starts[0]));
            assert_eq!(p[0]["sector_bytes"], 4096);
            let evidence = if label == "gpt" {
                "gpt_header"
            } else {
                "logical_block_size"
            };
            assert_eq!(v["sector_evidence"], evidence);
            // the same device under another name (as /dev/disk/by-id/... or /dev/mapper/...
            // are): found by its device number, not by the link's name
            let link = tmp.path().join(format!("by-id-{label}"));
            std::os::unix::fs::symlink(&l.0, &link).unwrap();
            let (code, v2, err) = json(&["--erase-block", "512k", link.to_str().unwrap()]);
            assert_eq!(code, 1, "{label}: {err}");
            assert_eq!(v2["source"], "sysfs");
            let starts_of = |v: &Value| -> Vec<u64> {
                v["partitions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["start_bytes"].as_u64().unwrap())
                    .collect()
            };
            assert_eq!(starts_of(&v2), starts_of(&v), "{label}");
            // a misaligned partition on a device gets a move command in the device's own
            // (4096-byte) sectors
            let fix = v["partitions"][1]["fix"].as_str().unwrap_or_default();
            let want = (starts[1] * 4096).div_ceil(524_288) * 524_288 / 4096;
            assert!(
                fix.starts_with(&format!("echo '{want},' | sfdisk --move-data {} -N 2", l.0)),
                "{label}: {fix}"
            );
        }
        // the same image read as a file: the 4096-byte sectors are detected (GPT) or given
        let mut args = vec!["--erase-block", "512k"];
        if label == "dos" {
            args.extend(["--sector-size", "4096"]);
        }
        let path = img.display().to_string();
        args.push(&path);
        let (code, v, err) = json(&args);
        assert_eq!(code, 1, "{label}: {err}");
        assert_eq!(v["logical_sector"], 4096, "{label}");
        let p = v["partitions"].as_array().unwrap();
        assert_eq!(p[0]["start_sector"].as_u64(), Some(starts[0]));
        let want_aligned = starts[0] * 4096 % 524_288 == 0;
        assert_eq!(p[0]["aligned"].as_bool(), Some(want_aligned), "{label}");
        assert_eq!(p[1]["aligned"], false);
    }
}

#[test]
fn never_opens_anything_for_writing() {
    if !require_tool("strace") || !require_tool("sfdisk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(
        tmp.path(),
        "ro.img",
        "label: dos\\nstart=63, size=40000, type=83\\n",
    );
    sh(&format!(
        "mkfs.ext4 -q -F -E offset={} {} 16M",
        63 * 512,
        img.display()
    ));
    let before = std::fs::read(&img).unwrap();
    let log = tmp.path().join("strace.log");
    let st = Command::new("strace")
        .args(["-f", "-e", "trace=open,openat,creat", "-o"])
        .arg(&log)
        .arg(crate::util::bin())
        .args(["ssd-align", "--erase-block", "512k", "--format", "json"])
        .arg(&img)
        .output()
        .unwrap();
    if !log.exists() {
        crate::util::skip_expected(format_args!(
            "strace cannot trace here: {}",
            String::from_utf8_lossy(&st.stderr)
        ));
        return;
    }
    assert_eq!(st.status.code(), Some(1));
    let trace = std::fs::read_to_string(&log).unwrap();
    let opens: Vec<&str> = trace.lines().filter(|l| l.contains("ro.img")).collect();
    assert!(!opens.is_empty(), "the image was never opened? {trace}");
    for l in trace.lines().filter(|l| l.contains("open")) {
        assert!(
            !(l.contains("O_WRONLY")
                || l.contains("O_RDWR")
                || l.contains("O_CREAT")
                || l.contains("creat(")),
            "write open: {l}"
        );
    }
    assert_eq!(std::fs::read(&img).unwrap(), before, "the image changed");
}

#[test]
fn the_printed_move_command_aligns_a_partition_and_keeps_its_data() {
    if !require_tool("sfdisk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (label, script) in [
        (
            "dos",
            "label: dos\nstart=63, size=20000, type=83\nstart=40960, size=20000, type=83\n",
        ),
        (
            "gpt",
            "label: gpt\nfirst-lba: 34\nstart=40, size=20000\nstart=40960, size=20000\n",
        ),
    ] {
        let img = tmp.path().join(format!("move-{label}.img"));
        sh(&format!(
            "truncate -s 64M {0} && printf '{script}' | sfdisk -q {0}",
            img.display()
        ));
        let old_start: u64 = if label == "dos" { 63 } else { 40 };
        // a marker where p1's data begins
        let mut bytes = std::fs::read(&img).unwrap();
        let at = (old_start * 512) as usize;
        bytes[at..at + 12].copy_from_slice(b"OPSKIT-MARK1");
        std::fs::write(&img, bytes).unwrap();

        let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
        assert_eq!(code, 1, "{label}: {err}");
        let p = &v["partitions"];
        assert_eq!(p[1]["fix"], Value::Null, "{label}: p2 is aligned");
        let fix = p[0]["fix"]
            .as_str()
            .unwrap_or_else(|| panic!("{label}: {v}"));
        assert!(
            fix.starts_with(&format!(
                "echo '1024,' | sfdisk --move-data {} -N 1",
                img.display()
            )),
            "{fix}"
        );
        // run it as printed (sfdisk keeps its move log in $HOME)
        let st = Command::new("sh")
            .arg("-c")
            .arg(fix)
            .env("HOME", tmp.path())
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
        let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
        assert_eq!(code, 0, "{label}: {err} {v}");
        assert_eq!(v["partitions"][0]["start_sector"], 1024);
        assert_eq!(
            v["partitions"][0]["size_bytes"],
            20000 * 512,
            "{label}: size kept"
        );
        let bytes = std::fs::read(&img).unwrap();
        assert_eq!(
            &bytes[1024 * 512..1024 * 512 + 12],
            b"OPSKIT-MARK1",
            "{label}: data moved"
        );
    }

    // no room before the next partition: no command, a note saying why
    let img = tmp.path().join("tight.img");
    sh(&format!(
        "truncate -s 64M {0} && printf 'label: dos\\nstart=63, size=1000, type=83\\nstart=1100, size=2000, type=83\\n' | sfdisk -q {0}",
        img.display()
    ));
    // both 512- and 4096-byte readings fit and nothing is on the partitions: both readings
    // are misaligned, so the verdict is given, but no move (the moves differ)
    let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["sector_evidence"], "unsettled");
    assert_eq!(
        v["both_readings"],
        serde_json::json!({"aligned_512": false, "aligned_4096": false})
    );
    assert_eq!(
        v["partitions"][0]["move"]["blocked"]["reason"],
        "sector_size_unsettled"
    );
    assert_eq!(v["partitions"][0]["fix"], Value::Null, "{v}");
    let (code, v, _) = json(&[
        "--erase-block",
        "512k",
        "--sector-size",
        "512",
        img.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(v["sector_evidence"], "option");
    assert_eq!(v["partitions"][0]["fix"], Value::Null, "{v}");
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("cannot move to byte 524288")),
        "{v}"
    );
}
