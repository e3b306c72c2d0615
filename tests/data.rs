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
