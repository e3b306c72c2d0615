//! Random checkpoints for any family, without burn.

use std::collections::BTreeMap;

use ardent_data::SplitMix64;
use ardent_models::{Checkpoint, CheckpointMeta, Family, TensorF32, TensorRole};

/// A small deterministic generator: uniform draws from SplitMix64, normal ones by Box–Muller.
#[derive(Debug)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64(seed))
    }

    pub fn uniform(&mut self) -> f64 {
        self.0.uniform()
    }

    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Log σ² that makes a weight of mean `mu` clearly kept (ρ ≈ 0) or clearly pruned (ρ ≈ 1)
/// at any λ in [0.5, 0.999].
pub fn log_sigma2(mu: f32, keep: bool) -> f32 {
    let mu2 = (mu * mu).max(1e-12);
    if keep {
        (mu2 / 1e3).ln()
    } else {
        (mu2 * 1e4).ln()
    }
}

/// A checkpoint with random weights where each weight is pruned with probability
/// `prune`, each whole output unit with probability `dead_rows`, and each whole input
/// column with probability `dead_cols`.
pub fn random_checkpoint(
    f: &Family,
    seed: u64,
    prune: f64,
    dead_rows: f64,
    dead_cols: f64,
) -> Checkpoint {
    let mut rng = Rng::new(seed);
    let mut tensors = BTreeMap::new();
    let layout = f.tensor_layout();
    let mut masks: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for t in &layout {
        let n: usize = t.shape.iter().product();
        let data: Vec<f32> = match t.role {
            TensorRole::WeightMu => {
                let (rows, cols) = (t.shape[0], n / t.shape[0]);
                let in_ch = t.shape.get(1).copied().unwrap_or(1);
                let area = cols / in_ch;
                let row_dead: Vec<bool> = (0..rows).map(|_| rng.uniform() < dead_rows).collect();
                let col_dead: Vec<bool> = (0..in_ch).map(|_| rng.uniform() < dead_cols).collect();
                let mut keep = Vec::with_capacity(n);
                let mut mu = Vec::with_capacity(n);
                let scale = (2.0 / cols as f64).sqrt();
                for i in 0..n {
                    let (r, c) = (i / cols, (i % cols) / area);
                    keep.push(!row_dead[r] && !col_dead[c] && rng.uniform() >= prune);
                    mu.push((rng.normal() * scale) as f32);
                }
                masks.insert(t.name.replace(".mu", ""), keep);
                mu
            }
            TensorRole::WeightLogSigma2 => continue,
            TensorRole::Alpha => vec![1.0; n],
            TensorRole::Bias | TensorRole::Constant => {
                (0..n).map(|_| (0.3 * rng.normal()) as f32).collect()
            }
            TensorRole::InputMean => (0..n).map(|_| (2.0 * rng.uniform()) as f32).collect(),
            TensorRole::InputStd => (0..n).map(|_| (0.5 + rng.uniform()) as f32).collect(),
            TensorRole::LogNoiseVar => vec![0.0; n],
            TensorRole::GammaLogits | TensorRole::CodeGateLogits => {
                (0..n).map(|_| (1.5 * rng.normal()) as f32).collect()
            }
            TensorRole::GammaLogSigma
            | TensorRole::GammaLogPrior
            | TensorRole::CodeGateLogSigma
            | TensorRole::CodeGateLogPrior => vec![0.0; n],
            TensorRole::OutputRange => vec![0.0, 255.0],
            TensorRole::NormScale => (0..n).map(|_| (1.0 + 0.3 * rng.normal()) as f32).collect(),
            TensorRole::NormShift | TensorRole::NormMean => {
                (0..n).map(|_| (0.3 * rng.normal()) as f32).collect()
            }
            TensorRole::NormVar => (0..n).map(|_| (0.5 + rng.uniform()) as f32).collect(),
        };
        tensors.insert(t.name.clone(), TensorF32::new(t.shape.clone(), data));
    }
    for t in &layout {
        if t.role == TensorRole::WeightLogSigma2 {
            let base = t.name.replace(".log_sigma2", "");
            let mu = tensors[&format!("{base}.mu")].data.clone();
            let keep = &masks[&base];
            let ls = mu
                .iter()
                .zip(keep)
                .map(|(&m, &k)| log_sigma2(m, k))
                .collect();
            tensors.insert(t.name.clone(), TensorF32::new(t.shape.clone(), ls));
        }
    }
    Checkpoint {
        family: f.clone(),
        tensors,
        meta: CheckpointMeta::untrained(seed),
        optimizer: Default::default(),
    }
}

pub fn family(src: &str) -> Family {
    Family::parse(src).unwrap_or_else(|e| panic!("test spec: {e}"))
}
