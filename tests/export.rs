//! The exporter against the trainer: burn's forward of the pruned supernet and the exported
//! file in tract give the same outputs; `ardent export` end to end and on bad input.

use std::collections::BTreeMap;

use ardent_data::{Dataset, SplitMix64, Targets};
use ardent_exporter::{ExportOptions, Storage, export};
use ardent_models::{Checkpoint, CheckpointMeta, Family, TensorF32};
use ardent_runtime::{LoadOptions, Model};
use ardent_trainer::data::batch_input;
use ardent_trainer::{Device, Mode, Supernet, from_tensors, to_tensors};

use crate::{ardent, assert_bad_input, root, stderr, stdout, zoo};

fn meta() -> CheckpointMeta {
    CheckpointMeta::untrained(0)
}

/// Random pruning (each weight with probability 0.3, each output unit with 0.3), random
/// biases, constants and batch-norm statistics, a random normaliser.
fn randomize(tensors: &mut BTreeMap<String, TensorF32>, rng: &mut SplitMix64) {
    let names: Vec<String> = tensors.keys().cloned().collect();
    for name in names {
        let t = tensors.get_mut(&name).expect("listed");
        if name.ends_with(".gamma.logits") {
            t.data
                .iter_mut()
                .for_each(|v| *v = (4.0 * rng.uniform() - 2.0) as f32);
        } else if name.ends_with(".bias") || name.ends_with(".value") {
            t.data
                .iter_mut()
                .for_each(|v| *v = (rng.uniform() - 0.5) as f32);
        } else if name.ends_with(".scale") || name.ends_with(".running_var") {
            // A batch norm's scale and running variance: away from their initial 1.
            t.data
                .iter_mut()
                .for_each(|v| *v = (0.3 + 1.5 * rng.uniform()) as f32);
        } else if name.ends_with(".shift") || name.ends_with(".running_mean") {
            t.data
                .iter_mut()
                .for_each(|v| *v = (rng.uniform() - 0.5) as f32);
        } else if name == "input.mean" {
            t.data
                .iter_mut()
                .for_each(|v| *v = (3.0 * rng.uniform()) as f32);
        } else if name == "input.std" {
            t.data
                .iter_mut()
                .for_each(|v| *v = (0.5 + rng.uniform()) as f32);
        }
    }
    let keys: Vec<String> = tensors
        .keys()
        .filter(|k| k.ends_with(".weight.mu"))
        .cloned()
        .collect();
    for k in keys {
        let mu = tensors[&k].clone();
        let per_row = mu.data.len() / mu.shape[0];
        let dead: Vec<bool> = (0..mu.shape[0]).map(|_| rng.uniform() < 0.3).collect();
        let ls = mu
            .data
            .iter()
            .enumerate()
            .map(|(i, &m)| {
                let keep = !dead[i / per_row] && rng.uniform() >= 0.3;
                let m2 = (m * m).max(1e-12);
                if keep {
                    (m2 / 1e3).ln()
                } else {
                    (m2 * 1e4).ln()
                }
            })
            .collect();
        tensors.insert(
            k.replace(".mu", ".log_sigma2"),
            TensorF32::new(mu.shape.clone(), ls),
        );
    }
}

#[test]
fn the_trainers_forward_agrees_with_the_exported_file_in_tract() {
    let device = Device::flex();
    let dir = root().join("exporter/tests/families");
    let mut specs: Vec<_> = std::fs::read_dir(&dir)
        .expect("families")
        .map(|e| e.expect("entry").path())
        .collect();
    specs.sort();
    assert!(specs.len() >= 8, "{specs:?}");
    let mut rng = SplitMix64(42);
    for spec in specs {
        let family = Family::from_path(&spec).expect("spec");
        for seed in 0..3u64 {
            let what = format!("{}, seed {seed}", spec.display());
            let net = Supernet::new(&family, &device, seed).expect("supernet");
            let norm = ardent_data::Normalizer {
                mean: vec![0.0; family.input_shape().size()],
                std: vec![1.0; family.input_shape().size()],
            };
            let mut tensors = to_tensors(&net, &norm).expect("every tensor");
            randomize(&mut tensors, &mut rng);
            let (net, norm) = from_tensors(&family, &tensors, &device).expect("from tensors");
            let ck = Checkpoint {
                family: family.clone(),
                tensors,
                meta: meta(),
                optimizer: Default::default(),
            };
            let storage = [Storage::Dense, Storage::Sparse][seed as usize % 2];
            let out = export(
                &ck,
                &what,
                &ExportOptions {
                    storage,
                    ..ExportOptions::default()
                },
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));

            let n = 16;
            let size = family.input_shape().size();
            let raw: Vec<f32> = (0..n * size)
                .map(|_| (6.0 * rng.uniform() - 1.5) as f32)
                .collect();
            let mut normalised = Dataset::new(
                "random",
                family.input_shape().0.clone(),
                raw.clone(),
                Targets::Classes {
                    labels: vec![0; n],
                    classes: 2,
                },
                false,
            )
            .expect("dataset");
            norm.apply(&mut normalised);
            let idx: Vec<usize> = (0..n).collect();
            let x = batch_input(&normalised, &idx, &device);
            let want: Vec<f32> = net
                .forward(x, Mode::Mean { prune: Some(0.975) })
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32 output");
            let model =
                Model::load_bytes(&out.bytes, &what, LoadOptions::default()).expect("loads");
            let got = model.run(&raw).expect("runs");
            assert_eq!(got.len(), want.len(), "{what}");
            let diff = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff <= 1e-5, "{what}: max |diff| {diff:e}");
        }
    }
}

/// `ardent export CKPT --out ONNX --data digits --report …`; returns the JSON report.
fn export_on_digits(ck: &std::path::Path, onnx: &std::path::Path) -> serde_json::Value {
    let report = onnx.with_extension("json");
    let o = ardent([
        "export",
        &ck.display().to_string(),
        "--out",
        &onnx.display().to_string(),
        "--data",
        "digits",
        "--report",
        &report.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("verified in tract"), "{}", stdout(&o));
    serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON")
}

#[test]
fn export_end_to_end_on_digits() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = dir.path().join("digits.safetensors");
    let o = ardent([
        "train",
        &zoo("lenet-300-100.toml").display().to_string(),
        "--data",
        "digits",
        "--epochs",
        "3",
        // The old recipe (full prior from the first step, a constant rate), under which
        // three epochs already prune.
        "--warmup",
        "0",
        "--lr-schedule",
        "constant",
        "--out",
        &ck.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let trained = Checkpoint::read(&ck).expect("checkpoint");
    let onnx = dir.path().join("digits.onnx");
    let r = export_on_digits(&ck, &onnx);
    // The trainer measured its validation accuracy at the same λ on the same split.
    let in_tract = r["accuracy"].as_f64().expect("accuracy");
    let in_trainer = trained.meta.metrics["valid_accuracy"]
        .as_f64()
        .expect("trainer accuracy");
    assert!(
        (in_tract - in_trainer).abs() < 1e-9,
        "tract {in_tract} vs trainer {in_trainer}"
    );
    let model = Model::load_path(&onnx, LoadOptions::default()).expect("loads");
    assert_eq!(
        model.info().parameters as u64,
        r["params_after"].as_u64().expect("as set up")
    );
    assert_eq!(
        std::fs::metadata(&onnx).expect("as set up").len(),
        r["file_bytes"].as_u64().expect("as set up")
    );
    assert!(
        r["params_after"].as_u64().expect("as set up")
            < r["params_before"].as_u64().expect("as set up")
    );

    // f16: smaller file, still verified.
    let half = dir.path().join("digits-f16.onnx");
    let o = ardent([
        "export",
        &ck.display().to_string(),
        "--out",
        &half.display().to_string(),
        "--f16",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::metadata(&half).expect("as set up").len()
            < std::fs::metadata(&onnx).expect("as set up").len()
    );

    // The file says what it takes: raw values (digits: 0–16), normalised inside.
    assert!(
        r["input"]["layout"] == "NC" && r["input"]["scale"] == 1.0,
        "{}",
        r["input"]
    );
    let info = ardent(["info", &onnx.display().to_string()]);
    assert!(
        stdout(&info)
            .contains("ardent.input = [N, 64] NC f32, values on the scale of the training data"),
        "{}",
        stdout(&info)
    );
    // --input-scale 1/16 bakes in another scaling: the scaled file on x/16 computes what the
    // plain one computes on x, and measures the same accuracy on the same (raw) data.
    let scaled = dir.path().join("digits-scaled.onnx");
    let report = dir.path().join("digits-scaled.json");
    let o = ardent([
        "export",
        &ck.display().to_string(),
        "--out",
        &scaled.display().to_string(),
        "--data",
        "digits",
        "--input-scale",
        "1/16",
        "--report",
        &report.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("the training data values times 0.0625"),
        "{}",
        stdout(&o)
    );
    let rs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    assert_eq!(rs["accuracy"], r["accuracy"]);
    let plain = Model::load_path(&onnx, LoadOptions::default()).expect("loads");
    let baked = Model::load_path(&scaled, LoadOptions::default()).expect("loads");
    assert_eq!(baked.info().metadata["ardent.input.scale"], "0.0625");
    let x: Vec<f32> = (0..5 * 64).map(|i| ((i * 7) % 17) as f32).collect();
    let x16: Vec<f32> = x.iter().map(|v| v / 16.0).collect();
    let (a, b) = (plain.run(&x).expect("runs"), baked.run(&x16).expect("runs"));
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() <= 1e-4 * u.abs().max(1.0), "{a:?} vs {b:?}");
    }
    // A scale that is not a positive factor is refused before anything is written.
    let o = ardent([
        "export",
        &ck.display().to_string(),
        "--out",
        &dir.path().join("never.onnx").display().to_string(),
        "--input-scale",
        "1/0",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--input-scale"), "{}", stderr(&o));
    assert!(!dir.path().join("never.onnx").exists());
}

#[test]
fn export_bad_input_exits_2_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let family = Family::from_path(zoo("lenet-300-100.toml")).expect("spec");
    let net = Supernet::new(&family, &Device::flex(), 1).expect("net");
    let norm = ardent_data::Normalizer {
        mean: vec![0.0; 784],
        std: vec![1.0; 784],
    };
    let good = Checkpoint {
        family: family.clone(),
        tensors: to_tensors(&net, &norm).expect("every tensor"),
        meta: meta(),
        optimizer: Default::default(),
    };
    let ck = dir.path().join("good.safetensors");
    good.write(&ck).expect("write");
    let out = dir.path().join("model.onnx");
    std::fs::write(&out, b"the previous model").expect("write");
    let export_to = |ck: &std::path::Path, out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "export".to_string(),
            ck.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        ardent(args)
    };

    let bytes = std::fs::read(&ck).expect("read");
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    assert_bad_input(
        &export_to(&truncated, &out, &[]),
        &["truncated.safetensors"],
    );

    // A spec that disagrees with the tensors: the header says 200 hidden units.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let tampered = dir.path().join("tampered.safetensors");
    let needle = "units = 300";
    assert!(text.contains(needle));
    let mut b = bytes.clone();
    let at = text.find(needle).expect("as set up") + "units = ".len();
    b[at..at + 3].copy_from_slice(b"200");
    std::fs::write(&tampered, &b).expect("write");
    let o = export_to(&tampered, &out, &[]);
    assert_bad_input(&o, &["tampered.safetensors", "checksum mismatch"]);
    // With the checksum made to match, the layout check names the tensor that disagrees.
    let err = stderr(&o);
    let hex = |key: &str| {
        let at = err.find(key).expect("in the message") + key.len();
        err[at..at + 16].to_string()
    };
    let (stored, computed) = (hex("stored "), hex("computed "));
    let text = String::from_utf8_lossy(&b).into_owned();
    let at = text.find(&stored).expect("the stored checksum");
    b[at..at + 16].copy_from_slice(computed.as_bytes());
    std::fs::write(&tampered, &b).expect("write");
    assert_bad_input(
        &export_to(&tampered, &out, &[]),
        &["tampered.safetensors", "edge.0-1.op.0"],
    );

    assert_bad_input(
        &export_to(&ck, &out, &["--lambda", "1.5"]),
        &["--lambda", "strictly between 0 and 1"],
    );
    // CSV switches without the data they describe.
    assert_bad_input(
        &export_to(&ck, &out, &["--label", "quality"]),
        &["--label", "--data"],
    );
    assert_bad_input(
        &export_to(&ck, &dir.path().join("missing/dir/model.onnx"), &[]),
        &["missing/dir/model.onnx"],
    );
    assert_eq!(
        std::fs::read(&out).expect("kept"),
        b"the previous model",
        "a failed export must leave the old file alone"
    );
    // A good export replaces it whole.
    let o = export_to(&ck, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(Model::load_path(&out, LoadOptions::default()).is_ok());
}

#[test]
fn a_searched_family_trains_collapses_and_exports_as_the_trainer_measured_it() {
    let dir = searched_run(&["--preset", "ml", "--epochs", "4"]);
    // Its member, trained from scratch as a fixed family, has exactly the searched ops.
    let searched = dir.path().join("search.safetensors");
    let member = dir.path().join("member.safetensors");
    let o = ardent([
        "train",
        &zoo("mlp-search.toml").display().to_string(),
        "--data",
        "digits",
        "--epochs",
        "1",
        "--member-of",
        &searched.display().to_string(),
        "--out",
        &member.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ops = |report: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
        report["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| (e["edge"].clone(), e["ops"].clone()))
            .collect()
    };
    let before = export_on_digits(&searched, &dir.path().join("again.onnx"));
    let after = export_on_digits(&member, &dir.path().join("member.onnx"));
    assert_eq!(ops(&after), ops(&before));
    let ck = Checkpoint::read(&member).expect("member checkpoint");
    assert!(ck.family.edges.iter().all(|e| !e.structure.is_searched()));
    // A checkpoint of another family is refused.
    let o = ardent([
        "train",
        &zoo("lenet-300-100.toml").display().to_string(),
        "--data",
        "digits",
        "--member-of",
        &searched.display().to_string(),
        "--out",
        &dir.path().join("x.safetensors").display().to_string(),
    ]);
    assert_bad_input(&o, &["--member-of", "spec differs"]);
}

#[test]
fn a_bilevel_search_moves_its_priors_and_exports_as_the_trainer_measured_it() {
    // The evidence preset: the priors on γ reach the validation likelihood only through the
    // inner problem's response, which the second-order hypergradient carries.
    let dir = searched_run(&["--preset", "evidence", "--epochs", "2"]);
    let ck = Checkpoint::read(dir.path().join("search.safetensors")).expect("checkpoint");
    let moved = ck
        .tensors
        .iter()
        .filter(|(name, _)| name.ends_with(".gamma.log_prior"))
        .filter(|(_, t)| t.data.iter().all(|v| v.is_finite()) && t.data.iter().any(|&v| v != 0.0))
        .count();
    assert_eq!(
        moved, 5,
        "every searched edge's prior follows the outer problem"
    );
    // The outer problem's settings belong to bilevel presets only.
    let o = ardent([
        "train",
        &zoo("mlp-search.toml").display().to_string(),
        "--data",
        "digits",
        "--xi",
        "0.01",
        "--out",
        &dir.path().join("x.safetensors").display().to_string(),
    ]);
    assert_bad_input(&o, &["--xi", "bilevel presets"]);
    for (reference, needle) in [
        ("x->q=1,1,1@0.5", "not a searched edge of `mlp-search`"),
        ("x->a=1,1@0.5", "has 3 ops, but 2 values"),
        ("x->a=1,0,1@0.5", "must be numbers > 0"),
        ("x->a=1,1,1", "needs its weight"),
    ] {
        let o = ardent([
            "train",
            &zoo("mlp-search.toml").display().to_string(),
            "--data",
            "digits",
            "--preset",
            "darts",
            "--reference",
            reference,
            "--out",
            &dir.path().join("x.safetensors").display().to_string(),
        ]);
        assert_bad_input(&o, &["--reference", needle]);
    }
}

/// Trains mlp-search on digits with `args`, exports it, and checks the export against the
/// trainer's own account of the member; returns the run's directory.
fn searched_run(args: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = dir.path().join("search.safetensors");
    let spec = zoo("mlp-search.toml").display().to_string();
    let ck_arg = ck.display().to_string();
    let mut all = vec![
        "train",
        &spec,
        "--data",
        "digits",
        "--gamma-lr",
        "0.02",
        "--out",
        &ck_arg,
        "--json",
    ];
    all.extend_from_slice(args);
    let o = ardent(all);
    assert!(o.status.success(), "{}", stderr(&o));
    let last: serde_json::Value = stdout(&o)
        .lines()
        .rfind(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .expect("metrics");
    let structure = last["structure"].as_array().expect("searched edges");
    assert_eq!(structure.len(), 5, "{last}");
    for e in structure {
        let g: Vec<f64> = e["gamma"]
            .as_array()
            .expect("γ")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        assert!(g.iter().all(|p| (0.0..=1.0).contains(p)), "{e}");
    }
    let r = export_on_digits(&ck, &dir.path().join("search.onnx"));
    // The exporter keeps on every edge exactly what the trainer's metrics say it picks.
    for e in structure {
        let exported = r["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|x| x["edge"] == e["edge"])
            .expect("same edge");
        assert_eq!(exported["ops"], e["picked"], "{}", e["edge"]);
    }
    let in_tract = r["accuracy"].as_f64().expect("accuracy");
    let in_trainer = last["valid_accuracy"].as_f64().expect("trainer accuracy");
    assert!(
        (in_tract - in_trainer).abs() < 1e-9,
        "tract {in_tract} vs trainer {in_trainer}"
    );
    assert!(
        r["layer_params"].as_u64().expect("params")
            <= last["member_params"].as_u64().expect("member")
    );
    dir
}

#[test]
fn random_search_keeps_the_best_member_and_it_exports_as_measured() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = dir.path().join("random.safetensors");
    let spec = zoo("mlp-search.toml").display().to_string();
    let o = ardent([
        "train",
        &spec,
        "--data",
        "digits",
        "--epochs",
        "2",
        "--random-search",
        "4",
        "--out",
        &ck.display().to_string(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let trials: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .filter(|l| l.starts_with("{\"trial\""))
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(trials.len(), 4);
    let acc = |t: &serde_json::Value| t["valid_accuracy"].as_f64().expect("accuracy");
    let best = trials
        .iter()
        .rfind(|t| t["best"] == true)
        .expect("a best trial");
    assert!(trials.iter().all(|t| acc(t) <= acc(best)), "{trials:?}");
    // No trial's scratch checkpoint is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("random.safetensors")]);
    // The kept checkpoint is the best member: a fixed family whose export scores what the
    // trial measured, with the member's ops on every edge.
    let r = export_on_digits(&ck, &dir.path().join("random.onnx"));
    assert!((r["accuracy"].as_f64().expect("accuracy") - acc(best)).abs() < 1e-9);
    for (edge, ops) in best["member"]
        .as_array()
        .expect("member")
        .iter()
        .map(|m| (&m[0], &m[1]))
    {
        let exported = r["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|x| &x["edge"] == edge)
            .expect("same edge");
        let kept: Vec<&serde_json::Value> = ops
            .as_array()
            .expect("ops")
            .iter()
            .filter(|op| op.as_str() != Some("zero"))
            .collect();
        let written: Vec<&serde_json::Value> =
            exported["ops"].as_array().expect("ops").iter().collect();
        assert_eq!(written, kept, "{edge}");
    }
    let o = ardent([
        "train",
        &spec,
        "--data",
        "digits",
        "--random-search",
        "2",
        "--resume",
        "--out",
        &ck.display().to_string(),
    ]);
    assert_bad_input(&o, &["--random-search", "--resume"]);
}
