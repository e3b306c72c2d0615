//! ardent's own tract ops and the rewrite that puts them in place of tract's, on the
//! decluttered model before tract optimizes it. The files stay standard ONNX or NNEF: any
//! runtime reads them, and these ops are how ardent-run runs them faster.
//!
//! To add an op: a file here with the op (`Op`, `EvalOp`, `TypedOp`, tested against the tract
//! op it replaces), and a rule in [`rewrite`] that finds what it replaces and reports it as a
//! [`Rewrite`].

pub mod conv2d;
pub mod dense;
pub mod kernel;
pub mod max_pool;
pub mod mlp;
pub mod sparse_dense;
pub mod window;

use serde::Serialize;
use std::sync::Arc;
use tract_nnef::tract_core::internal::*;
use tract_nnef::tract_core::ops::array::Gather;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, MaxPool};
use tract_nnef::tract_core::ops::einsum::EinSum;

use conv2d::Conv2d;
use dense::DenseProduct;
use max_pool::MaxPool2d;
use mlp::{Layer, Mlp};
use sparse_dense::SparseDense;
use window::Window2d;

/// Products whose constant weight has at most this share of non-zero entries run as
/// [`SparseDense`]. Chosen by measurement on a 784×300 product (BENCHMARKS.md, "Sparse
/// products"): at batch 1 the sparse product wins below about 10 %, at batch 256 below about
/// 5 %, so the cut-off is the lower of the two.
pub const SPARSE_MAX_DENSITY: f64 = 0.05;

/// What the rewrite did with one of tract's ops.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rewrite {
    /// tract's name of the node (the ONNX node's name with tract's suffixes).
    pub node: String,
    /// What tract's op computes: `product`, `conv`, `max-pool`, `sum` (of products of one
    /// input, folded into one product), or `layers` (a chain of products with their biases
    /// and ReLUs, run as one op).
    pub kind: &'static str,
    /// The op it became, or `None` when it was left as tract's.
    pub replaced_by: Option<&'static str>,
    /// Why, in words: for a product, the weight's density against the cut-off.
    pub reason: String,
    /// Input and output features of a product (of a chain: its first layer's inputs and its
    /// last layer's outputs); of a convolution, the taps summed per output and the output
    /// channels; of a pool, the window's taps and the channels.
    pub k: usize,
    pub n: usize,
    /// Non-zero weights (none for a pool).
    pub kept: usize,
    /// The Gathers of the product's input features folded into its weight, outermost last:
    /// the weight gained zero rows for the features the file's compact form had dropped, so
    /// the features are no longer copied on every run.
    pub folded_gathers: Vec<String>,
}

/// How [`rewrite`] decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RewriteOptions {
    /// Change nothing: the graph as tract builds it, tract's own ops throughout.
    pub tract_only: bool,
    /// Products stay tract's dense ones, and gathers stay (convolutions and pools are still
    /// replaced unless [`Self::tract_only`]).
    pub keep_dense: bool,
    /// The density at or under which a product runs sparse.
    pub max_density: f64,
}

impl Default for RewriteOptions {
    fn default() -> Self {
        RewriteOptions {
            tract_only: false,
            keep_dense: false,
            max_density: SPARSE_MAX_DENSITY,
        }
    }
}

/// Replaces what ardent runs faster than tract; returns a line for every candidate product,
/// replaced or not. `batch` is the batch size the plan will be fixed to, if any: chains of
/// dense layers alone become [`Mlp`]s only at a fixed batch of one sample.
pub fn rewrite(
    model: &mut TypedModel,
    options: RewriteOptions,
    batch: Option<usize>,
) -> TractResult<Vec<Rewrite>> {
    let options = RewriteOptions {
        keep_dense: options.keep_dense || options.tract_only,
        ..options
    };
    let (folded, summed) = if options.keep_dense {
        (Vec::new(), Vec::new())
    } else {
        (fold_gathers(model)?, fold_summed_products(model)?)
    };
    let mut report: Vec<Rewrite> = summed
        .into_iter()
        .map(|node| Rewrite {
            node,
            kind: "sum",
            replaced_by: Some("one product"),
            reason: "a sum of products of one input, x·A + x·B, as x·(A + B)".to_string(),
            k: 0,
            n: 0,
            kept: 0,
            folded_gathers: Vec::new(),
        })
        .collect();
    for id in model.eval_order()? {
        let Some(product) = constant_product(model, id)? else {
            continue;
        };
        let density = product.kept as f64 / (product.n * product.k) as f64;
        let name = model.node(id).name.clone();
        let sparse = !options.keep_dense && density <= options.max_density;
        let folded_gathers = folded
            .iter()
            .filter(|(product, _)| *product == name)
            .map(|(_, gather)| gather.clone())
            .collect();
        let reason = if options.keep_dense {
            format!(
                "{:.2} % of the weights kept; sparse products turned off",
                100.0 * density
            )
        } else {
            format!(
                "{:.2} % of the weights kept, {} the cut-off of {:.0} %",
                100.0 * density,
                if sparse { "under" } else { "over" },
                100.0 * options.max_density
            )
        };
        if sparse {
            let op = SparseDense::from_rows(product.n, product.k, &product.rows)?;
            let node = model.node(id);
            let mut patch = TypedModelPatch::default();
            let mut x = patch.tap_model(model, node.inputs[product.x_slot])?;
            let x_shape = model
                .outlet_fact(node.inputs[product.x_slot])?
                .shape
                .to_tvec();
            if x_shape.len() > 2 {
                x = patch.wire_node(
                    format!("{name}.flatten"),
                    AxisOp::Reshape(1, x_shape[1..].into(), tvec![product.k.to_dim()]),
                    &[x],
                )?[0];
            }
            let y = patch.wire_node(format!("{name}.sparse"), op, &[x])?[0];
            patch.shunt_outside(model, OutletId::new(id, 0), y)?;
            patch.apply(model)?;
        }
        report.push(Rewrite {
            node: name,
            kind: "product",
            replaced_by: sparse.then_some("ArdentSparseDense"),
            reason,
            k: product.k,
            n: product.n,
            kept: product.kept,
            folded_gathers,
        });
    }
    if !options.keep_dense {
        let dense_chains = batch == Some(1);
        report.extend(fuse_layers(model, dense_chains)?);
    }
    if !options.tract_only {
        report.extend(replace_windows(model)?);
    }
    Ok(report)
}

/// One layer as [`fuse_layers`] found it: the activation its product reads, and the outlet
/// its value leaves from once its bias and ReLU are applied.
struct FoundLayer {
    product: Result<ConstantProduct, SparseDense>,
    bias: Option<Vec<f32>>,
    relu: bool,
    x: OutletId,
    last: OutletId,
}

impl FoundLayer {
    fn is_sparse(&self) -> bool {
        self.product.is_err()
    }

    /// The layer as [`Mlp`] runs it (a dense one packed for tract-linalg's kernels).
    fn into_layer(self) -> TractResult<Layer> {
        Ok(match self.product {
            Err(product) => Layer::Sparse {
                product,
                bias: self.bias,
                relu: self.relu,
            },
            Ok(p) => Layer::Dense(DenseProduct::new(
                p.n,
                p.k,
                &p.rows,
                self.bias.as_deref(),
                self.relu,
            )?),
        })
    }
}

/// The layer whose product is node `id` (an [`SparseDense`], or a constant-weight product of
/// a `[batch, k]` activation), with the bias Add and the ReLU that follow it as the only
/// readers of its value.
fn layer_at(model: &TypedModel, id: usize) -> TractResult<Option<FoundLayer>> {
    let node = model.node(id);
    let (product, x) = if let Some(op) = node.op_as::<SparseDense>() {
        (Err(op.clone()), node.inputs[0])
    } else {
        match constant_product(model, id)? {
            Some(p) if model.outlet_fact(node.inputs[p.x_slot])?.rank() == 2 => {
                let x = node.inputs[p.x_slot];
                (Ok(p), x)
            }
            _ => return Ok(None),
        }
    };
    let n = match &product {
        Err(op) => op.n(),
        Ok(p) => p.n,
    };
    let mut last = OutletId::new(id, 0);
    let bias = match following_bias(model, last, n)? {
        Some((add, bias)) => {
            last = OutletId::new(add, 0);
            Some(bias)
        }
        None => None,
    };
    let relu = following_relu(model, last.node)?;
    if let Some(relu) = relu {
        last = OutletId::new(relu, 0);
    }
    Ok(Some(FoundLayer {
        product,
        bias,
        relu: relu.is_some(),
        x,
        last,
    }))
}

/// The binary op named `name` (`Add`, `Max`) that is the only reader of `out`, when `out` is
/// not one of the model's outputs: its node and its other input.
fn sole_binary_reader(
    model: &TypedModel,
    out: OutletId,
    name: &str,
) -> TractResult<Option<(usize, OutletId)>> {
    let readers = model.outlet_successors(out);
    if readers.len() != 1 || model.output_outlets()?.contains(&out) {
        return Ok(None);
    }
    let next = model.node(readers[0].node);
    let Some(bin) = next.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    if bin.0.name() != name || bin.1.is_some() || next.inputs.len() != 2 {
        return Ok(None);
    }
    Ok(Some((next.id, next.inputs[1 - readers[0].slot])))
}

/// The Add of a constant bias (one value per output, or one for all) that is the only reader
/// of `out`, a `[batch, n]` value: its node and the bias as `n` values.
fn following_bias(
    model: &TypedModel,
    out: OutletId,
    n: usize,
) -> TractResult<Option<(usize, Vec<f32>)>> {
    let Some((add, other)) = sole_binary_reader(model, out, "Add")? else {
        return Ok(None);
    };
    let Some(konst) = &model.outlet_fact(other)?.konst else {
        return Ok(None);
    };
    let out_fact = model.outlet_fact(out)?;
    // Broadcast along the outputs only: [n], [1, n], a scalar or [1, 1].
    let shape = konst.shape();
    let per_output = match shape {
        [] => true,
        [d] => *d == n || *d == 1,
        [1, d] => *d == n || *d == 1,
        _ => false,
    };
    let same = model.outlet_fact(OutletId::new(add, 0))?.shape == out_fact.shape;
    if !per_output || !same || konst.datum_type() != f32::datum_type() {
        return Ok(None);
    }
    let values = f32_values(konst)?;
    let bias = if values.len() == n {
        values
    } else {
        vec![values[0]; n]
    };
    Ok(Some((add, bias)))
}

/// Puts an [`Mlp`] in place of every chain of products with constant weights (sparse ones
/// already made [`SparseDense`], dense ones still tract's) that holds a sparse one, or of any
/// such chain when `dense_chains`, each layer with the bias and ReLU that follow it, where each
/// layer's value is read by the next layer alone. Returns a line per chain.
fn fuse_layers(model: &mut TypedModel, dense_chains: bool) -> TractResult<Vec<Rewrite>> {
    let mut report = Vec::new();
    'search: loop {
        for id in model.eval_order()? {
            let Some(first) = layer_at(model, id)? else {
                continue;
            };
            let (x, mut last) = (first.x, first.last);
            let mut layers = vec![first];
            loop {
                let readers = model.outlet_successors(last);
                if readers.len() != 1 || model.output_outlets()?.contains(&last) {
                    break;
                }
                match layer_at(model, readers[0].node)? {
                    Some(next) if next.x == last => {
                        last = next.last;
                        layers.push(next);
                    }
                    _ => break,
                }
            }
            // A chain of dense layers alone stays tract's unless the batch is fixed at one
            // sample: at batch 256 its products ran about 10 % slower as DenseProduct than as
            // tract's own, at batch 1 in half the time for the demo's small layers and in the
            // same time for LeNet-5's 800→500, at batch 3 9 % slower there (BENCHMARKS.md,
            // "Dense layers at batch 1").
            if !dense_chains && !layers.iter().any(FoundLayer::is_sparse) {
                continue;
            }
            let op = Mlp::new(
                layers
                    .into_iter()
                    .map(FoundLayer::into_layer)
                    .collect::<TractResult<_>>()?,
            )?;
            let name = model.node(id).name.clone();
            let line = Rewrite {
                node: name.clone(),
                kind: "layers",
                replaced_by: Some("ArdentMlp"),
                reason: op.info()?.join("; "),
                k: op.k(),
                n: op.n(),
                kept: op.layers().iter().map(Layer::kept).sum(),
                folded_gathers: Vec::new(),
            };
            let mut patch = TypedModelPatch::default();
            let tapped = patch.tap_model(model, x)?;
            let y = patch.wire_node(format!("{name}.layers"), op, &[tapped])?[0];
            patch.shunt_outside(model, last, y)?;
            patch.apply(model)?;
            model.compact()?;
            report.push(line);
            continue 'search;
        }
        return Ok(report);
    }
}

/// Puts [`Conv2d`] in place of tract's f32 convolutions and [`MaxPool2d`] in place of its
/// max-pools wherever their geometry is one those ops take, and says why where not.
fn replace_windows(model: &mut TypedModel) -> TractResult<Vec<Rewrite>> {
    let mut report = Vec::new();
    for id in model.eval_order()? {
        let node = model.node(id);
        if !(node.op_is::<Conv>() || node.op_is::<MaxPool>()) {
            continue;
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let f32_input = x.datum_type == f32::datum_type() && x.is_plain();
        let (kind, replacement, k, n, kept): (_, Result<Box<dyn TypedOp>, String>, _, _, _) =
            if let Some(conv) = node.op_as::<Conv>() {
                let relu = following_relu(model, id)?;
                let window = Window2d::from_spec(&conv.pool_spec, x);
                let k = window.map_or(0, |w| w.c * w.kh * w.kw);
                let n = conv.pool_spec.output_channels;
                let weights = model.outlet_fact(node.inputs[1])?.konst.clone();
                let kept = match &weights {
                    Some(w) if w.datum_type().is_float() => {
                        f32_values(w)?.iter().filter(|v| **v != 0.0).count()
                    }
                    _ => 0,
                };
                let bias = model.outlet_fact(node.inputs[2])?.konst.clone();
                let replacement = match (window, weights, bias) {
                    _ if conv.q_params.is_some() || !f32_input => {
                        Err("not an f32 convolution".to_string())
                    }
                    _ if conv.group != 1 => Err(format!("{} groups", conv.group)),
                    _ if conv.kernel_fmt != KernelFormat::OIHW => {
                        Err(format!("kernel laid out {:?}", conv.kernel_fmt))
                    }
                    (None, _, _) => Err("not a 2-D NCHW window of known size".to_string()),
                    (_, None, _) | (_, _, None) => Err("kernel or bias not constant".to_string()),
                    (Some(window), Some(w), Some(b)) => {
                        let b = f32_values(&b)?;
                        let bias = match b.len() {
                            1 => vec![b[0]; n],
                            _ => b,
                        };
                        let conv = Conv2d::new(window, n, &f32_values(&w)?, &bias)?;
                        Ok(Box::new(match relu {
                            Some(_) => conv.with_relu(),
                            None => conv,
                        }) as Box<dyn TypedOp>)
                    }
                };
                ("conv", replacement, k, n, kept)
            } else if let Some(pool) = node.op_as::<MaxPool>() {
                let window = Window2d::from_spec(&pool.pool_spec, x);
                let replacement = match window {
                    _ if !f32_input => Err("not f32".to_string()),
                    _ if pool.with_index_outputs.is_some() => {
                        Err("its argmax is asked for".to_string())
                    }
                    None => Err("not a 2-D NCHW window of known size".to_string()),
                    Some(window) => Ok(Box::new(MaxPool2d::new(window)) as Box<dyn TypedOp>),
                };
                let (k, n) = window.map_or((0, 0), |w| (w.kh * w.kw, w.c));
                ("max-pool", replacement, k, n, 0)
            } else {
                continue;
            };
        let name = node.name.clone();
        let (replaced_by, reason) = match replacement {
            Ok(op) => {
                let by = if kind == "conv" {
                    "ArdentConv2d"
                } else {
                    "ArdentMaxPool2d"
                };
                let reason = op.info()?.join("; ");
                // A fused ReLU takes the place of the node after the convolution too.
                let last = match kind {
                    "conv" => following_relu(model, id)?.unwrap_or(id),
                    _ => id,
                };
                let mut patch = TypedModelPatch::default();
                let x = patch.tap_model(model, node.inputs[0])?;
                let y = patch.wire_node(&name, op, &[x])?[0];
                patch.shunt_outside(model, OutletId::new(last, 0), y)?;
                patch.apply(model)?;
                (Some(by), reason)
            }
            Err(why) => (None, why),
        };
        report.push(Rewrite {
            node: name,
            kind,
            replaced_by,
            reason,
            k,
            n,
            kept,
            folded_gathers: Vec::new(),
        });
    }
    Ok(report)
}

/// Folds a Gather of input features (axis 1 of a `[batch, features]` activation, constant
/// indices) into the constant-weight products that are its only consumers: each product's
/// weight gets a row per feature of the ungathered input, zero for the features the gather
/// dropped (summed where it repeats one), and takes the ungathered input. The compact export
/// writes such gathers where a vertex's units are pruned for one consumer but not another;
/// in tract each costs a copy and an op per run, which at batch 1 outweighs the zero rows.
/// Gathers of gathers fold one after the other. Returns (product, gather) names.
fn fold_gathers(model: &mut TypedModel) -> TractResult<Vec<(String, String)>> {
    let mut folded = Vec::new();
    while let Some(gather) = foldable_gather(model)? {
        let gather_name = model.node(gather.id).name.clone();
        let mut rewired = Vec::new();
        for (product_id, p) in &gather.products {
            let product = model.node(*product_id);
            let name = product.name.clone();
            let op = product
                .op_as::<EinSum>()
                .expect("constant_product recognised an EinSum")
                .clone();
            let w_slot = 1 - p.x_slot;
            // x is [batch, k]: w is 2-D, and its axis that the output keeps is n.
            let n_axis = op.axes.axis((InOut::Out(0), 1))?.inputs[w_slot][0];
            let width = gather.width;
            let mut rows = vec![0f32; p.n * width];
            for r in 0..p.n {
                for (j, &f) in gather.features.iter().enumerate() {
                    rows[r * width + f] += p.rows[r * p.k + j];
                }
            }
            let mut w = tract_ndarray::Array2::from_shape_vec((p.n, width), rows)?;
            if n_axis == 1 {
                w = w.reversed_axes();
            }
            let w = w.as_standard_layout().into_owned().into_tensor();
            let mut patch = TypedModelPatch::default();
            let x = patch.tap_model(model, gather.source)?;
            let w = patch.add_const(format!("{name}.unfolded"), w)?;
            let inputs = if p.x_slot == 0 { [x, w] } else { [w, x] };
            let y = patch.wire_node(format!("{name}.ungathered"), op, &inputs)?[0];
            patch.shunt_outside(model, OutletId::new(*product_id, 0), y)?;
            patch.apply(model)?;
            rewired.push(name.clone());
            folded.push((name, gather_name.clone()));
        }
        model.compact()?;
        // The report and `info` name products as the file does: each new product takes its
        // old one's name once the old one is gone.
        for name in rewired {
            let wired = format!("{name}.ungathered");
            if let Some(node) = model.nodes.iter_mut().find(|n| n.name == wired) {
                node.name = name;
            }
        }
    }
    Ok(folded)
}

/// The node that applies `max(·, 0)` to node `id`'s output, when it is that output's only
/// reader and the output is not one of the model's: the ReLU that ONNX's `Relu` (a `Clip` from
/// 0) becomes in tract, which [`Conv2d`] can take into its kernel.
fn following_relu(model: &TypedModel, id: usize) -> TractResult<Option<usize>> {
    let out = OutletId::new(id, 0);
    let Some((max, other)) = sole_binary_reader(model, out, "Max")? else {
        return Ok(None);
    };
    let zero = match &model.outlet_fact(other)?.konst {
        Some(k) if k.len() == 1 && k.datum_type().is_float() => f32_values(k)?[0] == 0.0,
        _ => false,
    };
    let same = model.outlet_fact(OutletId::new(max, 0))?.shape == model.outlet_fact(out)?.shape;
    Ok((zero && same).then_some(max))
}

/// The values of `t` as f32, in row-major order.
fn f32_values(t: &Tensor) -> TractResult<Vec<f32>> {
    Ok(t.cast_to::<f32>()?
        .to_plain_array_view::<f32>()?
        .iter()
        .copied()
        .collect())
}

/// One side of a sum that [`fold_summed_products`] can fold: a constant-weight product of
/// `x`, with a constant bias added after it or not.
struct SummedTerm {
    product: usize,
    x: OutletId,
    weight: Arc<Tensor>,
    /// The Add node and its constant, when there is a bias.
    bias: Option<(usize, Arc<Tensor>)>,
}

/// The term whose value `outlet` is, read only by `reader`.
fn summed_term(
    model: &TypedModel,
    outlet: OutletId,
    reader: usize,
) -> TractResult<Option<SummedTerm>> {
    let only_reader = |o: OutletId| -> TractResult<bool> {
        let readers = model.outlet_successors(o);
        Ok(readers.len() == 1 && !model.output_outlets()?.contains(&o))
    };
    if !only_reader(outlet)? || model.outlet_successors(outlet)[0].node != reader {
        return Ok(None);
    }
    let node = model.node(outlet.node);
    let (product, bias) = match node.op_as::<TypedBinOp>() {
        Some(add) if add.0.name() == "Add" && add.1.is_none() && node.inputs.len() == 2 => {
            let konst = |i: usize| model.outlet_fact(node.inputs[i]).map(|f| f.konst.clone());
            let (p, c) = match (konst(0)?, konst(1)?) {
                (None, Some(c)) => (node.inputs[0], c),
                (Some(c), None) => (node.inputs[1], c),
                _ => return Ok(None),
            };
            if !only_reader(p)? || c.datum_type() != f32::datum_type() {
                return Ok(None);
            }
            (p.node, Some((node.id, c)))
        }
        _ => (outlet.node, None),
    };
    let Some(cp) = constant_product(model, product)? else {
        return Ok(None);
    };
    let p = model.node(product);
    let weight = model.outlet_fact(p.inputs[1 - cp.x_slot])?.konst.clone();
    Ok(weight.map(|weight| SummedTerm {
        product,
        x: p.inputs[cp.x_slot],
        weight,
        bias,
    }))
}

/// Folds `(x·A + a) + (x·B + b)` into `x·(A + B) + (a + b)` where both products are the same
/// EinSum of one activation `x` with constant weights of one shape (biases optional), each
/// term read only by the sum. ardent's exporter writes such sums where several edges from one
/// vertex end in the logits (the demo's three heads); each product and add costs an op per
/// run, which at batch 1 is most of a small model's time. Sums of sums fold one after the
/// other. Returns the names of the sums folded.
fn fold_summed_products(model: &mut TypedModel) -> TractResult<Vec<String>> {
    let mut folded = Vec::new();
    'search: loop {
        for id in model.eval_order()? {
            let node = model.node(id);
            let Some(add) = node.op_as::<TypedBinOp>() else {
                continue;
            };
            if add.0.name() != "Add" || add.1.is_some() || node.inputs.len() != 2 {
                continue;
            }
            let (Some(a), Some(b)) = (
                summed_term(model, node.inputs[0], id)?,
                summed_term(model, node.inputs[1], id)?,
            ) else {
                continue;
            };
            let (pa, pb) = (model.node(a.product), model.node(b.product));
            let same_op = pa.op_as::<EinSum>() == pb.op_as::<EinSum>()
                && pa.inputs.iter().position(|i| *i == a.x)
                    == pb.inputs.iter().position(|i| *i == b.x);
            if a.x != b.x || !same_op || a.weight.shape() != b.weight.shape() {
                continue;
            }
            let bias = match (&a.bias, &b.bias) {
                (Some((_, ca)), Some((_, cb))) if ca.shape() == cb.shape() => {
                    Some(sum_tensors(ca, cb)?)
                }
                (Some(_), Some(_)) => continue,
                (Some((_, c)), None) | (None, Some((_, c))) => Some((**c).clone()),
                (None, None) => None,
            };
            let name = node.name.clone();
            let x_slot = pa
                .inputs
                .iter()
                .position(|i| *i == a.x)
                .expect("x is an input");
            let mut patch = TypedModelPatch::default();
            let x = patch.tap_model(model, a.x)?;
            let w = patch.add_const(
                format!("{name}.summed_weight"),
                sum_tensors(&a.weight, &b.weight)?,
            )?;
            let inputs = if x_slot == 0 { [x, w] } else { [w, x] };
            let mut y = patch.wire_node(format!("{name}.summed"), pa.op.clone(), &inputs)?[0];
            if let Some(bias) = bias {
                let c = patch.add_const(format!("{name}.summed_bias"), bias)?;
                y = patch.wire_node(format!("{name}.summed_bias_add"), node.op.clone(), &[y, c])?
                    [0];
            }
            if patch.outlet_fact(y)?.shape != node.outputs[0].fact.shape {
                continue;
            }
            patch.shunt_outside(model, OutletId::new(id, 0), y)?;
            patch.apply(model)?;
            model.compact()?;
            folded.push(name);
            continue 'search;
        }
        return Ok(folded);
    }
}

fn sum_tensors(a: &Tensor, b: &Tensor) -> TractResult<Tensor> {
    ensure!(
        a.shape() == b.shape(),
        "summing {:?} and {:?}",
        a.shape(),
        b.shape()
    );
    let sum: Vec<f32> = f32_values(a)?
        .iter()
        .zip(&f32_values(b)?)
        .map(|(x, y)| x + y)
        .collect();
    Tensor::from_shape(a.shape(), &sum)
}

/// A Gather that [`fold_gathers`] can fold.
struct FoldableGather {
    id: usize,
    /// The gathered activation.
    source: OutletId,
    /// Its features.
    width: usize,
    /// The feature each gathered position takes.
    features: Vec<usize>,
    /// Every consumer of the gather, each a product taking it as x.
    products: Vec<(usize, ConstantProduct)>,
}

fn foldable_gather(model: &TypedModel) -> TractResult<Option<FoldableGather>> {
    let outputs = model.output_outlets()?;
    for id in model.eval_order()? {
        let node = model.node(id);
        let Some(gather) = node.op_as::<Gather>() else {
            continue;
        };
        let data = model.outlet_fact(node.inputs[0])?;
        let Some(indices) = &model.outlet_fact(node.inputs[1])?.konst else {
            continue;
        };
        if gather.axis != 1
            || gather.output_type.is_some()
            || data.rank() != 2
            || data.datum_type != f32::datum_type()
            || indices.rank() != 1
        {
            continue;
        }
        let (Ok(width), Ok(indices)) = (data.shape[1].to_usize(), indices.cast_to::<i64>()) else {
            continue;
        };
        let Some(features) = indices
            .to_plain_array_view::<i64>()?
            .iter()
            .map(|&i| {
                let i = if i < 0 { i + width as i64 } else { i };
                (0..width as i64).contains(&i).then_some(i as usize)
            })
            .collect::<Option<Vec<usize>>>()
        else {
            continue;
        };
        let gathered = OutletId::new(id, 0);
        if outputs.contains(&gathered) {
            continue;
        }
        let mut products = Vec::new();
        for inlet in model.outlet_successors(gathered) {
            match constant_product(model, inlet.node)? {
                Some(p) if p.x_slot == inlet.slot && p.k == features.len() => {
                    products.push((inlet.node, p))
                }
                _ => {
                    products.clear();
                    break;
                }
            }
        }
        if !products.is_empty() {
            return Ok(Some(FoldableGather {
                id,
                source: node.inputs[0],
                width,
                features,
                products,
            }));
        }
    }
    Ok(None)
}

/// A product `y[b, n] = Σ x[b, k…] · w[k…, n]` with a constant f32 `w`, as [`rewrite`] can
/// replace it.
struct ConstantProduct {
    x_slot: usize,
    k: usize,
    n: usize,
    /// `w` as `[n, k]`, its k axes in the order of x's.
    rows: Vec<f32>,
    kept: usize,
}

/// Recognises tract's f32 EinSum of an activation `x` (batch axis first, every other axis
/// summed over) with a constant weight that adds one output axis after the batch.
fn constant_product(model: &TypedModel, id: usize) -> TractResult<Option<ConstantProduct>> {
    let node = model.node(id);
    let Some(op) = node.op_as::<EinSum>() else {
        return Ok(None);
    };
    if op.q_params.is_some() || node.inputs.len() != 2 || op.operating_dt != f32::datum_type() {
        return Ok(None);
    }
    let facts = [
        model.outlet_fact(node.inputs[0])?,
        model.outlet_fact(node.inputs[1])?,
    ];
    let w_slot = match (facts[0].konst.is_some(), facts[1].konst.is_some()) {
        (false, true) => 1,
        (true, false) => 0,
        _ => return Ok(None),
    };
    let x_slot = 1 - w_slot;
    let (x, w) = (facts[x_slot], facts[w_slot]);
    let out = &node.outputs[0].fact;
    if x.datum_type != f32::datum_type()
        || w.datum_type != f32::datum_type()
        || out.rank() != 2
        || x.rank() < 2
        || !x.is_plain()
    {
        return Ok(None);
    }
    let axes = &op.axes;
    // x's first axis is the batch: in the output first, not in w.
    let batch = axes.axis((InOut::In(x_slot), 0))?;
    if !batch.inputs[w_slot].is_empty() || batch.outputs[0].as_slice() != [0] {
        return Ok(None);
    }
    // Every other axis of x is summed with one of w's.
    let mut order = Vec::with_capacity(w.rank());
    let mut k = 1usize;
    for pos in 1..x.rank() {
        let a = axes.axis((InOut::In(x_slot), pos))?;
        if a.inputs[x_slot].len() != 1 || a.inputs[w_slot].len() != 1 || !a.outputs[0].is_empty() {
            return Ok(None);
        }
        order.push(a.inputs[w_slot][0]);
        let Ok(d) = x.shape[pos].to_usize() else {
            return Ok(None);
        };
        k *= d;
    }
    // And w's one remaining axis is the output's second.
    if w.rank() != order.len() + 1 {
        return Ok(None);
    }
    let Some(free) = (0..w.rank()).find(|p| !order.contains(p)) else {
        return Ok(None);
    };
    let a = axes.axis((InOut::In(w_slot), free))?;
    if a.outputs[0].as_slice() != [1] || !a.inputs[x_slot].is_empty() || a.inputs[w_slot].len() != 1
    {
        return Ok(None);
    }
    let Some(konst) = &w.konst else {
        return Ok(None);
    };
    let view = konst.to_plain_array_view::<f32>()?;
    let n = view.shape()[free];
    if n == 0 || k == 0 {
        return Ok(None);
    }
    let mut permutation = vec![free];
    permutation.extend(order);
    let rows: Vec<f32> = view.permuted_axes(permutation).iter().copied().collect();
    let kept = rows.iter().filter(|v| **v != 0.0).count();
    Ok(Some(ConstantProduct {
        x_slot,
        k,
        n,
        rows,
        kept,
    }))
}
