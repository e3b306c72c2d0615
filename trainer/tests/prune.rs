//! The relative-density rule: ρ = q(0)/q(μ) = exp(−μ²/2σ²) computed three ways (the Gaussian
//! densities themselves, Sparse VD's log α form, and the trainer's tensor mask) must agree.

use burn::tensor::{Tensor, TensorData};

use ardent_trainer::ops::keep;

use crate::{device, vec2};

fn gauss(x: f64, mu: f64, s2: f64) -> f64 {
    (-(x - mu).powi(2) / (2.0 * s2)).exp() / (2.0 * std::f64::consts::PI * s2).sqrt()
}

#[test]
fn density_ratio_equals_log_alpha_form() {
    let _serial = crate::serial();
    for &(mu, log_s2) in &[(0.3f64, -4.0f64), (-1.2, -1.0), (0.01, -9.0), (2.0, 1.5)] {
        let s2 = log_s2.exp();
        let ratio = gauss(0.0, mu, s2) / gauss(mu, mu, s2);
        let log_alpha = log_s2 - (mu * mu).ln();
        let from_alpha = (-0.5 / log_alpha.exp()).exp();
        assert!(
            (ratio - from_alpha).abs() < 1e-12,
            "μ {mu}: {ratio} vs {from_alpha}"
        );
    }
    // log α = 3 is the Sparse VD threshold; it sits at λ = exp(−e⁻³/2) ≈ 0.9754.
    let lambda = (-0.5 * (-3.0f64).exp()).exp();
    assert!((lambda - 0.975).abs() < 1e-3, "{lambda}");
}

#[test]
fn tensor_mask_keeps_exactly_the_weights_with_rho_at_most_lambda() {
    let _serial = crate::serial();
    let dev = device();
    let lambda = 0.975f32;
    // log α from −4 to 6 around the threshold log α ≈ 3.
    let n = 101;
    let mu: Vec<f32> = (0..n)
        .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
        .collect();
    let log_alpha: Vec<f64> = (0..n)
        .map(|i| -4.0 + 10.0 * i as f64 / (n - 1) as f64)
        .collect();
    let s2: Vec<f32> = log_alpha
        .iter()
        .zip(&mu)
        .map(|(la, m)| (la.exp() * f64::from(*m).powi(2)) as f32)
        .collect();
    let t = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, n]), &dev);
    let mask = vec2(keep(&t(&mu), &t(&s2), lambda));
    for i in 0..n {
        let rho = (-f64::from(mu[i]).powi(2) / (2.0 * f64::from(s2[i]))).exp();
        // Values within float rounding of the threshold may go either way.
        if (rho - f64::from(lambda)).abs() < 1e-5 {
            continue;
        }
        let expected = if rho <= f64::from(lambda) { 1.0 } else { 0.0 };
        assert_eq!(mask[i], expected, "log α {}: ρ {rho}", log_alpha[i]);
    }
}
