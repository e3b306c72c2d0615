//! The ARD KL and its precisions: burn's tensor version against the closed form in f64, and
//! the closed form against Monte Carlo.

use burn::module::Param;
use burn::tensor::{Distribution, Tensor, TensorData};

use ardent_models::{Ard, Grouping};
use ardent_trainer::ard::{alpha_map, kl_gaussian};
use ardent_trainer::ops::dense::VarDense;

use crate::{device, vec2};

#[test]
fn kl_closed_form_matches_monte_carlo() {
    let _serial = crate::serial();
    // KL(q‖p) = E_q[log q(w) − log p(w)] for q = N(μ, σ²), p = N(0, 1/α).
    let dev = device();
    let n = 200_000;
    let eps = vec2(Tensor::<2>::random(
        [1, n],
        Distribution::Normal(0.0, 1.0),
        &dev,
    ));
    for &(mu, s2, alpha) in &[
        (0.8f64, 0.09f64, 2.0f64),
        (-0.1, 0.5, 0.3),
        (1.5, 0.01, 10.0),
    ] {
        let sd = s2.sqrt();
        let mc: f64 = eps
            .iter()
            .map(|&e| {
                let w = mu + sd * f64::from(e);
                let log_q =
                    -0.5 * ((w - mu).powi(2) / s2 + s2.ln() + (2.0 * std::f64::consts::PI).ln());
                let log_p = -0.5 * (alpha * w * w - alpha.ln() + (2.0 * std::f64::consts::PI).ln());
                log_q - log_p
            })
            .sum::<f64>()
            / n as f64;
        let exact = kl_gaussian(mu, s2, alpha);
        assert!(
            (mc - exact).abs() < 0.02 * exact.abs().max(0.1),
            "μ {mu}: MC {mc} vs {exact}"
        );
    }
}

fn layer(mu: &[f32], log_s2: &[f32], inputs: usize, units: usize) -> VarDense {
    let dev = device();
    VarDense {
        mu: Param::from_tensor(Tensor::from_data(
            TensorData::new(mu.to_vec(), [inputs, units]),
            &dev,
        )),
        log_sigma2: Param::from_tensor(Tensor::from_data(
            TensorData::new(log_s2.to_vec(), [inputs, units]),
            &dev,
        )),
        bias: None,
        mask: None,
        features: Vec::new(),
    }
}

#[test]
fn tensor_kl_equals_f64_reference_for_every_grouping() {
    let _serial = crate::serial();
    let (inputs, units) = (4usize, 3usize);
    let mu: Vec<f32> = (0..12).map(|i| 0.3 * (i as f32 - 5.0)).collect();
    let log_s2: Vec<f32> = (0..12).map(|i| -2.0 + 0.1 * i as f32).collect();
    let l = layer(&mu, &log_s2, inputs, units);
    for grouping in [Grouping::Weight, Grouping::Neuron, Grouping::Input] {
        let ard = Ard {
            grouping,
            lambda1: 1.5,
            lambda2: 0.25,
        };
        // Group members of weight (i, j): per weight, column j (neuron), row i (input).
        let group = |i: usize, j: usize| -> Vec<usize> {
            match grouping {
                Grouping::Weight => vec![i * units + j],
                Grouping::Neuron => (0..inputs).map(|r| r * units + j).collect(),
                Grouping::Input => (0..units).map(|c| i * units + c).collect(),
            }
        };
        let mut kl_ref = 0f64;
        for i in 0..inputs {
            for j in 0..units {
                let g = group(i, j);
                let s: f64 = g
                    .iter()
                    .map(|&k| f64::from(mu[k]).powi(2) + f64::from(log_s2[k]).exp())
                    .sum();
                let alpha = alpha_map(g.len(), s, ard.lambda1, ard.lambda2);
                let k = i * units + j;
                kl_ref += kl_gaussian(f64::from(mu[k]), f64::from(log_s2[k]).exp(), alpha);
            }
        }
        let kl = l.kl(&ard, true);
        let kl: f32 = kl.into_scalar();
        assert!(
            (f64::from(kl) - kl_ref).abs() < 1e-4 * kl_ref.abs().max(1.0),
            "{grouping:?}: tensor {kl} vs reference {kl_ref}"
        );
    }
}

#[test]
fn per_weight_kl_at_default_hyperprior_is_half_log1p() {
    let _serial = crate::serial();
    // λ1 = 1, λ2 = 0, one weight per group: α = 1/(μ² + σ²), KL = ½ log(1 + μ²/σ²).
    let mu = [0.7f32, -0.2, 0.05, 1.3];
    let log_s2 = [-3.0f32, -1.0, 0.5, -6.0];
    let l = layer(&mu, &log_s2, 2, 2);
    let kl = l.kl(&Ard::default(), true);
    let exact: f64 = mu
        .iter()
        .zip(&log_s2)
        .map(|(&m, &s)| 0.5 * (f64::from(m).powi(2) / f64::from(s).exp()).ln_1p())
        .sum();
    let kl: f32 = kl.into_scalar();
    assert!((f64::from(kl) - exact).abs() < 1e-4, "{kl} vs {exact}");
}

/// G(μ, log σ²) = min_α [Σ KL(q ‖ N(0, 1/α)) − log Gamma(α; λ1, λ2)], in f64, with the groups of
/// a `[inputs, units]` matrix under `grouping`.
fn optimised_objective(mu: &[f64], log_s2: &[f64], inputs: usize, units: usize, ard: &Ard) -> f64 {
    let groups: Vec<Vec<usize>> = match ard.grouping {
        Grouping::Weight => (0..inputs * units).map(|k| vec![k]).collect(),
        Grouping::Neuron => (0..units)
            .map(|j| (0..inputs).map(|i| i * units + j).collect())
            .collect(),
        Grouping::Input => (0..inputs)
            .map(|i| (0..units).map(|j| i * units + j).collect())
            .collect(),
    };
    groups
        .iter()
        .map(|g| {
            let s: f64 = g.iter().map(|&k| mu[k].powi(2) + log_s2[k].exp()).sum();
            let alpha = alpha_map(g.len(), s, ard.lambda1, ard.lambda2);
            let kl: f64 = g
                .iter()
                .map(|&k| kl_gaussian(mu[k], log_s2[k].exp(), alpha))
                .sum();
            kl - ((ard.lambda1 - 1.0) * alpha.ln() - ard.lambda2 * alpha)
        })
        .sum()
}

#[test]
fn kl_gradients_match_numeric_derivatives_of_the_optimised_objective() {
    let _serial = crate::serial();
    let ad = device().autodiff();
    let (inputs, units) = (3usize, 2usize);
    let mu: Vec<f32> = vec![0.4, -0.9, 0.05, 1.2, -0.3, 0.7];
    let log_s2: Vec<f32> = vec![-2.0, -1.0, -0.5, -3.0, -1.5, -2.5];
    for grouping in [Grouping::Weight, Grouping::Neuron, Grouping::Input] {
        let ard = Ard {
            grouping,
            lambda1: 1.5,
            lambda2: 0.25,
        };
        let l = VarDense {
            mu: Param::from_tensor(Tensor::from_data(
                TensorData::new(mu.clone(), [inputs, units]),
                &ad,
            )),
            log_sigma2: Param::from_tensor(Tensor::from_data(
                TensorData::new(log_s2.clone(), [inputs, units]),
                &ad,
            )),
            bias: None,
            mask: None,
            features: Vec::new(),
        };
        let kl = l.kl(&ard, true);
        let grads = kl.backward();
        let g_mu = vec2(l.mu.val().grad(&grads).expect("grad μ"));
        let g_ls = vec2(l.log_sigma2.val().grad(&grads).expect("grad log σ²"));
        let m64: Vec<f64> = mu.iter().map(|&v| f64::from(v)).collect();
        let s64: Vec<f64> = log_s2.iter().map(|&v| f64::from(v)).collect();
        let h = 1e-6;
        for k in 0..inputs * units {
            for (which, analytic) in [("μ", g_mu[k]), ("log σ²", g_ls[k])] {
                let (mut plus, mut minus) =
                    ((m64.clone(), s64.clone()), (m64.clone(), s64.clone()));
                if which == "μ" {
                    plus.0[k] += h;
                    minus.0[k] -= h;
                } else {
                    plus.1[k] += h;
                    minus.1[k] -= h;
                }
                let numeric = (optimised_objective(&plus.0, &plus.1, inputs, units, &ard)
                    - optimised_objective(&minus.0, &minus.1, inputs, units, &ard))
                    / (2.0 * h);
                assert!(
                    (f64::from(analytic) - numeric).abs() < 1e-4 * numeric.abs().max(1.0),
                    "{grouping:?} ∂/∂{which}[{k}]: autodiff {analytic} vs numeric {numeric}"
                );
            }
        }
    }
}

#[test]
fn gradient_only_kl_and_surrogate_variance_have_the_exact_gradients() {
    let _serial = crate::serial();
    let ad = device().autodiff();
    let ls: Vec<f32> = vec![-3.0, -0.5, 0.0, 1.2, -8.0, 0.3];
    let mu: Vec<f32> = vec![0.2, -0.4, 1.0, 0.05, -2.0, 0.6];
    let make = || VarDense {
        mu: Param::from_tensor(Tensor::from_data(TensorData::new(mu.clone(), [2, 3]), &ad)),
        log_sigma2: Param::from_tensor(Tensor::from_data(TensorData::new(ls.clone(), [2, 3]), &ad)),
        bias: None,
        mask: None,
        features: Vec::new(),
    };
    // Without its value the KL is the fused gradient pass on flex; with it, burn's ops.
    for grouping in [Grouping::Weight, Grouping::Neuron, Grouping::Input] {
        let ard = Ard {
            grouping,
            lambda1: 2.0,
            lambda2: 0.5,
        };
        let (a, b) = (make(), make());
        let with = a.kl(&ard, true);
        let without = b.kl(&ard, false);
        assert_eq!(without.clone().into_scalar::<f32>(), 0.0);
        let (ga, gb) = (with.backward(), without.backward());
        for (x, y) in [(&a.mu, &b.mu), (&a.log_sigma2, &b.log_sigma2)] {
            let (x, y) = (
                vec2(x.val().grad(&ga).expect("grad")),
                vec2(y.val().grad(&gb).expect("grad")),
            );
            for (u, v) in x.iter().zip(&y) {
                assert!(
                    (u - v).abs() <= 1e-5 * u.abs().max(1e-3),
                    "{grouping:?}: {x:?} vs {y:?}"
                );
            }
        }
    }

    // variance(log σ²) has the value and the gradient of exp(log σ²), with weights c: ∂/∂ls Σ c·σ² = c·σ².
    let c: Vec<f32> = vec![1.0, -2.0, 0.5, 3.0, 1.5, -1.0];
    let p = make();
    let weights = Tensor::<2>::from_data(TensorData::new(c.clone(), [2, 3]), &ad);
    let s2 = ardent_trainer::ops::variance(p.log_sigma2.val());
    let values = vec2(s2.clone());
    let grads = (s2 * weights).sum().backward();
    let g = vec2(p.log_sigma2.val().grad(&grads).expect("grad"));
    for k in 0..6 {
        let e = ls[k].exp();
        assert!(
            (values[k] - e).abs() <= 1e-6 * e,
            "value {} vs {e}",
            values[k]
        );
        assert!(
            (g[k] - c[k] * e).abs() <= 1e-5 * e.max(1.0),
            "grad {} vs {}",
            g[k],
            c[k] * e
        );
    }
}

#[test]
fn the_fused_kl_gradient_does_not_depend_on_the_thread_count() {
    let _serial = crate::serial();
    // Large enough for many blocks of rows, so that a sum split by the pool would be added in
    // another order under another pool, and round differently.
    let (inputs, units) = (3000usize, 40usize);
    let mu: Vec<f32> = (0..inputs * units)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-3)
        .collect();
    let ls: Vec<f32> = (0..inputs * units)
        .map(|i| -4.0 + (i * 104_729 % 997) as f32 * 4e-3)
        .collect();
    for grouping in [Grouping::Neuron, Grouping::Input] {
        let ard = Ard {
            grouping,
            lambda1: 1.0,
            lambda2: 0.0,
        };
        let gradients = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool");
            pool.install(|| {
                let ad = device().autodiff();
                let l = VarDense {
                    mu: Param::from_tensor(Tensor::from_data(
                        TensorData::new(mu.clone(), [inputs, units]),
                        &ad,
                    )),
                    log_sigma2: Param::from_tensor(Tensor::from_data(
                        TensorData::new(ls.clone(), [inputs, units]),
                        &ad,
                    )),
                    bias: None,
                    mask: None,
                    features: Vec::new(),
                };
                let grads = l.kl(&ard, false).backward();
                (
                    vec2(l.mu.val().grad(&grads).expect("grad μ")),
                    vec2(l.log_sigma2.val().grad(&grads).expect("grad log σ²")),
                )
            })
        };
        let one = gradients(1);
        for threads in [2, 3, 7] {
            assert!(
                one == gradients(threads),
                "{grouping:?}: {threads} threads differ from one"
            );
        }
    }
}
