//! `opskit ssd-align` against the second hostile review of issue 19: each case built as it
//! was found (real sfdisk, mkfs, debugfs on images and loop devices), the command opskit used
//! to print applied to a copy to show the loss, then opskit's refusal (exit 2 with the
//! reason) or a fix that, applied, keeps the data; and a healthy twin.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::ssd_align_layers::{
    extract, image, luks, luks_uuid, lvm_ready, md12, put, read_at, run_fix, sh, write_at, Pv,
};
use crate::ssd_align_safety::{ext4, ext4_keeps, json, text, Loop};
use crate::util::{require_root, require_tool};

const MIB: u64 = 1 << 20;

/// `n` bytes of reproducible noise (xorshift64), as the reviewer's 15 MB random file.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The file `name` dumped from the ext4 at `at` (`len` bytes) of `img`, or None when debugfs
/// cannot read it.
fn dump(img: &Path, at: u64, len: u64, name: &str) -> Option<Vec<u8>> {
    let f = img.with_extension(format!("fs{at}"));
    extract(img, at, len, &f);
    let out = img.with_extension(format!("dump{at}"));
    let _ = std::fs::remove_file(&out);
    let _ = std::process::Command::new("debugfs")
        .args(["-R", &format!("dump {name} {}", out.display())])
        .arg(&f)
        .output();
    let got = std::fs::read(&out).ok();
    let _ = std::fs::remove_file(&f);
    got
}

/// An ext4 of `bytes` bytes (1 KiB blocks) holding `big` (15 MB of noise).
fn ext4_with_big(dir: &Path, name: &str, bytes: u64, big: &[u8]) -> PathBuf {
    let f = dir.join(name);
    let b = dir.join(format!("{name}.big"));
    std::fs::write(&b, big).unwrap();
    sh(&format!(
        "truncate -s {bytes} {0} && mkfs.ext4 -q -F -b 1024 {0} && debugfs -w -R 'write {1} big' {0} >/dev/null 2>&1",
        f.display(),
        b.display()
    ));
    f
}

/// Review finding 1: p1 (sector 63, 20000 sectors) is half the ext4 on it (made for 40000
/// sectors, holding 15 MB). opskit printed `echo '2048,' | sfdisk --move-data IMG -N 1`,
/// which moves only the partition's 10 MB: applied to a copy, `big` is corrupt. Now the
/// overrun is a conflict (exit 2, the reason named) and nothing is printed. Twin: the same
/// ext4 in a partition of 40000 sectors gets the move, which applied keeps `big`.
#[test]
fn a_partition_smaller_than_its_filesystem_is_never_moved() {
    if !require_tool("sfdisk") || !require_tool("mkfs.ext4") || !require_tool("debugfs") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let big = noise(15_000_000);
    let fs = ext4_with_big(d.path(), "fs", 40000 * 512, &big);
    assert_eq!(dump(&fs, 0, 40000 * 512, "big").as_deref(), Some(&big[..]));
    let short = image(
        d.path(),
        "short.img",
        64,
        512,
        "label: dos\\nstart=63, size=20000, type=83\\n",
    );
    put(&short, 63 * 512, &fs, 40000 * 512);
    // the command opskit used to print, applied to a copy: `big` is lost
    let copy = d.path().join("copy.img");
    std::fs::copy(&short, &copy).unwrap();
    run_fix(
        &format!(
            "echo '2048,' | sfdisk -q --move-data {} -N 1",
            copy.display()
        ),
        d.path(),
    );
    assert_ne!(
        dump(&copy, MIB, 40000 * 512, "big").as_deref(),
        Some(&big[..]),
        "the old move keeps big?"
    );
    // now: refused, with the reason
    let before = std::fs::read(&short).unwrap();
    let (code, out, err) = text(&["--erase-block", "512k", short.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("the ext4 records 20480000 bytes but its partition holds 10240000 bytes")
            && err.contains("overruns the partition"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!out.contains("sfdisk"), "{out}");
    assert!(std::fs::read(&short).unwrap() == before, "nothing written");
    // twin: the partition holds the whole ext4: the move is printed and keeps `big`
    let fits = image(
        d.path(),
        "fits.img",
        64,
        512,
        "label: dos\\nstart=63, size=40000, type=83\\n",
    );
    put(&fits, 63 * 512, &fs, 40000 * 512);
    let (code, v, err) = json(&["--erase-block", "512k", fits.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let fix = v["partitions"][0]["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    run_fix(fix, d.path());
    let (code, v, err) = json(&["--erase-block", "512k", fits.to_str().unwrap()]);
    assert_eq!(code, 0, "{err} {v}");
    let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
    assert_eq!(start % (512 << 10), 0);
    assert_eq!(
        dump(&fits, start, 40000 * 512, "big").as_deref(),
        Some(&big[..])
    );
}

/// Review finding 1 (second half): the kernel's p1 starts where the disk's does but is
/// larger (the on-disk table was rewritten smaller without telling the kernel). Starts alone
/// were compared, so the move was printed; now a size difference is a stale kernel table:
/// no move, a warning naming both sizes. Twin: the kernel told (partx -u), the move is
/// printed, applied, and the ext4 keeps its marker.
#[test]
fn a_kernel_partition_of_another_size_is_a_stale_table() {
    if !require_root("loop devices") || !require_tool("sfdisk") || !require_tool("partx") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let img = image(
        d.path(),
        "size.img",
        64,
        512,
        "label: dos\\nstart=63, size=40000, type=83\\n",
    );
    let fs = ext4(d.path(), "fs1", 10, "OPSKIT-SIZE\n");
    put(&img, 63 * 512, &fs, 10 * MIB);
    let l = Loop::new(&img, d.path());
    assert_eq!(l.nodes.len(), 1, "partx made p1");
    sh(&format!(
        "printf 'label: dos\\nstart=63, size=30000, type=83\\n' | sfdisk -q --no-reread --no-tell-kernel {} >/dev/null 2>&1 || true",
        l.dev
    ));
    let (code, v, err) = json(&["--erase-block", "512k", &l.dev]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["partitions"][0]["fix"], Value::Null, "{v}");
    assert_eq!(
        v["partitions"][0]["move"]["blocked"]["reason"], "kernel_table_stale",
        "{v}"
    );
    let w = v["warnings"].to_string();
    assert!(
        w.contains("partition 1 is 20480000 bytes, the on-disk table says 15360000"),
        "{w}"
    );
    let (_, out, _) = text(&["--erase-block", "512k", &l.dev]);
    assert!(!out.contains("sfdisk --move-data"), "{out}");
    // twin: the kernel told, the move is printed and keeps the data
    sh(&format!("partx -u {}", l.dev));
    let (code, v, err) = json(&["--erase-block", "512k", &l.dev]);
    assert_eq!(code, 1, "{err}");
    let fix = v["partitions"][0]["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    run_fix(fix, d.path());
    sh(&format!("partx -u {}", l.dev));
    let (code, v, err) = json(&["--erase-block", "512k", &l.dev]);
    assert_eq!(code, 0, "{err} {v}");
    let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
    drop(l);
    ext4_keeps(&img, start, 10, "OPSKIT-SIZE\n");
}

/// A 64 MiB image with a GPT (first-lba 34, p1 at sector 40) whose MBR was then rewritten by
/// `sfdisk --wipe never` as a DOS table with p1 at sector 63 (no 0xEE entry): the GPT headers
/// stay behind.
fn leftover_gpt(dir: &Path, name: &str) -> PathBuf {
    let img = image(
        dir,
        name,
        64,
        512,
        "label: gpt\\nfirst-lba: 34\\nstart=40, size=60000\\n",
    );
    sh(&format!(
        "printf 'label: dos\\nstart=63, size=60000, type=83\\n' | sfdisk -q --wipe never {}",
        img.display()
    ));
    assert_eq!(
        read_at(&img, 512, 8),
        b"EFI PART",
        "the GPT header is left behind"
    );
    assert!(sh(&format!("blkid -p {}", img.display())).contains("PTTYPE=\"dos\""));
    img
}

/// e2fsck -fn of the `mib` MiB at `at` in `img` exits 0.
fn fsck_ok(img: &Path, at: u64, mib: u64) -> bool {
    let f = img.with_extension(format!("fsck{at}"));
    extract(img, at, mib * MIB, &f);
    let ok = std::process::Command::new("e2fsck")
        .args(["-fn"])
        .arg(&f)
        .output()
        .unwrap()
        .status
        .success();
    let _ = std::fs::remove_file(f);
    ok
}

/// Review finding 2: a GPT left behind an MBR without a protective 0xEE entry. sfdisk, blkid
/// and the kernel read the MBR; opskit read the GPT (p1 at sector 40 holding the ext4) and
/// printed `echo '2048,' | sfdisk --move-data IMG -N 1`, which sfdisk applied to the MBR's
/// p1 (sector 63): applied to a copy, the ext4 is destroyed where the GPT says and absent
/// where the MBR now says. Now both tables are plausible there (data at a GPT start where no
/// MBR partition starts): exit 2, the reason named. Twin: the ext4 where the MBR says: the
/// MBR is read as sfdisk reads it, the move printed is applied and the marker kept. A hybrid
/// MBR (0xEE plus a real entry) is read as GPT, as blkid reads it.
#[test]
fn a_gpt_behind_an_mbr_without_0xee_is_not_the_table() {
    if !require_tool("sfdisk") || !require_tool("mkfs.ext4") || !require_tool("blkid") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let fs = ext4(d.path(), "fs", 20, "OPSKIT-GPT\n");
    let img = leftover_gpt(d.path(), "gpt-data.img");
    put(&img, 40 * 512, &fs, 20 * MIB);
    // the command opskit used to print, applied to a copy: the ext4 is lost
    let copy = d.path().join("copy.img");
    std::fs::copy(&img, &copy).unwrap();
    run_fix(
        &format!(
            "echo '2048,' | sfdisk -q --move-data {} -N 1",
            copy.display()
        ),
        d.path(),
    );
    assert!(fsck_ok(&img, 40 * 512, 20), "the ext4 was whole before");
    assert!(!fsck_ok(&copy, 40 * 512, 20), "GPT p1 after the old move");
    assert!(!fsck_ok(&copy, 2048 * 512, 20), "MBR p1 after the old move");
    // now: refused
    let (code, out, err) = text(&["--erase-block", "512k", img.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("leftover GPT's partition 1 starts at byte 20480, where a ext4 is")
            && err.contains("both tables are plausible"),
        "{err}"
    );
    assert!(!out.contains("sfdisk"), "{out}");
    // twin: the ext4 where the MBR says: read as sfdisk reads it, moved, kept
    let img = leftover_gpt(d.path(), "mbr-data.img");
    put(&img, 63 * 512, &fs, 20 * MIB);
    let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["table"], "dos", "{v}");
    assert_eq!(v["partitions"][0]["start_sector"], 63, "{v}");
    let fix = v["partitions"][0]["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    run_fix(fix, d.path());
    let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
    assert_eq!(code, 0, "{err} {v}");
    let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
    assert!(sh(&format!("sfdisk -d {}", img.display()))
        .contains(&format!("start=        {}", start / 512)));
    ext4_keeps(&img, start, 20, "OPSKIT-GPT\n");
    // a hybrid MBR (0xEE plus a real entry) is GPT, as blkid reads it
    let img = image(
        d.path(),
        "hybrid.img",
        64,
        512,
        "label: gpt\\nstart=2048, size=40960\\n",
    );
    put(&img, MIB, &fs, 20 * MIB);
    let mut e = [0u8; 16];
    e[4] = 0x83;
    e[8..12].copy_from_slice(&2048u32.to_le_bytes());
    e[12..16].copy_from_slice(&40960u32.to_le_bytes());
    write_at(&img, 446 + 16, &e);
    assert!(sh(&format!("blkid -p {}", img.display())).contains("PTTYPE=\"gpt\""));
    let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
    assert_eq!((code, &v["table"]), (0, &Value::from("gpt")), "{err} {v}");
}

/// Review finding 3: a whole-disk signature beside a partition table. `mkfs.ext4` on the
/// whole image, then `sfdisk --wipe never` added an MBR with p1 at sector 63; and an md 1.2
/// member (superblock at 4 KiB, an ext4 on its data at 1 MiB) under a stale MBR. opskit
/// printed `echo '2048,' | sfdisk --move-data IMG -N 1`: applied to a copy, it wrote over
/// the whole-disk ext4 (and over the md member's data). Now exit 2 naming the signature.
/// Twin: the same table and p1 without a whole-disk signature: the move is printed, applied
/// and the ext4 in p1 keeps its marker.
#[test]
fn a_whole_disk_signature_beside_a_table_is_never_moved_over() {
    if !require_tool("sfdisk") || !require_tool("mkfs.ext4") || !require_tool("blkid") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let whole = ext4(d.path(), "whole.img", 64, "OPSKIT-WHOLE\n");
    // an md 1.2 member: superblock at 4 KiB, data (an ext4) at 1 MiB
    let md = d.path().join("md.img");
    sh(&format!("truncate -s 64M {}", md.display()));
    write_at(&md, 4096, &md12(1, 0, 0, 2, 2048, 131072));
    let inner = ext4(d.path(), "inner", 20, "OPSKIT-MD\n");
    put(&md, MIB, &inner, 20 * MIB);
    for (img, kind, at, mark) in [
        (&whole, "ext4", 0, "OPSKIT-WHOLE\n"),
        (&md, "md", MIB, "OPSKIT-MD\n"),
    ] {
        sh(&format!(
            "printf 'label: dos\\nstart=63, size=40000, type=83\\n' | sfdisk -q --wipe never {}",
            img.display()
        ));
        // blkid -p sees the whole-device signature, sfdisk the table
        let blkid = sh(&format!("blkid -p {} 2>&1 || true", img.display()));
        assert!(
            blkid.contains("TYPE=\"ext4\"") || blkid.contains("TYPE=\"linux_raid_member\""),
            "{blkid}"
        );
        assert!(sh(&format!("sfdisk -d {}", img.display())).contains("start=          63"));
        let mib = if at == 0 { 64 } else { 20 };
        ext4_keeps(img, at, mib, mark);
        // the command opskit used to print, applied to a copy: the data is lost
        let copy = d.path().join("copy.img");
        std::fs::copy(img, &copy).unwrap();
        run_fix(
            &format!(
                "echo '2048,' | sfdisk -q --move-data {} -N 1",
                copy.display()
            ),
            d.path(),
        );
        assert!(!fsck_ok(&copy, at, mib), "{kind}: the old move kept it?");
        // now: refused, naming the signature
        let (code, out, err) = text(&["--erase-block", "512k", img.to_str().unwrap()]);
        assert_eq!(code, 2, "{kind}: {out}{err}");
        assert!(
            err.contains(&format!(
                "the whole device starts with a signature ({kind}) besides the dos partition table"
            )),
            "{err}"
        );
        assert!(!out.contains("sfdisk"), "{out}");
    }
    // twin: no whole-disk signature: the move is printed and keeps the data
    let img = image(
        d.path(),
        "plain.img",
        64,
        512,
        "label: dos\\nstart=63, size=50000, type=83\\n",
    );
    put(&img, 63 * 512, &inner, 20 * MIB);
    let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let fix = v["partitions"][0]["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    run_fix(fix, d.path());
    let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
    assert_eq!(code, 0, "{err} {v}");
    let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
    ext4_keeps(&img, start, 20, "OPSKIT-MD\n");
}

/// Review finding 4: a 4Kn MBR image (LUKS2 at LBA 257, ext4 at LBA 25856) with one
/// coincidental signature under the 512 reading (a small ext4 at 257 x 512, in the free
/// space before p1). With --sector-size 512 opskit trusted that one signature and printed
/// `echo '1024,' | sfdisk --move-data IMG -N 1`: applied to a copy, it wrote over the LUKS
/// header. Now the readings are compared by how many partition starts hold signatures (2 of
/// 2 under 4096, 1 under 512): --sector-size 512, a 512-byte loop device and the bare image
/// are each a conflict, exit 2. Twin: --sector-size 4096 (the reading the evidence backs)
/// gives the verdict and its move keeps the LUKS header and the ext4.
#[test]
fn one_coincidental_signature_does_not_settle_the_sector_size() {
    if !require_root("loop devices")
        || !require_tool("sfdisk")
        || !require_tool("cryptsetup")
        || !require_tool("mkfs.ext4")
    {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let img = image(
        d.path(),
        "4kn.img",
        160,
        4096,
        "label: dos\\nstart=257, size=10240, type=83\\nstart=25856, size=5120, type=83\\n",
    );
    let l = luks(
        d.path(),
        "p1.luks",
        "--type luks2 --pbkdf pbkdf2 --sector-size 4096",
    );
    let uuid = luks_uuid(&l);
    put(&img, 257 * 4096, &l, 40 * MIB);
    let fs = ext4(d.path(), "p2.ext4", 20, "OPSKIT-4KN\n");
    put(&img, 25856 * 4096, &fs, 20 * MIB);
    let small = ext4(d.path(), "small.ext4", 1, "COINCIDENCE\n");
    put(&img, 257 * 512, &small, MIB);
    // the command opskit used to print under --sector-size 512, applied to a copy
    let copy = d.path().join("copy.img");
    std::fs::copy(&img, &copy).unwrap();
    run_fix(
        &format!(
            "echo '1024,' | sfdisk -q --move-data {} -N 1",
            copy.display()
        ),
        d.path(),
    );
    let head = d.path().join("head.luks");
    extract(&copy, 257 * 4096, 40 * MIB, &head);
    let lost = std::process::Command::new("cryptsetup")
        .args(["luksUUID"])
        .arg(&head)
        .output()
        .unwrap();
    assert!(!lost.status.success(), "the old move kept the LUKS header?");
    // now: every reading that is not backed by the signatures is a conflict
    let before = std::fs::read(&img).unwrap();
    let i = img.to_str().unwrap();
    let (code, out, err) = text(&["--erase-block", "512k", "--sector-size", "512", i]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("--sector-size 512")
            && err.contains("at 2 of 2 partition starts under 4096-byte sectors, 1 under 512")
            && err.contains("conflicts"),
        "{err}"
    );
    assert!(!out.contains("sfdisk"), "{out}");
    let (code, out, err) = text(&["--erase-block", "512k", i]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("signatures sit at 1 of 2 partition starts under 512-byte sectors and at 2 of 2 under 4096"),
        "{err}"
    );
    let dev = sh(&format!("losetup -f --show {i}")).trim().to_string();
    let (c, o, e) = text(&["--erase-block", "512k", &dev]);
    let _ = std::process::Command::new("losetup")
        .args(["-d", &dev])
        .status();
    assert_eq!(c, 2, "{o}{e}");
    assert!(
        e.contains("logical block size is 512") && e.contains("conflicts"),
        "{e}"
    );
    assert!(std::fs::read(&img).unwrap() == before, "nothing written");
    // twin: the reading the evidence backs gives the verdict; its move keeps the data
    let (code, v, err) = json(&["--erase-block", "512k", "--sector-size", "4096", i]);
    assert_eq!(code, 1, "{err}");
    let fix = v["partitions"][0]["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(fix.contains("--sector-size 4096"), "{fix}");
    run_fix(fix, d.path());
    let (_, v, err) = json(&["--erase-block", "512k", "--sector-size", "4096", i]);
    assert_eq!(v["partitions"][0]["aligned"], true, "{err} {v}");
    let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
    let moved = d.path().join("moved.luks");
    extract(&img, start, 40 * MIB, &moved);
    assert_eq!(luks_uuid(&moved), uuid);
    let p2 = v["partitions"][1]["start_bytes"].as_u64().unwrap();
    ext4_keeps(&img, p2, 20, "OPSKIT-4KN\n");
}

/// Review finding 5 (GPT usable end): a GPT of 256 entries (`table-length: 256`: the backup
/// array is 32 KiB, last usable LBA 131006 on a 64 MiB image). opskit assumed 128 entries
/// and printed a move ending past the header's last usable LBA: applied, sfdisk refuses it
/// ("Failed to resize partition"). Now the header's last usable LBA bounds a move: no move,
/// the reason named. Twin: a partition 1000 sectors shorter gets the move, which applied keeps
/// the ext4.
#[test]
fn a_move_ends_before_the_gpt_headers_last_usable_lba() {
    if !require_tool("sfdisk") || !require_tool("mkfs.ext4") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let fs = ext4(d.path(), "fs", 20, "OPSKIT-GPT256\n");
    for (size, fits) in [(130000u64, false), (129000, true)] {
        let img = image(
            d.path(),
            &format!("gpt{size}.img"),
            64,
            512,
            &format!("label: gpt\\ntable-length: 256\\nfirst-lba: 100\\nstart=100, size={size}\\n"),
        );
        assert!(sh(&format!("sfdisk -d {}", img.display())).contains("last-lba: 131006"));
        put(&img, 100 * 512, &fs, 20 * MIB);
        let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
        assert_eq!(code, 1, "{err}");
        if !fits {
            // the command opskit used to print fails when applied
            let copy = d.path().join("copy.img");
            std::fs::copy(&img, &copy).unwrap();
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "echo '1024,' | sfdisk -q --move-data {} -N 1",
                    copy.display()
                ))
                .env("HOME", d.path())
                .current_dir(d.path())
                .output()
                .unwrap();
            assert!(!st.status.success(), "sfdisk took the old move?");
            assert_eq!(v["partitions"][0]["fix"], Value::Null, "{v}");
            let b = &v["partitions"][0]["move"]["blocked"];
            assert_eq!(b["reason"], "does_not_fit", "{v}");
            assert_eq!(b["limit_bytes"], 131007 * 512, "{v}");
            continue;
        }
        let fix = v["partitions"][0]["fix"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"));
        run_fix(fix, d.path());
        let (code, v, err) = json(&["--erase-block", "512k", img.to_str().unwrap()]);
        assert_eq!(code, 0, "{err} {v}");
        let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
        ext4_keeps(&img, start, 20, "OPSKIT-GPT256\n");
    }
}

/// Unmounts and detaches on drop (kill-on-drop for a mount through a loop device).
struct Mounted {
    at: PathBuf,
    dev: Option<String>,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.at).status();
        if let Some(d) = &self.dev {
            let _ = std::process::Command::new("losetup")
                .args(["-d", d])
                .status();
        }
    }
}

/// Review finding 5 (loop mounts): an image whose p1 is mounted through a loop device over
/// the image file (at p1's offset, or as a partition of a loop device over the whole image).
/// opskit printed `sfdisk --move-data` on the image file, which moves the bytes under the
/// mounted filesystem. (The old command is not applied here: its loss is the kernel's
/// mounted ext4 being rewritten underneath, which a copy cannot show.) Now the move is
/// blocked naming the loop device and the mount point. Twin: unmounted and detached, the
/// move is printed, applied and the ext4 keeps its marker.
#[test]
fn an_image_mounted_through_a_loop_device_gets_no_move() {
    if !require_root("mount a loop device") || !require_tool("sfdisk") || !require_tool("partx") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let img = image(
        d.path(),
        "m.img",
        64,
        512,
        "label: dos\\nstart=63, size=50000, type=83\\n",
    );
    let fs = ext4(d.path(), "fs", 20, "OPSKIT-LOOPMNT\n");
    put(&img, 63 * 512, &fs, 20 * MIB);
    let mnt = d.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let i = img.to_str().unwrap();
    {
        // a loop device at p1's offset
        let dev = sh(&format!(
            "losetup -f --show -o {} --sizelimit {} {i}",
            63 * 512,
            50000 * 512
        ))
        .trim()
        .to_string();
        let m = Mounted {
            at: mnt.clone(),
            dev: Some(dev.clone()),
        };
        sh(&format!("mount -o ro {dev} {}", mnt.display()));
        let (code, v, err) = json(&["--erase-block", "512k", i]);
        assert_eq!(code, 1, "{err}");
        assert_eq!(v["partitions"][0]["fix"], Value::Null, "{v}");
        let b = &v["partitions"][0]["move"]["blocked"];
        assert_eq!(b["reason"], "mounted_through_loop", "{v}");
        assert_eq!(b["loop_device"], dev.as_str(), "{v}");
        assert_eq!(b["mountpoint"], mnt.to_str().unwrap(), "{v}");
        let (_, out, _) = text(&["--erase-block", "512k", i]);
        assert!(
            !out.contains("sfdisk --move-data") && out.contains("through /dev/loop"),
            "{out}"
        );
        drop(m);
    }
    {
        // p1 of a loop device over the whole image
        let l = Loop::new(&img, d.path());
        let m = Mounted {
            at: mnt.clone(),
            dev: None,
        };
        sh(&format!(
            "mount -o ro {} {}",
            l.nodes[0].display(),
            mnt.display()
        ));
        let (code, v, err) = json(&["--erase-block", "512k", i]);
        assert_eq!(code, 1, "{err}");
        let b = &v["partitions"][0]["move"]["blocked"];
        assert_eq!(b["reason"], "mounted_through_loop", "{v}");
        assert!(b["loop_device"].as_str().unwrap().ends_with("p1"), "{v}");
        drop(m);
        drop(l);
    }
    // twin: nothing mounted: the move is printed and keeps the data
    let (code, v, err) = json(&["--erase-block", "512k", i]);
    assert_eq!(code, 1, "{err}");
    let fix = v["partitions"][0]["fix"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    run_fix(fix, d.path());
    let (code, v, err) = json(&["--erase-block", "512k", i]);
    assert_eq!(code, 0, "{err} {v}");
    let start = v["partitions"][0]["start_bytes"].as_u64().unwrap();
    ext4_keeps(&img, start, 20, "OPSKIT-LOOPMNT\n");
}

/// Review finding 5 (LVM checksums): the first metadata area's text edited (pe_start 2048
/// -> 2049 sectors) without its checksum. lvm2 refuses that copy and reads the second
/// (`--pvmetadatacopies 2`, at the PV's end); opskit believed the damaged text (a false
/// misaligned pe_start). Now opskit checks the checksums as lvm2 does: with a second copy it
/// reads what `pvs` reads; with only the damaged copy it is a conflict (exit 2 naming the
/// bad checksum). Twin: the PV as pvcreate wrote it agrees with pvs.
#[test]
fn lvm_metadata_with_a_bad_checksum_is_not_believed() {
    if !lvm_ready() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    for copies in [2, 1] {
        let pv = Pv::new(
            d.path(),
            &format!("crc{copies}"),
            &format!("--dataalignment 1m --pvmetadatacopies {copies}"),
            &[1],
        );
        let pvs = || {
            pv.lvm(
                "pvs",
                &format!(
                    "--noheadings --units b --nosuffix -o pe_start,vg_name {}",
                    pv.dev
                ),
            )
        };
        let f = pv.file.to_str().unwrap();
        // twin: as written, opskit reads what pvs reads
        let (code, v, err) = json(&["--erase-block", "512k", f]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            v["partitions"][0]["layers"][0]["info"]["pe_start"], MIB,
            "{v}"
        );
        assert!(pvs().contains(&format!("{MIB}")), "{}", pvs());
        // damage the first area's text, checksum left as it was
        let hdr = read_at(&pv.file, 4096, 512);
        let off = u64::from_le_bytes(hdr[40..48].try_into().unwrap());
        let size = u64::from_le_bytes(hdr[48..56].try_into().unwrap());
        let text = read_at(&pv.file, 4096 + off, size as usize);
        let at = text
            .windows(16)
            .position(|w| w == b"pe_start = 2048\n")
            .unwrap();
        write_at(&pv.file, 4096 + off + at as u64 + 14, b"9");
        let (code, v, err) = json(&["--erase-block", "512k", f]);
        if copies == 2 {
            let lvm = pvs();
            assert!(
                lvm.contains(&format!("{MIB}")),
                "lvm2 reads the second copy: {lvm}"
            );
            assert_eq!(code, 0, "{err}");
            assert_eq!(
                v["partitions"][0]["layers"][0]["info"]["pe_start"], MIB,
                "opskit reads what lvm2 reads: {v}"
            );
        } else {
            assert_eq!(code, 2, "{v}");
            assert!(
                err.contains("metadata text") && err.contains("bad checksum"),
                "{err}"
            );
        }
    }
}
