//! BIND's JSON v1 statistics, deserialized as they stream: members no graph uses are skipped
//! without being built (a `Value` tree of a 60 MB document of small numbers cost 1 GB), zones
//! the filter drops are dropped as they are read, contexts and tasks are summed as they come,
//! and what is kept is counted against [`MAX_KEPT`].

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{
    count_or_note, strip_digits, view_group, zone_group, BindError, Counters, Stats, Tasks, View,
    Zone, ZoneFilter, MAX_KEPT, NAME_UNIT, ZONE_WEIGHT,
};

thread_local! {
    /// What one parse has kept so far (zones, counters, contexts, task names).
    static KEPT: Cell<usize> = const { Cell::new(0) };
    /// The zone filter of the parse under way.
    static FILTER: RefCell<ZoneFilter> = const { RefCell::new(ZoneFilter::All) };
}

fn keep<E: de::Error>() -> Result<(), E> {
    keep_n(1)
}

/// [`keep`] for something that costs `n` counters (a zone: [`ZONE_WEIGHT`]).
fn keep_n<E: de::Error>(n: usize) -> Result<(), E> {
    let n = KEPT.with(|k| {
        k.set(k.get() + n);
        k.get()
    });
    if n > MAX_KEPT {
        return Err(E::custom(super::too_many()));
    }
    Ok(())
}

/// A member's value as a counter: a count, something else that a counter should not be (its
/// text), or a structure (skipped unread).
enum Scalar {
    Count(u64),
    Bad(String),
    Other,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a counter")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Count(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Bad(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Bad(
                    serde_json::Number::from_f64(v)
                        .map_or_else(|| v.to_string(), |n| n.to_string()),
                ))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Bad(v.chars().take(64).collect()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Scalar, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Scalar, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// A string member; anything else is skipped and `None`.
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_unit<E>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Text, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Text, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

fn text(t: Option<Text>) -> Option<String> {
    t.and_then(|t| t.0)
}

/// A group of counters: the counts, and the members that were not counts (name, text).
#[derive(Default)]
struct Counts {
    counts: Counters,
    bad: Vec<(String, String)>,
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Counts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of counters")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Counts, A::Error> {
                let mut c = Counts::default();
                while let Some(k) = m.next_key::<String>()? {
                    match m.next_value::<Scalar>()? {
                        // a member named twice is unknown, as in XML (see `put_once`)
                        Scalar::Count(_) if c.bad.iter().any(|(b, _)| *b == k) => {}
                        Scalar::Count(n) => {
                            keep_n(1 + k.len() / NAME_UNIT)?;
                            if let Some(first) = c.counts.remove(&k) {
                                c.bad.push((k, format!("{first} and {n} (repeated)")));
                            } else {
                                c.counts.insert(k, n);
                            }
                        }
                        Scalar::Bad(t) => {
                            keep()?;
                            c.counts.remove(&k);
                            c.bad.push((k, t));
                        }
                        Scalar::Other => {}
                    }
                }
                Ok(c)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Counts, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Counts::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl Counts {
    fn into(self, unknown: &mut super::Unknown, group: &str) -> Counters {
        for (k, t) in self.bad {
            count_or_note(unknown, group, &k, &t);
        }
        self.counts
    }
}

#[derive(serde::Deserialize)]
struct JZone {
    name: Option<Text>,
    class: Option<Text>,
    serial: Option<Scalar>,
    qtypes: Option<Counts>,
    rcodes: Option<Counts>,
}

/// A view's zones, those the filter drops dropped as they are read.
struct JZones(Vec<JZone>);

impl<'de> Deserialize<'de> for JZones {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JZones;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of zones")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<JZones, A::Error> {
                let mut out = Vec::new();
                while let Some(z) = s.next_element::<JZone>()? {
                    let kept = z
                        .name
                        .as_ref()
                        .and_then(|n| n.0.as_deref())
                        .is_some_and(|n| FILTER.with(|f| f.borrow().keeps(n)));
                    if kept {
                        keep_n(ZONE_WEIGHT)?;
                        out.push(z);
                    }
                }
                Ok(JZones(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<JZones, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JZones(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
struct JResolver {
    stats: Option<Counts>,
    qtypes: Option<Counts>,
    cache: Option<Counts>,
}

#[derive(serde::Deserialize)]
struct JView {
    zones: Option<JZones>,
    resolver: Option<JResolver>,
}

/// `memory`: its numbers (the summary) and its contexts, summed by name as they come.
#[derive(Default)]
struct JMemory {
    summary: Counts,
    contexts: Counters,
}

impl<'de> Deserialize<'de> for JMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JMemory;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the memory object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<JMemory, A::Error> {
                let mut mem = JMemory::default();
                while let Some(k) = m.next_key::<String>()? {
                    if k == "contexts" {
                        mem.contexts = m.next_value::<Contexts>()?.0;
                        continue;
                    }
                    match m.next_value::<Scalar>()? {
                        Scalar::Count(n) => {
                            keep_n(1 + k.len() / NAME_UNIT)?;
                            mem.summary.counts.insert(k, n);
                        }
                        // a string member (a name) is not a miscounted number
                        Scalar::Bad(t) if t.parse::<f64>().is_ok() => mem.summary.bad.push((k, t)),
                        _ => {}
                    }
                }
                Ok(mem)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
struct JContext {
    name: Option<Text>,
    inuse: Option<Scalar>,
}

struct Contexts(Counters);

impl<'de> Deserialize<'de> for Contexts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Contexts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of memory contexts")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Contexts, A::Error> {
                let mut out = Counters::new();
                while let Some(c) = s.next_element::<JContext>()? {
                    if let (Some(n), Some(Scalar::Count(u))) = (text(c.name), c.inuse) {
                        if !out.contains_key(&n) {
                            keep()?;
                        }
                        let e = out.entry(n).or_default();
                        *e = e.saturating_add(u);
                    }
                }
                Ok(Contexts(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
struct JTask {
    name: Option<Text>,
    id: Option<Text>,
    state: Option<Text>,
}

/// `taskmgr`: its numbers (the thread model) and its tasks, counted as they come.
#[derive(Default)]
struct JTaskmgr {
    numbers: Counters,
    thread_model: bool,
    tasks: Option<Tasks>,
}

impl<'de> Deserialize<'de> for JTaskmgr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JTaskmgr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the taskmgr object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<JTaskmgr, A::Error> {
                let mut tm = JTaskmgr::default();
                while let Some(k) = m.next_key::<String>()? {
                    if k == "tasks" {
                        tm.tasks = m.next_value::<TaskList>()?.0;
                        continue;
                    }
                    if k == "thread-model" {
                        tm.thread_model = true;
                    }
                    if let Scalar::Count(n) = m.next_value::<Scalar>()? {
                        keep()?;
                        tm.numbers.insert(k, n);
                    }
                }
                Ok(tm)
            }
        }
        d.deserialize_any(V)
    }
}

struct TaskList(Option<Tasks>);

impl<'de> Deserialize<'de> for TaskList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TaskList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of tasks")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<TaskList, A::Error> {
                let mut t = Tasks::default();
                let mut keys = BTreeSet::new();
                let mut i = 0usize;
                while let Some(task) = s.next_element::<JTask>()? {
                    let st = text(task.state).unwrap_or_else(|| "unknown".into());
                    if !t.by_state.contains_key(&st) {
                        keep()?;
                    }
                    *t.by_state.entry(st).or_default() += 1;
                    let key = match (text(task.name), text(task.id)) {
                        (Some(n), _) => format!("n:{}", strip_digits(&n, u8::is_ascii_digit)),
                        (None, Some(id)) => format!("i:{id}"),
                        (None, None) => format!("#{i}"),
                    };
                    if keys.insert(key) {
                        keep()?;
                    }
                    i += 1;
                }
                t.distinct_names = keys.len() as u64;
                Ok(TaskList(Some(t)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<TaskList, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TaskList(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
struct JDoc {
    #[serde(rename = "json-stats-version")]
    stats_version: Option<Text>,
    version: Option<Text>,
    #[serde(rename = "boot-time")]
    boot_time: Option<Text>,
    #[serde(rename = "config-time")]
    config_time: Option<Text>,
    opcodes: Option<Counts>,
    rcodes: Option<Counts>,
    qtypes: Option<Counts>,
    nsstats: Option<Counts>,
    zonestats: Option<Counts>,
    resstats: Option<Counts>,
    sockstats: Option<Counts>,
    views: Option<BTreeMap<String, JView>>,
    memory: Option<JMemory>,
    taskmgr: Option<JTaskmgr>,
}

/// Resets the thread's parse state when a parse ends, however it ends.
struct Reset;

impl Drop for Reset {
    fn drop(&mut self) {
        KEPT.with(|k| k.set(0));
        FILTER.with(|f| *f.borrow_mut() = ZoneFilter::All);
    }
}

/// Parse a JSON v1 document (whole or a subset) from any serde_json source.
pub(super) fn parse<'de, R: serde_json::de::Read<'de>>(
    src: R,
    zones: &ZoneFilter,
    spent: usize,
) -> Result<Stats, BindError> {
    let _reset = Reset;
    KEPT.with(|k| k.set(spent));
    FILTER.with(|f| *f.borrow_mut() = zones.clone());
    let mut de = serde_json::Deserializer::new(src);
    let doc = JDoc::deserialize(&mut de)
        .and_then(|d| de.end().map(|()| d))
        .map_err(|e| BindError(format!("malformed JSON: {e}")))?;
    let Some(schema) = text(doc.stats_version) else {
        return Err(BindError(
            "not a BIND statistics document (no json-stats-version)".into(),
        ));
    };
    let mut unk = super::Unknown::new();
    let g = |c: Option<Counts>, group: &str, unk: &mut super::Unknown| {
        c.unwrap_or_default().into(unk, group)
    };
    let mut st = Stats {
        format: "json-v1".into(),
        schema,
        server_version: text(doc.version),
        boot_time: text(doc.boot_time),
        config_time: text(doc.config_time),
        opcodes: g(doc.opcodes, "opcode", &mut unk),
        rcodes: g(doc.rcodes, "rcode", &mut unk),
        qtypes: g(doc.qtypes, "qtype", &mut unk),
        nsstat: g(doc.nsstats, "nsstat", &mut unk),
        zonestat: g(doc.zonestats, "zonestat", &mut unk),
        resstat: g(doc.resstats, "resstat", &mut unk),
        sockstat: g(doc.sockstats, "sockstat", &mut unk),
        ..Default::default()
    };
    for (name, v) in doc.views.unwrap_or_default() {
        let (stats, qtypes, cache) = match v.resolver {
            Some(r) => (r.stats, r.qtypes, r.cache),
            None => (None, None, None),
        };
        let zones = v
            .zones
            .map(|z| z.0)
            .unwrap_or_default()
            .into_iter()
            .map(|z| {
                let zname = text(z.name).unwrap_or_default();
                let qg = zone_group(&name, &zname, "qtype");
                let rg = zone_group(&name, &zname, "rcode");
                Zone {
                    class: text(z.class).unwrap_or_default(),
                    serial: match z.serial {
                        Some(Scalar::Count(n)) => Some(n),
                        _ => None,
                    },
                    qtypes: g(z.qtypes, &qg, &mut unk),
                    rcodes: g(z.rcodes, &rg, &mut unk),
                    name: zname,
                }
            })
            .collect();
        st.views.push(View {
            resqtype: g(qtypes, &view_group(&name, "resqtype"), &mut unk),
            resstats: g(stats, &view_group(&name, "resstats"), &mut unk),
            cache: g(cache, &view_group(&name, "cache"), &mut unk),
            zones,
            name,
        });
    }
    if let Some(mem) = doc.memory {
        st.memory = mem.summary.into(&mut unk, "memory");
        st.contexts = mem.contexts;
    }
    if let Some(tm) = doc.taskmgr {
        st.tasks = tm.tasks;
        if tm.thread_model {
            st.thread_model = Some(tm.numbers);
        }
    }
    st.unknown = unk;
    Ok(st)
}
