//! Chains of layers run as one `ArdentMlp` against tract's own graph (products, bias Adds and
//! ReLUs as tract builds them) on random inputs at every batch, and its dense layer against a
//! plain f64 loop.

use crate::assert_close;
use crate::sparse::weights;
use ardent_data::SplitMix64;
use ardent_exporter::onnx::{GraphBuilder, WeightType, encode};
use ardent_runtime::ops::dense::DenseProduct;
use ardent_runtime::{LoadOptions, Model, RewriteOptions};
use tract_nnef::prelude::*;

const BATCHES: [usize; 10] = [1, 2, 3, 4, 15, 16, 17, 33, 64, 256];

fn load(bytes: &[u8], rewrite: RewriteOptions, batch: Option<usize>) -> Model {
    Model::load_bytes(bytes, "layers.onnx", LoadOptions { batch, rewrite }).expect("load")
}

fn tract_only() -> RewriteOptions {
    RewriteOptions {
        tract_only: true,
        ..RewriteOptions::default()
    }
}

/// The file's outputs with ardent's rewrite against tract's graph, at every batch with the
/// batch symbolic and at fixed batches 1 to 4 and 17; returns the rewritten model's report.
/// A fixed batch reports what the symbolic one does, except that at one sample a chain of
/// dense layers alone is fused too ([`dense_layers_alone_are_ours_at_a_fixed_batch_of_one`]).
fn check(bytes: &[u8], k: usize, name: &str) -> Vec<ardent_runtime::Rewrite> {
    let tract = load(bytes, tract_only(), None);
    let ours = load(bytes, RewriteOptions::default(), None);
    let mut rng = SplitMix64(11);
    for batch in BATCHES {
        let x: Vec<f32> = (0..batch * k)
            .map(|_| (rng.uniform() * 4.0 - 2.0) as f32)
            .collect();
        assert_close(
            &ours.run(&x).expect("run ours"),
            &tract.run(&x).expect("run tract's"),
            &format!("{name}, batch {batch}"),
        );
    }
    let chained = ours.rewrites().iter().any(|r| r.kind == "layers");
    for batch in [1, 2, 3, 4, 17] {
        let fixed = load(bytes, RewriteOptions::default(), Some(batch));
        if chained || batch > 1 {
            assert_eq!(fixed.rewrites(), ours.rewrites(), "{name}, batch {batch}");
        }
        let x: Vec<f32> = (0..batch * k)
            .map(|_| (rng.uniform() * 4.0 - 2.0) as f32)
            .collect();
        assert_close(
            &fixed.run(&x).expect("run fixed"),
            &tract.run(&x).expect("run tract's"),
            &format!("{name}, fixed batch {batch}"),
        );
    }
    ours.rewrites().to_vec()
}

/// How a layer of [`mlp`] ends.
#[derive(Clone, Copy)]
enum Bias {
    /// Gemm with a bias of one value per output.
    PerOutput,
    /// MatMul, then an Add of one value for every output.
    Scalar,
    /// MatMul alone.
    None,
}

/// An MLP for [`mlp`]: `widths[0]` inputs, then a layer per further width, its weights kept
/// at its density, ending in its kind of bias, and a ReLU after each layer but the last
/// (after the last too when `relu_last`).
struct Spec<'a> {
    widths: &'a [usize],
    densities: &'a [f64],
    biases: &'a [Bias],
    relu_last: bool,
}

fn mlp(spec: &Spec, seed: u64) -> Vec<u8> {
    let Spec {
        widths,
        densities,
        biases,
        relu_last,
    } = *spec;
    let mut rng = SplitMix64(seed);
    let mut g = GraphBuilder::new();
    let mut x = "x".to_string();
    let layers = widths.len() - 1;
    for i in 0..layers {
        let (k, n) = (widths[i], widths[i + 1]);
        let w = g.weight(
            &format!("w{i}"),
            &[k, n],
            &weights(&mut rng, k * n, densities[i]),
            WeightType::F32,
        );
        let h = format!("h{i}");
        match biases[i] {
            Bias::PerOutput => {
                let b = g.weight(
                    &format!("b{i}"),
                    &[n],
                    &weights(&mut rng, n, 1.0),
                    WeightType::F32,
                );
                g.node("Gemm", &[&x, &w, &b], &h, &[]);
            }
            Bias::Scalar => {
                let b = g.weight(&format!("b{i}"), &[1], &[0.25], WeightType::F32);
                g.node("MatMul", &[&x, &w], &format!("{h}.p"), &[]);
                g.node("Add", &[&format!("{h}.p"), &b], &h, &[]);
            }
            Bias::None => {
                g.node("MatMul", &[&x, &w], &h, &[]);
            }
        }
        x = h;
        if i + 1 < layers || relu_last {
            let r = format!("r{i}");
            g.node("Relu", &[&x], &r, &[]);
            x = r;
        }
    }
    g.node("Identity", &[&x], "y", &[]);
    encode(&g.finish("mlp", ("x", &[widths[0]]), ("y", &[widths[layers]])))
}

#[test]
fn a_chain_of_sparse_and_dense_layers_matches_tract() {
    let cases = [
        // A pruned LeNet-300-100's shape: sparse, then two dense layers.
        Spec {
            widths: &[784, 98, 80, 10],
            densities: &[0.025, 0.13, 0.5],
            biases: &[Bias::PerOutput; 3],
            relu_last: false,
        },
        // Dense, then sparse with a ReLU on the output.
        Spec {
            widths: &[40, 33, 17],
            densities: &[1.0, 0.04],
            biases: &[Bias::PerOutput; 2],
            relu_last: true,
        },
        // No biases, a scalar bias, sparse between dense.
        Spec {
            widths: &[60, 50, 40, 9],
            densities: &[0.8, 0.03, 1.0],
            biases: &[Bias::None, Bias::Scalar, Bias::None],
            relu_last: false,
        },
        // One sparse layer.
        Spec {
            widths: &[300, 20],
            densities: &[0.01],
            biases: &[Bias::PerOutput],
            relu_last: true,
        },
        // Every layer sparse.
        Spec {
            widths: &[200, 100, 50],
            densities: &[0.02, 0.04],
            biases: &[Bias::Scalar, Bias::PerOutput],
            relu_last: false,
        },
    ];
    for (i, spec) in cases.iter().enumerate() {
        let (widths, relu_last) = (spec.widths, spec.relu_last);
        let bytes = mlp(spec, i as u64);
        let name = format!("{widths:?}");
        let report = check(&bytes, widths[0], &name);
        let chains: Vec<_> = report.iter().filter(|r| r.kind == "layers").collect();
        assert_eq!(chains.len(), 1, "{name}: {report:?}");
        let chain = chains[0];
        assert_eq!(chain.replaced_by, Some("ArdentMlp"));
        assert_eq!((chain.k, chain.n), (widths[0], widths[widths.len() - 1]));
        let kept: usize = report
            .iter()
            .filter(|r| r.kind == "product")
            .map(|r| r.kept)
            .sum();
        assert_eq!(chain.kept, kept, "{name}");
        // One description per layer, each saying how it runs.
        assert_eq!(
            chain.reason.split("; ").count(),
            widths.len() - 1,
            "{}",
            chain.reason
        );
        for (line, product) in chain
            .reason
            .split("; ")
            .zip(report.iter().filter(|r| r.kind == "product"))
        {
            let sparse = product.replaced_by == Some("ArdentSparseDense");
            assert!(
                line.contains(if sparse { "sparse" } else { "dense" }),
                "{line}"
            );
        }
        let relus = chain.reason.matches("ReLU").count();
        assert_eq!(
            relus,
            widths.len() - 2 + usize::from(relu_last),
            "{}",
            chain.reason
        );
    }
}

#[test]
fn a_layer_read_twice_ends_its_chain() {
    // x → Gemm → Relu → h, read by the next Gemm and by the output sum.
    let mut rng = SplitMix64(3);
    let mut g = GraphBuilder::new();
    let w1 = g.weight(
        "w1",
        &[30, 40],
        &weights(&mut rng, 1200, 0.03),
        WeightType::F32,
    );
    let b1 = g.weight("b1", &[40], &weights(&mut rng, 40, 1.0), WeightType::F32);
    let w2 = g.weight(
        "w2",
        &[40, 40],
        &weights(&mut rng, 1600, 0.02),
        WeightType::F32,
    );
    g.node("Gemm", &["x", &w1, &b1], "h0", &[]);
    g.node("Relu", &["h0"], "h", &[]);
    g.node("MatMul", &["h", &w2], "p", &[]);
    g.node("Add", &["p", "h"], "y", &[]);
    let bytes = encode(&g.finish("shared", ("x", &[30]), ("y", &[40])));
    let report = check(&bytes, 30, "shared");
    let chains: Vec<_> = report.iter().filter(|r| r.kind == "layers").collect();
    assert_eq!(chains.len(), 2, "{report:?}");
    assert!(chains[0].reason.contains("ReLU") && chains[0].reason.contains("sparse"));
    assert!(
        chains[1].reason.contains("sparse") && !chains[1].reason.contains("ReLU"),
        "{}",
        chains[1].reason
    );
}

/// Dense layers alone stay tract's products with the batch symbolic or fixed above one sample,
/// and become one `ArdentMlp` at a fixed batch of one.
#[test]
fn dense_layers_alone_are_ours_at_a_fixed_batch_of_one() {
    let spec = Spec {
        widths: &[40, 33, 17],
        densities: &[1.0, 0.6],
        biases: &[Bias::PerOutput; 2],
        relu_last: true,
    };
    let bytes = mlp(&spec, 8);
    let report = check(&bytes, 40, "dense");
    assert!(report.iter().all(|r| r.replaced_by.is_none()), "{report:?}");
    for batch in [2, 3, 17, 64] {
        let m = load(&bytes, RewriteOptions::default(), Some(batch));
        assert!(
            m.rewrites().iter().all(|r| r.replaced_by.is_none()),
            "batch {batch}: {:?}",
            m.rewrites()
        );
    }
    let m = load(&bytes, RewriteOptions::default(), Some(1));
    let chains: Vec<_> = m.rewrites().iter().filter(|r| r.kind == "layers").collect();
    assert_eq!(chains.len(), 1, "batch 1: {:?}", m.rewrites());
    assert_eq!(chains[0].replaced_by, Some("ArdentMlp"));
    let layers: Vec<&str> = chains[0].reason.split("; ").collect();
    assert_eq!(layers.len(), 2, "{}", chains[0].reason);
    assert!(layers[0].starts_with("40→33 dense") && layers[1].starts_with("33→17 dense"));
}

#[test]
fn no_sparse_and_tract_ops_keep_tracts_products() {
    let spec = Spec {
        widths: &[50, 20, 5],
        densities: &[0.02, 1.0],
        biases: &[Bias::PerOutput; 2],
        relu_last: false,
    };
    let bytes = mlp(&spec, 9);
    for rewrite in [
        tract_only(),
        RewriteOptions {
            keep_dense: true,
            ..RewriteOptions::default()
        },
    ] {
        let m = load(&bytes, rewrite, None);
        assert!(
            m.rewrites().iter().all(|r| r.replaced_by.is_none()),
            "{:?}",
            m.rewrites()
        );
    }
}

/// The dense layer alone against an f64 loop: a few samples (one by one) and batches (tract-
/// linalg's kernels), with and without the ReLU.
#[test]
fn the_dense_layer_matches_a_plain_loop() {
    let mut rng = SplitMix64(5);
    for &(n, k) in &[(1, 1), (3, 70), (80, 102), (10, 80), (33, 5)] {
        for relu in [false, true] {
            let w = weights(&mut rng, n * k, 1.0);
            let b = weights(&mut rng, n, 1.0);
            let layer = DenseProduct::new(n, k, &w, Some(&b), relu).expect("layer");
            for m in (1..=9).chain([16, 17, 256]) {
                // Zeros among the inputs, as after a ReLU: the per-sample loop skips them.
                let x = weights(&mut rng, m * k, 0.7);
                let xt = tract_ndarray::Array2::from_shape_vec((m, k), x.clone())
                    .expect("x")
                    .into_tensor();
                let mut y = Tensor::zero::<f32>(&[m, n]).expect("y");
                layer.compute(&xt, &mut y).expect("compute");
                let y = y
                    .try_as_plain_ram()
                    .expect("plain")
                    .as_slice::<f32>()
                    .expect("f32");
                for s in 0..m {
                    for r in 0..n {
                        let terms =
                            (0..k).map(|c| f64::from(x[s * k + c]) * f64::from(w[r * k + c]));
                        let mut e: f64 = terms.clone().sum::<f64>() + f64::from(b[r]);
                        if relu {
                            e = e.max(0.0);
                        }
                        let scale: f64 = terms.map(f64::abs).sum::<f64>() + f64::from(b[r].abs());
                        let got = f64::from(y[s * n + r]);
                        assert!(
                            (got - e).abs() <= 2e-6 * scale.max(1.0),
                            "{n}×{k}, relu {relu}, batch {m}, [{s}, {r}]: {got} against {e}"
                        );
                    }
                }
            }
        }
    }
    assert!(DenseProduct::new(2, 3, &[1.0; 5], None, false).is_err());
    assert!(DenseProduct::new(2, 3, &[1.0; 6], Some(&[0.0; 3]), false).is_err());
}
