//! ardent's trainer: variational ARD supernets on burn.
//!
//! A [`Supernet`] is built from a validated family; dense and conv weights are Gaussian
//! q(w) = N(μ, σ²), sampled through the local reparameterization trick while training, under
//! an ARD prior whose precisions sit at their closed-form empirical-Bayes optimum.

pub mod adam;
pub mod adanet;
pub mod ard;
pub mod bilevel;
pub mod controller;
mod convert;
pub mod data;
mod device;
pub mod dirichlet;
mod error;
pub mod gamma;
pub mod history;
pub mod job;
pub mod objective;
pub mod ops;
pub mod outer;
pub mod random;
pub mod special;
mod supernet;
pub mod train;
mod value;

pub use burn::tensor::Device;
pub use convert::{from_tensors, to_tensors};
pub use device::parse_device;
pub use error::TrainError;
pub use objective::{Objective, Preset};
pub use ops::Mode;
pub use supernet::{EdgeGamma, OpParams, Supernet};
pub use train::{ChangedSetting, EpochMetrics, LrSchedule, Run, TrainConfig};
pub use value::Value;
