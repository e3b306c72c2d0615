//! The fused operations against burn's plain ones: the variational conv on the same noise
//! (outputs and the gradients of x, μ and log σ² within 1e-5 relative, with and without
//! padding, stride and a mask), max-pooling, exp and Adam. The KL's fused gradient is held to
//! burn's in `kl.rs`.

use burn::module::Param;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

use ardent_trainer::ops::elementwise::{self, exp_f32};
use ardent_trainer::ops::fused::{fused_available, noise, variational_conv2d, variational_dense};
use ardent_trainer::ops::matmul::{PackedLhs, matmul, matmul_packed, matmul_parallel};
use ardent_trainer::ops::variance;

use crate::device;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32")
}

fn filled<const D: usize>(shape: [usize; D], seed: f32, dev: &Device) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i as f32 + seed) * 0.618).sin() * 1.3)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), dev)
}

fn close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * scale,
            "{what}[{i}]: {x} vs {y} (scale {scale})"
        );
    }
}

#[test]
fn fused_conv_matches_burns_convolutions_in_value_and_gradient() {
    let _serial = crate::serial();
    let ad = device().autodiff();
    assert!(fused_available(&ad) && fused_available(&device()));
    for (ci, co, k, hw, stride, padding, masked) in [
        (1, 3, 5, 12, 1, 0, false),
        (3, 4, 3, 9, 1, 1, true),
        (2, 5, 3, 10, 2, 1, false),
        (4, 2, 1, 6, 2, 0, true),
        (2, 3, 5, 7, 2, 2, false),
    ] {
        let case = format!("c{ci}→{co} k{k} {hw}×{hw} stride {stride} padding {padding}");
        let ho = (hw + 2 * padding - k) / stride + 1;
        let seed = 1000 + ci as u64;
        let eps = Tensor::<4>::from_data(
            TensorData::new(noise(seed, 2, co * ho * ho), [2, co, ho, ho]),
            &ad,
        );
        let mask = filled([co, ci, k, k], 5.0, &ad).greater_elem(-0.5).float();
        let run = |fused: bool| {
            let x = Param::from_tensor(filled([2, ci, hw, hw], 7.0, &ad));
            let mu = Param::from_tensor(filled([co, ci, k, k], 0.0, &ad));
            let log_s2 = Param::from_tensor(filled([co, ci, k, k], 3.0, &ad).sub_scalar(1.0));
            let (mut m, mut s2) = (mu.val(), variance(log_s2.val()));
            if masked {
                m = m * mask.clone();
                s2 = s2 * mask.clone();
            }
            let out = if fused {
                variational_conv2d(x.val(), m, s2, seed, stride, padding)
            } else {
                let o = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
                let mean = conv2d(x.val(), m, None, o.clone());
                let var = conv2d(x.val().square(), s2, None, o);
                mean + var.add_scalar(1e-8).sqrt() * eps.clone()
            };
            // An upstream gradient that differs per output, so every entry of the backward
            // pass counts.
            let up = filled(out.dims(), 1.0, &ad).detach();
            let grads = (out.clone() * up).sum().backward();
            (
                values(out.detach()),
                values(x.val().grad(&grads).expect("grad x")),
                values(mu.val().grad(&grads).expect("grad μ")),
                values(log_s2.val().grad(&grads).expect("grad log σ²")),
            )
        };
        let (fast, plain) = (run(true), run(false));
        close(&format!("{case}: output"), &fast.0, &plain.0);
        close(&format!("{case}: ∂x"), &fast.1, &plain.1);
        close(&format!("{case}: ∂μ"), &fast.2, &plain.2);
        close(&format!("{case}: ∂log σ²"), &fast.3, &plain.3);
    }
}

#[test]
fn fused_conv_runs_without_autodiff() {
    let _serial = crate::serial();
    let dev = device();
    let x = filled([3, 2, 8, 8], 1.0, &dev);
    let mu = filled([4, 2, 3, 3], 2.0, &dev);
    let s2 = filled([4, 2, 3, 3], 3.0, &dev).exp();
    let eps = Tensor::<4>::from_data(TensorData::new(noise(9, 3, 4 * 64), [3, 4, 8, 8]), &dev);
    let out = variational_conv2d(x.clone(), mu.clone(), s2.clone(), 9, 1, 1);
    let o = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let plain = conv2d(x.clone(), mu, None, o.clone())
        + conv2d(x.square(), s2, None, o).add_scalar(1e-8).sqrt() * eps;
    close("output", &values(out), &values(plain));
}

/// The noise is standard normal (moments within 5 standard errors), independent of the thread
/// count by construction, and a function of its seed alone.
#[test]
fn fused_noise_is_standard_normal_and_seeded() {
    let (samples, per) = (64, 1001);
    let e = noise(3, samples, per);
    assert_eq!(e, noise(3, samples, per), "same seed, same noise");
    assert_ne!(e, noise(4, samples, per), "another seed, other noise");
    let n = e.len() as f64;
    let mean = e.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = e
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    let kurt = e
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(4))
        .sum::<f64>()
        / n
        / var.powi(2);
    assert!(mean.abs() < 5.0 / n.sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "variance {var}");
    assert!(
        (kurt - 3.0).abs() < 5.0 * (24.0 / n).sqrt(),
        "kurtosis {kurt}"
    );
    // Samples draw from their own streams: no sample's values reappear in the next one,
    // shifted (as they would if the streams were one sequence at neighbouring offsets).
    for (a, b) in e.chunks(per).zip(e.chunks(per).skip(1)) {
        for shift in 0..4 {
            assert_ne!(a[shift..shift + 8], b[..8]);
            assert_ne!(b[shift..shift + 8], a[..8]);
        }
    }
}

#[test]
fn fused_max_pool_matches_burns_in_value_and_gradient() {
    use burn::tensor::module::max_pool2d;
    use burn::tensor::ops::MaxPoolOptions;
    let _serial = crate::serial();
    let ad = device().autodiff();
    for (kernel, stride, padding, hw) in [(2, 2, 0, 8), (3, 2, 1, 9), (2, 1, 0, 5), (3, 3, 1, 10)] {
        let case = format!("k{kernel} stride {stride} padding {padding} {hw}×{hw}");
        let run = |fused: bool| {
            let x = Param::from_tensor(filled([2, 3, hw, hw], 4.0, &ad));
            let out = if fused {
                ardent_trainer::ops::fused::max_pool2d(x.val(), kernel, stride, padding)
            } else {
                max_pool2d(
                    x.val(),
                    MaxPoolOptions::new([kernel; 2])
                        .with_stride([stride; 2])
                        .with_padding([padding; 2]),
                )
            };
            let up = filled(out.dims(), 2.0, &ad).detach();
            let grads = (out.clone() * up).sum().backward();
            (
                values(out.detach()),
                values(x.val().grad(&grads).expect("grad x")),
            )
        };
        let (fast, plain) = (run(true), run(false));
        close(&format!("{case}: output"), &fast.0, &plain.0);
        close(&format!("{case}: ∂x"), &fast.1, &plain.1);
    }
}

/// The vectorised exp against f64's over its whole range: within 2 ulp (relative 2.4e-7).
#[test]
fn fused_exp_is_within_two_ulp_of_the_exact_value() {
    let mut worst = 0f64;
    let mut x = -87.3f32;
    while x <= 88.0 {
        let exact = f64::from(x).exp();
        let got = f64::from(exp_f32(x));
        worst = worst.max((got - exact).abs() / exact);
        x += 0.000_37;
    }
    assert!(
        worst <= 2.0 * f64::from(f32::EPSILON),
        "worst relative error {worst}"
    );
    // Out of range it saturates, never overflows or returns a subnormal; NaN stays NaN.
    assert_eq!(exp_f32(-1000.0), exp_f32(-87.3));
    assert!(exp_f32(1000.0).is_finite() && exp_f32(1000.0) == exp_f32(88.0));
    assert!(exp_f32(f32::NAN).is_nan());
}

/// σ² by the fused exp against burn's exp, in value and in gradient.
#[test]
fn fused_exp_matches_burns_in_value_and_gradient() {
    let _serial = crate::serial();
    let ad = device().autodiff();
    let x = Param::from_tensor(filled([3, 5, 7, 11], 2.0, &ad).mul_scalar(6.0));
    let up = filled([3, 5, 7, 11], 4.0, &ad).detach();
    let fused = elementwise::exp(x.val());
    let plain = x.val().exp();
    close("exp", &values(fused.clone()), &values(plain.clone()));
    let (gf, gp) = (
        (fused * up.clone()).sum().backward(),
        (plain * up).sum().backward(),
    );
    close(
        "∂/∂x",
        &values(x.val().grad(&gf).expect("grad")),
        &values(x.val().grad(&gp).expect("grad")),
    );
}

/// The fused Adam takes burn's Adam's steps: five steps on two parameters of a model, with a
/// different gradient each step and a learning rate that changes, agree to the last bits
/// that f32 rounding in another order could move (1e-6 relative).
#[test]
fn fused_adam_takes_burns_steps() {
    use ardent_trainer::adam::Adam;
    use burn::module::Module;
    use burn::optim::{AdamConfig, GradientsParams};

    #[derive(Module, Debug)]
    struct Two {
        a: Param<Tensor<4>>,
        b: Param<Tensor<4>>,
    }

    let _serial = crate::serial();
    let ad = device().autodiff();
    let make = || Two {
        a: Param::from_tensor(filled([2, 3, 4, 5], 1.0, &ad)),
        b: Param::from_tensor(filled([1, 1, 100, 700], 2.0, &ad)),
    };
    let (mut fused, mut plain) = (make(), make());
    let (mut of, mut op) = (Adam::default(), AdamConfig::new().init());
    for step in 0..5 {
        let lr = 1e-2 / (1.0 + step as f64);
        let grads = |m: &Two| {
            let w = 1.0 + step as f32;
            let loss = (m.a.val().square() * w).sum() + (m.b.val().sin() * m.b.val()).sum();
            GradientsParams::from_grads(loss.backward(), m)
        };
        let (gf, gp) = (grads(&fused), grads(&plain));
        fused = of.step(lr, fused, gf);
        plain = op.step(lr, plain, gp);
        for (what, f, p) in [
            ("a", fused.a.val(), plain.a.val()),
            ("b", fused.b.val(), plain.b.val()),
        ] {
            let (f, p) = (values(f), values(p));
            for (i, (x, y)) in f.iter().zip(&p).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-6 * y.abs().max(1e-3),
                    "step {step}, {what}[{i}]: {x} vs {y}"
                );
            }
        }
    }
}

/// The fused dense layer against burn's products on the same noise, in value and in the
/// gradients of x, μ and log σ², over shapes that leave partial tiles in every direction of
/// the matrix kernel, with and without a mask.
#[test]
fn fused_dense_matches_burns_products_in_value_and_gradient() {
    let _serial = crate::serial();
    let ad = device().autodiff();
    for (b, i, o, masked) in [
        (3, 5, 2, false),
        (17, 40, 33, true),
        (100, 784, 300, false),
        (64, 300, 100, true),
        (9, 70, 10, false),
    ] {
        let case = format!("[{b}, {i}] · [{i}, {o}]");
        let seed = 77 + i as u64;
        let eps = Tensor::<2>::from_data(TensorData::new(noise(seed, b, o), [b, o]), &ad);
        let mask = filled([i, o], 5.0, &ad).greater_elem(-0.5).float();
        let run = |fused: bool| {
            let x = Param::from_tensor(filled([b, i], 7.0, &ad));
            let mu = Param::from_tensor(filled([i, o], 0.0, &ad).mul_scalar(0.2));
            let log_s2 = Param::from_tensor(filled([i, o], 3.0, &ad).sub_scalar(3.0));
            let (mut m, mut s2) = (mu.val(), variance(log_s2.val()));
            if masked {
                m = m * mask.clone();
                s2 = s2 * mask.clone();
            }
            let out = if fused {
                variational_dense(x.val(), m, s2, seed)
            } else {
                let mean = x.val().matmul(m);
                let var = x.val().square().matmul(s2);
                mean + var.add_scalar(1e-8).sqrt() * eps.clone()
            };
            let up = filled(out.dims(), 1.0, &ad).detach();
            let grads = (out.clone() * up).sum().backward();
            (
                values(out.detach()),
                values(x.val().grad(&grads).expect("grad x")),
                values(mu.val().grad(&grads).expect("grad μ")),
                values(log_s2.val().grad(&grads).expect("grad log σ²")),
            )
        };
        let (fast, plain) = (run(true), run(false));
        close(&format!("{case}: output"), &fast.0, &plain.0);
        close(&format!("{case}: ∂x"), &fast.1, &plain.1);
        close(&format!("{case}: ∂μ"), &fast.2, &plain.2);
        close(&format!("{case}: ∂log σ²"), &fast.3, &plain.3);
    }
}

/// The matrix kernel (its parallel split, and with a prepacked left operand) against a plain
/// triple loop in f64: shapes
/// around every blocking size, operands read through row-major and transposed strides, with
/// and without accumulation.
#[test]
fn matmul_matches_a_plain_triple_loop() {
    let shapes = [
        (1, 1, 1),
        (7, 31, 3),
        (8, 32, 16),
        (9, 33, 257),
        (129, 65, 300),
        (40, 1030, 20),
        (300, 50, 100),
        (130, 20, 520),
        (5, 4, 0),
    ];
    for (m, n, k) in shapes {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for accumulate in [false, true] {
                let a: Vec<f32> = (0..m * k).map(|v| ((v as f32) * 0.37).sin()).collect();
                let b: Vec<f32> = (0..k * n).map(|v| ((v as f32) * 0.71).cos()).collect();
                // A transposed operand is the same values stored the other way round.
                let a_s = if ta { (1, m) } else { (k, 1) };
                let b_s = if tb { (1, k) } else { (n, 1) };
                let start: Vec<f32> = (0..m * n).map(|v| (v % 7) as f32 - 3.0).collect();
                let mut want = vec![0f64; m * n];
                for r in 0..m {
                    for c in 0..n {
                        let mut sum = if accumulate {
                            f64::from(start[r * n + c])
                        } else {
                            0.0
                        };
                        for p in 0..k {
                            sum += f64::from(a[r * a_s.0 + p * a_s.1])
                                * f64::from(b[p * b_s.0 + c * b_s.1]);
                        }
                        want[r * n + c] = sum;
                    }
                }
                let (mut one, mut par, mut packed) = (start.clone(), start.clone(), start.clone());
                matmul(&mut one, (m, n, k), &a, a_s, &b, b_s, accumulate);
                matmul_parallel(&mut par, (m, n, k), &a, a_s, &b, b_s, accumulate);
                let lhs = PackedLhs::new(&a, (m, k), a_s);
                matmul_packed(&mut packed, n, &lhs, &b, b_s, accumulate);
                for (what, got) in [
                    ("matmul", &one),
                    ("matmul_parallel", &par),
                    ("matmul_packed", &packed),
                ] {
                    for (idx, (g, w)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (f64::from(*g) - w).abs() <= 1e-5 * (k as f64).max(1.0),
                            "{what} {m}×{k}·{k}×{n} (transposed {ta}, {tb}, accumulate \
                             {accumulate})[{idx}]: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
}

/// The posterior-mean conv of evaluation against burn's conv2d, over padding, stride and
/// kernels 1–5.
#[test]
fn fused_mean_conv_matches_burns_conv2d() {
    let _serial = crate::serial();
    let dev = device();
    for (ci, co, k, hw, stride, padding) in [
        (1, 20, 5, 28, 1, 0),
        (3, 4, 3, 9, 1, 1),
        (2, 5, 3, 10, 2, 1),
        (16, 8, 1, 6, 2, 0),
        (2, 3, 5, 7, 2, 2),
    ] {
        let x = filled([3, ci, hw, hw], 1.0, &dev);
        let w = filled([co, ci, k, k], 2.0, &dev);
        let fused = ardent_trainer::ops::fused::conv2d(x.clone(), w.clone(), stride, padding);
        let o = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
        let plain = conv2d(x, w, None, o);
        close(
            &format!("c{ci}→{co} k{k} {hw}×{hw} stride {stride} padding {padding}"),
            &values(fused),
            &values(plain),
        );
    }
}
