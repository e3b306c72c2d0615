//! `ardent demo` and `ardent pipeline` end to end on a reduced budget: the summary's claims
//! checked against the files they describe.

use ardent_models::Checkpoint;
use ardent_runtime::{LoadOptions, Model};

use crate::{ardent, assert_bad_input, stderr, stdout};

fn summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary.json"))
        .expect("JSON")
}

#[test]
fn the_demo_checks_out_against_its_own_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("demo");
    let o = ardent([
        "demo",
        "--out",
        &out.display().to_string(),
        "--epochs",
        "8",
        "--finetune-epochs",
        "2",
        // The full prior from the start, so that eight epochs already prune.
        "--kl-weight",
        "1",
        "--warmup",
        "0",
        // A seed whose member, picked after eight epochs, has weights to prune (with some
        // seeds the picked member is 64-300-10, whose weights all survive eight epochs).
        "--seed",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&out);
    let models = s["models"].as_array().expect("models");
    let names: Vec<&str> = models
        .iter()
        .map(|m| m["model"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["dense", "compact", "finetuned"]);
    for m in models {
        let file = m["file"].as_str().expect("file");
        // Parameters in the table are the file's float initializers.
        let model = Model::load_path(file, LoadOptions::default()).expect("loads in tract");
        assert_eq!(
            m["params"].as_u64(),
            Some(model.info().parameters as u64),
            "{}",
            m["model"]
        );
        assert_eq!(
            m["file_bytes"].as_u64(),
            Some(std::fs::metadata(file).expect("file").len())
        );
        assert!(m["latency_us"].as_f64().expect("latency") > 0.0);
        assert!(stdout(&o).contains(&format!("| {} |", m["model"].as_str().expect("name"))));
    }
    // The accuracies in tract are the trainer's own, on the same (validation) samples.
    let trainer_accuracy = |ck: &str| {
        Checkpoint::read(out.join(ck))
            .expect("checkpoint")
            .meta
            .metrics["valid_accuracy"]
            .as_f64()
            .expect("valid accuracy")
    };
    assert_eq!(
        models[1]["accuracy"].as_f64(),
        Some(trainer_accuracy("trained.safetensors"))
    );
    assert_eq!(
        models[2]["accuracy"].as_f64(),
        Some(trainer_accuracy("finetuned.safetensors"))
    );
    // Pruning and collapse make the compact file smaller than the dense one.
    assert!(models[1]["params"].as_u64() < models[0]["params"].as_u64());
    assert!(
        std::fs::read_to_string(out.join("summary.md"))
            .expect("summary.md")
            .contains("| compact |")
    );
    // The pictures: the trained checkpoint's λ sweep and γ per searched edge.
    let csv = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    assert!(
        csv.lines().filter(|l| l.contains(",ard,")).count() >= 5,
        "{csv}"
    );
    assert!(csv.lines().any(|l| l.contains(",magnitude,")), "{csv}");
    assert_eq!(crate::sweep::png_size(&out.join("sweep.png")), (1000, 650));
    assert_eq!(crate::sweep::png_size(&out.join("gamma.png")), (1200, 800));
}

#[test]
fn the_pipeline_refuses_a_bad_spec_before_training() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = crate::write(dir.path(), "bad.toml", "name = \"x\"\n");
    let o = ardent([
        "pipeline",
        "--model",
        &spec.display().to_string(),
        "--data",
        "digits",
        "--out",
        &dir.path().join("out").display().to_string(),
    ]);
    assert_bad_input(&o, &["bad.toml"]);
}
