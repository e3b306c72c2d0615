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
