//! Families that grow, as AdaNet grows a network (Cortes et al. 2017, `docs/method.md` §7):
//! an ensemble of subnetworks, each a path from the input to the output vertex, whose
//! outputs the output vertex sums.
//!
//! The subnetworks come from a chain spec: `x → h1 → … → hL → logits`, one fixed op per edge.
//! A subnetwork of depth d takes the chain's first d edges (its hidden layers) and then the
//! chain's last edge (the head) from `hd` to the output; depth 0 is the head on the input
//! alone. So the chain is the deepest subnetwork a growth may add, and every subnetwork's
//! layers are written once, in the spec. The head is a dense layer, so only the depths whose
//! vertex holds a vector are subnetworks: in a conv chain, those from its flatten on.

use crate::error::SpecError;
use crate::family::Family;
use crate::ops::{Activation, Op};
use crate::spec::take_tables;

/// A chain family read as the subnetworks a growth may add.
#[derive(Debug, Clone)]
pub struct Subnetworks {
    /// The chain's spec without its vertices and edges: name, task, input, ARD settings.
    header: toml::Table,
    /// The chain's vertex tables, input first, output last.
    vertices: Vec<toml::Table>,
    /// The chain's edge tables, edge e from vertex e to vertex e + 1.
    edges: Vec<toml::Table>,
    /// The depths whose vertex the head takes, shallowest first.
    depths: Vec<usize>,
}

impl Subnetworks {
    /// Reads `chain` as the deepest subnetwork. It must be a chain (vertex e's one outgoing
    /// edge goes to vertex e + 1) of edges with one op each, none a batch norm (a subnetwork
    /// is frozen once added, and a batch norm's running statistics would keep moving), whose
    /// head is a dense layer without activation (a subnetwork's mixture weight is folded into
    /// it: w · (W h + b) = (wW) h + wb).
    pub fn new(chain: &Family) -> Result<Subnetworks, SpecError> {
        let not_chain = |why: String| {
            SpecError::Graph(format!(
                "`{}` cannot be grown: {why}; growth takes a chain input → … → output with one op per edge, whose first edges are the hidden layers and whose last edge is the head",
                chain.name
            ))
        };
        if chain.edges.len() + 1 != chain.vertices.len() {
            return Err(not_chain(format!(
                "it has {} vertices and {} edges, not one edge fewer than vertices",
                chain.vertices.len(),
                chain.edges.len()
            )));
        }
        for (e, edge) in chain.edges.iter().enumerate() {
            if edge.from != e || edge.to != e + 1 {
                return Err(not_chain(format!(
                    "edge {} is not from vertex {e} to vertex {}",
                    chain.edge_name(e),
                    e + 1
                )));
            }
            if edge.ops.len() != 1 {
                return Err(not_chain(format!(
                    "edge {} has {} ops",
                    chain.edge_name(e),
                    edge.ops.len()
                )));
            }
            if matches!(edge.ops[0], Op::BatchNorm(_)) {
                return Err(not_chain(format!(
                    "edge {} is a batch norm, whose running statistics would move in a frozen subnetwork",
                    chain.edge_name(e)
                )));
            }
        }
        let head = chain.edges.len() - 1;
        if !matches!(&chain.edges[head].ops[0], Op::Dense(d) if d.activation == Activation::None) {
            return Err(not_chain(format!(
                "its head {} is {}, not a dense layer without activation, into which a subnetwork's mixture weight folds",
                chain.edge_name(head),
                chain.edges[head].ops[0].describe()
            )));
        }
        let depths: Vec<usize> = (0..chain.edges.len())
            .filter(|&d| {
                chain.edges[head].ops[0]
                    .family()
                    .out_shape(&chain.vertices[d].shape)
                    .is_ok()
            })
            .collect();
        if depths.is_empty() {
            return Err(not_chain(format!(
                "its head {} takes none of the chain's vertices",
                chain.edge_name(head)
            )));
        }
        let syntax = |e: toml::de::Error| SpecError::Syntax(e.message().to_string());
        let mut header: toml::Table = toml::from_str(&chain.source).map_err(syntax)?;
        let vertices = take_tables(&mut header, "vertex")?;
        let edges = take_tables(&mut header, "edge")?;
        Ok(Subnetworks {
            header,
            vertices,
            edges,
            depths,
        })
    }

    /// The depths a subnetwork can have, shallowest first: those whose vertex (the input for
    /// depth 0) the head takes. The last is the chain's hidden layers, all of them.
    pub fn depths(&self) -> &[usize] {
        &self.depths
    }

    /// The family of one subnetwork per entry of `depths` (each one of
    /// [`depths`](Self::depths)), in that order, all summed at the output. Subnetwork j's
    /// edges come after those of subnetworks 0..j ([`edges_of`](Self::edges_of)), so a family
    /// grown by one more subnetwork keeps the earlier edges' indices. Its hidden vertices are
    /// the chain's, named `NAME_j` (j from 1).
    pub fn grown(&self, depths: &[usize]) -> Result<Family, SpecError> {
        if depths.is_empty() {
            return Err(SpecError::Graph(
                "a grown family needs at least one subnetwork".into(),
            ));
        }
        if let Some(&d) = depths.iter().find(|d| !self.depths.contains(d)) {
            let list: Vec<String> = self.depths.iter().map(usize::to_string).collect();
            return Err(SpecError::Graph(format!(
                "a subnetwork of depth {d} asked for, but the chain's are {}",
                list.join(", ")
            )));
        }
        let name = |t: &toml::Table| -> String {
            t.get("name")
                .and_then(toml::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let input = name(&self.vertices[0]);
        let output_table = &self.vertices[self.vertices.len() - 1];
        let output = name(output_table);
        let mut vertices = vec![toml::Value::Table(self.vertices[0].clone())];
        let mut edges = Vec::new();
        for (j, &depth) in depths.iter().enumerate() {
            let hidden = |i: usize| -> String { format!("{}_{}", name(&self.vertices[i]), j + 1) };
            for i in 1..=depth {
                let mut v = self.vertices[i].clone();
                v.insert("name".into(), hidden(i).into());
                vertices.push(toml::Value::Table(v));
            }
            for e in (0..depth).chain([self.edges.len() - 1]) {
                let mut t = self.edges[e].clone();
                let from = if e == 0 || depth == 0 {
                    input.clone()
                } else if e == self.edges.len() - 1 {
                    hidden(depth)
                } else {
                    hidden(e)
                };
                let to = if e == self.edges.len() - 1 {
                    output.clone()
                } else {
                    hidden(e + 1)
                };
                t.insert("from".into(), from.into());
                t.insert("to".into(), to.into());
                edges.push(toml::Value::Table(t));
            }
        }
        let mut out = output_table.clone();
        out.insert("agg".into(), "sum".into());
        vertices.push(toml::Value::Table(out));
        let mut table = self.header.clone();
        table.insert("vertex".into(), toml::Value::Array(vertices));
        table.insert("edge".into(), toml::Value::Array(edges));
        let src = toml::to_string(&table).map_err(|e| SpecError::Syntax(e.to_string()))?;
        Family::parse(&src)
    }

    /// The edge indices of subnetwork `j` in the family [`grown`](Self::grown) from `depths`:
    /// its `depths[j]` hidden layers, then its head.
    pub fn edges_of(depths: &[usize], j: usize) -> std::ops::Range<usize> {
        let start: usize = depths[..j].iter().map(|d| d + 1).sum();
        start..start + depths[j] + 1
    }
}
