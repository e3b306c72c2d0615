//! What `train`, `finetune`, random search, AdaNet growth, `pipeline` and `demo` print while
//! they train: one aligned line per epoch under a header (as Keras or Lightning print), or the
//! full metrics as JSON lines with `--json`. The progress bar within an epoch is the trainer's, on stderr.

use ardent_trainer::adanet::Round;
use ardent_trainer::random::Trial;
use ardent_trainer::train::EpochMetrics;

/// Writes per-epoch metrics and trial results to stdout, in the form the user chose.
#[derive(Debug)]
pub struct EpochLog {
    json: bool,
    epochs: usize,
    columns: Option<Columns>,
}

/// The columns a run's table has, fixed by its first epoch so every row lines up.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Columns {
    quality: Quality,
    train_accuracy: bool,
    member: bool,
    /// A VAE's code: the dimensions its gate keeps.
    code: bool,
}

/// What the validation column shows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Quality {
    Accuracy,
    Rmse,
    /// A VAE's negative ELBO per sample.
    Elbo,
}

impl EpochLog {
    /// `epochs`: the run's last epoch, shown as the denominator of the epoch column.
    pub fn new(json: bool, epochs: usize) -> Self {
        EpochLog {
            json,
            epochs,
            columns: None,
        }
    }

    pub fn epoch(&mut self, m: &EpochMetrics) {
        if self.json {
            println!("{}", json_line(m));
            return;
        }
        let columns = Columns {
            quality: match (&m.code, m.valid_rmse) {
                (Some(_), _) => Quality::Elbo,
                (None, Some(_)) => Quality::Rmse,
                (None, None) => Quality::Accuracy,
            },
            train_accuracy: m.train_accuracy.is_some(),
            member: m.member_params.is_some(),
            code: m.code.is_some(),
        };
        if self.columns != Some(columns) {
            println!("{}", header(columns));
            self.columns = Some(columns);
        }
        println!("{}", row(columns, m, self.epochs));
    }

    /// One finished random-search trial; the next trial's epochs start a new table.
    pub fn trial(&mut self, t: &Trial, trials: usize) {
        if self.json {
            println!("{}", json_line(t));
            return;
        }
        let quality = match (t.valid_accuracy, t.valid_rmse) {
            (Some(a), _) => format!("valid {}", percent(a)),
            (_, Some(r)) => format!("valid RMSE {r:.4}"),
            _ => format!("valid NLL {:.4}", t.valid_nll),
        };
        let member: Vec<String> = t
            .member
            .iter()
            .map(|(edge, ops)| format!("{edge}: {}", ops.join(" + ")))
            .collect();
        // A learned policy: its favourite per edge, and how sure it is.
        let favourites: Vec<String> = t
            .policy
            .iter()
            .filter_map(|p| {
                let (name, prob) = p.alternatives.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
                Some(format!("{} {name} {:.2}", p.edge, prob))
            })
            .collect();
        println!(
            "trial {}/{trials}: {quality}, {} parameters{}; {}{}",
            t.trial + 1,
            count(t.member_params as f64),
            if t.best { ", best so far" } else { "" },
            member.join("; "),
            if favourites.is_empty() {
                String::new()
            } else {
                format!(" | policy: {}", favourites.join("; "))
            }
        );
        self.columns = None;
    }

    /// One finished growth round: each candidate, and what joined the ensemble; the next
    /// round's epochs start a new table.
    pub fn round(&mut self, r: &Round, rounds: usize) {
        if self.json {
            println!("{}", json_line(r));
            return;
        }
        for (i, c) in r.candidates.iter().enumerate() {
            let quality = c
                .valid_accuracy
                .map(|a| format!("valid {}, ", percent(a)))
                .unwrap_or_default();
            println!(
                "round {}/{rounds}: depth {}: w {:.3}, objective {:.4}, {quality}{} of {} weights kept{}",
                r.round + 1,
                c.depth,
                c.mixture_weight,
                c.objective,
                count(c.weights_kept as f64),
                count(c.weights as f64),
                if r.chosen == Some(i) { ", added" } else { "" }
            );
        }
        if r.chosen.is_none() {
            println!(
                "round {}/{rounds}: no candidate lowers the objective {:.4}; growth stops",
                r.round + 1,
                r.objective
            );
        }
        self.columns = None;
    }
}

fn json_line<T: serde::Serialize>(v: &T) -> String {
    // Plain structs of numbers, strings and lists: encoding cannot fail.
    serde_json::to_string(v).expect("metrics encode as JSON")
}

/// The columns present, with their widths: epoch, loss, nll, kl, [train], valid, kept,
/// [member], samples/s, time.
fn names(c: Columns) -> Vec<(&'static str, usize)> {
    let mut n = vec![("epoch", 9), ("loss", 8), ("nll", 8), ("kl", 7)];
    if c.train_accuracy {
        n.push(("train", 7));
    }
    n.push(match c.quality {
        Quality::Accuracy => ("valid", 7),
        Quality::Rmse => ("valid RMSE", 10),
        Quality::Elbo => ("valid −ELBO", 11),
    });
    n.push(("kept", 13));
    if c.code {
        n.push(("code", 5));
    }
    if c.member {
        n.push(("member", 7));
    }
    n.extend([("samples/s", 9), ("time", 7)]);
    n
}

fn header(c: Columns) -> String {
    let cells: Vec<&str> = names(c).iter().map(|(name, _)| *name).collect();
    line(c, &cells)
}

fn row(c: Columns, m: &EpochMetrics, epochs: usize) -> String {
    let mut cells = vec![
        format!("{}/{epochs}", m.epoch),
        format!("{:.4}", m.loss),
        format!("{:.4}", m.nll),
        count(m.kl),
    ];
    if c.train_accuracy {
        cells.push(m.train_accuracy.map_or_else(|| "–".into(), percent));
    }
    cells.push(match c.quality {
        Quality::Accuracy => m.valid_accuracy.map_or_else(|| "–".into(), percent),
        Quality::Rmse => m
            .valid_rmse
            .map_or_else(|| "–".into(), |r| format!("{r:.4}")),
        Quality::Elbo => format!("{:.2}", m.valid_nll),
    });
    cells.push(format!(
        "{}/{}",
        count(m.weights_kept as f64),
        count(m.weights_total as f64)
    ));
    if c.code {
        cells.push(
            m.code
                .as_ref()
                .map_or_else(|| "–".into(), |k| format!("{}/{}", k.kept, k.dims)),
        );
    }
    if c.member {
        cells.push(
            m.member_params
                .map_or_else(|| "–".into(), |p| count(p as f64)),
        );
    }
    cells.push(count(m.samples_per_second));
    cells.push(if m.seconds < 10.0 {
        format!("{:.2}s", m.seconds)
    } else {
        format!("{:.0}s", m.seconds)
    });
    line(c, &cells)
}

/// Right-aligns each cell in its column's width (the first, the epoch, to the left).
fn line<S: AsRef<str>>(c: Columns, cells: &[S]) -> String {
    let mut out = String::new();
    for (i, (cell, (_, w))) in cells.iter().zip(names(c)).enumerate() {
        let cell = cell.as_ref();
        if i == 0 {
            out.push_str(&format!("{cell:<w$}"));
        } else {
            out.push_str(&format!(" {cell:>w$}"));
        }
    }
    out.trim_end().to_string()
}

fn percent(p: f64) -> String {
    format!("{:.2}%", 100.0 * p)
}

/// A count in at most five characters: 812, 9,512, 12.3K, 4.56M.
fn count(v: f64) -> String {
    let a = v.abs();
    if a < 10_000.0 {
        let whole = v.round() as i64;
        if whole.abs() >= 1000 {
            format!("{},{:03}", whole / 1000, (whole % 1000).abs())
        } else {
            format!("{whole}")
        }
    } else if a < 999_950.0 {
        format!("{:.1}K", v / 1e3)
    } else if a < 999_950_000.0 {
        format!("{:.2}M", v / 1e6)
    } else {
        format!("{:.2}G", v / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_short() {
        assert_eq!(count(812.4), "812");
        assert_eq!(count(9512.0), "9,512");
        assert_eq!(count(12_345.0), "12.3K");
        assert_eq!(count(266_200.0), "266.2K");
        assert_eq!(count(999_960.0), "1.00M");
        assert_eq!(count(4_560_000.0), "4.56M");
    }
}
