//! CSV bytes (plain or gzip), with the header decided, given or absent and the label last or
//! named, must parse or give an error, never panic.
#![no_main]

use ardent_data::{CsvOptions, Header, LabelColumn};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    for header in [Header::Auto, Header::Present, Header::Absent] {
        for label in [LabelColumn::Last, LabelColumn::Name("quality".into())] {
            let options = CsvOptions { header, label };
            let _ = ardent_data::parse_csv(bytes, "fuzz.csv", &options);
        }
    }
});
