//! The `ml` preset is plain cross-entropy: same loss and same gradients as burn's own
//! `Linear` + `CrossEntropyLoss` on the same weights.

use burn::module::Param;
use burn::nn::LinearConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Int, Tensor, TensorData};

use ardent_trainer::data::BatchTargets;
use ardent_trainer::objective::batch_loss;
use ardent_trainer::{Mode, Objective, Preset, Supernet, Value};

use crate::{device, tiny_family, vec2};

#[test]
fn ml_preset_gradients_equal_plain_cross_entropy() {
    let _serial = crate::serial();
    let ad = device().autodiff();
    let (inputs, units, batch) = (6usize, 4usize, 5usize);
    let family = tiny_family("weight", inputs, units);
    let net = Supernet::new(&family, &ad, 1).expect("supernet");
    let d = net.ops[0][0].dense().expect("dense");
    let w = d.mu.val().detach();
    let b = d.bias.as_ref().expect("bias").val().detach();

    let xs: Vec<f32> = (0..batch * inputs)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0)
        .collect();
    let labels: Vec<i64> = vec![0, 3, 1, 2, 3];
    let x = Tensor::<2>::from_data(TensorData::new(xs.clone(), [batch, inputs]), &ad);
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [batch]), &ad);
    let targets = BatchTargets::Classes(y.clone(), labels.iter().map(|&l| l as u32).collect());

    let ml = Objective::preset(Preset::Ml);
    assert_eq!(ml.kl_weight_at(3.0), 0.0);
    let (loss, _, _, _) = batch_loss(
        &net,
        Value::Vector(x.clone()),
        &targets,
        Mode::Mean { prune: None },
        ml.kl_weight_at(0.0),
        100,
    );
    let grads = loss.backward();
    let g_ours = vec2(d.mu.val().grad(&grads).expect("grad of μ"));

    let mut lin = LinearConfig::new(inputs, units).init(&ad);
    lin.weight = Param::from_tensor(w.clone());
    lin.bias = Some(Param::from_tensor(b.clone()));
    let logits = lin.forward(x);
    let ce = CrossEntropyLossConfig::new().init(&ad).forward(logits, y);
    let grads_ref = ce.backward();
    let g_ref = vec2(lin.weight.val().grad(&grads_ref).expect("grad of W"));

    assert_eq!(g_ours.len(), g_ref.len());
    for (a, r) in g_ours.iter().zip(&g_ref) {
        assert!((a - r).abs() < 1e-6, "{a} vs {r}");
    }
    // The ml preset builds no KL term: log σ² is not in the graph at all.
    assert!(d.log_sigma2.val().grad(&grads).is_none());
}

#[test]
fn warmup_rises_linearly() {
    let _serial = crate::serial();
    let mut o = Objective::preset(Preset::Elbo);
    o.warmup_epochs = 4.0;
    assert_eq!(o.kl_weight_at(0.0), 0.0);
    assert_eq!(o.kl_weight_at(1.0), 0.25);
    assert_eq!(o.kl_weight_at(10.0), 1.0);
}
