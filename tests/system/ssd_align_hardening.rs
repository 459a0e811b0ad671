//! `opskit ssd-align` on hostile input: FIFOs and character devices as the image, GPTs that
//! crashed gptman (256-byte entries, a partition at LBA 0, 2^32-1 entries), MBRs that crashed
//! mbrman (LBA 0), overlapping and past-the-end tables, escape sequences in names, absurd
//! flags. Every one is a one-line error with exit 2 (or a right answer), never a panic or hang.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use opskit::api::disk::crc32;

use crate::util::{opskit, run};

/// A 2 MiB GPT image (512-byte sectors) with `count` entries of `esize` bytes.
pub fn gpt_image(path: &Path, count: u32, esize: u32, parts: &[(u64, u64)]) {
    let sectors = 4096u64;
    let mut b = vec![0u8; (sectors * 512) as usize];
    b[446 + 4] = 0xEE;
    b[446 + 8] = 1;
    b[446 + 12..446 + 16].copy_from_slice(&((sectors - 1) as u32).to_le_bytes());
    b[510] = 0x55;
    b[511] = 0xAA;
    for (i, (f, l)) in parts.iter().enumerate() {
        let e = 1024 + i * esize as usize;
        // the Linux filesystem type GUID 0FC63DAF-8483-4772-8E79-3D69D8477DE4
        b[e..e + 16].copy_from_slice(&[
            0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47,
            0x7D, 0xE4,
        ]);
        b[e + 16] = i as u8 + 1;
        b[e + 32..e + 40].copy_from_slice(&f.to_le_bytes());
        b[e + 40..e + 48].copy_from_slice(&l.to_le_bytes());
    }
    let arr = (count as usize).saturating_mul(esize as usize).min(16384);
    let acrc = crc32(&b[1024..1024 + arr]);
    let h = 512;
    b[h..h + 8].copy_from_slice(b"EFI PART");
    b[h + 8..h + 12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    b[h + 12..h + 16].copy_from_slice(&92u32.to_le_bytes());
    b[h + 24..h + 32].copy_from_slice(&1u64.to_le_bytes());
    b[h + 32..h + 40].copy_from_slice(&(sectors - 1).to_le_bytes());
    b[h + 40..h + 48].copy_from_slice(&34u64.to_le_bytes());
    b[h + 48..h + 56].copy_from_slice(&(sectors - 34).to_le_bytes());
    b[h + 56] = 0x42;
    b[h + 72..h + 80].copy_from_slice(&2u64.to_le_bytes());
    b[h + 80..h + 84].copy_from_slice(&count.to_le_bytes());
    b[h + 84..h + 88].copy_from_slice(&esize.to_le_bytes());
    b[h + 88..h + 92].copy_from_slice(&acrc.to_le_bytes());
    let hcrc = crc32(&b[h..h + 92]);
    b[h + 16..h + 20].copy_from_slice(&hcrc.to_le_bytes());
    std::fs::write(path, b).unwrap();
}

/// A 64 MiB MBR image with the given (type, start, sectors) primaries.
fn mbr_image(path: &Path, parts: &[(u8, u32, u32)]) {
    let mut b = vec![0u8; 512];
    for (i, (t, s, n)) in parts.iter().enumerate() {
        let e = 446 + 16 * i;
        b[e + 4] = *t;
        b[e + 8..e + 12].copy_from_slice(&s.to_le_bytes());
        b[e + 12..e + 16].copy_from_slice(&n.to_le_bytes());
    }
    b[510] = 0x55;
    b[511] = 0xAA;
    std::fs::write(path, &b).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(64 << 20).unwrap();
}

/// Run ssd-align on `target` (bounded in time): (exit, stdout, stderr, elapsed).
fn check(args: &[&str], target: &Path) -> (i32, String, String, Duration) {
    let t0 = Instant::now();
    let (code, out, err) = run(opskit()
        .args(["ssd-align", "--erase-block", "512k"])
        .args(args)
        .arg(target));
    (code, out, err, t0.elapsed())
}

fn one_line_error(args: &[&str], target: &Path, want: &str) {
    let (code, out, err, took) = check(args, target);
    assert_eq!(code, 2, "{}: {out} {err}", target.display());
    assert!(out.is_empty(), "partial output: {out}");
    assert!(
        err.contains(want),
        "{}: want {want:?} in {err}",
        target.display()
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_fifo_a_character_device_and_an_empty_file_are_refused_without_hanging() {
    let d = tmp();
    let fifo = crate::util::mkfifo(d.path(), "image.fifo");
    one_line_error(&[], &fifo, "neither a block device nor a disk image file");
    one_line_error(
        &[],
        Path::new("/dev/zero"),
        "neither a block device nor a disk image file",
    );
    let empty = d.path().join("empty.img");
    std::fs::write(&empty, b"").unwrap();
    one_line_error(&[], &empty, "empty");
}

#[test]
fn gpt_entries_of_256_bytes_are_read() {
    let d = tmp();
    let img = d.path().join("gpt256.img");
    gpt_image(&img, 64, 256, &[(2048, 3000), (3001, 4000)]);
    let (code, out, err) = run(opskit()
        .args(["ssd-align", "--format", "json", "--erase-block", "512k"])
        .arg(&img));
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = &v["partitions"];
    assert_eq!(
        (p[0]["start_sector"].as_u64(), p[0]["aligned"].as_bool()),
        (Some(2048), Some(true))
    );
    assert_eq!(
        (p[1]["start_sector"].as_u64(), p[1]["aligned"].as_bool()),
        (Some(3001), Some(false))
    );
    assert_eq!(p[0]["type"], "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
    assert_eq!(p[0]["device"], "/dev/loopXp1");
    assert_eq!(v["table"], "gpt");
    assert_eq!(v["sector_evidence"], "gpt_header");
    // sfdisk reads the same table (sgdisk does not: it only knows 128-byte entries)
    if crate::util::require_tool("sfdisk") {
        let o = std::process::Command::new("sfdisk")
            .arg("-J")
            .arg(&img)
            .output()
            .unwrap();
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let starts: Vec<u64> = j["partitiontable"]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["start"].as_u64().unwrap())
            .collect();
        assert_eq!(starts, [2048, 3001]);
    }
}

#[test]
fn gpt_lba_0_huge_entry_counts_and_odd_entry_sizes_are_one_line_errors() {
    let d = tmp();
    let img = d.path().join("gpt-lba0.img");
    gpt_image(&img, 128, 128, &[(0, 100)]);
    one_line_error(&[], &img, "outside the usable area");
    let img = d.path().join("gpt-4g.img");
    gpt_image(&img, u32::MAX, 128, &[(2048, 3000)]);
    one_line_error(&[], &img, "4294967295 partition entries");
    let img = d.path().join("gpt-200.img");
    gpt_image(&img, 128, 200, &[(2048, 3000)]);
    one_line_error(&[], &img, "entry size 200");
    let img = d.path().join("gpt-backwards.img");
    gpt_image(&img, 128, 128, &[(3000, 2048)]);
    one_line_error(&[], &img, "last LBA 2048 < first LBA 3000");
    let img = d.path().join("gpt-overlap.img");
    gpt_image(&img, 128, 128, &[(2048, 3000), (2500, 3500)]);
    one_line_error(&[], &img, "overlap");
}

#[test]
fn mbr_lba_0_overlaps_and_past_the_end_are_one_line_errors() {
    let d = tmp();
    let img = d.path().join("mbr-lba0.img");
    mbr_image(&img, &[(0x83, 0, 2048)]);
    one_line_error(&[], &img, "starts at sector 0");
    let img = d.path().join("mbr-overlap.img");
    mbr_image(&img, &[(0x83, 2048, 4096), (0x83, 4096, 4096)]);
    one_line_error(&["--sector-size", "512"], &img, "overlap");
    let img = d.path().join("mbr-past.img");
    mbr_image(&img, &[(0x83, 2048, 200_000)]);
    one_line_error(&["--sector-size", "512"], &img, "past the end");
    let img = d.path().join("mbr-protective.img");
    mbr_image(&img, &[(0xEE, 1, 1000)]);
    one_line_error(&[], &img, "protective MBR");
}

#[test]
fn escape_sequences_in_names_never_reach_the_terminal() {
    let d = tmp();
    let img: PathBuf = d.path().join("evil\x1b[2J\x07.img");
    mbr_image(&img, &[(0x83, 63, 2048)]);
    let (code, out, err, _) = check(&["--sector-size", "512"], &img);
    assert_eq!(code, 1, "{err}");
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains("evil\\x1b[2J\\x07.img"), "{out}");
    // no move command for a name a shell cannot be given safely; a note says why
    assert!(!out.contains("sfdisk --move-data"), "{out}");
    assert!(out.contains("rename it"), "{out}");
    // a name with a space and a quote is quoted for the shell
    let img2 = d.path().join("my disk's.img");
    mbr_image(&img2, &[(0x83, 63, 2048)]);
    let (_, out, _, _) = check(&["--sector-size", "512"], &img2);
    let q = format!("'{}/my disk'\\''s.img'", d.path().display());
    assert!(
        out.contains(&format!("sfdisk --move-data {q} -N 1")),
        "{out}"
    );
    // and in errors
    let bad = d.path().join("bad\x1b]0;x\x07.img");
    std::fs::write(&bad, b"x").unwrap();
    let (code, _, err, _) = check(&[], &bad);
    assert_eq!(code, 2);
    assert!(!err.contains('\x1b'), "{err:?}");
}

#[test]
fn flags_are_bounded() {
    for (args, want) in [
        (vec!["--raid", "0", "--devices", "0", "--chunk", "64k"], "0"),
        (
            vec!["--raid", "0", "--devices", "100000", "--chunk", "64k"],
            "100000",
        ),
        (
            vec!["--raid", "0", "--devices", "1920", "--chunk", "1G"],
            "1 TiB",
        ),
    ] {
        let (code, out, err) = run(opskit()
            .args(["ssd-align", "--erase-block", "1536k"])
            .args(&args));
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    // raid10 near=2 on 3 disks is valid: the stripe spans all three (the kernel's rule)
    let (code, out, err) = run(opskit().args([
        "ssd-align",
        "--format",
        "json",
        "--erase-block",
        "512k",
        "--raid",
        "10",
        "--devices",
        "3",
        "--chunk",
        "512k",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["raid"]["data_disks"], 3);
}

/// A sysfs tree `sys/block/sdb` with one partition sdb1 at `start` of `psize` sectors on a disk
/// of `size` sectors with logical blocks of `lbs` bytes.
fn sysfs_tree(start: &str, psize: &str, size: &str, lbs: &str) -> tempfile::TempDir {
    let t = tmp();
    let d = t.path().join("sys/block/sdb");
    std::fs::create_dir_all(d.join("queue")).unwrap();
    std::fs::create_dir_all(d.join("sdb1")).unwrap();
    let w = |p: &str, v: &str| std::fs::write(d.join(p), format!("{v}\n")).unwrap();
    w("size", size);
    w("dev", "8:16");
    w("alignment_offset", "0");
    w("queue/logical_block_size", lbs);
    w("queue/physical_block_size", lbs);
    w("queue/minimum_io_size", lbs);
    w("queue/optimal_io_size", "0");
    w("queue/rotational", "0");
    w("sdb1/partition", "1");
    w("sdb1/start", start);
    w("sdb1/size", psize);
    w("sdb1/dev", "8:17");
    let class = t.path().join("sys/class/block");
    std::fs::create_dir_all(&class).unwrap();
    std::os::unix::fs::symlink(d.join("sdb1"), class.join("sdb1")).unwrap();
    t
}

fn root_error(root: &Path, dev: &str, want: &str) {
    for fmt in ["text", "json"] {
        let (code, out, err) = run(opskit().arg("--root").arg(root).args([
            "ssd-align",
            "--format",
            fmt,
            "--erase-block",
            "512k",
            dev,
        ]));
        assert_eq!(code, 2, "{dev} {fmt}: {out} {err}");
        assert!(out.is_empty(), "partial output: {out}");
        assert!(err.contains(want), "{dev}: want {want:?} in {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn sysfs_sector_counts_that_overflow_as_bytes_are_errors_not_aligned() {
    // a sane tree is judged: the test's shape is right
    let ok = sysfs_tree("2048", "2048", "8192", "512");
    let (code, out, err) = run(opskit().arg("--root").arg(ok.path()).args([
        "ssd-align",
        "--erase-block",
        "512k",
        "sdb",
    ]));
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("starts at sector 2048 = 1048576 B"), "{out}");
    // 2^55 sectors x 512 = 2^64: the review saw it judged aligned at "0 B"
    let big = "36028797018963968";
    let t = sysfs_tree(big, "1", "8192", "512");
    root_error(
        t.path(),
        "sdb",
        "sdb1/start: 36028797018963968 sectors x 512 overflows",
    );
    root_error(
        t.path(),
        "sdb1",
        "sdb1/start: 36028797018963968 sectors x 512 overflows",
    );
    // 4096-byte logical blocks: sysfs still counts 512-byte sectors
    let t = sysfs_tree("4503599627370496", "1", big, "4096");
    let (code, out, err) = run(opskit().arg("--root").arg(t.path()).args([
        "ssd-align",
        "--format",
        "json",
        "--erase-block",
        "512k",
        "sdb",
    ]));
    assert!(!out.contains(&u64::MAX.to_string()), "{code} {out} {err}");
    root_error(
        t.path(),
        "sdb",
        "sdb/size: 36028797018963968 sectors x 512 overflows",
    );
    let t = sysfs_tree("4503599627370496", "1", "4503599627370497", "4096");
    let (code, out, err) = run(opskit().arg("--root").arg(t.path()).args([
        "ssd-align",
        "--erase-block",
        "512k",
        "sdb",
    ]));
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        out.contains("start sector 4503599627370496 (512 B sectors) = 2305843009213693952 B"),
        "{out}"
    );
    // a size that overflows, and a partition ending past the disk
    let t = sysfs_tree("2048", big, "8192", "512");
    root_error(
        t.path(),
        "sdb",
        "sdb1/size: 36028797018963968 sectors x 512 overflows",
    );
    let t = sysfs_tree("2048", "8192", "8192", "512");
    root_error(t.path(), "sdb", "past the disk's end (8192 sectors)");
    root_error(t.path(), "sdb1", "past the disk's end (8192 sectors)");
}
