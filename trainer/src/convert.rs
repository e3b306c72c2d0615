//! Between a [`Supernet`] and the checkpoint's named tensors ([`Family::tensor_layout`]).

use std::collections::BTreeMap;

use burn::tensor::Device;

use ardent_data::Normalizer;
use ardent_models::{Family, TensorF32, TensorRole};

use crate::error::TrainError;
use crate::ops::train_op;
use crate::supernet::Supernet;
use crate::value::{param, values};

/// The supernet's tensors, plus the input normaliser, under their checkpoint names. A tensor
/// of the layout that the net does not hold is an error (the layout and the ops disagree).
pub fn to_tensors(
    net: &Supernet,
    norm: &Normalizer,
) -> Result<BTreeMap<String, TensorF32>, TrainError> {
    let f = &net.family;
    let mut out = BTreeMap::new();
    for spec in f.tensor_layout() {
        let gamma = |e: usize| net.gamma[e].as_ref();
        let data = match (spec.role, spec.owner) {
            (TensorRole::InputMean, _) => Some(norm.mean.clone()),
            (TensorRole::InputStd, _) => Some(norm.std.clone()),
            (TensorRole::LogNoiseVar, _) => net.log_noise_var.as_ref().map(|p| values(p.val())),
            (TensorRole::OutputRange, _) => net.output_range.map(|r| r.to_vec()),
            (TensorRole::GammaLogits, Some((e, _))) => gamma(e).map(|g| values(g.theta.val())),
            (TensorRole::GammaLogPrior, Some((e, _))) => {
                gamma(e).map(|g| values(g.log_prior.val()))
            }
            (TensorRole::GammaLogSigma, Some((e, _))) => gamma(e)
                .and_then(|g| g.log_sigma.as_ref())
                .map(|s| values(s.val())),
            (role, Some((e, r))) => {
                train_op(&f.edges[e].ops[r]).save(&net.ops[e][r], role, &f.edges[e].ard[r])
            }
            (_, None) => None,
        };
        let data = data.ok_or_else(|| {
            TrainError::Config(format!("the net holds no tensor `{}`", spec.name))
        })?;
        out.insert(spec.name, TensorF32::new(spec.shape, data));
    }
    Ok(out)
}

/// Rebuilds a supernet from checked checkpoint tensors (see `Checkpoint::check`), returning
/// it with the normaliser.
pub fn from_tensors(
    family: &Family,
    tensors: &BTreeMap<String, TensorF32>,
    device: &Device,
) -> Result<(Supernet, Normalizer), TrainError> {
    // Every tensor is overwritten below; the seed only fills what gets replaced.
    let mut net = Supernet::new(family, device, 0)?;
    let get = |name: &str| {
        tensors
            .get(name)
            .ok_or_else(|| TrainError::Config(format!("checkpoint has no tensor `{name}`")))
    };
    let norm = Normalizer {
        mean: get("input.mean")?.data.clone(),
        std: get("input.std")?.data.clone(),
    };
    if let Some(p) = net.log_noise_var.as_mut() {
        let t = get("output.log_noise_var")?;
        *p = param(t, device);
    }
    if let Some(spec) = family
        .tensor_layout()
        .into_iter()
        .find(|s| s.role == TensorRole::OutputRange)
    {
        let t = get(&spec.name)?;
        net.output_range = Some([t.data[0], t.data[1]]);
    }
    for spec in family.tensor_layout() {
        let Some((e, r)) = spec.owner else { continue };
        let t = get(&spec.name)?;
        let gamma = net.gamma[e].as_mut();
        let loaded = match (spec.role, gamma) {
            (TensorRole::GammaLogits, Some(g)) => {
                g.theta = param(t, device);
                true
            }
            (TensorRole::GammaLogPrior, Some(g)) => {
                g.log_prior = param(t, device);
                true
            }
            (TensorRole::GammaLogSigma, Some(g)) => {
                g.log_sigma = Some(param(t, device));
                true
            }
            (role, _) => {
                train_op(&family.edges[e].ops[r]).load(&mut net.ops[e][r], role, t, device)
            }
        };
        if !loaded {
            return Err(TrainError::Config(format!(
                "checkpoint tensor `{}` belongs to no parameter of the net",
                spec.name
            )));
        }
    }
    Ok((net, norm))
}
