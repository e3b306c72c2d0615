//! Feature normalisation, fitted on training data and applied unchanged elsewhere.

use crate::dataset::Dataset;

/// `x' = (x − mean) / std` per feature. Fit it on the training split only.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// How [`Normalizer::fit`] pools statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// One mean and std per feature (tabular data).
    PerFeature,
    /// One mean and std for all values (images: pixels share a scale).
    Global,
}

impl Normalizer {
    /// Fits mean and standard deviation on `data`. A constant feature gets std 1 so it maps to 0.
    pub fn fit(data: &Dataset, pooling: Pooling) -> Normalizer {
        let size = data.sample_size();
        let n = data.len().max(1) as f64;
        let mut sum = vec![0f64; size];
        let mut sq = vec![0f64; size];
        for i in 0..data.len() {
            for (j, &x) in data.sample(i).iter().enumerate() {
                sum[j] += f64::from(x);
                sq[j] += f64::from(x) * f64::from(x);
            }
        }
        let (mean, var): (Vec<f64>, Vec<f64>) = match pooling {
            Pooling::PerFeature => sum
                .iter()
                .zip(&sq)
                .map(|(s, q)| {
                    let m = s / n;
                    (m, (q / n - m * m).max(0.0))
                })
                .unzip(),
            Pooling::Global => {
                let total = n * size as f64;
                let m = sum.iter().sum::<f64>() / total;
                let v = (sq.iter().sum::<f64>() / total - m * m).max(0.0);
                (vec![m; size], vec![v; size])
            }
        };
        Normalizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var
                .iter()
                .map(|&v| if v > 1e-12 { v.sqrt() as f32 } else { 1.0 })
                .collect(),
        }
    }

    /// Normalises every sample in place.
    pub fn apply(&self, data: &mut Dataset) {
        let size = self.mean.len();
        for row in data.features.chunks_exact_mut(size) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
    }
}
