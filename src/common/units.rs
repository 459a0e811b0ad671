//! Units every tool shares: sizes (`512k`, `4MiB`, `2048s`), CPU lists (`0-3,8,10-11`) and
//! durations (`500ms`, `2s`, `1m`).

use std::fmt;
use std::time::Duration;

/// A value the user typed that could not be understood; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError {
    pub(crate) input: String,
    pub(crate) expected: &'static str,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid value '{}': expected {}",
            self.input, self.expected
        )
    }
}

impl std::error::Error for UnitError {}

const SIZE_EXPECTED: &str = "a size such as 512k, 1536K, 4M, 4MiB, 1G, 65536 (bytes) or \
                             2048s (512-byte sectors)";

/// Split `12.5kB` into (`12.5`, `kB`).
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim())
}

/// Parse a size in bytes.
///
/// - bare number: bytes; `s`: 512-byte sectors (`2048s` = 1 MiB, as sysfs and sfdisk count);
/// - `k`/`K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB`: powers of 1024 (how erase blocks,
///   chunks and stripe units are quoted);
/// - `kB`/`KB`, `MB`, `GB`, `TB`: powers of 1000 (as parted and disk vendors use them).
///
/// Fractions are accepted when the result is a whole number of bytes (`1.5M`).
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let err = || UnitError {
        input: input.to_string(),
        expected: SIZE_EXPECTED,
    };
    let s = input.trim();
    let (num, unit) = split_number(s);
    if num.is_empty() || num.matches('.').count() > 1 {
        return Err(err());
    }
    let mult: u64 = match unit {
        "" | "b" | "B" => 1,
        "s" | "S" => 512,
        "k" | "K" | "KiB" | "kiB" | "Ki" => 1 << 10,
        "m" | "M" | "MiB" | "Mi" => 1 << 20,
        "g" | "G" | "GiB" | "Gi" => 1 << 30,
        "t" | "T" | "TiB" | "Ti" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(err()),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| err())?
    };
    let mut bytes = int.checked_mul(mult).ok_or_else(err)?;
    if !frac.is_empty() {
        let digits = u32::try_from(frac.len()).map_err(|_| err())?;
        let scale = 10u64.checked_pow(digits).ok_or_else(err)?;
        let f: u64 = frac.parse().map_err(|_| err())?;
        let num = u128::from(f) * u128::from(mult);
        if num % u128::from(scale) != 0 {
            return Err(err());
        }
        let add = u64::try_from(num / u128::from(scale)).map_err(|_| err())?;
        bytes = bytes.checked_add(add).ok_or_else(err)?;
    }
    Ok(bytes)
}

/// Format bytes the way sysadmins write them: the largest binary unit that divides exactly
/// (`524288` -> `512KiB`, `1536` -> `1536B`... `1572864` -> `1536KiB`).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    if bytes == 0 {
        return "0B".to_string();
    }
    for (name, size) in UNITS {
        if bytes % size == 0 {
            return format!("{}{}", bytes / size, name);
        }
    }
    format!("{bytes}B")
}

/// The most CPU ids one list may name (and the widest range).
const MAX_CPUS: u32 = 1 << 20;

const CPULIST_EXPECTED: &str = "a CPU list such as 0-3,8,10-11";

/// Parse a kernel CPU list (`0-3,8,10-11`, as in `smp_affinity_list`); sorted, without
/// duplicates. An empty (or whitespace-only) list is the empty set.
pub fn parse_cpu_list(input: &str) -> Result<Vec<u32>, UnitError> {
    let err = || UnitError {
        input: input.to_string(),
        expected: CPULIST_EXPECTED,
    };
    let mut cpus = Vec::new();
    let s = input.trim();
    if s.is_empty() {
        return Ok(cpus);
    }
    for part in s.split(',') {
        let part = part.trim();
        // the kernel also knows `0-15:2` (stride) in cpulist_parse; accept it
        let (range, stride) = match part.split_once(':') {
            Some((r, st)) => (r, st.parse::<u32>().map_err(|_| err())?),
            None => (part, 1),
        };
        if stride == 0 {
            return Err(err());
        }
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<u32>().map_err(|_| err())?,
                b.trim().parse::<u32>().map_err(|_| err())?,
            ),
            None => {
                let v = range.parse::<u32>().map_err(|_| err())?;
                (v, v)
            }
        };
        // the kernel's NR_CPUS is at most 8192 today; 2^20 bounds a hostile list's memory
        // (`0-1048575` repeated a thousand times) as well as a single range
        if lo > hi || hi - lo > MAX_CPUS || cpus.len() as u64 > u64::from(MAX_CPUS) {
            return Err(err());
        }
        cpus.extend((lo..=hi).step_by(stride as usize));
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Format CPU ids as a kernel CPU list, ranges collapsed (`[0,1,2,3,8]` -> `0-3,8`).
/// The input need not be sorted.
pub fn format_cpu_list(cpus: &[u32]) -> String {
    let mut v = cpus.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

const DURATION_EXPECTED: &str = "a duration such as 500ms, 2s, 1.5 (seconds), 1m, 2h or 1d";

/// Parse a duration: `500ms`, `2s`, `1.5` (seconds), `1m`, `2h`, `1d`, `1m30s`.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let err = || UnitError {
        input: input.to_string(),
        expected: DURATION_EXPECTED,
    };
    let mut rest = input.trim();
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let (num, tail) = split_number(rest);
        if num.is_empty() || num.matches('.').count() > 1 || num == "." {
            return Err(err());
        }
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let secs_per: f64 = match unit.trim() {
            "" | "s" | "sec" | "secs" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "m" | "min" | "mins" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(err()),
        };
        let v: f64 = num.parse().map_err(|_| err())?;
        total += v * secs_per;
        rest = next.trim();
    }
    if !total.is_finite() || !(0.0..=1e12).contains(&total) {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(total))
}

/// clap value parsers, so the CLI and the core agree on one definition.
pub(crate) mod clap_parsers {
    use super::*;

    pub(crate) fn size(s: &str) -> Result<u64, String> {
        parse_size(s).map_err(|e| e.to_string())
    }
    pub(crate) fn cpu_list(s: &str) -> Result<Vec<u32>, String> {
        parse_cpu_list(s).map_err(|e| e.to_string())
    }
    pub(crate) fn duration(s: &str) -> Result<Duration, String> {
        parse_duration(s).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512k").unwrap(), 524_288);
        assert_eq!(parse_size("512K").unwrap(), 524_288);
        assert_eq!(parse_size("1536K").unwrap(), 1_572_864);
        assert_eq!(parse_size("1M").unwrap(), 1_048_576);
        assert_eq!(parse_size("4MiB").unwrap(), 4 << 20);
        assert_eq!(parse_size("2048s").unwrap(), 1 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("1.5M").unwrap(), 1_572_864);
        assert_eq!(parse_size("1MB").unwrap(), 1_000_000);
        assert_eq!(parse_size(" 64KiB ").unwrap(), 65_536);
        assert_eq!(parse_size("0").unwrap(), 0);
    }

    #[test]
    fn bad_sizes() {
        for s in [
            "",
            "abc",
            "k",
            "12q",
            "1.2.3k",
            "0.3",
            "99999999999999T",
            "-1k",
        ] {
            let e = parse_size(s).unwrap_err();
            assert!(e.to_string().contains("512k"), "{s}: {e}");
        }
    }

    #[test]
    fn size_formatting() {
        assert_eq!(format_size(524_288), "512KiB");
        assert_eq!(format_size(1_572_864), "1536KiB");
        assert_eq!(format_size(4 << 20), "4MiB");
        assert_eq!(format_size(1000), "1000B");
        assert_eq!(format_size(0), "0B");
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11").unwrap(),
            [0, 1, 2, 3, 8, 10, 11]
        );
        assert_eq!(parse_cpu_list("5").unwrap(), [5]);
        assert_eq!(parse_cpu_list("3,1,1-2").unwrap(), [1, 2, 3]);
        assert_eq!(parse_cpu_list("0-7:2").unwrap(), [0, 2, 4, 6]);
        assert_eq!(parse_cpu_list(" \n").unwrap(), Vec::<u32>::new());
        for bad in ["a", "3-1", "1-", ",", "0-4:0"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_hostile_cpu_list_is_refused_not_allocated() {
        // 64 copies of a 2^20-CPU range would be 256 MiB of ids before dedup
        let hostile = vec!["0-1048575"; 64].join(",");
        assert!(parse_cpu_list(&hostile).is_err());
        assert_eq!(parse_cpu_list("0-1048575").unwrap().len(), 1 << 20);
        assert!(parse_cpu_list("0-1048577").is_err());
    }

    #[test]
    fn cpu_list_round_trip() {
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(format_cpu_list(&[7, 5, 6]), "5-7");
        assert_eq!(format_cpu_list(&[]), "");
        let big: Vec<u32> = (0..1152).collect();
        assert_eq!(format_cpu_list(&big), "0-1151");
        assert_eq!(
            parse_cpu_list(&format_cpu_list(&[1, 3, 4, 5, 9])).unwrap(),
            [1, 3, 4, 5, 9]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        for bad in ["", "abc", "5x", "-1s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
