//! Every numeric option of every command, walked from the clap definitions: each of NaN, ±inf,
//! 0, a negative and two absurdly large values either runs as documented (exit 0) or ends with
//! exit code 2 and an `error:` line naming the option, without a panic and without a file left
//! behind. A command with numeric options and no base invocation here fails the walk, so a new
//! command cannot skip it.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;

use crate::{stderr, zoo};

const PROBES: [&str; 7] = ["nan", "inf", "-inf", "0", "-1", "1e30", "1000000000000"];

/// The long names of `cmd`'s options whose parsers produce numbers.
fn numeric_options(cmd: &clap::Command) -> Vec<String> {
    let numeric = [
        TypeId::of::<f64>(),
        TypeId::of::<f32>(),
        TypeId::of::<usize>(),
        TypeId::of::<u64>(),
        TypeId::of::<u32>(),
    ];
    cmd.get_arguments()
        .filter(|a| {
            let t = a.get_value_parser().type_id();
            numeric.iter().any(|id| t == *id)
        })
        .map(|a| {
            a.get_long()
                .unwrap_or_else(|| panic!("numeric positional `{}`: give it a name", a.get_id()))
                .to_string()
        })
        .collect()
}

/// Every leaf command as its path of names (`["viz", "simplex"]`).
fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
    if cmd.has_subcommands() {
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            leaves(sub, p, out);
        }
    } else {
        out.push((path, cmd.clone()));
    }
}

/// Files the walk's commands read, made once.
struct Fixture {
    _dir: tempfile::TempDir,
    checkpoint: PathBuf,
    model: PathBuf,
    input: PathBuf,
    /// A VAE's encoder, its decoder beside it.
    encoder: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let checkpoint = dir.path().join("lenet.safetensors");
    let model = dir.path().join("lenet.onnx");
    let o = crate::ardent([
        "train".as_ref(),
        zoo("lenet-300-100.toml").as_os_str(),
        "--data".as_ref(),
        "digits".as_ref(),
        "--max-samples".as_ref(),
        "200".as_ref(),
        "--epochs".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        checkpoint.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = crate::ardent([
        "export".as_ref(),
        checkpoint.as_os_str(),
        "--out".as_ref(),
        model.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Five digits-sized rows without a header line.
    let rows: Vec<String> = (0..5)
        .map(|r| {
            (0..64)
                .map(|c| ((r * 7 + c) % 17).to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let input = crate::write(dir.path(), "x.csv", rows.join("\n") + "\n");
    let spec = crate::write(dir.path(), "vae.toml", crate::vae::SPEC);
    let vae = dir.path().join("vae.safetensors");
    let o = crate::ardent([
        "train".as_ref(),
        spec.as_os_str(),
        "--data".as_ref(),
        "digits".as_ref(),
        "--max-samples".as_ref(),
        "200".as_ref(),
        "--epochs".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        vae.as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = crate::ardent([
        "export".as_ref(),
        vae.as_os_str(),
        "--out".as_ref(),
        dir.path().join("vae.onnx").as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    Fixture {
        encoder: dir.path().join("vae.encoder.onnx"),
        _dir: dir,
        checkpoint,
        model,
        input,
    }
}

/// A command's base invocation: positional words and `--option value` pairs, with `{out}`
/// standing for a fresh folder per run. Each probe replaces its own option's pair.
type Base = (Vec<String>, Vec<(String, String)>);

fn bases(f: &Fixture) -> BTreeMap<String, Base> {
    let p = |p: &Path| p.display().to_string();
    let pairs = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let lenet = p(&zoo("lenet-300-100.toml"));
    let small = [("data", "digits"), ("max-samples", "64"), ("epochs", "1")];
    let mut m = BTreeMap::new();
    let mut train = pairs(&small);
    train.push(("out".into(), "{out}/t.safetensors".into()));
    m.insert("train".into(), (vec![lenet.clone()], train));
    let mut finetune = pairs(&small);
    finetune.push(("out".into(), "{out}/f.safetensors".into()));
    m.insert("finetune".into(), (vec![p(&f.checkpoint)], finetune));
    m.insert(
        "export".into(),
        (
            vec![p(&f.checkpoint)],
            pairs(&[("out", "{out}/m.onnx"), ("verify", "16")]),
        ),
    );
    m.insert(
        "sweep".into(),
        (
            vec![p(&f.checkpoint)],
            pairs(&[("data", "digits"), ("points", "2"), ("out", "{out}/sweep")]),
        ),
    );
    m.insert(
        "pipeline".into(),
        (
            vec![],
            pairs(&[
                ("model", &lenet),
                ("data", "digits"),
                ("max-samples", "100"),
                ("epochs", "1"),
                ("finetune-epochs", "1"),
                ("out", "{out}/p"),
            ]),
        ),
    );
    m.insert(
        "demo".into(),
        (
            vec![],
            pairs(&[
                ("epochs", "1"),
                ("finetune-epochs", "1"),
                ("out", "{out}/d"),
            ]),
        ),
    );
    m.insert(
        "viz simplex".into(),
        (
            vec![],
            pairs(&[("out", "{out}/s.png"), ("size", "300x300")]),
        ),
    );
    m.insert(
        "viz vae".into(),
        (
            vec![p(&f.encoder)],
            pairs(&[("data", "digits"), ("out", "{out}/v.png")]),
        ),
    );
    m.insert(
        "run".into(),
        (
            vec![p(&f.model)],
            pairs(&[("input", &p(&f.input)), ("output", "{out}/pred.csv")]),
        ),
    );
    m.insert(
        "bench".into(),
        (
            vec![p(&f.model)],
            pairs(&[
                ("batch", "1"),
                ("warmup", "1"),
                ("min-runs", "1"),
                ("min-time-ms", "1"),
            ]),
        ),
    );
    m
}

struct Case {
    command: String,
    option: Option<String>,
    value: String,
    args: Vec<String>,
}

/// Runs one case in a fresh folder; returns what is wrong with it, if anything.
fn check(case: &Case) -> Option<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().display().to_string();
    let args: Vec<String> = case.args.iter().map(|a| a.replace("{out}", &out)).collect();
    let o = Command::new(env!("CARGO_BIN_EXE_ardent"))
        .args(&args)
        .current_dir(dir.path())
        .output()
        .expect("run ardent");
    let err = stderr(&o);
    let what = format!("`ardent {}`", args.join(" "));
    if err.contains("panicked") {
        return Some(format!("{what} panicked:\n{err}"));
    }
    match (o.status.code(), &case.option) {
        (Some(0), _) => None,
        (Some(2), Some(opt)) => {
            let left: Vec<_> = std::fs::read_dir(dir.path())
                .expect("read temp dir")
                .map(|e| e.expect("entry").file_name())
                .collect();
            if !err.contains("error:") || !err.contains(&format!("--{opt}")) {
                Some(format!("{what}: the error does not name --{opt}:\n{err}"))
            } else if !left.is_empty() {
                Some(format!("{what}: refused, but left {left:?}"))
            } else {
                None
            }
        }
        (code, _) => Some(format!(
            "{what} ({} = {}): exit code {code:?}\n{err}",
            case.command, case.value
        )),
    }
}

#[test]
fn every_numeric_option_is_refused_or_honoured_for_absurd_values() {
    let f = fixture();
    let bases = bases(&f);
    let mut commands = Vec::new();
    leaves(&ardent::Cli::command(), vec![], &mut commands);
    let mut cases = Vec::new();
    let mut probed = 0;
    for (path, cmd) in &commands {
        let options = numeric_options(cmd);
        if options.is_empty() {
            continue;
        }
        let name = path.join(" ");
        let (positional, pairs) = bases.get(&name).unwrap_or_else(|| {
            panic!("`{name}` has numeric options {options:?}: give it a base invocation")
        });
        let build = |probe: Option<(&str, &str)>| -> Vec<String> {
            let mut args: Vec<String> = path.clone();
            args.extend(positional.iter().cloned());
            for (k, v) in pairs {
                if probe.is_none_or(|(o, _)| o != k) {
                    args.extend([format!("--{k}"), v.clone()]);
                }
            }
            if let Some((o, v)) = probe {
                // `=` keeps a leading `-` a value, as a user would write `--lr=-1`.
                args.push(format!("--{o}={v}"));
            }
            args
        };
        cases.push(Case {
            command: name.clone(),
            option: None,
            value: "base".into(),
            args: build(None),
        });
        for opt in &options {
            probed += 1;
            for v in PROBES {
                cases.push(Case {
                    command: name.clone(),
                    option: Some(opt.clone()),
                    value: v.into(),
                    args: build(Some((opt, v))),
                });
            }
        }
    }
    assert!(probed >= 30, "only {probed} numeric options found");
    eprintln!(
        "{probed} numeric options in {} commands: {} cases",
        bases.len(),
        cases.len()
    );
    // Two workers, as the machine has two cores.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    if let Some(problem) = check(case) {
                        failures.lock().expect("lock").push(problem);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
