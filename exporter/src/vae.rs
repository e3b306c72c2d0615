//! A VAE exports as two files (`docs/method.md` §8): the encoder, from the input to the kept
//! code dimensions' means and log-variances, and the decoder, from those dimensions to the
//! reconstruction on the data's scale. The checkpoint is split by
//! [`ardent_models::vae::split`]; each half is then pruned, shrunk, written and checked in
//! tract as any family is.

use ardent_models::Checkpoint;
use ardent_models::vae::{Halves, split};

use crate::{ExportError, ExportOptions, Exported, Samples, export};

/// The two files of a VAE and what was removed.
#[derive(Debug, Clone)]
pub struct ExportedVae {
    /// Input → `[2k]`: the k kept dimensions' means, then their log-variances.
    pub encoder: Exported,
    /// `[k]` → the reconstruction, on the scale of the encoder's input.
    pub decoder: Exported,
    /// The kept code dimensions (indices into the trained code).
    pub kept: Vec<usize>,
    /// The trained code's dimensions.
    pub dims: usize,
}

/// Exports a VAE checkpoint as encoder and decoder. `options` applies to both; its data
/// (without labels: a VAE has no accuracy) checks the encoder, random codes check the
/// decoder. With an input scale the decoder's reconstructions are scaled alike, so that the
/// two files take and give values on one scale.
pub fn export_vae(
    ckpt: &Checkpoint,
    name: &str,
    options: &ExportOptions,
) -> Result<ExportedVae, ExportError> {
    let Halves {
        encoder,
        decoder,
        kept,
        dims,
        mut output,
        ..
    } = split(ckpt).map_err(|e| ExportError::Invalid {
        checkpoint: name.to_string(),
        message: e.to_string(),
    })?;
    let encoder_options = ExportOptions {
        softmax: false,
        output_map: None,
        data: options.data.as_ref().map(|d| Samples {
            labels: None,
            ..d.clone()
        }),
        ..options.clone()
    };
    let s = options.input_scale;
    output.offset.iter_mut().for_each(|v| *v *= s);
    output.scale.iter_mut().for_each(|v| *v *= s);
    let what = format!(
        "a code of {} values: the encoder means to reconstruct, N(0, I) draws to sample",
        kept.len()
    );
    let decoder_options = ExportOptions {
        softmax: false,
        output_map: Some(output),
        input_what: Some(what),
        data: None,
        input_scale: 1.0,
        ..options.clone()
    };
    Ok(ExportedVae {
        encoder: export(&encoder, &format!("{name} (encoder)"), &encoder_options)?,
        decoder: export(&decoder, &format!("{name} (decoder)"), &decoder_options)?,
        kept: kept.iter().map(|&(j, _)| j).collect(),
        dims,
    })
}
