use std::io::Read;

use crate::error::DataError;

/// Returns the bytes, gunzipped when they start with the gzip magic.
pub(crate) fn maybe_gunzip<'a>(
    bytes: &'a [u8],
    source_name: &str,
) -> Result<std::borrow::Cow<'a, [u8]>, DataError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| DataError::invalid(source_name, format!("bad gzip stream: {e}")))?;
        Ok(out.into())
    } else {
        Ok(bytes.into())
    }
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| DataError::io(&path.display().to_string(), e))
}
