//! Fuzz target: DynIP's INI config reader on arbitrary text. A file that reads is rendered as `dynip-init`
//! writes one, and that reads back as the same config (and renders to the same text).
#![no_main]

use herald_core::legacy::dynip::{is_dynip_ini, DynipIni};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = is_dynip_ini(text);
    if let Ok(config) = DynipIni::parse(text) {
        let rendered = config.render();
        assert_eq!(
            DynipIni::parse(&rendered).as_ref(),
            Ok(&config),
            "{rendered:?}"
        );
        assert_eq!(is_dynip_ini(&rendered), config != DynipIni::default());
    }
});
