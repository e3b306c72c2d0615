//! `ardent train --search adanet` end to end: on XOR, which no linear subnetwork fits and one
//! hidden layer does, the first round adds the deeper candidate; the objective falls round by
//! round; earlier subnetworks stay as they were; the grown checkpoint exports.

use std::path::{Path, PathBuf};

use ardent_models::Checkpoint;

use crate::{ardent, assert_bad_input, stderr, stdout, write};

/// The chain whose prefixes are the subnetworks: up to two hidden layers of 16, then the head.
const CHAIN: &str = r#"
name = "xor-chain"
task = "classification"
classes = 2
input = [2]

[[vertex]]
name = "x"
[[vertex]]
name = "a"
[[vertex]]
name = "b"
[[vertex]]
name = "logits"

[[edge]]
from = "x"
to = "a"
ops = [{ op = "dense", units = 16, activation = "relu" }]
[[edge]]
from = "a"
to = "b"
ops = [{ op = "dense", units = 16, activation = "relu" }]
[[edge]]
from = "b"
to = "logits"
ops = [{ op = "dense", units = 2 }]
"#;

/// 2,000 points uniform on [−1, 1]², labelled by the sign of a·b.
fn xor(dir: &Path) -> PathBuf {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut csv = String::from("a,b,y\n");
    for _ in 0..2000 {
        let (a, b) = (uniform(), uniform());
        csv.push_str(&format!("{a:.4},{b:.4},{}\n", u8::from(a * b > 0.0)));
    }
    write(dir, "xor.csv", csv)
}

fn grow(dir: &Path, data: &Path, rounds: &str, out: &str) -> (PathBuf, Vec<serde_json::Value>) {
    let spec = write(dir, "chain.toml", CHAIN);
    let ck = dir.join(out);
    let o = ardent([
        "train",
        &spec.display().to_string(),
        "--data",
        &data.display().to_string(),
        "--search",
        "adanet",
        "--rounds",
        rounds,
        "--epochs",
        "10",
        "--lr",
        "0.01",
        "--out",
        &ck.display().to_string(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rounds = stdout(&o)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .filter(|v| v.get("round").is_some())
        .collect();
    (ck, rounds)
}

#[test]
fn growth_adds_the_deeper_subnetwork_where_the_shallow_one_cannot_fit() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = xor(dir.path());
    let (ck, rounds) = grow(dir.path(), &data, "3", "xor.safetensors");
    assert!(!rounds.is_empty());
    // Round 1 weighs the head alone (depth 0) against one hidden layer (depth 1).
    let first = &rounds[0];
    let depths: Vec<u64> = first["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| c["depth"].as_u64().expect("depth"))
        .collect();
    assert_eq!(depths, [0, 1], "{first}");
    assert_eq!(first["chosen"], 1, "{first}");
    let linear = &first["candidates"][0];
    let hidden = &first["candidates"][1];
    assert!(
        hidden["valid_accuracy"].as_f64().expect("accuracy") > 0.9,
        "{hidden}"
    );
    assert!(
        linear["valid_accuracy"].as_f64().expect("accuracy") < 0.7,
        "{linear}"
    );
    // F starts at ln 2 (the empty ensemble's cross-entropy) and falls with every round that
    // adds a subnetwork; a round adding none ends the growth.
    let mut before = std::f64::consts::LN_2;
    for (i, r) in rounds.iter().enumerate() {
        let f = r["objective"].as_f64().expect("objective");
        if r["chosen"].is_null() {
            assert_eq!(f, before, "{r}");
            assert_eq!(
                i + 1,
                rounds.len(),
                "growth goes on after a round that added nothing"
            );
        } else {
            assert!(f < before, "round {i}: {f} ≥ {before}");
        }
        before = f;
    }
    assert!(before < 0.3, "the grown ensemble fits XOR: F = {before}");
    // The checkpoint exports, verified in tract.
    let onnx = dir.path().join("xor.onnx");
    let o = ardent([
        "export",
        &ck.display().to_string(),
        "--data",
        &data.display().to_string(),
        "--out",
        &onnx.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_later_round_leaves_the_earlier_subnetworks_as_they_were() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = xor(dir.path());
    let (one, r1) = grow(dir.path(), &data, "1", "one.safetensors");
    let (two, r2) = grow(dir.path(), &data, "2", "two.safetensors");
    assert_eq!(r1[0]["depths"], serde_json::json!([1]), "{}", r1[0]);
    assert!(
        !r2[1]["chosen"].is_null(),
        "the second round added nothing: {}",
        r2[1]
    );
    let one = Checkpoint::read(&one).expect("one");
    let two = Checkpoint::read(&two).expect("two");
    // Subnetwork 1 is x → a_1 → logits: vertices 0, 1 and the output, whose index grows with
    // the vertices of later subnetworks.
    let output = two.family.output;
    let mut compared = 0;
    for (name, t) in &one.tensors {
        let Some(rest) = name.strip_prefix("edge.") else {
            continue;
        };
        let later = if let Some(r) = rest.strip_prefix("1-2.") {
            format!("edge.1-{output}.{r}")
        } else {
            name.clone()
        };
        let u = two
            .tensors
            .get(&later)
            .unwrap_or_else(|| panic!("{later} missing"));
        assert_eq!(t.data, u.data, "{name} moved");
        compared += 1;
    }
    // μ, log σ² and the bias of two layers, and their ARD precisions.
    assert!(compared >= 6, "only {compared} tensors compared");
}

#[test]
fn growth_refuses_a_spec_that_is_not_a_chain_and_options_it_cannot_take() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = xor(dir.path());
    let skip = CHAIN.replace(
        "[[edge]]\nfrom = \"b\"",
        "[[edge]]\nfrom = \"x\"\nto = \"logits\"\nops = [{ op = \"dense\", units = 2 }]\n[[edge]]\nfrom = \"b\"",
    );
    let skip = write(dir.path(), "skip.toml", skip);
    let chain = write(dir.path(), "chain.toml", CHAIN);
    let out = dir.path().join("no.safetensors").display().to_string();
    let train = |spec: &Path, extra: &[&str]| {
        let (spec, data) = (spec.display().to_string(), data.display().to_string());
        let mut args = vec!["train", &spec, "--data", &data, "--search", "adanet"];
        args.extend_from_slice(extra);
        ardent(args)
    };
    let o = train(&skip, &["--rounds", "2", "--out", &out]);
    assert_bad_input(&o, &["skip.toml", "cannot be grown"]);
    assert!(!dir.path().join("no.safetensors").exists());
    assert_bad_input(&train(&chain, &[]), &["--rounds"]);
    assert_bad_input(
        &train(&chain, &["--rounds", "2", "--trials", "3"]),
        &["--trials", "--rounds"],
    );
    assert_bad_input(
        &train(
            &chain,
            &["--rounds", "2", "--preset", "darts", "--out", &out],
        ),
        &["AdaNet", "neither --resume nor a bilevel preset"],
    );
    assert!(!dir.path().join("no.safetensors").exists());
}
