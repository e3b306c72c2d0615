//! Getting a dataset ready for a family: shape, targets, split, normalisation, batches.

use burn::tensor::{Device, Int, Tensor, TensorData};

use ardent_data::{Dataset, Normalizer, Pooling, Splits, Targets};
use ardent_models::{Family, Task};

use crate::error::TrainError;
use crate::supernet::Value;

/// Train, validation and (when the source has one) test sets, normalised alike.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub train: Dataset,
    pub valid: Dataset,
    pub test: Option<Dataset>,
    pub normalizer: Normalizer,
    /// FNV-1a of the raw training features and targets, before the split.
    pub fingerprint: String,
}

fn fnv1a(d: &Dataset) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: [u8; 4]| {
        for b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for v in &d.features {
        eat(v.to_le_bytes());
    }
    match &d.targets {
        Targets::Classes { labels, .. } => labels.iter().for_each(|l| eat(l.to_le_bytes())),
        Targets::Real { values, .. } => values.iter().for_each(|v| eat(v.to_le_bytes())),
    }
    h
}

fn fit_family(d: Dataset, family: &Family) -> Result<Dataset, TrainError> {
    let want = family.input_shape().0.clone();
    let size: usize = want.iter().product();
    if d.sample_size() != size {
        return Err(TrainError::Config(format!(
            "{}: samples have shape {:?} ({} values), but the spec `{}` takes {:?}",
            d.name,
            d.sample_shape,
            d.sample_size(),
            family.name,
            want
        )));
    }
    match (&d.targets, family.task) {
        (Targets::Classes { .. }, Task::Classification { classes }) => d.check_classes(classes)?,
        (Targets::Real { width, .. }, Task::Regression { targets }) if *width == targets => {}
        (_, task) => {
            return Err(TrainError::Config(format!(
                "{}: its targets do not fit the spec's task {task:?}",
                d.name
            )));
        }
    }
    let mut d = d.reshaped(want)?;
    if let (Targets::Classes { classes: c, .. }, Task::Classification { classes }) =
        (&mut d.targets, family.task)
    {
        *c = classes;
    }
    Ok(d)
}

/// Reshapes the data to the family's input, checks its targets, splits off `valid_fraction`
/// of the training set by `seed`, and normalises everything with `normalizer` (or one fitted on
/// the training split: one scale for images, one per feature for vectors).
pub fn prepare(
    family: &Family,
    splits: Splits,
    valid_fraction: f64,
    seed: u64,
    normalizer: Option<Normalizer>,
) -> Result<Prepared, TrainError> {
    let images = splits.train.sample_shape.len() == 3;
    let fingerprint = format!("{:016x}", fnv1a(&splits.train));
    let train = fit_family(splits.train, family)?;
    let test = splits.test.map(|t| fit_family(t, family)).transpose()?;
    let (mut train, mut valid) = train.split(valid_fraction, seed);
    if train.is_empty() {
        return Err(TrainError::Config(format!(
            "{}: no training samples left after the validation split",
            train.name
        )));
    }
    let normalizer = normalizer.unwrap_or_else(|| {
        Normalizer::fit(
            &train,
            if images {
                Pooling::Global
            } else {
                Pooling::PerFeature
            },
        )
    });
    normalizer.apply(&mut train);
    normalizer.apply(&mut valid);
    let test = test.map(|mut t| {
        normalizer.apply(&mut t);
        t
    });
    Ok(Prepared {
        train,
        valid,
        test,
        normalizer,
        fingerprint,
    })
}

/// The inputs of the samples at `idx` as one batch.
pub fn batch_input(d: &Dataset, idx: &[usize], device: &Device) -> Value {
    let mut x = Vec::with_capacity(idx.len() * d.sample_size());
    for &i in idx {
        x.extend_from_slice(d.sample(i));
    }
    match d.sample_shape.as_slice() {
        [c, h, w] => Value::Image(Tensor::from_data(
            TensorData::new(x, [idx.len(), *c, *h, *w]),
            device,
        )),
        _ => Value::Vector(Tensor::from_data(
            TensorData::new(x, [idx.len(), d.sample_size()]),
            device,
        )),
    }
}

/// Targets of the samples at `idx`: class indices `[b]` or real values `[b, width]`.
#[derive(Debug, Clone)]
pub enum BatchTargets {
    Classes(Tensor<1, Int>, Vec<u32>),
    Real(Tensor<2>, Vec<f32>),
}

pub fn batch_targets(d: &Dataset, idx: &[usize], device: &Device) -> BatchTargets {
    match &d.targets {
        Targets::Classes { labels, .. } => {
            let l: Vec<u32> = idx.iter().map(|&i| labels[i]).collect();
            let t: Vec<i64> = l.iter().map(|&v| i64::from(v)).collect();
            BatchTargets::Classes(
                Tensor::from_data(TensorData::new(t, [idx.len()]), device),
                l,
            )
        }
        Targets::Real { values, width } => {
            let v: Vec<f32> = idx
                .iter()
                .flat_map(|&i| values[i * width..(i + 1) * width].iter().copied())
                .collect();
            BatchTargets::Real(
                Tensor::from_data(TensorData::new(v.clone(), [idx.len(), *width]), device),
                v,
            )
        }
    }
}
