//! Getting a dataset ready for a family: shape, targets, split, normalisation, batches.

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use ardent_data::{Dataset, Normalizer, Pooling, Splits, Targets};
use ardent_models::{Family, Likelihood, Task};

use crate::error::TrainError;
use crate::value::Value;

/// Train, validation and (when the source has one) test sets, normalised alike.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub train: Dataset,
    pub valid: Dataset,
    pub test: Option<Dataset>,
    pub normalizer: Normalizer,
    /// A Bernoulli VAE's data range `[low, high]`, fitted on the training split: its
    /// reconstruction targets are `(x − low) / (high − low)`, clamped to [0, 1].
    pub output_range: Option<[f32; 2]>,
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
        // A VAE's targets are its inputs; `prepare` sets them.
        (_, Task::Vae { .. }) => {}
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
    let mut test = splits.test.map(|t| fit_family(t, family)).transpose()?;
    let (mut train, mut valid) = train.split(valid_fraction, seed);
    if train.is_empty() {
        return Err(TrainError::Config(format!(
            "{}: no training samples left after the validation split",
            train.name
        )));
    }
    let output_range = match family.task {
        Task::Vae {
            likelihood: Likelihood::Bernoulli,
            ..
        } => {
            let range = data_range(&train)?;
            let [low, high] = range;
            let to_unit = |x: &f32| ((x - low) / (high - low)).clamp(0.0, 1.0);
            for d in [&mut train, &mut valid].into_iter().chain(test.as_mut()) {
                d.targets = Targets::Real {
                    values: d.features.iter().map(to_unit).collect(),
                    width: d.sample_size(),
                };
            }
            Some(range)
        }
        _ => None,
    };
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
    let mut test = test.map(|mut t| {
        normalizer.apply(&mut t);
        t
    });
    if let Task::Vae {
        likelihood: Likelihood::Gaussian,
        ..
    } = family.task
    {
        // The Gaussian's targets are the normalised inputs themselves.
        for d in [&mut train, &mut valid].into_iter().chain(test.as_mut()) {
            d.targets = Targets::Real {
                values: d.features.clone(),
                width: d.sample_size(),
            };
        }
    }
    Ok(Prepared {
        train,
        valid,
        test,
        normalizer,
        output_range,
        fingerprint,
    })
}

/// The lowest and highest value of a Bernoulli VAE's training data, which must differ.
fn data_range(d: &Dataset) -> Result<[f32; 2], TrainError> {
    let low = d.features.iter().copied().fold(f32::INFINITY, f32::min);
    let high = d.features.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if high <= low {
        return Err(TrainError::Config(format!(
            "{}: every training value is {low}: a Bernoulli VAE scales its data by its range, which is empty",
            d.name
        )));
    }
    Ok([low, high])
}

/// The inputs of the samples at `idx` as one batch.
pub fn batch_input(d: &Dataset, idx: &[usize], device: &Device) -> Value {
    to_value(d, batch_values(d, idx), idx.len(), device)
}

/// [`batch_input`] with each image augmented as `aug` says (see [`augment`]), the noise drawn
/// from `seed`; `fill` is the value of an uncovered pixel (the normalised zero).
pub fn batch_input_augmented(
    d: &Dataset,
    idx: &[usize],
    device: &Device,
    aug: Augment,
    fill: f32,
    seed: u64,
) -> Value {
    let mut x = batch_values(d, idx);
    if let [c, h, w] = d.sample_shape.as_slice() {
        augment(&mut x, [*c, *h, *w], aug, fill, seed);
    }
    to_value(d, x, idx.len(), device)
}

fn batch_values(d: &Dataset, idx: &[usize]) -> Vec<f32> {
    let mut x = Vec::with_capacity(idx.len() * d.sample_size());
    for &i in idx {
        x.extend_from_slice(d.sample(i));
    }
    x
}

fn to_value(d: &Dataset, x: Vec<f32>, n: usize, device: &Device) -> Value {
    match d.sample_shape.as_slice() {
        [c, h, w] => Value::Image(Tensor::from_data(
            TensorData::new(x, [n, *c, *h, *w]),
            device,
        )),
        _ => Value::Vector(Tensor::from_data(
            TensorData::new(x, [n, d.sample_size()]),
            device,
        )),
    }
}

/// Image augmentation for training batches (`--augment`): random shifts, as padding by
/// `shift` pixels and cropping back, and left–right mirroring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Augment {
    /// The largest shift in pixels along each axis (0: none).
    pub shift: usize,
    /// Mirror half the images left to right.
    pub flip: bool,
}

impl Augment {
    /// Whether it changes anything.
    pub fn active(&self) -> bool {
        self.shift > 0 || self.flip
    }
}

/// Augments a batch of images `[n, c, h, w]` (row-major) in place: sample i moves by (dy, dx),
/// each uniform in [−shift, shift], pixels it uncovers taking `fill`, and is mirrored left to
/// right with probability ½; its draws come from its own SplitMix64 stream from `seed` and i,
/// so a seeded run sees the same batches.
pub fn augment(x: &mut [f32], [c, h, w]: [usize; 3], aug: Augment, fill: f32, seed: u64) {
    let per = c * h * w;
    if per == 0 || !aug.active() {
        return;
    }
    let mut copy = vec![0f32; per];
    let span = 2 * aug.shift as u64 + 1;
    for (i, sample) in x.chunks_exact_mut(per).enumerate() {
        let mut rng = ardent_data::SplitMix64(
            ardent_data::SplitMix64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .next_u64(),
        );
        let mut draw = |n: u64| rng.next_u64() % n;
        let dy = draw(span) as isize - aug.shift as isize;
        let dx = draw(span) as isize - aug.shift as isize;
        let flip = aug.flip && draw(2) == 1;
        copy.copy_from_slice(sample);
        for ch in 0..c {
            for y in 0..h {
                for xo in 0..w {
                    // Output (y, xo) shows input (y − dy, x − dx), x mirrored first.
                    let xs = if flip { w - 1 - xo } else { xo };
                    let (sy, sx) = (y as isize - dy, xs as isize - dx);
                    let inside = (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx);
                    sample[(ch * h + y) * w + xo] = if inside {
                        copy[(ch * h + sy as usize) * w + sx as usize]
                    } else {
                        fill
                    };
                }
            }
        }
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
