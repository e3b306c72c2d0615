//! The local reparameterization trick against Monte Carlo over sampled weights.

use burn::module::Param;
use burn::tensor::{Distribution, Tensor, TensorData};

use ardent_trainer::Mode;
use ardent_trainer::ops::dense::VarDense;

use crate::{device, vec2};

#[test]
fn lrt_mean_and_variance_match_weight_sampling() {
    let _serial = crate::serial();
    let dev = device();
    let (inputs, units, samples) = (5usize, 3usize, 20_000usize);
    let mu: Vec<f32> = (0..inputs * units)
        .map(|i| ((i as f32) * 0.37).sin())
        .collect();
    let log_s2: Vec<f32> = (0..inputs * units)
        .map(|i| -1.0 - 0.2 * (i % 4) as f32)
        .collect();
    let x: Vec<f32> = vec![0.5, -1.0, 2.0, 0.25, -0.75];
    let layer = VarDense {
        mu: Param::from_tensor(Tensor::from_data(
            TensorData::new(mu.clone(), [inputs, units]),
            &dev,
        )),
        log_sigma2: Param::from_tensor(Tensor::from_data(
            TensorData::new(log_s2.clone(), [inputs, units]),
            &dev,
        )),
        bias: None,
        mask: None,
        features: Vec::new(),
    };
    // The same input repeated: each row is one LRT sample of the pre-activation.
    let xb: Tensor<2> = Tensor::<1>::from_data(TensorData::new(x.clone(), [inputs]), &dev)
        .unsqueeze_dim::<2>(0)
        .expand([samples, inputs]);
    let lrt = vec2(layer.forward(xb, Mode::Sample));

    // Monte Carlo over weights: W = μ + σ ε, then x W.
    let eps = vec2(Tensor::<2>::random(
        [samples, inputs * units],
        Distribution::Normal(0.0, 1.0),
        &dev,
    ));
    let mut mc = vec![0f32; samples * units];
    for s in 0..samples {
        for j in 0..units {
            mc[s * units + j] = x
                .iter()
                .enumerate()
                .map(|(i, xi)| {
                    let k = i * units + j;
                    xi * (mu[k] + (0.5 * log_s2[k]).exp() * eps[s * inputs * units + k])
                })
                .sum();
        }
    }
    for j in 0..units {
        let exact_mean: f32 = (0..inputs).map(|i| x[i] * mu[i * units + j]).sum();
        let exact_var: f32 = (0..inputs)
            .map(|i| x[i] * x[i] * log_s2[i * units + j].exp())
            .sum();
        for (name, data) in [("lrt", &lrt), ("mc", &mc)] {
            let col: Vec<f32> = (0..samples).map(|s| data[s * units + j]).collect();
            let mean = col.iter().sum::<f32>() / samples as f32;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / (samples - 1) as f32;
            // Standard errors: sd/√n for the mean, about var·√(2/n) for the variance.
            let se_mean = (exact_var / samples as f32).sqrt();
            let se_var = exact_var * (2.0 / samples as f32).sqrt();
            assert!(
                (mean - exact_mean).abs() < 5.0 * se_mean,
                "{name} unit {j}: mean {mean} vs {exact_mean}"
            );
            assert!(
                (var - exact_var).abs() < 5.0 * se_var,
                "{name} unit {j}: var {var} vs {exact_var}"
            );
        }
    }
    // The mean forward is x μ exactly.
    let xb =
        Tensor::<1>::from_data(TensorData::new(x.clone(), [inputs]), &dev).unsqueeze_dim::<2>(0);
    let m = vec2(layer.forward(xb, Mode::Mean { prune: None }));
    for j in 0..units {
        let exact: f32 = (0..inputs).map(|i| x[i] * mu[i * units + j]).sum();
        assert!((m[j] - exact).abs() < 1e-5);
    }
}

#[test]
fn conv_lrt_moments_match_a_direct_convolution() {
    use ardent_trainer::ops::conv::VarConv;
    let _serial = crate::serial();
    let dev = device();
    // 2 input channels of 4×4, 2 output channels, 3×3 kernels, stride 1, padding 1.
    let (ci, co, k, hw, samples) = (2usize, 2usize, 3usize, 4usize, 20_000usize);
    let mu: Vec<f32> = (0..co * ci * k * k)
        .map(|i| ((i as f32) * 0.61).cos() * 0.5)
        .collect();
    let log_s2: Vec<f32> = (0..co * ci * k * k)
        .map(|i| -2.0 - 0.1 * (i % 5) as f32)
        .collect();
    let x: Vec<f32> = (0..ci * hw * hw)
        .map(|i| ((i as f32) * 0.37).sin())
        .collect();
    let layer = VarConv {
        mu: Param::from_tensor(Tensor::from_data(
            TensorData::new(mu.clone(), [co, ci, k, k]),
            &dev,
        )),
        log_sigma2: Param::from_tensor(Tensor::from_data(
            TensorData::new(log_s2.clone(), [co, ci, k, k]),
            &dev,
        )),
        bias: None,
        mask: None,
        stride: 1,
        padding: 1,
    };
    // Direct convolution in f64 of `input` with `kernel`, zero padding 1.
    let direct = |input: &dyn Fn(usize) -> f64,
                  kernel: &dyn Fn(usize) -> f64,
                  o: usize,
                  r: usize,
                  c: usize| {
        let mut acc = 0f64;
        for i in 0..ci {
            for dr in 0..k {
                for dc in 0..k {
                    let (rr, cc) = (r as i64 + dr as i64 - 1, c as i64 + dc as i64 - 1);
                    if rr < 0 || cc < 0 || rr >= hw as i64 || cc >= hw as i64 {
                        continue;
                    }
                    let xi = i * hw * hw + rr as usize * hw + cc as usize;
                    acc += input(xi) * kernel(((o * ci + i) * k + dr) * k + dc);
                }
            }
        }
        acc
    };
    let xb = Tensor::<1>::from_data(TensorData::new(x.clone(), [ci * hw * hw]), &dev)
        .reshape([1, ci, hw, hw])
        .expand([samples, ci, hw, hw]);
    let out = layer.forward(xb, Mode::Sample);
    let out: Vec<f32> = out
        .reshape([samples, co * hw * hw])
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .expect("f32");
    let per = co * hw * hw;
    for o in 0..co {
        for r in 0..hw {
            for c in 0..hw {
                let j = (o * hw + r) * hw + c;
                let exact_mean = direct(&|i| f64::from(x[i]), &|w| f64::from(mu[w]), o, r, c);
                let exact_var = direct(
                    &|i| f64::from(x[i]).powi(2),
                    &|w| f64::from(log_s2[w]).exp(),
                    o,
                    r,
                    c,
                );
                let col: Vec<f64> = (0..samples).map(|s| f64::from(out[s * per + j])).collect();
                let mean = col.iter().sum::<f64>() / samples as f64;
                let var =
                    col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (samples - 1) as f64;
                let se_mean = (exact_var / samples as f64).sqrt();
                let se_var = exact_var * (2.0 / samples as f64).sqrt();
                assert!(
                    (mean - exact_mean).abs() < 5.0 * se_mean + 1e-6,
                    "({o},{r},{c}) mean {mean} vs {exact_mean}"
                );
                assert!(
                    (var - exact_var).abs() < 5.0 * se_var + 1e-6,
                    "({o},{r},{c}) var {var} vs {exact_var}"
                );
            }
        }
    }
}
