//! IDX bytes (raw or gzip) must parse or give an error, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(a) = ardent_data::parse_idx(bytes, "fuzz.idx") {
        // What parsed is self-consistent.
        assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
    }
});
