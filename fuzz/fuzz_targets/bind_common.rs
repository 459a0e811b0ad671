// Shared by the bind_xml and bind_json targets (included with `include!`): whatever a document
// parses to, the munin and Prometheus renderings are well-formed: valid field and graph names,
// no raw control character on any line, config and values naming the same fields.

use opskit::api::bind::Stats;
use opskit::api::bind::{graphs, Settings};
use opskit::api::format::{clean_fieldname, clean_graphname, write, Dirty, Values, Verb};

fn check_renderings(st: &Stats) {
    let gs = graphs(st, &Settings::default());
    for g in &gs {
        assert_eq!(clean_graphname(&g.name), g.name);
        for f in &g.fields {
            assert_eq!(clean_fieldname(&f.name), f.name);
            // unknown (`U`) only for a counter the document gave as something else than a count
            match f.value {
                Some(v) => assert!(v.is_finite() && v >= 0.0, "{}", f.name),
                None => assert!(!st.unknown.is_empty(), "{} is U", f.name),
            }
        }
    }
    let mut config = Vec::new();
    write(&mut config, &gs, Verb::Config, Dirty::Yes, Values::Known).unwrap();
    let text = String::from_utf8(config).unwrap();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    let mut prom = Vec::new();
    let fams = opskit::api::bind::families(st);
    opskit::api::format::write_prometheus(&mut prom, &fams).unwrap();
    let text = String::from_utf8(prom).unwrap();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    // the JSON bindstats prints: no raw control character
    let mut json = Vec::new();
    opskit::api::format::write_pretty_clean(&mut json, st).unwrap();
    let text = String::from_utf8(json).unwrap();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    // decoded (as `jq -r` would), no string or key holds a control character either
    fn clean(v: &serde_json::Value) -> bool {
        let ok = |s: &str| !s.chars().any(char::is_control);
        match v {
            serde_json::Value::String(s) => ok(s),
            serde_json::Value::Array(a) => a.iter().all(clean),
            serde_json::Value::Object(o) => o.iter().all(|(k, v)| ok(k) && clean(v)),
            _ => true,
        }
    }
    assert!(clean(&serde_json::from_str(&text).unwrap()), "{text:?}");
}
