use crate::{ardent, assert_bad_input, stdout, write, zoo};

#[test]
fn whole_zoo_passes_with_hand_checked_counts() {
    let specs = [
        "lenet-300-100.toml",
        "lenet5-caffe.toml",
        "mlp-search.toml",
        "mlp-search-weights.toml",
        "conv-search.toml",
        "wine-glm.toml",
    ];
    let o = ardent(
        std::iter::once("check".into()).chain(specs.iter().map(|s| zoo(s).display().to_string())),
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", crate::stderr(&o));
    assert!(out.contains("266,610 params"), "{out}");
    assert!(out.contains("431,080 params"), "{out}");
    for s in specs {
        assert!(out.contains(s), "{s} missing from:\n{out}");
    }
}

#[test]
fn json_output_is_parseable() {
    let o = ardent([
        "check",
        "--json",
        &zoo("wine-glm.toml").display().to_string(),
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(v["supernet"]["params"], 15);
    assert_eq!(v["smallest"]["cost"]["params"], 1);
    assert_eq!(v["largest"]["cost"]["params"], 12);
    assert_eq!(v["members"], "3");
}

#[test]
fn bad_spec_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = write(
        dir.path(),
        "bad.toml",
        "name = \"b\"\ntask = \"classification\"\nclasses = 2\ninput = [3]\n\
         [[vertex]]\nname = \"x\"\n[[vertex]]\nname = \"y\"\n\
         [[edge]]\nfrom = \"x\"\nto = \"y\"\nops = [{ op = \"dense\", units = 2, activation = \"relu6\" }]\n",
    );
    let o = ardent(["check", &bad.display().to_string()]);
    assert_bad_input(&o, &["bad.toml", "line 12", "relu6"]);
}

#[test]
fn one_bad_spec_does_not_hide_the_good_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("missing.toml");
    let o = ardent([
        "check",
        &missing.display().to_string(),
        &zoo("lenet-300-100.toml").display().to_string(),
    ]);
    assert_bad_input(&o, &["missing.toml", "1 spec failed"]);
    assert!(stdout(&o).contains("266,610"));
}
