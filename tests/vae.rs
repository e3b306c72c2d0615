//! A VAE end to end on the bundled digits: trained, its code reported every epoch; exported as
//! an encoder and a decoder of the dimensions its gate keeps; drawn by `ardent viz vae`; and
//! what it refuses.

use std::path::Path;

use crate::{ardent, assert_bad_input, stderr, stdout, write};

/// 64 pixels → 32 → the statistics of 6 code dimensions → 32 → 64 Bernoulli logits.
pub const SPEC: &str = r#"
name = "digits-vae"
task = "vae"
input = [64]

[[vertex]]
name = "x"
[[vertex]]
name = "h"
[[vertex]]
name = "stats"
[[vertex]]
name = "z"
[[vertex]]
name = "g"
[[vertex]]
name = "recon"

[[edge]]
from = "x"
to = "h"
ops = [{ op = "dense", units = 32, activation = "relu" }]
[[edge]]
from = "h"
to = "stats"
ops = [{ op = "dense", units = 12 }]
[[edge]]
from = "stats"
to = "z"
ops = [{ op = "code", dims = 6 }]
[[edge]]
from = "z"
to = "g"
ops = [{ op = "dense", units = 32, activation = "relu" }]
[[edge]]
from = "g"
to = "recon"
ops = [{ op = "dense", units = 64 }]
"#;

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_vae_trains_exports_its_halves_and_draws_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = write(dir.path(), "vae.toml", SPEC);
    let ck = dir.path().join("vae.safetensors");
    let o = ardent([
        "train",
        &path(&spec),
        "--data",
        "digits",
        "--epochs",
        "8",
        "--lr",
        "0.005",
        "--out",
        &path(&ck),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let epochs: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(epochs.len(), 8);
    let elbo = |m: &serde_json::Value| m["valid_nll"].as_f64().expect("valid_nll");
    assert!(
        elbo(&epochs[7]) < elbo(&epochs[0]),
        "the negative ELBO falls: {} then {}",
        elbo(&epochs[0]),
        elbo(&epochs[7])
    );
    let code = &epochs[7]["code"];
    assert_eq!(code["dims"], 6);
    assert_eq!(code["gate"].as_array().expect("gate").len(), 6);
    let kept = code["kept"].as_u64().expect("kept") as usize;
    assert!(stderr(&o).contains(&format!("code {kept} of 6 dimensions kept")));

    let out = dir.path().join("vae.onnx");
    let report = dir.path().join("vae.json");
    let o = ardent([
        "export",
        &path(&ck),
        "--out",
        &path(&out),
        "--data",
        "digits",
        "--report",
        &path(&report),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.exists(), "a VAE writes its halves, not one file");
    let encoder = dir.path().join("vae.encoder.onnx");
    assert!(encoder.exists() && dir.path().join("vae.decoder.onnx").exists());
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    assert_eq!(r["code_kept"].as_array().expect("kept").len(), kept);
    assert_eq!(r["decoder"]["input_features"], kept);
    assert_eq!(r["encoder"]["input_features"], 64);

    let picture = dir.path().join("vae.png");
    let o = ardent([
        "viz",
        "vae",
        &path(&encoder),
        "--data",
        "digits",
        "--count",
        "6",
        "--out",
        &path(&picture),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let png = std::fs::read(&picture).expect("picture");
    assert_eq!(&png[1..4], b"PNG");
    // 150 px of labels, 6 images of 8·3 + 4 px, and 4 px of margin.
    let width = u32::from_be_bytes(png[16..20].try_into().expect("4 bytes"));
    assert_eq!(width, 150 + 6 * 28 + 4);
}

#[test]
fn what_a_vae_refuses() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = write(dir.path(), "vae.toml", SPEC);
    let out = dir.path().join("never.safetensors");
    let o = ardent([
        "train",
        &path(&spec),
        "--data",
        "digits",
        "--search",
        "random",
        "--trials",
        "2",
        "--out",
        &path(&out),
    ]);
    assert_bad_input(&o, &["vae.toml", "gate"]);
    assert!(!out.exists());
    let pipeline_out = dir.path().join("pipeline");
    let o = ardent([
        "pipeline",
        "--model",
        &path(&spec),
        "--data",
        "digits",
        "--out",
        &path(&pipeline_out),
    ]);
    assert_bad_input(&o, &["vae.toml", "ardent viz vae"]);
    assert!(!pipeline_out.exists(), "refused before anything is written");
    let bad = write(
        dir.path(),
        "not-vae.toml",
        SPEC.replace("task = \"vae\"", "task = \"regression\"\ntargets = 64"),
    );
    let o = ardent(["check", &path(&bad)]);
    assert_bad_input(&o, &["not-vae.toml", "belongs in a task = \"vae\" family"]);
}

#[test]
fn a_resumed_vae_ends_bit_equal_to_an_uninterrupted_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = write(dir.path(), "vae.toml", SPEC);
    let run = |out: &Path, epochs: &str, resume: bool| {
        let mut args = vec![
            "train".to_string(),
            path(&spec),
            "--data".into(),
            "digits".into(),
            "--max-samples".into(),
            "400".into(),
            "--epochs".into(),
            epochs.into(),
            // Settings that do not depend on the run's length, so that two epochs and a
            // third resumed are the three epochs of one run.
            "--lr-schedule".into(),
            "constant".into(),
            "--warmup".into(),
            "1".into(),
            "--out".into(),
            path(out),
        ];
        if resume {
            args.push("--resume".into());
        }
        let o = ardent(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let whole = dir.path().join("whole.safetensors");
    run(&whole, "3", false);
    let part = dir.path().join("part.safetensors");
    run(&part, "2", false);
    // The stored settings hold 2 epochs; --epochs 3 with --resume continues to the third.
    run(&part, "3", true);
    let a = ardent_models::Checkpoint::read(&whole).expect("checkpoint");
    let b = ardent_models::Checkpoint::read(&part).expect("checkpoint");
    assert!(
        a.optimizer
            .keys()
            .any(|k| k.starts_with("gamma.") && k.contains("code")),
        "the gate's moments are stored: {:?}",
        a.optimizer.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        a.tensors, b.tensors,
        "the weights and the gate, bit for bit"
    );
    assert_eq!(a.optimizer, b.optimizer, "Adam's moments, bit for bit");
}
