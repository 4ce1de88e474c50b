//! Fuzz target: DynIP's JSON log reader on arbitrary text. The entries it reads, written as the old server
//! wrote them, read back as the same entries with nothing skipped, and that text is a fixed point; every time
//! reads back as itself.
#![no_main]

use herald_core::legacy::dynip::{parse_log, render_log, LogTime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(time) = LogTime::parse(text) {
        assert_eq!(LogTime::parse(&time.to_string()), Some(time));
    }
    let Ok(log) = parse_log(text) else {
        return;
    };
    let rendered = render_log(&log.entries);
    assert!(rendered.is_ascii());
    let again = parse_log(&rendered).expect("a rendered log reads");
    assert!(again.skipped.is_empty());
    assert_eq!(again.entries, log.entries);
    assert_eq!(render_log(&again.entries), rendered);
});
