//! ardent's sparse product against tract's own dense one (the graph left unreplaced) and
//! against a plain f64 loop, over densities from 0.1 % to 100 % and batches from 1 to 256.

use crate::assert_close;
use ardent_data::SplitMix64;
use ardent_exporter::onnx::{Attr, GraphBuilder, WeightType, encode};
use ardent_runtime::ops::sparse_dense::{Epilogue, SparseDense};
use ardent_runtime::{LoadOptions, Model, Rewrite, RewriteOptions, SPARSE_MAX_DENSITY};

const BATCHES: [usize; 12] = [1, 2, 3, 4, 5, 15, 16, 17, 19, 33, 64, 256];
const DENSITIES: [f64; 7] = [0.001, 0.01, 0.05, 0.2, 0.5, 0.9, 1.0];

/// Gaussian-ish weights with about `density` of them kept (at least one per matrix).
pub(crate) fn weights(rng: &mut SplitMix64, len: usize, density: f64) -> Vec<f32> {
    let mut w: Vec<f32> = (0..len)
        .map(|_| {
            let keep = rng.uniform() < density;
            let v = (rng.uniform() * 2.0 - 1.0) as f32;
            if keep { v } else { 0.0 }
        })
        .collect();
    if w.iter().all(|v| *v == 0.0) {
        w[rng.below(len as u64) as usize] = 0.75;
    }
    w
}

fn inputs(rng: &mut SplitMix64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| (rng.uniform() * 4.0 - 2.0) as f32)
        .collect()
}

fn options(keep_dense: bool, max_density: f64) -> LoadOptions {
    LoadOptions {
        batch: None,
        rewrite: RewriteOptions {
            tract_only: false,
            keep_dense,
            max_density,
        },
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The report's lines on single products (the chains they form come after them).
fn products(m: &Model) -> Vec<Rewrite> {
    m.rewrites()
        .iter()
        .filter(|r| r.kind == "product")
        .cloned()
        .collect()
}

/// Both loads of `bytes` (tract's dense products, and every product sparse) on the same
/// random batches.
fn check_against_dense(bytes: &[u8], name: &str, per_sample: usize, expect_replaced: usize) {
    check_rewritten(bytes, name, per_sample, 1.0, expect_replaced)
}

/// The graph as tract builds it against the rewritten one with the cut-off at `max_density`.
fn check_rewritten(
    bytes: &[u8],
    name: &str,
    per_sample: usize,
    max_density: f64,
    expect_replaced: usize,
) {
    let dense = Model::load_bytes(bytes, name, options(true, 1.0)).expect("load dense");
    let sparse = Model::load_bytes(bytes, name, options(false, max_density)).expect("load sparse");
    assert!(dense.rewrites().iter().all(|r| r.replaced_by.is_none()));
    let replaced = sparse
        .rewrites()
        .iter()
        .filter(|r| r.replaced_by == Some("ArdentSparseDense"))
        .count();
    assert_eq!(replaced, expect_replaced, "{name}: {:?}", sparse.rewrites());
    let mut rng = SplitMix64(7);
    for batch in BATCHES {
        let x = inputs(&mut rng, batch * per_sample);
        let a = sparse.run(&x).expect("run sparse");
        let b = dense.run(&x).expect("run dense");
        assert_close(&a, &b, &format!("{name}, batch {batch}"));
    }
    // Loaded for one batch size (as `run --batch` and `bench` load), where tract drops an
    // axis of size 1: the same products replaced, the same outputs (at batch 1, chains of
    // dense layers alone are fused as well, so only the products' lines are compared).
    let products = |m: &Model| -> Vec<ardent_runtime::Rewrite> {
        m.rewrites()
            .iter()
            .filter(|r| r.kind == "product")
            .cloned()
            .collect()
    };
    for batch in [1, 17] {
        let options = LoadOptions {
            batch: Some(batch),
            ..options(false, max_density)
        };
        let fixed = Model::load_bytes(bytes, name, options).expect("load at a fixed batch");
        assert_eq!(products(&fixed), products(&sparse), "{name}, batch {batch}");
        if batch > 1 {
            assert_eq!(fixed.rewrites(), sparse.rewrites(), "{name}, batch {batch}");
        }
        let x = inputs(&mut rng, batch * per_sample);
        let a = fixed.run(&x).expect("run fixed");
        let b = dense.run(&x).expect("run dense");
        assert_close(&a, &b, &format!("{name}, fixed batch {batch}"));
    }
}

/// x [k0] → Gemm (weight [n1, k0], transB) → Relu → Gemm (weight [n1, n2]) → y.
fn mlp(k0: usize, n1: usize, n2: usize, d1: f64, d2: f64, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64(seed);
    let mut g = GraphBuilder::new();
    let w1 = g.weight(
        "w1",
        &[n1, k0],
        &weights(&mut rng, n1 * k0, d1),
        WeightType::F32,
    );
    let b1 = g.weight("b1", &[n1], &inputs(&mut rng, n1), WeightType::F32);
    let w2 = g.weight(
        "w2",
        &[n1, n2],
        &weights(&mut rng, n1 * n2, d2),
        WeightType::F32,
    );
    let b2 = g.weight("b2", &[n2], &inputs(&mut rng, n2), WeightType::F32);
    g.node("Gemm", &["x", &w1, &b1], "h", &[("transB", Attr::Int(1))]);
    g.node("Relu", &["h"], "r", &[]);
    g.node("Gemm", &["r", &w2, &b2], "y", &[]);
    encode(&g.finish("mlp", ("x", &[k0]), ("y", &[n2])))
}

#[test]
fn sparse_mlp_layers_match_tract_at_every_density_and_batch() {
    for (i, &d) in DENSITIES.iter().enumerate() {
        let bytes = mlp(97, 40, 7, d, DENSITIES[DENSITIES.len() - 1 - i], i as u64);
        check_against_dense(&bytes, &format!("mlp at density {d}"), 97, 2);
    }
    // The widths of a pruned LeNet-300-100 at its kept density.
    let bytes = mlp(784, 98, 85, 0.04, 0.1, 11);
    check_against_dense(&bytes, "784-98-85", 784, 2);
}

#[test]
fn a_flattened_image_into_a_sparse_product_matches_tract() {
    // tract folds the Flatten into its product, which then sums over three input axes.
    let mut rng = SplitMix64(3);
    let mut g = GraphBuilder::new();
    let w = g.weight(
        "w",
        &[6, 18],
        &weights(&mut rng, 6 * 18, 0.3),
        WeightType::F32,
    );
    let b = g.weight("b", &[6], &inputs(&mut rng, 6), WeightType::F32);
    g.node("Flatten", &["x"], "f", &[("axis", Attr::Int(1))]);
    g.node("Gemm", &["f", &w, &b], "y", &[("transB", Attr::Int(1))]);
    let bytes = encode(&g.finish("flat", ("x", &[2, 3, 3]), ("y", &[6])));
    check_against_dense(&bytes, "flatten-gemm", 18, 1);
}

#[test]
fn a_matmul_without_bias_runs_sparse() {
    let mut rng = SplitMix64(5);
    let mut g = GraphBuilder::new();
    let w = g.weight("w", &[30, 4], &weights(&mut rng, 120, 0.1), WeightType::F32);
    g.node("MatMul", &["x", &w], "y", &[]);
    let bytes = encode(&g.finish("mm", ("x", &[30]), ("y", &[4])));
    check_against_dense(&bytes, "matmul", 30, 1);
}

#[test]
fn the_cut_off_decides_and_the_report_says_why() {
    let bytes = mlp(50, 20, 5, 0.02, 1.0, 9);
    let m = Model::load_bytes(&bytes, "cut.onnx", LoadOptions::default()).expect("load");
    let r: Vec<_> = products(&m);
    assert_eq!(r.len(), 2, "{r:?}");
    let (first, second) = (&r[0], &r[1]);
    assert_eq!((first.k, first.n), (50, 20));
    assert_eq!(first.replaced_by, Some("ArdentSparseDense"));
    assert!(
        first.reason.contains("under the cut-off"),
        "{}",
        first.reason
    );
    assert_eq!((second.k, second.n, second.kept), (20, 5, 100));
    assert_eq!(second.replaced_by, None);
    assert!(second.reason.contains("100.00 %"), "{}", second.reason);
    assert!(
        second.reason.contains("over the cut-off"),
        "{}",
        second.reason
    );
    assert!(first.kept as f64 / 1000.0 <= SPARSE_MAX_DENSITY);

    let off = Model::load_bytes(&bytes, "cut.onnx", options(true, SPARSE_MAX_DENSITY))
        .expect("load dense");
    assert!(
        off.rewrites()
            .iter()
            .all(|r| r.replaced_by.is_none() && r.reason.contains("turned off"))
    );
}

/// The kernel alone against an f64 loop: both the per-sample and the blocked paths, tails
/// of every length, and a matrix with no weight kept.
#[test]
fn the_kernel_matches_a_plain_loop() {
    let mut rng = SplitMix64(1);
    for &(n, k) in &[(1, 1), (3, 70), (33, 5), (64, 300)] {
        for &d in DENSITIES.iter().chain(&[0.0]) {
            let mut w = weights(&mut rng, n * k, d);
            if d == 0.0 {
                w.fill(0.0);
            }
            let op = SparseDense::from_rows(n, k, &w).expect("op");
            assert_eq!(op.nnz(), w.iter().filter(|v| **v != 0.0).count());
            for m in (1..=40).chain([255, 256]) {
                let x = inputs(&mut rng, m * k);
                let mut y = vec![f32::NAN; m * n];
                op.compute(&x, &mut y);
                // The loop for the CPU's widest vectors gives the baseline loop's bits, with
                // and without a bias and ReLU.
                let mut plain = vec![f32::NAN; m * n];
                op.compute_baseline(&x, &mut plain, Epilogue::NONE);
                assert_eq!(bits(&y), bits(&plain), "{n}×{k} at density {d}, batch {m}");
                let bias: Vec<f32> = (0..n).map(|r| r as f32 * 0.25 - 1.0).collect();
                let epilogue = Epilogue {
                    bias: Some(&bias),
                    relu: true,
                };
                let mut fused = vec![f32::NAN; m * n];
                op.compute_with(&x, &mut fused, epilogue);
                op.compute_baseline(&x, &mut plain, epilogue);
                assert_eq!(
                    bits(&fused),
                    bits(&plain),
                    "{n}×{k}, bias and ReLU, batch {m}"
                );
                for (i, (f, v)) in fused.iter().zip(&y).enumerate() {
                    assert_eq!(*f, (v + bias[i % n]).max(0.0), "{n}×{k}, batch {m}, [{i}]");
                }
                for s in 0..m {
                    for r in 0..n {
                        let terms =
                            (0..k).map(|c| f64::from(x[s * k + c]) * f64::from(w[r * k + c]));
                        let e: f64 = terms.clone().sum();
                        // f32 sums err with the size of their terms, not of the result.
                        let scale: f64 = terms.map(f64::abs).sum();
                        let got = f64::from(y[s * n + r]);
                        assert!(
                            (got - e).abs() <= 2e-6 * scale.max(1.0),
                            "{n}×{k} at density {d}, batch {m}, [{s}, {r}]: {got} against {e}"
                        );
                    }
                }
            }
        }
    }
    assert!(SparseDense::from_rows(2, 3, &[1.0; 5]).is_err());
    assert!(SparseDense::from_rows(0, 3, &[]).is_err());
}

/// x → Gemm → Relu → h [n1]; Gather(h, i1) → g1 → Gemm → y1; Gather(g1, i2) → Gemm → y2;
/// y = y1 + y2 (+ the sum of g1's features when `shared`, a consumer that is no product).
fn gathered_heads(shared: bool, seed: u64) -> Vec<u8> {
    let (k0, n1, n2) = (23, 30, 7);
    let mut rng = SplitMix64(seed);
    let i1: Vec<i64> = (0..n1 as i64).filter(|i| i % 4 != 1).collect();
    // A repeated index and one counted from the end, as ONNX allows.
    let i2: Vec<i64> = vec![0, 3, 3, 5, -1, 9, 2];
    let mut g = GraphBuilder::new();
    let w1 = g.weight(
        "w1",
        &[n1, k0],
        &weights(&mut rng, n1 * k0, 0.6),
        WeightType::F32,
    );
    let b1 = g.weight("b1", &[n1], &inputs(&mut rng, n1), WeightType::F32);
    let w2 = g.weight(
        "w2",
        &[n2, i1.len()],
        &weights(&mut rng, n2 * i1.len(), 0.5),
        WeightType::F32,
    );
    let w3 = g.weight(
        "w3",
        &[i2.len(), n2],
        &weights(&mut rng, i2.len() * n2, 1.0),
        WeightType::F32,
    );
    let i1 = g.int64s("i1", &[i1.len()], &i1);
    let i2 = g.int64s("i2", &[i2.len()], &i2);
    g.node("Gemm", &["x", &w1, &b1], "h", &[("transB", Attr::Int(1))]);
    g.node("Relu", &["h"], "r", &[]);
    g.node("Gather", &["r", &i1], "g1", &[("axis", Attr::Int(1))]);
    g.node("Gemm", &["g1", &w2], "y1", &[("transB", Attr::Int(1))]);
    g.node("Gather", &["g1", &i2], "g2", &[("axis", Attr::Int(1))]);
    g.node("MatMul", &["g2", &w3], "y2", &[]);
    if shared {
        g.node("Add", &["y1", "y2"], "s", &[]);
        let axes = g.int64s("axes", &[1], &[1]);
        g.node(
            "ReduceSum",
            &["g1", &axes],
            "t",
            &[("keepdims", Attr::Int(1))],
        );
        g.node("Add", &["s", "t"], "y", &[]);
    } else {
        g.node("Add", &["y1", "y2"], "y", &[]);
    }
    encode(&g.finish("heads", ("x", &[k0]), ("y", &[n2])))
}

#[test]
fn gathers_of_input_features_fold_into_their_products() {
    let bytes = gathered_heads(false, 4);
    let m = Model::load_bytes(&bytes, "heads.onnx", options(false, 0.0)).expect("load");
    let folded: Vec<(usize, Vec<String>)> = products(&m)
        .iter()
        .map(|r| (r.k, r.folded_gathers.clone()))
        .collect();
    // Both heads now read the 30 units of h; the second through both gathers.
    assert_eq!(folded.len(), 3, "{:?}", m.rewrites());
    assert_eq!(folded[0], (23, vec![]));
    assert!(folded[1..].iter().all(|(k, _)| *k == 30), "{folded:?}");
    let mut gathers: Vec<usize> = folded[1..].iter().map(|(_, g)| g.len()).collect();
    gathers.sort();
    assert_eq!(gathers, [1, 2], "{folded:?}");
    check_rewritten(&bytes, "gathered heads", 23, 0.0, 0);
    // And with every product sparse as well.
    check_against_dense(&bytes, "gathered heads, sparse", 23, 3);
}

#[test]
fn a_gather_with_another_consumer_stays() {
    let bytes = gathered_heads(true, 6);
    let m = Model::load_bytes(&bytes, "shared.onnx", options(false, 0.0)).expect("load");
    // g2 feeds only a product and folds; g1 also feeds the sum, and stays.
    let gathers: usize = m.rewrites().iter().map(|r| r.folded_gathers.len()).sum();
    assert_eq!(gathers, 1, "{:?}", m.rewrites());
    check_rewritten(&bytes, "shared gather", 23, 0.0, 0);
}

/// h = ReLU(x·W + b); y = (h·A + a) + (h·B + b') + h·C: the three products of h fold into one,
/// as the demo's heads do. With a term read twice, nothing folds. Both against tract's graph.
#[test]
fn sums_of_products_of_one_input_fold_into_one() {
    for shared in [false, true] {
        let mut rng = SplitMix64(21);
        let mut g = GraphBuilder::new();
        let w = g.weight("w", &[12, 9], &weights(&mut rng, 108, 0.5), WeightType::F32);
        let b = g.weight("b", &[9], &inputs(&mut rng, 9), WeightType::F32);
        g.node("Gemm", &["x", &w, &b], "h0", &[]);
        g.node("Relu", &["h0"], "h", &[]);
        let mut heads = Vec::new();
        for (i, bias) in [true, true, false].into_iter().enumerate() {
            let wi = g.weight(
                &format!("w{i}"),
                &[9, 4],
                &weights(&mut rng, 36, 0.4),
                WeightType::F32,
            );
            let yi = format!("y{i}");
            if bias {
                let bi = g.weight(
                    &format!("b{i}"),
                    &[4],
                    &inputs(&mut rng, 4),
                    WeightType::F32,
                );
                g.node("Gemm", &["h", &wi, &bi], &yi, &[]);
            } else {
                g.node("MatMul", &["h", &wi], &yi, &[]);
            }
            heads.push(yi);
        }
        g.node("Add", &[&heads[0], &heads[1]], "s", &[]);
        let last = if shared { &heads[0] } else { &heads[2] };
        g.node("Add", &["s", last], "y", &[]);
        let bytes = encode(&g.finish("heads", ("x", &[12]), ("y", &[4])));
        let name = format!("heads, shared {shared}");
        let tract = Model::load_bytes(&bytes, &name, options(true, 1.0)).expect("load tract's");
        let ours = Model::load_bytes(&bytes, &name, LoadOptions::default()).expect("load ours");
        let sums = ours.rewrites().iter().filter(|r| r.kind == "sum").count();
        assert_eq!(sums, if shared { 0 } else { 2 }, "{:?}", ours.rewrites());
        let mut rng = SplitMix64(4);
        for batch in BATCHES {
            let x = inputs(&mut rng, batch * 12);
            let a = ours.run(&x).expect("run ours");
            let b = tract.run(&x).expect("run tract's");
            assert_close(&a, &b, &format!("{name}, batch {batch}"));
        }
    }
}
