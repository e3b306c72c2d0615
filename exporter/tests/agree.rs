//! Exported ONNX, run in tract, against the collapsed model's plain forward, for every op and
//! aggregation, with random weights and random masks (single weights, whole units, whole
//! input features).

use ardent_exporter::{ExportOptions, WeightType, emit, export, reference, verify};

use crate::common::{family, random_checkpoint};

/// Families that together use every op, activation and aggregation the exporter writes.
pub const FAMILIES: &[(&str, &str)] = &[
    (
        "mlp",
        r#"
name = "mlp"
task = "classification"
classes = 3
input = [12]
[[vertex]]
name = "x"
[[vertex]]
name = "h1"
[[vertex]]
name = "h2"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "h1"
ops = [{ op = "dense", units = 9, activation = "relu" }]
[[edge]]
from = "h1"
to = "h2"
ops = [{ op = "dense", units = 7, activation = "tanh" }]
[[edge]]
from = "h2"
to = "y"
ops = [{ op = "dense", units = 3 }]
"#,
    ),
    (
        "residual-mean",
        r#"
name = "residual-mean"
task = "classification"
classes = 4
input = [10]
[[vertex]]
name = "x"
[[vertex]]
name = "a"
[[vertex]]
name = "b"
[[vertex]]
name = "y"
agg = "mean"
[[edge]]
from = "x"
to = "a"
ops = [{ op = "dense", units = 8, activation = "relu" }]
[[edge]]
from = "a"
to = "b"
ops = [{ op = "dense", units = 8, activation = "relu" }, { op = "identity" }, { op = "zero" }]
structure = { relaxation = "fixed", gamma = [0.6, 0.3, 0.1] }
[[edge]]
from = "b"
to = "y"
ops = [{ op = "dense", units = 4 }]
[[edge]]
from = "a"
to = "y"
ops = [{ op = "dense", units = 4, bias = false }]
"#,
    ),
    (
        "widths",
        r#"
name = "widths"
task = "classification"
classes = 3
input = [10]
[[vertex]]
name = "x"
[[vertex]]
name = "a"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "a"
ops = [{ op = "dense", units = 8, activation = "sigmoid" }, { op = "dense", units = 5, activation = "relu" }]
structure = { relaxation = "fixed", constraint = "cube", gamma = [0.5, 1.0] }
[[edge]]
from = "a"
to = "y"
ops = [{ op = "dense", units = 3 }]
"#,
    ),
    (
        "concat-glm-constant",
        r#"
name = "concat-glm-constant"
task = "regression"
targets = 2
input = [10]
[[vertex]]
name = "x"
[[vertex]]
name = "g"
[[vertex]]
name = "c"
agg = "concat"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "g"
ops = [{ op = "glm", features = [7, 0, 3, 5], units = 2, activation = "sigmoid" }, { op = "constant", units = 2 }]
structure = { relaxation = "fixed", constraint = "cube", gamma = [1.0, 1.0] }
[[edge]]
from = "x"
to = "c"
ops = [{ op = "dense", units = 6, activation = "relu" }]
[[edge]]
from = "g"
to = "c"
ops = [{ op = "identity" }]
[[edge]]
from = "c"
to = "y"
ops = [{ op = "dense", units = 2 }]
"#,
    ),
    (
        "conv-residual-pool",
        r#"
name = "conv-residual-pool"
task = "classification"
classes = 3
input = [2, 8, 8]
[[vertex]]
name = "x"
[[vertex]]
name = "c1"
[[vertex]]
name = "c2"
[[vertex]]
name = "p"
[[vertex]]
name = "flat"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "c1"
ops = [{ op = "conv2d", channels = 5, kernel = 3, padding = 1, activation = "relu" }]
[[edge]]
from = "c1"
to = "c2"
ops = [{ op = "conv2d", channels = 5, kernel = 3, padding = 1, activation = "tanh" }, { op = "identity" }]
structure = { relaxation = "fixed", constraint = "cube", gamma = [1.0, 1.0] }
[[edge]]
from = "c2"
to = "p"
ops = [{ op = "pool", kind = "avg", kernel = 3, stride = 2, padding = 1 }]
[[edge]]
from = "p"
to = "flat"
ops = [{ op = "flatten" }]
[[edge]]
from = "flat"
to = "y"
ops = [{ op = "dense", units = 3 }]
"#,
    ),
    (
        "conv-concat-maxpool",
        r#"
name = "conv-concat-maxpool"
task = "classification"
classes = 2
input = [3, 6, 6]
[[vertex]]
name = "x"
[[vertex]]
name = "a"
[[vertex]]
name = "b"
[[vertex]]
name = "c"
agg = "concat"
[[vertex]]
name = "d"
[[vertex]]
name = "flat"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "a"
ops = [{ op = "conv2d", channels = 4, kernel = 3, padding = 1, activation = "relu" }]
[[edge]]
from = "x"
to = "b"
ops = [{ op = "conv2d", channels = 3, kernel = 1, activation = "sigmoid" }]
[[edge]]
from = "a"
to = "c"
ops = [{ op = "identity" }]
[[edge]]
from = "b"
to = "c"
ops = [{ op = "conv2d", channels = 3, kernel = 3, padding = 1, activation = "relu" }, { op = "conv2d", channels = 3, kernel = 3, padding = 1 }]
structure = { relaxation = "fixed", constraint = "cube", gamma = [0.5, 1.0] }
[[edge]]
from = "c"
to = "d"
ops = [{ op = "pool", kind = "max", kernel = 2 }]
[[edge]]
from = "d"
to = "flat"
ops = [{ op = "flatten" }]
[[edge]]
from = "flat"
to = "y"
ops = [{ op = "dense", units = 2 }]
"#,
    ),
    (
        "image-dense",
        r#"
name = "image-dense"
task = "classification"
classes = 3
input = [2, 4, 4]
[[vertex]]
name = "x"
[[vertex]]
name = "f"
[[vertex]]
name = "h"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "f"
ops = [{ op = "flatten" }]
[[edge]]
from = "f"
to = "h"
ops = [{ op = "dense", units = 6, activation = "relu" }]
[[edge]]
from = "h"
to = "y"
ops = [{ op = "dense", units = 3 }]
"#,
    ),
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
                let out = export(&ck, name, &options(WeightType::F32))
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let collapsed = ardent_exporter::Collapsed::new(&ck, 0.975, name).unwrap();
                let x = verify::random_samples(&collapsed.mean, &collapsed.std, 16, seed + 7);
                let loaded = verify::Loaded::new(&out.model, &f.input_shape().0, name).unwrap();
                let got = loaded.run(&x).unwrap();
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
        let f32_out = export(&ck, name, &options(WeightType::F32)).unwrap();
        let weight_bytes = |m: &tract_onnx::pb::ModelProto, ty: i32| -> usize {
            m.graph
                .as_ref()
                .unwrap()
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
    .unwrap();
    assert!(
        out.model
            .graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .any(|n| n.op_type == "Softmax")
    );
    let loaded = verify::Loaded::new(&out.model, &f.input_shape().0, name).unwrap();
    let c = ardent_exporter::Collapsed::new(&ck, 0.975, name).unwrap();
    let y = loaded
        .run(&verify::random_samples(&c.mean, &c.std, 4, 1))
        .unwrap();
    for row in y.chunks_exact(3) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let _ = emit::OUTPUT_NAME;
}
