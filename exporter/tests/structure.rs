//! What the export removes and what the file holds.

use ardent_exporter::{ExportOptions, Storage, export, verify};
use ardent_models::TensorF32;
use tract_onnx::pb;

use crate::agree::FAMILIES;
use crate::common::{Rng, family, log_sigma2, random_checkpoint};

fn float_initializers(m: &pb::ModelProto) -> usize {
    m.graph
        .as_ref()
        .expect("as set up")
        .initializer
        .iter()
        .filter(|t| {
            t.data_type == pb::tensor_proto::DataType::Float as i32
                || t.data_type == pb::tensor_proto::DataType::Float16 as i32
        })
        .map(|t| t.dims.iter().product::<i64>() as usize)
        .sum()
}

fn initializer<'a>(m: &'a pb::ModelProto, name: &str) -> &'a pb::TensorProto {
    m.graph
        .as_ref()
        .expect("as set up")
        .initializer
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no initializer `{name}`"))
}

#[test]
fn the_report_counts_what_the_file_holds() {
    for (name, src) in FAMILIES {
        let f = family(src);
        for seed in 0..4 {
            let ck = random_checkpoint(&f, seed, 0.4, 0.3, 0.2);
            // Dense storage: 4 bytes per parameter; sparse: 4 for the value, 2 for its gap.
            for (storage, per) in [
                (Storage::Dense, 4),
                (Storage::Sparse, 6),
                (Storage::Auto, 6),
            ] {
                let out = export(
                    &ck,
                    name,
                    &ExportOptions {
                        storage,
                        ..ExportOptions::default()
                    },
                )
                .expect("as set up");
                let r = &out.report;
                assert_eq!(r.params_after, float_initializers(&out.model), "{name}");
                assert_eq!(r.params_after, r.layer_params + r.constants, "{name}");
                assert_eq!(r.file_bytes, out.bytes.len(), "{name}");
                assert!(
                    out.bytes.len() <= per * r.params_after + 8192,
                    "{name}, {storage:?}: {} bytes for {} parameters",
                    out.bytes.len(),
                    r.params_after
                );
                if storage == Storage::Sparse {
                    assert!(
                        r.layer_params
                            <= r.kept_weights
                                + r.layers.iter().map(|l| l.after.output[0]).sum::<usize>(),
                        "{name}"
                    );
                }
            }
            let out = export(&ck, name, &ExportOptions::default()).expect("as set up");
            let r = &out.report;
            assert!(r.layer_params <= r.params_before, "{name}");
        }
    }
}

/// 30-12-10-4 with hand-picked dead units: hidden unit 3 of the first layer has no kept
/// incoming weight (so it is the constant relu(b)), unit 5 no kept outgoing weight; input
/// features 0..20 have no kept weight at all, so a Gather drops them.
#[test]
fn dead_units_and_unused_inputs_leave_the_file() {
    let f = family(
        r#"
name = "hand"
task = "classification"
classes = 4
input = [30]
[[vertex]]
name = "x"
[[vertex]]
name = "h"
[[vertex]]
name = "g"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "h"
ops = [{ op = "dense", units = 12, activation = "relu" }]
[[edge]]
from = "h"
to = "g"
ops = [{ op = "dense", units = 10, activation = "relu" }]
[[edge]]
from = "g"
to = "y"
ops = [{ op = "dense", units = 4 }]
"#,
    );
    let mut ck = random_checkpoint(&f, 9, 0.0, 0.0, 0.0);
    let set_mask =
        |ck: &mut ardent_models::Checkpoint, key: &str, keep: &dyn Fn(usize, usize) -> bool| {
            let mu = ck.tensors[&format!("{key}.weight.mu")].clone();
            let cols = mu.shape[1];
            let ls: Vec<f32> = mu
                .data
                .iter()
                .enumerate()
                .map(|(i, &m)| log_sigma2(m, keep(i / cols, i % cols)))
                .collect();
            ck.tensors.insert(
                format!("{key}.weight.log_sigma2"),
                TensorF32::new(mu.shape.clone(), ls),
            );
        };
    set_mask(&mut ck, "edge.0-1.op.0", &|o, i| o != 3 && i >= 20);
    set_mask(&mut ck, "edge.1-2.op.0", &|_, i| i != 5);
    // Make the dead unit's constant matter: relu(b) > 0.
    ck.tensors
        .get_mut("edge.0-1.op.0.bias")
        .expect("as set up")
        .data[3] = 0.7;
    let dense = ExportOptions {
        storage: Storage::Dense,
        ..ExportOptions::default()
    };
    let out = export(&ck, "hand", &dense).expect("as set up");
    let m = &out.model;
    assert_eq!(initializer(m, "edge.0-1.op.0.weight").dims, vec![10, 10]);
    assert_eq!(initializer(m, "edge.1-2.op.0.weight").dims, vec![10, 10]);
    assert_eq!(initializer(m, "edge.2-3.op.0.weight").dims, vec![4, 10]);
    assert_eq!(out.report.input_features_used, 10);
    assert_eq!(
        out.report.layer_params,
        10 * 10 + 10 + 10 * 10 + 10 + 4 * 10 + 4
    );
    let ops = |m: &pb::ModelProto| -> Vec<String> {
        m.graph
            .as_ref()
            .expect("graph")
            .node
            .iter()
            .map(|n| n.op_type.clone())
            .collect()
    };
    assert_eq!(ops(m)[0], "Gather");
    assert_eq!(out.report.constants, 0);
    let v = out.report.verification.as_ref().expect("as set up");
    assert!(v.max_abs_diff < 1e-5, "{}", v.max_abs_diff);
    // The constant unit went into the next layer's bias, not away: zeroing its bias changes
    // the output.
    let mut ck2 = ck.clone();
    ck2.tensors
        .get_mut("edge.0-1.op.0.bias")
        .expect("as set up")
        .data[3] = 0.0;
    let out2 = export(&ck2, "hand", &dense).expect("as set up");
    let b1 = initializer(&out.model, "edge.1-2.op.0.bias");
    let b2 = initializer(&out2.model, "edge.1-2.op.0.bias");
    assert_ne!(b1.raw_data, b2.raw_data);

    // With two thirds of the input read, zero columns are cheaper than a Gather.
    set_mask(&mut ck, "edge.0-1.op.0", &|o, i| o != 3 && i >= 10);
    let out = export(&ck, "hand", &dense).expect("as set up");
    assert_eq!(out.report.input_features_used, 20);
    assert!(!ops(&out.model).contains(&"Gather".to_string()));
    assert_eq!(
        initializer(&out.model, "edge.0-1.op.0.weight").dims,
        vec![10, 30]
    );
}

#[test]
fn parameters_fall_as_lambda_falls() {
    let (name, src) = FAMILIES[1];
    let f = family(src);
    let mut ck = random_checkpoint(&f, 4, 0.0, 0.0, 0.0);
    // Spread ρ over (0, 1): log α uniform in [-4, 6].
    let mut rng = Rng::new(11);
    let keys: Vec<String> = ck
        .tensors
        .keys()
        .filter(|k| k.ends_with(".weight.mu"))
        .cloned()
        .collect();
    for k in keys {
        let mu = ck.tensors[&k].clone();
        let ls = mu
            .data
            .iter()
            .map(|&m| (m * m).max(1e-12).ln() + (rng.uniform() * 10.0 - 4.0) as f32)
            .collect();
        ck.tensors.insert(
            k.replace(".mu", ".log_sigma2"),
            TensorF32::new(mu.shape.clone(), ls),
        );
    }
    let mut last = (usize::MAX, usize::MAX);
    let mut first = None;
    for lambda in [0.999, 0.99, 0.975, 0.9, 0.7, 0.5, 0.2, 0.05, 0.001] {
        let out = export(
            &ck,
            name,
            &ExportOptions {
                lambda,
                ..ExportOptions::default()
            },
        )
        .expect("as set up");
        let now = (out.report.kept_weights, out.report.layer_params);
        assert!(
            now.0 <= last.0 && now.1 <= last.1,
            "λ = {lambda}: {now:?} after {last:?}"
        );
        last = now;
        first.get_or_insert(now);
    }
    let first = first.expect("as set up");
    assert!(
        3 * last.0 < first.0 && 2 * last.1 < first.1,
        "{first:?} -> {last:?}"
    );
}

#[test]
fn a_fully_pruned_model_outputs_its_constant() {
    for (name, src) in FAMILIES {
        let f = family(src);
        let ck = random_checkpoint(&f, 2, 1.0, 0.0, 0.0);
        let out = export(&ck, name, &ExportOptions::default()).expect("as set up");
        assert_eq!(out.report.input_features_used, 0, "{name}");
        let c = ardent_exporter::Collapsed::new(&ck, 0.975, name).expect("as set up");
        let loaded = verify::Loaded::new(&out.model, &f.input_shape().0, name).expect("as set up");
        let y = loaded
            .run(&verify::random_samples(&c.mean, &c.std, 3, 5))
            .expect("as set up");
        let k = f.task.outputs();
        assert_eq!(y.len(), 3 * k);
        assert_eq!(y[..k], y[k..2 * k], "{name}");
    }
}

#[test]
fn metadata_names_the_choice_and_the_counts() {
    let (name, src) = FAMILIES[1];
    let f = family(src);
    let ck = random_checkpoint(&f, 1, 0.3, 0.0, 0.0);
    let out = export(
        &ck,
        name,
        &ExportOptions {
            lambda: 0.9,
            ..ExportOptions::default()
        },
    )
    .expect("as set up");
    let meta: std::collections::BTreeMap<_, _> = out
        .model
        .metadata_props
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(meta["ardent.lambda"], "0.9");
    assert_eq!(meta["ardent.spec"], "residual-mean");
    assert_eq!(
        meta["ardent.params_after"],
        out.report.params_after.to_string()
    );
    assert_eq!(
        meta["ardent.params_before"],
        out.report.params_before.to_string()
    );
    let edges: serde_json::Value = serde_json::from_str(meta["ardent.edges"]).expect("as set up");
    assert_eq!(
        edges["a -> b"],
        serde_json::json!(["dense(8, relu)", "identity"])
    );
    assert_eq!(out.model.ir_version, 8);
    assert_eq!(out.model.opset_import[0].version, 17);
}
