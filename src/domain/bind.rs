//! BIND statistics-channel documents: XML v2, XML v3 (whole or split by subset) and JSON v1,
//! into one normalised model. The XML is stream-parsed with quick-xml (no DOM of a 7 MB
//! document); JSON with serde_json. Pure: bytes in, model out.

use std::collections::BTreeMap;
use std::fmt;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Serialize;

/// Counters by name.
pub type Counters = BTreeMap<String, u64>;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Zone {
    pub name: String,
    pub class: String,
    /// Queries by type (v3/JSON `qtype`; v2 has none).
    pub qtypes: Counters,
    /// Responses by rcode / v2 per-zone server counters.
    pub rcodes: Counters,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct View {
    pub name: String,
    /// Outgoing (resolver) queries by type.
    pub resqtype: Counters,
    /// Resolver statistics.
    pub resstats: Counters,
    /// Cache DB RRsets by type.
    pub cache: Counters,
    pub zones: Vec<Zone>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// `xml-v2`, `xml-v3` or `json-v1`.
    pub format: String,
    /// The statistics schema version (`3.13`, `2.2`, `1.7`).
    pub schema: String,
    pub server_version: Option<String>,
    pub opcodes: Counters,
    pub rcodes: Counters,
    /// Incoming queries by type.
    pub qtypes: Counters,
    pub nsstat: Counters,
    pub zonestat: Counters,
    pub resstat: Counters,
    pub sockstat: Counters,
    pub views: Vec<View>,
    /// Memory summary (TotalUse, InUse, ... ; 9.20 has only Malloced and InUse).
    pub memory: Counters,
    /// Memory in use per context name, summed over contexts that share a name.
    pub contexts: Counters,
    /// Tasks by state, where BIND still reports them (gone in 9.20).
    pub tasks: Option<Counters>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindError(pub String);

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BindError {}

fn err<T>(m: impl Into<String>) -> Result<T, BindError> {
    Err(BindError(m.into()))
}

/// Which zones' counters to keep. Zones are most of a big document (`zone-statistics full`
/// on thousands of zones): skipping the ones no graph needs keeps parsing fast.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ZoneFilter {
    #[default]
    All,
    None,
    Only(Vec<String>),
}

impl ZoneFilter {
    fn keeps(&self, name: &str) -> bool {
        match self {
            ZoneFilter::All => true,
            ZoneFilter::None => false,
            ZoneFilter::Only(v) => v.iter().any(|z| z == name),
        }
    }
}

/// Parse any statistics document, detecting its format from the content.
pub fn parse(doc: &[u8]) -> Result<Stats, BindError> {
    parse_reader(doc, &ZoneFilter::All)
}

/// Parse a document from a reader (streamed: a file is never loaded whole for XML).
pub fn parse_reader<R: std::io::BufRead>(mut r: R, zones: &ZoneFilter) -> Result<Stats, BindError> {
    let first = loop {
        let buf = r
            .fill_buf()
            .map_err(|e| BindError(format!("reading: {e}")))?;
        if buf.is_empty() {
            break None;
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                r.consume(i);
                break Some(b);
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    };
    match first {
        Some(b'{') => {
            let mut doc = Vec::new();
            r.read_to_end(&mut doc)
                .map_err(|e| BindError(format!("reading: {e}")))?;
            parse_json(&doc)
        }
        Some(b'<') => {
            let mut doc = Vec::new();
            r.read_to_end(&mut doc)
                .map_err(|e| BindError(format!("reading: {e}")))?;
            parse_xml_slice(&doc, zones)
        }
        None => err("empty document"),
        Some(_) => err("not a BIND statistics document (neither XML nor JSON)"),
    }
}

impl Stats {
    /// Merge a subset document (`/xml/v3/mem` after `/xml/v3/server`...) into this one.
    pub fn merge(&mut self, o: Stats) {
        fn m(a: &mut Counters, b: Counters) {
            for (k, v) in b {
                *a.entry(k).or_default() += v;
            }
        }
        if self.format.is_empty() {
            self.format = o.format.clone();
            self.schema = o.schema.clone();
        }
        self.server_version = self.server_version.take().or(o.server_version);
        m(&mut self.opcodes, o.opcodes);
        m(&mut self.rcodes, o.rcodes);
        m(&mut self.qtypes, o.qtypes);
        m(&mut self.nsstat, o.nsstat);
        m(&mut self.zonestat, o.zonestat);
        m(&mut self.resstat, o.resstat);
        m(&mut self.sockstat, o.sockstat);
        m(&mut self.memory, o.memory);
        m(&mut self.contexts, o.contexts);
        if let Some(t) = o.tasks {
            m(self.tasks.get_or_insert_with(Counters::new), t);
        }
        for v in o.views {
            match self.views.iter_mut().find(|x| x.name == v.name) {
                Some(x) => {
                    m(&mut x.resqtype, v.resqtype);
                    m(&mut x.resstats, v.resstats);
                    m(&mut x.cache, v.cache);
                    x.zones.extend(v.zones);
                }
                None => self.views.push(v),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// XML

fn num(s: &str) -> Option<u64> {
    let t = s.trim();
    t.parse::<u64>()
        .ok()
        .or_else(|| t.parse::<i64>().ok().map(|v| v.max(0) as u64))
}

#[derive(Default)]
struct Pending {
    name: Option<String>,
    value: Option<u64>,
    state: Option<String>,
    inuse: Option<u64>,
    class: Option<String>,
}

/// Stream-parse an XML v2 or v3 document.
pub fn parse_xml(doc: &[u8]) -> Result<Stats, BindError> {
    parse_xml_slice(doc, &ZoneFilter::All)
}

fn reader_at(doc: &[u8]) -> Reader<&[u8]> {
    let mut r = Reader::from_reader(doc);
    r.config_mut().trim_text(true);
    // a reader restarted after a skipped <zones> never saw the enclosing <view>: the element
    // stack kept by the parser checks nesting instead
    r.config_mut().check_end_names = false;
    r.config_mut().allow_unmatched_ends = true;
    r
}

/// Where `needle` starts in `hay` (SIMD substring search).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

fn parse_xml_slice(doc: &[u8], zones: &ZoneFilter) -> Result<Stats, BindError> {
    let mut base = 0usize;
    let mut r = reader_at(doc);
    r.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut path: Vec<Vec<u8>> = Vec::new();
    // the `type` of each open <counters> (v3), by depth
    let mut ctype: Vec<Option<String>> = Vec::new();
    let mut counter_name: Option<String> = None;
    let mut text = String::new();
    let mut st = Stats::default();
    let mut seen_stats = false;
    let mut view: Option<View> = None;
    let mut zone: Option<Zone> = None;
    let mut pending = Pending::default();
    let mut tasks = Counters::new();
    let mut saw_tasks = false;
    let mut closed_root = false;
    loop {
        let ev = r.read_event_into(&mut buf).map_err(|e| {
            BindError(format!(
                "malformed XML at byte {}: {e}",
                base as u64 + r.buffer_position()
            ))
        })?;
        match ev {
            Event::Start(e) => {
                let name = e.name().as_ref().as_bytes().to_vec();
                text.clear();
                match name.as_slice() {
                    b"statistics" => {
                        seen_stats = true;
                        let v = attr(&e, "version").unwrap_or_default();
                        st.format = if v.starts_with('2') {
                            "xml-v2".into()
                        } else {
                            "xml-v3".into()
                        };
                        st.schema = v;
                    }
                    b"view" => {
                        let n = attr(&e, "name");
                        view = Some(View {
                            name: n.unwrap_or_default(),
                            ..Default::default()
                        });
                    }
                    // zones no graph needs are jumped over without tokenizing them
                    b"zones" | b"zone"
                        if (name.as_slice() == b"zones" && *zones == ZoneFilter::None)
                            || (name.as_slice() == b"zone"
                                && attr(&e, "name").is_some_and(|n| !zones.keeps(&n))) =>
                    {
                        let close: &[u8] = if name.as_slice() == b"zones" {
                            b"</zones>"
                        } else {
                            b"</zone>"
                        };
                        let pos = base + r.buffer_position() as usize;
                        let Some(i) = find(&doc[pos..], close) else {
                            return err("truncated document (</statistics> missing)");
                        };
                        base = pos + i + close.len();
                        r = reader_at(&doc[base..]);
                        buf.clear();
                        continue;
                    }
                    b"zone" => {
                        zone = Some(Zone {
                            name: attr(&e, "name").unwrap_or_default(),
                            class: attr(&e, "rdataclass").unwrap_or_default(),
                            ..Default::default()
                        });
                    }
                    b"counters" => ctype.push(attr(&e, "type")),
                    b"counter" => counter_name = attr(&e, "name"),
                    b"task" => {
                        saw_tasks = true;
                        pending = Pending::default();
                    }
                    b"tasks" => saw_tasks = true,
                    b"context" | b"rrset" | b"rdtype" | b"opcode" | b"nsstat" | b"zonestat"
                    | b"resstat" | b"sockstat" | b"rcode" => pending = Pending::default(),
                    _ => {}
                }
                path.push(name);
            }
            Event::Empty(e) => {
                // <counters type="x"/>, <views/>: empty groups carry nothing
                let _ = e;
            }
            Event::Text(t) => {
                text.push_str(t.as_ref());
            }
            Event::GeneralRef(g) => {
                let s = match g.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                };
                text.push_str(s);
            }
            Event::End(e) => {
                let name = e.name().as_ref().as_bytes().to_vec();
                path.pop();
                let parent = path.last().map(Vec::as_slice).unwrap_or(b"");
                let in_view = view.is_some();
                let in_zone = zone.is_some();
                match name.as_slice() {
                    b"statistics" => closed_root = true,
                    // v3: <counter name="A">12</counter>
                    b"counter" if counter_name.is_some() => {
                        let n = counter_name.take().unwrap_or_default();
                        if let (Some(v), Some(Some(t))) = (num(&text), ctype.last()) {
                            let group = target(&mut st, view.as_mut(), zone.as_mut(), t);
                            if let Some(g) = group {
                                *g.entry(n).or_default() += v;
                            }
                        }
                    }
                    // v2 and cache rrsets: <x><name>N</name><counter>V</counter></x>
                    b"counter" => pending.value = num(&text),
                    b"name" => pending.name = Some(text.trim().to_string()),
                    b"state" => pending.state = Some(text.trim().to_string()),
                    b"inuse" => pending.inuse = num(&text),
                    b"rdataclass" if in_zone => pending.class = Some(text.trim().to_string()),
                    b"counters" => {
                        ctype.pop();
                    }
                    b"version" if parent == b"server" => {
                        st.server_version = Some(text.trim().to_string())
                    }
                    b"rrset" => {
                        if let (Some(v), Some(n), Some(vw)) =
                            (pending.value, pending.name.take(), view.as_mut())
                        {
                            *vw.cache.entry(n).or_default() += v;
                        }
                    }
                    b"rdtype" | b"opcode" | b"nsstat" | b"zonestat" | b"resstat" | b"sockstat"
                    | b"rcode" => {
                        // v2 name/counter pairs
                        if let (Some(n), Some(v)) = (pending.name.take(), pending.value) {
                            let g = match (name.as_slice(), parent, in_view) {
                                (b"rdtype", b"queries-in", _) => Some(&mut st.qtypes),
                                (b"rdtype", _, true) => view.as_mut().map(|v| &mut v.resqtype),
                                (b"resstat", _, true) => view.as_mut().map(|v| &mut v.resstats),
                                (b"opcode", _, _) => Some(&mut st.opcodes),
                                (b"rcode", _, _) => Some(&mut st.rcodes),
                                (b"nsstat", _, _) => Some(&mut st.nsstat),
                                (b"zonestat", _, _) => Some(&mut st.zonestat),
                                (b"resstat", _, false) => Some(&mut st.resstat),
                                (b"sockstat", _, _) => Some(&mut st.sockstat),
                                _ => None,
                            };
                            if let Some(g) = g {
                                *g.entry(n).or_default() += v;
                            }
                        }
                    }
                    b"context" => {
                        if let (Some(n), Some(v)) = (pending.name.take(), pending.inuse) {
                            *st.contexts.entry(n).or_default() += v;
                        }
                    }
                    b"task" => {
                        let s = pending.state.take().unwrap_or_else(|| "unknown".into());
                        *tasks.entry(s).or_default() += 1;
                    }
                    b"zone" => {
                        if let Some(mut z) = zone.take() {
                            if z.name.is_empty() {
                                // v2: <zone><name>example.com/IN</name>...
                                if let Some(n) = pending.name.take() {
                                    let (a, b) = n.rsplit_once('/').unwrap_or((n.as_str(), ""));
                                    z.name = a.to_string();
                                    z.class = b.to_string();
                                }
                            }
                            if let Some(vw) = view.as_mut() {
                                vw.zones.push(z);
                            }
                        }
                    }
                    b"view" => {
                        if let Some(mut v) = view.take() {
                            if v.name.is_empty() {
                                v.name = pending.name.take().unwrap_or_default();
                            }
                            st.views.push(v);
                        }
                    }
                    other => {
                        // memory summary (<summary><TotalUse>N</TotalUse>), v2 zone counters
                        if parent == b"summary" {
                            if let Some(v) = num(&text) {
                                st.memory
                                    .insert(String::from_utf8_lossy(other).into_owned(), v);
                            }
                        } else if parent == b"counters" && in_zone {
                            if let (Some(v), Some(z)) = (num(&text), zone.as_mut()) {
                                z.rcodes
                                    .insert(String::from_utf8_lossy(other).into_owned(), v);
                            }
                        } else if in_view && parent == b"view" && other == b"name" {
                            // handled by b"name"
                        }
                    }
                }
                // a view's own <name> (v2) arrives before its children
                if name.as_slice() == b"name" && parent == b"view" {
                    if let (Some(v), Some(n)) = (view.as_mut(), pending.name.take()) {
                        v.name = n;
                    }
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_stats {
        return err("not a BIND statistics document (no <statistics> element)");
    }
    if !closed_root {
        return err("truncated document (</statistics> missing)");
    }
    if saw_tasks {
        st.tasks = Some(tasks);
    }
    Ok(st)
}

fn attr(e: &quick_xml::events::BytesStart, name: &str) -> Option<String> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .map(|a| a.value.into_owned())
}

/// Where a v3 `<counters type=...>` group goes.
fn target<'a>(
    st: &'a mut Stats,
    view: Option<&'a mut View>,
    zone: Option<&'a mut Zone>,
    t: &str,
) -> Option<&'a mut Counters> {
    if let Some(z) = zone {
        return match t {
            "qtype" => Some(&mut z.qtypes),
            "rcode" => Some(&mut z.rcodes),
            _ => None,
        };
    }
    if let Some(v) = view {
        return match t {
            "resqtype" => Some(&mut v.resqtype),
            "resstats" => Some(&mut v.resstats),
            _ => None,
        };
    }
    match t {
        "opcode" => Some(&mut st.opcodes),
        "rcode" => Some(&mut st.rcodes),
        "qtype" => Some(&mut st.qtypes),
        "nsstat" => Some(&mut st.nsstat),
        "zonestat" => Some(&mut st.zonestat),
        "resstat" => Some(&mut st.resstat),
        "sockstat" => Some(&mut st.sockstat),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

fn counters(v: Option<&serde_json::Value>) -> Counters {
    v.and_then(|v| v.as_object())
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default()
}

/// Parse a JSON v1 document (whole or a subset).
pub fn parse_json(doc: &[u8]) -> Result<Stats, BindError> {
    let v: serde_json::Value =
        serde_json::from_slice(doc).map_err(|e| BindError(format!("malformed JSON: {e}")))?;
    let Some(schema) = v.get("json-stats-version").and_then(|s| s.as_str()) else {
        return err("not a BIND statistics document (no json-stats-version)");
    };
    let mut st = Stats {
        format: "json-v1".into(),
        schema: schema.to_string(),
        server_version: v
            .get("version")
            .and_then(|s| s.as_str())
            .map(str::to_string),
        opcodes: counters(v.get("opcodes")),
        rcodes: counters(v.get("rcodes")),
        qtypes: counters(v.get("qtypes")),
        nsstat: counters(v.get("nsstats")),
        zonestat: counters(v.get("zonestats")),
        resstat: counters(v.get("resstats")),
        sockstat: counters(v.get("sockstats")),
        ..Default::default()
    };
    if let Some(views) = v.get("views").and_then(|v| v.as_object()) {
        for (name, vv) in views {
            let res = vv.get("resolver");
            let zones = vv
                .get("zones")
                .and_then(|z| z.as_array())
                .map(|zs| {
                    zs.iter()
                        .map(|z| Zone {
                            name: z
                                .get("name")
                                .and_then(|n| n.as_str())
                                .unwrap_or_default()
                                .to_string(),
                            class: z
                                .get("class")
                                .and_then(|n| n.as_str())
                                .unwrap_or_default()
                                .to_string(),
                            qtypes: counters(z.get("qtypes")),
                            rcodes: counters(z.get("rcodes")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            st.views.push(View {
                name: name.clone(),
                resqtype: counters(res.and_then(|r| r.get("qtypes"))),
                resstats: counters(res.and_then(|r| r.get("stats"))),
                cache: counters(res.and_then(|r| r.get("cache"))),
                zones,
            });
        }
    }
    if let Some(mem) = v.get("memory") {
        if let Some(o) = mem.as_object() {
            for (k, val) in o {
                if let Some(n) = val.as_u64() {
                    st.memory.insert(k.clone(), n);
                }
            }
        }
        if let Some(ctx) = mem.get("contexts").and_then(|c| c.as_array()) {
            for c in ctx {
                if let (Some(n), Some(u)) = (
                    c.get("name").and_then(|n| n.as_str()),
                    c.get("inuse").and_then(|u| u.as_u64()),
                ) {
                    *st.contexts.entry(n.to_string()).or_default() += u;
                }
            }
        }
    }
    if let Some(tasks) = v
        .get("taskmgr")
        .and_then(|t| t.get("tasks"))
        .and_then(|t| t.as_array())
    {
        let mut c = Counters::new();
        for t in tasks {
            let s = t.get("state").and_then(|s| s.as_str()).unwrap_or("unknown");
            *c.entry(s.to_string()).or_default() += 1;
        }
        st.tasks = Some(c);
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_groups_views_zones_memory_tasks() {
        let doc = br#"<?xml version="1.0"?><statistics version="3.13"><server><version>9.18</version>
<counters type="opcode"><counter name="QUERY">10</counter></counters>
<counters type="qtype"><counter name="A">7</counter><counter name="ANY">1</counter></counters>
<counters type="nsstat"><counter name="Requestv4">9</counter><counter name="Requestv6">1</counter></counters></server>
<views><view name="internal"><counters type="resqtype"><counter name="A">3</counter></counters>
<cache name="internal"><rrset><name>A</name><counter>5</counter></rrset><rrset><name>!AAAA</name><counter>2</counter></rrset></cache>
<zones><zone name="example.com" rdataclass="IN"><type>primary</type><counters type="qtype"><counter name="SOA">4</counter></counters></zone></zones></view>
<view name="_bind"/></views>
<taskmgr><tasks><task><id>1</id><name>res</name><state>idle</state></task><task><id>2</id><state>running</state></task><task><id>3</id><state>idle</state></task></tasks></taskmgr>
<memory><contexts><context><id>a</id><name>cache</name><inuse>100</inuse></context><context><id>b</id><name>cache</name><inuse>50</inuse></context></contexts><summary><TotalUse>900</TotalUse><InUse>150</InUse></summary></memory>
</statistics>"#;
        let s = parse(doc).unwrap();
        assert_eq!((s.format.as_str(), s.schema.as_str()), ("xml-v3", "3.13"));
        assert_eq!(s.opcodes["QUERY"], 10);
        assert_eq!(s.qtypes["ANY"], 1);
        assert_eq!(s.nsstat["Requestv4"], 9);
        assert_eq!(s.views[0].name, "internal");
        assert_eq!(s.views[0].resqtype["A"], 3);
        assert_eq!(s.views[0].cache["!AAAA"], 2);
        assert_eq!(s.views[0].zones[0].name, "example.com");
        assert_eq!(s.views[0].zones[0].qtypes["SOA"], 4);
        assert_eq!(
            s.contexts["cache"], 150,
            "contexts sharing a name are summed"
        );
        assert_eq!(s.memory["InUse"], 150);
        assert_eq!(s.tasks.as_ref().unwrap()["idle"], 2);
    }

    #[test]
    fn v2_name_counter_pairs() {
        let doc = br#"<isc version="1.0"><bind><statistics version="2.2"><views><view><name>_default</name>
<rdtype><name>A</name><counter>11</counter></rdtype><resstat><name>Queryv4</name><counter>12</counter></resstat>
<zones><zone><name>example.com/IN</name><counters><Requestv4>3</Requestv4></counters></zone></zones>
<cache name="_default"><rrset><name>NS</name><counter>4</counter></rrset></cache></view></views>
<server><requests><opcode><name>QUERY</name><counter>20</counter></opcode></requests>
<queries-in><rdtype><name>A</name><counter>15</counter></rdtype></queries-in>
<nsstat><name>Requestv4</name><counter>20</counter></nsstat><sockstat><name>UDP4Open</name><counter>2</counter></sockstat></server>
<memory><summary><TotalUse>5</TotalUse></summary></memory></statistics></bind></isc>"#;
        let s = parse(doc).unwrap();
        assert_eq!(s.format, "xml-v2");
        assert_eq!(s.views[0].name, "_default");
        assert_eq!(s.views[0].resqtype["A"], 11);
        assert_eq!(s.views[0].resstats["Queryv4"], 12);
        assert_eq!(s.views[0].cache["NS"], 4);
        assert_eq!(
            (
                s.views[0].zones[0].name.as_str(),
                s.views[0].zones[0].class.as_str()
            ),
            ("example.com", "IN")
        );
        assert_eq!(s.views[0].zones[0].rcodes["Requestv4"], 3);
        assert_eq!(s.opcodes["QUERY"], 20);
        assert_eq!(s.qtypes["A"], 15);
        assert_eq!(s.nsstat["Requestv4"], 20);
        assert_eq!(s.sockstat["UDP4Open"], 2);
        assert_eq!(s.tasks, None);
    }

    #[test]
    fn bad_documents() {
        assert!(parse(b"").unwrap_err().0.contains("empty"));
        assert!(parse(b"garbage").unwrap_err().0.contains("not a BIND"));
        assert!(parse(b"<html><body>hi</body></html>")
            .unwrap_err()
            .0
            .contains("no <statistics>"));
        assert!(
            parse(b"<statistics version=\"3.1\"><server><counters type=\"opcode\">")
                .unwrap_err()
                .0
                .contains("truncated")
        );
        assert!(parse(b"{\"a\":1}")
            .unwrap_err()
            .0
            .contains("json-stats-version"));
        assert!(parse(b"{\"json-stats-version\":")
            .unwrap_err()
            .0
            .contains("malformed JSON"));
    }

    #[test]
    fn json_and_merge() {
        let a = parse(br#"{"json-stats-version":"1.7","opcodes":{"QUERY":5},"qtypes":{"A":5},"views":{"v1":{"resolver":{"qtypes":{"A":2},"cache":{"A":3}},"zones":[{"name":"z","class":"IN","qtypes":{"A":1}}]}},"memory":{"InUse":7,"contexts":[{"name":"x","inuse":1},{"name":"x","inuse":2}]},"taskmgr":{"tasks":[{"state":"idle"}]}}"#).unwrap();
        assert_eq!(a.views[0].resqtype["A"], 2);
        assert_eq!(a.contexts["x"], 3);
        let mut b = Stats::default();
        b.merge(a.clone());
        b.merge(a);
        assert_eq!(b.opcodes["QUERY"], 10);
        assert_eq!(b.views.len(), 1);
    }
}
