//! ardent's model-family IR.
//!
//! A family is a DAG whose edges carry candidate ops mixed by structure weights γ
//! (`docs/method.md` §1). [`Family::parse`] reads a TOML spec, validates it (acyclic, every vertex
//! reachable, shapes agree) and infers every vertex's shape; [`Family::supernet_cost`] and
//! [`Family::extremes`] count parameters and FLOPs.

pub mod ard;
pub mod checkpoint;
mod collapse;
mod count;
mod error;
mod family;
pub mod grow;
pub mod layout;
pub mod ops;
pub mod pruning;
mod role;
mod shape;
pub mod spec;
pub mod structure;
pub mod vae;

pub use ard::{Ard, Grouping};
pub use ardent_data::write_atomic;
pub use checkpoint::DEFAULT_VALID_FRACTION;
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointMeta, Moments, TensorF32};
pub use count::{Choice, Cost, Extremes, Member};
pub use error::{Location, SpecError};
pub use family::{CodeSite, Edge, Family, INPUT, Task, Vertex};
pub use layout::{TensorRole, TensorSpec};
pub use ops::{Activation, Op, OpFamily, PoolKind};
pub use pruning::DEFAULT_LAMBDA;
pub use shape::Shape;
pub use spec::{Aggregation, Likelihood, TaskKind};
