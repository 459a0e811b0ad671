//! `opskit ssd-align` through real metadata: LUKS1/LUKS2 written by cryptsetup, LVM2 written
//! by pvcreate/vgcreate/lvcreate (without device-mapper), md v1.2 superblocks written here
//! from the documented layout and checked with `mdadm --examine`; every value cross-checked
//! with the real tool, and every printed move run on the image and re-checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{opskit, require_root, require_tool, run};

/// Run a shell command; its stdout (panics with stderr on failure).
pub(crate) fn sh(cmd: &str) -> String {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A sparse image of `mib` MiB with an sfdisk script, in 512-byte sectors or (through a
/// loop device, as root) 4096-byte ones: sfdisk has no --sector-size for a file.
pub(crate) fn image(dir: &Path, name: &str, mib: u64, sector: u64, script: &str) -> PathBuf {
    let p = dir.join(name);
    sh(&format!("truncate -s {mib}M {}", p.display()));
    if sector == 512 {
        sh(&format!("printf '{script}' | sfdisk -q {}", p.display()));
    } else {
        let dev = sh(&format!(
            "losetup -f --show --sector-size {sector} {}",
            p.display()
        ));
        let dev = dev.trim();
        let r = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '{script}' | sfdisk -q {dev}"))
            .status();
        let _ = Command::new("losetup").args(["-d", dev]).status();
        assert!(r.unwrap().success());
    }
    p
}

/// Copy `len` bytes of `src` into `img` at byte `at`.
pub(crate) fn put(img: &Path, at: u64, src: &Path, len: u64) {
    sh(&format!(
        "dd if={} of={} bs=4096 seek={at} count={len} iflag=count_bytes oflag=seek_bytes conv=notrunc,sparse status=none",
        src.display(),
        img.display()
    ));
}

/// `len` bytes of `img` at `at` as a new file.
pub(crate) fn extract(img: &Path, at: u64, len: u64, out: &Path) {
    sh(&format!(
        "dd if={} of={} bs=4096 skip={at} count={len} iflag=skip_bytes,count_bytes status=none",
        img.display(),
        out.display()
    ));
}

pub(crate) fn write_at(img: &Path, at: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(img).unwrap();
    f.write_all_at(bytes, at).unwrap();
}

pub(crate) fn read_at(img: &Path, at: u64, n: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(img).unwrap();
    let mut b = vec![0u8; n];
    f.read_exact_at(&mut b, at).unwrap();
    b
}

/// ssd-align on `img`: (exit, JSON, text, stderr).
pub(crate) fn check(eb: &str, img: &Path) -> (i32, Value, String, String) {
    let (code, out, err) = run(opskit()
        .args(["ssd-align", "--format", "json", "--erase-block", eb])
        .arg(img));
    let (_, text, _) = run(opskit().args(["ssd-align", "--erase-block", eb]).arg(img));
    (
        code,
        serde_json::from_str(&out).unwrap_or(Value::Null),
        text,
        err,
    )
}

/// Run a printed fix as printed (sfdisk keeps its move log in $HOME).
pub(crate) fn run_fix(fix: &str, home: &Path) {
    let st = Command::new("sh")
        .arg("-c")
        .arg(fix)
        .env("HOME", home)
        .current_dir(home)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{fix}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

// ---------------------------------------------------------------------------------------
// LUKS

/// A LUKS file of 40 MiB made by cryptsetup with `args` (fast, throwaway key).
pub(crate) fn luks(dir: &Path, name: &str, args: &str) -> PathBuf {
    let f = dir.join(name);
    let key = dir.join("key");
    std::fs::write(&key, b"opskit-test-key").unwrap();
    sh(&format!(
        "truncate -s 40M {0} && cryptsetup luksFormat -q --key-file {1} --pbkdf-force-iterations 1000 {args} {0}",
        f.display(),
        key.display()
    ));
    f
}

/// The data offset `cryptsetup luksDump` reports, in bytes.
pub(crate) fn luks_dump_offset(f: &Path) -> u64 {
    let d = sh(&format!("cryptsetup luksDump {}", f.display()));
    if let Some(l) = d.lines().find(|l| l.starts_with("Payload offset:")) {
        return l.split_whitespace().last().unwrap().parse::<u64>().unwrap() * 512;
    }
    let l = d
        .lines()
        .find(|l| l.trim_start().starts_with("offset:"))
        .unwrap_or_else(|| panic!("{d}"));
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

pub(crate) fn luks_uuid(f: &Path) -> String {
    sh(&format!("cryptsetup luksUUID {}", f.display()))
        .trim()
        .to_string()
}

fn layer(v: &Value, part: usize, i: usize) -> &Value {
    &v["partitions"][part]["layers"][i]
}

#[test]
fn luks1_and_luks2_data_offsets_aligned_and_4k_off() {
    if !require_tool("cryptsetup") || !require_tool("sfdisk") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let mib = 1u64 << 20;
    for (name, args, aligned) in [
        ("luks2-ok", "--type luks2 --pbkdf pbkdf2", true),
        (
            "luks2-4k",
            "--type luks2 --pbkdf pbkdf2 --offset 32776",
            false,
        ),
        ("luks1-ok", "--type luks1", true),
        ("luks1-4097", "--type luks1 --align-payload 4097", false),
    ] {
        let l = luks(d.path(), &format!("{name}.luks"), args);
        let off = luks_dump_offset(&l);
        let img = image(
            d.path(),
            &format!("{name}.img"),
            64,
            512,
            "label: gpt\\nstart=2048, size=100000\\n",
        );
        put(&img, mib, &l, 40 * mib);
        let (code, v, text, err) = check("512k", &img);
        assert_eq!(code, if aligned { 0 } else { 1 }, "{name}: {err}\n{text}");
        let kind = if name.starts_with("luks2") {
            "luks2"
        } else {
            "luks1"
        };
        assert_eq!(layer(&v, 0, 0)["kind"], kind, "{name}: {v}");
        assert_eq!(
            layer(&v, 0, 0)["start_bytes"].as_u64(),
            Some(mib + off),
            "{name}: luksDump says the data is at +{off}"
        );
        assert_eq!(layer(&v, 0, 0)["aligned"], aligned, "{name}");
        assert_eq!(v["partitions"][0]["aligned"], aligned, "{name}");
        let label = if kind == "luks2" { "LUKS2" } else { "LUKS1" };
        assert!(
            text.contains(&format!("loopXp1 @1MiB -> {label} data @+")),
            "{name}: {text}"
        );
        if !aligned {
            assert!(
                v["partitions"][0]["reasons"][0]
                    .as_str()
                    .unwrap()
                    .contains(&format!("{label} data starts at {}", mib + off)),
                "{name}: {v}"
            );
            // the partition is aligned, the header's offset is not: moving the partition by
            // the difference puts the data on the grain; applied, cryptsetup still reads the
            // header and the data sits on the grain
            let fix = v["partitions"][0]["fix"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {v}"));
            let uuid = luks_uuid(&l);
            write_at(&img, mib + off, b"OPSKIT-LUKS");
            run_fix(fix, d.path());
            let (code, v, text, err) = check("512k", &img);
            assert_eq!(code, 0, "{name}: {err}\n{text}");
            let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
            assert_eq!((start + off) % (512 << 10), 0, "{name}");
            let moved = d.path().join(format!("{name}.moved"));
            extract(&img, start, 40 * mib, &moved);
            assert_eq!(luks_uuid(&moved), uuid, "{name}");
            assert_eq!(luks_dump_offset(&moved), off, "{name}");
            assert_eq!(read_at(&img, start + off, 11), b"OPSKIT-LUKS", "{name}");
        }
    }
}

#[test]
fn a_luks_offset_that_compensates_is_aligned_where_it_matters() {
    if !require_tool("cryptsetup") || !require_tool("sfdisk") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    // p1 at sector 63; the LUKS1 payload at 63 + 34753 = 34816 sectors = 17 MiB (LUKS2 only
    // takes offsets in whole 4 KiB, which cannot compensate 63 sectors)
    let l = luks(d.path(), "comp.luks", "--type luks1 --align-payload 34753");
    let img = image(
        d.path(),
        "comp.img",
        64,
        512,
        "label: dos\\nstart=63, size=100000, type=83\\n",
    );
    put(&img, 63 * 512, &l, 40 << 20);
    let (code, v, text, err) = check("512k", &img);
    assert_eq!(code, 0, "{err}\n{text}");
    assert_eq!(layer(&v, 0, 0)["start_bytes"], 17 << 20);
    assert_eq!(v["partitions"][0]["fix"], Value::Null);
    assert!(text.contains("aligned where it matters"), "{text}");
    assert!(!text.contains("sfdisk --move-data"), "{text}");
}

#[test]
fn moving_a_misaligned_luks_partition_keeps_the_header_and_aligns_the_data() {
    if !require_tool("cryptsetup") || !require_tool("sfdisk") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let l = luks(d.path(), "mv.luks", "--type luks2 --pbkdf pbkdf2");
    let uuid = luks_uuid(&l);
    let img = image(
        d.path(),
        "mv.img",
        64,
        512,
        "label: dos\\nstart=63, size=90000, type=83\\n",
    );
    put(&img, 63 * 512, &l, 40 << 20);
    let data = 63 * 512 + (16 << 20);
    write_at(&img, data, b"OPSKIT-PAYLOAD");
    let (code, v, _, err) = check("512k", &img);
    assert_eq!(code, 1, "{err}");
    let fix = v["partitions"][0]["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        fix.contains("p1 holds LUKS2: moving it moves the header with it"),
        "{fix}"
    );
    assert!(fix.contains("back it up"), "{fix}");
    run_fix(fix, d.path());
    let (code, v, text, err) = check("512k", &img);
    assert_eq!(code, 0, "{err}\n{text}");
    let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
    assert_eq!(start % 524_288, 0);
    assert_eq!(layer(&v, 0, 0)["aligned"], true);
    // the header moved with the data: cryptsetup still reads it, the payload is intact
    let moved = d.path().join("moved.luks");
    extract(&img, start, 40 << 20, &moved);
    assert_eq!(luks_uuid(&moved), uuid);
    assert_eq!(read_at(&img, start + (16 << 20), 14), b"OPSKIT-PAYLOAD");
}

#[test]
fn four_kn_mbr_with_luks_is_read_in_4096_byte_sectors_and_moved_in_them() {
    if !require_root("losetup --sector-size 4096")
        || !require_tool("cryptsetup")
        || !require_tool("sfdisk")
    {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let l = luks(
        d.path(),
        "4k.luks",
        "--type luks2 --pbkdf pbkdf2 --sector-size 4096",
    );
    let uuid = luks_uuid(&l);
    let img = image(
        d.path(),
        "4kn.img",
        96,
        4096,
        "label: dos\\nstart=63, size=12000, type=83\\n",
    );
    put(&img, 63 * 4096, &l, 40 << 20);
    let (code, v, text, err) = check("512k", &img);
    assert_eq!(code, 1, "{err}\n{text}");
    assert_eq!(v["logical_sector"], 4096);
    assert_eq!(v["sector_evidence"], "signatures", "{v}");
    assert!(
        text.contains("signatures at the partition starts"),
        "{text}"
    );
    assert_eq!(v["partitions"][0]["start_bytes"], 63 * 4096);
    assert_eq!(layer(&v, 0, 0)["kind"], "luks2");
    assert_eq!(layer(&v, 0, 0)["info"]["sector_size"], 4096);
    let fix = v["partitions"][0]["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    // sfdisk reads a file in 512-byte sectors: the move goes through a 4Kn loop device
    assert!(
        fix.starts_with(&format!(
            "L=$(losetup -f --show --sector-size 4096 {}) && echo '128,' | sfdisk --move-data \"$L\" -N 1; losetup -d \"$L\"",
            img.display()
        )),
        "{fix}"
    );
    run_fix(fix, d.path());
    let (code, v, _, err) = check("512k", &img);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["partitions"][0]["start_bytes"], 128 * 4096);
    let moved = d.path().join("moved.luks");
    extract(&img, 128 * 4096, 40 << 20, &moved);
    assert_eq!(
        luks_uuid(&moved),
        uuid,
        "the header moved with the partition"
    );
}

// ---------------------------------------------------------------------------------------
// LVM

/// A PV made on a loop device over a 48 MiB file, restricted to that device and leaving no
/// trace on the host (no backups, no udev, no device-mapper).
pub(crate) struct Pv {
    pub(crate) file: PathBuf,
    pub(crate) dev: String,
    pub(crate) vg: String,
}

impl Pv {
    pub(crate) fn cfg(&self) -> String {
        format!(
            "devices {{ filter=[\"a|^{}$|\",\"r|.*|\"] obtain_device_list_from_udev=0 use_devicesfile=0 }} activation {{ udev_sync=0 udev_rules=0 }} backup {{ backup=0 archive=0 }}",
            self.dev
        )
    }

    pub(crate) fn lvm(&self, cmd: &str, args: &str) -> String {
        sh(&format!(
            "LVM_SUPPRESS_FD_WARNINGS=1 {cmd} --config '{}' {args} 2>&1",
            self.cfg()
        ))
    }

    /// pvcreate `pv_args`, then a VG with 4 MiB extents and LVs of the given extents.
    pub(crate) fn new(dir: &Path, name: &str, pv_args: &str, lvs: &[u64]) -> Pv {
        let file = dir.join(format!("{name}.pv"));
        sh(&format!("truncate -s 48M {}", file.display()));
        let dev = sh(&format!("losetup -f --show {}", file.display()))
            .trim()
            .to_string();
        let pv = Pv {
            file,
            dev,
            vg: format!("opskit{}{name}", std::process::id()),
        };
        pv.lvm("pvcreate", &format!("-q -y {pv_args} {}", pv.dev));
        pv.lvm(
            "vgcreate",
            &format!("-q --setautoactivation n -s 4m {} {}", pv.vg, pv.dev),
        );
        for (i, n) in lvs.iter().enumerate() {
            pv.lvm(
                "lvcreate",
                &format!("-q --driverloaded n -an -Zn -l {n} -n lv{i} {}", pv.vg),
            );
        }
        pv
    }

    pub(crate) fn pe_start(&self) -> u64 {
        self.lvm(
            "pvs",
            &format!("--noheadings --units b --nosuffix -o pe_start {}", self.dev),
        )
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next()
        .unwrap()
    }

    /// Each LV's first physical extent (`lvs -o seg_pe_ranges`: `/dev/loopN:1-2`).
    fn first_pes(&self) -> Vec<u64> {
        self.lvm(
            "lvs",
            &format!(
                "--noheadings -o lv_name,seg_pe_ranges --sort lv_name {}",
                self.vg
            ),
        )
        .lines()
        .filter_map(|l| {
            let r = l.split_whitespace().nth(1)?;
            r.rsplit(':').next()?.split('-').next()?.parse().ok()
        })
        .collect()
    }
}

impl Drop for Pv {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

pub(crate) fn lvm_ready() -> bool {
    require_root("pvcreate on a loop device") && require_tool("pvcreate") && require_tool("sfdisk")
}

#[test]
fn lv_extents_off_a_1536k_erase_block_are_found_per_segment() {
    if !lvm_ready() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let pv = Pv::new(d.path(), "eb1536", "--dataalignment 1536k", &[1, 2]);
    let (pe_start, pes) = (pv.pe_start(), pv.first_pes());
    assert_eq!(pes, [0, 1], "lvs");
    let img = image(
        d.path(),
        "lv.img",
        64,
        512,
        "label: gpt\\nstart=3072, size=100000\\n",
    );
    put(&img, 3072 * 512, &pv.file, 48 << 20);
    let (code, v, text, err) = check("1536k", &img);
    assert_eq!(code, 1, "{err}\n{text}");
    let base = 3072 * 512;
    assert_eq!(layer(&v, 0, 0)["kind"], "pv");
    assert_eq!(
        layer(&v, 0, 0)["info"]["pe_start"].as_u64(),
        Some(pe_start),
        "pvs"
    );
    assert_eq!(layer(&v, 0, 0)["aligned"], true);
    // lv0 on PE 0 (aligned), lv1 on PE 1: 1.5 + 1.5 + 4 = 7 MiB, 1 MiB off a 1536 KiB grain
    for (i, pe) in pes.iter().enumerate() {
        let l = layer(&v, 0, 1 + i);
        assert_eq!(l["kind"], "lv");
        assert_eq!(
            l["start_bytes"].as_u64(),
            Some(base + pe_start + pe * (4 << 20)),
            "{l}"
        );
    }
    assert_eq!(layer(&v, 0, 2)["start_bytes"], 7 << 20);
    assert_eq!(layer(&v, 0, 1)["aligned"], true);
    assert_eq!(layer(&v, 0, 2)["aligned"], false);
    assert!(text.contains("/lv1 data @7MiB (MISALIGNED)"), "{text}");
    assert_eq!(v["partitions"][0]["fix"], Value::Null);
    assert!(v["notes"].to_string().contains("pvmove"), "{v}");
    assert!(v["notes"].to_string().contains("vgcreate -s 4608k"), "{v}");
}

#[test]
fn a_pv_realigned_by_dataalignmentoffset_is_not_moved() {
    if !lvm_ready() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    // p1 at sector 63 (32256 B): 961 sectors of offset put pe_start + 32256 on 512 KiB
    let pv = Pv::new(
        d.path(),
        "dao",
        "--dataalignment 512k --dataalignmentoffset 961s",
        &[2],
    );
    let pe_start = pv.pe_start();
    assert_eq!(
        (63 * 512 + pe_start) % 524_288,
        0,
        "pvs says pe_start {pe_start}"
    );
    // ext4 in lv0 (PE 0), without stride
    sh(&format!(
        "mkfs.ext4 -q -F -b 4096 -E offset={pe_start} {} 8M",
        pv.file.display()
    ));
    let img = image(
        d.path(),
        "dao.img",
        64,
        512,
        "label: dos\\nstart=63, size=100000, type=8e\\n",
    );
    put(&img, 63 * 512, &pv.file, 48 << 20);
    let (code, v, text, err) = check("512k", &img);
    assert_eq!(code, 0, "{err}\n{text}");
    assert_eq!(v["partitions"][0]["aligned"], true);
    assert_eq!(
        v["partitions"][0]["checks"][0]["aligned"], false,
        "p1 itself is off"
    );
    assert_eq!(v["partitions"][0]["fix"], Value::Null);
    assert!(text.contains("aligned where it matters"), "{text}");
    assert!(!text.contains("--move-data"), "{text}");
    // the filesystem inside the LV is found, and its tuning fix names the LV
    assert_eq!(layer(&v, 0, 2)["kind"], "ext4", "{v}");
    assert_eq!(
        v["partitions"][0]["contents"][0]["fix"],
        format!("tune2fs -E stride=128,stripe_width=128 /dev/{}/lv0", pv.vg)
    );
}

#[test]
fn moving_a_misaligned_pv_partition_keeps_the_vg_and_aligns_every_lv() {
    if !lvm_ready() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let pv = Pv::new(d.path(), "mv", "--dataalignment 512k", &[2, 3]);
    let pe_start = pv.pe_start();
    let img = image(
        d.path(),
        "mvpv.img",
        64,
        512,
        "label: dos\\nstart=63, size=100000, type=8e\\n",
    );
    put(&img, 63 * 512, &pv.file, 48 << 20);
    write_at(&img, 63 * 512 + pe_start, b"OPSKIT-LV0");
    let (code, v, _, err) = check("512k", &img);
    assert_eq!(code, 1, "{err}");
    let fix = v["partitions"][0]["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        fix.contains("p1 holds PV: moving it moves the header with it"),
        "{fix}"
    );
    run_fix(fix, d.path());
    let (code, v, text, err) = check("512k", &img);
    assert_eq!(code, 0, "{err}\n{text}");
    let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
    for l in v["partitions"][0]["layers"].as_array().unwrap() {
        assert_eq!(l["aligned"], true, "{l}");
    }
    assert_eq!(read_at(&img, start + pe_start, 10), b"OPSKIT-LV0");
    // LVM itself still finds the VG on the moved partition, pe_start unchanged
    drop(pv);
    let moved = d.path().join("moved.pv");
    extract(&img, start, 48 << 20, &moved);
    let dev = sh(&format!("losetup -f --show {}", moved.display()))
        .trim()
        .to_string();
    let check_pv = Pv {
        file: moved,
        dev,
        vg: String::new(),
    };
    assert_eq!(check_pv.pe_start(), pe_start);
}

// ---------------------------------------------------------------------------------------
// md

/// mdadm's calc_sb_1_csum, written again here from the kernel's md_p.h layout.
fn sb1_csum(sb: &[u8]) -> u32 {
    let max_dev = u32::from_le_bytes(sb[220..224].try_into().unwrap()) as usize;
    let size = 256 + 2 * max_dev;
    let mut sum: u64 = 0;
    for i in (0..size - size % 4).step_by(4) {
        if i != 216 {
            sum += u64::from(u32::from_le_bytes(sb[i..i + 4].try_into().unwrap()));
        }
    }
    if size % 4 == 2 {
        sum += u64::from(u16::from_le_bytes(sb[size - 2..size].try_into().unwrap()));
    }
    ((sum & 0xffff_ffff) + (sum >> 32)) as u32
}

/// An md v1.2 superblock (at 4 KiB into the member) for a member of `member_sectors`.
pub(crate) fn md12(
    level: i32,
    layout: u32,
    chunk_k: u32,
    disks: u32,
    data_offset: u64,
    member_sectors: u64,
) -> Vec<u8> {
    md1(
        level,
        layout,
        chunk_k,
        disks,
        data_offset,
        member_sectors,
        8,
    )
}

/// An md v1.x superblock at `super_offset` sectors into the member.
pub(crate) fn md1(
    level: i32,
    layout: u32,
    chunk_k: u32,
    disks: u32,
    data_offset: u64,
    member_sectors: u64,
    super_offset: u64,
) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    let w32 = |b: &mut Vec<u8>, o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    let w64 = |b: &mut Vec<u8>, o: usize, v: u64| b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    w32(&mut b, 0, 0xa92b_4efc);
    w32(&mut b, 4, 1);
    for (i, x) in b[16..32].iter_mut().enumerate() {
        *x = 0x10 + i as u8; // set_uuid
    }
    b[32..40].copy_from_slice(b"opskit:0");
    w64(&mut b, 64, 1_700_000_000);
    w32(&mut b, 72, level as u32);
    w32(&mut b, 76, layout);
    let data_size = member_sectors - data_offset;
    let data_size = if super_offset > data_offset {
        super_offset - data_offset
    } else {
        data_size
    };
    w64(&mut b, 80, data_size);
    w32(&mut b, 88, chunk_k * 2);
    w32(&mut b, 92, disks);
    w64(&mut b, 128, data_offset);
    w64(&mut b, 136, data_size);
    w64(&mut b, 144, super_offset);
    w32(&mut b, 160, 0); // dev_number
    for (i, x) in b[168..184].iter_mut().enumerate() {
        *x = 0x40 + i as u8; // device_uuid
    }
    w64(&mut b, 192, 1_700_000_000);
    w64(&mut b, 200, 1); // events
    w64(&mut b, 208, u64::MAX); // resync_offset: clean
    w32(&mut b, 220, disks); // max_dev
    for i in 0..disks as usize {
        b[256 + 2 * i..258 + 2 * i].copy_from_slice(&(i as u16).to_le_bytes());
    }
    let c = sb1_csum(&b);
    w32(&mut b, 216, c);
    b
}

pub(crate) fn examine(member: &Path) -> String {
    sh(&format!("mdadm --examine {} 2>&1", member.display()))
}

#[test]
fn md_members_data_offset_right_and_wrong_and_raid10_on_three_disks() {
    if !require_tool("sfdisk") || !require_tool("mdadm") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let member_sectors = 100_000u64;
    // raid10 near=2 (layout 0x102) over 3 disks, 512 KiB chunk: valid (md's default layout)
    for (name, off, aligned) in [("md-ok", 2048u64, true), ("md-2200", 2200, false)] {
        let img = image(
            d.path(),
            &format!("{name}.img"),
            64,
            512,
            "label: gpt\\nstart=2048, size=100000\\n",
        );
        let sb = md12(10, 0x102, 512, 3, off, member_sectors);
        write_at(&img, (2048 * 512) + 4096, &sb);
        // mdadm reads our superblock back
        let member = d.path().join(format!("{name}.member"));
        extract(&img, 2048 * 512, member_sectors * 512, &member);
        let ex = examine(&member);
        for want in [
            "Version : 1.2".to_string(),
            "Raid Level : raid10".into(),
            "Raid Devices : 3".into(),
            "Chunk Size : 512K".into(),
            "Layout : near=2".into(),
            format!("Data Offset : {off} sectors"),
        ] {
            assert!(
                ex.contains(&want),
                "{name}: mdadm --examine lacks {want:?}:\n{ex}"
            );
        }
        let (code, v, text, err) = check("512k", &img);
        assert_eq!(code, if aligned { 0 } else { 1 }, "{name}: {err}\n{text}");
        let l = layer(&v, 0, 0);
        assert_eq!(l["kind"], "md");
        assert_eq!(l["start_bytes"].as_u64(), Some((2048 + off) * 512));
        assert_eq!(l["info"]["level"], 10);
        assert_eq!(l["info"]["raid_disks"], 3);
        assert_eq!(l["info"]["chunk_bytes"], 512 << 10);
        assert_eq!(l["info"]["version"], "1.2");
        assert_eq!(l["aligned"], aligned, "{name}");
        assert!(text.contains("md data @+"), "{text}");
        if !aligned {
            assert_eq!(v["partitions"][0]["fix"], Value::Null);
            assert!(v["notes"].to_string().contains("md member"), "{v}");
        }
    }
}

#[test]
fn md_1_0_raid1_member_with_ext4_inside_is_followed_to_the_filesystem() {
    if !require_tool("sfdisk") || !require_tool("mdadm") || !require_tool("mkfs.ext4") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let sectors = 100_000u64;
    let img = image(
        d.path(),
        "md10.img",
        64,
        512,
        "label: gpt\\nstart=2048, size=100000\\n",
    );
    // ext4 at the member's start (a 1.0 superblock sits at the end: data_offset 0)
    sh(&format!(
        "mkfs.ext4 -q -F -b 4096 -E offset={},stride=128,stripe-width=128 {} 40M",
        2048 * 512,
        img.display()
    ));
    let super_offset = (sectors - 16) & !7;
    write_at(
        &img,
        (2048 + super_offset) * 512,
        &md1(1, 0, 0, 2, 0, sectors, super_offset),
    );
    let member = d.path().join("md10.member");
    extract(&img, 2048 * 512, sectors * 512, &member);
    let ex = examine(&member);
    for want in ["Version : 1.0", "Raid Level : raid1", "Raid Devices : 2"] {
        assert!(ex.contains(want), "mdadm --examine lacks {want:?}:\n{ex}");
    }
    let (code, v, text, err) = check("512k", &img);
    assert_eq!(code, 0, "{err}\n{text}");
    assert_eq!(layer(&v, 0, 0)["kind"], "md");
    assert_eq!(layer(&v, 0, 0)["info"]["version"], "1.0");
    assert_eq!(layer(&v, 0, 0)["start_bytes"], 2048 * 512);
    assert_eq!(
        layer(&v, 0, 1)["kind"],
        "ext4",
        "a mirror's content is read in place: {v}"
    );
    assert_eq!(v["partitions"][0]["contents"][0]["ext4"]["stride"], 128);
    // dumpe2fs agrees on the stride
    let dump = sh(&format!("dumpe2fs -h {} 2>/dev/null", member.display()));
    assert!(dump.contains("RAID stride:              128"), "{dump}");
    assert!(text.contains("md data @+0 B -> ext4"), "{text}");
}

#[test]
fn lvm_names_from_a_hostile_disk_are_escaped() {
    if !lvm_ready() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let pv = Pv::new(d.path(), "esc", "--dataalignment 512k", &[1]);
    let img = image(
        d.path(),
        "esc.img",
        64,
        512,
        "label: gpt\\nstart=2048, size=100000\\n",
    );
    put(&img, 1 << 20, &pv.file, 48 << 20);
    // rename "lv0" in every copy of the metadata text: first to ESC c 0 (a terminal reset),
    // then to ESC [ H, which LVM's grammar does not allow
    let rename = |to: &[u8; 3], name: &str| {
        let mut bytes = std::fs::read(&img).unwrap();
        let mut n = 0;
        for i in 0..(8 << 20) {
            let at = (1 << 20) + i;
            if bytes[at..at + 5] == *b"lv0 {" {
                bytes[at..at + 3].copy_from_slice(to);
                n += 1;
            }
        }
        assert!(n > 0, "no metadata text found");
        let bad = d.path().join(name);
        std::fs::write(&bad, bytes).unwrap();
        lvm_fix_crcs(&bad, (1 << 20) + 4096);
        bad
    };
    let (code, v, text, err) = check("512k", &rename(b"\x1bc0", "esc1.img"));
    assert_eq!(code, 0, "{err}\n{text}");
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(text.contains("\\x1bc0"), "{text}");
    assert_eq!(layer(&v, 0, 1)["info"]["lv"], "\\x1bc0");
    let (code, _, text, err) = check("512k", &rename(b"\x1b[H", "esc2.img"));
    assert_eq!(code, 2, "{text}");
    assert!(
        err.contains("LVM metadata") && !err.contains('\x1b'),
        "{err:?}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// mdadm's calc_sb0_csum over a 0.90 superblock (4 KiB, sb_csum is word 38).
fn sb0_csum(sb: &[u8]) -> u32 {
    let sum: u64 = (0..1024)
        .filter(|w| *w != 38)
        .map(|w| u64::from(u32::from_le_bytes(sb[w * 4..w * 4 + 4].try_into().unwrap())))
        .sum();
    ((sum & 0xffff_ffff) + (sum >> 32)) as u32
}

#[test]
fn md_0_90_member_at_the_end_of_its_partition() {
    if !require_tool("sfdisk") || !require_tool("mdadm") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let sectors = 100_000u64;
    let img = image(
        d.path(),
        "md090.img",
        64,
        512,
        "label: gpt\\nstart=3072, size=100000\\n",
    );
    // raid5, left-symmetric (2), 64 KiB chunk, 3 disks; at the last 64 KiB boundary - 64 KiB
    let mut sb = vec![0u8; 4096];
    for (word, v) in [
        (0, 0xa92b_4efc_u32),
        (2, 90),
        (7, 5),
        (8, 40_000),
        (9, 3),
        (10, 3),
        (64, 2),
        (65, 65_536),
    ] {
        sb[word * 4..word * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    let c = sb0_csum(&sb);
    sb[152..156].copy_from_slice(&c.to_le_bytes());
    let at = ((sectors & !127) - 128) * 512;
    write_at(&img, 3072 * 512 + at, &sb);
    let member = d.path().join("md090.member");
    extract(&img, 3072 * 512, sectors * 512, &member);
    let ex = examine(&member);
    for want in [
        "Version : 0.90.00",
        "Raid Level : raid5",
        "Raid Devices : 3",
        "Chunk Size : 64K",
        "Layout : left-symmetric",
    ] {
        assert!(ex.contains(want), "mdadm --examine lacks {want:?}:\n{ex}");
    }
    let (code, v, text, err) = check("1536k", &img);
    assert_eq!(code, 0, "{err}\n{text}");
    let l = layer(&v, 0, 0);
    assert_eq!(l["kind"], "md");
    assert_eq!(l["info"]["version"], "0.90");
    assert_eq!(l["info"]["level"], 5);
    assert_eq!(l["info"]["chunk_bytes"], 65_536);
    assert_eq!(
        l["start_bytes"],
        3072 * 512,
        "0.90 keeps the data at the member's start"
    );
    assert_eq!(
        v["partitions"][0]["layers"].as_array().unwrap().len(),
        1,
        "a raid5 member's data is striped: not read further"
    );
}

/// Replace this PV's `pe_start = N` in the current metadata text of the PV file `img` (area at
/// 4096, as pvcreate writes it) by `pe_start = new`, fixing the text's size in the mda header.
/// lvm2's calc_crc: reflected CRC-32 (0xEDB88320) from `initial`, no final xor.
fn lvm2_crc(initial: u32, buf: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(!initial);
    h.update(buf);
    !h.finalize()
}

/// Recompute the checksums lvm2 keeps for the metadata area at byte `mda` of `img` (the
/// current text's, in its raw_locn, then the header's), as lvm2 writes them after an edit:
/// the edits below test the parser, not the checksum check.
fn lvm_fix_crcs(img: &Path, mda: u64) {
    let mut hdr = read_at(img, mda, 512);
    let le64 = |h: &[u8], o: usize| u64::from_le_bytes(h[o..o + 8].try_into().unwrap());
    let (off, size) = (le64(&hdr, 40), le64(&hdr, 48));
    let text = read_at(img, mda + off, size as usize);
    hdr[56..60].copy_from_slice(&lvm2_crc(0xf597_a6cf, &text).to_le_bytes());
    let c = lvm2_crc(0xf597_a6cf, &hdr[4..512]);
    hdr[0..4].copy_from_slice(&c.to_le_bytes());
    write_at(img, mda, &hdr);
}

fn set_pe_start(img: &Path, new: &str) {
    let hdr = read_at(img, 4096, 512);
    let le64 = |o: usize| u64::from_le_bytes(hdr[o..o + 8].try_into().unwrap());
    let (off, size) = (le64(40), le64(48));
    let text = String::from_utf8(read_at(img, 4096 + off, size as usize)).unwrap();
    let at = text.find("pe_start = ").expect("pe_start in the metadata") + 11;
    let end = at + text[at..].find('\n').unwrap();
    let edited = format!("{}{new}{}", &text[..at], &text[end..]);
    let mut bytes = edited.into_bytes();
    let n = bytes.len() as u64;
    bytes.push(0);
    write_at(img, 4096 + off, &bytes);
    write_at(img, 4096 + 48, &n.to_le_bytes());
    lvm_fix_crcs(img, 4096);
}

#[test]
fn an_invalid_or_past_the_end_pe_start_is_an_error_not_offset_0() {
    if !lvm_ready() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let pv = Pv::new(d.path(), "badpe", "", &[1]);
    let img = d.path().join("pv.img");
    std::fs::copy(&pv.file, &img).unwrap();
    // the edit itself keeps a PV ssd-align reads: the same pe_start written back
    set_pe_start(&img, &(pv.pe_start() / 512).to_string());
    let (code, v, text, err) = check("1m", &img);
    assert_eq!(code, 0, "{err}\n{text}");
    assert_eq!(
        layer(&v, 0, 0)["info"]["pe_start"].as_u64(),
        Some(pv.pe_start()),
        "pvs"
    );
    for (new, want) in [
        ("-1", "pe_start = -1 is negative"),
        (
            "99999999999999999999999999",
            "pe_start = 99999999999999999999999999 is not a number",
        ),
        ("0", "pe_start = 0"),
        // 512 TiB on a 48 MiB PV
        ("1099511627776", "is past the PV's end (50331648 bytes)"),
        (
            "36028797018963968",
            "LVM pe_start: 36028797018963968 x 512 overflows",
        ),
    ] {
        std::fs::copy(&pv.file, &img).unwrap();
        set_pe_start(&img, new);
        let (code, out, err) = run(opskit()
            .args(["ssd-align", "--erase-block", "1m"])
            .arg(&img));
        assert_eq!(code, 2, "pe_start = {new}: {out} {err}");
        assert!(out.is_empty(), "partial output: {out}");
        assert!(
            err.contains(want),
            "pe_start = {new}: want {want:?} in {err}"
        );
        assert!(err.contains("pv.img"), "names the image: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}
