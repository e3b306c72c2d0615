//! Variational autoencoder checkpoints (`docs/method.md` §8): the split of a trained one into
//! an encoder and a decoder of the surviving code dimensions. Where the code sits, and what a
//! VAE family must look like for its halves to be exported apart, the family checks when it
//! is parsed ([`Family::code_site`]).
//!
//! A VAE family is `input → … → stats → code → … → output`: one `code` op on the edge from
//! the statistics vertex (the means of q(z | x), then their log-variances) to the code
//! vertex. The encoder is every vertex the statistics depend on, the decoder every vertex
//! that depends on the code, and no other edge crosses between them. Edges into the
//! statistics and out of the code carry dense ops only, so that a removed dimension is
//! removed by slicing their weights: the encoder's rows of its mean and log-variance, the
//! decoder's columns that read it.
//!
//! Each half becomes a regression family of its own (the encoder's targets are the kept
//! means and log-variances, the decoder's the reconstruction), with the trained tensors
//! renamed and sliced, so the exporter writes each as it writes any family.

use std::collections::BTreeMap;

use crate::checkpoint::{Checkpoint, TensorF32};
use crate::error::SpecError;
use crate::family::{Family, Task};
use crate::role::TensorRole;
use crate::spec::{Likelihood, take_tables};

/// The logits θ of a VAE checkpoint's gate (empty when the gate is fixed); `None` when the
/// family is not a VAE or the tensor is missing.
pub fn gate_logits(ck: &Checkpoint) -> Option<Vec<f64>> {
    let f = &ck.family;
    let site = f.code_site()?;
    if !site.gate.is_searched() {
        return Some(Vec::new());
    }
    let name = format!("{}.gate.logits", crate::layout::op_prefix(f, site.edge, 0));
    Some(ck.get(&name)?.data.iter().map(|&v| f64::from(v)).collect())
}

/// How a decoder's output becomes a reconstruction on the data's scale:
/// `offset + scale ⊙ g(y)` with g the logistic sigmoid (Bernoulli) or the identity
/// (Gaussian). `offset` and `scale` hold one value or one per output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputMap {
    pub sigmoid: bool,
    pub offset: Vec<f32>,
    pub scale: Vec<f32>,
}

impl OutputMap {
    /// Maps rows of decoder outputs in place.
    pub fn apply(&self, out: &mut [f32]) {
        let pick = |v: &[f32], j: usize| if v.len() == 1 { v[0] } else { v[j] };
        let width = self.offset.len().max(self.scale.len()).max(1);
        for row in out.chunks_mut(width) {
            for (j, y) in row.iter_mut().enumerate() {
                let g = if self.sigmoid {
                    1.0 / (1.0 + (-*y).exp())
                } else {
                    *y
                };
                *y = pick(&self.offset, j) + pick(&self.scale, j) * g;
            }
        }
    }
}

/// A VAE checkpoint as two checkpoints of ordinary families.
#[derive(Debug, Clone)]
pub struct Halves {
    /// Input → the kept dimensions' means, then their log-variances (`[2k]`).
    pub encoder: Checkpoint,
    /// The kept dimensions (`[k]`) → the decoder's output (Bernoulli logits or normalised
    /// Gaussian means), which [`Halves::output`] takes to the data's scale.
    pub decoder: Checkpoint,
    /// The kept code dimensions, ascending, with the gate value folded into the decoder.
    pub kept: Vec<(usize, f64)>,
    /// The code's dimensions before removal.
    pub dims: usize,
    pub likelihood: Likelihood,
    pub output: OutputMap,
}

/// Splits a checked VAE checkpoint into encoder and decoder of the code dimensions its gate
/// keeps ([`crate::structure::Structure::collapse_gate`]). Fails for a family that is not a VAE and when no
/// dimension survives.
pub fn split(ck: &Checkpoint) -> Result<Halves, SpecError> {
    let f = &ck.family;
    let (Some(site), Task::Vae { likelihood, .. }) = (f.code_site(), f.task) else {
        return Err(SpecError::Graph(format!(
            "`{}` is not a VAE family (task = \"vae\" with a code op)",
            f.name
        )));
    };
    let missing = |name: &str| SpecError::Graph(format!("the checkpoint has no tensor `{name}`"));
    let logits = gate_logits(ck).ok_or_else(|| missing("the code's gate logits"))?;
    let kept = site.gate.collapse_gate(site.dims, &logits);
    if kept.is_empty() {
        return Err(SpecError::Graph(format!(
            "the code's gate keeps none of its {} dimensions: there is no code to export",
            site.dims
        )));
    }
    let k = kept.len();
    let syntax = |e: toml::de::Error| SpecError::Syntax(e.message().to_string());
    let mut header: toml::Table = toml::from_str(&f.source).map_err(syntax)?;
    let vertex_tables = take_tables(&mut header, "vertex")?;
    let edge_tables = take_tables(&mut header, "edge")?;
    header.remove("likelihood");
    header.insert("task".into(), "regression".into());

    // Encoder: its vertices in spec order with the statistics last; its edges in spec order,
    // the dense layers into the statistics narrowed to 2k.
    let enc_vertices: Vec<usize> = (0..f.vertices.len())
        .filter(|&v| site.encoder[v] && v != site.stats)
        .chain([site.stats])
        .collect();
    let enc_edges: Vec<usize> = (0..f.edges.len())
        .filter(|&e| e != site.edge && site.encoder[f.edges[e].from])
        .collect();
    let mut enc = header.clone();
    enc.insert("targets".into(), toml::Value::Integer(2 * k as i64));
    enc.insert("name".into(), format!("{}-encoder", f.name).into());
    let narrowed = |e: usize| -> Result<toml::Value, SpecError> {
        let mut t = edge_tables[e].clone();
        if f.edges[e].to == site.stats {
            set_units(&mut t, 2 * k, &f.edge_name(e))?;
        }
        Ok(toml::Value::Table(t))
    };
    enc.insert(
        "vertex".into(),
        toml::Value::Array(
            enc_vertices
                .iter()
                .map(|&v| toml::Value::Table(vertex_tables[v].clone()))
                .collect(),
        ),
    );
    enc.insert(
        "edge".into(),
        toml::Value::Array(
            enc_edges
                .iter()
                .map(|&e| narrowed(e))
                .collect::<Result<_, _>>()?,
        ),
    );

    // Decoder: the code vertex as its input, then its vertices in spec order (the output is
    // the family's last vertex, so it stays last).
    let dec_vertices: Vec<usize> = [site.code]
        .into_iter()
        .chain((0..f.vertices.len()).filter(|&v| !site.encoder[v] && v != site.code))
        .collect();
    let dec_edges: Vec<usize> = (0..f.edges.len())
        .filter(|&e| e != site.edge && !site.encoder[f.edges[e].from])
        .collect();
    let mut dec = header;
    dec.insert("input".into(), toml::Value::Array(vec![(k as i64).into()]));
    dec.insert(
        "targets".into(),
        toml::Value::Integer(f.task.outputs() as i64),
    );
    dec.insert("name".into(), format!("{}-decoder", f.name).into());
    dec.insert(
        "vertex".into(),
        toml::Value::Array(
            dec_vertices
                .iter()
                .map(|&v| toml::Value::Table(vertex_tables[v].clone()))
                .collect(),
        ),
    );
    dec.insert(
        "edge".into(),
        toml::Value::Array(
            dec_edges
                .iter()
                .map(|&e| toml::Value::Table(edge_tables[e].clone()))
                .collect(),
        ),
    );

    let parse = |t: &toml::Table| -> Result<Family, SpecError> {
        let src = toml::to_string(t).map_err(|e| SpecError::Syntax(e.to_string()))?;
        Family::parse(&src)
    };
    let enc_family = parse(&enc)?;
    let dec_family = parse(&dec)?;

    let rows: Vec<usize> = kept
        .iter()
        .map(|&(j, _)| j)
        .chain(kept.iter().map(|&(j, _)| site.dims + j))
        .collect();
    let get = |name: &str| ck.get(name).ok_or_else(|| missing(name));
    let input = |name: &str| get(name).cloned();

    let mut enc_tensors = BTreeMap::new();
    for spec in enc_family.tensor_layout() {
        let t = match (spec.role, spec.owner) {
            (TensorRole::InputMean | TensorRole::InputStd, _) => input(&spec.name)?,
            (TensorRole::LogNoiseVar, _) => TensorF32::filled(spec.shape.clone(), 0.0),
            (role, Some((e, r))) => {
                let old = enc_edges[e];
                let t = get(&renamed(&spec.name, &enc_family, e, f, old))?;
                if f.edges[old].to == site.stats {
                    select_rows(t, role, f.edges[old].ard[r].grouping, &rows)
                } else {
                    t.clone()
                }
            }
            (_, None) => return Err(missing(&spec.name)),
        };
        enc_tensors.insert(spec.name, t);
    }

    let mut dec_tensors = BTreeMap::new();
    for spec in dec_family.tensor_layout() {
        let t = match (spec.role, spec.owner) {
            (TensorRole::InputMean, _) => TensorF32::filled(spec.shape.clone(), 0.0),
            (TensorRole::InputStd, _) => TensorF32::filled(spec.shape.clone(), 1.0),
            (TensorRole::LogNoiseVar, _) => match likelihood {
                Likelihood::Gaussian => input("output.log_noise_var")?,
                Likelihood::Bernoulli => TensorF32::filled(spec.shape.clone(), 0.0),
            },
            (role, Some((e, r))) => {
                let old = dec_edges[e];
                let t = get(&renamed(&spec.name, &dec_family, e, f, old))?;
                if f.edges[old].from == site.code {
                    select_columns(t, role, f.edges[old].ard[r].grouping, &kept)
                } else {
                    t.clone()
                }
            }
            (_, None) => return Err(missing(&spec.name)),
        };
        dec_tensors.insert(spec.name, t);
    }

    let output = match likelihood {
        Likelihood::Bernoulli => {
            let range = get("output.range")?;
            OutputMap {
                sigmoid: true,
                offset: vec![range.data[0]],
                scale: vec![range.data[1] - range.data[0]],
            }
        }
        Likelihood::Gaussian => OutputMap {
            sigmoid: false,
            offset: get("input.mean")?.data.clone(),
            scale: get("input.std")?.data.clone(),
        },
    };
    let half = |family: Family, tensors| Checkpoint {
        family,
        tensors,
        meta: ck.meta.clone(),
        optimizer: BTreeMap::new(),
    };
    Ok(Halves {
        encoder: half(enc_family, enc_tensors),
        decoder: half(dec_family, dec_tensors),
        kept,
        dims: site.dims,
        likelihood,
        output,
    })
}

/// Sets every dense op's `units` on an edge table (its `ops` list).
fn set_units(edge: &mut toml::Table, units: usize, name: &str) -> Result<(), SpecError> {
    let Some(toml::Value::Array(ops)) = edge.get_mut("ops") else {
        return Err(SpecError::Syntax(format!("edge {name} has no ops list")));
    };
    for op in ops {
        if let toml::Value::Table(t) = op {
            t.insert("units".into(), toml::Value::Integer(units as i64));
        }
    }
    Ok(())
}

/// The name in `from` of the tensor `name` of `to` (its edge `e_to` is `from`'s `e_from`).
fn renamed(name: &str, to: &Family, e_to: usize, from: &Family, e_from: usize) -> String {
    let new = to.edge_key(e_to);
    format!(
        "{}{}",
        from.edge_key(e_from),
        name.strip_prefix(&new).unwrap_or(name)
    )
}

/// A dense tensor's output rows `rows` (weights `[out, in]`, a bias or per-neuron α `[out]`);
/// per-input α is left whole.
fn select_rows(
    t: &TensorF32,
    role: TensorRole,
    grouping: crate::ard::Grouping,
    rows: &[usize],
) -> TensorF32 {
    let by_input = role == TensorRole::Alpha && grouping == crate::ard::Grouping::Input;
    if by_input {
        return t.clone();
    }
    let width: usize = t.shape[1..].iter().product();
    let data = rows
        .iter()
        .flat_map(|&r| t.data[r * width..(r + 1) * width].iter().copied())
        .collect();
    let mut shape = t.shape.clone();
    shape[0] = rows.len();
    TensorF32::new(shape, data)
}

/// A dense tensor's input columns `kept`, each scaled by its gate value g: μ by g, σ² by g²
/// (so its relative density, and what survives pruning, stay as they were); α per weight
/// or per input sliced; biases and per-neuron α whole.
fn select_columns(
    t: &TensorF32,
    role: TensorRole,
    grouping: crate::ard::Grouping,
    kept: &[(usize, f64)],
) -> TensorF32 {
    use crate::ard::Grouping;
    let columns = match role {
        TensorRole::WeightMu | TensorRole::WeightLogSigma2 => true,
        TensorRole::Alpha => grouping != Grouping::Neuron,
        _ => false,
    };
    if !columns {
        return t.clone();
    }
    let input_alpha = role == TensorRole::Alpha && grouping == Grouping::Input;
    let (rows, width) = if input_alpha {
        (1, t.data.len())
    } else {
        (t.shape[0], t.shape[1])
    };
    let mut data = Vec::with_capacity(rows * kept.len());
    for row in t.data.chunks(width).take(rows) {
        for &(j, g) in kept {
            let v = row[j];
            data.push(match role {
                TensorRole::WeightMu => v * g as f32,
                TensorRole::WeightLogSigma2 => v + (2.0 * g.ln()) as f32,
                _ => v,
            });
        }
    }
    let shape = if input_alpha {
        vec![kept.len()]
    } else {
        vec![rows, kept.len()]
    };
    TensorF32::new(shape, data)
}
