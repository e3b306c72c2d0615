//! The validated model family: a DAG with resolved shapes, structures and ARD settings.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use crate::ard::Ard;
use crate::error::{Location, SpecError};
use crate::ops::Op;
use crate::shape::Shape;
use crate::spec::{Aggregation, FamilySpec, Likelihood, TaskKind};
use crate::structure::{Structure, StructureSpec};

/// What the family predicts, with the output width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Task {
    Classification {
        classes: usize,
    },
    Regression {
        targets: usize,
    },
    /// A VAE over inputs of `features` values.
    Vae {
        features: usize,
        likelihood: Likelihood,
    },
}

impl Task {
    /// How the task's data reads its targets: class labels or real values. A VAE reads its
    /// data as a classifier's and ignores the labels: its targets are its inputs.
    pub fn target_kind(&self) -> ardent_data::TargetKind {
        match self {
            Task::Classification { .. } | Task::Vae { .. } => ardent_data::TargetKind::Classes,
            Task::Regression { .. } => ardent_data::TargetKind::Real,
        }
    }

    /// Width of the output vertex.
    pub fn outputs(&self) -> usize {
        match *self {
            Task::Classification { classes } => classes,
            Task::Regression { targets } => targets,
            Task::Vae { features, .. } => features,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Vertex {
    pub name: String,
    pub agg: Aggregation,
    /// Shape of one sample at this vertex in the supernet.
    pub shape: Shape,
    /// Indices of incoming edges, in spec order.
    pub incoming: Vec<usize>,
    pub outgoing: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub ops: Vec<Op>,
    /// ARD settings per op (meaningful for parametric ops only).
    pub ard: Vec<Ard>,
    pub structure: Structure,
    /// Output shape of each op on the supernet's input to this edge (before padding).
    pub op_shapes: Vec<Shape>,
    /// The edge's output shape: the widest op's; narrower ops are zero-padded on axis 0.
    pub shape: Shape,
}

/// A validated model family. Build one with [`Family::parse`] or [`Family::from_path`].
///
/// Invariants: vertex 0 is the input and has no incoming edge; `output` has the task's
/// width; every other vertex has at least one incoming edge; the graph is acyclic and
/// `order` is a topological order of all vertices; every edge has at least one op.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: String,
    pub description: String,
    pub task: Task,
    pub vertices: Vec<Vertex>,
    pub edges: Vec<Edge>,
    pub order: Vec<usize>,
    pub output: usize,
    /// Vertices that lie on no path from the input to the output (kept, but useless).
    pub dangling: Vec<usize>,
    /// The spec text this family was parsed from (stored in checkpoints).
    pub source: String,
}

/// Index of the input vertex.
pub const INPUT: usize = 0;

impl Family {
    /// Reads and validates a spec file; errors name the file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Family, SpecError> {
        let path = path.as_ref();
        let src = std::fs::read_to_string(path).map_err(|e| SpecError::Io(e).in_file(path))?;
        Family::parse(&src).map_err(|e| e.in_file(path))
    }

    /// Parses and validates a spec from TOML text.
    pub fn parse(src: &str) -> Result<Family, SpecError> {
        let spec: FamilySpec = toml::from_str(src).map_err(|e| {
            let msg = e.message().trim().to_string();
            match e.span() {
                Some(span) => SpecError::invalid(Location::from_offset(src, span.start), msg),
                None => SpecError::Syntax(msg),
            }
        })?;
        build(spec, src)
    }

    /// The same family with another input shape: the spec text is rewritten at its `input`
    /// entry and validated again (so the next layers' sizes follow).
    pub fn with_input(&self, shape: &[usize]) -> Result<Family, SpecError> {
        let spec: FamilySpec =
            toml::from_str(&self.source).map_err(|e| SpecError::Syntax(e.message().to_string()))?;
        let span = spec.input.span();
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let mut src = self.source.clone();
        src.replace_range(span, &format!("[{}]", dims.join(", ")));
        Family::parse(&src)
    }

    /// The discrete member `choice` selects (a bit mask of ops per edge, as
    /// [`Family::member`] takes it) as a family of its own: every searched edge becomes
    /// `relaxation = "fixed"` with γ = 1 on the chosen ops and 0 elsewhere (so the simplex
    /// must get exactly one op per edge; none stands for its zero op, as collapse gives it). The spec text is rewritten and validated again, so
    /// checkpoints of the member carry a spec that reproduces it. Comments are not kept.
    pub fn fixed_member(&self, choice: &[u64]) -> Result<Family, SpecError> {
        let syntax = |e: toml::de::Error| SpecError::Syntax(e.message().to_string());
        let mut table: toml::Table = toml::from_str(&self.source).map_err(syntax)?;
        let Some(toml::Value::Array(edges)) = table.get_mut("edge") else {
            return Err(SpecError::Syntax("the spec has no [[edge]] tables".into()));
        };
        for (e, edge) in self.edges.iter().enumerate() {
            if !edge.structure.is_searched() {
                continue;
            }
            let mut mask = choice.get(e).copied().unwrap_or(0);
            // An empty simplex choice is the collapse of an edge whose zero op won.
            if mask == 0
                && edge.structure.constraint == crate::structure::Constraint::Simplex
                && let Some(z) = edge.ops.iter().position(|op| *op == crate::ops::Op::Zero)
            {
                mask = 1 << z;
            }
            let gamma: Vec<toml::Value> = (0..edge.ops.len())
                .map(|r| toml::Value::Float(if mask >> r & 1 == 1 { 1.0 } else { 0.0 }))
                .collect();
            let mut structure = toml::Table::new();
            structure.insert("relaxation".into(), "fixed".into());
            structure.insert(
                "constraint".into(),
                match edge.structure.constraint {
                    crate::structure::Constraint::Simplex => "simplex",
                    crate::structure::Constraint::Cube => "cube",
                }
                .into(),
            );
            structure.insert("gamma".into(), toml::Value::Array(gamma));
            match edges.get_mut(e) {
                Some(toml::Value::Table(t)) => {
                    t.insert("structure".into(), toml::Value::Table(structure));
                }
                _ => {
                    return Err(SpecError::Syntax(format!(
                        "edge {} is not in the spec's [[edge]] list",
                        self.edge_name(e)
                    )));
                }
            }
        }
        let src = toml::to_string(&table).map_err(|e| SpecError::Syntax(e.to_string()))?;
        Family::parse(&src)
    }

    pub fn input_shape(&self) -> &Shape {
        &self.vertices[INPUT].shape
    }

    /// A readable edge name, `from -> to`.
    pub fn edge_name(&self, e: usize) -> String {
        let edge = &self.edges[e];
        format!(
            "{} -> {}",
            self.vertices[edge.from].name, self.vertices[edge.to].name
        )
    }

    /// The stable key used in tensor names: `edge.{from}-{to}`.
    pub fn edge_key(&self, e: usize) -> String {
        format!("edge.{}-{}", self.edges[e].from, self.edges[e].to)
    }

    /// Edges in an order where every edge comes after all edges into its source vertex.
    pub fn edge_order(&self) -> Vec<usize> {
        self.order
            .iter()
            .flat_map(|&v| self.vertices[v].incoming.iter().copied())
            .collect()
    }
}

fn at(src: &str, span: std::ops::Range<usize>) -> Location {
    Location::from_offset(src, span.start)
}

fn build(spec: FamilySpec, src: &str) -> Result<Family, SpecError> {
    let task = match (spec.task, spec.classes, spec.targets) {
        (TaskKind::Classification, Some(c), None) if c >= 2 => Task::Classification { classes: c },
        (TaskKind::Classification, Some(c), None) => {
            return Err(SpecError::Graph(format!(
                "classification needs classes >= 2, got {c}"
            )));
        }
        (TaskKind::Classification, None, _) => {
            return Err(SpecError::Graph(
                "task = \"classification\" needs `classes`".into(),
            ));
        }
        (TaskKind::Regression, None, t) if t != Some(0) => Task::Regression {
            targets: t.unwrap_or(1),
        },
        (TaskKind::Regression, None, _) => {
            return Err(SpecError::Graph("regression needs targets >= 1".into()));
        }
        (TaskKind::Vae, None, None) => Task::Vae {
            features: spec.input.get_ref().iter().product(),
            likelihood: spec.likelihood.unwrap_or_default(),
        },
        (TaskKind::Vae, _, _) => {
            return Err(SpecError::Graph(
                "task = \"vae\" reconstructs its input: it takes neither `classes` nor `targets`"
                    .into(),
            ));
        }
        (_, Some(_), Some(_)) | (TaskKind::Regression, Some(_), None) => {
            return Err(SpecError::Graph(
                "`classes` goes with classification, `targets` with regression".into(),
            ));
        }
    };
    if spec.likelihood.is_some() && spec.task != TaskKind::Vae {
        return Err(SpecError::Graph(
            "`likelihood` goes with task = \"vae\"".into(),
        ));
    }

    if spec.vertices.len() < 2 {
        return Err(SpecError::Graph(format!(
            "a family needs at least an input and an output vertex, got {}",
            spec.vertices.len()
        )));
    }
    let input_at = at(src, spec.input.span());
    let input = Shape(spec.input.into_inner());
    if input.0.is_empty() || input.0.contains(&0) || !matches!(input.rank(), 1 | 3) {
        return Err(SpecError::invalid(
            input_at,
            format!(
                "input must be [features] or [channels, height, width] with no zero, got {input}"
            ),
        ));
    }

    let mut index: HashMap<String, usize> = HashMap::new();
    let mut vertices = Vec::with_capacity(spec.vertices.len());
    for v in &spec.vertices {
        let loc = at(src, v.span());
        let v = v.get_ref();
        if v.name.is_empty() {
            return Err(SpecError::invalid(loc, "vertex name is empty"));
        }
        if index.insert(v.name.clone(), vertices.len()).is_some() {
            return Err(SpecError::invalid(
                loc,
                format!("vertex `{}` is declared twice", v.name),
            ));
        }
        vertices.push(Vertex {
            name: v.name.clone(),
            agg: v.agg,
            shape: Shape(Vec::new()),
            incoming: Vec::new(),
            outgoing: Vec::new(),
        });
    }
    let output = vertices.len() - 1;

    let family_ard = Ard::default().with(spec.ard.as_ref());
    let default_search = spec.search.clone().unwrap_or(StructureSpec {
        constraint: Default::default(),
        form: Default::default(),
        relaxation: Default::default(),
        concentration: None,
        temperature: None,
        temperature_final: None,
        schedule: Default::default(),
        gamma: None,
    });

    let mut edges = Vec::with_capacity(spec.edges.len());
    let mut edge_locs = Vec::with_capacity(spec.edges.len());
    let mut pairs = HashMap::new();
    for e in spec.edges {
        let loc = at(src, e.span());
        let e = e.into_inner();
        let end = |name: &toml::Spanned<String>| {
            index.get(name.get_ref()).copied().ok_or_else(|| {
                SpecError::invalid(
                    at(src, name.span()),
                    format!("edge refers to unknown vertex `{}`", name.get_ref()),
                )
            })
        };
        let (from, to) = (end(&e.from)?, end(&e.to)?);
        let name = format!("{} -> {}", e.from.get_ref(), e.to.get_ref());
        if from == to {
            return Err(SpecError::invalid(
                loc,
                format!("edge {name} is a cycle: it starts and ends at the same vertex"),
            ));
        }
        if to == INPUT {
            return Err(SpecError::invalid(
                loc,
                format!("edge {name} points into the input vertex"),
            ));
        }
        if let Some(prev) = pairs.insert((from, to), loc) {
            return Err(SpecError::invalid(
                loc,
                format!(
                    "edge {name} is declared twice (first at {prev}); put all its candidates in one `ops` list"
                ),
            ));
        }
        if e.ops.is_empty() {
            return Err(SpecError::invalid(
                loc,
                format!("edge {name} has an empty candidate list"),
            ));
        }
        if e.ops.len() > 64 {
            return Err(SpecError::invalid(
                loc,
                format!(
                    "edge {name} has {} candidates; at most 64 are supported",
                    e.ops.len()
                ),
            ));
        }
        for (r, op) in e.ops.iter().enumerate() {
            op.check()
                .map_err(|m| SpecError::invalid(loc, format!("edge {name}, op {r}: {m}")))?;
        }
        if e.ops.iter().all(|op| *op == Op::Zero) {
            return Err(SpecError::invalid(
                loc,
                format!("edge {name} has only zero ops: remove the edge"),
            ));
        }
        let structure = match (&e.structure, e.ops.len()) {
            (None, 1) => Ok(Structure::single()),
            (Some(s), k) => Structure::resolve(s, k),
            (None, k) => Structure::resolve(&default_search, k),
        }
        .map_err(|m| SpecError::invalid(loc, format!("edge {name}: {m}")))?;
        let edge_ard = family_ard.with(e.ard.as_ref());
        let ard = e
            .ops
            .iter()
            .map(|op| edge_ard.with(op.ard_override()))
            .collect();
        vertices[from].outgoing.push(edges.len());
        vertices[to].incoming.push(edges.len());
        edges.push(Edge {
            from,
            to,
            ops: e.ops,
            ard,
            structure,
            op_shapes: Vec::new(),
            shape: Shape(Vec::new()),
        });
        edge_locs.push(loc);
    }

    for (v, vertex) in vertices.iter().enumerate().skip(1) {
        if vertex.incoming.is_empty() {
            return Err(SpecError::Graph(format!(
                "vertex `{}` has no incoming edge{}",
                vertex.name,
                if v == output {
                    ": the output cannot be reached"
                } else {
                    ""
                }
            )));
        }
    }

    let order = topological_order(&vertices, &edges)?;
    let forward = reach(&vertices, &edges, INPUT, true);
    if !forward[output] {
        return Err(SpecError::Graph(format!(
            "the output vertex `{}` cannot be reached from the input `{}`",
            vertices[output].name, vertices[INPUT].name
        )));
    }
    let backward = reach(&vertices, &edges, output, false);
    let dangling = (0..vertices.len())
        .filter(|&v| !(forward[v] && backward[v]))
        .collect();

    vertices[INPUT].shape = input;
    for &v in &order[1..] {
        for &e in &vertices[v].incoming.clone() {
            let loc = edge_locs[e];
            let name = format!(
                "{} -> {}",
                vertices[edges[e].from].name, vertices[edges[e].to].name
            );
            let src_shape = vertices[edges[e].from].shape.clone();
            infer_edge(&mut edges[e], &src_shape, v == output)
                .map_err(|m| SpecError::invalid(loc, format!("edge {name}: {m}")))?;
            check_ard(&edges[e], &src_shape)
                .map_err(|m| SpecError::invalid(loc, format!("edge {name}: {m}")))?;
        }
        let shape = aggregate_shape(&vertices, &edges, v, &edge_locs)?;
        vertices[v].shape = shape;
    }

    let out_shape = &vertices[output].shape;
    if *out_shape != Shape(vec![task.outputs()]) {
        return Err(SpecError::Graph(format!(
            "the output vertex `{}` has shape {out_shape}, but the task needs [{}]",
            vertices[output].name,
            task.outputs()
        )));
    }

    let family = Family {
        name: spec.name,
        description: spec.description,
        task,
        vertices,
        edges,
        order,
        output,
        dangling,
        source: src.to_string(),
    };
    check_code(&family)?;
    Ok(family)
}

fn infer_edge(edge: &mut Edge, input: &Shape, into_output: bool) -> Result<(), String> {
    let shapes = edge
        .ops
        .iter()
        .enumerate()
        .map(|(r, op)| op.out_shape(input).map_err(|m| format!("op {r}: {m}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut widest: Option<(usize, &Shape)> = None;
    for (r, (op, shape)) in edge.ops.iter().zip(&shapes).enumerate() {
        if *op == Op::Zero {
            continue;
        }
        match widest {
            None => widest = Some((r, shape)),
            Some((q, w)) => {
                let same = if into_output {
                    shape == w
                } else {
                    shape.same_but_features(w)
                };
                if !same {
                    return Err(format!(
                        "candidates disagree: op {q} ({}) gives {w}, op {r} ({}) gives {shape}{}",
                        edge.ops[q].describe(),
                        op.describe(),
                        if into_output {
                            " (edges into the output cannot pad widths)"
                        } else {
                            ""
                        }
                    ));
                }
                if shape.features() > w.features() {
                    widest = Some((r, shape));
                }
            }
        }
    }
    let Some((_, widest)) = widest else {
        return Err("no non-zero op".into());
    };
    edge.shape = widest.clone();
    edge.op_shapes = shapes;
    Ok(())
}

fn check_ard(edge: &Edge, input: &Shape) -> Result<(), String> {
    for (r, (op, ard)) in edge.ops.iter().zip(&edge.ard).enumerate() {
        let Some((fan_in, fan_out)) = op.fans(input) else {
            continue;
        };
        let min_group = match ard.grouping {
            crate::ard::Grouping::Weight => 1,
            crate::ard::Grouping::Neuron => fan_in,
            crate::ard::Grouping::Input => fan_out,
        };
        ard.check(min_group).map_err(|m| format!("op {r}: {m}"))?;
    }
    Ok(())
}

fn aggregate_shape(
    vertices: &[Vertex],
    edges: &[Edge],
    v: usize,
    locs: &[Location],
) -> Result<Shape, SpecError> {
    let vertex = &vertices[v];
    let name = |e: usize| {
        format!(
            "{} -> {}",
            vertices[edges[e].from].name, vertices[edges[e].to].name
        )
    };
    let first = vertex.incoming[0];
    let mut shape = edges[first].shape.clone();
    for &e in &vertex.incoming[1..] {
        let s = &edges[e].shape;
        let ok = match vertex.agg {
            Aggregation::Sum | Aggregation::Mean => *s == shape,
            Aggregation::Concat => s.same_but_features(&shape),
        };
        if !ok {
            return Err(SpecError::invalid(
                locs[e],
                format!(
                    "shapes disagree at vertex `{}` ({}): edge {} gives {}, edge {} gives {s}",
                    vertex.name,
                    vertex.agg.name(),
                    name(first),
                    edges[first].shape,
                    name(e),
                ),
            ));
        }
        if vertex.agg == Aggregation::Concat {
            shape = shape.with_features(shape.features() + s.features());
        }
    }
    Ok(shape)
}

fn topological_order(vertices: &[Vertex], edges: &[Edge]) -> Result<Vec<usize>, SpecError> {
    let mut indegree: Vec<usize> = vertices.iter().map(|v| v.incoming.len()).collect();
    let mut queue: VecDeque<usize> = (0..vertices.len()).filter(|&v| indegree[v] == 0).collect();
    let mut order = Vec::with_capacity(vertices.len());
    while let Some(v) = queue.pop_front() {
        order.push(v);
        for &e in &vertices[v].outgoing {
            let t = edges[e].to;
            indegree[t] -= 1;
            if indegree[t] == 0 {
                queue.push_back(t);
            }
        }
    }
    if order.len() == vertices.len() {
        return Ok(order);
    }
    // Every vertex left has an incoming edge from another vertex left, so walking backwards
    // along such edges must revisit a vertex: that loop is a cycle.
    let left: Vec<bool> = indegree.iter().map(|&d| d > 0).collect();
    let start = left.iter().position(|&l| l).unwrap_or(0);
    let mut path = vec![start];
    let mut seen = vec![usize::MAX; vertices.len()];
    seen[start] = 0;
    let mut v = start;
    while let Some(prev) = vertices[v]
        .incoming
        .iter()
        .map(|&e| edges[e].from)
        .find(|&p| left[p])
    {
        if seen[prev] != usize::MAX {
            let mut cycle: Vec<usize> = path[seen[prev]..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            let names: Vec<&str> = cycle.iter().map(|&c| vertices[c].name.as_str()).collect();
            return Err(SpecError::Graph(format!(
                "the graph has a cycle: {}",
                names.join(" -> ")
            )));
        }
        seen[prev] = path.len();
        path.push(prev);
        v = prev;
    }
    Err(SpecError::Graph("the graph has a cycle".into()))
}

fn reach(vertices: &[Vertex], edges: &[Edge], start: usize, forward: bool) -> Vec<bool> {
    let mut seen = vec![false; vertices.len()];
    let mut stack = vec![start];
    seen[start] = true;
    while let Some(v) = stack.pop() {
        let next = if forward {
            &vertices[v].outgoing
        } else {
            &vertices[v].incoming
        };
        for &e in next {
            let w = if forward { edges[e].to } else { edges[e].from };
            if !seen[w] {
                seen[w] = true;
                stack.push(w);
            }
        }
    }
    seen
}

/// Where a VAE family's code sits.
#[derive(Debug, Clone)]
pub struct CodeSite {
    /// The edge carrying the code op.
    pub edge: usize,
    /// Its source: the encoder's output, `[2·dims]`.
    pub stats: usize,
    /// Its target: the code, `[dims]`, the decoder's input.
    pub code: usize,
    pub dims: usize,
    /// The gate's structure (`dims` entries in the cube).
    pub gate: Structure,
    /// Per vertex: true in the encoder (the statistics depend on it), false in the decoder.
    pub encoder: Vec<bool>,
}

impl Family {
    /// The code op of a VAE family, `None` for other tasks (a validated family has one
    /// exactly when it is a VAE).
    pub fn code_site(&self) -> Option<CodeSite> {
        let (e, code) = self.edges.iter().enumerate().find_map(|(e, edge)| {
            edge.ops.iter().find_map(|op| match op {
                Op::Code(c) => Some((e, c)),
                _ => None,
            })
        })?;
        let edge = &self.edges[e];
        let gate = code.gate().ok()?;
        let encoder = reach(&self.vertices, &self.edges, edge.from, false);
        Some(CodeSite {
            edge: e,
            stats: edge.from,
            code: edge.to,
            dims: code.dims,
            gate,
            encoder,
        })
    }
}

/// Checks a validated family's code ops against its task: a VAE has exactly one, laid out as
/// `crate::vae` says; other tasks have none.
fn check_code(f: &Family) -> Result<(), SpecError> {
    let codes: Vec<usize> = (0..f.edges.len())
        .filter(|&e| f.edges[e].ops.iter().any(|op| matches!(op, Op::Code(_))))
        .collect();
    let vae = matches!(f.task, Task::Vae { .. });
    let bad = |m: String| Err(SpecError::Graph(m));
    match (vae, codes.as_slice()) {
        (false, []) => return Ok(()),
        (false, [e, ..]) => {
            return bad(format!(
                "edge {} has a code op, which belongs in a task = \"vae\" family",
                f.edge_name(*e)
            ));
        }
        (true, []) => {
            return bad(
                "task = \"vae\" needs a code: an edge with op = \"code\" from the encoder's statistics to the decoder's input".into(),
            );
        }
        (true, [_]) => {}
        (true, [a, b, ..]) => {
            return bad(format!(
                "a VAE has one code, but edges {} and {} both have a code op",
                f.edge_name(*a),
                f.edge_name(*b)
            ));
        }
    }
    let e = codes[0];
    let edge = &f.edges[e];
    let name = f.edge_name(e);
    if edge.ops.len() != 1 || edge.structure.is_searched() {
        return bad(format!(
            "edge {name}: the code op is the edge's one op (its gate is its own structure)"
        ));
    }
    let site = f
        .code_site()
        .ok_or_else(|| SpecError::Graph(format!("edge {name}: the code's gate is invalid")))?;
    let (stats, code) = (site.stats, site.code);
    if stats == INPUT {
        return bad(format!(
            "edge {name}: the code needs an encoder: its statistics cannot be the input"
        ));
    }
    if f.vertices[code].incoming.len() != 1 {
        return bad(format!(
            "vertex `{}` is the code: the code edge must be its only incoming edge",
            f.vertices[code].name
        ));
    }
    if f.vertices[stats].outgoing.len() != 1 {
        return bad(format!(
            "vertex `{}` holds the code's statistics: the code edge must be its only outgoing edge",
            f.vertices[stats].name
        ));
    }
    if f.vertices[stats].agg == Aggregation::Concat {
        return bad(format!(
            "vertex `{}` holds the code's statistics: it must sum or average its edges, not concatenate them, so a dimension's mean and log-variance are rows of each edge's dense layer",
            f.vertices[stats].name
        ));
    }
    let dense_only = |edges: &[usize], what: &str| -> Result<(), SpecError> {
        for &d in edges {
            if let Some(op) = f.edges[d].ops.iter().find(|op| !matches!(op, Op::Dense(_))) {
                return bad(format!(
                    "edge {} {what} carries {}: only dense ops can, so that a removed code dimension is removed from their weights",
                    f.edge_name(d),
                    op.describe()
                ));
            }
        }
        Ok(())
    };
    dense_only(&f.vertices[stats].incoming, "into the code's statistics")?;
    dense_only(&f.vertices[code].outgoing, "out of the code")?;
    let decoder = reach(&f.vertices, &f.edges, code, true);
    if !decoder[f.output] {
        return bad(format!(
            "the output `{}` does not depend on the code `{}`",
            f.vertices[f.output].name, f.vertices[code].name
        ));
    }
    for (v, vertex) in f.vertices.iter().enumerate() {
        if !site.encoder[v] && !decoder[v] {
            return bad(format!(
                "vertex `{}` is in neither the encoder (it does not lead to `{}`) nor the decoder (it does not follow `{}`)",
                vertex.name, f.vertices[stats].name, f.vertices[code].name
            ));
        }
    }
    for (d, other) in f.edges.iter().enumerate() {
        if d != e && site.encoder[other.from] != site.encoder[other.to] {
            return bad(format!(
                "edge {} goes from the encoder to the decoder around the code; the decoder sees the input only through the code",
                f.edge_name(d)
            ));
        }
    }
    Ok(())
}
