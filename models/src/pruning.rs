//! The relative-density rule, stated once for the trainer and the exporter. For
//! q(w) = N(μ, σ²) the relative density at zero is ρ = q(0)/q(μ) = exp(−μ²/2σ²), and w is
//! pruned when ρ > λ. Both sides decide it as μ² ≥ σ² · (−2 ln λ): no exp of −μ²/2σ², which
//! underflows to 0 long before λ does, so any λ down to f64's smallest positive value still
//! separates weights.

/// The threshold used when none is given: λ = 0.975, log α = log(σ²/μ²) ≈ 3.
pub const DEFAULT_LAMBDA: f64 = 0.975;

/// −2 ln λ: a weight survives at λ when μ² ≥ σ² times this.
pub fn variance_factor(lambda: f64) -> f64 {
    -2.0 * lambda.ln()
}

/// Whether a weight with mean `mu` and log-variance `log_sigma2` survives at `lambda` (ρ ≤ λ),
/// decided in f64.
pub fn keeps(mu: f32, log_sigma2: f32, lambda: f64) -> bool {
    keeps_at_factor(mu, log_sigma2, variance_factor(lambda))
}

/// [`keeps`] with the factor computed once for many weights.
pub fn keeps_at_factor(mu: f32, log_sigma2: f32, factor: f64) -> bool {
    let mu = f64::from(mu);
    mu * mu >= f64::from(log_sigma2).exp() * factor
}

/// ρ = exp(−μ² / (2σ²)) from μ and log σ², in f64 and rounded once.
pub fn relative_density(mu: f32, log_sigma2: f32) -> f32 {
    let mu = f64::from(mu);
    (-(mu * mu) / (2.0 * f64::from(log_sigma2).exp())).exp() as f32
}
