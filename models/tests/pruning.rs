//! The relative-density rule: the μ²-against-σ² form against ρ = exp(−μ²/2σ²) computed
//! directly, and the cases where ρ underflows.

use ardent_models::pruning::{DEFAULT_LAMBDA, keeps, relative_density, variance_factor};

#[test]
fn keeps_exactly_where_the_relative_density_is_at_most_lambda() {
    let lambdas = [0.1, 0.5, 0.9, DEFAULT_LAMBDA, 0.999];
    for i in 0..400 {
        let mu = (i as f32 - 200.0) / 37.0;
        for j in 0..40 {
            let log_s2 = -8.0 + j as f32 * 0.3;
            let rho = f64::from(mu).powi(2) / (2.0 * f64::from(log_s2).exp());
            let rho = (-rho).exp();
            for &lambda in &lambdas {
                // Away from the boundary, where rounding could take either side.
                if (rho - lambda).abs() > 1e-9 {
                    assert_eq!(
                        keeps(mu, log_s2, lambda),
                        rho <= lambda,
                        "μ {mu}, log σ² {log_s2}, λ {lambda}: ρ {rho}"
                    );
                }
            }
            assert!((f64::from(relative_density(mu, log_s2)) - rho).abs() < 1e-7);
        }
    }
}

#[test]
fn tiny_lambdas_still_separate_weights_whose_density_underflows() {
    // ρ = exp(−1000) and exp(−500) are both 0 in f64; λ = e^−700 lies between them.
    let lambda = (-700f64).exp();
    assert!(lambda > 0.0);
    let log_s2 = 0.0;
    assert!(keeps(2000f32.sqrt(), log_s2, lambda));
    assert!(!keeps(1000f32.sqrt(), log_s2, lambda));
    assert_eq!(relative_density(2000f32.sqrt(), log_s2), 0.0);
    // −2 ln λ for the default λ: log α = −ln(−2 ln λ) ≈ 3.
    assert!((-variance_factor(DEFAULT_LAMBDA).ln() - 3.0).abs() < 0.02);
}
