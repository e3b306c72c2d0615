//! AdaNet's mixture weight: the cross-entropy and its slope against a hand-computed case and
//! central differences, and the penalised minimiser against a dense grid.

use ardent_trainer::adanet::{MAX_WEIGHT, complexity, cross_entropy, mixture_weight};

/// Deterministic values in [−1, 1).
fn stream(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn problem(seed: u64, samples: usize, classes: usize) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    let mut r = stream(seed);
    let prev: Vec<f32> = (0..samples * classes).map(|_| 2.0 * r()).collect();
    let h: Vec<f32> = (0..samples * classes).map(|_| 3.0 * r()).collect();
    let labels = (0..samples)
        .map(|_| ((r() + 1.0) * 0.5 * classes as f32) as u32 % classes as u32)
        .collect();
    (prev, h, labels)
}

#[test]
fn the_cross_entropy_of_one_sample_is_its_closed_form() {
    // Logits (0, 0) + w·(1, −1), label 0: ln(1 + e^{−2w}), slope −2 / (1 + e^{2w}).
    for w in [-1.5, 0.0, 0.3, 2.0] {
        let (f, s) = cross_entropy(&[0.0, 0.0], &[1.0, -1.0], &[0], 2, w);
        assert!(
            (f - (1.0 + (-2.0 * w).exp()).ln()).abs() < 1e-12,
            "{w}: {f}"
        );
        assert!(
            (s + 2.0 / (1.0 + (2.0 * w).exp())).abs() < 1e-12,
            "{w}: {s}"
        );
    }
}

#[test]
fn the_slope_is_the_derivative() {
    let (prev, h, labels) = problem(3, 50, 4);
    for w in [-2.0, -0.1, 0.0, 0.7, 3.0] {
        let e = 1e-5;
        let numeric = (cross_entropy(&prev, &h, &labels, 4, w + e).0
            - cross_entropy(&prev, &h, &labels, 4, w - e).0)
            / (2.0 * e);
        let slope = cross_entropy(&prev, &h, &labels, 4, w).1;
        assert!((slope - numeric).abs() < 1e-7, "{w}: {slope} vs {numeric}");
    }
}

#[test]
fn the_mixture_weight_minimises_the_penalised_objective() {
    for (seed, penalty) in [(1, 0.0), (2, 0.01), (3, 0.05), (4, 0.2), (5, 1e-3)] {
        let (prev, h, labels) = problem(seed, 80, 3);
        let f = |w: f64| cross_entropy(&prev, &h, &labels, 3, w).0 + penalty * w.abs();
        let w = mixture_weight(&prev, &h, &labels, 3, penalty);
        // A grid of step 1e-3 on [−10, 10] brackets the minimiser of a convex function.
        let (grid_w, grid_f) = (-10_000..=10_000)
            .map(|i| f64::from(i) * 1e-3)
            .map(|v| (v, f(v)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("grid");
        assert!(
            f(w) <= grid_f + 1e-9,
            "seed {seed}: F({w}) = {} > {grid_f}",
            f(w)
        );
        assert!(
            (w - grid_w).abs() <= 2e-3,
            "seed {seed}: {w} vs grid {grid_w}"
        );
    }
}

#[test]
fn a_penalty_above_the_slope_at_zero_keeps_the_weight_at_zero() {
    let (prev, h, labels) = problem(9, 40, 2);
    let s0 = cross_entropy(&prev, &h, &labels, 2, 0.0).1;
    assert_eq!(mixture_weight(&prev, &h, &labels, 2, s0.abs() * 1.01), 0.0);
    assert_ne!(mixture_weight(&prev, &h, &labels, 2, s0.abs() * 0.99), 0.0);
}

#[test]
fn without_a_penalty_a_separating_subnetwork_stops_where_the_loss_stops_falling() {
    // h puts every sample's label first: the loss ln(1 + e^{−2w}) falls towards 0 as w grows,
    // and in f64 stops falling once e^{−2w} is below half an ulp of 1 (w ≈ 18.4).
    let (prev, h, labels) = (vec![0.0; 4], vec![1.0, -1.0, -1.0, 1.0], vec![0, 1]);
    let w = mixture_weight(&prev, &h, &labels, 2, 0.0);
    assert!((18.0..=MAX_WEIGHT).contains(&w), "{w}");
    assert!(cross_entropy(&prev, &h, &labels, 2, w).0 < 1e-15);
}

#[test]
fn complexity_grows_as_the_root_of_the_layers() {
    assert_eq!(complexity(0), 1.0);
    assert_eq!(complexity(3), 2.0);
}
