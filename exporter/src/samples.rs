//! The samples a checkpoint is measured on.

use ardent_data::{Dataset, Source, Targets};
use ardent_models::Checkpoint;

use crate::{ExportError, Samples};

/// The samples `ck` is measured on: `source`'s test split, or else the validation split the
/// checkpoint was trained with (from its seed and validation fraction). Also returns what the
/// data readers decided on their own (a guessed CSV header, ...), one note each.
pub fn evaluation_samples(
    source: &Source,
    ck: &Checkpoint,
) -> Result<(Samples, Vec<String>), ExportError> {
    let splits = source.load(ck.family.task.target_kind())?;
    let notes = std::iter::once(&splits.train)
        .chain(&splits.test)
        .flat_map(|d| d.notes.iter().cloned())
        .collect();
    let (set, name): (Dataset, String) = match splits.test {
        Some(t) => {
            let name = format!("{} (test)", t.name);
            (t, name)
        }
        None => {
            let fraction = ck
                .meta
                .valid_fraction()
                .ok_or_else(|| ExportError::Invalid {
                    checkpoint: ck.family.name.clone(),
                    message: "the stored settings hold no valid_fraction".into(),
                })?;
            let (_, valid) = splits.train.split(fraction, ck.meta.seed);
            let name = format!("{} (validation)", valid.name);
            (valid, name)
        }
    };
    let want = ck.family.input_shape().size();
    if set.sample_size() != want {
        return Err(ExportError::Invalid {
            checkpoint: set.name.clone(),
            message: format!(
                "samples have {} values, but the checkpoint's model takes {want}",
                set.sample_size()
            ),
        });
    }
    let labels = match &set.targets {
        Targets::Classes { labels, .. } => Some(labels.iter().map(|&l| l as usize).collect()),
        Targets::Real { .. } => None,
    };
    let samples = Samples {
        inputs: set.features,
        labels,
        source: name,
    };
    Ok((samples, notes))
}
