//! Text from outside (process names, IRQ names, BIND view and zone names, device names) is
//! escaped before it reaches a terminal, a table, a Nagios line, a munin label or a Prometheus
//! label: any user can name a process `"\x1b[2J..."`, and a raw escape sequence would redraw
//! the operator's terminal or forge a line in a monitoring system.
//!
//! [`clean`] turns every control character (C0, DEL, C1), every Unicode bidirectional
//! override and every invisible format character (zero-width space/joiners, word joiner,
//! invisible operators, byte order mark: two names that look the same must not be two
//! different things on screen) into a visible escape (`\x1b`, `\n`, `\u{202e}`); a backslash that could make an
//! escaped name ambiguous is doubled only when something else in the text was escaped.

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for a character that must never reach a terminal or a monitoring line raw.
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL, C1
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' // zero-width space, non-joiner, joiner; LRM, RLM
                | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
                | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
                | '\u{2066}'..='\u{2069}' // bidi isolates
                | '\u{feff}' // zero-width no-break space (BOM)
        )
}

/// `s` with control characters and bidi overrides escaped; borrowed (no allocation) when the
/// text is already safe, which is the common case.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_text_is_borrowed() {
        assert!(matches!(clean("eth0-TxRx-0 ü 例"), Cow::Borrowed(_)));
        assert!(matches!(clean(r"C:\path"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_and_controls_are_visible() {
        assert_eq!(clean("\x1b[2Jevil"), "\\x1b[2Jevil");
        assert_eq!(clean("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(clean("x\u{7f}\u{9b}y"), "x\\x7f\\x9by");
        assert_eq!(clean("abc\u{202e}cba"), "abc\\u{202e}cba");
        // invisible characters that make two names look alike
        for (c, want) in [
            ('\u{200b}', "\\u{200b}"),
            ('\u{200d}', "\\u{200d}"),
            ('\u{2060}', "\\u{2060}"),
            ('\u{2064}', "\\u{2064}"),
            ('\u{feff}', "\\u{feff}"),
        ] {
            assert_eq!(clean(&format!("eth{c}0")), format!("eth{want}0"));
        }
        // the healthy twins: visible neighbours stay as they are
        for ok in ["a\u{2010}b", "a\u{2065}b", "a\u{fefe}b", "a\u{200a}b"] {
            assert!(matches!(clean(ok), Cow::Borrowed(_)), "{ok:?}");
        }
        // a backslash next to an escape is doubled, so `\x1b` typed literally stays distinct
        assert_eq!(clean("\\x1b\x1b"), "\\\\x1b\\x1b");
    }

    #[test]
    fn nothing_unsafe_survives() {
        for b in (0u32..0x3000).chain(0xfe00..0x10000) {
            let Some(c) = char::from_u32(b) else { continue };
            let s = format!("a{c}b");
            assert!(!clean(&s).chars().any(is_unsafe), "U+{b:04x}");
        }
    }
}
