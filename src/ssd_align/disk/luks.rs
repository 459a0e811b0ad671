//! LUKS1 and LUKS2 headers: where the encrypted data starts (LUKS1 payload offset; LUKS2
//! the first crypt segment's offset, from the JSON metadata area) and the LUKS2 sector size.

use super::{bad, be16, be32, be64, mul, Result};

const MAGIC: &[u8; 6] = b"LUKS\xba\xbe";

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
}

#[derive(serde::Deserialize)]
struct Segment {
    #[serde(rename = "type")]
    kind: String,
    offset: String,
    #[serde(default)]
    sector_size: Option<u64>,
}

/// Parse a LUKS2 header (`hdr` = binary header + JSON area): the crypt segment with the
/// lowest offset.
pub fn parse_luks2(hdr: &[u8]) -> Result<Luks> {
    let area = hdr.get(4096..).unwrap_or_default();
    let end = area.iter().position(|b| *b == 0).unwrap_or(area.len());
    let json: Json = serde_json::from_slice(&area[..end])
        .map_err(|e| super::DiskError(format!("LUKS2 JSON metadata is invalid: {e}")))?;
    let mut best: Option<Luks> = None;
    for (k, s) in &json.segments {
        if s.kind != "crypt" {
            continue;
        }
        let off: u64 = s.offset.parse().map_err(|_| {
            super::DiskError(format!(
                "LUKS2 segment {k} offset '{}' is not a number",
                s.offset
            ))
        })?;
        let ss = s.sector_size.unwrap_or(512);
        if !matches!(ss, 512 | 1024 | 2048 | 4096) {
            return bad(format!(
                "LUKS2 segment {k} sector size {ss} is not 512..4096"
            ));
        }
        if best.is_none_or(|b| off < b.data_offset) {
            best = Some(Luks {
                version: 2,
                data_offset: off,
                sector_size: ss,
            });
        }
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
                sector_size: 512
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
