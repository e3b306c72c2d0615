//! Reading model inputs and labels from files: IDX (gzip or raw), NPY, or CSV, whichever the
//! file is. The first axis indexes samples; the rest must hold the model's sample size.

use std::path::Path;

use ardent_data::{CsvOptions, DataError, Header, LabelColumn, parse_csv, parse_idx, parse_npy};

/// Samples read from a file, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Number of samples (the first axis).
    pub count: usize,
    /// Values per sample.
    pub width: usize,
    pub values: Vec<f32>,
}

/// Which reader a file needs, from its name and its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Idx,
    Npy,
    Csv,
}

fn sniff(path: &Path, bytes: &[u8]) -> Format {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if bytes.starts_with(b"\x93NUMPY") {
        Format::Npy
    } else if name.contains(".csv") {
        Format::Csv
    } else if name.contains("idx") || name.contains("ubyte") || bytes.starts_with(&[0, 0]) {
        Format::Idx
    } else {
        Format::Csv
    }
}

/// Reads a file of samples. With `label` set, a CSV file's column of that name is taken out of
/// the features and returned as the labels; every other CSV column is a feature. `header` says
/// whether a CSV file's first line names its columns (see [`Header`]).
pub fn read_samples(
    path: &Path,
    label: Option<&str>,
    header: Header,
) -> Result<(Samples, Option<Vec<f32>>), DataError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DataError::io(&name, e))?;
    let (dims, values, labels) = match sniff(path, &bytes) {
        Format::Idx => {
            let a = parse_idx(&bytes, &name)?;
            (a.dims, a.data, None)
        }
        Format::Npy => {
            let a = parse_npy(&bytes, &name)?;
            (a.shape, a.data, None)
        }
        Format::Csv => {
            let options = CsvOptions {
                header,
                label: label.map_or(LabelColumn::Last, |l| LabelColumn::Name(l.to_string())),
            };
            let t = parse_csv(&bytes, &name, &options)?;
            let rows = t.rows();
            if label.is_some() {
                let width = t.columns.len();
                (vec![rows, width], t.features, Some(t.labels))
            } else {
                // No label column: the "label" the parser split off is the last feature.
                let width = t.columns.len() + 1;
                let mut values = Vec::with_capacity(rows * width);
                for (r, l) in t.features.chunks(width - 1).zip(&t.labels) {
                    values.extend_from_slice(r);
                    values.push(*l);
                }
                (vec![rows, width], values, None)
            }
        }
    };
    let count = dims.first().copied().unwrap_or(0);
    if count == 0 {
        return Err(DataError::invalid(&name, "holds no samples"));
    }
    let width = dims[1..].iter().product::<usize>();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(DataError::invalid(
            &name,
            format!(
                "sample {}, value {}: {} is not a finite number",
                i / width.max(1),
                i % width.max(1),
                values[i]
            ),
        ));
    }
    Ok((
        Samples {
            count,
            width,
            values,
        },
        labels,
    ))
}

/// Reads class labels: a one-dimensional IDX or NPY array, or a CSV file's last column.
pub fn read_labels(path: &Path, header: Header) -> Result<Vec<f32>, DataError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DataError::io(&name, e))?;
    let (dims, values) = match sniff(path, &bytes) {
        Format::Idx => {
            let a = parse_idx(&bytes, &name)?;
            (a.dims, a.data)
        }
        Format::Npy => {
            let a = parse_npy(&bytes, &name)?;
            (a.shape, a.data)
        }
        Format::Csv => {
            let t = parse_csv(
                &bytes,
                &name,
                &CsvOptions {
                    header,
                    label: LabelColumn::Last,
                },
            )?;
            (vec![t.rows()], t.labels)
        }
    };
    if dims.len() != 1 {
        return Err(DataError::invalid(
            &name,
            format!("labels must be one-dimensional, got dimensions {dims:?}"),
        ));
    }
    if let Some(i) = values.iter().position(|v| *v < 0.0 || v.fract() != 0.0) {
        return Err(DataError::invalid(
            &name,
            format!("label {i} is {}, not a class index", values[i]),
        ));
    }
    Ok(values)
}
