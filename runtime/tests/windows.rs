//! ardent's convolution and max-pool against tract's own ops (the graph with nothing
//! replaced) on random inputs: LeNet-5's layers, padding, strides, dilation, kernels as large
//! as the image, batches from 1 to 64, and loads at a fixed batch.

use crate::assert_close;
use ardent_data::SplitMix64;
use ardent_exporter::onnx::{Attr, GraphBuilder, WeightType, encode};
use ardent_runtime::{LoadOptions, Model, RewriteOptions};

const BATCHES: [usize; 7] = [1, 2, 3, 5, 16, 17, 64];

fn values(rng: &mut SplitMix64, len: usize, scale: f64) -> Vec<f32> {
    (0..len)
        .map(|_| ((rng.uniform() * 2.0 - 1.0) * scale) as f32)
        .collect()
}

fn load(bytes: &[u8], name: &str, tract_only: bool, batch: Option<usize>) -> Model {
    let options = LoadOptions {
        batch,
        rewrite: RewriteOptions {
            tract_only,
            ..RewriteOptions::default()
        },
    };
    Model::load_bytes(bytes, name, options).expect("load")
}

/// tract's graph against ardent's on the same random batches; `replaced` is how many of the
/// graph's convolutions and pools ardent's ops must have taken over.
fn check(bytes: &[u8], name: &str, per_sample: usize, replaced: usize) {
    let tract = load(bytes, name, true, None);
    let ours = load(bytes, name, false, None);
    assert!(tract.rewrites().iter().all(|r| r.replaced_by.is_none()));
    let windows: Vec<_> = ours
        .rewrites()
        .iter()
        .filter(|r| r.kind == "conv" || r.kind == "max-pool")
        .collect();
    let taken = windows.iter().filter(|r| r.replaced_by.is_some()).count();
    assert_eq!(taken, replaced, "{name}: {windows:?}");
    let mut rng = SplitMix64(per_sample as u64);
    for batch in BATCHES {
        let x = values(&mut rng, batch * per_sample, 2.0);
        let a = ours.run(&x).expect("run ardent's");
        let b = tract.run(&x).expect("run tract's");
        assert_close(&a, &b, &format!("{name}, batch {batch}"));
    }
    for batch in [1, 6] {
        let fixed = load(bytes, name, false, Some(batch));
        let x = values(&mut rng, batch * per_sample, 2.0);
        let a = fixed.run(&x).expect("run fixed");
        let b = tract.run(&x).expect("run tract's");
        assert_close(&a, &b, &format!("{name}, fixed batch {batch}"));
    }
}

/// One Conv's attributes.
struct ConvCase {
    c: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kernel: [usize; 2],
    strides: [usize; 2],
    /// Top, left, bottom, right.
    pads: [usize; 4],
    dilations: [usize; 2],
    bias: bool,
}

impl ConvCase {
    fn out(&self) -> [usize; 2] {
        let o = |len: usize, k: usize, s: usize, d: usize, pad: usize| {
            (len + pad - d * (k - 1) - 1) / s + 1
        };
        [
            o(
                self.h,
                self.kernel[0],
                self.strides[0],
                self.dilations[0],
                self.pads[0] + self.pads[2],
            ),
            o(
                self.w,
                self.kernel[1],
                self.strides[1],
                self.dilations[1],
                self.pads[1] + self.pads[3],
            ),
        ]
    }

    /// x → Conv → y.
    fn model(&self, seed: u64) -> Vec<u8> {
        let mut rng = SplitMix64(seed);
        let mut g = GraphBuilder::new();
        let taps = self.c * self.kernel[0] * self.kernel[1];
        let w = g.weight(
            "w",
            &[self.c_out, self.c, self.kernel[0], self.kernel[1]],
            &values(&mut rng, self.c_out * taps, 1.0 / (taps as f64).sqrt()),
            WeightType::F32,
        );
        let mut inputs = vec!["x".to_string(), w];
        if self.bias {
            inputs.push(g.weight(
                "b",
                &[self.c_out],
                &values(&mut rng, self.c_out, 1.0),
                WeightType::F32,
            ));
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&d| d as i64).collect());
        g.node(
            "Conv",
            &inputs,
            "y",
            &[
                ("kernel_shape", ints(&self.kernel)),
                ("strides", ints(&self.strides)),
                ("pads", ints(&self.pads)),
                ("dilations", ints(&self.dilations)),
            ],
        );
        let [oh, ow] = self.out();
        encode(&g.finish(
            "conv",
            ("x", &[self.c, self.h, self.w]),
            ("y", &[self.c_out, oh, ow]),
        ))
    }
}

fn conv(c: usize, h: usize, w: usize, c_out: usize, k: [usize; 2]) -> ConvCase {
    ConvCase {
        c,
        h,
        w,
        c_out,
        kernel: k,
        strides: [1, 1],
        pads: [0; 4],
        dilations: [1, 1],
        bias: true,
    }
}

#[test]
fn convolutions_match_tract() {
    let cases = [
        // LeNet-5's two.
        conv(1, 28, 28, 20, [5, 5]),
        conv(20, 12, 12, 50, [5, 5]),
        ConvCase {
            pads: [1; 4],
            ..conv(3, 9, 7, 5, [3, 3])
        },
        ConvCase {
            strides: [2, 3],
            pads: [1, 0, 2, 1],
            ..conv(2, 10, 11, 7, [3, 2])
        },
        ConvCase {
            dilations: [2, 2],
            pads: [2; 4],
            ..conv(4, 9, 9, 3, [3, 3])
        },
        // (tract turns a 1×1 convolution into a product before the rewrite sees it.)
        ConvCase {
            bias: false,
            ..conv(1, 5, 5, 1, [1, 2])
        },
        // The kernel covers the whole image: one output position.
        conv(3, 6, 6, 17, [6, 6]),
        // More positions than a tile, fewer channels than a tile's columns.
        conv(2, 33, 31, 3, [2, 4]),
    ];
    for (i, case) in cases.iter().enumerate() {
        let name = format!(
            "conv {}×{}×{} → {} k{:?} s{:?} p{:?} d{:?}",
            case.c,
            case.h,
            case.w,
            case.c_out,
            case.kernel,
            case.strides,
            case.pads,
            case.dilations
        );
        check(&case.model(i as u64), &name, case.c * case.h * case.w, 1);
    }
}

/// x → MaxPool → y.
fn pool(
    c: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    ceil: bool,
) -> Vec<u8> {
    let o = |len: usize, k: usize, s: usize, pad: usize| {
        let span = len + pad - k;
        if ceil {
            span.div_ceil(s) + 1
        } else {
            span / s + 1
        }
    };
    let oh = o(hw[0], kernel[0], strides[0], pads[0] + pads[2]);
    let ow = o(hw[1], kernel[1], strides[1], pads[1] + pads[3]);
    let ints = |v: &[usize]| Attr::Ints(v.iter().map(|&d| d as i64).collect());
    let mut g = GraphBuilder::new();
    g.node(
        "MaxPool",
        &["x"],
        "y",
        &[
            ("kernel_shape", ints(&kernel)),
            ("strides", ints(&strides)),
            ("pads", ints(&pads)),
            ("ceil_mode", Attr::Int(ceil as i64)),
        ],
    );
    encode(&g.finish("pool", ("x", &[c, hw[0], hw[1]]), ("y", &[c, oh, ow])))
}

#[test]
fn max_pools_match_tract() {
    let cases = [
        // LeNet-5's first, on its own loop.
        (20, [24, 24], [2, 2], [2, 2], [0; 4], false),
        // An odd size: the last row and column are dropped.
        (3, [7, 7], [2, 2], [2, 2], [0; 4], false),
        (3, [7, 7], [2, 2], [2, 2], [0; 4], true),
        (3, [7, 7], [3, 3], [2, 2], [1; 4], false),
        (2, [8, 9], [3, 3], [1, 1], [0; 4], false),
        (2, [6, 6], [2, 3], [1, 2], [0, 1, 1, 0], false),
        (1, [1, 1], [1, 1], [1, 1], [0; 4], false),
    ];
    for &(c, hw, k, s, p, ceil) in &cases {
        let name = format!("max-pool {c}×{hw:?} k{k:?} s{s:?} p{p:?} ceil {ceil}");
        check(&pool(c, hw, k, s, p, ceil), &name, c * hw[0] * hw[1], 1);
    }
}

/// LeNet-5-Caffe as ardent exports it, at random weights: conv → pool → conv → pool →
/// flatten → dense → ReLU → dense.
#[test]
fn a_lenet5_matches_tract_and_reports_what_it_replaced() {
    let mut rng = SplitMix64(5);
    let mut g = GraphBuilder::new();
    let mut weight = |g: &mut GraphBuilder, name: &str, dims: &[usize], fan_in: usize| {
        let len = dims.iter().product();
        g.weight(
            name,
            dims,
            &values(&mut rng, len, 1.0 / (fan_in as f64).sqrt()),
            WeightType::F32,
        )
    };
    let w1 = weight(&mut g, "w1", &[20, 1, 5, 5], 25);
    let b1 = weight(&mut g, "b1", &[20], 1);
    let w2 = weight(&mut g, "w2", &[50, 20, 5, 5], 500);
    let b2 = weight(&mut g, "b2", &[50], 1);
    let w3 = weight(&mut g, "w3", &[800, 500], 800);
    let b3 = weight(&mut g, "b3", &[500], 1);
    let w4 = weight(&mut g, "w4", &[500, 10], 500);
    let b4 = weight(&mut g, "b4", &[10], 1);
    let k = |v: i64| Attr::Ints(vec![v, v]);
    g.node("Conv", &["x", &w1, &b1], "c1", &[("kernel_shape", k(5))]);
    g.node(
        "MaxPool",
        &["c1"],
        "p1",
        &[("kernel_shape", k(2)), ("strides", k(2))],
    );
    g.node("Conv", &["p1", &w2, &b2], "c2", &[("kernel_shape", k(5))]);
    g.node(
        "MaxPool",
        &["c2"],
        "p2",
        &[("kernel_shape", k(2)), ("strides", k(2))],
    );
    g.node("Flatten", &["p2"], "f", &[("axis", Attr::Int(1))]);
    g.node("Gemm", &["f", &w3, &b3], "h", &[]);
    g.node("Relu", &["h"], "r", &[]);
    g.node("Gemm", &["r", &w4, &b4], "y", &[]);
    let bytes = encode(&g.finish("lenet5", ("x", &[1, 28, 28]), ("y", &[10])));
    check(&bytes, "lenet5", 784, 4);
    let m = load(&bytes, "lenet5", false, None);
    let kinds: Vec<(&str, Option<&str>, usize, usize)> = m
        .rewrites()
        .iter()
        .filter(|r| r.kind == "conv" || r.kind == "max-pool")
        .map(|r| (r.kind, r.replaced_by, r.k, r.n))
        .collect();
    assert_eq!(
        kinds,
        [
            ("conv", Some("ArdentConv2d"), 25, 20),
            ("max-pool", Some("ArdentMaxPool2d"), 4, 20),
            ("conv", Some("ArdentConv2d"), 500, 50),
            ("max-pool", Some("ArdentMaxPool2d"), 4, 50),
        ]
    );
}

/// A grouped convolution is not one ardent's op takes: it stays tract's, and the report says
/// why.
#[test]
fn a_grouped_convolution_stays_tracts() {
    let mut rng = SplitMix64(9);
    let mut g = GraphBuilder::new();
    let w = g.weight(
        "w",
        &[4, 1, 3, 3],
        &values(&mut rng, 36, 0.3),
        WeightType::F32,
    );
    g.node(
        "Conv",
        &["x", &w],
        "y",
        &[
            ("kernel_shape", Attr::Ints(vec![3, 3])),
            ("group", Attr::Int(2)),
        ],
    );
    let bytes = encode(&g.finish("grouped", ("x", &[2, 5, 5]), ("y", &[4, 3, 3])));
    check(&bytes, "grouped", 50, 0);
    let m = load(&bytes, "grouped", false, None);
    let r = &m.rewrites()[0];
    assert_eq!((r.kind, r.replaced_by), ("conv", None));
    assert_eq!(r.reason, "2 groups");
}

/// conv → ReLU, the ReLU taken into ardent's convolution; and the same with the convolution's
/// output also read elsewhere, where it must stay a node of its own.
#[test]
fn a_relu_after_a_convolution_runs_in_its_kernel() {
    for shared in [false, true] {
        let mut rng = SplitMix64(11);
        let mut g = GraphBuilder::new();
        let w = g.weight(
            "w",
            &[6, 2, 3, 3],
            &values(&mut rng, 108, 0.3),
            WeightType::F32,
        );
        let b = g.weight("b", &[6], &values(&mut rng, 6, 0.5), WeightType::F32);
        let pads = Attr::Ints(vec![1; 4]);
        let k = Attr::Ints(vec![3, 3]);
        g.node(
            "Conv",
            &["x", &w, &b],
            "c",
            &[("kernel_shape", k), ("pads", pads)],
        );
        g.node("Relu", &["c"], "r", &[]);
        if shared {
            g.node("Add", &["r", "c"], "y", &[]);
        } else {
            g.node("Identity", &["r"], "y", &[]);
        }
        let bytes = encode(&g.finish("conv-relu", ("x", &[2, 7, 6]), ("y", &[6, 7, 6])));
        let name = format!("conv-relu, output shared {shared}");
        check(&bytes, &name, 84, 1);
        let m = load(&bytes, &name, false, None);
        let conv = &m.rewrites()[0];
        assert_eq!(conv.kind, "conv");
        assert_eq!(
            conv.reason.contains("ReLU fused"),
            !shared,
            "{}",
            conv.reason
        );
    }
}
