//! JSON output: one document (or one line per sample) from serde values.

use std::io::{self, Write};

use serde::Serialize;

/// Write `value` as one compact JSON line (JSON Lines, for streams of samples).
pub fn write_line<T: Serialize + ?Sized>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *w, value).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

/// Write `value` pretty-printed, for a single report.
pub fn write_pretty<T: Serialize + ?Sized>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

/// Write `value` pretty-printed with every string in it, object keys included, passed
/// through [`crate::output::escape::clean`]: for documents carrying outside text (BIND view,
/// zone and counter names), where a JSON `\u001b` escape would still come back raw out of
/// `jq -r`, and a C1 control would be carried raw.
pub fn write_pretty_clean<T: Serialize + ?Sized>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    let v = serde_json::to_value(value).map_err(io::Error::other)?;
    write_pretty(w, &clean_strings(v))
}

/// `v` with every string and object key escaped by [`crate::output::escape::clean`].
fn clean_strings(v: serde_json::Value) -> serde_json::Value {
    use crate::output::escape::clean;
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(clean(&s).into_owned()),
        Value::Array(a) => Value::Array(a.into_iter().map(clean_strings).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (clean(&k).into_owned(), clean_strings(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A float rounded to `places` decimals, for stable human-checkable JSON.
pub fn round(v: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (v * m).round() / m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_output_has_no_control_characters_in_keys_or_values() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("v\u{1b}[2J", vec!["z\u{9b}1", "ok"]);
        let mut out = Vec::new();
        write_pretty_clean(&mut out, &m).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{9b}'),
            "{text}"
        );
        assert!(!text.contains("\\u001b"), "{text}");
        assert!(text.contains(r#""v\\x1b[2J""#), "{text}");
        assert!(text.contains(r#""z\\x9b1""#), "{text}");
    }
}
