//! Ops without weights of their own that the graph may not need: flatten, identity, zero, and
//! the constant model (whose value is folded into the vertex that sums it).

use ardent_models::Shape;
use ardent_models::ops::{Constant, Flatten, Identity, Zero};

use super::{At, ExportOp, Kind, Out, spatial};
use crate::collapse::Branch;
use crate::onnx::Attr;
use crate::write::Writer;

impl ExportOp for Flatten {
    fn reference(&self, _b: &Branch, x: &[f32], _input: &Shape) -> Vec<f32> {
        x.to_vec()
    }

    fn out_kinds(&self, b: &Branch, input: &Shape, kin: &[Kind]) -> Vec<Kind> {
        let hw = spatial(input);
        kin.iter()
            .flat_map(|k| std::iter::repeat_n(k.map(|c| c * b.scale), hw))
            .collect()
    }

    fn need(
        &self,
        _b: &Branch,
        input: &Shape,
        _kin: &[Kind],
        out_need: &[bool],
        need_in: &mut [bool],
    ) {
        let hw = spatial(input);
        for (c, n) in need_in.iter_mut().enumerate() {
            *n |= out_need[c * hw..(c + 1) * hw].iter().any(|&o| o);
        }
    }

    fn emit(&self, w: &mut Writer, at: &At<'_>) -> Option<Out> {
        if at.in_shape.rank() != 3 {
            return Identity.emit(w, at);
        }
        let hw = spatial(at.in_shape);
        let out = format!("{}.out", at.prefix);
        let name =
            w.g.node("Flatten", &[at.input], &out, &[("axis", Attr::Int(1))]);
        let features = at
            .present_in
            .iter()
            .flat_map(|&c| c * hw..(c + 1) * hw)
            .collect();
        Some(Out {
            name,
            features,
            scale: at.b.scale,
        })
    }
}

impl ExportOp for Identity {
    fn reference(&self, _b: &Branch, x: &[f32], _input: &Shape) -> Vec<f32> {
        x.to_vec()
    }

    fn emit(&self, _w: &mut Writer, at: &At<'_>) -> Option<Out> {
        Some(Out {
            name: at.input.to_string(),
            features: at.present_in.to_vec(),
            scale: at.b.scale,
        })
    }
}

impl ExportOp for Zero {
    fn reference(&self, _b: &Branch, x: &[f32], _input: &Shape) -> Vec<f32> {
        vec![0.0; x.len()]
    }

    fn out_kinds(&self, _b: &Branch, _input: &Shape, kin: &[Kind]) -> Vec<Kind> {
        vec![Some(0.0); kin.len()]
    }

    fn need(&self, _: &Branch, _: &Shape, _: &[Kind], _: &[bool], _: &mut [bool]) {}

    fn emit(&self, _w: &mut Writer, _at: &At<'_>) -> Option<Out> {
        None
    }
}

/// A constant op's value (collapse reads it with the op's tensors).
fn value(b: &Branch) -> &[f32] {
    b.weights.tensors.get("value").map_or(&[], Vec::as_slice)
}

impl ExportOp for Constant {
    fn reference(&self, b: &Branch, _x: &[f32], _input: &Shape) -> Vec<f32> {
        value(b).to_vec()
    }

    fn out_kinds(&self, b: &Branch, _input: &Shape, _kin: &[Kind]) -> Vec<Kind> {
        value(b).iter().map(|&v| Some(v * b.scale)).collect()
    }

    fn need(&self, _: &Branch, _: &Shape, _: &[Kind], _: &[bool], _: &mut [bool]) {}

    fn emit(&self, _w: &mut Writer, _at: &At<'_>) -> Option<Out> {
        None
    }
}
