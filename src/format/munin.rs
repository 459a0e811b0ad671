//! The munin plugin protocol: field names, `config` and values, multigraph, dirtyconfig and
//! the graphs remembered between runs (the state file in `$MUNIN_PLUGSTATE`).
//!
//! A plugin builds [`Graph`]s (declared fields with their values) and hands them to
//! [`write`]; when its data source fails it reloads the graphs of its last good run
//! ([`state_from_bytes`]) and writes them with [`Values::Unknown`], so `config` keeps working
//! and every field reads `U`, never a made-up zero. The file itself is read and written by
//! `sys::munin_state` (this module does no I/O).
//!
//! See munin's `doc/develop/plugins/plugin-concise.rst` and `howto-write-plugins.rst`.

use std::collections::HashSet;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::common::escape::clean;

/// How munin stores a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldType {
    Gauge,
    Derive,
    Counter,
    Absolute,
}

impl FieldType {
    fn as_str(self) -> &'static str {
        match self {
            FieldType::Gauge => "GAUGE",
            FieldType::Derive => "DERIVE",
            FieldType::Counter => "COUNTER",
            FieldType::Absolute => "ABSOLUTE",
        }
    }
}

/// How a field is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Draw {
    Line1,
    Line2,
    Area,
    Stack,
    /// An area stacked on the previous field (the first one starts at zero).
    AreaStack,
}

impl Draw {
    fn as_str(self) -> &'static str {
        match self {
            Draw::Line1 => "LINE1",
            Draw::Line2 => "LINE2",
            Draw::Area => "AREA",
            Draw::Stack => "STACK",
            Draw::AreaStack => "AREASTACK",
        }
    }
}

/// One data source of a graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The field name as the munin master stores it (see [`clean_fieldname`]).
    pub name: String,
    /// Outside text is fine: it is escaped when written.
    pub label: String,
    pub kind: FieldType,
    pub draw: Option<Draw>,
    pub min: Option<i64>,
    pub info: Option<String>,
    pub warning: Option<String>,
    pub critical: Option<String>,
    /// `None` prints `U`. Never saved in the state file.
    #[serde(skip)]
    pub value: Option<f64>,
}

impl Field {
    /// A field named `name` (cleaned for the master) with `label`, no draw style or limits.
    pub fn new(name: &str, label: &str, kind: FieldType, value: Option<f64>) -> Field {
        Field {
            name: clean_fieldname(name),
            label: label.to_string(),
            kind,
            draw: None,
            min: None,
            info: None,
            warning: None,
            critical: None,
            value,
        }
    }
}

/// One multigraph graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    /// The multigraph name, already valid (see [`clean_graphname`]).
    pub name: String,
    pub title: String,
    pub vlabel: String,
    pub args: String,
    pub category: String,
    pub info: Option<String>,
    pub fields: Vec<Field>,
}

/// What munin asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Config,
    Fetch,
}

/// Whether munin-node announced `MUNIN_CAP_DIRTYCONFIG=1` (values along with `config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dirty {
    No,
    Yes,
}

/// Whether the values are real or the source failed (every field `U`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    Known,
    Unknown,
}

/// Write what munin asked for: `config` (and values with dirtyconfig), or the values.
pub fn write(
    w: &mut dyn Write,
    graphs: &[Graph],
    verb: Verb,
    dirty: Dirty,
    values: Values,
) -> io::Result<()> {
    if verb == Verb::Config {
        write_config(w, graphs)?;
        if dirty == Dirty::No {
            return Ok(());
        }
    }
    write_values(w, graphs, values)
}

/// The `config` output of every graph.
fn write_config(w: &mut dyn Write, graphs: &[Graph]) -> io::Result<()> {
    for g in graphs {
        multigraph(w, &g.name)?;
        writeln!(w, "graph_title {}", clean_text(&clean(&g.title)))?;
        writeln!(w, "graph_args {}", clean_text(&g.args))?;
        writeln!(w, "graph_vlabel {}", clean_text(&clean(&g.vlabel)))?;
        writeln!(w, "graph_category {}", clean_text(&g.category))?;
        if let Some(i) = &g.info {
            writeln!(w, "graph_info {}", clean_text(&clean(i)))?;
        }
        for f in &g.fields {
            write_field_config(w, f)?;
        }
    }
    Ok(())
}

fn write_field_config(w: &mut dyn Write, f: &Field) -> io::Result<()> {
    let n = &f.name;
    writeln!(w, "{n}.label {}", clean_text(&clean(&f.label)))?;
    writeln!(w, "{n}.type {}", f.kind.as_str())?;
    if let Some(m) = f.min {
        writeln!(w, "{n}.min {m}")?;
    }
    if let Some(d) = f.draw {
        writeln!(w, "{n}.draw {}", d.as_str())?;
    }
    if let Some(i) = &f.info {
        writeln!(w, "{n}.info {}", clean_text(&clean(i)))?;
    }
    for (k, v) in [("warning", &f.warning), ("critical", &f.critical)] {
        if let Some(v) = v {
            writeln!(w, "{n}.{k} {}", clean_text(v))?;
        }
    }
    Ok(())
}

/// The values of every graph (`U` for all of them with [`Values::Unknown`]).
fn write_values(w: &mut dyn Write, graphs: &[Graph], values: Values) -> io::Result<()> {
    for g in graphs {
        multigraph(w, &g.name)?;
        for f in &g.fields {
            let v = if values == Values::Known {
                f.value
            } else {
                None
            };
            value(w, &f.name, v)?;
        }
    }
    Ok(())
}

/// The graphs as saved between runs (labels, types, no values).
pub fn state_to_bytes(graphs: &[Graph]) -> Vec<u8> {
    serde_json::to_vec(graphs).unwrap_or_default()
}

/// Graphs saved by [`state_to_bytes`]; `None` for anything else (a missing or damaged file
/// is not an error: the plugin falls back to the graphs it always has).
pub fn state_from_bytes(b: &[u8]) -> Option<Vec<Graph>> {
    let gs: Vec<Graph> = serde_json::from_slice(b).ok()?;
    // a state file is outside input too: names that could break the protocol are refused
    gs.iter()
        .all(|g| {
            clean_graphname(&g.name) == g.name
                && g.fields.iter().all(|f| clean_fieldname(&f.name) == f.name)
        })
        .then_some(gs)
}

/// A multigraph name: `[A-Za-z0-9_.-]` kept (munin accepts them, and the perl plugins put
/// raw view names there), anything else `_`.
pub fn clean_graphname(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// A field name as the munin master stores it: the master rewrites the first character to `_`
/// unless it is a letter or `_`, and every other character outside `[A-Za-z0-9_]` to `_`
/// (`!A` -> `_A`, `QryRTT1600+` -> `QryRTT1600_`, `1xx` -> `_xx`). Using the same rule keeps a
/// site's RRD history when it switches plugins.
pub fn clean_fieldname(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let ok = if i == 0 {
            c.is_ascii_alphabetic() || c == '_'
        } else {
            c.is_ascii_alphanumeric() || c == '_'
        };
        out.push(if ok { c } else { '_' });
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Gives each original name a unique clean field name, stable in the order names are seen:
/// the first keeps the clean name, later collisions get `_2`, `_3`...
#[derive(Debug, Default, Clone)]
pub struct FieldNamer {
    used: HashSet<String>,
}

impl FieldNamer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn name(&mut self, original: &str) -> String {
        let base = clean_fieldname(original);
        if self.used.insert(base.clone()) {
            return base;
        }
        let mut n = 2;
        loop {
            let cand = format!("{base}_{n}");
            if self.used.insert(cand.clone()) {
                return cand;
            }
            n += 1;
        }
    }
}

/// A munin value: a number, or `U` (unknown; also for NaN and infinities, which munin
/// cannot store).
fn value_str(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => super::number(x),
        _ => "U".to_string(),
    }
}

/// Write `multigraph NAME`.
fn multigraph(w: &mut dyn Write, name: &str) -> io::Result<()> {
    writeln!(w, "multigraph {name}")
}

/// Write `field.value V`.
fn value(w: &mut dyn Write, field: &str, v: Option<f64>) -> io::Result<()> {
    writeln!(w, "{field}.value {}", value_str(v))
}

/// Text for a `label`/`info`/`graph_title` value: one line, no control characters.
fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Graph> {
        let mut a = Field::new("!A", "!A\x1b[2J", FieldType::Derive, Some(5.0));
        a.min = Some(0);
        a.draw = Some(Draw::Area);
        a.warning = Some("10".into());
        vec![Graph {
            name: clean_graphname("queries_out_my-view x"),
            title: "Queries Out my-view\nx".into(),
            vlabel: "q".into(),
            args: "-l 0".into(),
            category: "dns".into(),
            info: None,
            fields: vec![a, Field::new("B", "B", FieldType::Gauge, None)],
        }]
    }

    #[test]
    fn config_values_dirty_and_unknown() {
        let g = sample();
        let mut out = Vec::new();
        write(&mut out, &g, Verb::Config, Dirty::No, Values::Known).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "multigraph queries_out_my-view_x\ngraph_title Queries Out my-view\\nx\n\
             graph_args -l 0\ngraph_vlabel q\ngraph_category dns\n_A.label !A\\x1b[2J\n\
             _A.type DERIVE\n_A.min 0\n_A.draw AREA\n_A.warning 10\nB.label B\nB.type GAUGE\n"
        );
        let mut out = Vec::new();
        write(&mut out, &g, Verb::Config, Dirty::Yes, Values::Known).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("_A.value 5\nB.value U\n"));
        let mut out = Vec::new();
        write(&mut out, &g, Verb::Fetch, Dirty::No, Values::Unknown).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "multigraph queries_out_my-view_x\n_A.value U\nB.value U\n"
        );
    }

    #[test]
    fn state_round_trips_without_values_and_refuses_bad_names() {
        let g = sample();
        let back = state_from_bytes(&state_to_bytes(&g)).unwrap();
        assert_eq!(back[0].fields[0].value, None);
        assert_eq!(back[0].fields[0].label, g[0].fields[0].label);
        let bad = String::from_utf8(state_to_bytes(&g))
            .unwrap()
            .replace("queries_out_my-view_x", "x\\ny");
        assert!(state_from_bytes(bad.as_bytes()).is_none());
        assert!(state_from_bytes(b"garbage").is_none());
    }

    #[test]
    fn field_names_match_the_munin_master() {
        assert_eq!(clean_fieldname("!A"), "_A");
        assert_eq!(clean_fieldname("QryRTT1600+"), "QryRTT1600_");
        assert_eq!(clean_fieldname("A"), "A");
        assert_eq!(clean_fieldname("1xx"), "_xx");
        assert_eq!(clean_fieldname("TYPE65534"), "TYPE65534");
        assert_eq!(clean_fieldname("in-addr.arpa"), "in_addr_arpa");
        assert_eq!(clean_fieldname(""), "_");
    }

    #[test]
    fn collisions_get_unique_names() {
        let mut n = FieldNamer::new();
        assert_eq!(n.name("!A"), "_A");
        assert_eq!(n.name("_A"), "_A_2");
        assert_eq!(n.name("?A"), "_A_3");
        assert_eq!(n.name("B"), "B");
    }

    #[test]
    fn values() {
        assert_eq!(value_str(None), "U");
        assert_eq!(value_str(Some(12.0)), "12");
        assert_eq!(value_str(Some(0.5)), "0.5");
    }
}
