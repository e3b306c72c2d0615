//! Spec text must parse into a valid family or give an error, never panic; a family that
//! parses can be counted and laid out.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(f) = ardent_models::Family::parse(text) {
        let _ = f.tensor_layout();
        let _ = f.member_count();
        let _ = f.extremes();
    }
});
