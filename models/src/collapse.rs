//! Which ops of an edge its structure keeps: the one collapse rule (`docs/method.md` §6) that
//! the trainer's evaluation, its metrics and the exporter all call.

use crate::ops::Op;
use crate::structure::Structure;

impl Structure {
    /// The discrete member an edge collapses to (`docs/method.md` §6), as (op, factor) pairs: the
    /// ops kept and the γ their output is scaled by. A fixed edge keeps every op with γ > 0
    /// (its γ is part of the architecture). A searched simplex edge keeps the most probable op;
    /// a searched cube edge every op with probability > ½. The factor is 1 in vertex form and
    /// the probability in interior form. The zero op is never kept. `logits` are a searched
    /// edge's θ (ignored for a fixed edge).
    pub fn collapse(&self, ops: &[Op], logits: &[f64]) -> Vec<(usize, f64)> {
        self.collapse_where(ops.len(), |r| ops[r] != Op::Zero, logits)
    }

    /// The collapsed choice as a bit mask over the ops (for [`crate::Family::member`]).
    pub fn collapse_mask(&self, ops: &[Op], logits: &[f64]) -> u64 {
        self.collapse(ops, logits)
            .iter()
            .fold(0, |m, (r, _)| m | 1 << r)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::Op;
    use crate::structure::{Constraint, Form, Relaxation, Schedule, Structure};

    fn searched(constraint: Constraint, form: Form) -> Structure {
        Structure {
            constraint,
            form,
            relaxation: Relaxation::GumbelSoftmax,
            concentration: vec![1.0; 3],
            temperature: 1.0,
            temperature_final: 1.0,
            schedule: Schedule::Constant,
            gamma: Vec::new(),
        }
    }

    #[test]
    fn collapse_follows_the_constraint_and_the_form() {
        let ops = [Op::Identity, Op::Flatten, Op::Zero];
        let s = searched(Constraint::Simplex, Form::Vertices);
        assert_eq!(s.collapse(&ops, &[0.0, 1.0, 0.5]), vec![(1, 1.0)]);
        // The zero op as the argmax drops the edge.
        assert_eq!(s.collapse(&ops, &[0.0, 1.0, 2.0]), vec![]);
        let s = searched(Constraint::Simplex, Form::Interior);
        let p = s.probabilities(&[0.0, 1.0, 0.5]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(s.collapse(&ops, &[0.0, 1.0, 0.5]), vec![(1, p[1])]);
        // Cube: every op with sigmoid(θ) > ½, i.e. θ > 0; never the zero op.
        let s = searched(Constraint::Cube, Form::Vertices);
        assert_eq!(s.collapse(&ops, &[0.3, -0.1, 5.0]), vec![(0, 1.0)]);
        assert_eq!(s.collapse_mask(&ops, &[0.3, 0.2, 5.0]), 0b011);
        let s = searched(Constraint::Cube, Form::Interior);
        let c = s.collapse(&ops, &[0.3, -0.1, 5.0]);
        assert_eq!(c.len(), 1);
        assert!((c[0].1 - 1.0 / (1.0 + (-0.3f64).exp())).abs() < 1e-12);
        // A fixed edge keeps what has γ > 0.
        let fixed = Structure {
            relaxation: Relaxation::Fixed,
            gamma: vec![0.7, 0.0, 0.3],
            ..searched(Constraint::Simplex, Form::Vertices)
        };
        assert_eq!(fixed.collapse(&ops, &[]), vec![(0, 0.7)]);
    }
}
