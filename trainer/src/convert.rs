//! Between a [`Supernet`] and the checkpoint's named tensors ([`Family::tensor_layout`]).

use std::collections::BTreeMap;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use ardent_data::Normalizer;
use ardent_models::{Family, TensorF32, TensorRole};

use crate::supernet::Supernet;
use crate::value::values;

fn param<const D: usize>(t: &TensorF32, shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(
        TensorData::new(t.data.clone(), shape),
        device,
    ))
}

fn dims<const D: usize>(shape: &[usize]) -> [usize; D] {
    let mut out = [0; D];
    out.copy_from_slice(&shape[..D]);
    out
}

/// The supernet's tensors, plus the input normaliser, under their checkpoint names.
pub fn to_tensors(net: &Supernet, norm: &Normalizer) -> BTreeMap<String, TensorF32> {
    let f = &net.family;
    let mut out = BTreeMap::new();
    for spec in f.tensor_layout() {
        let data = match (spec.role, spec.owner) {
            (TensorRole::InputMean, _) => norm.mean.clone(),
            (TensorRole::InputStd, _) => norm.std.clone(),
            (TensorRole::LogNoiseVar, _) => net
                .log_noise_var
                .as_ref()
                .map(|p| values(p.val()))
                .unwrap_or_default(),
            (TensorRole::GammaLogits, Some((e, _))) => net.gamma[e]
                .as_ref()
                .map(|g| values(g.theta.val()))
                .unwrap_or_default(),
            (TensorRole::GammaLogPrior, Some((e, _))) => net.gamma[e]
                .as_ref()
                .map(|g| values(g.log_prior.val()))
                .unwrap_or_default(),
            (TensorRole::GammaLogSigma, Some((e, _))) => net.gamma[e]
                .as_ref()
                .and_then(|g| g.log_sigma.as_ref())
                .map(|s| values(s.val()))
                .unwrap_or_default(),
            (role, Some((e, r))) => {
                let p = &net.ops[e][r];
                let ard = &f.edges[e].ard[r];
                match (role, &p.dense, &p.conv) {
                    (TensorRole::WeightMu, Some(d), _) => values(d.mu.val().transpose()),
                    (TensorRole::WeightLogSigma2, Some(d), _) => {
                        values(d.log_sigma2.val().transpose())
                    }
                    // α is [in, out], [1, out] or [in, 1]: transposing gives [out, in] or a
                    // vector in the same order.
                    (TensorRole::Alpha, Some(d), _) => values(d.alpha(ard).transpose()),
                    (TensorRole::Bias, Some(d), _) => {
                        d.bias.as_ref().map(|b| values(b.val())).unwrap_or_default()
                    }
                    (TensorRole::WeightMu, _, Some(c)) => values(c.mu.val()),
                    (TensorRole::WeightLogSigma2, _, Some(c)) => values(c.log_sigma2.val()),
                    // [o, i·k·k] (row-major, as the kernel), [o, 1] or [i, 1].
                    (TensorRole::Alpha, _, Some(c)) => values(c.alpha(ard)),
                    (TensorRole::Bias, _, Some(c)) => {
                        c.bias.as_ref().map(|b| values(b.val())).unwrap_or_default()
                    }
                    (TensorRole::NormScale, _, _) => p
                        .norm
                        .as_ref()
                        .map(|n| values(n.scale.val()))
                        .unwrap_or_default(),
                    (TensorRole::NormShift, _, _) => p
                        .norm
                        .as_ref()
                        .map(|n| values(n.shift.val()))
                        .unwrap_or_default(),
                    (TensorRole::NormMean, _, _) => p
                        .norm
                        .as_ref()
                        .map(|n| values(n.mean.value_sync()))
                        .unwrap_or_default(),
                    (TensorRole::NormVar, _, _) => p
                        .norm
                        .as_ref()
                        .map(|n| values(n.var.value_sync()))
                        .unwrap_or_default(),
                    (TensorRole::Constant, _, _) => p
                        .constant
                        .as_ref()
                        .map(|c| values(c.val()))
                        .unwrap_or_default(),
                    _ => Vec::new(),
                }
            }
            (_, None) => Vec::new(),
        };
        out.insert(spec.name, TensorF32::new(spec.shape, data));
    }
    out
}

/// Rebuilds a supernet from checked checkpoint tensors (see `Checkpoint::check`), returning
/// it with the normaliser.
pub fn from_tensors(
    family: &Family,
    tensors: &BTreeMap<String, TensorF32>,
    device: &Device,
) -> Result<(Supernet, Normalizer), crate::TrainError> {
    // Every tensor is overwritten below; the seed only fills what gets replaced.
    let mut net = Supernet::new(family, device, 0)?;
    let get = |name: &str| {
        tensors
            .get(name)
            .ok_or_else(|| crate::TrainError::Config(format!("checkpoint has no tensor `{name}`")))
    };
    let norm = Normalizer {
        mean: get("input.mean")?.data.clone(),
        std: get("input.std")?.data.clone(),
    };
    if let Some(p) = net.log_noise_var.as_mut() {
        let t = get("output.log_noise_var")?;
        *p = param(t, dims::<1>(&t.shape), device);
    }
    for spec in family.tensor_layout() {
        let Some((e, r)) = spec.owner else { continue };
        let t = get(&spec.name)?;
        let p = &mut net.ops[e][r];
        match spec.role {
            TensorRole::WeightMu | TensorRole::WeightLogSigma2 => {
                if let Some(d) = p.dense.as_mut() {
                    let [o, i] = dims::<2>(&t.shape);
                    let loaded: Param<Tensor<2>> = param(t, [o, i], device);
                    let transposed = Param::from_tensor(loaded.val().transpose());
                    if spec.role == TensorRole::WeightMu {
                        d.mu = transposed;
                    } else {
                        d.log_sigma2 = transposed;
                    }
                } else if let Some(c) = p.conv.as_mut() {
                    let loaded = param(t, dims::<4>(&t.shape), device);
                    if spec.role == TensorRole::WeightMu {
                        c.mu = loaded;
                    } else {
                        c.log_sigma2 = loaded;
                    }
                }
            }
            TensorRole::Bias => {
                let b = Some(param(t, dims::<1>(&t.shape), device));
                if let Some(d) = p.dense.as_mut() {
                    d.bias = b;
                } else if let Some(c) = p.conv.as_mut() {
                    c.bias = b;
                }
            }
            TensorRole::Constant => p.constant = Some(param(t, dims::<1>(&t.shape), device)),
            TensorRole::GammaLogits => {
                if let Some(g) = net.gamma[e].as_mut() {
                    g.theta = param(t, dims::<1>(&t.shape), device);
                }
            }
            TensorRole::GammaLogPrior => {
                if let Some(g) = net.gamma[e].as_mut() {
                    g.log_prior = param(t, dims::<1>(&t.shape), device);
                }
            }
            TensorRole::GammaLogSigma => {
                if let Some(g) = net.gamma[e].as_mut() {
                    g.log_sigma = Some(param(t, dims::<1>(&t.shape), device));
                }
            }
            TensorRole::NormScale | TensorRole::NormShift => {
                if let Some(n) = p.norm.as_mut() {
                    let v = param(t, dims::<1>(&t.shape), device);
                    if spec.role == TensorRole::NormScale {
                        n.scale = v;
                    } else {
                        n.shift = v;
                    }
                }
            }
            TensorRole::NormMean | TensorRole::NormVar => {
                if let Some(n) = p.norm.as_mut() {
                    let v = burn::module::RunningState::new(
                        param(t, dims::<1>(&t.shape), device).val(),
                    );
                    if spec.role == TensorRole::NormMean {
                        n.mean = v;
                    } else {
                        n.var = v;
                    }
                }
            }
            // α is derived from μ and σ² at every step.
            _ => {}
        }
    }
    Ok((net, norm))
}
