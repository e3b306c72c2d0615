//! The VAE's code and its ELBO: the code's KL against its closed form and Monte Carlo, and
//! the whole negative ELBO against a plain VAE written out in f64 from the same weights (with
//! the gate fixed at 1, open, or shut for one dimension).

use burn::tensor::{Distribution, Tensor, TensorData};

use ardent_data::{Normalizer, SplitMix64};
use ardent_models::Family;
use ardent_models::ops::Code;
use ardent_trainer::data::BatchTargets;
use ardent_trainer::objective::pass_nll;
use ardent_trainer::ops::code::{CodeGate, sample};
use ardent_trainer::{Mode, OpParams, Supernet, Value, to_tensors};

use crate::{device, serial};

fn vec1(t: Tensor<1>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32")
        .into_iter()
        .map(f64::from)
        .collect()
}

/// A standard normal draw by Box–Muller.
fn normal(rng: &mut SplitMix64) -> f64 {
    let u = rng.uniform().max(1e-300);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.uniform()).cos()
}

#[test]
fn the_code_kl_is_its_closed_form_and_the_monte_carlo_mean_of_log_q_over_p() {
    let _g = serial();
    let d = device();
    let (mu, log_var) = ([0.7, -1.2, 0.0], [-0.5, 0.8, 0.0]);
    let stats: Vec<f32> = mu.iter().chain(&log_var).map(|&v| v as f32).collect();
    let stats = Tensor::from_data(TensorData::new(stats, [1, 6]), &d);
    let op = Code {
        dims: 3,
        gate: None,
        open: 0.5,
    };
    let kl = vec1(sample(&op, &CodeGate { q: None }, stats, Mode::Sample, 0.0, false).kl)[0];
    // ½ Σ (μ² + σ² − 1 − ln σ²), by hand.
    let closed: f64 = (0..3)
        .map(|j| 0.5 * (mu[j] * mu[j] + f64::exp(log_var[j]) - 1.0 - log_var[j]))
        .sum();
    assert!((kl - closed).abs() < 1e-5, "{kl} against {closed}");
    // E_q[ln q(z) − ln p(z)] over 200,000 draws of z ~ q, within 4 standard errors.
    let mut rng = SplitMix64(11);
    let n = 200_000;
    let (mut sum, mut sq) = (0.0, 0.0);
    for _ in 0..n {
        let mut v = 0.0;
        for j in 0..3 {
            let e = normal(&mut rng);
            let z = mu[j] + (0.5 * log_var[j]).exp() * e;
            // ln N(z; μ, σ²) − ln N(z; 0, 1)
            v += -0.5 * log_var[j] - 0.5 * e * e + 0.5 * z * z;
        }
        sum += v;
        sq += v * v;
    }
    let mean = sum / n as f64;
    let se = ((sq / n as f64 - mean * mean) / n as f64).sqrt();
    assert!(
        (mean - closed).abs() < 4.0 * se,
        "{mean} ± {se} against {closed}"
    );
}

/// x[3] → h[4] → stats[4] → z[2] → g[3] → recon[3], with the code's settings `code`.
fn family(code: &str, likelihood: &str) -> Family {
    Family::parse(&format!(
        r#"
name = "tiny-vae"
task = "vae"
likelihood = "{likelihood}"
input = [3]
[[vertex]]
name = "x"
[[vertex]]
name = "h"
[[vertex]]
name = "stats"
[[vertex]]
name = "z"
[[vertex]]
name = "g"
[[vertex]]
name = "recon"
[[edge]]
from = "x"
to = "h"
ops = [{{ op = "dense", units = 4, activation = "relu" }}]
[[edge]]
from = "h"
to = "stats"
ops = [{{ op = "dense", units = 4 }}]
[[edge]]
from = "stats"
to = "z"
ops = [{code}]
[[edge]]
from = "z"
to = "g"
ops = [{{ op = "dense", units = 3, activation = "tanh" }}]
[[edge]]
from = "g"
to = "recon"
ops = [{{ op = "dense", units = 3 }}]
"#
    ))
    .expect("valid")
}

const X: [f32; 12] = [
    0.3, -1.0, 0.5, 1.2, 0.1, -0.4, -0.7, 0.9, 0.0, 0.2, 0.2, -1.5,
];
const T: [f32; 12] = [0.1, 0.9, 0.5, 1.0, 0.0, 0.3, 0.6, 0.2, 0.8, 0.4, 0.4, 0.0];

/// The negative ELBO of the batch by the supernet, at posterior-mean weights, the code's
/// noise drawn after seeding the device with `seed`.
fn supernet_nll(net: &Supernet, seed: u64) -> f64 {
    let d = device();
    let x = Value::Vector(Tensor::from_data(TensorData::new(X.to_vec(), [4, 3]), &d));
    let t = Tensor::from_data(TensorData::new(T.to_vec(), [4, 3]), &d);
    d.seed(seed);
    let pass = net.forward_with_kl(x, Mode::Mean { prune: None }, false);
    vec1(pass_nll(net, &pass, &BatchTargets::Real(t, T.to_vec())))[0]
}

/// The same negative ELBO written out in f64: a plain VAE with the gate `gamma` multiplying
/// z, from the net's checkpoint tensors, the noise drawn as the code draws it.
fn plain_nll(net: &Supernet, seed: u64, gamma: [f64; 2], gaussian: bool) -> f64 {
    let norm = Normalizer {
        mean: vec![0.0; 3],
        std: vec![1.0; 3],
    };
    // The data's range only matters to a Bernoulli checkpoint's readers.
    let mut net = net.clone();
    net.output_range = Some([0.0, 1.0]);
    let t = to_tensors(&net, &norm).expect("tensors");
    let w = |e: &str| t[&format!("edge.{e}.op.0.weight.mu")].data.clone();
    let b = |e: &str| t[&format!("edge.{e}.op.0.bias")].data.clone();
    let dense = |e: &str, x: &[f64], act: fn(f64) -> f64| -> Vec<f64> {
        let (w, b) = (w(e), b(e));
        let n = b.len();
        (0..n)
            .map(|o| {
                let s: f64 = (0..x.len())
                    .map(|i| f64::from(w[o * x.len() + i]) * x[i])
                    .sum();
                act(s + f64::from(b[o]))
            })
            .collect()
    };
    let d = device();
    d.seed(seed);
    let eps = vec1(Tensor::<2>::random([4, 2], Distribution::Normal(0.0, 1.0), &d).reshape([8]));
    let lv = t
        .get("output.log_noise_var")
        .map(|l| l.data.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
    let mut total = 0.0;
    for s in 0..4 {
        let x: Vec<f64> = X[s * 3..s * 3 + 3].iter().map(|&v| f64::from(v)).collect();
        let h = dense("0-1", &x, |v| v.max(0.0));
        let stats = dense("1-2", &h, |v| v);
        let mut kl = 0.0;
        let mut z = [0.0; 2];
        for j in 0..2 {
            let (m, l) = (stats[j], stats[2 + j]);
            kl += 0.5 * (m * m + l.exp() - 1.0 - l);
            z[j] = gamma[j] * (m + (0.5 * l).exp() * eps[s * 2 + j]);
        }
        let g = dense("3-4", &z, f64::tanh);
        let y = dense("4-5", &g, |v| v);
        let recon: f64 = (0..3)
            .map(|k| {
                let t = f64::from(T[s * 3 + k]);
                match &lv {
                    Some(lv) if gaussian => {
                        0.5 * ((y[k] - t).powi(2) * (-lv[k]).exp()
                            + lv[k]
                            + (std::f64::consts::TAU).ln())
                    }
                    // −[t ln σ(y) + (1 − t) ln(1 − σ(y))]
                    _ => {
                        let p = 1.0 / (1.0 + (-y[k]).exp());
                        -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
                    }
                }
            })
            .sum();
        total += recon + kl;
    }
    total / 4.0
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-4 * b.abs().max(1.0), "{a} against {b}");
}

#[test]
fn with_the_gate_fixed_at_one_the_model_is_a_plain_vae() {
    let _g = serial();
    let d = device();
    for likelihood in ["bernoulli", "gaussian"] {
        let f = family(
            r#"{ op = "code", dims = 2, gate = { relaxation = "fixed" } }"#,
            likelihood,
        );
        let net = Supernet::new(&f, &d, 3).expect("supernet");
        close(
            supernet_nll(&net, 99),
            plain_nll(&net, 99, [1.0, 1.0], likelihood == "gaussian"),
        );
    }
}

#[test]
fn an_open_gate_is_the_plain_vae_and_a_shut_one_removes_its_dimension() {
    let _g = serial();
    let d = device();
    let fixed = Supernet::new(
        &family(
            r#"{ op = "code", dims = 2, gate = { relaxation = "fixed" } }"#,
            "bernoulli",
        ),
        &d,
        3,
    )
    .expect("supernet");
    let mut gated = Supernet::new(&family(r#"{ op = "code", dims = 2 }"#, "bernoulli"), &d, 3)
        .expect("supernet");
    // The same seed draws the same weights: the gate draws nothing when it is made.
    let set_gate = |net: &mut Supernet, theta: [f32; 2]| {
        let OpParams::Code(CodeGate { q: Some(q) }) = &mut net.ops[2][0] else {
            panic!("the code edge holds a searched gate");
        };
        q.theta = burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(theta.to_vec(), [2]),
            &d,
        ));
    };
    set_gate(&mut gated, [4.0, 4.0]);
    close(supernet_nll(&gated, 5), supernet_nll(&fixed, 5));
    close(
        supernet_nll(&gated, 5),
        plain_nll(&fixed, 5, [1.0, 1.0], false),
    );
    set_gate(&mut gated, [4.0, -4.0]);
    close(
        supernet_nll(&gated, 5),
        plain_nll(&fixed, 5, [1.0, 0.0], false),
    );
}

#[test]
fn a_sampled_gate_adds_its_kl_to_the_structure_s_and_the_code_its_own_per_sample() {
    let _g = serial();
    let d = device();
    let op = Code {
        dims: 2,
        gate: None,
        open: 0.9,
    };
    let f = family(r#"{ op = "code", dims = 2 }"#, "bernoulli");
    let net = Supernet::new(&f, &d, 3).expect("supernet");
    let OpParams::Code(gate) = &net.ops[2][0] else {
        panic!("the code edge holds its gate");
    };
    // Zero statistics are the prior: the code's own KL is 0, and the gate's is what
    // `gamma::sample` estimates (checked against the integrated binary concrete KL in
    // `relax.rs`).
    let zeros = Tensor::from_data(TensorData::new(vec![0.0f32; 8], [2, 4]), &d);
    let alone = sample(&op, gate, zeros, Mode::Sample, 0.0, true);
    assert_eq!(vec1(alone.kl), vec![0.0; 2]);
    assert!(vec1(alone.gate_kl.expect("a sampled gate's KL"))[0].is_finite());
    // One pass with the KL terms and one without, drawing the same noise: the code's KL per
    // sample is the same, and the gate's is the structure's, one value for the batch.
    let x = || Value::Vector(Tensor::from_data(TensorData::new(X.to_vec(), [4, 3]), &d));
    d.seed(21);
    let with = net.forward_with_kl(x(), Mode::Sample, true);
    d.seed(21);
    let without = net.forward_with_kl(x(), Mode::Sample, false);
    let (a, b) = (
        vec1(with.code_kl.expect("the code's KL")),
        vec1(without.code_kl.expect("the code's KL")),
    );
    assert_eq!(a, b);
    assert_eq!(a.len(), 4);
    assert!(a.iter().all(|&k| k >= 0.0), "a Gaussian KL is ≥ 0: {a:?}");
    let structure = vec1(with.structure_kl.expect("the gate's KL"));
    assert_eq!(structure.len(), 1);
    assert!(structure[0].is_finite() && structure[0] != 0.0);
    assert!(without.structure_kl.is_none());
}
