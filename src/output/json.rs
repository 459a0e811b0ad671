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

/// A float rounded to `places` decimals, for stable human-checkable JSON.
pub fn round(v: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (v * m).round() / m
}
