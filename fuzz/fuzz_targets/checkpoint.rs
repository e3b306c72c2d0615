//! Checkpoint bytes must load or give an error, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = ardent_models::Checkpoint::from_bytes(bytes, std::path::Path::new("fuzz.safetensors"));
});
