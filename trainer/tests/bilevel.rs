//! The outer problem: the second-order hypergradient against a numeric derivative of the
//! one-step unrolled objective on a quadratic problem, and the single-level preset's outer
//! gradient against the one-level objective's on a searched supernet.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};

use ardent_trainer::bilevel::{Bilevel, NetProblem, Order, OuterConfig, Reference, hypergradient};
use ardent_trainer::data::BatchTargets;
use ardent_trainer::dirichlet::kl_dirichlet;
use ardent_trainer::objective::{Objective, Preset, batch_loss};
use ardent_trainer::{Mode, Supernet, Value};

use crate::device;

/// ℒ(w, h) = ½ wᵀAw − wᵀBh + ½ hᵀCh and 𝒬(w, h) = ½‖w − c‖² + ½ hᵀEh + fᵀh, w ∈ ℝ³, h ∈ ℝ².
struct Quadratic {
    w: Vec<f64>,
    h: Vec<f64>,
}

const A: [[f64; 3]; 3] = [[2.0, 0.3, 0.0], [0.3, 1.5, -0.2], [0.0, -0.2, 1.0]];
const B: [[f64; 2]; 3] = [[1.0, -0.5], [0.2, 0.8], [-0.7, 0.4]];
const C: [[f64; 2]; 2] = [[0.5, 0.1], [0.1, 0.3]];
const E: [[f64; 2]; 2] = [[0.2, 0.0], [0.0, 0.6]];
const TARGET: [f64; 3] = [0.5, -1.0, 2.0];
const F: [f64; 2] = [0.3, -0.2];

fn matvec<const R: usize, const K: usize>(m: &[[f64; K]; R], v: &[f64]) -> Vec<f64> {
    m.iter()
        .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
        .collect()
}

fn tmatvec<const R: usize, const K: usize>(m: &[[f64; K]; R], v: &[f64]) -> Vec<f64> {
    (0..K)
        .map(|j| (0..R).map(|i| m[i][j] * v[i]).sum())
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Quadratic {
    fn outer_value(w: &[f64], h: &[f64]) -> f64 {
        let d: Vec<f64> = w.iter().zip(TARGET).map(|(a, b)| a - b).collect();
        0.5 * dot(&d, &d) + 0.5 * dot(h, &matvec(&E, h)) + dot(&F, h)
    }

    fn inner_grad_w(w: &[f64], h: &[f64]) -> Vec<f64> {
        matvec(&A, w)
            .iter()
            .zip(matvec(&B, h))
            .map(|(a, b)| a - b)
            .collect()
    }
}

impl Bilevel for Quadratic {
    type Grad = Vec<f64>;
    type HGrad = Vec<f64>;
    type State = Vec<f64>;

    fn inner_grads(&mut self) -> (Vec<f64>, Vec<f64>) {
        let gh = tmatvec(&B, &self.w)
            .iter()
            .zip(matvec(&C, &self.h))
            .map(|(b, c)| c - b)
            .collect();
        (Quadratic::inner_grad_w(&self.w, &self.h), gh)
    }

    fn outer_grads(&mut self) -> (Vec<f64>, Vec<f64>) {
        let gw = self.w.iter().zip(TARGET).map(|(a, b)| a - b).collect();
        let gh = matvec(&E, &self.h)
            .iter()
            .zip(F)
            .map(|(a, b)| a + b)
            .collect();
        (gw, gh)
    }

    fn shift(&mut self, g: &Vec<f64>, c: f64) {
        for (w, g) in self.w.iter_mut().zip(g) {
            *w += c * g;
        }
    }

    fn norm(&self, g: &Vec<f64>) -> f64 {
        dot(g, g).sqrt()
    }

    fn axpy(&self, a: Vec<f64>, b: &Vec<f64>, c: f64) -> Vec<f64> {
        a.iter().zip(b).map(|(x, y)| x + c * y).collect()
    }

    fn save(&self) -> Vec<f64> {
        self.w.clone()
    }

    fn restore(&mut self, state: Vec<f64>) {
        self.w = state;
    }
}

#[test]
fn second_order_hypergradient_is_the_derivative_of_the_unrolled_objective() {
    let w = vec![0.4, -0.3, 1.2];
    let h = vec![0.7, -0.6];
    let xi = 0.15;
    // h ↦ 𝒬(w − ξ ∇_w ℒ(w, h), h), differentiated numerically.
    let unrolled = |h: &[f64]| {
        let g = Quadratic::inner_grad_w(&w, h);
        let moved: Vec<f64> = w.iter().zip(&g).map(|(a, b)| a - xi * b).collect();
        Quadratic::outer_value(&moved, h)
    };
    let numeric: Vec<f64> = (0..2)
        .map(|j| {
            let (mut up, mut down) = (h.clone(), h.clone());
            up[j] += 1e-6;
            down[j] -= 1e-6;
            (unrolled(&up) - unrolled(&down)) / 2e-6
        })
        .collect();
    let mut p = Quadratic {
        w: w.clone(),
        h: h.clone(),
    };
    let second = hypergradient(&mut p, Order::Second, xi);
    assert_eq!(p.w, w, "the hypergradient leaves w as it was");
    for j in 0..2 {
        assert!(
            (second[j] - numeric[j]).abs() < 1e-7 * numeric[j].abs().max(1.0),
            "h{j}: {} vs numeric {}",
            second[j],
            numeric[j]
        );
    }
    // First order ignores w's response to h: the direct gradient Eh + f, and here a
    // different vector.
    let first = hypergradient(&mut p, Order::First, xi);
    let direct: Vec<f64> = matvec(&E, &h).iter().zip(F).map(|(a, b)| a + b).collect();
    assert_eq!(first, direct);
    assert!((first[0] - numeric[0]).abs() > 1e-3);
}

fn searched_family() -> ardent_models::Family {
    ardent_models::Family::parse(
        r#"
name = "two-paths"
task = "classification"
classes = 3
input = [6]
[[vertex]]
name = "x"
[[vertex]]
name = "h"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "h"
ops = [{ op = "dense", units = 5, activation = "relu" }, { op = "dense", units = 3, activation = "tanh" }, { op = "zero" }]
structure = { relaxation = "dirichlet", form = "interior", concentration = [1.5, 0.7, 1.0] }
[[edge]]
from = "h"
to = "y"
ops = [{ op = "dense", units = 3 }]
[[edge]]
from = "x"
to = "y"
ops = [{ op = "dense", units = 3 }, { op = "zero" }]
structure = { relaxation = "gumbel-softmax", temperature = 0.7 }
"#,
    )
    .expect("valid spec")
}

fn grad_of(grads: &GradientsParams, p: &Param<Tensor<1>>) -> Vec<f32> {
    grads
        .get::<1>(p.id)
        .expect("a gradient")
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32")
}

#[test]
fn single_level_outer_gradients_are_the_one_level_objectives() {
    let _serial = crate::serial();
    let d = device();
    let ad = d.clone().autodiff();
    let mut net = Supernet::new(&searched_family(), &d, 5).expect("net");
    // Move q(γ) off its prior, where the KL's gradient in ln s vanishes.
    for (edge, theta) in net
        .gamma
        .iter_mut()
        .flatten()
        .zip([vec![0.9f32, -0.4, 0.2], vec![-0.5, 0.8]])
    {
        let k = theta.len();
        edge.theta = Param::from_tensor(Tensor::from_data(TensorData::new(theta, [k]), &d));
    }
    let net = net.fork(&ad).train();
    let batch = 8;
    let xs: Vec<f32> = (0..batch * 6)
        .map(|i| ((i * 5 % 13) as f32 - 6.0) / 4.0)
        .collect();
    let labels: Vec<i64> = (0..batch as i64).map(|i| i % 3).collect();
    let x = Value::Vector(Tensor::from_data(TensorData::new(xs, [batch, 6]), &ad));
    let y = BatchTargets::Classes(
        Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [batch]), &ad),
        labels.iter().map(|&l| l as u32).collect(),
    );
    let kl_weight = 0.6;
    let n_train = 50;
    let seed = 99;

    // The one-level objective's gradients in θ and ln s.
    ad.seed(seed);
    let (loss, ..) = batch_loss(&net, x.clone(), &y, Mode::Sample, kl_weight, n_train);
    let mut g = loss.backward();
    let one_level = GradientsParams::from_module(&mut g, &net.gamma);

    // λ_prior^Q / λ_lik^Q = λ_prior^L, with the outer batch the inner one: 𝒬 = λ_lik^Q · ℒ.
    for lik in [1.0, 2.5] {
        let outer = OuterConfig {
            lik,
            prior: lik * kl_weight,
            order: Order::First,
            xi: 0.0,
            structure_outer: true,
            references: Vec::new(),
        };
        let mut p = NetProblem::new(
            net.clone(),
            (x.clone(), y.clone()),
            (x.clone(), y.clone()),
            kl_weight,
            n_train,
            outer,
            seed,
        );
        let h = hypergradient(&mut p, Order::First, 0.0);
        assert_eq!(h.len(), 4, "θ and ln s of both edges");
        for edge in net.gamma.iter().flatten() {
            for param in [&edge.theta, &edge.log_prior] {
                let ours = grad_of(&h, param);
                let want: Vec<f32> = grad_of(&one_level, param)
                    .iter()
                    .map(|v| v * lik as f32)
                    .collect();
                for (a, b) in ours.iter().zip(&want) {
                    assert!(
                        (a - b).abs() < 1e-5 * b.abs().max(1e-2),
                        "λ_lik^Q {lik}: {ours:?} vs {want:?}"
                    );
                }
                assert!(ours.iter().any(|v| v.abs() > 1e-6), "a live gradient");
            }
        }
    }
    // The preset that names this limit is one level.
    assert_eq!(Objective::outer(Preset::SingleLevel, 1e-3), None);
}

#[test]
fn a_reference_structure_enters_the_outer_gradient_by_its_kl() {
    let _serial = crate::serial();
    let d = device();
    let ad = d.clone().autodiff();
    let theta0 = [0.9f32, -0.4, 0.2];
    let mut net = Supernet::new(&searched_family(), &d, 5).expect("net");
    if let Some(edge) = net.gamma[0].as_mut() {
        edge.theta =
            Param::from_tensor(Tensor::from_data(TensorData::new(theta0.to_vec(), [3]), &d));
    }
    let net = net.fork(&ad).train();
    let x = Value::Vector(Tensor::zeros([2, 6], &ad));
    let y = BatchTargets::Classes(
        Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1], [2]), &ad),
        vec![0, 1],
    );
    let s_ref = [5.0f64, 0.2, 0.2];
    let (weight, n_train) = (0.7, 40);
    let mut log_concentration = vec![None; 3];
    log_concentration[0] = Some(s_ref.iter().map(|v| v.ln()).collect());
    // Only the reference term: no likelihood, no prior.
    let outer = OuterConfig {
        lik: 0.0,
        prior: 0.0,
        order: Order::First,
        xi: 0.0,
        structure_outer: true,
        references: vec![Reference {
            weight,
            log_concentration,
        }],
    };
    let mut p = NetProblem::new(
        net.clone(),
        (x.clone(), y.clone()),
        (x, y),
        0.0,
        n_train,
        outer,
        3,
    );
    let h = hypergradient(&mut p, Order::First, 0.0);
    let theta = &net.gamma[0].as_ref().expect("searched").theta;
    // The edge's temperature is 1: q = Dir(e^θ), p′ = Dir(s′), and ∂/∂θ = α ∂/∂α.
    let alpha: Vec<f64> = theta0.iter().map(|&t| f64::from(t).exp()).collect();
    let (_, grad_alpha, _) = kl_dirichlet(&alpha, &s_ref);
    let want: Vec<f64> = (0..3)
        .map(|j| weight * alpha[j] * grad_alpha[j] / n_train as f64)
        .collect();
    let got = grad_of(&h, theta);
    for j in 0..3 {
        assert!(
            (f64::from(got[j]) - want[j]).abs() < 1e-5 * want[j].abs().max(1e-3),
            "{got:?} vs {want:?}"
        );
    }
    // Descending it moves q towards p′, whose first op dominates.
    assert!(got[0] < 0.0 && got[1] > 0.0, "{got:?}");
}
