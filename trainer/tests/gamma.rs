//! Relaxed γ samples: the seed's temperature exercise checked numerically, the Gumbel-max
//! and binary-concrete frequencies against their closed forms, and the straight-through
//! gradient against the soft sample's.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use ardent_trainer::gamma::{binary_concrete, gumbel_softmax};

use crate::device;

fn vec1(t: Tensor<1>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32")
}

fn logits(v: &[f32], d: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), d)
}

/// Mean Euclidean distance of soft Gumbel-softmax samples (K = 3, uniform s) to the simplex
/// centre and to their nearest vertex.
fn distances(temperature: f64, n: usize, d: &Device) -> (f64, f64) {
    let (mut centre, mut vertex) = (0.0, 0.0);
    for _ in 0..n {
        let y: Vec<f64> = vec1(gumbel_softmax(logits(&[0.0; 3], d), temperature, false))
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        centre += y
            .iter()
            .map(|v| (v - 1.0 / 3.0).powi(2))
            .sum::<f64>()
            .sqrt();
        vertex += (0..3)
            .map(|k| {
                y.iter()
                    .enumerate()
                    .map(|(i, v)| (v - if i == k { 1.0 } else { 0.0 }).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(f64::INFINITY, f64::min);
    }
    (centre / n as f64, vertex / n as f64)
}

#[test]
fn temperature_moves_samples_between_the_centre_and_the_vertices() {
    let _serial = crate::serial();
    let dev = device();
    let temps = [0.05, 0.3, 1.0, 5.0, 50.0];
    let d: Vec<(f64, f64)> = temps.iter().map(|&t| distances(t, 600, &dev)).collect();
    for w in d.windows(2) {
        assert!(
            w[1].0 < w[0].0,
            "distance to the centre must fall as λ_temp grows: {d:?}"
        );
        assert!(
            w[1].1 > w[0].1,
            "distance to a vertex must grow with λ_temp: {d:?}"
        );
    }
    // The limits: near a vertex at λ_temp → 0, near the centre at λ_temp → ∞.
    assert!(d[0].1 < 0.05, "{d:?}");
    assert!(d[4].0 < 0.05, "{d:?}");
}

#[test]
fn hard_samples_follow_the_gumbel_max_and_sigmoid_probabilities() {
    let _serial = crate::serial();
    let d = device();
    let theta = [0.0f32, 1.0, 2.0];
    let z: f64 = theta.iter().map(|&t| f64::from(t).exp()).sum();
    let n = 4000;
    let mut counts = [0usize; 3];
    let mut on = [0usize; 3];
    for _ in 0..n {
        let y = vec1(gumbel_softmax(logits(&theta, &d), 1.0, true));
        assert_eq!(y.iter().filter(|&&v| v == 1.0).count(), 1, "one-hot: {y:?}");
        counts[y.iter().position(|&v| v == 1.0).expect("one")] += 1;
        let b = vec1(binary_concrete(logits(&theta, &d), 0.5, true));
        for (o, v) in on.iter_mut().zip(&b) {
            assert!(*v == 0.0 || *v == 1.0, "{b:?}");
            *o += usize::from(*v == 1.0);
        }
    }
    for r in 0..3 {
        let want = f64::from(theta[r]).exp() / z;
        let got = counts[r] as f64 / n as f64;
        assert!((got - want).abs() < 0.03, "op {r}: {got} vs softmax {want}");
        let want = 1.0 / (1.0 + (-f64::from(theta[r])).exp());
        let got = on[r] as f64 / n as f64;
        assert!((got - want).abs() < 0.03, "op {r}: {got} vs sigmoid {want}");
    }
}

#[test]
fn straight_through_passes_the_soft_gradient() {
    let _serial = crate::serial();
    let ad = device().autodiff();
    let w = Tensor::<1>::from_data(TensorData::new(vec![0.3f32, -1.2, 2.0], [3]), &ad);
    for (hard_fn, name) in [
        (
            gumbel_softmax as fn(Tensor<1>, f64, bool) -> Tensor<1>,
            "gumbel-softmax",
        ),
        (binary_concrete, "binary concrete"),
    ] {
        let grad = |hard: bool| {
            ad.seed(11);
            let theta = Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(vec![0.2f32, -0.4, 0.9], [3]),
                &ad,
            ));
            let y = hard_fn(theta.val(), 0.7, hard);
            let value = vec1(y.clone().detach());
            let g = (y * w.clone()).sum().backward();
            (value, vec1(theta.val().grad(&g).expect("grad θ")))
        };
        let (soft_value, soft_grad) = grad(false);
        let (hard_value, hard_grad) = grad(true);
        assert!(
            hard_value.iter().all(|&v| v == 0.0 || v == 1.0),
            "{name}: {hard_value:?}"
        );
        assert_ne!(soft_value, hard_value, "{name}");
        for (a, b) in soft_grad.iter().zip(&hard_grad) {
            assert!(
                (a - b).abs() < 1e-6,
                "{name}: {soft_grad:?} vs {hard_grad:?}"
            );
        }
    }
}
