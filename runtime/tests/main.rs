//! The `ardent-run` binary end to end (the command code itself is tested through `ardent run`
//! in the workspace's tests; here: that the board binary is wired to it, with exit codes).

mod layers;
mod sparse;
mod windows;

use std::process::Command;

use ardent_exporter::onnx::{GraphBuilder, WeightType, encode};

/// `a` within 1e-5 of `b`, relative to the larger of 1 and |b|.
pub(crate) fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let tol = 1e-5 * y.abs().max(1.0);
        assert!((x - y).abs() <= tol, "{what}: [{i}] {x} against {y}");
    }
}

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

/// LeNet-300-100 exported by ardent from deterministic random weights, about 70 % of them
/// pruned (so the file has sparse storage and a shrunken first layer), as ONNX and as NNEF:
/// big enough for tract to pick its optimized matrix kernels (NEON on aarch64).
fn exported(dir: &std::path::Path) -> (String, String) {
    exported_spec(dir, "lenet-300-100")
}

/// A zoo spec at random weights, exported to ONNX and NNEF in `dir`. LeNet-300-100's first
/// layer keeps 3 % (under the sparse product's cut-off) and its others 30 %, so that both
/// ardent's sparse product and tract's dense kernels run; other specs keep half their
/// weights.
fn exported_spec(dir: &std::path::Path, name: &str) -> (String, String) {
    use ardent_models::{Checkpoint, CheckpointMeta, Family, TensorF32, TensorRole};
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let spec = format!("{}/../models/zoo/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let family = Family::from_path(&spec).expect("zoo spec");
    let mut tensors = std::collections::BTreeMap::new();
    for t in family.tensor_layout() {
        let n: usize = t.shape.iter().product();
        let data: Vec<f32> = match t.role {
            // LeNet-5's sums run over up to 800 inputs: smaller weights keep its outputs
            // near 1, where the export's own check holds them to 1e-4.
            TensorRole::WeightMu => {
                let scale = if name == "lenet-300-100" { 1.0 } else { 0.1 };
                (0..n).map(|_| scale * (next() - 0.5)).collect()
            }
            // log σ² against μ² ≈ 1/12: ρ ≈ 0 (kept) for −9, ρ ≈ 1 (pruned) for +3.
            TensorRole::WeightLogSigma2 => {
                let keep = match (name, t.name.starts_with("edge.0-1.")) {
                    ("lenet-300-100", true) => 0.03,
                    ("lenet-300-100", false) => 0.3,
                    _ => 0.5,
                };
                (0..n)
                    .map(|_| if next() < keep { -9.0 } else { 3.0 })
                    .collect()
            }
            TensorRole::InputMean => vec![0.3; n],
            TensorRole::InputStd => vec![0.25; n],
            TensorRole::Alpha => vec![1.0; n],
            _ => (0..n).map(|_| 0.2 * (next() - 0.5)).collect(),
        };
        tensors.insert(t.name, TensorF32::new(t.shape, data));
    }
    let ck = Checkpoint {
        family,
        tensors,
        meta: CheckpointMeta::untrained(0),
        optimizer: Default::default(),
    };
    let options = ardent_exporter::ExportOptions {
        nnef: true,
        ..Default::default()
    };
    let out = ardent_exporter::export(&ck, name, &options).expect("export");
    let (onnx, nnef) = (
        dir.join(format!("{name}.onnx")),
        dir.join(format!("{name}.nnef.tgz")),
    );
    std::fs::write(&onnx, &out.bytes).expect("write");
    std::fs::write(&nnef, out.nnef.expect("asked for")).expect("write");
    (onnx.display().to_string(), nnef.display().to_string())
}

#[test]
fn an_nnef_archive_runs_like_its_onnx_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let (onnx, nnef) = exported(dir.path());
    let x: Vec<f32> = (0..20 * 784).map(|i| (i % 251) as f32 / 251.0).collect();
    let input = dir.path().join("x.npy");
    std::fs::write(&input, ardent_data::encode_npy_f32(&[20, 784], &x)).expect("write");
    let input = input.display().to_string();
    let run = |m: &str| {
        outputs(&ardent_run(&[
            "run", m, "--input", &input, "--format", "json",
        ]))
    };
    let (a, b) = (run(&onnx), run(&nnef));
    assert_eq!(a.len(), 200);
    assert!(
        a[..10] != a[10..20],
        "the exported model must depend on its input"
    );
    let max = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(max <= 1e-5, "ONNX and NNEF differ by {max}");
    let info = ardent_run(&["info", &nnef]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("NNEF") && text.contains("ardent.lambda = 0.975"),
        "{text}"
    );

    let bytes = std::fs::read(&nnef).expect("read");
    let broken = dir.path().join("broken.nnef.tgz");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).expect("write");
    let o = ardent_run(&["run", &broken.display().to_string(), "--input", &input]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken.nnef.tgz") && !err.contains("panicked"),
        "{err}"
    );
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
#[ignore = "needs ARDENT_RUN_AARCH64 and ARDENT_RUN_AARCH64_NNEF (aarch64 ardent-run builds) and qemu-aarch64; .ci/run runs it after the cross builds"]
fn aarch64_builds_agree_with_x86() {
    board_agrees_with_x86(
        "qemu-aarch64",
        "/usr/aarch64-linux-gnu",
        &[
            ("ARDENT_RUN_AARCH64", Format::Onnx),
            ("ARDENT_RUN_AARCH64_NNEF", Format::Nnef),
        ],
    );
}

#[test]
#[ignore = "needs ARDENT_RUN_ARMV7 (an armv7 ardent-run build) and qemu-arm; .ci/run runs it after the cross build"]
fn armv7_build_agrees_with_x86() {
    // One build with the default features reads both formats.
    board_agrees_with_x86(
        "qemu-arm",
        "/usr/arm-linux-gnueabihf",
        &[
            ("ARDENT_RUN_ARMV7", Format::Onnx),
            ("ARDENT_RUN_ARMV7", Format::Nnef),
        ],
    );
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Onnx,
    Nnef,
}

/// Runs a model exported by ardent through the cross-built `ardent-run` named by each
/// environment variable, under `qemu` with the target's libraries at `sysroot`, and compares
/// every output with the x86 build's on the ONNX file.
fn board_agrees_with_x86(qemu: &str, sysroot: &str, builds: &[(&str, Format)]) {
    let dir = tempfile::tempdir().expect("tmp");
    let (onnx, nnef) = exported(dir.path());
    let x: Vec<f32> = (0..300 * 784)
        .map(|i| ((i * 7919 % 255) as f32) / 255.0)
        .collect();
    let input = dir.path().join("x.npy");
    std::fs::write(&input, ardent_data::encode_npy_f32(&[300, 784], &x)).expect("write");
    let input = input.display().to_string();
    // What replaced the rewrite's lines of these kinds.
    let replaced = |model: &str, kinds: &[&str]| -> Vec<&'static str> {
        ardent_runtime::Model::load_path(model, Default::default())
            .expect("load")
            .rewrites()
            .iter()
            .filter(|r| kinds.contains(&r.kind))
            .filter_map(|r| r.replaced_by)
            .collect()
    };
    assert_eq!(
        replaced(&onnx, &["product", "layers"]),
        ["ArdentSparseDense", "ArdentMlp"],
        "the first layer runs as ardent's sparse product, the three layers as one op"
    );
    let (conv_onnx, conv_nnef) = exported_spec(dir.path(), "lenet5-caffe");
    assert_eq!(
        replaced(&conv_onnx, &["conv", "max-pool"]),
        [
            "ArdentConv2d",
            "ArdentMaxPool2d",
            "ArdentConv2d",
            "ArdentMaxPool2d"
        ],
        "LeNet-5's convolutions and pools run as ardent's"
    );
    // Batches of 100 take the sparse product's blocked loop, of 3 its per-sample dots.
    for batch in ["100", "3"] {
        board_agrees_with_x86_at(qemu, sysroot, builds, (&onnx, &nnef), &input, batch, 300);
    }
    // Convolutions under qemu are slow: 20 samples, in batches of 8 (the last one short).
    let few = dir.path().join("x20.npy");
    std::fs::write(
        &few,
        ardent_data::encode_npy_f32(&[20, 784], &x[..20 * 784]),
    )
    .expect("write");
    let few = few.display().to_string();
    board_agrees_with_x86_at(
        qemu,
        sysroot,
        builds,
        (&conv_onnx, &conv_nnef),
        &few,
        "8",
        20,
    );
}

fn board_agrees_with_x86_at(
    qemu: &str,
    sysroot: &str,
    builds: &[(&str, Format)],
    (onnx, nnef): (&String, &String),
    input: &str,
    batch: &str,
    samples: usize,
) {
    let args = |m: &str| -> Vec<String> {
        [
            "run", m, "--input", input, "--format", "json", "--batch", batch,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let native = outputs(&ardent_run(
        &args(onnx).iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(native.len(), samples * 10);
    assert!(
        native[..10] != native[10..20],
        "the exported model must depend on its input"
    );
    for &(var, format) in builds {
        let model = match format {
            Format::Onnx => onnx,
            Format::Nnef => nnef,
        };
        let board = std::env::var(var).unwrap_or_else(|_| panic!("{var} names a board build"));
        let emulated = outputs(
            &Command::new(qemu)
                .args(["-L", sysroot, &board])
                .args(args(model))
                .output()
                .unwrap_or_else(|e| panic!("run {qemu}: {e}")),
        );
        assert_eq!(native.len(), emulated.len());
        // Relative to the output's size: the boards' kernels sum in another order, and
        // armv7's NEON multiplies and adds with a rounding between (no fused multiply-add).
        // Sums of 784 products in f32 then differ by a few 1e-6; a wrong kernel by far more.
        let max = native
            .iter()
            .zip(&emulated)
            .map(|(a, b)| (a - b).abs() / (1.0 + a.abs()))
            .fold(0.0, f64::max);
        println!(
            "{qemu} ({var}, {model}, batch {batch}) vs x86 (ONNX): max difference {max:e} relative to 1 + |output|, over {} outputs",
            native.len()
        );
        assert!(max <= 5e-5, "{var} under {qemu} and x86 differ by {max}");
    }
}
