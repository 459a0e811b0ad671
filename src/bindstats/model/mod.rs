//! BIND statistics-channel documents: XML v2, XML v3 (whole or split by subset) and JSON v1,
//! into one normalised model. The XML is stream-parsed with quick-xml (no DOM of a 7 MB
//! document), from memory or in chunks from a reader the caller opened ([`parse_reader`]: the
//! document is never held whole); JSON with serde_json. Pure: bytes in, model out.

mod json;
pub mod process;
pub mod xml_source;

use std::collections::BTreeMap;
use std::fmt;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Serialize;

use crate::bindstats::model::xml_source::{Bounded, Chunked, Slice, XmlSource};

/// Counters by name.
pub type Counters = BTreeMap<String, u64>;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Zone {
    pub name: String,
    pub class: String,
    /// The zone's SOA serial, where BIND reports it.
    pub serial: Option<u64>,
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
    /// When the server started and last loaded its configuration (ISO 8601, as BIND says).
    pub boot_time: Option<String>,
    pub config_time: Option<String>,
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
    /// Tasks, where BIND still reports them (gone in 9.20).
    pub tasks: Option<Tasks>,
    /// The task manager's numbers (`worker-threads`, `tasks-running`, `default-quantum`),
    /// where BIND reports a thread model.
    pub thread_model: Option<Counters>,
    /// Counters whose value is not a count (`-5`, `12abc`, 2^64 or more): unknown, never a
    /// made-up 0. By group ([`group`]: `nsstat`, `views/internal/resstats`,
    /// `views/internal/zones/example.com/rcode`...), counter name -> the text read.
    #[serde(
        rename = "unknown_counters",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub unknown: BTreeMap<String, BTreeMap<String, String>>,
    /// named's own process (`--pid-file`), not part of the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_process: Option<process::NamedProcess>,
}

/// The [`Stats::unknown`] group of a view's counters (`resqtype`, `resstats`, `cache`).
pub fn view_group(view: &str, part: &str) -> String {
    format!("views/{view}/{part}")
}

/// The [`Stats::unknown`] group of a zone's counters (`qtype`, `rcode`).
pub fn zone_group(view: &str, zone: &str, part: &str) -> String {
    format!("views/{view}/zones/{zone}/{part}")
}

/// The longest counter text kept in [`Stats::unknown`] (for the warning).
const MAX_BAD_TEXT: usize = 40;

/// A counter named twice in one group (BIND never repeats one): which value is BIND's is
/// not known, so the counter is unknown, with a warning, in XML and JSON alike (not summed,
/// not the last or the first taken). Returns the value already there when `name` was, and
/// then removes it; else inserts `v`. The caller notes it ([`note_repeated`]).
fn put_once(c: &mut Counters, name: String, v: u64) -> Option<u64> {
    match c.remove(&name) {
        Some(first) => Some(first),
        None => {
            c.insert(name, v);
            None
        }
    }
}

/// Notes a counter read twice ([`put_once`]) as unknown: `534 and 9 (repeated)`.
fn note_repeated(
    unknown: &mut BTreeMap<String, BTreeMap<String, String>>,
    group: &str,
    name: &str,
    first: u64,
    then: u64,
) {
    unknown
        .entry(group.to_string())
        .or_default()
        .insert(name.to_string(), format!("{first} and {then} (repeated)"));
}

/// A counter's value, or `None` (noted in `unknown`) when its text is not a count.
fn count_or_note(
    unknown: &mut BTreeMap<String, BTreeMap<String, String>>,
    group: &str,
    name: &str,
    text: &str,
) -> Option<u64> {
    let v = num(text);
    if v.is_none() {
        let mut t = text.trim().to_string();
        if t.len() > MAX_BAD_TEXT {
            let mut cut = MAX_BAD_TEXT;
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            t.truncate(cut);
            t.push_str("...");
        }
        unknown
            .entry(group.to_string())
            .or_default()
            .insert(name.to_string(), t);
    }
    v
}

impl Stats {
    /// Whether `name` in `group` was read and is not a count.
    pub fn is_unknown(&self, group: &str, name: &str) -> bool {
        self.unknown
            .get(group)
            .is_some_and(|g| g.contains_key(name))
    }

    /// The zones and counters kept (what [`MAX_KEPT`] bounds).
    pub fn items(&self) -> usize {
        let maps = [
            &self.opcodes,
            &self.rcodes,
            &self.qtypes,
            &self.nsstat,
            &self.zonestat,
            &self.resstat,
            &self.sockstat,
            &self.memory,
            &self.contexts,
        ];
        let views: usize = self
            .views
            .iter()
            .map(|v| {
                v.resqtype.len()
                    + v.resstats.len()
                    + v.cache.len()
                    + v.zones
                        .iter()
                        .map(|z| ZONE_WEIGHT + z.qtypes.len() + z.rcodes.len())
                        .sum::<usize>()
            })
            .sum();
        maps.iter().map(|m| m.len()).sum::<usize>()
            + views
            + self.tasks.as_ref().map_or(0, |t| t.by_state.len())
            + self.thread_model.as_ref().map_or(0, |t| t.len())
    }

    /// The unknown counters of a group (empty when none).
    pub fn unknown_in(&self, group: &str) -> Vec<&str> {
        self.unknown
            .get(group)
            .map(|g| g.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

/// The task manager's tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tasks {
    /// Tasks by state (`idle`, `running`...).
    pub by_state: Counters,
    /// Distinct task names, trailing digits stripped (`res0`...`res30` count once), a task
    /// without a name counting once: what the perl plugin graphed as `tasks`.
    pub distinct_names: u64,
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
    /// Every zone with its name, class, serial and authoritative answers (`QryAuthAns`) only,
    /// read by a quick scan of its element (XML v3); the zones listed in full.
    Summary(Vec<String>),
}

impl ZoneFilter {
    fn keeps(&self, name: &str) -> bool {
        match self {
            ZoneFilter::All | ZoneFilter::Summary(_) => true,
            ZoneFilter::None => false,
            ZoneFilter::Only(v) => v.iter().any(|z| z == name),
        }
    }

    /// Whether a zone kept by [`Self::keeps`] is only summarised.
    fn summarises(&self, name: &str) -> bool {
        matches!(self, ZoneFilter::Summary(full) if !full.iter().any(|z| z == name))
    }
}

/// Parse any statistics document, detecting its format from the content.
pub fn parse(doc: &[u8]) -> Result<Stats, BindError> {
    parse_doc(doc, &ZoneFilter::All)
}

/// Parse a whole document, its format (XML or JSON) detected from its first character.
/// Every name taken from the document is capped to [`MAX_NAME`] bytes ([`Stats::cap_names`]).
pub fn parse_doc(doc: &[u8], zones: &ZoneFilter) -> Result<Stats, BindError> {
    let mut st = match doc.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => parse_json_filtered(doc, zones),
        Some(b'<') => parse_xml(Slice::new(doc), zones, 0),
        other => no_document(other.copied()),
    }?;
    st.cap_names();
    Ok(st)
}

/// [`parse_doc`] on a document read from `r` as it is parsed: XML in chunks (never held
/// whole), JSON read whole. An error from `r` (a size cap) is the error, as it says.
pub fn parse_reader(r: impl std::io::Read, zones: &ZoneFilter) -> Result<Stats, BindError> {
    parse_reader_after(r, zones, 0)
}

/// [`parse_reader`] for a document read after others of the same scrape (the subsets of
/// one fetch) that kept `spent` zones and counters already ([`Stats::items`]): together they
/// keep at most [`MAX_KEPT`], so a server answering every subset with a huge document costs
/// the memory of one.
pub fn parse_reader_after(
    r: impl std::io::Read,
    zones: &ZoneFilter,
    spent: usize,
) -> Result<Stats, BindError> {
    parse_chunked_after(Chunked::new(r), zones, spent)
}

/// [`parse_reader`] with the chunks given (tests put chunk boundaries everywhere).
pub fn parse_chunked<R: std::io::Read>(
    src: Chunked<R>,
    zones: &ZoneFilter,
) -> Result<Stats, BindError> {
    parse_chunked_after(src, zones, 0)
}

fn parse_chunked_after<R: std::io::Read>(
    mut src: Chunked<R>,
    zones: &ZoneFilter,
    spent: usize,
) -> Result<Stats, BindError> {
    let io = |e: std::io::Error| BindError(e.to_string());
    let mut st = match src.first_non_space().map_err(io)? {
        // streamed too (the whitespace before it given back: error positions count from the
        // start)
        Some(b'{') => {
            let (lead, rest) = src.into_parts();
            let r = std::io::BufReader::with_capacity(
                64 << 10,
                std::io::Read::chain(std::io::Cursor::new(lead), rest),
            );
            json::parse(serde_json::de::IoRead::new(r), zones, spent)
        }
        Some(b'<') => parse_xml(src, zones, spent),
        other => no_document(other),
    }?;
    st.cap_names();
    Ok(st)
}

fn no_document(first: Option<u8>) -> Result<Stats, BindError> {
    match first {
        None => err("empty document"),
        Some(_) => err("not a BIND statistics document (neither XML nor JSON)"),
    }
}

/// The longest name (view, zone, class, counter, memory context, version string) taken from
/// a document, in bytes. A DNS name is at most 255 bytes (253 characters written out), so
/// every real zone name fits; view names are free text in named.conf, and a 30 MB one would
/// otherwise be repeated in every Prometheus sample and munin line that carries it.
pub const MAX_NAME: usize = 255;

/// Caps names to [`MAX_NAME`] bytes, keeping the names of one collection distinct: a longer
/// name is cut at a character boundary and ends in `...` and 16 hex digits of a hash of the
/// whole name (`-2`, `-3`... after that should two cut names still meet), the same cut for
/// the same name, so graphs and series keep their names from one run to the next.
#[derive(Default)]
struct NameCap {
    used: std::collections::HashSet<String>,
    done: std::collections::HashMap<String, String>,
}

impl NameCap {
    /// For a collection whose names are `names`: the short ones are kept as they are.
    fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let used = names
            .into_iter()
            .filter(|n| n.len() <= MAX_NAME)
            .map(str::to_string)
            .collect();
        NameCap {
            used,
            done: Default::default(),
        }
    }

    fn cap(&mut self, name: &str) -> String {
        if name.len() <= MAX_NAME {
            return name.to_string();
        }
        if let Some(c) = self.done.get(name) {
            return c.clone();
        }
        // FNV-1a 64: stable across runs and builds (std's hasher is not)
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let mut n = 1u64;
        let c = loop {
            let tail = match n {
                1 => format!("...{h:016x}"),
                _ => format!("...{h:016x}-{n}"),
            };
            let mut cut = MAX_NAME - tail.len();
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            let c = format!("{}{tail}", &name[..cut]);
            if self.used.insert(c.clone()) {
                break c;
            }
            n += 1;
        };
        self.done.insert(name.to_string(), c.clone());
        c
    }

    /// One name alone (no collection to keep distinct from).
    fn one(name: &mut String) {
        if name.len() > MAX_NAME {
            *name = NameCap::default().cap(name);
        }
    }

    fn counters(c: &mut Counters) {
        if c.keys().all(|k| k.len() <= MAX_NAME) {
            return;
        }
        let mut cap = NameCap::new(c.keys().map(String::as_str));
        for (k, v) in std::mem::take(c) {
            *c.entry(cap.cap(&k)).or_default() += v;
        }
    }
}

impl Stats {
    /// Every name taken from the document cut to [`MAX_NAME`] bytes (see [`NameCap`]).
    pub fn cap_names(&mut self) {
        for o in [
            &mut self.server_version,
            &mut self.boot_time,
            &mut self.config_time,
        ] {
            o.iter_mut().for_each(NameCap::one);
        }
        NameCap::one(&mut self.format);
        // groups named by a pathological view or zone name are dropped, not kept at length
        self.unknown.retain(|g, names| {
            names.retain(|n, _| n.len() <= MAX_NAME);
            g.len() <= 3 * MAX_NAME
        });
        NameCap::one(&mut self.schema);
        let st = &mut *self;
        for c in [
            &mut st.opcodes,
            &mut st.rcodes,
            &mut st.qtypes,
            &mut st.nsstat,
            &mut st.zonestat,
            &mut st.resstat,
            &mut st.sockstat,
            &mut st.memory,
            &mut st.contexts,
        ] {
            NameCap::counters(c);
        }
        st.thread_model.iter_mut().for_each(NameCap::counters);
        st.tasks
            .iter_mut()
            .for_each(|t| NameCap::counters(&mut t.by_state));
        let long = |n: &String| n.len() > MAX_NAME;
        if st.views.iter().any(|v| long(&v.name)) {
            let mut views = NameCap::new(st.views.iter().map(|v| v.name.as_str()));
            for v in &mut st.views {
                v.name = views.cap(&v.name);
            }
        }
        for v in &mut st.views {
            for c in [&mut v.resqtype, &mut v.resstats, &mut v.cache] {
                NameCap::counters(c);
            }
            // 1600 zones of sane names cost nothing here: no set is built, no name copied
            if v.zones.iter().any(|z| long(&z.name)) {
                let mut zones = NameCap::new(v.zones.iter().map(|z| z.name.as_str()));
                for z in &mut v.zones {
                    z.name = zones.cap(&z.name);
                }
            }
            for z in &mut v.zones {
                NameCap::one(&mut z.class);
                NameCap::counters(&mut z.qtypes);
                NameCap::counters(&mut z.rcodes);
            }
        }
    }

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
        self.boot_time = self.boot_time.take().or(o.boot_time);
        self.config_time = self.config_time.take().or(o.config_time);
        m(&mut self.opcodes, o.opcodes);
        m(&mut self.rcodes, o.rcodes);
        m(&mut self.qtypes, o.qtypes);
        m(&mut self.nsstat, o.nsstat);
        m(&mut self.zonestat, o.zonestat);
        m(&mut self.resstat, o.resstat);
        m(&mut self.sockstat, o.sockstat);
        m(&mut self.memory, o.memory);
        m(&mut self.contexts, o.contexts);
        for (g, names) in o.unknown {
            self.unknown.entry(g).or_default().extend(names);
        }
        if o.tasks.is_some() {
            self.tasks = o.tasks;
        }
        if o.thread_model.is_some() {
            self.thread_model = o.thread_model;
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

/// A count: decimal digits only (`-5`, `12abc` and 2^64 or more are not).
fn num(s: &str) -> Option<u64> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<u64>().ok()
}

#[derive(Default)]
struct Pending {
    name: Option<String>,
    value: Option<u64>,
    /// the text of a `<counter>` that is not a count
    bad: Option<String>,
    state: Option<String>,
    inuse: Option<u64>,
    id: Option<String>,
}

fn reader_at<S: XmlSource>(src: S) -> Reader<S> {
    let mut r = Reader::from_reader(src);
    r.config_mut().trim_text(true);
    // a reader restarted after a skipped <zones> never saw the enclosing <view>: the element
    // stack kept by the parser checks nesting instead
    r.config_mut().check_end_names = false;
    r.config_mut().allow_unmatched_ends = true;
    r
}

/// Substring searchers built once per document (a zone is summarised by three searches).
struct Finders {
    zone_end: memchr::memmem::Finder<'static>,
    zones_end: memchr::memmem::Finder<'static>,
    serial: memchr::memmem::Finder<'static>,
    auth: memchr::memmem::Finder<'static>,
}

impl Finders {
    fn new() -> Finders {
        Finders {
            zone_end: memchr::memmem::Finder::new(b"</zone>"),
            zones_end: memchr::memmem::Finder::new(b"</zones>"),
            serial: memchr::memmem::Finder::new(b"<serial>"),
            auth: memchr::memmem::Finder::new(b"name=\"QryAuthAns\">"),
        }
    }
}

/// The decimal number right after the first `tag` in `hay`.
fn number_after(hay: &[u8], tag: &memchr::memmem::Finder) -> Option<u64> {
    let start = tag.find(hay)? + tag.needle().len();
    let digits = hay[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    // `12abc<`, `-5<`: not a count
    if hay.get(start + digits) != Some(&b'<') {
        return None;
    }
    std::str::from_utf8(&hay[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

/// The deepest element nesting accepted. BIND's documents are under 10 deep (v2's
/// `isc/bind/statistics/views/view/zones/zone/counters/X` is 9); a document nested deeper is
/// not BIND's, and refusing it at once bounds what the walk and the XML reader keep per open
/// element (a stream of `<x><x><x>...` otherwise costs memory in proportion to its length).
pub const MAX_DEPTH: usize = 32;

/// The state of one pass over an XML document.
#[derive(Default)]
struct Walk {
    st: Stats,
    path: Vec<Vec<u8>>,
    /// the `type` of each open <counters> (v3), by depth
    ctype: Vec<Option<String>>,
    counter_name: Option<String>,
    text: String,
    seen_stats: bool,
    closed_root: bool,
    view: Option<View>,
    zone: Option<Zone>,
    pending: Pending,
    tasks: Option<Tasks>,
    task_keys: std::collections::BTreeSet<String>,
    /// which zones to keep (a v2 zone, named by a child element, is judged at its end)
    filter: ZoneFilter,
    /// zones and counters read so far (an upper bound of what is kept), against [`MAX_KEPT`]
    kept: usize,
}

/// The end tag a skip jumps past.
enum Close {
    Zones,
    Zone,
}

/// What to do after an opening tag.
enum Next {
    Go,
    /// jump past the end of this element (zones no graph needs)
    Skip(Close),
    /// read this zone's serial and QryAuthAns by a scan up to `</zone>`, then jump past it
    Summarise(Zone),
}

impl Walk {
    fn start(&mut self, e: &quick_xml::events::BytesStart) -> Next {
        let zones = &self.filter;
        let qname = e.name();
        let name = qname.as_ref().as_bytes();
        self.text.clear();
        match name {
            b"statistics" => {
                self.seen_stats = true;
                let v = attr(e, "version").unwrap_or_default();
                self.st.format = if v.starts_with('2') {
                    "xml-v2"
                } else {
                    "xml-v3"
                }
                .into();
                self.st.schema = v;
            }
            b"view" => {
                self.view = Some(View {
                    name: attr(e, "name").unwrap_or_default(),
                    ..Default::default()
                })
            }
            b"zones" if *zones == ZoneFilter::None => return Next::Skip(Close::Zones),
            b"zone" => {
                let name = attr(e, "name");
                let z = Zone {
                    class: attr(e, "rdataclass").unwrap_or_default(),
                    ..Default::default()
                };
                match name {
                    Some(n) if !zones.keeps(&n) => return Next::Skip(Close::Zone),
                    Some(n) if zones.summarises(&n) => {
                        return Next::Summarise(Zone { name: n, ..z });
                    }
                    n => {
                        self.zone = Some(Zone {
                            name: n.unwrap_or_default(),
                            ..z
                        })
                    }
                }
            }
            b"counters" => self.ctype.push(attr(e, "type")),
            b"counter" => self.counter_name = attr(e, "name"),
            b"tasks" => {
                self.tasks.get_or_insert_with(Tasks::default);
            }
            b"thread-model" => {
                self.st.thread_model.get_or_insert_with(Counters::new);
            }
            b"task" | b"context" | b"rrset" | b"rdtype" | b"opcode" | b"nsstat" | b"zonestat"
            | b"resstat" | b"sockstat" | b"rcode" => self.pending = Pending::default(),
            _ => {}
        }
        // allocated only for an element that is walked into (not a jumped-over zone)
        self.path.push(name.to_vec());
        Next::Go
    }

    fn end(&mut self, name: &[u8]) {
        self.path.pop();
        let parent = self.path.last().cloned().unwrap_or_default();
        if matches!(
            name,
            b"counter"
                | b"rrset"
                | b"rdtype"
                | b"opcode"
                | b"nsstat"
                | b"zonestat"
                | b"resstat"
                | b"sockstat"
                | b"rcode"
                | b"context"
                | b"task"
                | b"zone"
        ) || matches!(
            parent.as_slice(),
            b"summary" | b"thread-model" | b"counters"
        ) {
            self.kept += if name == b"zone" { ZONE_WEIGHT } else { 1 };
        }
        // a long name costs in proportion (kept, and written in every format)
        match (name, &self.counter_name) {
            (b"counter", Some(n)) => self.kept += n.len() / NAME_UNIT,
            (b"name", _) => self.kept += self.text.len() / NAME_UNIT,
            _ => {}
        }
        let text = std::mem::take(&mut self.text);
        match name {
            b"statistics" => self.closed_root = true,
            b"counter" if self.counter_name.is_some() => self.v3_counter(&text),
            // v2 and cache rrsets: <x><name>N</name><counter>V</counter></x>
            b"counter" => {
                self.pending.value = num(&text);
                if self.pending.value.is_none() {
                    self.pending.bad = Some(text.clone());
                }
            }
            b"name" if parent == b"view" => {
                // v2: a view's own <name> arrives before its children
                if let Some(v) = self.view.as_mut() {
                    v.name = text.trim().to_string();
                }
            }
            b"name" => self.pending.name = Some(text.trim().to_string()),
            b"state" => self.pending.state = Some(text.trim().to_string()),
            b"id" if parent == b"task" => self.pending.id = Some(text.trim().to_string()),
            b"inuse" => self.pending.inuse = num(&text),
            b"serial" if self.zone.is_some() => {
                if let Some(z) = self.zone.as_mut() {
                    z.serial = num(&text);
                }
            }
            b"counters" => {
                self.ctype.pop();
            }
            b"version" if parent == b"server" => self.st.server_version = Some(text.trim().into()),
            b"boot-time" if parent == b"server" => self.st.boot_time = Some(text.trim().into()),
            b"config-time" if parent == b"server" => self.st.config_time = Some(text.trim().into()),
            b"rrset" => {
                if let (Some(bad), Some(n), Some(vw)) =
                    (self.pending.bad.take(), &self.pending.name, &self.view)
                {
                    let g = view_group(&vw.name, "cache");
                    count_or_note(&mut self.st.unknown, &g, n, &bad);
                }
                if let (Some(v), Some(n), Some(vw)) = (
                    self.pending.value,
                    self.pending.name.take(),
                    self.view.as_mut(),
                ) {
                    *vw.cache.entry(n).or_default() += v;
                }
            }
            b"rdtype" | b"opcode" | b"nsstat" | b"zonestat" | b"resstat" | b"sockstat"
            | b"rcode" => self.v2_pair(name, &parent),
            b"context" => {
                if let (Some(n), Some(v)) = (self.pending.name.take(), self.pending.inuse) {
                    *self.st.contexts.entry(n).or_default() += v;
                }
            }
            b"task" => self.task(),
            b"zone" => self.zone_end(),
            b"view" => {
                if let Some(v) = self.view.take() {
                    self.st.views.push(v);
                }
            }
            other => self.leaf(other, &parent, &text),
        }
    }

    /// The [`Stats::unknown`] group of counters of type `part` where the walk is.
    fn group(&self, part: &str) -> String {
        let view = self.view.as_ref().map_or("", |v| v.name.as_str());
        match &self.zone {
            Some(z) if !z.name.is_empty() => zone_group(view, &z.name, part),
            // v2: the zone is named by a child element, read already
            Some(_) => {
                let n = self.pending.name.as_deref().unwrap_or("");
                zone_group(view, n.rsplit_once('/').map_or(n, |(a, _)| a), part)
            }
            None if self.view.is_some() => view_group(view, part),
            None => part.to_string(),
        }
    }

    /// v3: `<counter name="A">12</counter>` inside `<counters type=...>`
    fn v3_counter(&mut self, text: &str) {
        let n = self.counter_name.take().unwrap_or_default();
        let Some(Some(t)) = self.ctype.last() else {
            return;
        };
        let t = t.clone();
        match num(text) {
            Some(v) => {
                let g = (!self.st.unknown.is_empty()).then(|| self.group(&t));
                if g.is_some_and(|g| self.st.is_unknown(&g, &n)) {
                    return;
                }
                let Some(c) = target(&mut self.st, self.view.as_mut(), self.zone.as_mut(), &t)
                else {
                    return;
                };
                if let Some(first) = put_once(c, n.clone(), v) {
                    let g = self.group(&t);
                    note_repeated(&mut self.st.unknown, &g, &n, first, v);
                }
            }
            None => {
                if let Some(c) = target(&mut self.st, self.view.as_mut(), self.zone.as_mut(), &t) {
                    c.remove(&n);
                    let g = self.group(&t);
                    count_or_note(&mut self.st.unknown, &g, &n, text);
                }
            }
        }
    }

    /// v2 name/counter pairs
    fn v2_pair(&mut self, name: &[u8], parent: &[u8]) {
        let in_view = self.view.is_some();
        let part = match (name, parent, in_view) {
            (b"rdtype", b"queries-in", _) => "qtype",
            (b"rdtype", _, true) => "resqtype",
            (b"resstat", _, true) => "resstats",
            (b"opcode", _, _) => "opcode",
            (b"rcode", _, _) => "rcode",
            (b"nsstat", _, _) => "nsstat",
            (b"zonestat", _, _) => "zonestat",
            (b"resstat", _, false) => "resstat",
            (b"sockstat", _, _) => "sockstat",
            _ => return,
        };
        if let (Some(bad), Some(n)) = (self.pending.bad.take(), &self.pending.name) {
            let g = match part {
                "resqtype" | "resstats" => self.group(part),
                _ => part.to_string(),
            };
            let n = n.clone();
            count_or_note(&mut self.st.unknown, &g, &n, &bad);
        }
        let (Some(n), Some(v)) = (self.pending.name.take(), self.pending.value) else {
            return;
        };
        let group = match part {
            "resqtype" | "resstats" => self.group(part),
            _ => part.to_string(),
        };
        if self.st.is_unknown(&group, &n) {
            return;
        }
        let st = &mut self.st;
        let g = match part {
            "qtype" => Some(&mut st.qtypes),
            "resqtype" => self.view.as_mut().map(|v| &mut v.resqtype),
            "resstats" => self.view.as_mut().map(|v| &mut v.resstats),
            "opcode" => Some(&mut st.opcodes),
            "rcode" => Some(&mut st.rcodes),
            "nsstat" => Some(&mut st.nsstat),
            "zonestat" => Some(&mut st.zonestat),
            "resstat" => Some(&mut st.resstat),
            _ => Some(&mut st.sockstat),
        };
        if let Some(g) = g {
            if let Some(first) = put_once(g, n.clone(), v) {
                note_repeated(&mut self.st.unknown, &group, &n, first, v);
            }
        }
    }

    fn task(&mut self) {
        let p = std::mem::take(&mut self.pending);
        let t = self.tasks.get_or_insert_with(Tasks::default);
        let s = p.state.unwrap_or_else(|| "unknown".into());
        *t.by_state.entry(s).or_default() += 1;
        // the perl plugin counted distinct names, trailing digits stripped (`res0`..`res30`
        // are one); a task without a name was keyed by its id
        let key = match (p.name, p.id) {
            (Some(n), _) => format!("n:{}", strip_digits(&n, u8::is_ascii_digit)),
            (None, Some(id)) => format!("i:{id}"),
            (None, None) => format!("#{}", self.task_keys.len()),
        };
        self.task_keys.insert(key);
        t.distinct_names = self.task_keys.len() as u64;
    }

    /// A zone read by a scan of its element's bytes: the serial and QryAuthAns only.
    fn summarised(&mut self, mut z: Zone, body: &[u8], f: &Finders) {
        self.kept += ZONE_WEIGHT;
        z.serial = number_after(body, &f.serial);
        match number_after(body, &f.auth) {
            Some(n) => {
                z.rcodes.insert("QryAuthAns".into(), n);
            }
            None if f.auth.find(body).is_some() => {
                let view = self.view.as_ref().map_or("", |v| v.name.as_str());
                let g = zone_group(view, &z.name, "rcode");
                let at = f.auth.find(body).unwrap_or(0) + f.auth.needle().len();
                let text: String = String::from_utf8_lossy(&body[at..])
                    .chars()
                    .take_while(|c| *c != '<')
                    .take(MAX_BAD_TEXT + 1)
                    .collect();
                count_or_note(&mut self.st.unknown, &g, "QryAuthAns", &text);
            }
            None => {}
        }
        if let Some(vw) = self.view.as_mut() {
            vw.zones.push(z);
        }
    }

    fn zone_end(&mut self) {
        let Some(mut z) = self.zone.take() else {
            return;
        };
        if z.name.is_empty() {
            // v2: <zone><name>example.com/IN</name>...
            if let Some(n) = self.pending.name.take() {
                let (a, b) = n.rsplit_once('/').unwrap_or((n.as_str(), ""));
                z.name = a.to_string();
                z.class = b.to_string();
            }
        }
        // a v2 zone is named by its <name> child: the filter can only be applied here
        if !self.filter.keeps(&z.name) {
            return;
        }
        if let Some(vw) = self.view.as_mut() {
            vw.zones.push(z);
        }
    }

    /// memory summary (`<summary><TotalUse>N</TotalUse>`), v2 zone counters
    fn leaf(&mut self, name: &[u8], parent: &[u8], text: &str) {
        let (group, is) = match parent {
            b"summary" => ("memory".to_string(), true),
            b"thread-model" => ("thread-model".to_string(), self.st.thread_model.is_some()),
            b"counters" => (self.group("rcode"), self.zone.is_some()),
            _ => return,
        };
        if !is {
            return;
        }
        let key = String::from_utf8_lossy(name).into_owned();
        // the thread model also says `<type>threaded</type>`: only its numbers are counts
        let v = if parent == b"thread-model" {
            num(text)
        } else {
            count_or_note(&mut self.st.unknown, &group, &key, text)
        };
        let Some(v) = v else {
            return;
        };
        let map = match parent {
            b"summary" => Some(&mut self.st.memory),
            b"thread-model" => self.st.thread_model.as_mut(),
            _ => self.zone.as_mut().map(|z| &mut z.rcodes),
        };
        if let Some(m) = map {
            m.insert(key, v);
        }
    }

    fn finish(mut self) -> Result<Stats, BindError> {
        if !self.seen_stats {
            return err("not a BIND statistics document (no <statistics> element)");
        }
        if !self.closed_root {
            return err("truncated document (</statistics> missing)");
        }
        self.st.tasks = self.tasks;
        Ok(self.st)
    }
}

/// `name` without its trailing run of characters matching `digit`, when what is left is not
/// empty and has none of them (the perl plugin's `s/^(\D+)\d+$/$1/`).
pub fn strip_digits(name: &str, digit: fn(&u8) -> bool) -> &str {
    let b = name.as_bytes();
    let keep = b.iter().rposition(|c| !digit(c)).map_or(0, |i| i + 1);
    if keep == 0 || keep == b.len() || b[..keep].iter().any(digit) {
        return name;
    }
    &name[..keep]
}

/// Walk an XML document from `src`, jumping over the zones no graph needs (and scanning the
/// summarised ones) without tokenizing them.
fn parse_xml<S: XmlSource>(src: S, zones: &ZoneFilter, spent: usize) -> Result<Stats, BindError> {
    // error positions count from the start of the document (leading whitespace included)
    let mut base = src.consumed();
    let mut r = reader_at(Bounded::new(src));
    let mut buf = Vec::new();
    let mut w = Walk {
        filter: zones.clone(),
        kept: spent,
        ..Walk::default()
    };
    let finders = Finders::new();
    loop {
        let ev = match r.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(quick_xml::Error::Io(e)) => return err(e.to_string()),
            Err(e) => {
                return err(format!(
                    "malformed XML at byte {}: {e}",
                    base + r.buffer_position()
                ))
            }
        };
        match ev {
            Event::Start(e) => {
                if w.path.len() >= MAX_DEPTH {
                    return err(format!(
                        "elements nested deeper than {MAX_DEPTH} at byte {} (BIND's documents \
                         are under 10 deep)",
                        base + r.buffer_position()
                    ));
                }
                let next = w.start(&e);
                let close = match &next {
                    Next::Go => None,
                    Next::Skip(Close::Zones) => Some(&finders.zones_end),
                    Next::Skip(Close::Zone) | Next::Summarise(_) => Some(&finders.zone_end),
                };
                if let Some(close) = close {
                    // zones no graph needs are jumped over without tokenizing them
                    let mut src = r.into_inner();
                    let found = match next {
                        Next::Summarise(z) => {
                            let mut z = Some(z);
                            let mut body = |b: &[u8]| {
                                if let Some(z) = z.take() {
                                    w.summarised(z, b, &finders);
                                }
                            };
                            src.jump_past(close, Some(&mut body))
                        }
                        _ => src.jump_past(close, None),
                    }
                    .map_err(|e| BindError(e.to_string()))?;
                    if !found {
                        return err("truncated document (</statistics> missing)");
                    }
                    if w.kept > MAX_KEPT {
                        return err(format!("{} at byte {}", too_many(), src.consumed()));
                    }
                    base = src.consumed();
                    r = reader_at(src);
                }
            }
            Event::Text(t) => w.text.push_str(t.as_ref()),
            // BIND writes no CDATA: kept as written, so `<![CDATA[7]]>534` is no count (an
            // unknown counter with a warning), never 534
            Event::CData(c) => {
                w.text.push_str("<![CDATA[");
                w.text.push_str(&c.into_inner());
                w.text.push_str("]]>");
            }
            Event::GeneralRef(g) => {
                if let Some(c) = entity(g.as_ref()) {
                    w.text.push(c);
                }
            }
            Event::End(e) => {
                w.end(e.name().as_ref().as_bytes());
                if w.kept > MAX_KEPT {
                    return err(format!(
                        "{} at byte {}",
                        too_many(),
                        base + r.buffer_position()
                    ));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    w.finish()
}

/// The character an entity or character reference (`amp`, `#38`, `#x26`) stands for.
fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let n = name.strip_prefix('#')?;
            let code = match n.strip_prefix('x') {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// An attribute's value, entities and character references resolved (`&amp;`, `&#27;`).
fn attr(e: &quick_xml::events::BytesStart, name: &str) -> Option<String> {
    let a = e.try_get_attribute(name).ok().flatten()?;
    Some(
        match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
            Ok(v) => v.into_owned(),
            Err(_) => a.value.into_owned(),
        },
    )
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

/// [`Stats::unknown`]'s type.
type Unknown = BTreeMap<String, BTreeMap<String, String>>;

/// The most counters one scrape (its documents together) may make the parser keep, a zone
/// counting as [`ZONE_WEIGHT`] counters: at most 80,000 zones, or 400,000 counters. BIND's
/// largest documents (1,600 zones with `zone-statistics full`, read whole: about 100,000
/// counters) fit; a document built to exhaust memory within the size cap is refused at this
/// count instead. A summarised zone costs about 600 bytes kept and as much again in the JSON
/// or Prometheus text written from it (1.8 KB at peak with 255-byte names), a counter about
/// 120 bytes: at this cap the peak stays under 150 MB in every format for zones (a 65 MB
/// document of 299,000 zones peaked at 300 MB under the former 500,000-item cap).
pub const MAX_KEPT: usize = 400_000;

/// What a zone counts for against [`MAX_KEPT`]: it costs about as much as that many counters.
pub const ZONE_WEIGHT: usize = 5;

/// A name counts one more against [`MAX_KEPT`] for every this many bytes (a counter named in
/// 245 bytes costs 8: 225,000 of them in 62 MB peaked at 300 MB counted as one each).
pub const NAME_UNIT: usize = 32;

/// The error for a scrape past [`MAX_KEPT`].
fn too_many() -> String {
    format!(
        "more than {} zones or {MAX_KEPT} counters (a zone counting as {ZONE_WEIGHT}; no BIND \
         statistics document has that many)",
        MAX_KEPT / ZONE_WEIGHT
    )
}

/// Parse a JSON v1 document (whole or a subset).
pub fn parse_json(doc: &[u8]) -> Result<Stats, BindError> {
    parse_json_filtered(doc, &ZoneFilter::All)
}

fn parse_json_filtered(doc: &[u8], zones: &ZoneFilter) -> Result<Stats, BindError> {
    json::parse(serde_json::de::SliceRead::new(doc), zones, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_capped_on_char_boundaries_and_stay_distinct() {
        let long = "例".repeat(1_000_000); // 3 MB, 3-byte characters
        let other = format!("{}x", "例".repeat(200));
        let doc = format!(
            r#"{{"json-stats-version":"1.7","qtypes":{{"{long}":1,"{long}y":2}},"views":{{"{long}":{{"zones":[{{"name":"{other}","class":"IN"}},{{"name":"{other}","class":"CH"}},{{"name":"{other}2","class":"IN"}}]}},"{long}b":{{}},"short":{{}}}}}}"#
        );
        let st = parse_doc(doc.as_bytes(), &ZoneFilter::Summary(Vec::new())).unwrap();
        let names: Vec<&str> = st.views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names.len(), 3);
        assert!(names.contains(&"short"));
        let mut all: Vec<&str> = names.clone();
        all.extend(st.qtypes.keys().map(String::as_str));
        for n in &all {
            assert!(n.len() <= MAX_NAME, "{}", n.len());
        }
        let long_views: Vec<&&str> = names.iter().filter(|n| n.len() > 5).collect();
        assert_eq!(long_views.len(), 2);
        assert_ne!(long_views[0], long_views[1], "distinct after the cut");
        assert!(long_views[0].starts_with("例例") && long_views[0].contains("..."));
        assert_eq!(st.qtypes.len(), 2);
        assert_eq!(st.qtypes.values().sum::<u64>(), 3);
        // the same name cuts the same way (IN and CH of one zone; a second run)
        let z: Vec<&Zone> = st.views.iter().flat_map(|v| &v.zones).collect();
        assert_eq!(z.len(), 3);
        assert_eq!(z[0].name, z[1].name);
        assert_ne!(z[0].name, z[2].name);
        let again = parse_doc(doc.as_bytes(), &ZoneFilter::Summary(Vec::new())).unwrap();
        assert_eq!(st.views, again.views);
    }

    #[test]
    fn a_cut_name_never_takes_a_short_name_that_looks_the_same() {
        let long = "v".repeat(300);
        let first = NameCap::default().cap(&long);
        assert_eq!(first.len(), MAX_NAME);
        let mut cap = NameCap::new([first.as_str(), long.as_str()]);
        let second = cap.cap(&long);
        assert_ne!(second, first);
        assert!(
            second.len() <= MAX_NAME && second.ends_with("-2"),
            "{second}"
        );
        assert_eq!(cap.cap(&long), second);
        assert_eq!(cap.cap("short"), "short");
    }

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
        assert_eq!(s.tasks.as_ref().unwrap().by_state["idle"], 2);
        assert_eq!(s.tasks.as_ref().unwrap().distinct_names, 3);
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
        // a v2 zone is named by a child element: the zone filter still holds (fuzzing found
        // one outside <zones>, which `none` skips whole, kept)
        let stray = String::from_utf8_lossy(doc)
            .replace("<zones>", "")
            .replace("</zones>", "");
        let only = |z: ZoneFilter| {
            let st = parse_doc(stray.as_bytes(), &z).unwrap();
            st.views[0]
                .zones
                .iter()
                .map(|z| z.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(only(ZoneFilter::All), ["example.com"]);
        assert!(only(ZoneFilter::None).is_empty());
        assert!(only(ZoneFilter::Only(vec!["other.org".into()])).is_empty());
        assert_eq!(
            only(ZoneFilter::Only(vec!["example.com".into()])),
            ["example.com"]
        );
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
