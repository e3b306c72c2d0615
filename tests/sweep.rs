//! `ardent sweep` and `ardent viz`: the sweep's points are what `ardent export` measures at the
//! same λ, grow with λ, and the pictures are valid files of the size asked for.

use crate::{ardent, assert_bad_input, stderr, stdout, write, zoo};

/// The size of a PNG file, after decoding all of it; fails on a blank picture.
pub fn png_size(path: &std::path::Path) -> (u32, u32) {
    let file = std::fs::File::open(path).expect("picture");
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
    // Decoding every row proves the image data is complete and valid, not just the header.
    let info = reader.next_frame(&mut buf).expect("PNG image data");
    let rgb = &buf[..info.buffer_size()];
    let first = &rgb[..3];
    assert!(
        rgb.chunks_exact(3).any(|c| c != first),
        "{}: a blank picture",
        path.display()
    );
    (info.width, info.height)
}

fn train_lenet(dir: &std::path::Path, name: &str, kl_weight: &str) -> std::path::PathBuf {
    let ck = dir.join(name);
    let o = ardent([
        "train",
        &zoo("lenet-300-100.toml").display().to_string(),
        "--data",
        "digits",
        "--epochs",
        "4",
        "--kl-weight",
        kl_weight,
        "--out",
        &ck.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    ck
}

#[derive(Debug)]
struct Row {
    checkpoint: String,
    kl_weight: f64,
    method: String,
    lambda: Option<f64>,
    log_alpha: Option<f64>,
    kept: u64,
    params: u64,
    accuracy: f64,
    pareto: bool,
}

fn read_csv(path: &std::path::Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).expect("sweep.csv");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "checkpoint,kl_weight,method,lambda,log_alpha,kept_weights,params,flops,file_bytes,accuracy,pareto"
        )
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 11, "{l}");
            Row {
                checkpoint: f[0].to_string(),
                kl_weight: f[1].parse().expect("kl weight"),
                method: f[2].to_string(),
                lambda: (!f[3].is_empty()).then(|| f[3].parse().expect("λ")),
                log_alpha: (!f[4].is_empty()).then(|| f[4].parse().expect("log α")),
                kept: f[5].parse().expect("kept"),
                params: f[6].parse().expect("params"),
                accuracy: f[9].parse().expect("accuracy"),
                pareto: f[10] == "1",
            }
        })
        .collect()
}

#[test]
fn sweep_grows_with_lambda_matches_export_and_draws_the_front() {
    let dir = tempfile::tempdir().expect("tmp");
    let strong = train_lenet(dir.path(), "strong.safetensors", "1");
    let weak = train_lenet(dir.path(), "weak.safetensors", "0.1");
    let out = dir.path().join("sweep");
    let o = ardent([
        "sweep",
        &strong.display().to_string(),
        &weak.display().to_string(),
        "--data",
        "digits",
        "--points",
        "7",
        "--published",
        "darts-cc",
        "--reference",
        "5000:90:mine",
        "--size",
        "800x500",
        "--out",
        &out.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Pareto front"), "{}", stdout(&o));
    let rows = read_csv(&out.join("sweep.csv"));
    for (ck, kl) in [(&strong, 1.0), (&weak, 0.1)] {
        let name = ck.display().to_string();
        let ard: Vec<&Row> = rows
            .iter()
            .filter(|r| r.checkpoint == name && r.method == "ard")
            .collect();
        let magnitude: Vec<&Row> = rows
            .iter()
            .filter(|r| r.checkpoint == name && r.method == "magnitude")
            .collect();
        assert!(ard.len() >= 5, "{name}: {} ARD points", ard.len());
        assert_eq!(ard.len(), magnitude.len());
        assert!(ard.iter().all(|r| r.kl_weight == kl));
        // Monotone in λ: a larger threshold prunes a subset, so it keeps at least as many
        // weights and exports at least as many parameters. (λ underflows to 0 below
        // log α ≈ −7.3, so the thresholds are ordered by log α.)
        for w in ard.windows(2) {
            assert!(w[0].log_alpha < w[1].log_alpha, "{w:?}");
            assert!(w[0].lambda <= w[1].lambda, "{w:?}");
            assert!(w[0].kept < w[1].kept, "{w:?}");
            assert!(w[0].params <= w[1].params, "{w:?}");
        }
        // The automatic thresholds span the range: the last keeps every weight of the member.
        assert!(ard[0].params * 5 < ard[ard.len() - 1].params, "{ard:?}");
        for (a, m) in ard.iter().zip(&magnitude) {
            assert!(
                m.params <= a.params,
                "baseline above its ARD point: {m:?} vs {a:?}"
            );
            assert!((0.0..=1.0).contains(&m.accuracy) && (0.0..=1.0).contains(&a.accuracy));
        }
        // The largest λ's point is what `ardent export` measures at that λ.
        let last = ard[ard.len() - 1];
        let lambda = last.lambda.expect("ARD rows have λ");
        let report = dir.path().join("last.json");
        let o = ardent([
            "export",
            &name,
            "--out",
            &dir.path().join("last.onnx").display().to_string(),
            "--lambda",
            &lambda.to_string(),
            "--data",
            "digits",
            "--report",
            &report.display().to_string(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
        assert_eq!(r["params_after"].as_u64(), Some(last.params));
        assert_eq!(r["kept_weights"].as_u64(), Some(last.kept));
        assert_eq!(r["accuracy"].as_f64(), Some(last.accuracy));
    }
    // The front: exactly the points no other point dominates.
    for r in &rows {
        let dominated = rows.iter().any(|o| {
            o.params <= r.params
                && o.accuracy >= r.accuracy
                && (o.params < r.params || o.accuracy > r.accuracy)
        });
        assert_eq!(r.pareto, !dominated, "{r:?}");
    }
    assert_eq!(png_size(&out.join("sweep.png")), (800, 500));
    let svg = std::fs::read_to_string(out.join("sweep.svg")).expect("sweep.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("width=\"800\"") && svg.contains("height=\"500\""));
    assert!(svg.contains("DARTS-CC") && svg.contains("mine") && svg.contains("magnitude"));
}

#[test]
fn sweep_bad_input_exits_2() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("missing.safetensors");
    let o = ardent(["sweep", &missing.display().to_string(), "--data", "digits"]);
    assert_bad_input(&o, &["missing.safetensors"]);
    let o = ardent([
        "sweep",
        &missing.display().to_string(),
        "--data",
        "digits",
        "--lambdas",
        "0.5,1.5",
    ]);
    assert_bad_input(&o, &["--lambdas", "1.5"]);
    let o = ardent([
        "sweep",
        "x.safetensors",
        "--data",
        "digits",
        "--size",
        "10x10",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("10x10"), "{}", stderr(&o));
}

#[test]
fn viz_draws_densities_and_gamma_traces() {
    let dir = tempfile::tempdir().expect("tmp");
    let simplex = dir.path().join("simplex.png");
    let o = ardent([
        "viz",
        "simplex",
        "--out",
        &simplex.display().to_string(),
        "--size",
        "900x600",
        "--concentration",
        "2,1,0.5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("6 panels"), "{}", stdout(&o));
    assert_eq!(png_size(&simplex), (900, 600));

    let line = |epoch: u32, a: f64, b: f64| {
        format!(
            r#"{{"epoch":{epoch},"loss":1.0,"structure":[{{"edge":"x -> a","gamma":[{a},{b},{c}],"entropy":1.0,"picked":[]}},{{"edge":"a -> b","gamma":[0.2,0.2,0.2,0.2,0.2],"entropy":1.6,"picked":[]}}]}}"#,
            c = 1.0 - a - b
        )
    };
    let metrics = write(
        dir.path(),
        "m.jsonl",
        [line(1, 0.34, 0.33), line(2, 0.5, 0.3), line(3, 0.7, 0.2)].join("\n"),
    );
    let png = dir.path().join("gamma.png");
    let o = ardent([
        "viz",
        "gamma",
        &metrics.display().to_string(),
        "--out",
        &png.display().to_string(),
        "--size",
        "700x400",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(png_size(&png), (700, 400));
    let svg = dir.path().join("gamma.svg");
    let o = ardent([
        "viz",
        "gamma",
        &metrics.display().to_string(),
        "--model",
        &zoo("mlp-search.toml").display().to_string(),
        "--out",
        &svg.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).expect("svg");
    // Ops are named from the spec.
    assert!(
        text.contains("x -&gt; a") || text.contains("x -> a"),
        "edge title"
    );
    assert!(text.contains("dense(300"), "op names from the spec");

    // A broken line names the file and the line; no picture is left behind.
    let bad = write(
        dir.path(),
        "bad.jsonl",
        format!("{}\n{{not json\n", line(1, 0.3, 0.3)),
    );
    let out = dir.path().join("bad.png");
    let o = ardent([
        "viz",
        "gamma",
        &bad.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_bad_input(&o, &["bad.jsonl:2"]);
    assert!(!out.exists());
    let o = ardent([
        "viz",
        "simplex",
        "--concentration",
        "1,1",
        "--out",
        &out.display().to_string(),
    ]);
    assert_bad_input(&o, &["--concentration"]);
}
