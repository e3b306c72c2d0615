//! Closed forms of the ARD prior with empirical Bayes (`docs/method.md` §4).
//!
//! For w ~ N(0, 1/α) and q(w) = N(μ, σ²), the KL divergence is
//! ½(α(μ² + σ²) − 1 − log α − log σ²). A group of n weights sharing α under the hyperprior
//! α ~ Gamma(λ1, rate λ2) has the MAP update α* = (n + 2λ1 − 2) / (S + 2λ2), S = Σ(μ² + σ²).

/// KL(N(μ, σ²) ‖ N(0, 1/α)).
pub fn kl_gaussian(mu: f64, sigma2: f64, alpha: f64) -> f64 {
    0.5 * (alpha * (mu * mu + sigma2) - 1.0 - alpha.ln() - sigma2.ln())
}

/// The KL at the optimal per-weight precision α = 1/(μ² + σ²): ½ log(1 + μ²/σ²).
pub fn kl_at_optimal_alpha(mu: f64, sigma2: f64) -> f64 {
    0.5 * (mu * mu / sigma2).ln_1p()
}

/// MAP precision of a group of `n` weights with second-moment sum `s = Σ(μ² + σ²)` under
/// α ~ Gamma(λ1, rate λ2).
pub fn alpha_map(n: usize, s: f64, lambda1: f64, lambda2: f64) -> f64 {
    (n as f64 + 2.0 * lambda1 - 2.0) / (s + 2.0 * lambda2)
}

/// The objective α* maximizes: −Σ KL(q_i ‖ N(0, 1/α)) + log Gamma(α; λ1, λ2) in α's terms.
pub fn alpha_objective(moments: &[(f64, f64)], alpha: f64, lambda1: f64, lambda2: f64) -> f64 {
    let kl: f64 = moments
        .iter()
        .map(|&(m, s2)| kl_gaussian(m, s2, alpha))
        .sum();
    // log density of Gamma(λ1, rate λ2) up to a constant, in α.
    -kl + (lambda1 - 1.0) * alpha.ln() - lambda2 * alpha
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimal_alpha_kl_is_the_closed_form() {
        for &(mu, s2) in &[(0.5, 0.1), (-2.0, 0.3), (1e-3, 1.0)] {
            let alpha = 1.0 / (mu * mu + s2);
            let a = kl_gaussian(mu, s2, alpha);
            let b = kl_at_optimal_alpha(mu, s2);
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn map_update_matches_a_numeric_optimum() {
        let moments = [(0.3, 0.05), (-0.7, 0.2), (0.05, 0.01), (1.1, 0.4)];
        let s: f64 = moments.iter().map(|(m, s2)| m * m + s2).sum();
        for &(l1, l2) in &[(1.0, 0.0), (2.5, 0.1), (0.8, 3.0)] {
            let closed = alpha_map(moments.len(), s, l1, l2);
            // Golden-section search on log α over a wide bracket.
            let f = |la: f64| alpha_objective(&moments, la.exp(), l1, l2);
            let (mut a, mut b) = (-10.0f64, 10.0f64);
            let g = (5f64.sqrt() - 1.0) / 2.0;
            for _ in 0..200 {
                let c = b - g * (b - a);
                let d = a + g * (b - a);
                if f(c) > f(d) {
                    b = d;
                } else {
                    a = c;
                }
            }
            let numeric = ((a + b) / 2.0).exp();
            assert!(
                ((numeric - closed) / closed).abs() < 1e-6,
                "λ1 {l1}, λ2 {l2}: numeric {numeric} vs closed {closed}"
            );
        }
    }
}
