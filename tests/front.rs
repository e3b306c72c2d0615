//! The front points checked in under `docs/front/`: each file in its README's table gives, on
//! the 10,000 Fashion-MNIST test images, the accuracy the table claims in tract and in
//! onnxruntime, passes `onnx.checker` (full check), and holds the parameters the table
//! counts. Needs the dataset and `ARDENT_PYTHON` with onnx and onnxruntime; `.ci/run` runs it
//! with the other onnxruntime tests.

use crate::{ardent, root, stderr, stdout};

const DATA: &str = "/usr/share/datasets/fashion-mnist";

/// onnx.checker, then onnxruntime's accuracy in percent and the float scalars in the
/// initializers, printed as `ACCURACY PARAMS`.
const CHECK: &str = r#"
import gzip, sys, numpy as np, onnx, onnxruntime as ort
path, data = sys.argv[1], sys.argv[2]
m = onnx.load(path)
onnx.checker.check_model(m, full_check=True)
with gzip.open(f"{data}/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32)
with gzip.open(f"{data}/t10k-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)
s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
name = s.get_inputs()[0].name
out = np.concatenate([s.run(None, {name: x[i:i + 500]})[0] for i in range(0, len(x), 500)])
params = sum(int(np.prod(t.dims)) for t in m.graph.initializer if t.data_type in (1, 10))
print(f"{100 * (out.argmax(1) == y).mean():.2f} {params}")
"#;

/// The table's rows: file, tract's and onnxruntime's accuracy as written, parameters.
fn rows(readme: &str) -> Vec<(String, String, String, u64)> {
    readme
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains(".onnx`"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let file = cells[0].trim_matches('`').to_string();
            let (tract, ort) = cells[2].split_once(", ").expect("two accuracies");
            let params = cells[3].replace(',', "").parse().expect("a count");
            (file, tract.to_string(), ort.to_string(), params)
        })
        .collect()
}

#[test]
#[ignore = "needs Fashion-MNIST and ARDENT_PYTHON with onnx and onnxruntime (see .ci/run)"]
fn front_points_match_their_table_in_tract_and_onnxruntime() {
    let python = std::env::var("ARDENT_PYTHON").expect("ARDENT_PYTHON names a Python");
    let front = root().join("docs/front");
    let readme = std::fs::read_to_string(front.join("README.md")).expect("the README");
    let rows = rows(&readme);
    assert!(rows.len() >= 5, "the table has {} rows", rows.len());
    for (file, tract, ort, params) in rows {
        let model = front.join(&file);
        let o = ardent([
            "run".to_string(),
            model.display().to_string(),
            "--input".into(),
            format!("{DATA}/t10k-images-idx3-ubyte.gz"),
            "--labels".into(),
            format!("{DATA}/t10k-labels-idx1-ubyte.gz"),
            "--output".into(),
            std::env::temp_dir()
                .join(format!("ardent-front-{file}.csv"))
                .display()
                .to_string(),
        ]);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        let said = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            said.contains(&format!("accuracy {tract}")),
            "{file}: the table says {tract} in tract; ardent run said {said}"
        );
        let out = std::process::Command::new(&python)
            .args(["-c", CHECK, &model.display().to_string(), DATA])
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            line,
            format!("{} {params}", ort.trim_end_matches(" %")),
            "{file}: onnxruntime's accuracy and parameters against the table"
        );
    }
}
