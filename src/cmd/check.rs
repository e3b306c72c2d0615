use std::path::PathBuf;

use anyhow::Result;
use ardent_models::{Cost, Family};

use crate::fmt::thousands;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Spec files (TOML).
    #[arg(required = true)]
    specs: Vec<PathBuf>,
    /// Print one JSON object per spec instead of a table.
    #[arg(long)]
    json: bool,
    /// Also list every vertex and edge with shapes.
    #[arg(long, short)]
    verbose: bool,
}

/// Checks every spec, printing the good ones, then fails if any was bad (so one bad file
/// does not hide the report on the others).
pub fn run(args: Args) -> Result<()> {
    let mut failures = Vec::new();
    for path in &args.specs {
        match Family::from_path(path) {
            Ok(f) => {
                if args.json {
                    println!("{}", serde_json::to_string(&summary_json(path, &f))?);
                } else {
                    print_summary(path, &f, args.verbose);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                failures.push(path.display().to_string());
            }
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => anyhow::bail!("1 spec failed: {}", failures[0]),
        n => anyhow::bail!("{n} specs failed: {}", failures.join(", ")),
    }
}

fn cost_line(label: &str, c: &Cost) -> String {
    format!(
        "  {label:<16} {:>12} params {:>14} FLOPs",
        thousands(c.params as u128),
        thousands(u128::from(c.flops))
    )
}

fn print_summary(path: &std::path::Path, f: &Family, verbose: bool) {
    println!("{}: {}", path.display(), f.name);
    if !f.description.is_empty() {
        println!("  {}", f.description);
    }
    let task = match f.task {
        ardent_models::Task::Classification { classes } => {
            format!("classification, {classes} classes")
        }
        ardent_models::Task::Regression { targets } => format!("regression, {targets} target(s)"),
        ardent_models::Task::Vae {
            features,
            likelihood,
        } => {
            let code = f.code_site().map_or(String::new(), |s| {
                format!(", a code of {} dimensions", s.dims)
            });
            format!(
                "vae, {} likelihood over {features} values{code}",
                likelihood.name()
            )
        }
    };
    let candidates: usize = f.edges.iter().map(|e| e.ops.len()).sum();
    let searched = f.edges.iter().filter(|e| e.structure.is_searched()).count();
    let ex = f.extremes();
    println!("  task: {task}; input {}", f.input_shape());
    println!(
        "  vertices {}, edges {} ({searched} searched), candidates {candidates}, discrete members {}",
        f.vertices.len(),
        f.edges.len(),
        thousands(ex.members)
    );
    println!("{}", cost_line("supernet", &f.supernet_cost()));
    let approx = if ex.exact { "" } else { " (greedy)" };
    println!("{}{approx}", cost_line("smallest member", &ex.smallest.1));
    if let Some((_, c)) = &ex.smallest_live {
        println!("{}{approx}", cost_line("smallest on input", c));
    }
    println!("{}{approx}", cost_line("largest member", &ex.largest.1));
    if !f.dangling.is_empty() {
        let names: Vec<&str> = f
            .dangling
            .iter()
            .map(|&v| f.vertices[v].name.as_str())
            .collect();
        println!(
            "  warning: vertices on no input-to-output path: {}",
            names.join(", ")
        );
    }
    if verbose {
        for &v in &f.order {
            let vertex = &f.vertices[v];
            println!(
                "  vertex {:<12} {:<7} {}",
                vertex.name,
                vertex.agg.name(),
                vertex.shape
            );
        }
        for e in f.edge_order() {
            let edge = &f.edges[e];
            let ops: Vec<String> = edge.ops.iter().map(|o| o.describe()).collect();
            println!(
                "  edge {:<20} {:<15} {}  [{}]",
                f.edge_name(e),
                edge.structure.relaxation.name(),
                edge.shape,
                ops.join(" | ")
            );
        }
        println!(
            "  smallest: {}",
            f.describe_choice(&ex.smallest.0).join("; ")
        );
        if let Some((c, _)) = &ex.smallest_live {
            println!("  smallest on input: {}", f.describe_choice(c).join("; "));
        }
        println!(
            "  largest:  {}",
            f.describe_choice(&ex.largest.0).join("; ")
        );
    }
}

fn summary_json(path: &std::path::Path, f: &Family) -> serde_json::Value {
    let ex = f.extremes();
    serde_json::json!({
        "path": path.display().to_string(),
        "name": f.name,
        "task": f.task,
        "input": f.input_shape(),
        "vertices": f.vertices.iter().map(|v| serde_json::json!({
            "name": v.name, "agg": v.agg, "shape": v.shape,
        })).collect::<Vec<_>>(),
        "edges": (0..f.edges.len()).map(|e| serde_json::json!({
            "edge": f.edge_name(e),
            "shape": f.edges[e].shape,
            "relaxation": f.edges[e].structure.relaxation,
            "ops": f.edges[e].ops.iter().map(|o| o.describe()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "members": ex.members.to_string(),
        "exact": ex.exact,
        "supernet": f.supernet_cost(),
        "smallest": { "cost": ex.smallest.1, "choice": f.describe_choice(&ex.smallest.0) },
        "smallest_on_input": ex.smallest_live.as_ref().map(|(c, cost)| serde_json::json!({
            "cost": cost, "choice": f.describe_choice(c),
        })),
        "largest": { "cost": ex.largest.1, "choice": f.describe_choice(&ex.largest.0) },
    })
}
