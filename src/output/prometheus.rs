//! Prometheus text exposition format (0.0.4), for scrapes and the node_exporter textfile
//! collector.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::output::escape::clean;

/// A metric name made valid: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
        out.push(if ok { c } else { '_' });
    }
    out
}

/// A label value escaped (`\`, `"` and newline).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: integers without a fraction, `NaN`, `+Inf`/`-Inf`.
pub fn value_str(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// One metric family: `# HELP`, `# TYPE` and its samples.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: &'static str,
    pub samples: Vec<(Vec<(String, String)>, f64)>,
}

impl Family {
    pub fn new(name: &str, kind: &'static str, help: &str) -> Self {
        Family {
            name: metric_name(name),
            help: help.replace('\n', " "),
            kind,
            samples: Vec::new(),
        }
    }

    /// Add a sample. Label values are outside text (view, zone, process names): control
    /// characters are made visible ([`clean`]) before the exposition escaping.
    pub fn push(&mut self, labels: &[(&str, &str)], v: f64) {
        self.samples.push((
            labels
                .iter()
                .map(|(k, v)| (metric_name(k), clean(v).into_owned()))
                .collect(),
            v,
        ));
    }

    pub fn render(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(
            w,
            "# HELP {} {}",
            self.name,
            self.help.replace('\\', "\\\\")
        )?;
        writeln!(w, "# TYPE {} {}", self.name, self.kind)?;
        let mut line = String::new();
        for (labels, v) in &self.samples {
            line.clear();
            line.push_str(&self.name);
            if !labels.is_empty() {
                line.push('{');
                for (i, (k, val)) in labels.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    let _ = write!(line, "{k}=\"{}\"", escape_label(val));
                }
                line.push('}');
            }
            writeln!(w, "{line} {}", value_str(*v))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_exposition_format() {
        let mut f = Family::new("bind_incoming_queries_total", "counter", "Queries by type.");
        f.push(&[("type", "A")], 12.0);
        f.push(&[("type", "we\"ird\\")], 0.5);
        let mut out = Vec::new();
        f.render(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP bind_incoming_queries_total Queries by type.\n\
             # TYPE bind_incoming_queries_total counter\n\
             bind_incoming_queries_total{type=\"A\"} 12\n\
             bind_incoming_queries_total{type=\"we\\\"ird\\\\\"} 0.5\n"
        );
        assert_eq!(metric_name("9a-b"), "_a_b");
        let mut f = Family::new("x", "gauge", "h");
        f.push(&[("view", "a\x1b[2J\nb")], 1.0);
        let mut out = Vec::new();
        f.render(&mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.ends_with("x{view=\"a\\\\x1b[2J\\\\nb\"} 1\n"), "{s}");
    }
}
