//! Parameter and FLOP counts of the supernet and of its discrete members.
//!
//! A *member* keeps, on every edge, a subset of its ops: exactly one on a searched simplex
//! edge, any subset on a searched cube edge, and the ops with γ > 0 on a fixed edge. Its count
//! is what the exporter would write for it: narrower widths shrink the next layer, dropped
//! edges vanish, an op whose input is constant keeps only its bias, and nothing that cannot
//! reach the output is counted.

use crate::family::{Edge, Family, INPUT};
use crate::ops::Op;
use crate::shape::Shape;
use crate::spec::Aggregation;
use crate::structure::{Constraint, Relaxation};

/// Parameters and FLOPs for one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Cost {
    pub params: usize,
    pub flops: u64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        self.params += o.params;
        self.flops += o.flops;
    }
}

/// A discrete member: for each edge, a bit mask of the ops it keeps.
pub type Choice = Vec<u64>;

/// The smallest and largest member by parameters (ties broken by FLOPs).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Extremes {
    pub members: u128,
    /// True when every member was evaluated; false when a greedy search stood in.
    pub exact: bool,
    /// The smallest member; it may ignore its input (a constant predictor).
    pub smallest: (Choice, Cost),
    /// The smallest member whose output depends on the input, if any member's does.
    pub smallest_live: Option<(Choice, Cost)>,
    pub largest: (Choice, Cost),
}

/// One member evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub cost: Cost,
    /// True when the output depends on the input.
    pub uses_input: bool,
    /// Per edge: true when the edge lies on a path to the output in this member.
    pub used_edges: Vec<bool>,
}

/// Whether a value depends on the input, is a non-zero constant, or is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Zero,
    Const,
    Live,
}

/// Members enumerated exhaustively up to this many; a greedy search beyond.
const EXHAUSTIVE_LIMIT: u128 = 200_000;

impl Family {
    /// Cost of the supernet: every candidate computed, then mixed by γ.
    pub fn supernet_cost(&self) -> Cost {
        let mut cost = Cost::default();
        for edge in &self.edges {
            let input = &self.vertices[edge.from].shape;
            for (op, out) in edge.ops.iter().zip(&edge.op_shapes) {
                cost.params += op.params(input);
                cost.flops += op.flops(input, out);
            }
            let mixed = edge.ops.iter().filter(|op| **op != Op::Zero).count() as u64;
            if edge.ops.len() > 1 {
                // γ_r · g_r for every op, then the sum.
                cost.flops += (2 * mixed).saturating_sub(1) * edge.shape.size() as u64;
            }
        }
        for vertex in &self.vertices[1..] {
            cost.flops += aggregation_flops(vertex.agg, vertex.incoming.len(), &vertex.shape);
        }
        cost
    }

    /// The ops a member may keep on edge `e`, one mask per alternative.
    pub fn edge_alternatives(&self, e: usize) -> Vec<u64> {
        let edge = &self.edges[e];
        let k = edge.ops.len();
        match (edge.structure.relaxation, edge.structure.constraint) {
            (Relaxation::Fixed, _) => {
                let mask = edge
                    .structure
                    .gamma
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| **g > 0.0)
                    .fold(0u64, |m, (r, _)| m | 1 << r);
                vec![mask]
            }
            (_, Constraint::Simplex) => (0..k).map(|r| 1u64 << r).collect(),
            (_, Constraint::Cube) => (0..(1u64 << k)).collect(),
        }
    }

    /// Number of discrete members.
    pub fn member_count(&self) -> u128 {
        (0..self.edges.len())
            .map(|e| self.edge_alternatives(e).len() as u128)
            .fold(1u128, |a, b| a.saturating_mul(b))
    }

    /// Cost of one member, as the exporter would write it.
    pub fn member_cost(&self, choice: &[u64]) -> Cost {
        self.member(choice).cost
    }

    /// Evaluates one member: its cost, whether it uses the input, which edges it uses.
    pub fn member(&self, choice: &[u64]) -> Member {
        let n = self.vertices.len();
        let mut kind = vec![Kind::Zero; n];
        let mut shape: Vec<Shape> = self.vertices.iter().map(|v| v.shape.clone()).collect();
        kind[INPUT] = Kind::Live;
        // Per edge: the kind it delivers (None when it contributes nothing).
        let mut edge_kind: Vec<Option<Kind>> = vec![None; self.edges.len()];
        for &v in &self.order[1..] {
            let vertex = &self.vertices[v];
            let mut out: Option<(Kind, Shape)> = None;
            for &e in &vertex.incoming {
                let edge = &self.edges[e];
                let (src_kind, src_shape) = (kind[edge.from], &shape[edge.from]);
                let mut delivered: Option<(Kind, Shape)> = None;
                for (r, op) in edge.ops.iter().enumerate() {
                    if choice[e] >> r & 1 == 0 || *op == Op::Zero {
                        continue;
                    }
                    let k = op_kind(op, src_kind);
                    if k == Kind::Zero {
                        continue;
                    }
                    let s = op
                        .out_shape(src_shape)
                        .unwrap_or_else(|_| edge.shape.clone());
                    delivered = Some(match delivered {
                        None => (k, s),
                        Some((dk, ds)) => {
                            let w = ds.features().max(s.features());
                            (dk.max(k), ds.with_features(w))
                        }
                    });
                }
                let Some((k, s)) = delivered else { continue };
                edge_kind[e] = Some(k);
                out = Some(match out {
                    None => (k, s),
                    Some((ok, os)) => {
                        let w = match vertex.agg {
                            Aggregation::Concat => os.features() + s.features(),
                            _ => os.features().max(s.features()),
                        };
                        (ok.max(k), os.with_features(w))
                    }
                });
            }
            if let Some((k, s)) = out {
                kind[v] = k;
                shape[v] = s;
            }
        }

        let mut needed = vec![false; n];
        needed[self.output] = true;
        let mut used_edges = vec![false; self.edges.len()];
        let mut cost = Cost::default();
        for &v in self.order.iter().rev() {
            if !needed[v] {
                continue;
            }
            let vertex = &self.vertices[v];
            let mut contributing = 0;
            for &e in &vertex.incoming {
                if edge_kind[e].is_none() {
                    continue;
                }
                contributing += 1;
                used_edges[e] = true;
                let edge = &self.edges[e];
                needed[edge.from] = true;
                cost += edge_member_cost(edge, choice[e], kind[edge.from], &shape[edge.from]);
            }
            cost.flops += aggregation_flops(vertex.agg, contributing, &shape[v]);
        }
        Member {
            cost,
            uses_input: kind[self.output] == Kind::Live,
            used_edges,
        }
    }

    /// The smallest and largest members by parameter count.
    pub fn extremes(&self) -> Extremes {
        let alternatives: Vec<Vec<u64>> = (0..self.edges.len())
            .map(|e| self.edge_alternatives(e))
            .collect();
        let members = self.member_count();
        let key = |c: &Cost| (c.params, c.flops);
        if members <= EXHAUSTIVE_LIMIT {
            let mut idx = vec![0usize; alternatives.len()];
            let mut choice: Choice = alternatives.iter().map(|a| a[0]).collect();
            let first = self.member(&choice);
            let mut smallest = (choice.clone(), first.cost);
            let mut largest = (choice.clone(), first.cost);
            let mut smallest_live = first.uses_input.then(|| (choice.clone(), first.cost));
            loop {
                // Odometer over the alternatives of every edge.
                let mut e = 0;
                while e < idx.len() {
                    idx[e] += 1;
                    if idx[e] < alternatives[e].len() {
                        break;
                    }
                    idx[e] = 0;
                    e += 1;
                }
                if e == idx.len() {
                    break;
                }
                for (c, (i, a)) in choice.iter_mut().zip(idx.iter().zip(&alternatives)) {
                    *c = a[*i];
                }
                let member = self.member(&choice);
                let cost = member.cost;
                if key(&cost) < key(&smallest.1) {
                    smallest = (choice.clone(), cost);
                }
                if member.uses_input
                    && smallest_live
                        .as_ref()
                        .is_none_or(|s| key(&cost) < key(&s.1))
                {
                    smallest_live = Some((choice.clone(), cost));
                }
                if key(&cost) > key(&largest.1) {
                    largest = (choice.clone(), cost);
                }
            }
            Extremes {
                members,
                exact: true,
                smallest,
                smallest_live,
                largest,
            }
        } else {
            Extremes {
                members,
                exact: false,
                smallest: self.greedy(&alternatives, Goal::Smallest),
                smallest_live: Some(self.greedy(&alternatives, Goal::SmallestLive))
                    .filter(|(c, _)| self.member(c).uses_input),
                largest: self.greedy(&alternatives, Goal::Largest),
            }
        }
    }

    /// Coordinate search: sweep the edges, give each its best alternative with the others
    /// fixed, until a sweep changes nothing.
    fn greedy(&self, alternatives: &[Vec<u64>], goal: Goal) -> (Choice, Cost) {
        let key = |m: &Member| {
            let k = (m.cost.params as i128, m.cost.flops as i128);
            match goal {
                Goal::Smallest => (0, k.0, k.1),
                // Members that ignore the input rank after every member that uses it.
                Goal::SmallestLive => (i128::from(!m.uses_input), k.0, k.1),
                Goal::Largest => (0, -k.0, -k.1),
            }
        };
        let mut choice: Choice = alternatives.iter().map(|a| a[0]).collect();
        let mut best = self.member(&choice);
        loop {
            let mut changed = false;
            for (e, alts) in alternatives.iter().enumerate() {
                for &a in alts {
                    let old = choice[e];
                    choice[e] = a;
                    let member = self.member(&choice);
                    if key(&member) < key(&best) {
                        best = member;
                        changed = true;
                    } else {
                        choice[e] = old;
                    }
                }
            }
            if !changed {
                return (choice, best.cost);
            }
        }
    }

    /// Describes a member as `edge: op` lines; edges the member does not use say so.
    pub fn describe_choice(&self, choice: &[u64]) -> Vec<String> {
        let used = self.member(choice).used_edges;
        self.edges
            .iter()
            .enumerate()
            .map(|(e, edge)| {
                let kept: Vec<String> = edge
                    .ops
                    .iter()
                    .enumerate()
                    .filter(|(r, op)| choice[e] >> r & 1 == 1 && **op != Op::Zero)
                    .map(|(_, op)| op.describe())
                    .collect();
                let kept = if kept.is_empty() {
                    "(dropped)".to_string()
                } else if !used[e] {
                    "(unused)".to_string()
                } else {
                    kept.join(" + ")
                };
                format!("{}: {kept}", self.edge_name(e))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy)]
enum Goal {
    Smallest,
    SmallestLive,
    Largest,
}

fn op_kind(op: &Op, src: Kind) -> Kind {
    match (op.on_zero_input(), src) {
        (None, _) => Kind::Const,
        (Some(_), Kind::Live) => Kind::Live,
        (Some(_), Kind::Const) => Kind::Const,
        (Some(true), Kind::Zero) => Kind::Const,
        (Some(false), Kind::Zero) => Kind::Zero,
    }
}

fn edge_member_cost(edge: &Edge, mask: u64, src_kind: Kind, src_shape: &Shape) -> Cost {
    let mut cost = Cost::default();
    let mut kept = 0u64;
    let mut width = 0;
    for (r, op) in edge.ops.iter().enumerate() {
        if mask >> r & 1 == 0 || *op == Op::Zero {
            continue;
        }
        match op_kind(op, src_kind) {
            Kind::Zero => continue,
            Kind::Const => cost.params += op.bias_params(),
            Kind::Live => {
                let out = op
                    .out_shape(src_shape)
                    .unwrap_or_else(|_| edge.shape.clone());
                cost.params += op.params(src_shape);
                cost.flops += op.flops(src_shape, &out);
                width = width.max(out.size());
            }
        }
        kept += 1;
    }
    if kept > 1 {
        cost.flops += (kept - 1) * width as u64;
    }
    cost
}

fn aggregation_flops(agg: Aggregation, inputs: usize, shape: &Shape) -> u64 {
    let size = shape.size() as u64;
    match agg {
        Aggregation::Concat => 0,
        Aggregation::Sum => inputs.saturating_sub(1) as u64 * size,
        Aggregation::Mean if inputs > 1 => inputs as u64 * size,
        Aggregation::Mean => 0,
    }
}
