//! CSV bytes (plain or gzip), with a header and the label last or named, must parse or give an
//! error, never panic.
#![no_main]

use ardent_data::{CsvOptions, LabelColumn};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    for label in [LabelColumn::Last, LabelColumn::Name("quality".into())] {
        let options = CsvOptions {
            header: true,
            label,
        };
        let _ = ardent_data::parse_csv(bytes, "fuzz.csv", &options);
    }
});
