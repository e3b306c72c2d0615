//! Keep-masks by the relative-density rule ([`ardent_models::pruning`], where it is stated once)
//! over whole tensors, and the rule's Sparse VD form in log α = log(σ²/μ²).

pub use ardent_models::pruning::relative_density;
use ardent_models::pruning::{keeps_at_factor, variance_factor};

/// ρ from Sparse VD's log α = log(σ²/μ²): ρ = exp(−1/(2α)).
pub fn relative_density_from_log_alpha(log_alpha: f32) -> f32 {
    (-0.5 * (-f64::from(log_alpha)).exp()).exp() as f32
}

/// The log α at which ρ equals `lambda`: log α = −log(−2 log λ). λ = 0.975 gives ≈ 3.0.
pub fn log_alpha_threshold(lambda: f64) -> f64 {
    -(-2.0 * lambda.ln()).ln()
}

/// λ = exp(−e^(−log α)/2): the inverse of [`log_alpha_threshold`] (0 below log α ≈ −7.3,
/// where it underflows).
pub fn lambda_at_log_alpha(log_alpha: f64) -> f64 {
    (-0.5 * (-log_alpha).exp()).exp()
}

/// Keep-mask by the rule: `true` where the weight survives (ρ ≤ λ), decided as
/// μ² ≥ σ²·(−2 ln λ) in f64 (the trainer's form), so that tiny λ still separate weights whose
/// ρ underflows: any λ down to f64's smallest positive value (log α ≈ −7.3) is meaningful.
///
/// # Panics
/// When `mu` and `log_sigma2` differ in length.
pub fn keep_mask(mu: &[f32], log_sigma2: &[f32], lambda: f64) -> Vec<bool> {
    check_lengths(mu, log_sigma2);
    let factor = variance_factor(lambda);
    mu.iter()
        .zip(log_sigma2)
        .map(|(&m, &s)| keeps_at_factor(m, s, factor))
        .collect()
}

/// Keep-mask by a log α threshold: `true` where log σ² − log μ² ≤ `threshold`, decided as
/// μ² ≥ σ²·e^(−threshold) in f64.
///
/// # Panics
/// When `mu` and `log_sigma2` differ in length.
pub fn keep_mask_log_alpha(mu: &[f32], log_sigma2: &[f32], threshold: f64) -> Vec<bool> {
    check_lengths(mu, log_sigma2);
    mu.iter()
        .zip(log_sigma2)
        .map(|(&m, &s)| {
            let m = f64::from(m);
            m * m >= (f64::from(s) - threshold).exp()
        })
        .collect()
}

fn check_lengths(mu: &[f32], log_sigma2: &[f32]) {
    assert_eq!(
        mu.len(),
        log_sigma2.len(),
        "mu and log_sigma2 lengths differ"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rho_and_log_alpha_forms_agree() {
        for &(mu, log_s2) in &[(0.3f32, -4.0f32), (-1.2, 0.5), (0.01, -2.0), (2.0, -9.0)] {
            let log_alpha = log_s2 - (mu * mu).ln();
            let a = relative_density(mu, log_s2);
            let b = relative_density_from_log_alpha(log_alpha);
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn lambda_and_log_alpha_are_inverse() {
        for t in [-3.0, 0.0, 3.0, 8.0] {
            let l = lambda_at_log_alpha(t);
            assert!((log_alpha_threshold(l) - t).abs() < 1e-6, "{t}");
        }
        assert_eq!(lambda_at_log_alpha(-10.0), 0.0);
    }

    #[test]
    fn threshold_0975_is_log_alpha_3() {
        let t = log_alpha_threshold(0.975);
        assert!((t - 3.0).abs() < 0.02, "{t}");
        // At the threshold the two forms meet λ.
        let rho = relative_density_from_log_alpha(t as f32);
        assert!((rho - 0.975).abs() < 1e-5, "{rho}");
    }

    #[test]
    fn mask_keeps_informative_weights() {
        // μ = 1, σ² = 0.01: ρ = e^-50, kept. μ = 0.01, σ² = 1: ρ ≈ 1, pruned.
        let m = keep_mask(&[1.0, 0.01], &[0.01f32.ln(), 0.0], 0.975);
        assert_eq!(m, vec![true, false]);
        // ρ underflows here (log α = −6.9, ρ = e^-500), yet λ = e^-600 and e^-400 still tell
        // the weight apart.
        assert_eq!(
            keep_mask(&[1.0], &[-(1000f32.ln())], (-600f64).exp()),
            vec![false]
        );
        assert_eq!(
            keep_mask(&[1.0], &[-(1000f32.ln())], (-400f64).exp()),
            vec![true]
        );
        // A mean of exactly zero is always pruned for λ < 1.
        assert_eq!(keep_mask(&[0.0], &[-20.0], 0.999), vec![false]);
        assert_eq!(keep_mask(&[0.0], &[-20.0], 1e-300), vec![false]);
    }

    #[test]
    fn log_alpha_masks_agree_with_lambda_masks_and_go_below_them() {
        // log α of these weights: −9.2, −4.6, 0, 2.3, 4.6.
        let mu = [1.0f32, 1.0, 1.0, 0.1, 0.1];
        let ls = [1e-4f32.ln(), 1e-2f32.ln(), 0.0, 0.1f32.ln(), 0.0];
        for t in [-3.0, 1.0, 3.0] {
            let lambda = (-0.5 * f64::exp(-t)).exp();
            assert_eq!(
                keep_mask_log_alpha(&mu, &ls, t),
                keep_mask(&mu, &ls, lambda),
                "{t}"
            );
        }
        // −8 has no λ in f64 (it underflows), yet separates −9.2 from −4.6.
        assert_eq!(
            keep_mask_log_alpha(&mu, &ls, -8.0),
            vec![true, false, false, false, false]
        );
    }
}
