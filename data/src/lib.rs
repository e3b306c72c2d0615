//! ardent's dataset readers: IDX (gzip or raw), CSV with or without a header and a label
//! column, NPY; deterministic splits; normalisation; two small bundled datasets.
//!
//! Every reader takes bytes and a source name (a path or `bundled:NAME`) so that errors say
//! where the problem is: a byte offset for IDX, a line for CSV.

pub mod bundled;
mod csv;
mod dataset;
mod error;
mod fs;
mod gz;
mod idx;
mod normalize;
mod npy;
mod source;

pub use csv::{CsvOptions, CsvTable, Header, HeaderDecision, LabelColumn, parse_csv, read_csv};
pub use dataset::{
    Dataset, LoadOptions, SplitMix64, Splits, TargetKind, Targets, argmax, load_csv, load_idx_pair,
    load_npy_pair, load_path, shuffle,
};
pub use error::DataError;
pub use fs::write_atomic;
pub use idx::{IdxArray, encode_idx, parse_idx, read_idx};
pub use normalize::{Normalizer, Pooling};
pub use npy::{NpyArray, encode_npy_f32, parse_npy, read_npy};
pub use source::Source;
