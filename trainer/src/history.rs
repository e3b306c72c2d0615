//! Reading back what a run wrote to its metrics file (`train --metrics`, JSON lines).

use std::path::Path;

use crate::error::TrainError;

#[derive(serde::Deserialize)]
struct Line {
    epoch: f64,
    #[serde(default)]
    structure: Option<Vec<EdgeLine>>,
}

#[derive(serde::Deserialize)]
struct EdgeLine {
    edge: String,
    gamma: Vec<f64>,
}

/// γ of one searched edge over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct GammaHistory {
    /// The edge's name, `FROM->TO`.
    pub edge: String,
    /// Per logged epoch: the epoch and γ per op, every row of the same length.
    pub epochs: Vec<(f64, Vec<f64>)>,
}

/// γ of every searched edge, in the order the edges first appear, from the metrics file at
/// `path`. A line that is not metrics JSON, an edge whose γ changes length, or a file with no
/// searched edge is an error naming the file (and the line).
pub fn gamma_history(path: &Path) -> Result<Vec<GammaHistory>, TrainError> {
    let at =
        |line: usize, why: String| TrainError::Config(format!("{}:{line}: {why}", path.display()));
    let text = std::fs::read_to_string(path)
        .map_err(|e| TrainError::Config(format!("{}: cannot read: {e}", path.display())))?;
    let mut edges: Vec<GammaHistory> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|e| {
            at(
                i + 1,
                format!("not a metrics line (JSON with `epoch`): {e}"),
            )
        })?;
        for e in line.structure.unwrap_or_default() {
            let slot = match edges.iter().position(|h| h.edge == e.edge) {
                Some(p) => p,
                None => {
                    edges.push(GammaHistory {
                        edge: e.edge.clone(),
                        epochs: Vec::new(),
                    });
                    edges.len() - 1
                }
            };
            if let Some((_, first)) = edges[slot].epochs.first()
                && first.len() != e.gamma.len()
            {
                return Err(at(
                    i + 1,
                    format!(
                        "edge `{}` has {} γ values, earlier lines {}",
                        e.edge,
                        e.gamma.len(),
                        first.len()
                    ),
                ));
            }
            edges[slot].epochs.push((line.epoch, e.gamma));
        }
    }
    if edges.is_empty() {
        return Err(TrainError::Config(format!(
            "{}: no line has searched edges (`structure`); was the run's family searched?",
            path.display()
        )));
    }
    Ok(edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(f.path(), text).expect("write");
        f
    }

    #[test]
    fn edges_in_first_seen_order_with_their_epochs() {
        let f = file(concat!(
            "{\"epoch\":1,\"structure\":[{\"edge\":\"x -> a\",\"gamma\":[0.5,0.5]}]}\n",
            "\n",
            "{\"epoch\":2,\"structure\":[{\"edge\":\"a -> b\",\"gamma\":[1.0]},",
            "{\"edge\":\"x -> a\",\"gamma\":[0.9,0.1]}]}\n",
        ));
        let h = gamma_history(f.path()).expect("reads");
        assert_eq!(
            h,
            vec![
                GammaHistory {
                    edge: "x -> a".into(),
                    epochs: vec![(1.0, vec![0.5, 0.5]), (2.0, vec![0.9, 0.1])],
                },
                GammaHistory {
                    edge: "a -> b".into(),
                    epochs: vec![(2.0, vec![1.0])],
                },
            ]
        );
    }

    #[test]
    fn bad_lines_are_named() {
        let f = file(concat!(
            "{\"epoch\":1,\"structure\":[{\"edge\":\"x -> a\",\"gamma\":[0.5,0.5]}]}\n",
            "{\"epoch\":2,\"structure\":[{\"edge\":\"x -> a\",\"gamma\":[1.0]}]}\n",
        ));
        let e = gamma_history(f.path())
            .expect_err("length changes")
            .to_string();
        assert!(
            e.contains(":2: edge `x -> a` has 1 γ values, earlier lines 2"),
            "{e}"
        );
        let f = file("{\"epoch\":1}\nnot json\n");
        let e = gamma_history(f.path()).expect_err("not JSON").to_string();
        assert!(e.contains(":2: not a metrics line"), "{e}");
        let f = file("{\"epoch\":1}\n");
        let e = gamma_history(f.path()).expect_err("no edges").to_string();
        assert!(e.contains("no line has searched edges"), "{e}");
    }
}
