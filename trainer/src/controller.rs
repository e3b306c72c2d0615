//! A learned controller (the seed's structure search by reinforcement learning, at this
//! project's scale): a categorical policy per searched edge over the edge's alternatives
//! (one op of a simplex edge, a subset of a cube edge's ops), trained with REINFORCE
//! (Williams 1992). Each trial draws a member from the policy, trains it briefly as a fixed
//! family, and its validation score R moves the logits θ by
//!
//!   θ ← θ + lr · A · ∇_θ log π_θ(member),   A = clamp((R − b) / s, −3, 3),
//!
//! where b, the baseline, is the moving average of earlier scores: it leaves the estimate
//! unbiased (E[∇ log π] = 0) and lowers its variance. s, the moving root-mean-square of
//! earlier deviations R − b, makes the step free of the scores' scale: members of a
//! Fashion-MNIST family differ by tenths of a point, those of a toy problem by tens, and a
//! rate that learns from the one locks onto the first fair member of the other. Both b and s
//! come from earlier trials only, so each step stays an unbiased direction; the clamp keeps
//! one member that cuts every path from deciding a whole edge. For a softmax per edge,
//! ∂ log π(a) / ∂θ_{e,j} = [a_e = j] − π_e(j).

use ardent_data::SplitMix64;
use ardent_models::Family;

use crate::random::{EdgePolicy, Strategy, kept_ops};

/// The controller's policy: independent softmax distributions, one per searched edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The searched edges, by index in the family.
    pub edges: Vec<usize>,
    /// Per searched edge, its alternatives as op bit masks (`Family::edge_alternatives`).
    pub alternatives: Vec<Vec<u64>>,
    /// Per searched edge, a logit per alternative.
    pub logits: Vec<Vec<f64>>,
}

impl Policy {
    /// The uniform policy over `family`'s members (every logit 0).
    pub fn uniform(family: &Family) -> Policy {
        let edges: Vec<usize> = (0..family.edges.len())
            .filter(|&e| family.edges[e].structure.is_searched())
            .collect();
        let alternatives: Vec<Vec<u64>> =
            edges.iter().map(|&e| family.edge_alternatives(e)).collect();
        let logits = alternatives.iter().map(|a| vec![0.0; a.len()]).collect();
        Policy {
            edges,
            alternatives,
            logits,
        }
    }

    /// Per searched edge, the probability of each alternative.
    pub fn probabilities(&self) -> Vec<Vec<f64>> {
        self.logits.iter().map(|l| softmax(l)).collect()
    }

    /// The probability of `picks` (an alternative's index per searched edge).
    pub fn probability(&self, picks: &[usize]) -> f64 {
        self.probabilities()
            .iter()
            .zip(picks)
            .map(|(p, &j)| p[j])
            .product()
    }

    /// Draws an alternative per searched edge.
    pub fn sample(&self, rng: &mut SplitMix64) -> Vec<usize> {
        self.probabilities()
            .iter()
            .map(|p| {
                let u = rng.uniform();
                let mut acc = 0.0;
                for (j, &pj) in p.iter().enumerate() {
                    acc += pj;
                    if u < acc {
                        return j;
                    }
                }
                // Rounding left the sum just under 1: the last alternative.
                p.len() - 1
            })
            .collect()
    }

    /// The member `picks` names: per edge of `family` its op mask, fixed edges as they are.
    pub fn member(&self, family: &Family, picks: &[usize]) -> Vec<u64> {
        let mut choice: Vec<u64> = (0..family.edges.len())
            .map(|e| family.edge_alternatives(e)[0])
            .collect();
        for (i, &e) in self.edges.iter().enumerate() {
            choice[e] = self.alternatives[i][picks[i]];
        }
        choice
    }

    /// ∇_θ log π(picks), shaped as the logits.
    pub fn grad_log_prob(&self, picks: &[usize]) -> Vec<Vec<f64>> {
        self.probabilities()
            .iter()
            .zip(picks)
            .map(|(p, &j)| {
                p.iter()
                    .enumerate()
                    .map(|(k, &pk)| f64::from(u8::from(k == j)) - pk)
                    .collect()
            })
            .collect()
    }

    /// One REINFORCE step: θ += lr · advantage · ∇ log π(picks).
    pub fn step(&mut self, picks: &[usize], advantage: f64, lr: f64) {
        let g = self.grad_log_prob(picks);
        for (l, g) in self.logits.iter_mut().zip(g) {
            for (l, g) in l.iter_mut().zip(g) {
                *l += lr * advantage * g;
            }
        }
    }
}

fn softmax(l: &[f64]) -> Vec<f64> {
    let m = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = l.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// The controller as a search strategy: draws from the policy, and after each trial steps it
/// by the trial's score against a moving-average baseline.
#[derive(Debug, Clone)]
pub struct Controller {
    pub policy: Policy,
    /// The baseline b: the moving average of the scores so far (`None` before the first).
    pub baseline: Option<f64>,
    /// s², the moving mean square of the deviations from the baseline (`None` before the
    /// second score).
    pub spread: Option<f64>,
    /// The weight of the past in both: b ← decay·b + (1 − decay)·R.
    pub decay: f64,
    /// The policy's learning rate.
    pub lr: f64,
    rng: SplitMix64,
    last: Vec<usize>,
}

/// The baseline's weight of the past: about the last five trials count.
pub const BASELINE_DECAY: f64 = 0.8;

/// The largest advantage, in spreads, one trial steps by.
pub const MAX_ADVANTAGE: f64 = 3.0;

impl Controller {
    /// A uniform policy over `family`'s members, its draws seeded from the run's `seed`.
    pub fn new(family: &Family, lr: f64, seed: u64) -> Controller {
        Controller {
            policy: Policy::uniform(family),
            baseline: None,
            spread: None,
            decay: BASELINE_DECAY,
            lr,
            rng: SplitMix64(seed ^ 0x0043_4F4E_5452_4F4C),
            last: Vec::new(),
        }
    }
}

impl Strategy for Controller {
    fn draw(&mut self, family: &Family) -> Vec<u64> {
        self.last = self.policy.sample(&mut self.rng);
        self.policy.member(family, &self.last)
    }

    /// The first score sets the baseline (no step: its advantage would be 0) and the second
    /// the spread (a step of advantage ±1); each later one steps the policy by its advantage,
    /// then joins both.
    fn learn(&mut self, score: f64) {
        let Some(b) = self.baseline else {
            self.baseline = Some(score);
            return;
        };
        let d = score - b;
        let spread = self.spread.unwrap_or(d * d);
        if spread > 0.0 {
            let advantage = (d / spread.sqrt()).clamp(-MAX_ADVANTAGE, MAX_ADVANTAGE);
            self.policy.step(&self.last, advantage, self.lr);
        }
        self.baseline = Some(self.decay * b + (1.0 - self.decay) * score);
        self.spread = Some(self.decay * spread + (1.0 - self.decay) * d * d);
    }

    fn policy(&self, family: &Family) -> Vec<EdgePolicy> {
        let p = &self.policy;
        p.edges
            .iter()
            .zip(&p.alternatives)
            .zip(p.probabilities())
            .map(|((&e, alternatives), probs)| {
                let name = |mask: u64| {
                    let kept = kept_ops(family, e, mask);
                    if kept.is_empty() {
                        "none".to_string()
                    } else {
                        kept.join("+")
                    }
                };
                EdgePolicy {
                    edge: family.edge_name(e),
                    alternatives: alternatives.iter().map(|&m| name(m)).zip(probs).collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy over two edges of 2 and 3 alternatives, with given logits.
    fn small() -> Policy {
        Policy {
            edges: vec![0, 1],
            alternatives: vec![vec![1, 2], vec![1, 2, 4]],
            logits: vec![vec![0.3, -0.2], vec![0.1, 0.5, -0.4]],
        }
    }

    /// Every member of `p` (an index per edge).
    fn members(p: &Policy) -> Vec<Vec<usize>> {
        let mut all = vec![vec![]];
        for a in &p.alternatives {
            all = all
                .into_iter()
                .flat_map(|m: Vec<usize>| {
                    (0..a.len()).map(move |j| {
                        let mut m = m.clone();
                        m.push(j);
                        m
                    })
                })
                .collect();
        }
        all
    }

    /// A reward of every member that no edge alone explains.
    fn reward(m: &[usize]) -> f64 {
        [[0.2, 0.9, 0.4], [0.7, 0.1, 0.3]][m[0]][m[1]]
    }

    fn expected_reward(p: &Policy) -> f64 {
        members(p)
            .iter()
            .map(|m| p.probability(m) * reward(m))
            .sum()
    }

    #[test]
    fn probabilities_sum_to_one_over_members() {
        let p = small();
        let total: f64 = members(&p).iter().map(|m| p.probability(m)).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    /// The REINFORCE estimate, averaged over many draws with a constant baseline, against the
    /// exact gradient of the expected reward by central differences over the enumerated
    /// members.
    #[test]
    fn the_estimator_is_the_gradient_of_the_expected_reward() {
        let p = small();
        let h = 1e-6;
        let mut exact = p.logits.clone();
        for (e, row) in exact.iter_mut().enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                let (mut up, mut down) = (p.clone(), p.clone());
                up.logits[e][j] += h;
                down.logits[e][j] -= h;
                *x = (expected_reward(&up) - expected_reward(&down)) / (2.0 * h);
            }
        }
        let mut rng = SplitMix64(7);
        let n = 200_000;
        let baseline = 0.5;
        let mut estimate: Vec<Vec<f64>> = p.logits.iter().map(|l| vec![0.0; l.len()]).collect();
        for _ in 0..n {
            let m = p.sample(&mut rng);
            let g = p.grad_log_prob(&m);
            for (acc, g) in estimate.iter_mut().zip(g) {
                for (a, g) in acc.iter_mut().zip(g) {
                    *a += (reward(&m) - baseline) * g / n as f64;
                }
            }
        }
        for (e, (est, ex)) in estimate.iter().zip(&exact).enumerate() {
            for (j, (a, b)) in est.iter().zip(ex).enumerate() {
                // The estimate's standard error is under 0.35/√n ≈ 8e-4 here.
                assert!(
                    (a - b).abs() < 4e-3,
                    "edge {e}, alternative {j}: {a} vs {b}"
                );
            }
        }
    }

    /// Draws follow the probabilities: each member's frequency against π.
    #[test]
    fn draws_follow_the_policy() {
        let p = small();
        let mut rng = SplitMix64(3);
        let n = 100_000;
        let all = members(&p);
        let mut counts = vec![0usize; all.len()];
        for _ in 0..n {
            let m = p.sample(&mut rng);
            counts[all.iter().position(|a| *a == m).expect("a member")] += 1;
        }
        for (m, c) in all.iter().zip(counts) {
            let f = c as f64 / n as f64;
            assert!((f - p.probability(m)).abs() < 0.01, "{m:?}: {f}");
        }
    }

    /// Stepping with the exact expected advantage climbs: the expected reward rises and the
    /// best member's probability grows.
    #[test]
    fn steps_with_positive_advantage_raise_the_drawn_member() {
        let mut p = small();
        let before = p.probability(&[0, 1]);
        p.step(&[0, 1], 0.5, 1.0);
        assert!(p.probability(&[0, 1]) > before);
        p.step(&[1, 2], -0.5, 1.0);
        assert!(p.probability(&[1, 2]) < small().probability(&[1, 2]));
    }
}
