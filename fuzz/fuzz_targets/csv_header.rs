//! The header decision as a property: for any numeric table the fuzzer describes, with or
//! without a header line, the samples read equal the data lines written, and the header is
//! found exactly when one was written.
#![no_main]

use ardent_data::{CsvOptions, parse_csv};

/// Numbers as writers print them; the fuzzer picks among them by byte.
fn number(b: u8, v: u8) -> String {
    let x = f64::from(v) - 128.0;
    match b % 8 {
        0 => format!("{}", v as i64 - 128),
        1 => format!("{:e}", x * 1e3),
        2 => format!("{:.18e}", x / 7.0),
        3 => ["nan", "inf", "-inf", "NaN"][(v % 4) as usize].to_string(),
        4 => format!(" {x} "),
        5 => format!("+{v}"),
        6 => format!("{}", x / 3.0),
        _ => format!("{:.3}", x),
    }
}

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let [w, header, rest @ ..] = bytes else {
        return;
    };
    let width = 2 + (*w % 8) as usize;
    let header = header % 2 == 1;
    let rows: Vec<&[u8]> = rest.chunks_exact(2 * width).collect();
    if rows.is_empty() {
        return;
    }
    let mut text = String::new();
    if header {
        let names: Vec<String> = (0..width)
            .map(|c| if c == 0 { "x0".to_string() } else { c.to_string() })
            .collect();
        text.push_str(&names.join(","));
        text.push('\n');
    }
    for row in &rows {
        let fields: Vec<String> = row.chunks_exact(2).map(|p| number(p[0], p[1])).collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    let t = parse_csv(text.as_bytes(), "fuzz.csv", &CsvOptions::default())
        .expect("a numeric table parses");
    assert_eq!(t.rows(), rows.len(), "{text}");
    assert_eq!(t.header.present, header, "{text}");
});
