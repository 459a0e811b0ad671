//! LUKS1 and LUKS2 headers: where the encrypted data starts (LUKS1 payload offset; LUKS2
//! the first crypt segment's offset, from the JSON metadata area) and the LUKS2 sector size.

use super::{bad, be16, be32, be64, mul, Result};

const MAGIC: &[u8; 6] = b"LUKS\xba\xbe";
/// The secondary LUKS2 header's magic.
const MAGIC2: &[u8; 6] = b"SKUL\xba\xbe";

/// The largest LUKS2 header (binary header + JSON area) read: cryptsetup allows up to 4 MiB.
pub const MAX_LUKS2_HDR: u64 = 4 << 20;

/// A LUKS header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Luks {
    pub version: u8,
    /// Where the encrypted data starts, in bytes from the header's start.
    pub data_offset: u64,
    /// The encryption sector size (512 for LUKS1).
    pub sector_size: u64,
    /// LUKS2's persistent `allow-discards` flag (`config.flags`); LUKS1 records none (the
    /// option is given at open, by crypttab's `discard`).
    pub allow_discards: Option<bool>,
}

/// What the first 4 KiB say: `None` (no LUKS), LUKS1 parsed, or LUKS2 needing its header of
/// `hdr_size` bytes (binary header + JSON area).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    None,
    Done(Luks),
    NeedsJson { hdr_size: u64 },
}

/// Look at the first bytes of a device for a LUKS header.
pub fn probe(head: &[u8]) -> Result<Probe> {
    if head.len() < 512 || &head[..6] != MAGIC {
        return Ok(Probe::None);
    }
    match be16(head, 6) {
        1 => {
            let off = mul(be32(head, 104), 512, "LUKS1 payload offset")?;
            Ok(Probe::Done(Luks {
                version: 1,
                data_offset: off,
                sector_size: 512,
                allow_discards: None,
            }))
        }
        2 => {
            let hdr_size = be64(head, 8);
            if !(16384..=MAX_LUKS2_HDR).contains(&hdr_size) {
                return bad(format!(
                    "LUKS2 header size {hdr_size} is outside 16 KiB..4 MiB"
                ));
            }
            Ok(Probe::NeedsJson { hdr_size })
        }
        v => bad(format!("LUKS version {v} is unknown")),
    }
}

#[derive(serde::Deserialize)]
struct Json {
    segments: std::collections::BTreeMap<String, Segment>,
    #[serde(default)]
    config: Config,
}

#[derive(serde::Deserialize, Default)]
struct Config {
    #[serde(default)]
    flags: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Segment {
    #[serde(rename = "type")]
    kind: String,
    offset: String,
    #[serde(default)]
    sector_size: Option<u64>,
}

/// The header's sequence id when `h` (binary header + JSON area, `hdr_size` bytes) is a
/// LUKS2 header with `magic` whose sha256 checksum holds, as cryptsetup checks it (the
/// whole area hashed with the checksum field zeroed).
fn valid(h: &[u8], magic: &[u8; 6], hdr_size: u64) -> Option<u64> {
    use sha2::Digest as _;
    if h.len() as u64 != hdr_size || &h[..6] != magic || be16(h, 6) != 2 || be64(h, 8) != hdr_size {
        return None;
    }
    let alg = &h[72..104];
    if !alg.starts_with(b"sha256\0") {
        return None;
    }
    let mut d = sha2::Sha256::new();
    d.update(&h[..448]);
    d.update([0u8; 64]);
    d.update(&h[512..]);
    (d.finalize().as_slice() == &h[448..480]).then(|| be64(h, 16))
}

/// Pick the LUKS2 header cryptsetup uses: the primary (`primary`, at the device's start) or
/// the secondary (`secondary`, right after it), whichever has a valid checksum, the newer
/// (higher sequence id) when both do; then parse it.
pub fn select_luks2(primary: &[u8], secondary: &[u8], hdr_size: u64) -> Result<Luks> {
    let p = valid(primary, MAGIC, hdr_size);
    let s = valid(secondary, MAGIC2, hdr_size);
    let hdr = match (p, s) {
        (Some(a), Some(b)) if b > a => secondary,
        (Some(_), _) => primary,
        (None, Some(_)) => secondary,
        (None, None) => {
            return bad(
                "LUKS2: neither the primary nor the secondary header has a valid checksum (cryptsetup refuses it)",
            )
        }
    };
    parse_luks2(hdr)
}

/// Parse a LUKS2 header (`hdr` = binary header + JSON area): its one crypt segment, refused
/// where cryptsetup refuses it (more than one crypt segment, an offset that is not a plain
/// decimal number, an offset inside the two headers).
pub fn parse_luks2(hdr: &[u8]) -> Result<Luks> {
    let area = hdr.get(4096..).unwrap_or_default();
    let end = area.iter().position(|b| *b == 0).unwrap_or(area.len());
    let json: Json = serde_json::from_slice(&area[..end])
        .map_err(|e| super::DiskError(format!("LUKS2 JSON metadata is invalid: {e}")))?;
    let mut best: Option<Luks> = None;
    let hdr_size = hdr.len() as u64;
    for (k, s) in &json.segments {
        if s.kind != "crypt" {
            continue;
        }
        if best.is_some() {
            return bad(format!(
                "LUKS2 metadata has more than one crypt segment (segment {k}): cryptsetup refuses it"
            ));
        }
        let plain = !s.offset.is_empty() && s.offset.bytes().all(|b| b.is_ascii_digit());
        let off: u64 = s.offset.parse().ok().filter(|_| plain).ok_or_else(|| {
            super::DiskError(format!(
                "LUKS2 segment {k} offset '{}' is not a plain decimal number",
                s.offset
            ))
        })?;
        if off < 2 * hdr_size {
            return bad(format!(
                "LUKS2 segment {k} offset {off} is inside the two {hdr_size}-byte headers: cryptsetup refuses it"
            ));
        }
        let ss = s.sector_size.unwrap_or(512);
        if !matches!(ss, 512 | 1024 | 2048 | 4096) {
            return bad(format!(
                "LUKS2 segment {k} sector size {ss} is not 512..4096"
            ));
        }
        best = Some(Luks {
            version: 2,
            data_offset: off,
            sector_size: ss,
            allow_discards: Some(json.config.flags.iter().any(|f| f == "allow-discards")),
        });
    }
    best.ok_or_else(|| super::DiskError("LUKS2 metadata has no crypt segment".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luks1_payload_and_luks2_segments() {
        let mut h = vec![0u8; 4096];
        h[..6].copy_from_slice(MAGIC);
        h[6..8].copy_from_slice(&1u16.to_be_bytes());
        h[104..108].copy_from_slice(&4097u32.to_be_bytes());
        assert_eq!(
            probe(&h).unwrap(),
            Probe::Done(Luks {
                version: 1,
                data_offset: 4097 * 512,
                sector_size: 512,
                allow_discards: None,
            })
        );
        h[6..8].copy_from_slice(&2u16.to_be_bytes());
        h[8..16].copy_from_slice(&16384u64.to_be_bytes());
        assert_eq!(probe(&h).unwrap(), Probe::NeedsJson { hdr_size: 16384 });
        let mut full = h.clone();
        full.resize(16384, 0);
        let j = br#"{"keyslots":{},"segments":{"0":{"type":"crypt","offset":"16781312","size":"dynamic","sector_size":4096}}}"#;
        full[4096..4096 + j.len()].copy_from_slice(j);
        assert_eq!(parse_luks2(&full).unwrap().data_offset, 16_781_312);
        assert_eq!(parse_luks2(&full).unwrap().sector_size, 4096);
        full[4096] = b'x';
        assert!(parse_luks2(&full).is_err());
        h[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(probe(&h).is_err());
    }
}
