//! Checkpoints round-trip bit for bit, and the same seed gives the same run.

use ardent_models::Checkpoint;
use ardent_trainer::data::prepare;
use ardent_trainer::train::{self, Run, TrainConfig};
use ardent_trainer::{Supernet, from_tensors, to_tensors};

use crate::device;

fn run_once(dir: &std::path::Path, name: &str, epochs: usize) -> Vec<u8> {
    let dev = device();
    let family = ardent_models::Family::parse(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/zoo/lenet-300-100.toml"
        ))
        .expect("spec"),
    )
    .expect("valid")
    .with_input(&[64])
    .expect("retarget");
    let splits = ardent_data::Splits {
        train: ardent_data::bundled::digits().expect("digits").take(400),
        test: None,
    };
    let data = prepare(&family, splits, 0.25, 3, None).expect("prepare");
    let cfg = TrainConfig {
        epochs,
        batch_size: 50,
        ..TrainConfig::default()
    };
    let path = dir.join(name);
    let run = Run {
        checkpoint: path.clone(),
        metrics: None,
        fresh_metrics: true,
        progress: false,
        data_name: "digits".into(),
    };
    let net = Supernet::new(&family, &dev, cfg.seed).expect("net");
    train::train(
        net,
        &data,
        &cfg,
        &run,
        Default::default(),
        &dev,
        &mut |_| {},
    )
    .expect("train");
    std::fs::read(path).expect("checkpoint written")
}

#[test]
fn same_seed_same_weights() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().expect("tmp");
    run_once(dir.path(), "a.safetensors", 2);
    run_once(dir.path(), "b.safetensors", 2);
    let a = Checkpoint::read(dir.path().join("a.safetensors")).expect("a");
    let b = Checkpoint::read(dir.path().join("b.safetensors")).expect("b");
    // Every tensor bit for bit (the metadata differs only in the measured samples/s).
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>()
    );
    for (name, t) in &a.tensors {
        let u = &b.tensors[name];
        assert!(
            t.data
                .iter()
                .zip(&u.data)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{name} differs between two runs with the same seed"
        );
    }
}

#[test]
fn checkpoint_round_trips_bit_for_bit() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = run_once(dir.path(), "c.safetensors", 1);
    let path = dir.path().join("c.safetensors");
    let ck = Checkpoint::read(&path).expect("read");
    assert_eq!(ck.meta.epoch, 1);
    // Adam's state of every trained parameter, 300 training samples in batches of 50: 6 steps.
    let first = &ck.optimizer["weights.ops.0.0.dense.mu"];
    assert_eq!(first.steps, 6);
    assert_eq!(first.moment_1.shape, [64, 300], "the trainer's [in, out]");
    assert!(
        ck.optimizer.keys().all(|k| k.starts_with("weights.")),
        "no θ, no outer problem"
    );
    assert_eq!(
        ck.optimizer.len(),
        3 * 3,
        "μ, log σ² and the bias of three layers"
    );
    // Through the trainer and back: the same tensors, then the same bytes.
    let (net, norm) = from_tensors(&ck.family, &ck.tensors, &device()).expect("load");
    let optimizers = train::Optimizers::restore(&ck.optimizer, &net, &device()).expect("restore");
    assert_eq!(
        optimizers.moments(),
        ck.optimizer,
        "Adam's state, bit for bit"
    );
    let again = to_tensors(&net, &norm).expect("every tensor");
    for (name, t) in &ck.tensors {
        if name.ends_with("weight.alpha") {
            continue;
        }
        let u = &again[name];
        assert_eq!(t.shape, u.shape, "{name}");
        assert!(
            t.data
                .iter()
                .zip(&u.data)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "{name} changed"
        );
    }
    let rewritten = dir.path().join("d.safetensors");
    ck.write(&rewritten).expect("write");
    assert!(
        std::fs::read(&rewritten).expect("read back") == bytes,
        "re-written bytes differ"
    );
}

#[test]
fn tampered_checkpoints_are_refused() {
    let _serial = crate::serial();
    let dir = tempfile::tempdir().expect("tmp");
    let bytes = run_once(dir.path(), "e.safetensors", 1);
    let p = dir.path().join("cut.safetensors");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).expect("write");
    let e = Checkpoint::read(&p).expect_err("truncated").to_string();
    assert!(e.contains("cut.safetensors"), "{e}");

    // One flipped bit anywhere in the tensors, or in the stored spec, is caught by the checksum.
    let name_at = bytes
        .windows(5)
        .position(|w| w == b"lenet")
        .expect("the spec's name in the header");
    for (at, what) in [
        (bytes.len() - 3, "weights"),
        (bytes.len() / 2, "weights"),
        (name_at, "spec"),
    ] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x04;
        let p = dir.path().join("flipped.safetensors");
        std::fs::write(&p, &flipped).expect("write");
        let e = Checkpoint::read(&p).expect_err(what).to_string();
        assert!(
            e.contains("flipped.safetensors") && e.contains("checksum mismatch"),
            "{what}: {e}"
        );
    }

    let mut ck = Checkpoint::read(dir.path().join("e.safetensors")).expect("read");
    let t = ck
        .tensors
        .get_mut("edge.0-1.op.0.weight.mu")
        .expect("tensor");
    t.shape = vec![t.shape[1], t.shape[0]];
    let e = ck
        .write(dir.path().join("bad.safetensors"))
        .expect_err("shape")
        .to_string();
    assert!(
        e.contains("edge.0-1.op.0.weight.mu") && e.contains("the spec expects"),
        "{e}"
    );

    // Adam's state: moments of two shapes, a negative second moment, a parameter the model
    // does not have.
    let good = Checkpoint::read(dir.path().join("e.safetensors")).expect("read");
    let key = "weights.ops.1.0.dense.bias";
    let mut ck = good.clone();
    ck.optimizer.get_mut(key).expect("stored").moment_2.shape = vec![1, 100];
    let e = ck
        .write(dir.path().join("bad.safetensors"))
        .expect_err("shapes")
        .to_string();
    assert!(
        e.contains("optim.weights.ops.1.0.dense.bias.moment_2") && e.contains("first moment"),
        "{e}"
    );
    let mut ck = good.clone();
    ck.optimizer.get_mut(key).expect("stored").moment_2.data[7] = -1.0;
    let e = ck
        .write(dir.path().join("bad.safetensors"))
        .expect_err("negative")
        .to_string();
    assert!(e.contains("moment_2") && e.contains("value 7 is -1"), "{e}");
    let mut ck = good.clone();
    let moved = ck.optimizer.remove(key).expect("stored");
    ck.optimizer
        .insert("weights.ops.7.0.dense.bias".into(), moved);
    let p = dir.path().join("foreign.safetensors");
    ck.write(&p).expect("the file alone is consistent");
    let loaded = train::load(&p, &device()).expect("the weights alone are consistent");
    let e = loaded
        .start(&device())
        .expect_err("no such parameter")
        .to_string();
    assert!(
        e.contains("foreign.safetensors")
            && e.contains("weights.ops.7.0.dense.bias")
            && e.contains("no parameter"),
        "{e}"
    );
}

/// A resumed run keeps the stored settings; a given setting with another value is named with
/// both values, one with the stored value passes, and only `epochs` and a given
/// `checkpoint_every` are taken from the new settings.
#[test]
fn a_resumed_run_keeps_its_settings_and_names_the_changed_ones() {
    let saved = TrainConfig {
        lr: 3e-3,
        checkpoint_every: 2,
        ..TrainConfig::default()
    };
    let mut asked = TrainConfig {
        epochs: 25,
        lr: 1e-2,
        seed: 9,
        checkpoint_every: 5,
        ..TrainConfig::default()
    };
    asked.objective.kl_weight = 0.5;

    let changed = asked
        .resumed(&saved, &["lr", "kl_weight", "lambda"])
        .expect_err("lr and kl_weight differ");
    let named: Vec<(&str, &str, &str)> = changed
        .iter()
        .map(|c| (c.name, c.asked.as_str(), c.stored.as_str()))
        .collect();
    assert_eq!(named, [("lr", "0.01", "0.003"), ("kl_weight", "0.5", "1")]);

    // Not given, the asked values (here the seed, lr and KL weight) give way to the stored.
    let resumed = asked.resumed(&saved, &[]).expect("nothing given");
    assert_eq!(
        resumed,
        TrainConfig {
            epochs: 25,
            ..saved.clone()
        }
    );
    let resumed = asked
        .resumed(&saved, &["checkpoint_every", "lambda", "data", "epochs"])
        .expect("λ is the stored one; data and epochs are not stored settings");
    assert_eq!(resumed.checkpoint_every, 5);
    assert_eq!(resumed.seed, saved.seed);
}
