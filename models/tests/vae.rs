//! VAE families: what a VAE spec must look like, counted by hand, and the split of a
//! checkpoint into encoder and decoder checked entry by entry against the tensors it came from.

use std::collections::BTreeMap;

use ardent_models::vae::split;
use ardent_models::{Checkpoint, CheckpointMeta, Family, Likelihood, Task, TensorF32};

/// x[3] → h[4] → stats[2·3] → code z[3] → g[5] → recon[3], per-weight ARD.
fn spec(code: &str, extra: &str) -> String {
    format!(
        r#"
name = "tiny-vae"
task = "vae"
input = [3]
{extra}
[ard]
grouping = "weight"

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
ops = [{{ op = "dense", units = 4, activation = "relu" }}]
[[edge]]
from = "h"
to = "stats"
ops = [{{ op = "dense", units = 6 }}]
[[edge]]
from = "stats"
to = "z"
ops = [{code}]
[[edge]]
from = "z"
to = "g"
ops = [{{ op = "dense", units = 5, activation = "relu" }}]
[[edge]]
from = "g"
to = "recon"
ops = [{{ op = "dense", units = 3 }}]
"#
    )
}

fn parse(code: &str, extra: &str) -> Result<Family, String> {
    Family::parse(&spec(code, extra)).map_err(|e| e.to_string())
}

const CODE: &str = r#"{ op = "code", dims = 3 }"#;

#[test]
fn a_vae_spec_gives_its_task_code_and_hand_counted_parameters() {
    let f = parse(CODE, "").expect("valid");
    assert_eq!(
        f.task,
        Task::Vae {
            features: 3,
            likelihood: Likelihood::Bernoulli
        }
    );
    let site = f.code_site().expect("a code");
    assert_eq!((site.stats, site.code, site.dims), (2, 3, 3));
    assert_eq!(site.encoder, [true, true, true, false, false, false]);
    // 3·4+4 + 4·6+6 + 3·5+5 + 5·3+3; the code has no weights.
    assert_eq!(f.supernet_cost().params, 16 + 30 + 20 + 18);
    let f = parse(CODE, "likelihood = \"gaussian\"").expect("valid");
    assert!(matches!(
        f.task,
        Task::Vae {
            likelihood: Likelihood::Gaussian,
            ..
        }
    ));
    // The gate's tensors are in the layout; a fixed gate has none.
    let names: Vec<String> = parse(CODE, "")
        .expect("valid")
        .tensor_layout()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(names.contains(&"edge.2-3.op.0.gate.logits".to_string()));
    assert!(names.contains(&"output.range".to_string()));
    let fixed = parse(
        r#"{ op = "code", dims = 3, gate = { relaxation = "fixed" } }"#,
        "",
    )
    .expect("valid");
    assert!(
        fixed
            .tensor_layout()
            .iter()
            .all(|t| !t.name.contains("gate"))
    );
}

#[test]
fn the_zoo_vae_counts_as_its_comment_says() {
    let f = Family::from_path(crate::zoo("vae-fashion.toml")).expect("valid");
    // 784·400+400 + 400·64+64 + 32·400+400 + 400·784+784.
    assert_eq!(
        f.supernet_cost().params,
        314_000 + 25_664 + 13_200 + 314_384
    );
    assert_eq!(f.code_site().expect("a code").dims, 32);
    let plain = Family::from_path(crate::zoo("vae-fashion-plain.toml")).expect("valid");
    assert_eq!(plain.supernet_cost().params, f.supernet_cost().params);
    assert!(!plain.code_site().expect("a code").gate.is_searched());
}

#[test]
fn bad_vae_specs_are_refused_with_the_reason() {
    let cases: Vec<(String, &str)> = vec![
        (
            spec(r#"{ op = "dense", units = 3 }"#, ""),
            "needs a code",
        ),
        (
            spec(CODE, "").replace("task = \"vae\"", "task = \"regression\"\ntargets = 3"),
            "belongs in a task = \"vae\" family",
        ),
        (
            spec(r#"{ op = "code", dims = 2 }"#, ""),
            "a vector of 4",
        ),
        (
            spec(r#"{ op = "code", dims = 3, open = 1.0 }"#, ""),
            "in (0, 1)",
        ),
        (
            spec(
                r#"{ op = "code", dims = 3, gate = { constraint = "simplex" } }"#,
                "",
            ),
            "lives in the cube",
        ),
        (spec(CODE, "classes = 3"), "neither `classes` nor `targets`"),
        (
            spec(CODE, "").replace("task = \"vae\"", "task = \"regression\"\nlikelihood = \"gaussian\""),
            "`likelihood` goes with",
        ),
        (
            spec(CODE, "").replace(
                "from = \"z\"\nto = \"g\"\nops = [{ op = \"dense\", units = 5, activation = \"relu\" }]",
                "from = \"z\"\nto = \"g\"\nops = [{ op = \"dense\", units = 5, activation = \"relu\" }]\n[[edge]]\nfrom = \"h\"\nto = \"g\"\nops = [{ op = \"dense\", units = 5 }]",
            ),
            "around the code",
        ),
    ];
    for (src, want) in cases {
        let err = Family::parse(&src).expect_err(want).to_string();
        assert!(err.contains(want), "`{want}` not in: {err}");
    }
}

/// A checkpoint of the tiny VAE whose every value is distinct, so that a slice is checked by
/// value: tensor `t` holds 1000·t + i at entry i.
fn checkpoint(f: &Family, gate: &[f32]) -> Checkpoint {
    let mut tensors = BTreeMap::new();
    for (t, spec) in f.tensor_layout().into_iter().enumerate() {
        let n: usize = spec.shape.iter().product();
        let data: Vec<f32> = if spec.name.ends_with("gate.logits") {
            gate.to_vec()
        } else if spec.name == "output.range" {
            vec![0.0, 255.0]
        } else {
            (0..n).map(|i| (1000 * (t + 1) + i) as f32).collect()
        };
        tensors.insert(spec.name, TensorF32::new(spec.shape, data));
    }
    Checkpoint {
        family: f.clone(),
        tensors,
        meta: CheckpointMeta::untrained(1),
        optimizer: BTreeMap::new(),
    }
}

#[test]
fn the_split_keeps_the_open_dimensions_rows_and_columns() {
    let f = parse(CODE, "").expect("valid");
    // Dimension 1 shut (σ(−2) < ½), 0 and 2 open.
    let ck = checkpoint(&f, &[3.0, -2.0, 0.5]);
    let halves = split(&ck).expect("splits");
    assert_eq!(halves.kept, vec![(0, 1.0), (2, 1.0)]);
    let enc = &halves.encoder;
    let dec = &halves.decoder;
    assert_eq!(enc.family.task, Task::Regression { targets: 4 });
    assert_eq!(dec.family.task, Task::Regression { targets: 3 });
    assert_eq!(dec.family.input_shape().0, vec![2]);
    enc.check(std::path::Path::new("encoder"))
        .expect("a valid checkpoint");
    dec.check(std::path::Path::new("decoder"))
        .expect("a valid checkpoint");
    // Encoder: x → h unchanged; h → stats keeps rows 0, 2 (means) and 3, 5 (log-variances).
    let old = |n: &str| ck.get(n).expect("present").data.clone();
    let new = |c: &Checkpoint, n: &str| c.get(n).expect("present").data.clone();
    assert_eq!(
        new(enc, "edge.0-1.op.0.weight.mu"),
        old("edge.0-1.op.0.weight.mu")
    );
    let mu = old("edge.1-2.op.0.weight.mu");
    let rows: Vec<f32> = [0, 2, 3, 5]
        .iter()
        .flat_map(|&r| mu[r * 4..(r + 1) * 4].to_vec())
        .collect();
    assert_eq!(new(enc, "edge.1-2.op.0.weight.mu"), rows);
    let bias = old("edge.1-2.op.0.bias");
    assert_eq!(
        new(enc, "edge.1-2.op.0.bias"),
        vec![bias[0], bias[2], bias[3], bias[5]]
    );
    // Decoder: the code is its input (vertex 0), z → g keeps columns 0 and 2 of each row.
    let mu = old("edge.3-4.op.0.weight.mu");
    let cols: Vec<f32> = (0..5).flat_map(|r| [mu[r * 3], mu[r * 3 + 2]]).collect();
    assert_eq!(new(dec, "edge.0-1.op.0.weight.mu"), cols);
    assert_eq!(new(dec, "edge.0-1.op.0.bias"), old("edge.3-4.op.0.bias"));
    assert_eq!(
        new(dec, "edge.1-2.op.0.weight.mu"),
        old("edge.4-5.op.0.weight.mu")
    );
    assert_eq!(new(dec, "input.mean"), vec![0.0, 0.0]);
    assert_eq!(new(dec, "input.std"), vec![1.0, 1.0]);
    // Bernoulli: the decoder's logits map to the data's range, 0 + 255·σ(y).
    assert!(halves.output.sigmoid);
    assert_eq!(
        (halves.output.offset.clone(), halves.output.scale.clone()),
        (vec![0.0], vec![255.0])
    );
    let mut y = vec![0.0, 100.0];
    halves.output.apply(&mut y);
    assert_eq!(y, vec![127.5, 255.0]);
}

#[test]
fn an_interior_gate_folds_its_value_into_the_decoder() {
    let f = parse(
        r#"{ op = "code", dims = 3, gate = { form = "interior" } }"#,
        "",
    )
    .expect("valid");
    let ck = checkpoint(&f, &[1.0, -2.0, 0.0]);
    let halves = split(&ck).expect("splits");
    // Only σ(1) > ½; its factor σ(1) scales μ and σ² by σ(1)².
    let g = 1.0 / (1.0 + (-1.0f64).exp());
    assert_eq!(halves.kept.len(), 1);
    assert!((halves.kept[0].1 - g).abs() < 1e-12);
    let old = ck
        .get("edge.3-4.op.0.weight.mu")
        .expect("present")
        .data
        .clone();
    let old_s = ck
        .get("edge.3-4.op.0.weight.log_sigma2")
        .expect("present")
        .data
        .clone();
    let mu = &halves
        .decoder
        .get("edge.0-1.op.0.weight.mu")
        .expect("present")
        .data;
    let s2 = &halves
        .decoder
        .get("edge.0-1.op.0.weight.log_sigma2")
        .expect("present")
        .data;
    for r in 0..5 {
        assert!((f64::from(mu[r]) - f64::from(old[r * 3]) * g).abs() < 1e-3);
        assert!((f64::from(s2[r]) - (f64::from(old_s[r * 3]) + 2.0 * g.ln())).abs() < 1e-3);
    }
}

#[test]
fn a_split_with_every_gate_shut_or_of_another_task_is_refused() {
    let f = parse(CODE, "").expect("valid");
    let err = split(&checkpoint(&f, &[-1.0, -2.0, -3.0])).expect_err("no code");
    assert!(err.to_string().contains("keeps none of its 3"), "{err}");
    let lenet = Family::from_path(crate::zoo("lenet-300-100.toml")).expect("valid");
    let err = split(&checkpoint(&lenet, &[])).expect_err("not a VAE");
    assert!(err.to_string().contains("not a VAE"), "{err}");
}
