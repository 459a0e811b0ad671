//! The munin plugin protocol: field names, `config` and values, multigraph.
//!
//! See munin's `doc/develop/plugins/plugin-concise.rst` and `howto-write-plugins.rst`.

use std::collections::HashSet;
use std::io::{self, Write};

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

/// A munin value: a number, or `U` (unknown).
pub fn value_str(v: Option<f64>) -> String {
    match v {
        None => "U".to_string(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Some(x) => format!("{x}"),
    }
}

/// Write `multigraph NAME`.
pub fn multigraph(w: &mut dyn Write, name: &str) -> io::Result<()> {
    writeln!(w, "multigraph {name}")
}

/// Write `field.value V`.
pub fn value(w: &mut dyn Write, field: &str, v: Option<f64>) -> io::Result<()> {
    writeln!(w, "{field}.value {}", value_str(v))
}

/// Text for a `label`/`info`/`graph_title` value: one line, no control characters.
pub fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
