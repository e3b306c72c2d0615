//! `ardent train` and `ardent finetune` end to end on the bundled digits: metrics, checkpoints,
//! resumption, fine-tuning, and bad input.

use crate::{ardent, assert_bad_input, stderr, stdout, zoo};

fn metrics(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON metrics line"))
        .collect()
}

fn train_args(out: &std::path::Path, epochs: &str) -> Vec<String> {
    [
        "train",
        &zoo("lenet-300-100.toml").display().to_string(),
        "--data",
        "digits",
        "--max-samples",
        "400",
        "--batch-size",
        "50",
        "--epochs",
        epochs,
        "--out",
        &out.display().to_string(),
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn train_resume_and_finetune() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = dir.path().join("digits.safetensors");
    let o = ardent(train_args(&ck, "2"));
    assert!(o.status.success(), "{}", stderr(&o));
    let m = metrics(&stdout(&o));
    assert_eq!(m.len(), 2, "one line per epoch");
    assert_eq!(m[1]["epoch"], 2);
    assert_eq!(
        m[1]["step"], 16,
        "360 training samples in batches of 50, twice"
    );
    for key in [
        "loss",
        "nll",
        "kl",
        "train_accuracy",
        "valid_accuracy",
        "weights_kept",
    ] {
        assert!(m[1][key].is_number(), "{key} missing in {}", m[1]);
    }
    assert!(stderr(&o).contains("note: input of `lenet-300-100` set to [64]"));
    let ck1 = ardent_models::Checkpoint::read(&ck).expect("a valid checkpoint");
    assert_eq!(ck1.meta.epoch, 2);
    assert_eq!(ck1.family.input_shape().size(), 64);

    // Resuming runs only the missing epochs and continues the step count.
    let mut args = train_args(&ck, "3");
    args.push("--resume".into());
    let o = ardent(args);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = metrics(&stdout(&o));
    assert_eq!(m.len(), 1);
    assert_eq!(
        (m[0]["epoch"].as_u64(), m[0]["step"].as_u64()),
        (Some(3), Some(24))
    );

    // Fine-tuning keeps the pruned weights pruned: no more survivors than it started with.
    let kept_before = m[0]["weights_kept"].as_u64().expect("kept");
    let ft = dir.path().join("ft.safetensors");
    let o = ardent([
        "finetune",
        &ck.display().to_string(),
        "--data",
        "digits",
        "--max-samples",
        "400",
        "--epochs",
        "1",
        "--out",
        &ft.display().to_string(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = metrics(&stdout(&o));
    assert!(m[0]["weights_kept"].as_u64().expect("kept") <= kept_before);
    let tuned = ardent_models::Checkpoint::read(&ft).expect("fine-tuned checkpoint");
    assert_eq!(tuned.meta.finetune, Some(0.975));
    // The masks live in σ²: the relative-density rule on the stored tensors, at λ and at a very
    // different λ, finds exactly the weights the fine-tuning kept.
    for lambda in [0.975f64, 0.5] {
        let threshold = -2.0 * lambda.ln();
        let kept: usize = tuned
            .tensors
            .iter()
            .filter(|(name, _)| name.ends_with("weight.mu"))
            .map(|(name, mu)| {
                let ls = &tuned.tensors[&name.replace("weight.mu", "weight.log_sigma2")];
                mu.data
                    .iter()
                    .zip(&ls.data)
                    .filter(|(m, l)| f64::from(**m).powi(2) >= threshold * f64::from(**l).exp())
                    .count()
            })
            .sum();
        assert_eq!(
            Some(kept as u64),
            m[0]["weights_kept"].as_u64(),
            "λ {lambda}"
        );
    }
}

/// A count as the epoch table prints it (`812`, `9,512`, `35.4K`, `1.20M`), back to a number.
fn parse_count(cell: &str) -> f64 {
    let (digits, scale) = match cell.chars().last() {
        Some('K') => (&cell[..cell.len() - 1], 1e3),
        Some('M') => (&cell[..cell.len() - 1], 1e6),
        _ => (cell, 1.0),
    };
    digits.replace(',', "").parse::<f64>().expect("a count") * scale
}

#[test]
fn epochs_print_as_aligned_lines_and_the_full_metrics_go_to_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = dir.path().join("digits.safetensors");
    let log = dir.path().join("m.jsonl");
    let mut args = train_args(&ck, "2");
    args.retain(|a| a != "--json");
    args.extend(["--metrics".into(), log.display().to_string()]);
    let o = ardent(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "a header and one line per epoch:\n{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "epoch",
            "loss",
            "nll",
            "kl",
            "train",
            "valid",
            "kept",
            "samples/s",
            "time"
        ]
    );
    // Every line has the same width, so the columns line up.
    assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{out}");
    let json: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .expect("metrics file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(json.len(), 2);
    for (row, m) in lines[1..].iter().zip(&json) {
        let cells: Vec<&str> = row.split_whitespace().collect();
        let num = |k: &str| m[k].as_f64().expect(k);
        let percent = |k: &str| format!("{:.2}%", 100.0 * num(k));
        assert_eq!(cells[0], format!("{}/2", m["epoch"]));
        assert_eq!(cells[1], format!("{:.4}", num("loss")));
        assert_eq!(cells[2], format!("{:.4}", num("nll")));
        assert!((parse_count(cells[3]) - num("kl")).abs() <= 0.005 * num("kl") + 0.5);
        assert_eq!(cells[4], percent("train_accuracy"));
        assert_eq!(cells[5], percent("valid_accuracy"));
        let (kept, total) = cells[6].split_once('/').expect("kept/total");
        for (cell, key) in [(kept, "weights_kept"), (total, "weights_total")] {
            assert!((parse_count(cell) - num(key)).abs() <= 0.005 * num(key) + 0.5);
        }
        assert!((parse_count(cells[7]) / num("samples_per_second") - 1.0).abs() < 0.01);
        let seconds: f64 = cells[8].trim_end_matches('s').parse().expect("seconds");
        assert!((seconds - num("seconds")).abs() < 0.01 && num("seconds") > 0.0);
    }
    // A second run to the same file starts it afresh.
    let o = ardent(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(metric_epochs(&log), [1, 2]);
}

/// Epoch numbers in a metrics file, in order.
fn metric_epochs(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .expect("metrics file")
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON")["epoch"]
                .as_u64()
                .expect("epoch")
        })
        .collect()
}

/// `--resume` with a stored setting changed is refused, naming the setting and the stored
/// value, with the checkpoint kept; the same value given again continues the run.
#[test]
fn a_resumed_run_refuses_changed_settings() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = dir.path().join("run.safetensors");
    let with = |epochs: &str, extra: &[&str]| -> Vec<String> {
        let mut args = train_args(&ck, epochs);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let o = ardent(with("1", &["--kl-weight", "0.5"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read(&ck).expect("read");

    let o = ardent(with(
        "2",
        &["--resume", "--kl-weight", "0.25", "--lr", "0.01"],
    ));
    assert_bad_input(
        &o,
        &[
            "run.safetensors",
            "--kl-weight 0.25 (stored: 0.5)",
            "--lr 0.01 (stored: 0.001)",
            "start a new run",
        ],
    );
    assert_eq!(std::fs::read(&ck).expect("read"), before, "kept as it was");

    let o = ardent(with(
        "2",
        &["--resume", "--kl-weight", "0.5", "--lr", "1e-3"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let done = ardent_models::Checkpoint::read(&ck).expect("checkpoint");
    assert_eq!(done.meta.epoch, 2);
}

#[test]
fn a_killed_run_resumes_from_its_last_checkpoint() {
    let dir = tempfile::tempdir().expect("tmp");
    let epochs = "12";
    // The reference: the same run, uninterrupted.
    let whole = dir.path().join("whole.safetensors");
    let o = ardent(train_args(&whole, epochs));
    assert!(o.status.success(), "{}", stderr(&o));
    let reference = metrics(&stdout(&o));

    let ck = dir.path().join("killed.safetensors");
    let log = dir.path().join("killed.jsonl");
    let mut args = train_args(&ck, epochs);
    args.extend(["--checkpoint-every", "2", "--metrics"].map(String::from));
    args.push(log.display().to_string());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ardent"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    while !ck.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "no checkpoint"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let at_kill = ardent_models::Checkpoint::read(&ck).expect("the checkpoint survives the kill");
    let done_before = metric_epochs(&log).last().copied().unwrap_or(0);
    assert!(
        at_kill.meta.epoch > 0 && (at_kill.meta.epoch as u64) < 12,
        "killed mid-run"
    );
    // At most one checkpoint interval (2 epochs) is trained again.
    assert!(done_before - at_kill.meta.epoch as u64 <= 2);

    args.push("--resume".into());
    let o = ardent(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("at epoch {}", at_kill.meta.epoch)),
        "{}",
        stderr(&o)
    );
    let finished = ardent_models::Checkpoint::read(&ck).expect("a valid final checkpoint");
    assert_eq!(finished.meta.epoch, 12);
    assert_eq!(finished.meta.step, 12 * 8, "the step count continues");
    // Each epoch's metrics once, in order, however the kill fell.
    assert_eq!(metric_epochs(&log), (1..=12).collect::<Vec<u64>>());
    // The resumed run sees the same batches and noise as the reference and continues Adam
    // from the stored moments: it ends bit-equal to the uninterrupted run.
    let whole = ardent_models::Checkpoint::read(&whole).expect("the reference checkpoint");
    assert!(
        !finished.optimizer.is_empty(),
        "the optimizer state is stored"
    );
    assert_eq!(finished.tensors, whole.tensors, "the weights, bit for bit");
    assert_eq!(
        finished.optimizer, whole.optimizer,
        "Adam's moments, bit for bit"
    );
    let resumed = metrics(&stdout(&o));
    let same = |m: &serde_json::Value| {
        let mut m = m.clone();
        for timing in ["seconds", "samples_per_second"] {
            m[timing] = serde_json::Value::Null;
        }
        m
    };
    for (r, w) in resumed
        .iter()
        .zip(&reference[reference.len() - resumed.len()..])
    {
        assert_eq!(same(r), same(w), "the epoch's metrics");
    }
}

#[test]
fn a_diverging_run_stops_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = dir.path().join("digits.safetensors");
    let o = ardent(train_args(&ck, "1"));
    assert!(o.status.success(), "{}", stderr(&o));
    let good = std::fs::read(&ck).expect("checkpoint");
    // A learning rate that sends the weights to infinity on the first steps.
    let mut args = train_args(&ck, "3");
    args.extend(["--lr", "1000"].map(String::from));
    let o = ardent(&args);
    assert_bad_input(&o, &["diverged", "--lr", "digits.safetensors"]);
    assert_eq!(
        std::fs::read(&ck).expect("still there"),
        good,
        "kept as it was"
    );
}

#[test]
fn train_bad_input_exits_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = dir.path().join("x.safetensors");
    let mut args = train_args(&ck, "1");
    args.extend(["--device".into(), "tpu".into()]);
    assert_bad_input(&ardent(args), &["--device tpu", "unknown device"]);

    let mut args = train_args(&ck, "1");
    args.push("--resume".into());
    assert_bad_input(&ardent(args), &["x.safetensors"]);

    // The wine data has 11 features and real targets: the classification spec refuses it.
    let o = ardent([
        "train",
        &zoo("lenet5-caffe.toml").display().to_string(),
        "--data",
        "wine",
        "--out",
        &ck.display().to_string(),
    ]);
    assert_bad_input(&o, &["lenet5-caffe"]);
    assert!(!ck.exists(), "nothing written on bad input");

    // Augmentation shifts and mirrors images; feature vectors are refused, naming both.
    let mut args = train_args(&ck, "1");
    args.extend(["--augment".into(), "shift,flip".into()]);
    assert_bad_input(&ardent(args), &["--augment", "[64]"]);
    assert!(!ck.exists(), "nothing written on bad input");

    // A checkpoint cut in half is refused by name.
    let good = dir.path().join("good.safetensors");
    assert!(ardent(train_args(&good, "1")).status.success());
    let bytes = std::fs::read(&good).expect("read");
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    assert_bad_input(
        &ardent(["finetune", &cut.display().to_string(), "--data", "digits"]),
        &["cut.safetensors"],
    );
}

/// The typos the option walk generalises, as a user made them: each is refused before any
/// work, with nothing written; a batch larger than the data is cut to it, with a note.
#[test]
fn nonsense_options_are_refused_before_any_work() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = dir.path().join("x.safetensors");
    let with = |opt: &str, value: &str| -> Vec<String> {
        let mut args = train_args(&ck, "1");
        match args.iter().position(|a| a == opt) {
            Some(at) => args[at + 1] = value.into(),
            None => args.push(format!("{opt}={value}")),
        }
        args
    };
    for (opt, value, needle) in [
        ("--lambda", "2", "strictly between 0 and 1"),
        ("--epochs", "0", "from 1 to 1,000,000"),
        ("--lr", "nan", "learning rate in (0, 1000]"),
        ("--kl-weight", "-1", "[0, 1000]"),
        ("--valid-fraction", "1", "[0, 1)"),
    ] {
        let o = ardent(with(opt, value));
        assert_bad_input(&o, &[opt, needle]);
        assert!(stdout(&o).is_empty(), "no training output");
        assert!(
            std::fs::read_dir(dir.path()).expect("dir").next().is_none(),
            "{opt} {value}: nothing written"
        );
    }
    let o = ardent(with("--batch-size", "100000"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("--batch-size 100000 is larger than the 360 training samples; using 360"),
        "{}",
        stderr(&o)
    );
}

/// A family of three members on the digits, one of them known best: a hidden layer of 16
/// units beats one of 2, and the zero op, which cuts the only path, is chance.
const PICK: &str = r#"
name = "pick"
task = "classification"
classes = 10
input = [64]

[search]
constraint = "simplex"
relaxation = "gumbel-softmax"

[[vertex]]
name = "x"
[[vertex]]
name = "h"
[[vertex]]
name = "logits"

[[edge]]
from = "x"
to = "h"
ops = [{ op = "zero" }, { op = "dense", units = 16, activation = "relu" }, { op = "dense", units = 2, activation = "relu" }]

[[edge]]
from = "h"
to = "logits"
ops = [{ op = "dense", units = 10 }]
"#;

#[test]
fn the_controller_learns_to_prefer_the_best_member() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("pick.toml");
    std::fs::write(&spec, PICK).expect("spec");
    let ck = dir.path().join("pick.safetensors");
    let o = ardent([
        "train",
        &spec.display().to_string(),
        "--data",
        "digits",
        "--epochs",
        "5",
        "--lr",
        "0.01",
        "--search",
        "controller",
        "--trials",
        "10",
        "--out",
        &ck.display().to_string(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let trials: Vec<serde_json::Value> = metrics(&stdout(&o))
        .into_iter()
        .filter(|t| t.get("trial").is_some())
        .collect();
    assert_eq!(trials.len(), 10);
    let p_best = |t: &serde_json::Value| {
        let alternatives = t["policy"][0]["alternatives"].as_array().expect("policy");
        assert_eq!(alternatives.len(), 3, "{t}");
        alternatives
            .iter()
            .find(|a| a[0] == "dense(16, relu)")
            .and_then(|a| a[1].as_f64())
            .expect("the 16-unit member's probability")
    };
    // From the uniform 1/3, the known-best member ends the most likely by far, and the best
    // trial kept is that member.
    let last = trials.last().expect("a trial");
    assert!(p_best(last) > 0.8, "{last}");
    let best = trials.iter().rfind(|t| t["best"] == true).expect("best");
    assert_eq!(best["member"][0][1][0], "dense(16, relu)", "{best}");
    // The random search of the same budget takes the same options.
    let o = ardent([
        "train",
        &spec.display().to_string(),
        "--data",
        "digits",
        "--search",
        "controller",
        "--random-search",
        "3",
        "--out",
        &ck.display().to_string(),
    ]);
    assert_bad_input(&o, &["--random-search", "--search"]);
}
