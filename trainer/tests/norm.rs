//! Batch normalisation against its definition, computed by hand in f64: a sampled forward
//! normalises by the batch's mean and biased variance per channel and moves the running
//! averages by the momentum; a forward with posterior means uses the running averages.

use ardent_trainer::{Mode, Supernet, Value};
use burn::tensor::{Tensor, TensorData};

use crate::{device, vec2};

const SPEC: &str = r#"
name = "bn"
task = "classification"
classes = 18
input = [2, 3, 3]
[[vertex]]
name = "x"
[[vertex]]
name = "b"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "b"
ops = [{ op = "batchnorm", momentum = 0.25, epsilon = 0.01 }]
[[edge]]
from = "b"
to = "y"
ops = [{ op = "flatten" }]
"#;

#[test]
fn batch_norm_uses_batch_statistics_when_sampling_and_running_ones_otherwise() {
    let _serial = crate::serial();
    let dev = device();
    let family = ardent_models::Family::parse(SPEC).expect("valid");
    let net = Supernet::new(&family, &dev, 1).expect("net");
    let (n, c, hw) = (5usize, 2usize, 9usize);
    let x: Vec<f32> = (0..n * c * hw)
        .map(|i| ((i * 37 % 23) as f32 - 9.0) * 0.3 + if (i / hw) % c == 1 { 4.0 } else { 0.0 })
        .collect();
    let input = || {
        Value::Image(Tensor::from_data(
            TensorData::new(x.clone(), [n, c, 3, 3]),
            &dev,
        ))
    };
    // Per channel: the batch's mean and biased variance over samples and positions.
    let at = |s: usize, ch: usize, p: usize| f64::from(x[(s * c + ch) * hw + p]);
    let stats: Vec<(f64, f64)> = (0..c)
        .map(|ch| {
            let vals: Vec<f64> = (0..n)
                .flat_map(|s| (0..hw).map(move |p| (s, p)))
                .map(|(s, p)| at(s, ch, p))
                .collect();
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let v = vals.iter().map(|a| (a - m).powi(2)).sum::<f64>() / vals.len() as f64;
            (m, v)
        })
        .collect();
    let check = |got: Vec<f32>, mean_var: &dyn Fn(usize) -> (f64, f64), what: &str| {
        for s in 0..n {
            for ch in 0..c {
                let (m, v) = mean_var(ch);
                for p in 0..hw {
                    let want = (at(s, ch, p) - m) / (v + 0.01).sqrt();
                    let g = f64::from(got[(s * c + ch) * hw + p]);
                    assert!(
                        (g - want).abs() < 1e-4,
                        "{what} [{s},{ch},{p}]: {g} vs {want}"
                    );
                }
            }
        }
    };
    check(
        vec2(net.forward(input(), Mode::Sample)),
        &|ch| stats[ch],
        "sampled",
    );
    // Running averages from (0, 1) after one batch at momentum 0.25.
    let running = |ch: usize| (0.25 * stats[ch].0, 0.75 + 0.25 * stats[ch].1);
    check(
        vec2(net.forward(input(), Mode::Mean { prune: None })),
        &running,
        "with running statistics",
    );
    // A forward with posterior means leaves them as they are.
    check(
        vec2(net.forward(input(), Mode::Mean { prune: None })),
        &running,
        "again",
    );
}
