//! LVM2 physical volumes: the label (sectors 0-3), the PV header's data and metadata areas,
//! and the text metadata (the VG's extent size, this PV's pe_start, every LV segment on it).

use std::collections::BTreeMap;

use super::{add, bad, le32, le64, mul, DiskError, Result};

/// The largest metadata text read (real ones are a few KiB; the default area is 1 MiB).
const MAX_TEXT: u64 = 4 << 20;

/// The LVM2 label: where the PV's data and metadata areas are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The PV's UUID, 32 characters without dashes.
    pub uuid: String,
    /// The first data area's offset: pe_start in bytes.
    pub pe_start: u64,
    /// The first metadata area's (offset, size) in bytes, if any.
    pub mda: Option<(u64, u64)>,
    /// The second metadata area (`pvcreate --pvmetadatacopies 2`: at the device's end).
    pub mda2: Option<(u64, u64)>,
    /// The device size pvcreate recorded (bytes; 0 when not recorded).
    pub dev_size: u64,
}

/// Find the label in the first four 512-byte sectors.
pub fn label(head: &[u8]) -> Option<Label> {
    for s in 0..4 {
        let l = head.get(s * 512..s * 512 + 512)?;
        if &l[0..8] != b"LABELONE" || &l[24..32] != b"LVM2 001" {
            continue;
        }
        let off = usize::try_from(le32(l, 20)).ok()?;
        let uuid = String::from_utf8_lossy(l.get(off..off.checked_add(32)?)?).into_owned();
        // disk_locn lists after the uuid and device size: data areas, 0-terminated, then
        // metadata areas
        let mut p = off + 40;
        let mut areas: Vec<Vec<(u64, u64)>> = vec![Vec::new(), Vec::new()];
        for list in &mut areas {
            loop {
                let (o, z) = (le64(l, p), le64(l, p + 8));
                p += 16;
                if (o == 0 && z == 0) || p > 512 {
                    break;
                }
                list.push((o, z));
            }
        }
        let pe_start = areas[0].first()?.0;
        return Some(Label {
            uuid,
            pe_start,
            mda: areas[1].first().copied(),
            mda2: areas[1].get(1).copied(),
            dev_size: le64(l, off + 32),
        });
    }
    None
}

/// lvm2's calc_crc: the reflected CRC-32 (0xEDB88320) from `initial`, without the final
/// inversion (crc32fast inverts before and after: undone here).
pub fn calc_crc(initial: u32, buf: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(!initial);
    h.update(buf);
    !h.finalize()
}

/// lvm2's INITIAL_CRC.
pub const INITIAL_CRC: u32 = 0xf597_a6cf;

/// True when the mda_header's checksum (over its bytes 4..512) holds, as lvm2 checks it.
pub fn header_crc_ok(hdr: &[u8]) -> bool {
    hdr.get(4..512)
        .is_some_and(|b| calc_crc(INITIAL_CRC, b) == le32(hdr, 0) as u32)
}

/// Where the current metadata text is in a metadata area whose first 512 bytes (the
/// mda_header) are `hdr`: (offset from the area's start, size, wraps to 512 after the end).
pub fn text_location(hdr: &[u8], mda_size: u64) -> Result<Option<(u64, u64)>> {
    if hdr.get(4..20) != Some(b" LVM2 x[5A%r0N*>".as_slice()) {
        return bad("LVM metadata area header has no LVM2 magic");
    }
    let (off, size) = (le64(hdr, 40), le64(hdr, 48));
    if size == 0 {
        return Ok(None);
    }
    if size > MAX_TEXT || off < 512 || off >= mda_size {
        return bad(format!(
            "LVM metadata text at {off} of {size} bytes is outside its area ({mda_size} bytes)"
        ));
    }
    Ok(Some((off, size)))
}

/// A value of LVM's text metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(i64),
    Str(String),
    List(Vec<Value>),
    Section(BTreeMap<String, Value>),
}

impl Value {
    fn get(&self, k: &str) -> Option<&Value> {
        match self {
            Value::Section(m) => m.get(k),
            _ => None,
        }
    }
    /// A number the layout needs: missing, negative or not a 64-bit number is an error naming
    /// the key and the value, never a default.
    fn req(&self, k: &str, what: &str) -> Result<u64> {
        match self.get(k) {
            None => bad(format!("LVM {what}: {k} is missing")),
            Some(Value::Num(n)) if *n >= 0 => Ok(*n as u64),
            Some(Value::Num(n)) => bad(format!("LVM {what}: {k} = {n} is negative")),
            Some(Value::Str(s)) => bad(format!("LVM {what}: {k} = {s} is not a number")),
            Some(_) => bad(format!("LVM {what}: {k} is not a number")),
        }
    }
    fn str(&self, k: &str) -> Option<&str> {
        match self.get(k)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    fn sections(&self) -> Vec<(&String, &Value)> {
        match self {
            Value::Section(m) => m
                .iter()
                .filter(|(_, v)| matches!(v, Value::Section(_)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Sym(char),
}

fn tokens(text: &str) -> Result<Vec<Tok>> {
    let mut v = Vec::new();
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '#' => {
                for c in it.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                let mut s = String::new();
                loop {
                    match it.next() {
                        None => return bad("LVM metadata: unterminated string"),
                        Some('"') => break,
                        Some('\\') => s.extend(it.next()),
                        Some(c) => s.push(c),
                    }
                }
                v.push(Tok::Str(s));
            }
            '{' | '}' | '[' | ']' | '=' | ',' => v.push(Tok::Sym(c)),
            c if c.is_whitespace() || c == '\0' => {}
            c => {
                let mut w = String::from(c);
                while let Some(&d) = it.peek() {
                    if d.is_whitespace() || "{}[]=,\"#".contains(d) {
                        break;
                    }
                    w.push(d);
                    it.next();
                }
                v.push(Tok::Word(w));
            }
        }
    }
    Ok(v)
}

const MAX_DEPTH: usize = 16;

struct Parser {
    toks: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn section(&mut self, depth: usize, closing: bool) -> Result<Value> {
        if depth > MAX_DEPTH {
            return bad("LVM metadata nested too deep");
        }
        let mut m = BTreeMap::new();
        loop {
            let key = match self.next() {
                None if !closing => return Ok(Value::Section(m)),
                Some(Tok::Sym('}')) if closing => return Ok(Value::Section(m)),
                Some(Tok::Word(w)) => w,
                t => return bad(format!("LVM metadata: unexpected {t:?}")),
            };
            // as lvm2's config tree: a key given twice keeps its first value
            match self.next() {
                Some(Tok::Sym('{')) => {
                    let s = self.section(depth + 1, true)?;
                    m.entry(key).or_insert(s);
                }
                Some(Tok::Sym('=')) => {
                    let v = self.value()?;
                    m.entry(key).or_insert(v);
                }
                t => return bad(format!("LVM metadata: after '{key}', unexpected {t:?}")),
            }
        }
    }
    /// A value: a number, a string, or a list of them. As in lvm2's grammar a list holds
    /// only numbers and strings, so a list inside a list is an error (and nothing here
    /// recurses on the input).
    fn value(&mut self) -> Result<Value> {
        match self.next() {
            Some(Tok::Sym('[')) => {
                let mut l = Vec::new();
                loop {
                    match self.next() {
                        Some(Tok::Sym(']')) => return Ok(Value::List(l)),
                        Some(Tok::Sym(',')) => {}
                        Some(Tok::Sym('[')) => {
                            return bad("LVM metadata: a list inside a list (lvm2 allows only numbers and strings in a list)")
                        }
                        t => l.push(Self::scalar(t)?),
                    }
                }
            }
            t => Self::scalar(t),
        }
    }
    fn scalar(t: Option<Tok>) -> Result<Value> {
        match t {
            Some(Tok::Str(s)) => Ok(Value::Str(s)),
            Some(Tok::Word(w)) => Ok(w.parse().map(Value::Num).unwrap_or(Value::Str(w))),
            t => bad(format!("LVM metadata: unexpected {t:?} for a value")),
        }
    }
}

/// `devices/issue_discards` of an lvm.conf (the same syntax as the metadata): `None` when the
/// file does not set it (lvm2's default is 0).
pub fn issue_discards(conf: &str) -> Result<Option<bool>> {
    let v = parse_text(conf)?;
    Ok(
        match v.get("devices").and_then(|d| d.get("issue_discards")) {
            Some(Value::Num(n)) => Some(*n != 0),
            _ => None,
        },
    )
}

/// Parse LVM text metadata into its top-level section.
pub fn parse_text(text: &str) -> Result<Value> {
    Parser {
        toks: tokens(text)?,
        i: 0,
    }
    .section(0, false)
}

/// One LV segment's stripe on this PV.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LvSegment {
    pub lv: String,
    /// The segment's first extent in the LV.
    pub lv_extent: u64,
    /// Its first physical extent on this PV.
    pub pv_extent: u64,
    pub extents: u64,
    /// Where it starts, in bytes from the PV's start: pe_start + pv_extent x extent size.
    pub offset: u64,
    /// An LV without the VISIBLE status (a thin pool's `_tdata`/`_tmeta`, `lvol0_pmspare`):
    /// it has no /dev/VG/LV node, only /dev/mapper/VG-LV while active.
    pub hidden: bool,
}

/// A thin pool of the VG: its chunk size, discards mode and the thin LVs it serves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ThinPool {
    pub name: String,
    /// The hidden LV holding the pool's data (`pool_tdata`).
    pub data_lv: String,
    /// The allocation unit of every thin LV in the pool.
    pub chunk_bytes: u64,
    /// `passdown`, `nopassdown` or `ignore` (lvm2's default when absent: passdown).
    pub discards: String,
    pub thin_lvs: Vec<String>,
}

/// This PV as its VG's metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pv {
    pub vg: String,
    pub pe_start: u64,
    pub extent_bytes: u64,
    pub segments: Vec<LvSegment>,
    /// The VG's thin pools whose data LV has a segment on this PV.
    pub thin_pools: Vec<ThinPool>,
}

fn undash(s: &str) -> String {
    s.chars().filter(|c| *c != '-').collect()
}

/// Find the PV whose UUID is `uuid` in the metadata and list every LV segment on it.
pub fn pv_layout(meta: &Value, uuid: &str) -> Result<Option<Pv>> {
    for (vg, v) in meta.sections() {
        let Some(pvs) = v.get("physical_volumes") else {
            continue;
        };
        let Some((pvname, pv)) = pvs
            .sections()
            .into_iter()
            .find(|(_, p)| p.str("id").is_some_and(|id| undash(id) == uuid))
        else {
            continue;
        };
        let ext = mul(
            v.req("extent_size", &format!("VG {vg}"))?,
            512,
            "LVM extent_size",
        )?;
        if ext == 0 {
            return bad(format!("LVM VG {vg}: extent_size is 0"));
        }
        let pe_start = mul(
            pv.req("pe_start", &format!("VG {vg} PV {pvname}"))?,
            512,
            "LVM pe_start",
        )?;
        if pe_start == 0 {
            return bad(format!(
                "LVM VG {vg} PV {pvname}: pe_start = 0 (the data would overlap the PV label)"
            ));
        }
        let mut segs = Vec::new();
        let mut pools = Vec::new();
        if let Some(lvs) = v.get("logical_volumes") {
            for (lv, l) in lvs.sections() {
                segments(lv, l, pvname, pe_start, ext, &mut segs)?;
            }
            pools = thin_pools(lvs, &segs)?;
        }
        return Ok(Some(Pv {
            vg: vg.clone(),
            pe_start,
            extent_bytes: ext,
            segments: segs,
            thin_pools: pools,
        }));
    }
    Ok(None)
}

/// The thin pools (`type = "thin-pool"`) whose data LV lies on this PV (`segs`), with their
/// thin LVs (`type = "thin"`, `thin_pool = NAME`).
fn thin_pools(lvs: &Value, segs: &[LvSegment]) -> Result<Vec<ThinPool>> {
    let seg_of = |l: &Value, key: &str| -> Option<String> {
        l.sections()
            .into_iter()
            .find_map(|(_, s)| s.str(key).map(str::to_string))
    };
    let mut out = Vec::new();
    for (name, l) in lvs.sections() {
        let Some((_, seg)) = l
            .sections()
            .into_iter()
            .find(|(_, s)| s.str("type") == Some("thin-pool"))
        else {
            continue;
        };
        let Some(data_lv) = seg.str("pool") else {
            return bad(format!(
                "LVM thin pool {name}: pool (its data LV) is missing"
            ));
        };
        if !segs.iter().any(|s| s.lv == data_lv) {
            continue;
        }
        let chunk = mul(
            seg.req("chunk_size", &format!("thin pool {name}"))?,
            512,
            "LVM thin pool chunk_size",
        )?;
        let thin_lvs = lvs
            .sections()
            .into_iter()
            .filter(|(_, t)| seg_of(t, "thin_pool").as_deref() == Some(name.as_str()))
            .map(|(t, _)| t.clone())
            .collect();
        out.push(ThinPool {
            name: name.clone(),
            data_lv: data_lv.to_string(),
            chunk_bytes: chunk,
            discards: seg.str("discards").unwrap_or("passdown").to_string(),
            thin_lvs,
        });
    }
    Ok(out)
}

fn segments(
    lv: &str,
    l: &Value,
    pvname: &str,
    pe_start: u64,
    ext: u64,
    out: &mut Vec<LvSegment>,
) -> Result<()> {
    // lvm2 writes VISIBLE into the status of every LV with a /dev/VG/LV node
    let hidden = matches!(l.get("status"), Some(Value::List(st)) if !st.iter().any(|x| *x == Value::Str("VISIBLE".into())));
    for (_, s) in l.sections() {
        let Some(Value::List(stripes)) = s.get("stripes") else {
            continue;
        };
        let count = s.req("extent_count", &format!("LV {lv}"))?;
        let stripes_n = (stripes.len() / 2).max(1) as u64;
        for pair in stripes.chunks(2) {
            let [Value::Str(name), Value::Num(pe)] = pair else {
                continue;
            };
            if name != pvname {
                continue;
            }
            let pe = u64::try_from(*pe)
                .map_err(|_| DiskError(format!("LV {lv}: negative extent {pe}")))?;
            let off = add(
                pe_start,
                mul(pe, ext, &format!("LV {lv} extent {pe}"))?,
                &format!("LV {lv} start"),
            )?;
            out.push(LvSegment {
                lv: lv.to_string(),
                lv_extent: s.req("start_extent", &format!("LV {lv}"))?,
                pv_extent: pe,
                extents: count / stripes_n,
                offset: off,
                hidden,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = r#"vg0 {
id = "abc"
seqno = 3
extent_size = 8192 # 4 MiB
physical_volumes {
pv0 {
id = "AAAAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGGGG"
device = "/dev/loop0"
pe_start = 2048
pe_count = 20
}
}
logical_volumes {
data {
segment_count = 2
segment1 {
start_extent = 0
extent_count = 2
type = "striped"
stripe_count = 1
stripes = [
"pv0", 0
]
}
segment2 {
start_extent = 2
extent_count = 1
type = "striped"
stripe_count = 1
stripes = [
"pv0", 7
]
}
}
}
}
contents = "Text Format Volume Group"
version = 1
"#;

    #[test]
    fn segments_on_this_pv() {
        let v = parse_text(META).unwrap();
        let pv = pv_layout(&v, "AAAAAABBBBCCCCDDDDEEEEFFFFGGGGGG")
            .unwrap()
            .unwrap();
        assert_eq!(
            (pv.vg.as_str(), pv.pe_start, pv.extent_bytes),
            ("vg0", 1 << 20, 4 << 20)
        );
        let offs: Vec<u64> = pv.segments.iter().map(|s| s.offset).collect();
        assert_eq!(offs, [1 << 20, (1 << 20) + 7 * (4 << 20)]);
        assert_eq!(pv_layout(&v, "other").unwrap(), None);
    }

    #[test]
    fn a_bad_or_missing_number_is_an_error_naming_it() {
        let id = "AAAAAABBBBCCCCDDDDEEEEFFFFGGGGGG";
        for (from, to, want) in [
            ("pe_start = 2048", "pe_start = -1", "pe_start = -1"),
            (
                "pe_start = 2048",
                "pe_start = 99999999999999999999999999",
                "pe_start = 99999999999999999999999999",
            ),
            ("pe_start = 2048", "", "pe_start is missing"),
            ("pe_start = 2048", "pe_start = 0", "pe_start = 0"),
            (
                "pe_start = 2048",
                "pe_start = 36028797018963968",
                "pe_start",
            ),
            ("extent_size = 8192", "extent_size = -8", "extent_size = -8"),
            ("start_extent = 2", "start_extent = x", "start_extent = x"),
            ("extent_count = 1", "", "extent_count is missing"),
        ] {
            let text = META.replacen(from, to, 1);
            let e = pv_layout(&parse_text(&text).unwrap(), id).unwrap_err();
            assert!(e.0.contains(want), "{to}: {}", e.0);
        }
    }

    #[test]
    fn bad_text_is_an_error_not_a_panic() {
        for t in ["a {", "a = [", "a = \"x", "{", "a b", &"a {".repeat(40)] {
            let _ = parse_text(t);
        }
        assert!(parse_text("x { y = ").is_err());
    }

    #[test]
    fn a_key_given_twice_keeps_its_first_value_as_lvm2_does() {
        let id = "AAAAAABBBBCCCCDDDDEEEEFFFFGGGGGG";
        let v =
            parse_text(&META.replacen("pe_start = 2048", "pe_start = 2049\npe_start = 2048", 1))
                .unwrap();
        assert_eq!(pv_layout(&v, id).unwrap().unwrap().pe_start, 2049 * 512);
        let v = parse_text(&META.replacen(
            "extent_size = 8192",
            "extent_size = 8192\nextent_size = 8191",
            1,
        ))
        .unwrap();
        assert_eq!(pv_layout(&v, id).unwrap().unwrap().extent_bytes, 4 << 20);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("a = {}1{}", "[".repeat(50_000), "]".repeat(50_000));
        let e = parse_text(&deep).unwrap_err();
        assert!(e.0.contains("a list inside a list"), "{e}");
        let deep = format!("{}{}", "a {\n".repeat(50_000), "}\n".repeat(50_000));
        assert!(parse_text(&deep).unwrap_err().0.contains("nested too deep"));
        assert_eq!(
            parse_text("a = [1, \"x\"]").unwrap(),
            Value::Section(BTreeMap::from([(
                "a".to_string(),
                Value::List(vec![Value::Num(1), Value::Str("x".into())])
            )]))
        );
    }

    #[test]
    fn issue_discards_from_lvm_conf() {
        let conf =
            "# lvm.conf\nconfig {\n}\ndevices {\n\tdir = \"/dev\"\n\tissue_discards = 1\n}\n";
        assert_eq!(issue_discards(conf).unwrap(), Some(true));
        assert_eq!(issue_discards("devices {\n}\n").unwrap(), None);
        assert_eq!(
            issue_discards("devices { issue_discards = 0 }").unwrap(),
            Some(false)
        );
    }
}
