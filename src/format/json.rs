//! JSON output: one document (or one line per sample) from serde values.

use std::io::{self, Write};

use serde::Serialize;

/// Write `value` as one compact JSON line (JSON Lines, for streams of samples).
pub(crate) fn write_line<T: Serialize + ?Sized>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *w, value).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

/// Write `value` pretty-printed, for a single report.
pub(crate) fn write_pretty<T: Serialize + ?Sized>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::other)?;
    w.write_all(b"\n")
}

/// Write `value` pretty-printed with every string in it, object keys included, passed
/// through [`crate::common::escape::clean`]: for documents carrying outside text (BIND view,
/// zone and counter names), where a JSON `\u001b` escape would still come back raw out of
/// `jq -r`, and a C1 control would be carried raw.
///
/// Real documents carry no such text, so the value is serialized straight first and only
/// rebuilt (through a `serde_json::Value`, whose objects sort their keys) when the output holds
/// an escaped or raw control character: the clean path costs nothing on a sane document.
pub fn write_pretty_clean<T: Serialize + ?Sized>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    let mut buf = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    if needs_cleaning(&buf) {
        let v = serde_json::to_value(value).map_err(io::Error::other)?;
        buf = serde_json::to_vec_pretty(&clean_strings(v)).map_err(io::Error::other)?;
    }
    buf.push(b'\n');
    w.write_all(&buf)
}

/// True when serialized JSON holds a string with a character [`crate::common::escape::clean`]
/// would change: a raw one (DEL, C1, a bidi override) or one serde_json escaped (`\u001b`,
/// `\n`, ...; it escapes nothing else but `\"` and `\\`).
fn needs_cleaning(json: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(json) else {
        return true;
    };
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if matches!(chars.next(), Some('b' | 'f' | 'n' | 'r' | 't' | 'u')) {
                return true;
            }
        } else if c != '\n' && crate::common::escape::is_unsafe(c) {
            // the pretty printer's own newlines are layout, not string content
            return true;
        }
    }
    false
}

/// `v` with every string and object key escaped by [`crate::common::escape::clean`].
fn clean_strings(v: serde_json::Value) -> serde_json::Value {
    use crate::common::escape::clean;
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

    #[test]
    fn only_text_that_needs_it_takes_the_slow_path() {
        let pretty = |v: &serde_json::Value| serde_json::to_vec_pretty(v).unwrap();
        for safe in [
            serde_json::json!({"view": "_default", "zone": "example.com/IN", "n": [1, 2]}),
            serde_json::json!({"quote": "a \"b\" c\\d", "uni": "zoné 例"}),
        ] {
            assert!(!needs_cleaning(&pretty(&safe)), "{safe}");
        }
        for unsafe_ in [
            "a\u{1b}[2J",
            "x\ny",
            "tab\there",
            "c1 \u{9b}",
            "del\u{7f}",
            "rlo\u{202e}",
        ] {
            let v = serde_json::json!({ "k": unsafe_ });
            assert!(needs_cleaning(&pretty(&v)), "{unsafe_:?}");
            let v = serde_json::json!({ unsafe_: 1 });
            assert!(needs_cleaning(&pretty(&v)), "key {unsafe_:?}");
        }
    }
}
