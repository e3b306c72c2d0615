//! Gamma and Dirichlet samples with implicit reparameterization gradients (Figurnov et al.
//! 2018), and the Dirichlet KL divergence with its gradient, all in f64 on the host: an edge
//! has a handful of ops, so this costs nothing beside the network.
//!
//! A Gamma(a) sample z has no differentiable g(ε, a), but its CDF F(z; a) = P(a, z) pins it
//! down: holding u = F(z; a) fixed, dz/da = −(∂F/∂a) / (∂F/∂z) = −∂P/∂a / pdf(z; a). A Dirichlet
//! sample is z / Σz, so its gradient follows by the chain rule (done by autodiff on the host's
//! ∂ log z / ∂a).

use ardent_data::SplitMix64;

use crate::special::{digamma, gamma_ln_pdf, gamma_p_da, ln_gamma, trigamma};

/// One Gamma(a, 1) sample in log form, with the derivative of its log in the shape a.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaDraw {
    pub log_z: f64,
    pub dlog_z_da: f64,
}

fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.uniform().max(1e-300);
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// dz/da at a Gamma(a) sample z, from the CDF (the implicit reparameterization gradient).
pub fn implicit_dz_da(a: f64, z: f64) -> f64 {
    let d = -gamma_p_da(a, z) / gamma_ln_pdf(a, z).exp();
    // In the far tails the density underflows; there z scales like a.
    if d.is_finite() { d } else { z / a }
}

/// Draws Gamma(a, 1) for a > 0: Marsaglia–Tsang for a ≥ 1; below 1 the boost
/// z = z′ · U^{1/a}, z′ ~ Gamma(a + 1), kept in log form because z underflows for small a.
/// The boost's gradient is the explicit one of U^{1/a} plus the implicit one of z′.
pub fn sample_gamma(a: f64, rng: &mut SplitMix64) -> GammaDraw {
    if a < 1.0 {
        let inner = sample_gamma(a + 1.0, rng);
        let log_u = rng.uniform().max(1e-300).ln();
        return GammaDraw {
            log_z: inner.log_z + log_u / a,
            dlog_z_da: inner.dlog_z_da - log_u / (a * a),
        };
    }
    let d = a - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    let z = loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.uniform().max(1e-300);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            break d * v;
        }
    };
    GammaDraw {
        log_z: z.ln(),
        dlog_z_da: implicit_dz_da(a, z) / z,
    }
}

/// ln of the Dir(α) density at a point of the simplex given by its logs.
pub fn dirichlet_ln_pdf(alpha: &[f64], log_x: &[f64]) -> f64 {
    let a0: f64 = alpha.iter().sum();
    ln_gamma(a0) - alpha.iter().map(|&a| ln_gamma(a)).sum::<f64>()
        + alpha
            .iter()
            .zip(log_x)
            .map(|(a, lx)| (a - 1.0) * lx)
            .sum::<f64>()
}

/// KL(Dir(α) ‖ Dir(β)) in closed form, and its gradients in α and in β:
/// ∂/∂αⱼ = (αⱼ − βⱼ) ψ′(αⱼ) − (α₀ − β₀) ψ′(α₀), ∂/∂βⱼ = ψ(βⱼ) − ψ(β₀) − ψ(αⱼ) + ψ(α₀).
pub fn kl_dirichlet(alpha: &[f64], beta: &[f64]) -> (f64, Vec<f64>, Vec<f64>) {
    let a0: f64 = alpha.iter().sum();
    let b0: f64 = beta.iter().sum();
    let psi0 = digamma(a0);
    let kl = ln_gamma(a0) - ln_gamma(b0)
        + alpha
            .iter()
            .zip(beta)
            .map(|(&a, &b)| ln_gamma(b) - ln_gamma(a) + (a - b) * (digamma(a) - psi0))
            .sum::<f64>();
    let common = (a0 - b0) * trigamma(a0);
    let grad = alpha
        .iter()
        .zip(beta)
        .map(|(&a, &b)| (a - b) * trigamma(a) - common)
        .collect();
    let psi_b0 = digamma(b0);
    let grad_beta = alpha
        .iter()
        .zip(beta)
        .map(|(&a, &b)| digamma(b) - psi_b0 - digamma(a) + psi0)
        .collect();
    (kl, grad, grad_beta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_samples_have_the_right_mean_and_variance() {
        let mut rng = SplitMix64(5);
        for a in [0.2, 1.0, 3.5, 40.0] {
            let n = 40_000;
            let z: Vec<f64> = (0..n)
                .map(|_| sample_gamma(a, &mut rng).log_z.exp())
                .collect();
            let mean = z.iter().sum::<f64>() / n as f64;
            let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            // Mean and variance of Gamma(a, 1) are both a.
            assert!(
                (mean - a).abs() < 4.0 * (a / n as f64).sqrt(),
                "a {a}: mean {mean}"
            );
            assert!((var - a).abs() < 0.05 * a, "a {a}: var {var}");
        }
    }

    #[test]
    fn dirichlet_kl_gradient_matches_a_difference_quotient() {
        let alpha = [0.4, 2.0, 7.5];
        let beta = [1.0, 1.0, 3.0];
        let (_, ga, gb) = kl_dirichlet(&alpha, &beta);
        // Central difference of f in component j of x, with a step relative to it.
        let quotient = |f: &dyn Fn(&[f64; 3]) -> f64, x: [f64; 3], j: usize| {
            let h = 1e-6 * x[j];
            let (mut up, mut down) = (x, x);
            up[j] += h;
            down[j] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        };
        for j in 0..3 {
            for (name, grad, fd) in [
                (
                    "α",
                    ga[j],
                    quotient(&|a| kl_dirichlet(a, &beta).0, alpha, j),
                ),
                (
                    "β",
                    gb[j],
                    quotient(&|b| kl_dirichlet(&alpha, b).0, beta, j),
                ),
            ] {
                assert!(
                    (grad - fd).abs() < 1e-6 * fd.abs().max(1.0),
                    "{name}{j}: {grad} vs {fd}"
                );
            }
        }
        assert!(kl_dirichlet(&beta, &beta).0.abs() < 1e-12);
    }
}
