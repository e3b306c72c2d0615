//! In-memory datasets: features as f32 rows, with class labels or real targets.

use std::path::Path;

use crate::csv::{CsvOptions, CsvTable, read_csv};
use crate::error::DataError;
use crate::idx::read_idx;
use crate::npy::read_npy;

/// What each sample is labelled with.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class indices in `0..classes`.
    Classes { labels: Vec<u32>, classes: usize },
    /// `width` real values per sample.
    Real { values: Vec<f32>, width: usize },
}

/// Whether targets are read as classes or as real values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Classes,
    Real,
}

/// A dataset held in memory. Invariant: `features.len() == len() * sample_shape.product()`
/// and there is one target (row) per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Where it came from, for messages.
    pub name: String,
    /// Shape of one sample: `[features]` or `[channels, height, width]`.
    pub sample_shape: Vec<usize>,
    pub features: Vec<f32>,
    pub targets: Targets,
    /// What the reader decided that a person should hear about: how a CSV header was decided,
    /// class labels written as decimals. Commands print them; nothing depends on them.
    pub notes: Vec<String>,
}

/// Options shared by the loaders.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Accept NaN and ±inf in features (refused by default).
    pub allow_non_finite: bool,
    pub csv: CsvOptions,
}

impl Dataset {
    /// Builds a dataset and checks its invariants and values.
    pub fn new(
        name: impl Into<String>,
        sample_shape: Vec<usize>,
        features: Vec<f32>,
        targets: Targets,
        allow_non_finite: bool,
    ) -> Result<Dataset, DataError> {
        let name = name.into();
        let size: usize = sample_shape.iter().product();
        if size == 0 {
            return Err(DataError::invalid(
                &name,
                format!("empty sample shape {sample_shape:?}"),
            ));
        }
        if !features.len().is_multiple_of(size) {
            return Err(DataError::invalid(
                &name,
                format!(
                    "{} values do not split into samples of {size}",
                    features.len()
                ),
            ));
        }
        let n = features.len() / size;
        let rows = match &targets {
            Targets::Classes { labels, classes } => {
                if let Some((i, l)) = labels
                    .iter()
                    .enumerate()
                    .find(|(_, l)| **l as usize >= *classes)
                {
                    return Err(DataError::invalid(
                        &name,
                        format!("label {l} of sample {i} is out of range for {classes} classes"),
                    ));
                }
                labels.len()
            }
            Targets::Real { values, width } => {
                if *width == 0 || !values.len().is_multiple_of(*width) {
                    return Err(DataError::invalid(&name, "targets do not split into rows"));
                }
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    return Err(DataError::invalid(
                        &name,
                        format!(
                            "target of sample {} is not finite ({})",
                            i / width,
                            values[i]
                        ),
                    ));
                }
                values.len() / width
            }
        };
        if rows != n {
            return Err(DataError::invalid(
                &name,
                format!("{n} samples but {rows} targets"),
            ));
        }
        if let Some(i) = features
            .iter()
            .position(|v| !v.is_finite())
            .filter(|_| !allow_non_finite)
        {
            return Err(DataError::invalid(
                &name,
                format!(
                    "sample {}, feature {} is {}: NaN and inf are refused unless allowed",
                    i / size,
                    i % size,
                    features[i]
                ),
            ));
        }
        Ok(Dataset {
            name,
            sample_shape,
            features,
            targets,
            notes: Vec::new(),
        })
    }

    pub fn len(&self) -> usize {
        match &self.targets {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Real { values, width } => values.len() / width,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per sample.
    pub fn sample_size(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Number of classes, or `None` for real targets.
    pub fn classes(&self) -> Option<usize> {
        match &self.targets {
            Targets::Classes { classes, .. } => Some(*classes),
            Targets::Real { .. } => None,
        }
    }

    /// The features of sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let s = self.sample_size();
        &self.features[i * s..(i + 1) * s]
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut features = Vec::with_capacity(indices.len() * self.sample_size());
        for &i in indices {
            features.extend_from_slice(self.sample(i));
        }
        let targets = match &self.targets {
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
            },
            Targets::Real { values, width } => Targets::Real {
                values: indices
                    .iter()
                    .flat_map(|&i| values[i * width..(i + 1) * width].iter().copied())
                    .collect(),
                width: *width,
            },
        };
        Dataset {
            name: self.name.clone(),
            sample_shape: self.sample_shape.clone(),
            features,
            targets,
            notes: self.notes.clone(),
        }
    }

    /// The first `n` samples (all when `n >= len()`).
    pub fn take(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(&idx)
    }

    /// Splits into (train, validation) with `valid_fraction` of the samples in validation,
    /// shuffled by `seed`: the same seed always gives the same split.
    pub fn split(&self, valid_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        shuffle(&mut idx, seed);
        let n_valid = ((self.len() as f64) * valid_fraction.clamp(0.0, 1.0)).round() as usize;
        let (valid, train) = idx.split_at(n_valid);
        (self.subset(train), self.subset(valid))
    }

    /// Reinterprets each sample with another shape of the same size (e.g. `[64]` as `[1, 8, 8]`).
    pub fn reshaped(mut self, sample_shape: Vec<usize>) -> Result<Dataset, DataError> {
        let size: usize = sample_shape.iter().product();
        if size != self.sample_size() {
            return Err(DataError::invalid(
                &self.name,
                format!(
                    "cannot view samples of shape {:?} as {sample_shape:?}",
                    self.sample_shape
                ),
            ));
        }
        self.sample_shape = sample_shape;
        Ok(self)
    }

    /// Checks class labels against a model's class count.
    pub fn check_classes(&self, classes: usize) -> Result<(), DataError> {
        match &self.targets {
            Targets::Classes { labels, .. } => {
                if let Some((i, l)) = labels
                    .iter()
                    .enumerate()
                    .find(|(_, l)| **l as usize >= classes)
                {
                    return Err(DataError::invalid(
                        &self.name,
                        format!(
                            "label {l} of sample {i} is out of range for a model with {classes} classes"
                        ),
                    ));
                }
                Ok(())
            }
            Targets::Real { .. } => Err(DataError::invalid(
                &self.name,
                "has real targets, but the model is a classifier",
            )),
        }
    }
}

/// SplitMix64: a small, fixed generator so splits do not depend on another crate's versions.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (n > 0), by rejection to avoid modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// Fisher–Yates shuffle driven by [`SplitMix64`].
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = SplitMix64(seed);
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Labels as targets of `kind`. A class label that is not a class index is reported by
/// `not_a_class(i, label)`, so each reader can say where sample i came from.
pub(crate) fn labels_to_targets(
    labels: &[f32],
    kind: TargetKind,
    not_a_class: impl Fn(usize, f32) -> DataError,
) -> Result<Targets, DataError> {
    match kind {
        TargetKind::Real => Ok(Targets::Real {
            values: labels.to_vec(),
            width: 1,
        }),
        TargetKind::Classes => {
            let mut out = Vec::with_capacity(labels.len());
            for (i, &l) in labels.iter().enumerate() {
                if !is_class_index(l) {
                    return Err(not_a_class(i, l));
                }
                out.push(l as u32);
            }
            let classes = out.iter().max().map_or(0, |&m| m as usize + 1);
            Ok(Targets::Classes {
                labels: out,
                classes,
            })
        }
    }
}

/// Loads an IDX image file and its IDX label file. Pixels keep their stored values; see
/// [`crate::Normalizer`] to scale them.
pub fn load_idx_pair(
    images: &Path,
    labels: &Path,
    opts: &LoadOptions,
) -> Result<Dataset, DataError> {
    let img = read_idx(images)?;
    let lab = read_idx(labels)?;
    let name = images.display().to_string();
    if lab.dims.len() != 1 {
        return Err(DataError::invalid(
            &labels.display().to_string(),
            format!(
                "labels must be one-dimensional, got dimensions {:?}",
                lab.dims
            ),
        ));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(DataError::invalid(
            &name,
            format!(
                "{} images but {} labels in {}",
                img.dims[0],
                lab.dims[0],
                labels.display()
            ),
        ));
    }
    let sample_shape = match img.dims.len() {
        1 => vec![1],
        2 => vec![img.dims[1]],
        // A stack of single-channel images.
        3 => vec![1, img.dims[1], img.dims[2]],
        _ => img.dims[1..].to_vec(),
    };
    let label_name = labels.display().to_string();
    let targets = labels_to_targets(&lab.data, TargetKind::Classes, by_sample(&label_name))?;
    Dataset::new(name, sample_shape, img.data, targets, opts.allow_non_finite)
}

/// Loads a CSV table; the label column becomes the target.
pub fn load_csv(path: &Path, kind: TargetKind, opts: &LoadOptions) -> Result<Dataset, DataError> {
    let table = read_csv(path, &opts.csv)?;
    from_table(
        &path.display().to_string(),
        table,
        kind,
        opts.allow_non_finite,
    )
}

/// Turns a parsed CSV table into a dataset of vectors. A class label that is not a whole
/// number is an error naming its line; whole labels written as decimals (`2.000`) are classes,
/// with a note saying so.
pub(crate) fn from_table(
    name: &str,
    table: CsvTable,
    kind: TargetKind,
    allow_non_finite: bool,
) -> Result<Dataset, DataError> {
    let mut notes = Vec::new();
    if table.header.guessed {
        notes.push(format!("{name}: {}", table.header));
    }
    if kind == TargetKind::Classes
        && let Some((line, text)) = &table.first_decimal_label
    {
        notes.push(format!(
            "{name}: labels written as decimals (`{text}` on line {line}) are read as class \
             indices, since every label in column `{}` is a whole number",
            table.label_name
        ));
    }
    let targets = labels_to_targets(&table.labels, kind, |i, l| DataError::Csv {
        source_name: name.to_string(),
        line: table.lines[i],
        message: format!(
            "label `{l}` in column `{}` is not a class index (a whole number ≥ 0); \
             real targets need a regression task",
            table.label_name
        ),
    })?;
    let width = table.columns.len();
    let mut d = Dataset::new(name, vec![width], table.features, targets, allow_non_finite)?;
    d.notes = notes;
    Ok(d)
}

/// The error for a class label that is not a class index, by sample number (IDX, NPY).
fn by_sample(source: &str) -> impl Fn(usize, f32) -> DataError + '_ {
    move |i, l| {
        DataError::invalid(
            source,
            format!("label {l} of sample {i} is not a class index (a whole number >= 0)"),
        )
    }
}

fn is_class_index(l: f32) -> bool {
    l.is_finite() && l >= 0.0 && l.fract() == 0.0 && l < u32::MAX as f32
}

/// Loads features and labels from two NPY files; the first axis indexes samples.
pub fn load_npy_pair(
    features: &Path,
    labels: &Path,
    kind: TargetKind,
    opts: &LoadOptions,
) -> Result<Dataset, DataError> {
    let x = read_npy(features)?;
    let y = read_npy(labels)?;
    let name = features.display().to_string();
    if x.shape.is_empty() || y.shape.is_empty() || x.shape[0] != y.shape[0] {
        return Err(DataError::invalid(
            &name,
            format!(
                "features of shape {:?} and labels of shape {:?} disagree on the sample count",
                x.shape, y.shape
            ),
        ));
    }
    let sample_shape = if x.shape.len() == 1 {
        vec![1]
    } else {
        x.shape[1..].to_vec()
    };
    let label_name = labels.display().to_string();
    let targets = labels_to_targets(&y.data, kind, by_sample(&label_name))?;
    Dataset::new(name, sample_shape, x.data, targets, opts.allow_non_finite)
}

/// A train set and, when the source has one, a held-out test set.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Dataset,
    pub test: Option<Dataset>,
}

impl Splits {
    /// Pairs a train and a test set, giving both the larger class count (a label absent from
    /// one split must not shrink its model's output).
    fn unified(mut train: Dataset, mut test: Option<Dataset>) -> Splits {
        let classes = train
            .classes()
            .into_iter()
            .chain(test.as_ref().and_then(Dataset::classes))
            .max();
        for d in std::iter::once(&mut train).chain(test.as_mut()) {
            if let (Targets::Classes { classes: c, .. }, Some(m)) = (&mut d.targets, classes) {
                *c = m;
            }
        }
        Splits { train, test }
    }
}

fn find(dir: &Path, stem: &str) -> Option<std::path::PathBuf> {
    [stem.to_string(), format!("{stem}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Loads a dataset from a directory or a file:
/// - a directory in the MNIST layout (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
///   optionally `t10k-*`), as Fashion-MNIST ships;
/// - a directory with `train.csv` (and optionally `test.csv`);
/// - a directory with `x_train.npy`/`y_train.npy` (and optionally `x_test.npy`/`y_test.npy`);
/// - a single `.csv` or `.csv.gz` file.
pub fn load_path(path: &Path, kind: TargetKind, opts: &LoadOptions) -> Result<Splits, DataError> {
    let name = path.display().to_string();
    if path.is_file() {
        return Ok(Splits {
            train: load_csv(path, kind, opts)?,
            test: None,
        });
    }
    if !path.is_dir() {
        return Err(DataError::invalid(&name, "no such file or directory"));
    }
    if let (Some(x), Some(y)) = (
        find(path, "train-images-idx3-ubyte"),
        find(path, "train-labels-idx1-ubyte"),
    ) {
        let test = match (
            find(path, "t10k-images-idx3-ubyte"),
            find(path, "t10k-labels-idx1-ubyte"),
        ) {
            (Some(tx), Some(ty)) => Some(load_idx_pair(&tx, &ty, opts)?),
            _ => None,
        };
        return Ok(Splits::unified(load_idx_pair(&x, &y, opts)?, test));
    }
    if let Some(train) = find(path, "train.csv") {
        let test = find(path, "test.csv")
            .map(|t| load_csv(&t, kind, opts))
            .transpose()?;
        return Ok(Splits::unified(load_csv(&train, kind, opts)?, test));
    }
    let (x, y) = (path.join("x_train.npy"), path.join("y_train.npy"));
    if x.is_file() && y.is_file() {
        let (tx, ty) = (path.join("x_test.npy"), path.join("y_test.npy"));
        let test = if tx.is_file() && ty.is_file() {
            Some(load_npy_pair(&tx, &ty, kind, opts)?)
        } else {
            None
        };
        return Ok(Splits::unified(load_npy_pair(&x, &y, kind, opts)?, test));
    }
    Err(DataError::invalid(
        &name,
        "found no dataset: expected train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz], \
         train.csv, or x_train.npy + y_train.npy",
    ))
}

/// The index of the largest value of `row` (the first of equal ones; 0 for an empty row or one
/// of NaNs only): a classifier's predicted class from its logits.
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
        .0
}
