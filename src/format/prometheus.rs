//! Prometheus text exposition format (0.0.4), for scrapes and the node_exporter textfile
//! collector.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::common::escape::clean;

/// A metric name made valid: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
        out.push(if ok { c } else { '_' });
    }
    out
}

/// A label value escaped (`\`, `"` and newline).
fn escape_label(v: &str) -> String {
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

/// A sample's labels: (name, value) pairs.
type Labels = Vec<(String, String)>;

/// A metric family's type, as `# TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family: `# HELP`, `# TYPE` and its samples.
#[derive(Debug, Clone)]
pub struct Family {
    pub(crate) name: String,
    help: String,
    kind: Kind,
    samples: Vec<(Labels, f64)>,
    /// Samples of a histogram or summary (`_bucket`, `_sum`, `_count`), written after
    /// `samples` with their suffix.
    suffixed: Vec<(&'static str, Labels, f64)>,
}

impl Family {
    pub(crate) fn new(name: &str, kind: Kind, help: &str) -> Self {
        Family {
            name: metric_name(name),
            help: help.replace('\n', " "),
            kind,
            samples: Vec::new(),
            suffixed: Vec::new(),
        }
    }

    fn labels(labels: &[(&str, &str)]) -> Labels {
        labels
            .iter()
            .map(|(k, v)| (metric_name(k), clean(v).into_owned()))
            .collect()
    }

    /// Add a sample of a histogram/summary part: `suffix` is `_bucket`, `_sum` or `_count`.
    fn push_suffixed(&mut self, suffix: &'static str, labels: &[(&str, &str)], v: f64) {
        self.suffixed.push((suffix, Self::labels(labels), v));
    }

    /// A histogram from cumulative bucket counts `(upper bound, count)` (ascending; a last
    /// `+Inf` bucket equal to the count is added when missing), the sum (NaN when unknown)
    /// and the count.
    pub(crate) fn push_histogram(
        &mut self,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) {
        for (le, n) in buckets {
            let le = super::number(*le);
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.push_suffixed("_bucket", &l, *n as f64);
        }
        if buckets.last().is_none_or(|(le, _)| le.is_finite()) {
            let mut l = labels.to_vec();
            l.push(("le", "+Inf"));
            self.push_suffixed("_bucket", &l, count as f64);
        }
        self.push_suffixed("_sum", labels, sum);
        self.push_suffixed("_count", labels, count as f64);
    }

    /// Add a sample. Label values are outside text (view, zone, process names): control
    /// characters are made visible ([`clean`]) before the exposition escaping.
    pub(crate) fn push(&mut self, labels: &[(&str, &str)], v: f64) {
        self.samples.push((Self::labels(labels), v));
    }

    fn render(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(
            w,
            "# HELP {} {}",
            self.name,
            self.help.replace('\\', "\\\\")
        )?;
        writeln!(w, "# TYPE {} {}", self.name, self.kind.as_str())?;
        let mut line = String::new();
        let plain = self.samples.iter().map(|(l, v)| ("", l, v));
        let parts = self.suffixed.iter().map(|(s, l, v)| (*s, l, v));
        for (suffix, labels, v) in plain.chain(parts) {
            line.clear();
            line.push_str(&self.name);
            line.push_str(suffix);
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
            writeln!(w, "{line} {}", super::number(*v))?;
        }
        Ok(())
    }
}

/// Write an exposition: every family in order.
pub fn write(w: &mut dyn Write, families: &[Family]) -> io::Result<()> {
    families.iter().try_for_each(|f| f.render(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_exposition_format() {
        let mut f = Family::new(
            "bind_incoming_queries_total",
            Kind::Counter,
            "Queries by type.",
        );
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
        let mut h = Family::new("d_seconds", Kind::Histogram, "h");
        h.push_histogram(&[("view", "v")], &[(0.01, 2), (0.1, 5)], f64::NAN, 7);
        let mut out = Vec::new();
        h.render(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP d_seconds h\n# TYPE d_seconds histogram\n\
             d_seconds_bucket{view=\"v\",le=\"0.01\"} 2\n\
             d_seconds_bucket{view=\"v\",le=\"0.1\"} 5\n\
             d_seconds_bucket{view=\"v\",le=\"+Inf\"} 7\n\
             d_seconds_sum{view=\"v\"} NaN\nd_seconds_count{view=\"v\"} 7\n"
        );
        let mut f = Family::new("x", Kind::Gauge, "h");
        f.push(&[("view", "a\x1b[2J\nb")], 1.0);
        let mut out = Vec::new();
        f.render(&mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.ends_with("x{view=\"a\\\\x1b[2J\\\\nb\"} 1\n"), "{s}");
    }
}
