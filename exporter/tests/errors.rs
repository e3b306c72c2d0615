//! Bad input to the exporter: each gets a typed error that names what is wrong.

use ardent_exporter::{ExportError, ExportOptions, export};

use crate::agree::FAMILIES;
use crate::common::{family, random_checkpoint};

#[test]
fn lambda_outside_the_open_unit_interval_is_refused() {
    let f = family(FAMILIES[0].1);
    let ck = random_checkpoint(&f, 1, 0.2, 0.0, 0.0);
    for lambda in [0.0, 1.0, 1.5, -0.1, f64::NAN] {
        let e = export(
            &ck,
            "ck",
            &ExportOptions {
                lambda,
                ..ExportOptions::default()
            },
        )
        .expect_err("refused");
        assert!(matches!(e, ExportError::Lambda(_)), "{e}");
        assert!(e.to_string().contains("λ"), "{e}");
    }
}

#[test]
fn a_searched_family_collapses_by_its_logits_and_a_missing_one_is_named() {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/zoo/mlp-search.toml"
    ))
    .expect("zoo spec");
    let f = family(&src);
    let mut ck = random_checkpoint(&f, 1, 0.2, 0.0, 0.0);
    // x -> a: the 50-unit candidate (op 2) by a wide margin.
    ck.tensors.insert(
        "edge.0-1.gamma.logits".into(),
        ardent_models::TensorF32::new(vec![3], vec![0.0, 0.5, 4.0]),
    );
    let out = export(&ck, "search.safetensors", &ExportOptions::default()).expect("exports");
    assert_eq!(out.report.edges[0].ops, vec!["dense(50, relu)".to_string()]);
    assert!(out.report.verification.expect("checked").max_abs_diff < 1e-5);
    ck.tensors.remove("edge.0-1.gamma.logits");
    let e = export(&ck, "search.safetensors", &ExportOptions::default()).expect_err("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("search.safetensors") && msg.contains("edge.0-1.gamma.logits"),
        "{msg}"
    );
}

#[test]
fn a_missing_tensor_is_named() {
    let f = family(FAMILIES[0].1);
    let mut ck = random_checkpoint(&f, 1, 0.2, 0.0, 0.0);
    ck.tensors.remove("edge.1-2.op.0.bias");
    let e = export(&ck, "ck.safetensors", &ExportOptions::default()).expect_err("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("ck.safetensors") && msg.contains("edge.1-2.op.0.bias"),
        "{msg}"
    );
}

#[test]
fn writing_into_a_missing_directory_fails_and_an_old_file_survives_a_failure() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("no/such/dir/m.onnx");
    let e = ardent_exporter::write(&bad, b"x").expect_err("refused");
    assert!(e.to_string().contains("no/such/dir/m.onnx"), "{e}");
    let old = dir.path().join("m.onnx");
    std::fs::write(&old, b"old").expect("as set up");
    ardent_exporter::write(&old, b"new").expect("as set up");
    assert_eq!(std::fs::read(&old).expect("as set up"), b"new");
    let leftovers = std::fs::read_dir(dir.path()).expect("as set up").count();
    assert_eq!(leftovers, 1, "no temporary file is left behind");
}
