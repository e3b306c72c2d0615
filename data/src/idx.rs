//! IDX files (the MNIST format): `0x00 0x00 TYPE NDIMS`, NDIMS big-endian u32 sizes, then the
//! values big-endian in row-major order. Gzip-compressed files are recognised by their magic.

use crate::error::DataError;
use crate::gz::maybe_gunzip;

/// An n-dimensional array read from an IDX file, values widened to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
    /// True when the file stored integers (labels or raw pixels).
    pub integer: bool,
}

/// Parses IDX bytes, gzip or raw. `source_name` goes into errors. Offsets in errors are into
/// the decompressed stream.
pub fn parse_idx(bytes: &[u8], source_name: &str) -> Result<IdxArray, DataError> {
    let bytes = maybe_gunzip(bytes, source_name)?;
    let err = |offset: usize, message: String| DataError::Idx {
        source_name: source_name.to_string(),
        offset,
        message,
    };
    if bytes.len() < 4 {
        return Err(err(
            bytes.len(),
            format!("truncated header: {} of 4 magic bytes", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(err(
            0,
            format!(
                "wrong magic {:02x} {:02x} {:02x} {:02x}: an IDX file starts with 00 00",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    let (width, integer) = match bytes[2] {
        0x08 | 0x09 => (1, true),
        0x0B => (2, true),
        0x0C => (4, true),
        0x0D => (4, false),
        0x0E => (8, false),
        t => return Err(err(2, format!("unknown value type 0x{t:02x}"))),
    };
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err(err(3, "zero dimensions".into()));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(err(
            bytes.len(),
            format!(
                "truncated header: {ndims} dimensions need {header} bytes, file has {}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    if let Some(i) = dims.iter().position(|&d| d == 0) {
        return Err(err(4 + 4 * i, format!("dimension {i} is zero")));
    }
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&c| c.checked_mul(width).is_some())
        .ok_or_else(|| err(4, format!("dimensions {dims:?} overflow")))?;
    let need = header + count * width;
    if bytes.len() < need {
        return Err(err(
            bytes.len(),
            format!(
                "truncated: dimensions {dims:?} need {need} bytes, the data ends after {}",
                bytes.len()
            ),
        ));
    }
    if bytes.len() > need {
        return Err(err(
            need,
            format!("{} unexpected bytes after the data", bytes.len() - need),
        ));
    }
    let body = &bytes[header..need];
    let data: Vec<f32> = match bytes[2] {
        0x08 => body.iter().map(|&b| f32::from(b)).collect(),
        0x09 => body.iter().map(|&b| f32::from(b as i8)).collect(),
        0x0B => body
            .chunks_exact(2)
            .map(|c| f32::from(i16::from_be_bytes([c[0], c[1]])))
            .collect(),
        0x0C => body
            .chunks_exact(4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as f32)
            .collect(),
        0x0D => body
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => body
            .chunks_exact(8)
            .map(|c| {
                // chunks_exact(8) hands out eight bytes exactly.
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_be_bytes(b) as f32
            })
            .collect(),
    };
    Ok(IdxArray {
        dims,
        data,
        integer,
    })
}

/// Reads an IDX file from disk.
pub fn read_idx(path: &std::path::Path) -> Result<IdxArray, DataError> {
    let bytes = crate::gz::read_file(path)?;
    parse_idx(&bytes, &path.display().to_string())
}

/// Writes IDX bytes (raw, uncompressed): u8 when every value is an integer in 0..=255,
/// f32 otherwise. Used to hand inputs to `ardent-run` and by tests.
pub fn encode_idx(dims: &[usize], data: &[f32]) -> Vec<u8> {
    let bytes_u8 = data
        .iter()
        .all(|&v| v.fract() == 0.0 && (0.0..=255.0).contains(&v));
    let mut out = vec![0, 0, if bytes_u8 { 0x08 } else { 0x0D }, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for &v in data {
        if bytes_u8 {
            out.push(v as u8);
        } else {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    out
}
