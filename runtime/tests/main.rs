//! The `ardent-run` binary end to end (the command code itself is tested through `ardent run`
//! in the workspace's tests; here: that the board binary is wired to it, with exit codes).

use std::process::Command;

use ardent_exporter::onnx::{GraphBuilder, WeightType, encode};

fn ardent_run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ardent-run"))
        .args(args)
        .output()
        .expect("run ardent-run")
}

/// y = x W + b, W = [[1, 0], [0, -1]], b = [0.5, 0.5].
fn model(dir: &std::path::Path) -> String {
    let mut g = GraphBuilder::new();
    let w = g.weight("w", &[2, 2], &[1.0, 0.0, 0.0, -1.0], WeightType::F32);
    let b = g.weight("b", &[2], &[0.5, 0.5], WeightType::F32);
    g.node("Gemm", &["x", &w, &b], "y", &[]);
    let p = dir.join("m.onnx");
    std::fs::write(&p, encode(&g.finish("m", ("x", &[2]), ("y", &[2])))).expect("write");
    p.display().to_string()
}

#[test]
fn run_info_and_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = model(dir.path());
    let x = dir.path().join("x.npy");
    std::fs::write(
        &x,
        ardent_data::encode_npy_f32(&[2, 2], &[1.0, 2.0, -3.0, -4.0]),
    )
    .expect("write");
    let o = ardent_run(&[
        "run",
        &m,
        "--input",
        &x.display().to_string(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    // [1.5, -1.5] → class 0; [-2.5, 4.5] → class 1.
    assert_eq!(v["outputs"], serde_json::json!([[1.5, -1.5], [-2.5, 4.5]]));
    assert_eq!(v["predictions"], serde_json::json!([0, 1]));

    let o = ardent_run(&["info", &m]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("parameters  6 (float)"));

    let o = ardent_run(&["run", "/no/such.onnx", "--input", &x.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: /no/such.onnx: cannot read"),
        "{err}"
    );
}

/// A deterministic 784-64-10 MLP with ReLU and softmax, big enough for tract to pick its
/// optimized matrix kernels (NEON on aarch64).
fn mlp(dir: &std::path::Path) -> String {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut g = GraphBuilder::new();
    let w1: Vec<f32> = (0..784 * 64).map(|_| next() * 0.1).collect();
    let b1: Vec<f32> = (0..64).map(|_| next()).collect();
    let w2: Vec<f32> = (0..64 * 10).map(|_| next()).collect();
    let b2: Vec<f32> = (0..10).map(|_| next()).collect();
    let w1 = g.weight("w1", &[784, 64], &w1, WeightType::F32);
    let b1 = g.weight("b1", &[64], &b1, WeightType::F32);
    let w2 = g.weight("w2", &[64, 10], &w2, WeightType::F32);
    let b2 = g.weight("b2", &[10], &b2, WeightType::F32);
    let h = g.node("Gemm", &["x", &w1, &b1], "h", &[]);
    let r = g.node("Relu", &[&h], "r", &[]);
    let z = g.node("Gemm", &[&r, &w2, &b2], "z", &[]);
    g.node(
        "Softmax",
        &[&z],
        "y",
        &[("axis", ardent_exporter::onnx::Attr::Int(-1))],
    );
    let p = dir.join("mlp.onnx");
    std::fs::write(&p, encode(&g.finish("mlp", ("x", &[784]), ("y", &[10])))).expect("write");
    p.display().to_string()
}

fn outputs(o: &std::process::Output) -> Vec<f64> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    v["outputs"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number"))
        })
        .collect()
}

#[test]
#[ignore = "needs ARDENT_RUN_AARCH64 (an aarch64 ardent-run) and qemu-aarch64; .ci/run runs it after the cross build"]
fn aarch64_build_agrees_with_x86() {
    let arm =
        std::env::var("ARDENT_RUN_AARCH64").expect("ARDENT_RUN_AARCH64 names the aarch64 binary");
    let dir = tempfile::tempdir().expect("tmp");
    let m = mlp(dir.path());
    let x: Vec<f32> = (0..300 * 784)
        .map(|i| ((i * 7919 % 255) as f32) / 255.0)
        .collect();
    let input = dir.path().join("x.npy");
    std::fs::write(&input, ardent_data::encode_npy_f32(&[300, 784], &x)).expect("write");
    let input = input.display().to_string();
    let args = [
        "run",
        m.as_str(),
        "--input",
        input.as_str(),
        "--format",
        "json",
        "--batch",
        "100",
    ];
    let native = outputs(&ardent_run(&args));
    let emulated = outputs(
        &Command::new("qemu-aarch64")
            .args(["-L", "/usr/aarch64-linux-gnu", &arm])
            .args(args)
            .output()
            .expect("run qemu-aarch64"),
    );
    assert_eq!(native.len(), 3000);
    assert_eq!(native.len(), emulated.len());
    let max = native
        .iter()
        .zip(&emulated)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "aarch64 vs x86: max abs difference {max:e} over {} outputs",
        native.len()
    );
    assert!(max <= 1e-5, "aarch64 and x86 differ by {max}");
}
