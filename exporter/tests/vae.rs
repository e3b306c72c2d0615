//! A VAE's two files against the VAE itself: the encoder's outputs and the decoder's
//! reconstructions, run in tract, against the whole model written out in f64 with the shut
//! code dimensions at zero.

use ardent_exporter::verify::Loaded;
use ardent_exporter::{ExportOptions, export, export_vae};
use ardent_models::{Family, TensorF32};

use crate::common::{Rng, random_checkpoint};

pub const SPEC: &str = r#"
name = "tiny-vae"
task = "vae"
input = [6]
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
ops = [{ op = "dense", units = 5, activation = "relu" }]
[[edge]]
from = "h"
to = "stats"
ops = [{ op = "dense", units = 8 }]
[[edge]]
from = "stats"
to = "z"
ops = [{ op = "code", dims = 4 }]
[[edge]]
from = "z"
to = "g"
ops = [{ op = "dense", units = 5, activation = "tanh" }]
[[edge]]
from = "g"
to = "recon"
ops = [{ op = "dense", units = 6 }]
"#;

fn dense(ck: &ardent_models::Checkpoint, e: &str, x: &[f64], act: fn(f64) -> f64) -> Vec<f64> {
    let w = &ck.get(&format!("edge.{e}.op.0.weight.mu")).expect("μ").data;
    let b = &ck.get(&format!("edge.{e}.op.0.bias")).expect("bias").data;
    (0..b.len())
        .map(|o| {
            let s: f64 = (0..x.len())
                .map(|i| f64::from(w[o * x.len() + i]) * x[i])
                .sum();
            act(s + f64::from(b[o]))
        })
        .collect()
}

#[test]
fn the_encoder_and_decoder_compute_the_vae_without_its_shut_dimensions() {
    let f = Family::parse(SPEC).expect("valid");
    // Nothing pruned, so the reference reads μ as it is.
    let mut ck = random_checkpoint(&f, 17, 0.0, 0.0, 0.0);
    // Dimensions 0 and 2 open, 1 and 3 shut.
    ck.tensors.insert(
        "edge.2-3.op.0.gate.logits".into(),
        TensorF32::new(vec![4], vec![2.0, -2.0, 1.0, -1.0]),
    );
    let vae = export_vae(&ck, "tiny", &ExportOptions::default()).expect("exports");
    assert_eq!((vae.kept.clone(), vae.dims), (vec![0, 2], 4));
    assert!(vae.encoder.report.verification.is_some());
    assert!(vae.decoder.report.verification.is_some());
    let encoder = Loaded::new(&vae.encoder.model, &[6], "encoder").expect("loads");
    let decoder = Loaded::new(&vae.decoder.model, &[2], "decoder").expect("loads");
    let (mean, std) = (
        ck.get("input.mean").expect("mean").data.clone(),
        ck.get("input.std").expect("std").data.clone(),
    );
    let mut rng = Rng::new(5);
    for _ in 0..3 {
        let x: Vec<f32> = (0..6).map(|_| (3.0 * rng.normal()) as f32).collect();
        let xn: Vec<f64> = (0..6)
            .map(|i| f64::from((x[i] - mean[i]) / std[i]))
            .collect();
        let h = dense(&ck, "0-1", &xn, |v| v.max(0.0));
        let stats = dense(&ck, "1-2", &h, |v| v);
        let got = encoder.run(&x).expect("runs");
        let want = [stats[0], stats[2], stats[4], stats[6]];
        for (g, w) in got.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-4, "{got:?} against {want:?}");
        }
        let z = [stats[0], 0.0, stats[2], 0.0];
        let g = dense(&ck, "3-4", &z, f64::tanh);
        let y = dense(&ck, "4-5", &g, |v| v);
        let recon = decoder.run(&[got[0], got[1]]).expect("runs");
        for (r, y) in recon.iter().zip(&y) {
            // Bernoulli over the data's range [0, 255]: 255 σ(y).
            let want = 255.0 / (1.0 + (-y).exp());
            assert!((f64::from(*r) - want).abs() < 1e-3, "{r} against {want}");
        }
    }
}

#[test]
fn a_vae_is_exported_as_two_files_not_one() {
    let f = Family::parse(SPEC).expect("valid");
    let ck = random_checkpoint(&f, 17, 0.0, 0.0, 0.0);
    let err = export(&ck, "tiny.safetensors", &ExportOptions::default())
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("tiny.safetensors") && err.contains("two files"),
        "{err}"
    );
}

#[test]
fn a_gaussian_decoder_gives_its_means_on_the_data_scale() {
    let f = Family::parse(&SPEC.replace(
        "task = \"vae\"",
        "task = \"vae\"\nlikelihood = \"gaussian\"",
    ))
    .expect("valid");
    let mut ck = random_checkpoint(&f, 23, 0.0, 0.0, 0.0);
    ck.tensors.insert(
        "edge.2-3.op.0.gate.logits".into(),
        TensorF32::new(vec![4], vec![-1.0, 2.0, 2.0, 2.0]),
    );
    let vae = export_vae(&ck, "tiny", &ExportOptions::default()).expect("exports");
    assert_eq!(vae.kept, vec![1, 2, 3]);
    let decoder = Loaded::new(&vae.decoder.model, &[3], "decoder").expect("loads");
    let (mean, std) = (
        ck.get("input.mean").expect("mean").data.clone(),
        ck.get("input.std").expect("std").data.clone(),
    );
    let code = [0.3f32, -1.1, 0.7];
    let g = dense(&ck, "3-4", &[0.0, 0.3, -1.1, 0.7], f64::tanh);
    let y = dense(&ck, "4-5", &g, |v| v);
    let recon = decoder.run(&code).expect("runs");
    for (k, r) in recon.iter().enumerate() {
        // The normalised mean y, back on the data's scale: mean + std · y.
        let want = f64::from(mean[k]) + f64::from(std[k]) * y[k];
        assert!((f64::from(*r) - want).abs() < 1e-4, "{r} against {want}");
    }
}
