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
        let m = Model::load_bytes(
            &bytes,
            "tiny.onnx",
            LoadOptions {
                batch,
                ..LoadOptions::default()
            },
        )
        .expect("load");
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

/// A 3-input, 2-output classifier model file and its inputs, in a temporary directory.
fn model_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let model = crate::write(dir.path(), "tiny.onnx", tiny(WeightType::F32));
    (dir, model)
}

const X: [f32; 9] = [1.0, 2.0, 3.0, -1.0, 0.5, 0.25, 0.0, -2.0, 1.0];

fn expected_classes() -> Vec<usize> {
    expected(&X)
        .chunks(2)
        .map(|r| if r[1] > r[0] { 1 } else { 0 })
        .collect()
}

#[test]
fn run_predicts_from_npy_idx_and_csv_with_accuracy() {
    let (dir, model) = model_dir();
    let classes = expected_classes();
    let npy = crate::write(
        dir.path(),
        "x.npy",
        ardent_data::encode_npy_f32(&[3, 3], &X),
    );
    let idx = crate::write(
        dir.path(),
        "x-idx3-ubyte",
        ardent_data::encode_idx(&[3, 3], &X),
    );
    let mut csv = String::from("a,b,c,label\n");
    for (row, c) in X.chunks(3).zip(&classes) {
        csv.push_str(&format!("{},{},{},{c}\n", row[0], row[1], row[2]));
    }
    let csv = crate::write(dir.path(), "x.csv", csv);
    // Labels: the first right, the others as predicted, so accuracy is exactly 100 %.
    let labels: Vec<f32> = classes.iter().map(|&c| c as f32).collect();
    let lab = crate::write(
        dir.path(),
        "y.npy",
        ardent_data::encode_npy_f32(&[3], &labels),
    );
    let m = model.display().to_string();
    for input in [&npy, &idx] {
        let o = crate::ardent([
            "run",
            &m,
            "--input",
            &input.display().to_string(),
            "--labels",
            &lab.display().to_string(),
        ]);
        assert!(o.status.success(), "{}", crate::stderr(&o));
        let out = crate::stdout(&o);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "sample,prediction,output_0,output_1");
        let e = expected(&X);
        for (i, line) in lines[1..].iter().enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f[1], classes[i].to_string(), "{line}");
            for j in 0..2 {
                let v: f32 = f[2 + j].parse().expect("number");
                assert!((v - e[i * 2 + j]).abs() < 1e-5, "{line}");
            }
        }
        assert!(
            crate::stderr(&o).contains("accuracy 100.00 % (3 of 3)"),
            "{}",
            crate::stderr(&o)
        );
    }
    // CSV with its label column named; JSON out, written to a file.
    let out = dir.path().join("pred.json");
    let o = crate::ardent([
        "run",
        &m,
        "--input",
        &csv.display().to_string(),
        "--label-column",
        "label",
        "--format",
        "json",
        "--output",
        &out.display().to_string(),
        "--batch",
        "2",
    ]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("written")).expect("json");
    assert_eq!(v["samples"], 3);
    assert_eq!(v["accuracy"], 1.0);
    let preds: Vec<usize> = v["predictions"]
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p.as_u64().expect("int") as usize)
        .collect();
    assert_eq!(preds, classes);
}

#[test]
fn info_and_bench_describe_and_time_the_model() {
    let (_dir, model) = model_dir();
    let m = model.display().to_string();
    let o = crate::ardent(["info", &m, "--json"]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&crate::stdout(&o)).expect("json");
    assert_eq!(v["parameters"], 8);
    assert_eq!(v["input"]["shape"], serde_json::json!([3]));
    assert_eq!(v["metadata"]["ardent.lambda"], "0.975");
    let o = crate::ardent([
        "bench",
        &m,
        "--batch",
        "1,4",
        "--min-runs",
        "5",
        "--min-time-ms",
        "10",
        "--warmup",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let rows: Vec<serde_json::Value> = crate::stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(rows.len(), 2);
    for (r, b) in rows.iter().zip([1, 4]) {
        assert_eq!(r["batch"], b);
        assert!(r["runs"].as_u64().expect("runs") >= 5);
        let (p50, p99) = (
            r["p50_us"].as_f64().expect("p50"),
            r["p99_us"].as_f64().expect("p99"),
        );
        assert!(p50 > 0.0 && p99 >= p50, "{r}");
    }
    let o = crate::ardent([
        "bench",
        &m,
        "--batch",
        "2",
        "--threads",
        "2",
        "--min-runs",
        "3",
        "--min-time-ms",
        "5",
    ]);
    assert!(
        crate::stdout(&o).contains("p50 µs"),
        "{}",
        crate::stdout(&o)
    );
}

#[test]
fn run_bad_input_exits_2_naming_the_file() {
    let (dir, model) = model_dir();
    let m = model.display().to_string();
    let good = crate::write(
        dir.path(),
        "x.npy",
        ardent_data::encode_npy_f32(&[3, 3], &X),
    );
    let g = good.display().to_string();
    let bytes = tiny(WeightType::F32);
    let cut = crate::write(dir.path(), "cut.onnx", &bytes[..bytes.len() / 2]);
    crate::assert_bad_input(
        &crate::ardent(["run", &cut.display().to_string(), "--input", &g]),
        &["cut.onnx"],
    );
    let junk = crate::write(
        dir.path(),
        "junk.onnx",
        b"\x08\xff\xff\xffrandom bytes, not a model",
    );
    crate::assert_bad_input(
        &crate::ardent(["info", &junk.display().to_string()]),
        &["junk.onnx"],
    );
    let mut g2 = GraphBuilder::new();
    g2.node("NoSuchOpAnywhere", &["x"], "y", &[]);
    let odd = crate::write(
        dir.path(),
        "odd.onnx",
        encode(&g2.finish("odd", ("x", &[3]), ("y", &[3]))),
    );
    crate::assert_bad_input(
        &crate::ardent(["run", &odd.display().to_string(), "--input", &g]),
        &["odd.onnx", "NoSuchOpAnywhere"],
    );
    let wide = crate::write(
        dir.path(),
        "wide.npy",
        ardent_data::encode_npy_f32(&[2, 4], &[0.0; 8]),
    );
    crate::assert_bad_input(
        &crate::ardent(["run", &m, "--input", &wide.display().to_string()]),
        &["wide.npy", "4 values each", "takes 3"],
    );
    let bad_csv = crate::write(dir.path(), "bad.csv", "a,b,c\n1,2,3\n1,x,3\n");
    crate::assert_bad_input(
        &crate::ardent(["run", &m, "--input", &bad_csv.display().to_string()]),
        &["bad.csv", "line 3"],
    );
    let few = crate::write(
        dir.path(),
        "few.npy",
        ardent_data::encode_npy_f32(&[2], &[0.0, 1.0]),
    );
    crate::assert_bad_input(
        &crate::ardent([
            "run",
            &m,
            "--input",
            &g,
            "--labels",
            &few.display().to_string(),
        ]),
        &["few.npy", "2 labels for 3 samples"],
    );
    // A failed run leaves an existing output file as it was.
    let out = crate::write(dir.path(), "keep.csv", "old contents");
    let o = crate::ardent([
        "run",
        &m,
        "--input",
        &wide.display().to_string(),
        "--output",
        &out.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&out).expect("still there"),
        "old contents"
    );
}

#[test]
fn a_closed_stdout_ends_info_without_a_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let model = dir.path().join("tiny.onnx");
    std::fs::write(&model, tiny(WeightType::F32)).expect("write");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ardent"))
        .args(["info", &model.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The reader goes away before the first line is written, as `ardent info m.onnx | head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

#[test]
fn run_reads_every_row_of_a_headerless_csv() {
    let (dir, model) = model_dir();
    let rows: Vec<String> = X
        .chunks(3)
        .cycle()
        .take(5)
        .map(|r| format!("{},{},{}", r[0], r[1], r[2]))
        .collect();
    let csv = crate::write(dir.path(), "x.csv", rows.join("\n") + "\n");
    let o = crate::ardent([
        "run",
        &model.display().to_string(),
        "--input",
        &csv.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let out = crate::stdout(&o);
    let predictions: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(predictions.len(), 5, "{out}");
    let classes = expected_classes();
    for (i, line) in predictions.iter().enumerate() {
        let class: usize = line
            .split(',')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("class");
        assert_eq!(class, classes[i % 3], "{out}");
    }
}
