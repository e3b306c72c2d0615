//! What every op family does in export, one file each as in the IR, answering through
//! [`ExportOp`]: its plain reference forward, its part in structured removal (which of its
//! outputs are constants, which of its inputs it reads) and its emission into the graph.
//! Adding a family is its file here and an arm of [`export_op`].

mod basic;
mod conv;
mod dense;
mod norm;
mod pool;

use ardent_models::ops::{Flatten, Identity, Zero};
use ardent_models::{Activation, Family, Op, Shape};

use crate::collapse::Branch;
use crate::write::Writer;

/// `None`: the feature depends on the input; `Some(c)`: it is the constant `c`.
pub type Kind = Option<f32>;

/// Spatial size of a shape: 1 for vectors, h·w for images.
pub fn spatial(s: &Shape) -> usize {
    s.size() / s.features()
}

/// Where one kept op is written.
pub struct At<'a> {
    pub family: &'a Family,
    pub b: &'a Branch,
    pub op: &'a Op,
    /// The edge's source: its tensor, its shape, the features the tensor carries (in order)
    /// and the kinds of all its features.
    pub input: &'a str,
    pub in_shape: &'a Shape,
    pub present_in: &'a [usize],
    pub kin: &'a [Kind],
    pub out_shape: &'a Shape,
    /// The op's output features needed as tensors, in order.
    pub rows: &'a [usize],
    /// The input normaliser (mean, std) when the op reads the raw input and folds it into
    /// its weights.
    pub normaliser: Option<(&'a [f32], &'a [f32])>,
    /// Names of the op's nodes and initializers start with this.
    pub prefix: &'a str,
}

/// A written op: its output tensor, the features it carries, and the γ scale still to apply
/// to it (1 when folded into its weights).
pub struct Out {
    pub name: String,
    pub features: Vec<usize>,
    pub scale: f32,
}

/// What an op family does in export.
pub trait ExportOp {
    /// The op on one normalised sample `x` of shape `input`, accumulating in f64: the
    /// reference every exported file is checked against.
    fn reference(&self, b: &Branch, x: &[f32], input: &Shape) -> Vec<f32>;

    /// Structured removal, forward: the kinds of the op's output features (scaled by γ),
    /// given the kinds `kin` of its input's; by default a pass-through's, feature for feature.
    fn out_kinds(&self, b: &Branch, _input: &Shape, kin: &[Kind]) -> Vec<Kind> {
        kin.iter().map(|k| k.map(|c| c * b.scale)).collect()
    }

    /// Structured removal, backward: marks in `need_in` the input features the op reads as
    /// a tensor to produce the output features `out_need`; by default feature for feature.
    fn need(
        &self,
        _b: &Branch,
        _input: &Shape,
        _kin: &[Kind],
        out_need: &[bool],
        need_in: &mut [bool],
    ) {
        for (n, &o) in need_in.iter_mut().zip(out_need) {
            *n |= o;
        }
    }

    /// Whether the op can read the raw input and fold the normaliser into its weights.
    fn folds_normaliser(&self) -> bool {
        false
    }

    /// Writes the op; `None` when it has no tensor to write (its outputs are constants).
    fn emit(&self, w: &mut Writer, at: &At<'_>) -> Option<Out>;
}

/// The export side of `op`'s family.
pub fn export_op(op: &Op) -> &dyn ExportOp {
    match op {
        Op::Dense(o) => o,
        Op::Conv2d(o) => o,
        Op::Pool(o) => o,
        Op::Flatten => &Flatten,
        Op::Identity => &Identity,
        Op::Zero => &Zero,
        Op::Constant(o) => o,
        Op::Glm(o) => o,
        Op::BatchNorm(o) => o,
        Op::Code(_) => unreachable!(
            "the collapse refuses a family with a code op, so none reaches an export op"
        ),
    }
}

fn act(a: Activation, z: f64) -> f32 {
    a.apply(z) as f32
}

/// Output side of a window sliding over `n` cells.
fn window(n: usize, k: usize, s: usize, p: usize) -> usize {
    (n + 2 * p - k) / s + 1
}

/// The kernel taps `(ky, kx, iy, ix)` of output position (y, x) that fall inside an
/// `h × w` input (padding reads nothing), row by row.
fn taps(
    y: usize,
    x: usize,
    k: usize,
    s: usize,
    p: usize,
    h: usize,
    w: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let at = move |o: usize, t: usize, n: usize| (o * s + t).checked_sub(p).filter(|&i| i < n);
    (0..k).flat_map(move |ky| {
        (0..k).filter_map(move |kx| Some((ky, kx, at(y, ky, h)?, at(x, kx, w)?)))
    })
}

/// How γ's scale `b.scale` meets a weighted op with activation `a`: (the factor to multiply
/// the op's weights and bias by, the scale still to apply to its output). A positive scale
/// commutes with ReLU and the identity, so it folds into the weights; otherwise it is applied
/// after the op.
fn fold_scale(b: &Branch, a: Activation) -> (f64, f32) {
    if b.scale > 0.0 && matches!(a, Activation::None | Activation::Relu) {
        (f64::from(b.scale), 1.0)
    } else {
        (1.0, b.scale)
    }
}

fn activation_flops(a: Activation) -> u64 {
    u64::from(a != Activation::None)
}
