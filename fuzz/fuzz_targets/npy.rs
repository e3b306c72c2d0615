//! NPY bytes must parse or give an error, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(a) = ardent_data::parse_npy(bytes, "fuzz.npy") {
        assert_eq!(a.shape.iter().product::<usize>(), a.data.len());
    }
});
