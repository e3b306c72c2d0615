//! What each tensor of a checkpoint is, apart from the layout so that op families can name
//! their own tensors.

/// What a tensor is, so readers can check it beyond its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    WeightMu,
    WeightLogSigma2,
    Alpha,
    Bias,
    Constant,
    InputMean,
    InputStd,
    LogNoiseVar,
    /// A searched edge's structure logits θ (`[ops]`); its owner is `(edge, 0)`.
    GammaLogits,
    /// A logit-normal edge's log σ (`[ops]`); its owner is `(edge, 0)`.
    GammaLogSigma,
    /// A searched edge's prior log concentration ln s (`[ops]`); its owner is `(edge, 0)`.
    GammaLogPrior,
    /// A batch norm's learned per-channel scale and shift.
    NormScale,
    NormShift,
    /// A batch norm's running per-channel mean and variance (≥ 0) of its input.
    NormMean,
    NormVar,
    /// A code's gate logits θ (`[dims]`), one per dimension as a searched cube edge's per op.
    CodeGateLogits,
    /// A logit-normal gate's log σ (`[dims]`).
    CodeGateLogSigma,
    /// A gate's prior log concentration ln s (`[dims]`).
    CodeGateLogPrior,
    /// A Bernoulli VAE's data range `[low, high]` (high > low): its reconstruction targets are
    /// `(x − low) / (high − low)`.
    OutputRange,
}
