//! NPY files (NumPy's `np.save`): `\x93NUMPY`, version, a header length, a Python dict
//! literal with `descr`, `fortran_order` and `shape`, then the raw values.

use crate::error::DataError;

/// An array read from an NPY file, values widened to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    pub integer: bool,
}

fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = &header[at + key.len() + 2..];
    let colon = rest.find(':')?;
    Some(rest[colon + 1..].trim_start())
}

/// Parses NPY bytes. Supports little- and big-endian floats (f4, f8) and integers (1 to 8 bytes),
/// C order only.
pub fn parse_npy(bytes: &[u8], source_name: &str) -> Result<NpyArray, DataError> {
    let err = |message: String| DataError::Npy {
        source_name: source_name.to_string(),
        message,
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err("wrong magic: an NPY file starts with \\x93NUMPY".into()));
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(err("truncated header".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(err(format!("unsupported format version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| err(format!("truncated header: it claims {header_len} bytes")))?;
    let header =
        std::str::from_utf8(&bytes[start..end]).map_err(|_| err("header is not text".into()))?;

    let descr = field(header, "descr")
        .and_then(|d| d.strip_prefix('\''))
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| err("header has no 'descr'".into()))?;
    let fortran = field(header, "fortran_order")
        .ok_or_else(|| err("header has no 'fortran_order'".into()))?;
    if fortran.starts_with("True") {
        return Err(err(
            "Fortran-order arrays are not supported: save with np.ascontiguousarray".into(),
        ));
    }
    let shape_text = field(header, "shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| err("header has no 'shape'".into()))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| err(format!("bad shape entry `{s}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let (endian, kind, width) = {
        let b = descr.as_bytes();
        if b.len() < 3 {
            return Err(err(format!("unsupported dtype `{descr}`")));
        }
        // By bytes: a fuzzed header may put a multi-byte character across index 2.
        let width: usize = std::str::from_utf8(&b[2..])
            .ok()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| err(format!("unsupported dtype `{descr}`")))?;
        (b[0], b[1], width)
    };
    let big = match endian {
        b'<' | b'|' | b'=' => false,
        b'>' => true,
        _ => return Err(err(format!("unsupported dtype `{descr}`"))),
    };
    let integer = match (kind, width) {
        (b'f', 4 | 8) => false,
        (b'i' | b'u', 1 | 2 | 4 | 8) | (b'b', 1) => true,
        _ => return Err(err(format!("unsupported dtype `{descr}`"))),
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(format!("shape {shape:?} overflows")))?;
    let body = &bytes[end..];
    let need = count
        .checked_mul(width)
        .ok_or_else(|| err(format!("shape {shape:?} overflows")))?;
    if body.len() != need {
        return Err(err(format!(
            "shape {shape:?} of `{descr}` needs {need} data bytes, the file has {} (byte offset {})",
            body.len(),
            end + body.len().min(need)
        )));
    }
    let data = body
        .chunks_exact(width)
        .map(|c| {
            let mut buf = [0u8; 8];
            if big {
                buf[..width].copy_from_slice(c);
                buf[..width].reverse();
            } else {
                buf[..width].copy_from_slice(c);
            }
            let le = &buf[..width];
            match (kind, width) {
                (b'f', 4) => f32::from_le_bytes([le[0], le[1], le[2], le[3]]),
                (b'f', _) => f64::from_le_bytes(buf) as f32,
                (b'u' | b'b', _) => u64::from_le_bytes(buf) as f32,
                _ => {
                    // Sign-extend the narrow integer.
                    let shift = 64 - 8 * width as u32;
                    ((u64::from_le_bytes(buf) << shift) as i64 >> shift) as f32
                }
            }
        })
        .collect();
    Ok(NpyArray {
        shape,
        data,
        integer,
    })
}

/// Reads an NPY file from disk.
pub fn read_npy(path: &std::path::Path) -> Result<NpyArray, DataError> {
    let bytes = crate::gz::read_file(path)?;
    parse_npy(&bytes, &path.display().to_string())
}

/// Writes a C-order little-endian f32 NPY (version 1.0).
pub fn encode_npy_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
