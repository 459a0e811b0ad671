//! The property behind every move `opskit ssd-align` prints: applied, it keeps every byte of
//! data and puts it on the grain. Random layouts (seeded, a fixed number of cases) on sparse
//! images: MBR (with extended/logical partitions) and GPT tables in 512- and 4096-byte
//! sectors, partitions holding ext4, XFS, LUKS1/LUKS2 (aligned or 4 KiB off), an LVM PV with
//! LVs (ext4 in the first; pe_start 1 MiB, 512 KiB or the 2012 recipe's 256 KiB), an md v1.2
//! raid1 member (ext4 inside), swap, or nothing; sometimes checked with the wrong
//! --sector-size. Every command printed is run as printed, opskit is asked again until it
//! prints none, and then the real tools judge: e2fsck and a marker file (debugfs), xfs_repair,
//! cryptsetup luksUUID/luksDump and a marker at the data offset, pvs (pe_start), mdadm
//! --examine, blkid for swap. A printed command that fails or loses data fails the test, and
//! every partition moved must be judged aligned afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::ssd_align_layers::{extract, md12, put, read_at, sh, write_at};
use crate::util::{opskit, require_root, require_tool, run};

const MIB: u64 = 1 << 20;
/// Every partition's size: room for a LUKS2 header (16 MiB) and a small filesystem.
const PART_MIB: u64 = 24;
const CASES: u64 = 28;

/// xorshift64*: the same layouts on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Empty,
    Ext4,
    Xfs,
    Luks1,
    /// LUKS2 with its data offset in 512-byte sectors.
    Luks2(u64),
    /// A PV: pvcreate's arguments.
    Pv(&'static str),
    /// An md v1.2 raid1 member with this data offset (sectors), ext4 inside.
    Md(u64),
    Swap,
}

#[derive(Debug)]
struct Part {
    number: u32,
    start: u64,
    content: Content,
    logical: bool,
    /// What the real tools must find again: a marker, a UUID, pe_start.
    expect: Expect,
}

#[derive(Debug, Default)]
struct Expect {
    marker: String,
    uuid: String,
    /// The data offset inside the partition (LUKS data, pe_start, md data offset).
    offset: u64,
}

fn tools_ready() -> bool {
    require_root("loop devices and pvcreate")
        && [
            "sfdisk",
            "mkfs.ext4",
            "debugfs",
            "e2fsck",
            "mkfs.xfs",
            "xfs_repair",
            "cryptsetup",
            "pvcreate",
            "mdadm",
            "mkswap",
            "blkid",
        ]
        .iter()
        .all(|t| require_tool(t))
}

fn ext4_file(f: &Path, bytes: u64, mark: &str) {
    let m = f.with_extension("mark");
    std::fs::write(&m, mark).unwrap();
    sh(&format!(
        "rm -f {0} && truncate -s {bytes} {0} && mkfs.ext4 -q -F {0} && debugfs -w -R 'write {1} marker' {0} >/dev/null 2>&1",
        f.display(),
        m.display()
    ));
}

fn ext4_ok(f: &Path, mark: &str) -> Result<(), String> {
    let fsck = Command::new("e2fsck").arg("-fn").arg(f).output().unwrap();
    if !fsck.status.success() {
        return Err(format!("e2fsck: {}", String::from_utf8_lossy(&fsck.stdout)));
    }
    let cat = Command::new("debugfs")
        .args(["-R", "cat marker"])
        .arg(f)
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&cat.stdout);
    if got != mark {
        return Err(format!("marker: {got:?}, want {mark:?}"));
    }
    Ok(())
}

fn lvm(dev: &str, cmd: &str, args: &str) -> String {
    sh(&format!(
        "LVM_SUPPRESS_FD_WARNINGS=1 {cmd} --config 'devices {{ filter=[\"a|^{dev}$|\",\"r|.*|\"] obtain_device_list_from_udev=0 use_devicesfile=0 }} activation {{ udev_sync=0 udev_rules=0 }} backup {{ backup=0 archive=0 }}' {args} 2>&1"
    ))
}

fn pe_start_of(dev: &str) -> u64 {
    lvm(
        dev,
        "pvs",
        &format!("--noheadings --units b --nosuffix -o pe_start {dev}"),
    )
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .next()
    .unwrap_or(0)
}

/// Build `c` as a file of the partition's size; what to find again.
fn content(dir: &Path, case: u64, n: u32, c: Content) -> (Option<PathBuf>, Expect) {
    let f = dir.join(format!("c{case}p{n}.bin"));
    let size = PART_MIB * MIB;
    let mark = format!("OPSKIT-{case}-{n}\n");
    let mut e = Expect {
        marker: mark.clone(),
        ..Default::default()
    };
    match c {
        Content::Empty => return (None, e),
        Content::Ext4 => ext4_file(&f, size, &mark),
        Content::Xfs => {
            sh(&format!(
                "truncate -s {size} {0} && TEST_DIR=/tmp TEST_DEV=x QA_CHECK_FS=1 mkfs.xfs -q -f -L p{n} {0}",
                f.display()
            ));
        }
        Content::Luks1 | Content::Luks2(_) => {
            let key = dir.join("key");
            std::fs::write(&key, b"opskit-property").unwrap();
            let args = match c {
                Content::Luks2(off) => format!("--type luks2 --pbkdf pbkdf2 --offset {off}"),
                _ => "--type luks1".to_string(),
            };
            sh(&format!(
                "truncate -s {size} {0} && cryptsetup luksFormat -q --key-file {1} --pbkdf-force-iterations 1000 {args} {0}",
                f.display(),
                key.display()
            ));
            e.uuid = sh(&format!("cryptsetup luksUUID {}", f.display()))
                .trim()
                .to_string();
            e.offset = luks_offset(&f);
            write_at(&f, e.offset, mark.as_bytes());
        }
        Content::Pv(args) => {
            sh(&format!("truncate -s {size} {}", f.display()));
            let dev = sh(&format!("losetup -f --show {}", f.display()))
                .trim()
                .to_string();
            let vg = format!("prop{}c{case}p{n}", std::process::id());
            let r = std::panic::catch_unwind(|| {
                lvm(&dev, "pvcreate", &format!("-q -y {args} {dev}"));
                lvm(
                    &dev,
                    "vgcreate",
                    &format!("-q --setautoactivation n -s 4m {vg} {dev}"),
                );
                for (i, ext) in [2, 1].iter().enumerate() {
                    lvm(
                        &dev,
                        "lvcreate",
                        &format!("-q --driverloaded n -an -Zn -l {ext} -n lv{i} {vg}"),
                    );
                }
                pe_start_of(&dev)
            });
            let _ = Command::new("losetup").args(["-d", &dev]).status();
            e.offset = r.unwrap();
            e.uuid = vg;
            let fs = dir.join(format!("c{case}p{n}.lv0"));
            ext4_file(&fs, 8 * MIB, &mark);
            put(&f, e.offset, &fs, 8 * MIB);
        }
        Content::Md(data_sectors) => {
            sh(&format!("truncate -s {size} {}", f.display()));
            e.offset = data_sectors * 512;
            let fs = dir.join(format!("c{case}p{n}.md"));
            ext4_file(&fs, size - e.offset - MIB, &mark);
            put(&f, e.offset, &fs, size - e.offset - MIB);
            write_at(&f, 4096, &md12(1, 0, 0, 2, data_sectors, size / 512));
        }
        Content::Swap => {
            e.uuid = format!("sw{case}p{n}");
            sh(&format!(
                "truncate -s {size} {0} && mkswap -q -L {1} {0}",
                f.display(),
                e.uuid
            ));
        }
    }
    (Some(f), e)
}

fn luks_offset(f: &Path) -> u64 {
    let d = sh(&format!("cryptsetup luksDump {}", f.display()));
    if let Some(l) = d.lines().find(|l| l.starts_with("Payload offset:")) {
        return l.split_whitespace().last().unwrap().parse::<u64>().unwrap() * 512;
    }
    d.lines()
        .find(|l| l.trim_start().starts_with("offset:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("{d}"))
}

/// The real tools find the content of partition `p` at byte `at` of `img`.
fn verify(img: &Path, at: u64, p: &Part, dir: &Path) -> Result<(), String> {
    let f = dir.join("verify.bin");
    let _ = std::fs::remove_file(&f);
    extract(img, at, PART_MIB * MIB, &f);
    let e = &p.expect;
    let out = |cmd: &str| {
        let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    match p.content {
        Content::Empty => Ok(()),
        Content::Ext4 => ext4_ok(&f, &e.marker),
        Content::Xfs => match out(&format!(
            "xfs_repair -n -f -o force_geometry {}",
            f.display()
        )) {
            (true, _) => Ok(()),
            (false, o) => Err(format!("xfs_repair: {o}")),
        },
        Content::Luks1 | Content::Luks2(_) => {
            let (ok, uuid) = out(&format!("cryptsetup luksUUID {}", f.display()));
            if !ok || uuid.trim() != e.uuid {
                return Err(format!("luksUUID: {uuid}"));
            }
            if luks_offset(&f) != e.offset {
                return Err("luksDump: data offset changed".into());
            }
            let m = read_at(&f, e.offset, e.marker.len());
            (m == e.marker.as_bytes())
                .then_some(())
                .ok_or_else(|| "LUKS data marker lost".into())
        }
        Content::Pv(_) => {
            let dev = sh(&format!("losetup -f --show {}", f.display()))
                .trim()
                .to_string();
            let pe = pe_start_of(&dev);
            let vgs = lvm(&dev, "pvs", &format!("--noheadings -o vg_name {dev}"));
            let _ = Command::new("losetup").args(["-d", &dev]).status();
            if pe != e.offset || !vgs.contains(&e.uuid) {
                return Err(format!("pvs: pe_start {pe}, vg {vgs}"));
            }
            let fs = dir.join("verify.lv0");
            let _ = std::fs::remove_file(&fs);
            extract(&f, e.offset, 8 * MIB, &fs);
            ext4_ok(&fs, &e.marker)
        }
        Content::Md(_) => {
            let (ok, ex) = out(&format!("mdadm --examine {}", f.display()));
            if !ok || !ex.contains("Raid Level : raid1") {
                return Err(format!("mdadm --examine: {ex}"));
            }
            let fs = dir.join("verify.md");
            let _ = std::fs::remove_file(&fs);
            extract(&f, e.offset, PART_MIB * MIB - e.offset - MIB, &fs);
            ext4_ok(&fs, &e.marker)
        }
        Content::Swap => match out(&format!("blkid -p -o export {}", f.display())) {
            (_, o) if o.contains("TYPE=swap") && o.contains(&format!("LABEL={}", e.uuid)) => Ok(()),
            (_, o) => Err(format!("blkid: {o}")),
        },
    }
}

/// Partition starts (bytes) as sfdisk reads the table (through a loop device for 4Kn).
fn starts(img: &Path, sector: u64) -> Vec<(u32, u64)> {
    let dump = if sector == 512 {
        sh(&format!("sfdisk -d {}", img.display()))
    } else {
        let dev = sh(&format!(
            "losetup -f --show --sector-size {sector} {}",
            img.display()
        ));
        let dev = dev.trim();
        let d = sh(&format!("sfdisk -d {dev}"));
        let _ = Command::new("losetup").args(["-d", dev]).status();
        d.replace(dev, "IMG")
    };
    dump.lines()
        .filter(|l| l.contains("start="))
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let n: u32 = name
                .trim()
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .rsplit(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()?;
            let s: u64 = rest
                .split(',')
                .find_map(|f| f.trim().strip_prefix("start="))?
                .trim()
                .parse()
                .ok()?;
            Some((n, s * sector))
        })
        .collect()
}

/// Lay out case `case`: (image, parts, sector, erase block, wrong --sector-size).
fn layout(rng: &mut Rng, dir: &Path, case: u64) -> (PathBuf, Vec<Part>, u64, &'static str) {
    let sector = rng.pick(&[512u64, 512, 512, 4096]);
    let gpt = rng.next() % 2 == 0;
    let eb = rng.pick(&["512k", "1536k", "1m", "4m"]);
    let n = 1 + rng.next() % 3;
    let mis: &[u64] = if sector == 512 {
        &[0, 0, 63 * 512, 4096, 32 << 10, 256 << 10]
    } else {
        &[0, 0, 4096, 32 << 10, 256 << 10]
    };
    let contents = [
        Content::Empty,
        Content::Ext4,
        Content::Ext4,
        Content::Xfs,
        Content::Luks1,
        Content::Luks2(32768),
        Content::Luks2(32776),
        Content::Pv("--dataalignment 1m"),
        Content::Pv("--metadatasize 250k --dataalignment 64k"),
        Content::Pv("--dataalignment 512k"),
        Content::Md(2048),
        Content::Md(2056),
        Content::Swap,
    ];
    let extended = !gpt && n >= 2 && rng.next() % 2 == 0;
    let mut cursor = MIB;
    let mut parts = Vec::new();
    let mut script = format!("label: {}\\n", if gpt { "gpt" } else { "dos" });
    let size = PART_MIB * MIB;
    for i in 0..n {
        let logical = extended && i == n - 1;
        let number = if logical { 5 } else { i as u32 + 1 };
        if logical {
            // the extended container, then its one logical partition 1 MiB in
            let ext_start = cursor + rng.pick(mis);
            let ext_size = size + 3 * MIB;
            script.push_str(&format!(
                "start={}, size={}, type=5\\n",
                ext_start / sector,
                ext_size / sector
            ));
            cursor = ext_start + MIB;
        }
        let start = (cursor + rng.pick(mis)).div_ceil(sector) * sector;
        script.push_str(&format!(
            "start={}, size={}{}\\n",
            start / sector,
            size / sector,
            if gpt { "" } else { ", type=83" }
        ));
        let c = rng.pick(&contents);
        let (file, expect) = content(dir, case, number, c);
        parts.push((
            Part {
                number,
                start,
                content: c,
                logical,
                expect,
            },
            file,
        ));
        cursor = (start + size).div_ceil(MIB) * MIB + rng.pick(&[0, MIB, 3 * MIB]);
    }
    let img = dir.join(format!("case{case}.img"));
    let img_bytes = cursor + 4 * MIB;
    sh(&format!("truncate -s {img_bytes} {}", img.display()));
    if sector == 512 {
        sh(&format!("printf '{script}' | sfdisk -q {}", img.display()));
    } else {
        let dev = sh(&format!(
            "losetup -f --show --sector-size {sector} {}",
            img.display()
        ));
        let dev = dev.trim();
        let r = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '{script}' | sfdisk -q {dev}"))
            .output()
            .unwrap();
        let _ = Command::new("losetup").args(["-d", dev]).status();
        assert!(
            r.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
    let mut out = Vec::new();
    for (p, file) in parts {
        if let Some(f) = file {
            put(&img, p.start, &f, size);
            let _ = std::fs::remove_file(f);
        }
        out.push(p);
    }
    (img, out, sector, eb)
}

fn opskit_json(eb: &str, extra: &[&str], img: &Path) -> (i32, Value, String) {
    let (code, out, err) = run(opskit()
        .args(["ssd-align", "--format", "json", "--erase-block", eb])
        .args(extra)
        .arg(img));
    (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

#[test]
fn every_printed_move_keeps_the_data_and_aligns_it() {
    if !tools_ready() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed_0019_0000_0001);
    let (mut moved, mut blocked, mut refused, mut aligned) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for case in 0..CASES {
        let (img, parts, sector, eb) = layout(&mut rng, d.path(), case);
        // sometimes the wrong --sector-size for an MBR (the option against the evidence)
        let wrong = if rng.next() % 5 == 0 {
            Some(if sector == 512 { "4096" } else { "512" })
        } else {
            None
        };
        let extra: Vec<&str> = wrong.map(|w| vec!["--sector-size", w]).unwrap_or_default();
        let desc = format!(
            "case {case}: {sector}-byte sectors, erase block {eb}, option {extra:?}, {parts:?}"
        );
        let before = starts(&img, sector);
        let mut moved_here = Vec::new();
        // apply every move printed, asking again after each, until none is printed
        for _round in 0..4 {
            let (code, v, err) = opskit_json(eb, &extra, &img);
            if code == 2 {
                refused += 1;
                break;
            }
            assert!(code == 0 || code == 1, "{desc}: exit {code}: {err}");
            let ps = v["partitions"].as_array().cloned().unwrap_or_default();
            blocked += ps
                .iter()
                .filter(|p| !p["move"]["blocked"].is_null())
                .count();
            let Some(p) = ps.iter().find(|p| p["fix"].is_string()) else {
                break;
            };
            let fix = p["fix"].as_str().unwrap();
            let st = Command::new("sh")
                .arg("-c")
                .arg(fix)
                .env("HOME", d.path())
                .current_dir(d.path())
                .output()
                .unwrap();
            if !st.status.success() {
                failures.push(format!(
                    "{desc}: printed command failed: {fix}: {}",
                    String::from_utf8_lossy(&st.stderr)
                ));
                break;
            }
            moved += 1;
            moved_here.push(p["number"].as_u64().unwrap() as u32);
        }
        // nothing lost: every partition's content is where the table now says
        let after = starts(&img, sector);
        for p in &parts {
            let at = after
                .iter()
                .find(|(n, _)| *n == p.number)
                .map(|x| x.1)
                .unwrap_or(p.start);
            if !moved_here.contains(&p.number)
                && before.iter().find(|(n, _)| *n == p.number).map(|x| x.1) != Some(at)
            {
                failures.push(format!(
                    "{desc}: p{} moved without a printed move",
                    p.number
                ));
            }
            if let Err(e) = verify(&img, at, p, d.path()) {
                failures.push(format!("{desc}: p{} at byte {at}: {e}", p.number));
            }
        }
        // and every partition moved is aligned now, as opskit (with the right reading) says
        if !moved_here.is_empty() {
            let right = sector.to_string();
            let (code, v, err) = opskit_json(eb, &["--sector-size", right.as_str()], &img);
            assert!(code <= 1, "{desc}: {err}");
            for n in &moved_here {
                let p = v["partitions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["number"] == *n)
                    .unwrap();
                if p["aligned"] != true {
                    failures.push(format!("{desc}: p{n} moved but still misaligned: {p}"));
                } else {
                    aligned += 1;
                }
            }
        }
        let _ = std::fs::remove_file(&img);
        let _ = parts.iter().any(|p| p.logical);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!(
        "property: {CASES} layouts, {moved} moves applied and kept the data ({aligned} re-judged aligned), {blocked} moves refused with a reason, {refused} runs refused (exit 2)"
    );
    assert!(moved >= 5, "the cases exercise moves ({moved})");
    assert!(blocked >= 3, "the cases exercise refusals ({blocked})");
    assert!(refused >= 1, "the cases exercise conflicts ({refused})");
}
