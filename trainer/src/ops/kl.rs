use burn::tensor::Tensor;

use ardent_models::Ard;

use super::elementwise;
use super::fused::fused_available;

/// ARD KL for one weight tensor seen as a matrix `[rows, cols]`, with the precisions at their
/// closed-form MAP value (`docs/method.md` §4): a group is a whole row or column when `group_dim`
/// names the axis summed over (0: one α per column, 1: one per row), a single weight otherwise.
///
/// α* = (n + 2λ1 − 2) / (S + 2λ2), S the group's Σ(μ² + σ²). By the envelope theorem the
/// gradient of the optimised objective is the partial one at fixed α:
/// ∂KL/∂μ = αμ and ∂KL/∂log σ² = ½(ασ² − 1). Both are computed outside the autodiff graph and
/// enter it through a linear surrogate, so the backward pass costs two scaled copies instead of
/// differentiating the KL expression (which was a quarter of a training step). The returned
/// KL (a one-element tensor) has exactly these gradients, and the exact value when
/// `with_value` (otherwise 0: training steps need only the gradient, and the logarithm of the
/// value costs as much again). Without the value, on flex, the gradient is one fused pass
/// ([`elementwise::ard_kl_gradient`]).
pub fn ard_kl(
    mu: Tensor<2>,
    log_sigma2: Tensor<2>,
    ard: &Ard,
    group_dim: Option<usize>,
    with_value: bool,
) -> Tensor<1> {
    if !with_value && mu.is_autodiff() && fused_available(&mu.device()) {
        return elementwise::ard_kl_gradient(
            mu,
            log_sigma2,
            ard.lambda1 as f32,
            ard.lambda2 as f32,
            group_dim,
        );
    }
    let m = mu.clone().inner();
    let ls = log_sigma2.clone().inner();
    let sigma2 = ls.clone().exp();
    let alpha = alpha(m.clone(), sigma2.clone(), ard, group_dim);
    let value = if with_value {
        ((m.clone().square() + sigma2.clone()) * alpha.clone() - alpha.clone().log() - ls)
            .sub_scalar(1.0)
            .sum()
            .mul_scalar(0.5)
    } else {
        Tensor::zeros([1], &alpha.device())
    };
    if !mu.is_autodiff() {
        return value;
    }
    let grad_mu = (m * alpha.clone()).autodiff();
    let grad_ls = (sigma2 * alpha).sub_scalar(1.0).mul_scalar(0.5).autodiff();
    let surrogate = (mu * grad_mu).sum() + (log_sigma2 * grad_ls).sum();
    surrogate.clone() - surrogate.detach() + value.autodiff()
}

/// The optimal ARD precisions α of [`ard_kl`] in their group shape (`[rows, cols]`,
/// `[1, cols]` or `[rows, 1]`), without autodiff.
pub fn ard_alpha(
    mu: Tensor<2>,
    log_sigma2: Tensor<2>,
    ard: &Ard,
    group_dim: Option<usize>,
) -> Tensor<2> {
    let sigma2 = log_sigma2.inner().exp();
    alpha(mu.inner(), sigma2, ard, group_dim)
}

fn alpha(mu: Tensor<2>, sigma2: Tensor<2>, ard: &Ard, group_dim: Option<usize>) -> Tensor<2> {
    let second = mu.square() + sigma2;
    match group_dim {
        None => second
            .add_scalar(2.0 * ard.lambda2)
            .recip()
            .mul_scalar(2.0 * ard.lambda1 - 1.0),
        Some(d) => {
            let n = second.dims()[d] as f64;
            second
                .sum_dim(d)
                .add_scalar(2.0 * ard.lambda2)
                .recip()
                .mul_scalar(n + 2.0 * ard.lambda1 - 2.0)
        }
    }
}
