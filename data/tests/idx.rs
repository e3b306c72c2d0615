use std::io::Write;

use ardent_data::{encode_idx, parse_idx, read_idx};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

#[test]
fn round_trip_u8_raw_and_gzip() {
    let data: Vec<f32> = (0..2 * 3 * 4).map(|v| v as f32).collect();
    let bytes = encode_idx(&[2, 3, 4], &data);
    // Hand-built header: 00 00 08 03, then 2, 3, 4 as big-endian u32.
    assert_eq!(
        &bytes[..16],
        &[0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]
    );
    for b in [bytes.clone(), gzip(&bytes)] {
        let a = parse_idx(&b, "t").expect("valid");
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        assert!(a.integer);
    }
}

#[test]
fn float_values_round_trip() {
    let data = vec![0.5f32, -1.25, 3.0e-3];
    let a = parse_idx(&encode_idx(&[3], &data), "t").expect("valid");
    assert_eq!(a.data, data);
    assert!(!a.integer);
}

#[test]
fn signed_and_wide_types() {
    // int16 big-endian: -2, 300.
    let bytes = [0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x2C];
    assert_eq!(
        parse_idx(&bytes, "t").expect("valid").data,
        vec![-2.0, 300.0]
    );
    // int8: -1.
    let bytes = [0, 0, 0x09, 1, 0, 0, 0, 1, 0xFF];
    assert_eq!(parse_idx(&bytes, "t").expect("valid").data, vec![-1.0]);
}

#[test]
fn truncated_file_says_the_offset() {
    let bytes = encode_idx(&[10, 4], &[1.0; 40]);
    let cut = &bytes[..bytes.len() - 5];
    let e = parse_idx(cut, "images.idx")
        .expect_err("truncated")
        .to_string();
    assert!(e.contains("images.idx"), "{e}");
    assert!(e.contains("truncated"), "{e}");
    assert!(e.contains(&format!("byte offset {}", cut.len())), "{e}");
    // Truncated inside the header.
    let e = parse_idx(&bytes[..6], "images.idx")
        .expect_err("truncated")
        .to_string();
    assert!(e.contains("truncated header"), "{e}");
}

#[test]
fn wrong_magic_and_type() {
    let e = parse_idx(b"PK\x03\x04rest", "x")
        .expect_err("magic")
        .to_string();
    assert!(e.contains("wrong magic"), "{e}");
    assert!(e.contains("byte offset 0"), "{e}");
    let e = parse_idx(&[0, 0, 0x07, 1, 0, 0, 0, 1, 0], "x")
        .expect_err("type")
        .to_string();
    assert!(e.contains("unknown value type 0x07"), "{e}");
}

#[test]
fn trailing_bytes_and_zero_dims_are_refused() {
    let mut bytes = encode_idx(&[2], &[1.0, 2.0]);
    bytes.push(9);
    assert!(
        parse_idx(&bytes, "x")
            .expect_err("trailing")
            .to_string()
            .contains("unexpected bytes")
    );
    let e = parse_idx(&[0, 0, 8, 1, 0, 0, 0, 0], "x")
        .expect_err("zero")
        .to_string();
    assert!(e.contains("dimension 0 is zero"), "{e}");
}

#[test]
fn read_from_disk_names_missing_file() {
    let e = read_idx(std::path::Path::new("/no/such.idx"))
        .expect_err("missing")
        .to_string();
    assert!(e.starts_with("/no/such.idx: cannot read"), "{e}");
}
