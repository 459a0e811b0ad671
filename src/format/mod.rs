//! The output formats several tools share: writers of typed data that know no tool. Each
//! writes to any `std::io::Write` and never prints directly, so output is built in a buffer
//! and written whole (no partial output on error) and tested byte for byte.

pub(crate) mod json;
pub(crate) mod munin;
pub(crate) mod nagios;
pub(crate) mod prometheus;
pub(crate) mod table;

/// A number as every text format writes it: whole values without a fraction (`12`, not
/// `12.0`), others in Rust's shortest round-trip form (`0.25`), and `NaN`, `+Inf`, `-Inf`
/// (the Prometheus spellings; munin writes any non-finite value as `U`).
pub(crate) fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_written_one_way() {
        for (v, want) in [
            (0.0, "0"),
            (-0.0, "0"),
            (12.0, "12"),
            (-3.0, "-3"),
            (0.25, "0.25"),
            (1e15, "1000000000000000"),
            (1e16, "10000000000000000"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(super::number(v), want, "{v}");
        }
    }
}
