//! The runtime against hand-computed outputs, on graphs built with the exporter's builder.

use ardent_exporter::onnx::{Attr, GraphBuilder, WeightType, encode};
use ardent_runtime::{LoadOptions, Model, RuntimeError};

/// y = relu(x W + b) with W 3×2: a case small enough to compute by hand.
fn tiny(ty: WeightType) -> Vec<u8> {
    let mut g = GraphBuilder::new();
    let w = g.weight("w", &[3, 2], &[1.0, -1.0, 0.5, 2.0, -2.0, 0.25], ty);
    let b = g.weight("b", &[2], &[0.1, -0.2], ty);
    let (w, b) = if ty == WeightType::F16 {
        let wf = g.node("Cast", &[&w], "w32", &[("to", Attr::Int(1))]);
        let bf = g.node("Cast", &[&b], "b32", &[("to", Attr::Int(1))]);
        (wf, bf)
    } else {
        (w, b)
    };
    let h = g.node("Gemm", &["x", &w, &b], "h", &[]);
    g.node("Relu", &[&h], "y", &[]);
    g.metadata("ardent.lambda", "0.975");
    encode(&g.finish("tiny", ("x", &[3]), ("y", &[2])))
}

fn expected(x: &[f32]) -> Vec<f32> {
    let w = [[1.0f32, -1.0], [0.5, 2.0], [-2.0, 0.25]];
    let b = [0.1f32, -0.2];
    x.chunks(3)
        .flat_map(|r| {
            (0..2).map(move |j| {
                let s: f32 = (0..3).map(|i| r[i] * w[i][j]).sum::<f32>() + b[j];
                s.max(0.0)
            })
        })
        .collect()
}

#[test]
fn gemm_relu_matches_hand_computation() {
    let bytes = tiny(WeightType::F32);
    let x = [1.0f32, 2.0, 3.0, -1.0, 0.5, 0.25];
    for batch in [None, Some(2)] {
        let m = Model::load_bytes(&bytes, "tiny.onnx", LoadOptions { batch }).expect("load");
        assert_eq!(m.info().input_shape, vec![3]);
        assert_eq!(m.info().output_shape, vec![2]);
        assert_eq!(m.info().parameters, 8);
        assert_eq!(m.info().metadata["ardent.lambda"], "0.975");
        let y = m.run(&x).expect("run");
        let e = expected(&x);
        for (a, b) in y.iter().zip(&e) {
            assert!((a - b).abs() < 1e-6, "{y:?} vs {e:?}");
        }
    }
}

#[test]
fn f16_weights_run_within_f16_precision() {
    let m = Model::load_bytes(
        &tiny(WeightType::F16),
        "tiny16.onnx",
        LoadOptions::default(),
    )
    .expect("load");
    assert_eq!(m.info().weight_types, vec!["float16"]);
    let x = [1.0f32, 2.0, 3.0];
    let y = m.run(&x).expect("run");
    for (a, b) in y.iter().zip(expected(&x)) {
        assert!((a - b).abs() < 1e-2, "{a} vs {b}");
    }
}

#[test]
fn bad_models_and_inputs_are_clear_errors() {
    let e = Model::load_bytes(b"\xff\xff\xff garbage", "junk.onnx", LoadOptions::default())
        .expect_err("garbage");
    assert!(matches!(e, RuntimeError::Decode { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("junk.onnx: not a valid ONNX file"),
        "{e}"
    );

    let bytes = tiny(WeightType::F32);
    let e = Model::load_bytes(
        &bytes[..bytes.len() / 2],
        "cut.onnx",
        LoadOptions::default(),
    )
    .expect_err("truncated");
    assert!(e.to_string().starts_with("cut.onnx:"), "{e}");

    let m = Model::load_bytes(&bytes, "tiny.onnx", LoadOptions::default()).expect("load");
    let e = m.run(&[1.0; 4]).expect_err("width");
    assert!(
        e.to_string()
            .contains("input has 4 values, not a multiple of the 3"),
        "{e}"
    );

    let e = Model::load_path("/no/such/model.onnx", LoadOptions::default()).expect_err("missing");
    assert!(
        e.to_string()
            .starts_with("/no/such/model.onnx: cannot read"),
        "{e}"
    );
}

#[test]
fn unknown_op_is_named() {
    let mut g = GraphBuilder::new();
    g.node("NoSuchOpAnywhere", &["x"], "y", &[]);
    let bytes = encode(&g.finish("odd", ("x", &[3]), ("y", &[3])));
    let e = Model::load_bytes(&bytes, "odd.onnx", LoadOptions::default()).expect_err("unknown op");
    assert!(e.to_string().contains("NoSuchOpAnywhere"), "{e}");
}
