//! The checkpoint: one safetensors file holding every tensor of [`Family::tensor_layout`]
//! (f32, little-endian) and, in the header's metadata under the single key `ardent`, a JSON
//! object `{"spec": <the spec's TOML text>, "meta": <CheckpointMeta>, "checksum": <16 hex
//! digits>}`. The checksum is FNV-1a (64 bits) over the spec's bytes, then for every tensor in
//! name order its name, its shape (u64 little-endian each) and its data bytes; any one changed
//! byte changes it, so a corrupted file is refused (files without one are read unchecked).
//! One key, because
//! safetensors writes its metadata map in hash order and a single entry keeps the bytes
//! reproducible. Python reads it with `safetensors` and
//! `json.loads(f.metadata()["ardent"])`.
//!
//! A checkpoint written by a training run also holds Adam's state, so that `--resume` continues
//! exactly: for each optimizer group and parameter (keyed `{group}.{path}`, the path being the
//! parameter's place in the trainer's module, such as `weights.ops.1.0.dense.mu`), the tensors
//! `optim.{key}.moment_1` and `optim.{key}.moment_2` (the parameter's shape) and, in the header
//! beside `meta`, `"optimizer": {key: steps taken}`. These are outside the spec's layout; readers
//! that only need the weights pass over them.
//!
//! Writes are atomic: a temporary file in the same directory, synced, then renamed over the
//! target, so an existing checkpoint is never left half-written.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::family::Family;
use crate::layout::{TensorRole, TensorSpec};

/// Format version written in the metadata.
pub const FORMAT: u32 = 1;

/// The safetensors metadata key holding ardent's header.
pub const METADATA_KEY: &str = "ardent";

#[derive(Deserialize)]
struct Header {
    spec: String,
    meta: CheckpointMeta,
    #[serde(default)]
    checksum: Option<String>,
    /// Steps taken per optimizer key (see the module docs); absent without optimizer state.
    #[serde(default)]
    optimizer: BTreeMap<String, u64>,
}

/// The name prefix of the optimizer's tensors.
const OPTIM_PREFIX: &str = "optim.";
const MOMENT_1: &str = ".moment_1";
const MOMENT_2: &str = ".moment_2";

/// FNV-1a, 64 bits: every step is a bijection of the state, so one changed byte always
/// changes the result.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The checksum of a spec and its tensors (see the module docs).
fn checksum<'a>(
    spec: &str,
    tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>,
) -> String {
    let mut h = Fnv::new();
    h.eat(spec.as_bytes());
    for (name, shape, data) in tensors {
        h.eat(name.as_bytes());
        for &d in shape {
            h.eat(&(d as u64).to_le_bytes());
        }
        h.eat(data);
    }
    format!("{:016x}", h.0)
}

/// A dense f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorF32 {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl TensorF32 {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> TensorF32 {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        TensorF32 { shape, data }
    }

    pub fn filled(shape: Vec<usize>, value: f32) -> TensorF32 {
        let n = shape.iter().product();
        TensorF32 {
            shape,
            data: vec![value; n],
        }
    }
}

/// How the weights were trained; saved so runs can be compared and resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub format: u32,
    pub ardent_version: String,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    pub seed: u64,
    /// Objective preset and its weights (`ml`, `elbo`, ...).
    pub objective: serde_json::Value,
    /// What the model was trained on: name, sample count, fingerprint.
    pub data: serde_json::Value,
    /// The training settings, so `--resume` continues the same run.
    pub settings: serde_json::Value,
    /// Metrics of the last completed epoch.
    pub metrics: serde_json::Value,
    /// Fine-tuned with a fixed structure and masks (`masks` holds the λ used).
    pub finetune: Option<f64>,
}

/// The share of the training data a run holds out for validation unless told otherwise; the
/// split of weights that no run produced.
pub const DEFAULT_VALID_FRACTION: f64 = 0.1;

impl CheckpointMeta {
    /// The share of the training data the run held out for validation (with [`Self::seed`],
    /// its validation split): the stored setting, or [`DEFAULT_VALID_FRACTION`] for weights
    /// that no run produced. `None` when settings are stored without it.
    pub fn valid_fraction(&self) -> Option<f64> {
        match &self.settings {
            serde_json::Value::Null => Some(DEFAULT_VALID_FRACTION),
            settings => settings.get("valid_fraction").and_then(|v| v.as_f64()),
        }
    }

    /// Metadata for weights that no training run produced (hand-built, random, converted):
    /// epoch and step 0, nothing about objective, data, settings or metrics.
    pub fn untrained(seed: u64) -> CheckpointMeta {
        CheckpointMeta {
            format: FORMAT,
            ardent_version: env!("CARGO_PKG_VERSION").into(),
            epoch: 0,
            step: 0,
            seed,
            objective: serde_json::Value::Null,
            data: serde_json::Value::Null,
            settings: serde_json::Value::Null,
            metrics: serde_json::Value::Null,
            finetune: None,
        }
    }
}

/// Everything that can be wrong with a checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: cannot read: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: cannot write: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: not a safetensors checkpoint: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: the spec stored in the checkpoint is invalid: {error}")]
    Spec {
        path: PathBuf,
        error: crate::SpecError,
    },
    #[error(
        "{path}: checksum mismatch (stored {stored}, computed {computed}): the file is corrupted"
    )]
    Checksum {
        path: PathBuf,
        stored: String,
        computed: String,
    },
    #[error("{path}: tensor `{name}`: {message}")]
    Tensor {
        path: PathBuf,
        name: String,
        message: String,
    },
}

/// Adam's state for one parameter: the steps it has taken and its two moment estimates, of
/// the parameter's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    pub steps: u64,
    pub moment_1: TensorF32,
    pub moment_2: TensorF32,
}

/// A family, its tensors and its training metadata.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub family: Family,
    /// Exactly the tensors of [`Family::tensor_layout`].
    pub tensors: BTreeMap<String, TensorF32>,
    pub meta: CheckpointMeta,
    /// The optimizer's state by `{group}.{path}` (see the module docs); empty when the file
    /// holds none (it was not written by a training run, or by an older version).
    pub optimizer: BTreeMap<String, Moments>,
}

impl Checkpoint {
    /// The tensor `name`; the layout guarantees it exists in a checkpoint that was read or
    /// checked.
    pub fn get(&self, name: &str) -> Option<&TensorF32> {
        self.tensors.get(name)
    }

    /// The logits θ of edge `e` (`edge.{from}-{to}.gamma.logits`): empty for a fixed edge,
    /// `None` when a searched edge's tensor is missing (a checkpoint that was read has it).
    pub fn edge_logits(&self, e: usize) -> Option<Vec<f64>> {
        if !self.family.edges[e].structure.is_searched() {
            return Some(Vec::new());
        }
        let t = self.get(&format!("{}.gamma.logits", self.family.edge_key(e)))?;
        Some(t.data.iter().map(|&v| f64::from(v)).collect())
    }

    /// The discrete member the stored structure collapses to now: per edge, the ops kept
    /// (bit r for op r; see [`crate::structure::Structure::collapse_mask`]). `None` when a
    /// searched edge's logits are missing (a checkpoint that was read has them).
    pub fn collapsed_choice(&self) -> Option<Vec<u64>> {
        self.family
            .edges
            .iter()
            .enumerate()
            .map(|(e, edge)| {
                let logits = self.edge_logits(e)?;
                Some(edge.structure.collapse_mask(&edge.ops, &logits))
            })
            .collect()
    }

    /// Checks that the tensors are exactly the family's layout, with the right shapes, and
    /// that their values make sense for their role.
    pub fn check(&self, path: &Path) -> Result<(), CheckpointError> {
        let layout = self.family.tensor_layout();
        let err = |name: &str, message: String| CheckpointError::Tensor {
            path: path.to_path_buf(),
            name: name.to_string(),
            message,
        };
        for TensorSpec {
            name, shape, role, ..
        } in &layout
        {
            let t = self
                .tensors
                .get(name)
                .ok_or_else(|| err(name, "missing: the spec expects it".into()))?;
            if &t.shape != shape {
                return Err(err(
                    name,
                    format!("shape {:?}, but the spec expects {shape:?}", t.shape),
                ));
            }
            if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
                return Err(err(name, format!("value {i} is {}", t.data[i])));
            }
            if *role == TensorRole::OutputRange && t.data[1] <= t.data[0] {
                return Err(err(
                    name,
                    format!(
                        "the data's range [{}, {}] is empty: high must exceed low",
                        t.data[0], t.data[1]
                    ),
                ));
            }
            let positive = matches!(role, TensorRole::Alpha | TensorRole::InputStd);
            if positive && let Some(i) = t.data.iter().position(|v| *v <= 0.0) {
                return Err(err(
                    name,
                    format!("value {i} is {}, but it must be > 0", t.data[i]),
                ));
            }
        }
        if self.tensors.len() != layout.len() {
            let known: std::collections::HashSet<&str> =
                layout.iter().map(|t| t.name.as_str()).collect();
            if let Some(extra) = self.tensors.keys().find(|k| !known.contains(k.as_str())) {
                return Err(err(extra, "not part of the spec's layout".into()));
            }
        }
        for (key, m) in &self.optimizer {
            for (suffix, t) in [(MOMENT_1, &m.moment_1), (MOMENT_2, &m.moment_2)] {
                let name = format!("{OPTIM_PREFIX}{key}{suffix}");
                if t.shape.iter().product::<usize>() != t.data.len() {
                    return Err(err(
                        &name,
                        format!("{} values for shape {:?}", t.data.len(), t.shape),
                    ));
                }
                if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
                    return Err(err(&name, format!("value {i} is {}", t.data[i])));
                }
            }
            if m.moment_1.shape != m.moment_2.shape {
                return Err(err(
                    &format!("{OPTIM_PREFIX}{key}{MOMENT_2}"),
                    format!(
                        "shape {:?}, but the first moment's is {:?}",
                        m.moment_2.shape, m.moment_1.shape
                    ),
                ));
            }
            if let Some(i) = m.moment_2.data.iter().position(|v| *v < 0.0) {
                return Err(err(
                    &format!("{OPTIM_PREFIX}{key}{MOMENT_2}"),
                    format!(
                        "value {i} is {}, but a second moment is ≥ 0",
                        m.moment_2.data[i]
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Serialises to safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let mut raw: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(self.tensors.len());
        let le =
            |t: &TensorF32| -> Vec<u8> { t.data.iter().flat_map(|v| v.to_le_bytes()).collect() };
        for (name, t) in &self.tensors {
            raw.push((name.clone(), t.shape.clone(), le(t)));
        }
        for (key, m) in &self.optimizer {
            for (suffix, t) in [(MOMENT_1, &m.moment_1), (MOMENT_2, &m.moment_2)] {
                raw.push((
                    format!("{OPTIM_PREFIX}{key}{suffix}"),
                    t.shape.clone(),
                    le(t),
                ));
            }
        }
        // The checksum reads tensors in name order, as the reader sorts them.
        raw.sort_by(|a, b| a.0.cmp(&b.0));
        let views = raw
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| format!("tensor `{name}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sum = checksum(
            &self.family.source,
            raw.iter()
                .map(|(n, s, b)| (n.as_str(), s.as_slice(), b.as_slice())),
        );
        let mut info = HashMap::new();
        let mut header = serde_json::json!({
            "spec": self.family.source,
            "meta": self.meta,
            "checksum": sum,
        });
        if !self.optimizer.is_empty() {
            let steps: BTreeMap<&str, u64> = self
                .optimizer
                .iter()
                .map(|(k, m)| (k.as_str(), m.steps))
                .collect();
            header["optimizer"] = serde_json::json!(steps);
        }
        info.insert(METADATA_KEY.to_string(), header.to_string());
        safetensors::serialize(views, Some(info)).map_err(|e| e.to_string())
    }

    /// Parses safetensors bytes; `path` names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint, CheckpointError> {
        let format = |message: String| CheckpointError::Format {
            path: path.to_path_buf(),
            message,
        };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format(e.to_string()))?;
        let info = header
            .metadata()
            .as_ref()
            .ok_or_else(|| format("no ardent metadata in the header".into()))?;
        let header: Header =
            serde_json::from_str(info.get(METADATA_KEY).ok_or_else(|| {
                format(format!("no `{METADATA_KEY}` entry in the header metadata"))
            })?)
            .map_err(|e| format(format!("the `{METADATA_KEY}` metadata is not valid: {e}")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| format(e.to_string()))?;
        if let Some(stored) = header.checksum {
            let mut views: Vec<_> = st.tensors();
            views.sort_by(|a, b| a.0.cmp(&b.0));
            let computed = checksum(
                &header.spec,
                views.iter().map(|(n, v)| (n.as_str(), v.shape(), v.data())),
            );
            if computed != stored {
                return Err(CheckpointError::Checksum {
                    path: path.to_path_buf(),
                    stored,
                    computed,
                });
            }
        }
        let (spec, meta, mut steps) = (header.spec, header.meta, header.optimizer);
        if meta.format != FORMAT {
            return Err(format(format!(
                "format {} is not the {FORMAT} this version reads",
                meta.format
            )));
        }
        let family = Family::parse(&spec).map_err(|error| CheckpointError::Spec {
            path: path.to_path_buf(),
            error,
        })?;
        let mut tensors = BTreeMap::new();
        let mut moments: BTreeMap<String, (Option<TensorF32>, Option<TensorF32>)> = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(CheckpointError::Tensor {
                    path: path.to_path_buf(),
                    name,
                    message: format!("dtype {:?}, expected F32", view.dtype()),
                });
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let t = TensorF32::new(view.shape().to_vec(), data);
            let Some(rest) = name.strip_prefix(OPTIM_PREFIX) else {
                tensors.insert(name, t);
                continue;
            };
            let tensor_error = |message: String| CheckpointError::Tensor {
                path: path.to_path_buf(),
                name: name.clone(),
                message,
            };
            if let Some(key) = rest.strip_suffix(MOMENT_1) {
                moments.entry(key.to_string()).or_default().0 = Some(t);
            } else if let Some(key) = rest.strip_suffix(MOMENT_2) {
                moments.entry(key.to_string()).or_default().1 = Some(t);
            } else {
                return Err(tensor_error(format!(
                    "an optimizer tensor ends in `{MOMENT_1}` or `{MOMENT_2}`"
                )));
            }
        }
        let mut optimizer = BTreeMap::new();
        for (key, pair) in moments {
            let missing = |suffix: &str| CheckpointError::Tensor {
                path: path.to_path_buf(),
                name: format!("{OPTIM_PREFIX}{key}{suffix}"),
                message: "missing: the other moment of this parameter is stored".into(),
            };
            let (moment_1, moment_2) = match pair {
                (Some(a), Some(b)) => (a, b),
                (None, _) => return Err(missing(MOMENT_1)),
                (_, None) => return Err(missing(MOMENT_2)),
            };
            let steps = steps.remove(&key).ok_or_else(|| {
                format(format!(
                    "the optimizer state of `{key}` has no step count in the header's `optimizer`"
                ))
            })?;
            optimizer.insert(
                key,
                Moments {
                    steps,
                    moment_1,
                    moment_2,
                },
            );
        }
        if let Some(key) = steps.keys().next() {
            return Err(format(format!(
                "the header's `optimizer` counts steps of `{key}`, but no moments of it are stored"
            )));
        }
        let ck = Checkpoint {
            family,
            tensors,
            meta,
            optimizer,
        };
        ck.check(path)?;
        Ok(ck)
    }

    /// Reads and checks a checkpoint file.
    pub fn read(path: impl AsRef<Path>) -> Result<Checkpoint, CheckpointError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| CheckpointError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Checkpoint::from_bytes(&bytes, path)
    }

    /// Writes the checkpoint atomically.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let path = path.as_ref();
        self.check(path)?;
        let bytes = self.to_bytes().map_err(|message| CheckpointError::Format {
            path: path.to_path_buf(),
            message,
        })?;
        ardent_data::write_atomic(path, &bytes).map_err(|error| CheckpointError::Write {
            path: path.to_path_buf(),
            error,
        })
    }
}
