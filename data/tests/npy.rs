use ardent_data::{encode_npy_f32, parse_npy};

/// Builds an NPY v1 file by hand from a header dict and raw bytes.
fn npy(dict: &str, body: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn f32_round_trip() {
    let data = vec![1.0f32, -2.5, 3.25, 0.0, 7.0, 8.0];
    let bytes = encode_npy_f32(&[2, 3], &data);
    assert_eq!(
        bytes.len() % 64,
        24,
        "header padded to a multiple of 64, then the data"
    );
    let a = parse_npy(&bytes, "x.npy").expect("valid");
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.data, data);
    let a = parse_npy(&encode_npy_f32(&[3], &[1.0, 2.0, 3.0]), "x.npy").expect("valid");
    assert_eq!(a.shape, vec![3]);
}

#[test]
fn integer_and_big_endian_types() {
    let body: Vec<u8> = [-3i64, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
    let a = parse_npy(
        &npy(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
            &body,
        ),
        "y",
    )
    .expect("valid");
    assert_eq!(a.data, vec![-3.0, 9.0]);
    assert!(a.integer);
    let body: Vec<u8> = [1.5f64, -2.0]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let a = parse_npy(
        &npy(
            "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }",
            &body,
        ),
        "y",
    )
    .expect("valid");
    assert_eq!(a.data, vec![1.5, -2.0]);
    let a = parse_npy(
        &npy(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
            &[0, 7, 255],
        ),
        "y",
    )
    .expect("valid");
    assert_eq!(a.data, vec![0.0, 7.0, 255.0]);
}

#[test]
fn bad_files() {
    let e = parse_npy(b"not an npy file", "x.npy")
        .expect_err("magic")
        .to_string();
    assert!(e.contains("x.npy") && e.contains("wrong magic"), "{e}");
    let bytes = encode_npy_f32(&[4], &[1.0; 4]);
    let e = parse_npy(&bytes[..bytes.len() - 3], "x.npy")
        .expect_err("short")
        .to_string();
    assert!(e.contains("needs 16 data bytes, the file has 13"), "{e}");
    let e = parse_npy(
        &npy(
            "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        ),
        "x",
    )
    .expect_err("complex")
    .to_string();
    assert!(e.contains("unsupported dtype `<c8`"), "{e}");
    let e = parse_npy(
        &npy(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
            &[0; 4],
        ),
        "x",
    )
    .expect_err("fortran")
    .to_string();
    assert!(e.contains("Fortran"), "{e}");
}

/// Inputs the fuzz targets (`fuzz/`) once crashed on; each must now be a clean error.
#[test]
fn fuzz_regressions_are_errors() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions directory") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.starts_with("npy-") {
            let e = ardent_data::parse_npy(&bytes, &name).expect_err("a bad file");
            assert!(e.to_string().contains(&name), "{e}");
            seen += 1;
        }
    }
    assert!(seen > 0);
}
