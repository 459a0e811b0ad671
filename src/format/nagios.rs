//! Nagios/Icinga plugin output, after the monitoring-plugins guidelines: one status line
//! `SERVICE STATE - text | perfdata`, exit 0/1/2/3, thresholds in range syntax. The one
//! Nagios writer: a tool builds a [`Check`] (the value its thresholds apply to, the text,
//! the perfdata) and [`Check::write`] decides the state, which the tool returns as
//! `crate::exit::Outcome::Nagios`.

use std::fmt;
use std::io::{self, Write};

/// The four plugin states, with their exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl State {
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
    pub(crate) fn label(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// A threshold range: `10` (alert outside 0..10), `10:` (below 10), `~:10` (above 10),
/// `10:20` (outside 10..20), `@10:20` (inside 10..20).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Range {
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) inside: bool,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeError(pub(crate) String);

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid threshold range '{}': expected N, N:, ~:N, N:M or @N:M",
            self.0
        )
    }
}

impl std::error::Error for RangeError {}

impl Range {
    pub(crate) fn parse(input: &str) -> Result<Range, RangeError> {
        let err = || RangeError(input.to_string());
        let s = input.trim();
        let (inside, body) = match s.strip_prefix('@') {
            Some(b) => (true, b),
            None => (false, s),
        };
        if body.is_empty() {
            return Err(err());
        }
        let num = |t: &str| -> Result<f64, RangeError> {
            let v: f64 = t.parse().map_err(|_| err())?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(err())
            }
        };
        let (start, end) = match body.split_once(':') {
            None => (0.0, num(body)?),
            Some((a, b)) => {
                let start = if a == "~" { f64::NEG_INFINITY } else { num(a)? };
                let end = if b.is_empty() { f64::INFINITY } else { num(b)? };
                (start, end)
            }
        };
        if start > end {
            return Err(err());
        }
        Ok(Range {
            start,
            end,
            inside,
            text: s.to_string(),
        })
    }

    /// True when `v` should raise an alert.
    pub(crate) fn alerts(&self, v: f64) -> bool {
        let within = v >= self.start && v <= self.end;
        if self.inside {
            within
        } else {
            !within
        }
    }

    /// The range as the user wrote it (for perfdata).
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

/// The state of `v` against optional warning and critical ranges.
pub(crate) fn state_of(v: f64, warn: Option<&Range>, crit: Option<&Range>) -> State {
    if crit.is_some_and(|r| r.alerts(v)) {
        State::Critical
    } else if warn.is_some_and(|r| r.alerts(v)) {
        State::Warning
    } else {
        State::Ok
    }
}

/// One perfdata item: `'label'=value[UOM];[warn];[crit];[min];[max]`.
#[derive(Debug, Clone)]
pub(crate) struct Perf {
    pub(crate) label: String,
    pub(crate) value: f64,
    pub(crate) uom: &'static str,
    pub(crate) warn: Option<String>,
    pub(crate) crit: Option<String>,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
}

impl Perf {
    pub(crate) fn new(label: impl Into<String>, value: f64) -> Self {
        Perf {
            label: label.into(),
            value,
            uom: "",
            warn: None,
            crit: None,
            min: None,
            max: None,
        }
    }
}

impl fmt::Display for Perf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // single quotes in a label are doubled, as the guidelines say
        let label = self.label.replace('\'', "''");
        write!(
            f,
            "'{}'={}{};{};{};{};{}",
            label,
            super::number(self.value),
            self.uom,
            self.warn.as_deref().unwrap_or(""),
            self.crit.as_deref().unwrap_or(""),
            self.min.map(super::number).unwrap_or_default(),
            self.max.map(super::number).unwrap_or_default(),
        )
    }
}

/// A check's result before it is written: the thresholds apply to `value`, which the text
/// must state (the first perfdata item carries it with the thresholds).
#[derive(Debug, Clone)]
pub(crate) struct Check<'a> {
    pub(crate) service: &'a str,
    pub(crate) value: f64,
    pub(crate) warning: Option<&'a Range>,
    pub(crate) critical: Option<&'a Range>,
    pub(crate) text: String,
    pub(crate) perf: Vec<Perf>,
}

impl Check<'_> {
    /// The state from the value and the thresholds.
    pub(crate) fn state(&self) -> State {
        state_of(self.value, self.warning, self.critical)
    }

    /// A perfdata item for the checked value, with the thresholds as written.
    pub(crate) fn checked_perf(&self, label: &str) -> Perf {
        let mut p = Perf::new(label, self.value);
        p.warn = self.warning.map(|w| w.as_str().to_string());
        p.crit = self.critical.map(|c| c.as_str().to_string());
        p.min = Some(0.0);
        p
    }

    /// Write the status line; returns the state (the exit code).
    pub(crate) fn write(&self, w: &mut dyn Write) -> io::Result<State> {
        let state = self.state();
        write_status(w, self.service, state, &self.text, &self.perf)?;
        Ok(state)
    }
}

/// An UNKNOWN status line for a failure (exit 3): all a monitoring system can parse.
pub(crate) fn write_unknown(w: &mut dyn Write, service: &str, msg: &str) -> io::Result<State> {
    write_status(w, service, State::Unknown, msg, &[])?;
    Ok(State::Unknown)
}

/// Write the status line `SERVICE STATE - text | perf perf ...`: text on one line, with `|`
/// (the perfdata separator) and control characters escaped.
pub(crate) fn write_status(
    w: &mut dyn Write,
    service: &str,
    state: State,
    text: &str,
    perf: &[Perf],
) -> io::Result<()> {
    let text = text.replace(['\n', '\r', '|'], " ");
    let text = crate::common::escape::clean(&text);
    write!(w, "{service} {} - {text}", state.label())?;
    if !perf.is_empty() {
        write!(w, " |")?;
        for p in perf {
            write!(w, " {p}")?;
        }
    }
    writeln!(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_guidelines() {
        let r = Range::parse("10").unwrap();
        assert!(!r.alerts(0.0) && !r.alerts(10.0) && r.alerts(11.0) && r.alerts(-1.0));
        let r = Range::parse("10:").unwrap();
        assert!(r.alerts(9.0) && !r.alerts(10.0) && !r.alerts(1e9));
        let r = Range::parse("~:10").unwrap();
        assert!(!r.alerts(-1e9) && r.alerts(11.0));
        let r = Range::parse("10:20").unwrap();
        assert!(r.alerts(9.0) && !r.alerts(15.0) && r.alerts(21.0));
        let r = Range::parse("@10:20").unwrap();
        assert!(!r.alerts(9.0) && r.alerts(10.0) && r.alerts(20.0) && !r.alerts(21.0));
        let r = Range::parse("-5:5").unwrap();
        assert!(r.alerts(-6.0) && !r.alerts(-5.0) && r.alerts(6.0));
        for bad in ["", "abc", "20:10", "@", "1:2:3"] {
            assert!(Range::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_and_status_line() {
        let w = Range::parse("10").unwrap();
        let c = Range::parse("50").unwrap();
        assert_eq!(state_of(5.0, Some(&w), Some(&c)), State::Ok);
        assert_eq!(state_of(11.0, Some(&w), Some(&c)), State::Warning);
        assert_eq!(state_of(111.0, Some(&w), Some(&c)), State::Critical);
        let mut p = Perf::new("stale", 111.0);
        p.warn = Some(w.as_str().into());
        p.crit = Some(c.as_str().into());
        p.min = Some(0.0);
        let mut out = Vec::new();
        write_status(&mut out, "CONN", State::Critical, "111 stale", &[p]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "CONN CRITICAL - 111 stale | 'stale'=111;10;50;0;\n"
        );
    }

    #[test]
    fn a_check_decides_its_state_from_the_value_it_states() {
        let w = Range::parse("10").unwrap();
        let mut c = Check {
            service: "T",
            value: 11.0,
            warning: Some(&w),
            critical: None,
            text: "11 things | \x1b[2J".into(),
            perf: Vec::new(),
        };
        c.perf.push(c.checked_perf("things"));
        let mut out = Vec::new();
        assert_eq!(c.write(&mut out).unwrap(), State::Warning);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "T WARNING - 11 things   \\x1b[2J | 'things'=11;10;;0;\n"
        );
        let mut out = Vec::new();
        assert_eq!(write_unknown(&mut out, "T", "bad").unwrap(), State::Unknown);
    }
}
