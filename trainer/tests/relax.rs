//! Dirichlet and logit-normal γ and the KL terms of every relaxation, against independent
//! references: finite differences of the Gamma inverse CDF, the Dirichlet mean's closed form,
//! Monte Carlo, and numerical quadrature of the concrete densities.

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};

use ardent_data::SplitMix64;
use ardent_models::structure::{Constraint, Form, Relaxation, Schedule, Structure};
use ardent_trainer::dirichlet::{dirichlet_ln_pdf, implicit_dz_da, kl_dirichlet, sample_gamma};
use ardent_trainer::gamma::{EdgeQ, sample};
use ardent_trainer::special::{gamma_p, ln_gamma};

use crate::device;

fn structure(relaxation: Relaxation, constraint: Constraint, s: &[f64]) -> Structure {
    Structure {
        constraint,
        form: Form::Interior,
        relaxation,
        concentration: s.to_vec(),
        temperature: 1.0,
        temperature_final: 1.0,
        schedule: Schedule::Constant,
        gamma: Vec::new(),
    }
}

fn vec1(t: Tensor<1>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32")
        .into_iter()
        .map(f64::from)
        .collect()
}

/// ln of each value, as a tensor.
fn log(v: &[f64], d: &burn::tensor::Device) -> Tensor<1> {
    let l: Vec<f32> = v.iter().map(|x| x.ln() as f32).collect();
    Tensor::from_data(TensorData::new(l, [v.len()]), d)
}

/// The z with P(a, z) = u, by bisection in log z (P is increasing in z).
fn gamma_inverse_cdf(a: f64, u: f64) -> f64 {
    let (mut lo, mut hi) = (-80.0f64, 12.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if gamma_p(a, mid.exp()) < u {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (0.5 * (lo + hi)).exp()
}

#[test]
fn implicit_gamma_gradients_match_finite_differences_of_the_inverse_cdf() {
    let mut rng = SplitMix64(3);
    let mut checked = 0;
    for a in [0.3, 0.8, 1.0, 2.5, 9.0, 60.0] {
        for _ in 0..8 {
            // A draw from the sampler itself, so the points are where training evaluates.
            let z = sample_gamma(a, &mut rng).log_z.exp();
            let u = gamma_p(a, z);
            if !(1e-6..1.0 - 1e-6).contains(&u) {
                continue;
            }
            let h = 1e-4 * a;
            let fd = (gamma_inverse_cdf(a + h, u) - gamma_inverse_cdf(a - h, u)) / (2.0 * h);
            let ours = implicit_dz_da(a, z);
            let rel = (ours - fd).abs() / fd.abs();
            assert!(
                rel < 1e-3,
                "a {a}, z {z}: implicit {ours} vs FD {fd} ({rel})"
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} points checked");
}

#[test]
fn dirichlet_samples_differentiate_to_the_gradient_of_their_mean() {
    let _serial = crate::serial();
    // E[γ] = α / α₀ = softmax(θ) whatever the temperature, so the mean of the sampled
    // Jacobians must be softmax's. α = 0.6 e^θ mixes shapes below and above 1 (the boost and
    // the plain implicit path).
    let ad = device().autodiff();
    let theta0 = [0.2f32, -0.7, 1.1];
    let tau = 0.6;
    let s = structure(Relaxation::Dirichlet, Constraint::Simplex, &[1.0; 3]);
    let z: f64 = theta0.iter().map(|&t| f64::from(t).exp()).sum();
    let p: Vec<f64> = theta0.iter().map(|&t| f64::from(t).exp() / z).collect();
    let n = 10_000;
    // ∂γ₀/∂θⱼ per draw: their mean, and its standard error.
    let (mut sum, mut sq) = ([0.0; 3], [0.0; 3]);
    let mut mean_value = 0.0;
    for _ in 0..n {
        let theta = Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(theta0.to_vec(), [3]),
            &ad,
        ));
        let q = EdgeQ {
            theta: theta.val(),
            log_sigma: None,
            log_prior: Tensor::zeros([3], &ad),
        };
        let g = sample(&q, &s, tau, false, &[]).gamma.narrow(0, 0, 1).sum();
        mean_value += vec1(g.clone().detach())[0] / n as f64;
        let grads = g.backward();
        for (j, v) in vec1(theta.val().grad(&grads).expect("grad θ"))
            .into_iter()
            .enumerate()
        {
            sum[j] += v;
            sq[j] += v * v;
        }
    }
    assert!((mean_value - p[0]).abs() < 0.02, "{mean_value} vs {}", p[0]);
    for j in 0..3 {
        let want = p[0] * (f64::from(u8::from(j == 0)) - p[j]);
        let mean = sum[j] / n as f64;
        let se = ((sq[j] / n as f64 - mean * mean) / n as f64).sqrt();
        assert!(
            (mean - want).abs() < 4.0 * se,
            "∂E[γ₀]/∂θ{j}: {mean} ± {se} vs {want}"
        );
        // The check has power: a gradient 10 % off would fall outside.
        assert!(4.0 * se < 0.1 * want.abs(), "θ{j}: SE {se} too wide");
    }
}

#[test]
fn dirichlet_kl_closed_form_matches_monte_carlo() {
    let alpha = [0.7, 2.0, 4.5];
    let beta = [1.5, 1.0, 0.8];
    let mut rng = SplitMix64(11);
    let n = 40_000;
    let (mut sum, mut sq) = (0.0, 0.0);
    for _ in 0..n {
        let log_z: Vec<f64> = alpha
            .iter()
            .map(|&a| sample_gamma(a, &mut rng).log_z)
            .collect();
        let m = log_z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + log_z.iter().map(|l| (l - m).exp()).sum::<f64>().ln();
        let log_x: Vec<f64> = log_z.iter().map(|l| l - lse).collect();
        let d = dirichlet_ln_pdf(&alpha, &log_x) - dirichlet_ln_pdf(&beta, &log_x);
        sum += d;
        sq += d * d;
    }
    let mean = sum / n as f64;
    let se = ((sq / n as f64 - mean * mean) / n as f64).sqrt();
    let (closed, _, _) = kl_dirichlet(&alpha, &beta);
    assert!(
        (closed - mean).abs() < 4.0 * se,
        "closed form {closed} vs Monte Carlo {mean} ± {se}"
    );
}

/// ∫₀¹ f by the midpoint rule after x = sigmoid(t), t ∈ [−40, 40], which resolves the
/// densities' spikes at 0 and 1.
fn integrate(f: impl Fn(f64) -> f64) -> f64 {
    let n = 200_000;
    let h = 80.0 / n as f64;
    (0..n)
        .map(|i| {
            let t = -40.0 + (i as f64 + 0.5) * h;
            let x = 1.0 / (1.0 + (-t).exp());
            f(x) * x * (1.0 - x) * h
        })
        .sum()
}

/// The binary concrete density of x at location α and temperature τ, written out as
/// Maddison et al. give it (not in log form).
fn binary_concrete_pdf(x: f64, alpha: f64, tau: f64) -> f64 {
    let num = tau * alpha * x.powf(-tau - 1.0) * (1.0 - x).powf(-tau - 1.0);
    let den = alpha * x.powf(-tau) + (1.0 - x).powf(-tau);
    num / (den * den)
}

/// The mean of the one-sample KL estimates the trainer uses, over `n` draws.
fn mean_sampled_kl(s: &Structure, theta: &[f32], tau: f64, n: usize) -> f64 {
    let d = device();
    let q = EdgeQ {
        theta: Tensor::from_data(TensorData::new(theta.to_vec(), [theta.len()]), &d),
        log_sigma: None,
        log_prior: log(&s.concentration, &d),
    };
    (0..n)
        .map(|_| vec1(sample(&q, s, tau, true, &[]).kl.expect("a KL term"))[0])
        .sum::<f64>()
        / n as f64
}

#[test]
fn concrete_kl_estimates_average_to_the_integrated_kl() {
    let _serial = crate::serial();
    let tau = 0.8;
    let (a_q, a_p) = (2.5f64, 0.7f64);
    // Two ops on the simplex: γ = (x, 1 − x) is binary concrete in x with location α₀/α₁.
    let exact = integrate(|x| {
        let q = binary_concrete_pdf(x, a_q, tau);
        let p = binary_concrete_pdf(x, a_p, tau);
        if q > 0.0 { q * (q / p).ln() } else { 0.0 }
    });
    assert!(exact > 0.05, "{exact}");
    let simplex = structure(Relaxation::GumbelSoftmax, Constraint::Simplex, &[a_p, 1.0]);
    let got = mean_sampled_kl(&simplex, &[a_q.ln() as f32, 0.0], tau, 8000);
    assert!(
        (got - exact).abs() < 0.05 * exact,
        "simplex: {got} vs ∫ {exact}"
    );
    // The cube: one binary concrete per op, KLs add.
    let cube = structure(Relaxation::GumbelSoftmax, Constraint::Cube, &[a_p, a_p]);
    let got = mean_sampled_kl(&cube, &[a_q.ln() as f32; 2], tau, 8000);
    assert!(
        (got - 2.0 * exact).abs() < 0.05 * 2.0 * exact,
        "cube: {got} vs ∫ {}",
        2.0 * exact
    );
    // q = p: every estimate is 0.
    let same = mean_sampled_kl(&simplex, &[a_p.ln() as f32, 0.0], tau, 50);
    assert!(same.abs() < 1e-5, "{same}");
}

#[test]
fn dirichlet_and_logit_normal_kl_terms_are_their_closed_forms() {
    let _serial = crate::serial();
    let d = device();
    let theta = [0.3f32, -0.5, 1.2];
    let s = [2.0, 0.5, 1.0];
    let tau = 1.7;
    let q = EdgeQ {
        theta: Tensor::from_data(TensorData::new(theta.to_vec(), [3]), &d),
        log_sigma: Some(Tensor::from_data(
            TensorData::new(vec![-0.4f32, 0.1, 0.0], [3]),
            &d,
        )),
        log_prior: log(&s, &d),
    };
    let dir = structure(Relaxation::Dirichlet, Constraint::Simplex, &s);
    let r = sample(&q, &dir, tau, true, &[log(&s, &d), log(&[1.0; 3], &d)]);
    let kl = vec1(r.kl.expect("KL"))[0];
    // A reference equal to the prior has the prior's KL; another one has its own.
    let refs: Vec<f64> = r.reference_kls.into_iter().map(|t| vec1(t)[0]).collect();
    assert!((refs[0] - kl).abs() < 1e-6, "{refs:?} vs {kl}");
    let to_uniform = kl_dirichlet(&theta.map(|t| tau * f64::from(t).exp()), &[tau; 3]).0;
    assert!(
        (refs[1] - to_uniform).abs() < 1e-4,
        "{refs:?} vs {to_uniform}"
    );
    let alpha: Vec<f64> = theta.iter().map(|&t| tau * f64::from(t).exp()).collect();
    let beta: Vec<f64> = s.iter().map(|v| tau * v).collect();
    // KL(Dir(α) ‖ Dir(β)) by its textbook formula with ln Γ only: E_q[ln xᵢ] by the
    // digamma's difference quotient.
    let psi = |x: f64| (ln_gamma(x + 1e-6) - ln_gamma(x - 1e-6)) / 2e-6;
    let (a0, b0): (f64, f64) = (alpha.iter().sum(), beta.iter().sum());
    let want = ln_gamma(a0) - ln_gamma(b0)
        + (0..3)
            .map(|i| {
                ln_gamma(beta[i]) - ln_gamma(alpha[i])
                    + (alpha[i] - beta[i]) * (psi(alpha[i]) - psi(a0))
            })
            .sum::<f64>();
    assert!(
        (kl - want).abs() < 1e-4 * want.abs().max(1.0),
        "{kl} vs {want}"
    );
    assert!((kl - kl_dirichlet(&alpha, &beta).0).abs() < 1e-4);

    for constraint in [Constraint::Simplex, Constraint::Cube] {
        let ln = structure(Relaxation::LogitNormal, constraint, &s);
        let kl = vec1(sample(&q, &ln, tau, true, &[]).kl.expect("KL"))[0];
        let sig = [-0.4f64, 0.1, 0.0];
        let want: f64 = (0..3)
            .map(|i| {
                let var = (2.0 * sig[i]).exp();
                0.5 * (var + (f64::from(theta[i]) - s[i].ln()).powi(2) - 1.0 - 2.0 * sig[i])
            })
            .sum();
        assert!((kl - want).abs() < 1e-5, "{constraint:?}: {kl} vs {want}");
    }
}

#[test]
fn every_relaxation_samples_its_constraint_and_form() {
    let _serial = crate::serial();
    let d = device();
    let q = EdgeQ {
        theta: Tensor::from_data(TensorData::new(vec![0.4f32, -0.3, 0.1, 0.0], [4]), &d),
        log_sigma: Some(Tensor::zeros([4], &d)),
        log_prior: Tensor::zeros([4], &d),
    };
    for relaxation in [
        Relaxation::GumbelSoftmax,
        Relaxation::Dirichlet,
        Relaxation::LogitNormal,
    ] {
        for constraint in [Constraint::Simplex, Constraint::Cube] {
            if relaxation == Relaxation::Dirichlet && constraint == Constraint::Cube {
                continue;
            }
            for form in [Form::Interior, Form::Vertices] {
                let s = Structure {
                    form,
                    ..structure(relaxation, constraint, &[1.0; 4])
                };
                for _ in 0..50 {
                    let g = vec1(sample(&q, &s, 0.5, false, &[]).gamma);
                    assert!(g.iter().all(|v| (0.0..=1.0).contains(v)), "{g:?}");
                    if constraint == Constraint::Simplex {
                        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{g:?}");
                    }
                    if form == Form::Vertices {
                        assert!(g.iter().all(|&v| v == 0.0 || v == 1.0), "{g:?}");
                    }
                }
            }
        }
    }
}

/// ∫ over the 2-simplex (in the coordinates x₁, x₂) by the centroid rule on n² small triangles.
fn integrate_simplex(n: usize, f: impl Fn([f64; 3]) -> f64) -> f64 {
    let h = 1.0 / n as f64;
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..n - i {
            // The upward triangle with corners (i, j), (i+1, j), (i, j+1), and the downward one
            // beside it when it fits.
            let (a, b) = (i as f64, j as f64);
            let mut add = |x1: f64, x2: f64| total += f([x1 * h, x2 * h, 1.0 - (x1 + x2) * h]);
            add(a + 1.0 / 3.0, b + 1.0 / 3.0);
            if i + j + 1 < n {
                add(a + 2.0 / 3.0, b + 2.0 / 3.0);
            }
        }
    }
    total * h * h / 2.0
}

#[test]
fn concrete_density_integrates_to_one_and_matches_the_sampler() {
    use ardent_trainer::gamma::concrete_ln_pdf;
    for (loc, tau) in [
        ([1.0f64, 1.0, 1.0], 2.0),
        ([2.0, 0.5, 1.0], 5.0),
        ([3.0, 1.0, 0.2], 1.5),
    ] {
        let log_loc: Vec<f64> = loc.iter().map(|v: &f64| v.ln()).collect();
        let mass = integrate_simplex(1200, |x| concrete_ln_pdf(&log_loc, tau, &x).exp());
        assert!((mass - 1.0).abs() < 5e-3, "α {loc:?}, τ {tau}: mass {mass}");
        // The density's mean of x₁ against the sampler's: softmax((log α + G)/τ).
        let mean = integrate_simplex(1200, |x| x[0] * concrete_ln_pdf(&log_loc, tau, &x).exp());
        let mut rng = SplitMix64(7);
        let draws = 40_000;
        let (mut sum, mut sq) = (0.0, 0.0);
        for _ in 0..draws {
            let z: Vec<f64> = log_loc
                .iter()
                .map(|l| (l - (-rng.uniform().max(1e-300).ln()).ln()) / tau)
                .collect();
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let x1 = e[0] / e.iter().sum::<f64>();
            sum += x1;
            sq += x1 * x1;
        }
        let mc = sum / draws as f64;
        let se = ((sq / draws as f64 - mc * mc) / draws as f64).sqrt();
        assert!(
            (mean - mc).abs() < 4.0 * se + 2e-3,
            "α {loc:?}, τ {tau}: {mean} vs {mc} ± {se}"
        );
    }
}
