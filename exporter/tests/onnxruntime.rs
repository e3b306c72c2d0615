//! onnxruntime as an independent reference: every test family, exported with random masks in
//! each storage and weight type, passes `onnx.checker.check_model(full_check=True)` and gives
//! onnxruntime outputs equal to tract's; exported with `--input-scale 1/255`, it gives on
//! scaled samples what the unscaled file gives on raw ones. Needs Python with onnx and onnxruntime, named by
//! `ARDENT_PYTHON`; `.ci/run` makes that venv and runs this ignored test.

use ardent_exporter::{ExportOptions, Storage, WeightType, export, verify};

use crate::agree::FAMILIES;
use crate::common::{family, random_checkpoint};

#[test]
#[ignore = "needs ARDENT_PYTHON with onnx and onnxruntime (see .ci/run)"]
fn onnxruntime_agrees_with_tract() {
    let python = std::env::var("ARDENT_PYTHON").expect("ARDENT_PYTHON names a Python");
    let dir = tempfile::tempdir().expect("tmp");
    // (storage, weight type, softmax, input scale).
    let variants = [
        (Storage::Dense, WeightType::F32, false, 1.0),
        (Storage::Sparse, WeightType::F32, true, 1.0),
        (Storage::Auto, WeightType::F16, false, 1.0),
        (Storage::Auto, WeightType::F32, false, 1.0 / 255.0),
    ];
    for (name, src) in FAMILIES {
        let f = family(src);
        for (v, &(storage, weight_type, softmax, input_scale)) in variants.iter().enumerate() {
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
            // tract runs the file exported at scale 1 on raw samples; onnxruntime runs the
            // one under test on the same samples times its input scale.
            let tract = verify::Loaded::new(&out.model, &f.input_shape().0, name)
                .expect("as set up")
                .run(&x)
                .expect("as set up");
            let (bytes, fed, tolerance) = if input_scale == 1.0 {
                (out.bytes, x, 1e-5)
            } else {
                let scaled = export(
                    &ck,
                    name,
                    &ExportOptions {
                        input_scale,
                        ..options.clone()
                    },
                )
                .unwrap_or_else(|e| panic!("{name}: {e}"));
                let fed: Vec<f32> = x.iter().map(|v| v * input_scale).collect();
                (scaled.bytes, fed, 1e-4)
            };
            let mut shape = vec![8];
            shape.extend(&f.input_shape().0);
            let stem = dir.path().join(format!("{name}-{v}"));
            std::fs::write(stem.with_extension("onnx"), &bytes).expect("as set up");
            let case = serde_json::json!({
                "input": fed, "shape": shape, "tract": tract, "tolerance": tolerance,
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

/// A VAE's two files (`export_vae`), the decoder with its map to the data's scale appended,
/// pass the checker and run in onnxruntime as in tract.
#[test]
#[ignore = "needs ARDENT_PYTHON with onnx and onnxruntime (see .ci/run)"]
fn onnxruntime_runs_a_vae_s_two_files_as_tract_does() {
    let python = std::env::var("ARDENT_PYTHON").expect("ARDENT_PYTHON names a Python");
    let dir = tempfile::tempdir().expect("tmp");
    let mut written = 0;
    for likelihood in ["bernoulli", "gaussian"] {
        let f = family(&crate::vae::SPEC.replace(
            "task = \"vae\"",
            &format!("task = \"vae\"\nlikelihood = \"{likelihood}\""),
        ));
        let mut ck = random_checkpoint(&f, 9, 0.4, 0.0, 0.0);
        // Dimensions 0 and 2 open, 1 and 3 shut.
        ck.tensors.insert(
            "edge.2-3.op.0.gate.logits".into(),
            ardent_models::TensorF32::new(vec![4], vec![1.0, -1.0, 2.0, -2.0]),
        );
        let vae = ardent_exporter::export_vae(&ck, likelihood, &ExportOptions::default())
            .unwrap_or_else(|e| panic!("{likelihood}: {e}"));
        let k = vae.kept.len();
        let mean = &ck.get("input.mean").expect("as set up").data;
        let std = &ck.get("input.std").expect("as set up").data;
        let x = verify::random_samples(mean, std, 8, 3);
        let codes = verify::random_samples(&vec![0.0; k], &vec![1.0; k], 8, 4);
        // The decoder's outputs are on the data's scale (0–255 for the Bernoulli range).
        for (part, exported, input, width, tolerance) in [
            ("encoder", &vae.encoder, &x, 6, 1e-5),
            ("decoder", &vae.decoder, &codes, k, 1e-3),
        ] {
            let tract = verify::Loaded::new(&exported.model, &[width], part)
                .expect("as set up")
                .run(input)
                .expect("as set up");
            let stem = dir.path().join(format!("{likelihood}-{part}"));
            std::fs::write(stem.with_extension("onnx"), &exported.bytes).expect("as set up");
            let case = serde_json::json!({
                "input": input, "shape": [8, width], "tract": tract, "tolerance": tolerance,
            });
            std::fs::write(stem.with_extension("json"), case.to_string()).expect("as set up");
            written += 1;
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
    assert_eq!(text.lines().filter(|l| l.ends_with(" ok")).count(), written);
}
