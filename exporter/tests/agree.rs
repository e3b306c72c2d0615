//! Exported ONNX, run in tract, against the collapsed model's plain forward, for every op and
//! aggregation, with random weights and random masks (single weights, whole units, whole
//! input features).

use ardent_exporter::{ExportOptions, Storage, WeightType, emit, export, reference, verify};

use crate::common::{family, random_checkpoint};

/// Families that together use every op, activation and aggregation the exporter writes
/// (`tests/families/*.toml`, also used by the workspace's trainer-against-tract test).
pub const FAMILIES: &[(&str, &str)] = &[
    ("mlp", include_str!("families/mlp.toml")),
    ("residual-mean", include_str!("families/residual-mean.toml")),
    ("widths", include_str!("families/widths.toml")),
    (
        "concat-glm-constant",
        include_str!("families/concat-glm-constant.toml"),
    ),
    (
        "conv-residual-pool",
        include_str!("families/conv-residual-pool.toml"),
    ),
    (
        "conv-concat-maxpool",
        include_str!("families/conv-concat-maxpool.toml"),
    ),
    ("image-flatten", include_str!("families/image-flatten.toml")),
    ("searched", include_str!("families/searched.toml")),
    ("batchnorm", include_str!("families/batchnorm.toml")),
];

/// (weight pruned, unit dead, input feature dead) probabilities.
const MASKS: &[(f64, f64, f64)] = &[
    (0.0, 0.0, 0.0),
    (0.3, 0.0, 0.0),
    (0.2, 0.3, 0.2),
    (0.5, 0.5, 0.4),
    (0.9, 0.3, 0.3),
    (1.0, 0.0, 0.0),
];

fn options(ty: WeightType) -> ExportOptions {
    ExportOptions {
        weight_type: ty,
        storage: Storage::Sparse,
        verify_samples: 32,
        ..ExportOptions::default()
    }
}

#[test]
fn every_family_and_mask_agrees_with_the_collapsed_model() {
    for (name, src) in FAMILIES {
        let f = family(src);
        for (m, &(prune, rows, cols)) in MASKS.iter().enumerate() {
            for seed in 0..3u64 {
                let ck = random_checkpoint(&f, seed * 31 + m as u64, prune, rows, cols);
                let what = format!("{name}, mask {m}, seed {seed}");
                let storage = [Storage::Dense, Storage::Sparse, Storage::Auto][(seed % 3) as usize];
                let out = export(
                    &ck,
                    name,
                    &ExportOptions {
                        storage,
                        ..options(WeightType::F32)
                    },
                )
                .unwrap_or_else(|e| panic!("{what}: {e}"));
                let collapsed =
                    ardent_exporter::Collapsed::new(&ck, 0.975, name).expect("as set up");
                let x = verify::random_samples(&collapsed.mean, &collapsed.std, 16, seed + 7);
                let loaded =
                    verify::Loaded::new(&out.model, &f.input_shape().0, name).expect("as set up");
                let got = loaded.run(&x).expect("as set up");
                let want = reference::forward(&collapsed, &x);
                let diff = verify::max_abs_diff(&got, &want);
                assert!(diff <= 1e-5, "{what}: max |diff| {diff:e}");
            }
        }
    }
}

#[test]
fn f16_weights_stay_within_their_tolerance() {
    for (name, src) in FAMILIES {
        let f = family(src);
        let ck = random_checkpoint(&f, 5, 0.3, 0.2, 0.1);
        let out =
            export(&ck, name, &options(WeightType::F16)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let v = out.report.verification.expect("verified");
        assert!(v.max_abs_diff <= 1e-2, "{name}: {}", v.max_abs_diff);
        let f32_out = export(&ck, name, &options(WeightType::F32)).expect("as set up");
        let weight_bytes = |m: &tract_onnx::pb::ModelProto, ty: i32| -> usize {
            m.graph
                .as_ref()
                .expect("as set up")
                .initializer
                .iter()
                .filter(|t| t.data_type == ty)
                .map(|t| t.raw_data.len())
                .sum()
        };
        let (half, full) = (
            weight_bytes(&out.model, 10),
            weight_bytes(&f32_out.model, 1),
        );
        assert_eq!(
            2 * half,
            full,
            "{name}: f16 weights take {half} bytes, f32 {full}"
        );
        assert_eq!(
            weight_bytes(&out.model, 1),
            0,
            "{name}: an f32 initializer is left"
        );
    }
}

#[test]
fn softmax_output_rows_sum_to_one() {
    let (name, src) = FAMILIES[0];
    let f = family(src);
    let ck = random_checkpoint(&f, 3, 0.2, 0.1, 0.1);
    let out = export(
        &ck,
        name,
        &ExportOptions {
            softmax: true,
            ..options(WeightType::F32)
        },
    )
    .expect("as set up");
    assert!(
        out.model
            .graph
            .as_ref()
            .expect("as set up")
            .node
            .iter()
            .any(|n| n.op_type == "Softmax")
    );
    let loaded = verify::Loaded::new(&out.model, &f.input_shape().0, name).expect("as set up");
    let c = ardent_exporter::Collapsed::new(&ck, 0.975, name).expect("as set up");
    let y = loaded
        .run(&verify::random_samples(&c.mean, &c.std, 4, 1))
        .expect("as set up");
    for row in y.chunks_exact(3) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let _ = emit::OUTPUT_NAME;
}

#[test]
fn nnef_archives_agree_with_the_collapsed_model() {
    for (name, src) in FAMILIES {
        let f = family(src);
        let ck = random_checkpoint(&f, 8, 0.3, 0.3, 0.2);
        let out = export(
            &ck,
            name,
            &ExportOptions {
                nnef: true,
                ..options(WeightType::F32)
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let v = out.report.verification.expect("verified");
        let diff = v.nnef_max_abs_diff.expect("NNEF checked");
        assert!(diff <= 1e-5, "{name}: {diff:e}");
        let archive = out.nnef.expect("asked for");
        assert_eq!(out.report.nnef_bytes, Some(archive.len()));
        assert_eq!(archive[..2], [0x1f, 0x8b], "{name}: gzipped");
    }
}
