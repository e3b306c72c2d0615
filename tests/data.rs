use crate::{ardent, assert_bad_input, stdout, write};

#[test]
fn bundled_summaries() {
    let o = ardent(["data", "digits"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("1,797 samples of shape [64]"), "{out}");
    assert!(out.contains("10 classes"), "{out}");
    let o = ardent(["data", "wine"]);
    assert!(stdout(&o).contains("1,599 samples of shape [11]"));
}

#[test]
fn csv_errors_exit_2_with_the_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(dir.path(), "t.csv", "a,b,y\n1,2,0\n1,2\n");
    assert_bad_input(
        &ardent(["data", &p.display().to_string()]),
        &["t.csv", "line 3", "expected 3 fields, found 2"],
    );
    let p = write(dir.path(), "n.csv", "a,b,y\n1,2,0\n1,zz,1\n");
    assert_bad_input(
        &ardent(["data", &p.display().to_string()]),
        &["n.csv", "line 3", "`zz` is not a number"],
    );
    let p = write(dir.path(), "nan.csv", "a,b,y\n1,NaN,0\n");
    assert_bad_input(
        &ardent(["data", &p.display().to_string()]),
        &["nan.csv", "NaN"],
    );
    let o = ardent(["data", "--allow-non-finite", &p.display().to_string()]);
    assert!(o.status.success());
}

#[test]
fn idx_errors_exit_2_with_the_offset() {
    let dir = tempfile::tempdir().expect("tmp");
    let images = ardent_data::encode_idx(&[4, 2, 2], &[3.0; 16]);
    write(
        dir.path(),
        "train-images-idx3-ubyte",
        &images[..images.len() - 3],
    );
    write(
        dir.path(),
        "train-labels-idx1-ubyte",
        ardent_data::encode_idx(&[4], &[0.0, 1.0, 0.0, 1.0]),
    );
    let o = ardent(["data", &dir.path().display().to_string()]);
    assert_bad_input(
        &o,
        &["train-images-idx3-ubyte", "truncated", "byte offset 29"],
    );
    write(dir.path(), "train-images-idx3-ubyte", b"\x08\x03junkjunk");
    let o = ardent(["data", &dir.path().display().to_string()]);
    assert_bad_input(&o, &["wrong magic", "byte offset 0"]);
}

#[test]
fn fashion_mnist_when_installed() {
    let dir = std::path::Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.is_dir() {
        // CI installs the package, so there a missing directory is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install dataset-fashion-mnist"
        );
        eprintln!("fashion-mnist not installed: apt-get install dataset-fashion-mnist");
        return;
    }
    let o = ardent(["data", &dir.display().to_string()]);
    let out = stdout(&o);
    assert!(out.contains("60,000 samples of shape [1, 28, 28]"), "{out}");
    assert!(out.contains("10,000 samples"), "{out}");
}

/// `numpy.savetxt(f, np.c_[x, y], delimiter=",", fmt="%g")` of 50 rows, 4 features and a class.
fn headerless(rows: usize) -> String {
    (0..rows)
        .map(|r| {
            format!(
                "{},{},{},{},{}\n",
                r,
                r as f64 * 0.5,
                -(r as f64),
                1e-3,
                r % 3
            )
        })
        .collect()
}

#[test]
fn a_headerless_csv_reads_every_row_and_says_why() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(dir.path(), "x.csv", headerless(50));
    let o = ardent(["data", &p.display().to_string()]);
    assert!(o.status.success(), "{}", crate::stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("50 samples of shape [4]"), "{out}");
    assert!(
        out.contains("no header") && out.contains("--header"),
        "{out}"
    );
    assert!(out.contains("3 classes, counts: 17 17 16"), "{out}");
    // Told there is a header, the first row becomes names, as asked.
    let o = ardent(["data", "--header", &p.display().to_string()]);
    assert!(stdout(&o).contains("49 samples"), "{}", stdout(&o));
    // A named first line is a header, and the summary says it was guessed.
    let p = write(
        dir.path(),
        "h.csv",
        format!("a,b,c,d,y\n{}", headerless(10)),
    );
    let out = stdout(&ardent(["data", &p.display().to_string()]));
    assert!(
        out.contains("10 samples") && out.contains("column names"),
        "{out}"
    );
}

#[test]
fn class_labels_must_be_whole_numbers() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write(dir.path(), "f.csv", "a,y\n1,0\n2,1.5\n");
    assert_bad_input(
        &ardent(["data", &p.display().to_string()]),
        &["f.csv", "line 3", "`1.5`", "not a class index"],
    );
    let p = write(dir.path(), "d.csv", "a,y\n1,0.000\n2,2.000\n");
    let o = ardent(["data", &p.display().to_string()]);
    let out = stdout(&o);
    assert!(out.contains("3 classes, counts: 1 0 1"), "{out}");
    assert!(out.contains("`0.000` on line 2"), "{out}");
}
