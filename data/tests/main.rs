//! ardent-data's tests, one binary, a file per concern.

mod bundled;
mod csv;
mod dataset;
mod idx;
mod npy;
mod source;
