//! onnxruntime as an independent reference: every test family, exported with random masks in
//! each storage and weight type, passes `onnx.checker.check_model(full_check=True)` and gives
//! onnxruntime outputs equal to tract's. Needs Python with onnx and onnxruntime, named by
//! `ARDENT_PYTHON`; `.ci/run` makes that venv and runs this ignored test.

use ardent_exporter::{ExportOptions, Storage, WeightType, export, verify};

use crate::agree::FAMILIES;
use crate::common::{family, random_checkpoint};

#[test]
#[ignore = "needs ARDENT_PYTHON with onnx and onnxruntime (see .ci/run)"]
fn onnxruntime_agrees_with_tract() {
    let python = std::env::var("ARDENT_PYTHON").expect("ARDENT_PYTHON names a Python");
    let dir = tempfile::tempdir().expect("tmp");
    let variants = [
        (Storage::Dense, WeightType::F32, false),
        (Storage::Sparse, WeightType::F32, true),
        (Storage::Auto, WeightType::F16, false),
    ];
    for (name, src) in FAMILIES {
        let f = family(src);
        for (v, &(storage, weight_type, softmax)) in variants.iter().enumerate() {
            let ck = random_checkpoint(&f, v as u64 + 1, 0.4, 0.3, 0.2);
            let options = ExportOptions {
                storage,
                weight_type,
                softmax,
                ..ExportOptions::default()
            };
            let out = export(&ck, name, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
            let c = ardent_exporter::Collapsed::new(&ck, options.lambda, name).expect("as set up");
            let x = verify::random_samples(&c.mean, &c.std, 8, 3);
            let tract = verify::Loaded::new(&out.model, &f.input_shape().0, name)
                .expect("as set up")
                .run(&x)
                .expect("as set up");
            let mut shape = vec![8];
            shape.extend(&f.input_shape().0);
            let stem = dir.path().join(format!("{name}-{v}"));
            std::fs::write(stem.with_extension("onnx"), &out.bytes).expect("as set up");
            let case = serde_json::json!({
                "input": x, "shape": shape, "tract": tract, "tolerance": 1e-5,
            });
            std::fs::write(stem.with_extension("json"), case.to_string()).expect("as set up");
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/onnxruntime_check.py");
    let o = std::process::Command::new(python)
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("run python");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    println!("{text}");
    assert!(o.status.success(), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.ends_with(" ok")).count(),
        FAMILIES.len() * variants.len()
    );
}
