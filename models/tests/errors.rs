//! Every bad spec gets an error that says what and where.

use ardent_models::{Family, SpecError};

const HEAD: &str = r#"
name = "t"
task = "classification"
classes = 10
input = [8]
"#;

fn vertices(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("[[vertex]]\nname = \"{n}\"\n"))
        .collect()
}

fn edge(from: &str, to: &str, ops: &str) -> String {
    format!("[[edge]]\nfrom = \"{from}\"\nto = \"{to}\"\nops = [{ops}]\n")
}

fn err(src: &str) -> String {
    match Family::parse(src) {
        Ok(_) => panic!("accepted a bad spec:\n{src}"),
        Err(e) => e.to_string(),
    }
}

const D10: &str = r#"{ op = "dense", units = 10 }"#;
const D4: &str = r#"{ op = "dense", units = 4 }"#;

#[test]
fn cycle_is_named() {
    let src = format!(
        "{HEAD}{}{}{}{}{}",
        vertices(&["x", "a", "b", "y"]),
        edge("x", "a", D4),
        edge("a", "b", D4),
        edge("b", "a", D4),
        edge("b", "y", D10),
    );
    let e = err(&src);
    assert!(e.contains("cycle"), "{e}");
    assert!(
        e.contains("a -> b -> a") || e.contains("b -> a -> b"),
        "{e}"
    );
}

#[test]
fn unknown_vertex_has_line_and_column() {
    let src = format!(
        "{HEAD}{}{}",
        vertices(&["x", "y"]),
        edge("x", "nowhere", D10)
    );
    let e = err(&src);
    assert!(e.contains("unknown vertex `nowhere`"), "{e}");
    let line = src
        .lines()
        .position(|l| l.contains("nowhere"))
        .expect("line")
        + 1;
    assert!(e.contains(&format!("line {line}, column 6")), "{e}");
}

#[test]
fn unreachable_output() {
    let src = format!(
        "{HEAD}{}{}{}",
        vertices(&["x", "a", "b", "y"]),
        edge("x", "a", D4),
        edge("b", "y", D10),
    );
    let e = err(&src);
    // b has no incoming edge, so y is cut off from x.
    assert!(e.contains("`b` has no incoming edge"), "{e}");

    let src = format!(
        "{HEAD}{}{}{}{}",
        vertices(&["x", "a", "b", "y"]),
        edge("x", "a", D4),
        edge("b", "y", D10),
        edge("y", "b", D4),
    );
    let e = err(&src);
    assert!(e.contains("cycle"), "{e}");
}

#[test]
fn output_cut_off_from_input() {
    let src = format!(
        "{HEAD}{}{}{}{}",
        vertices(&["x", "a", "b", "y"]),
        edge("x", "a", D4),
        edge("a", "b", D4),
        edge("x", "b", D4),
    );
    let e = err(&src);
    assert!(
        e.contains("`y` has no incoming edge: the output cannot be reached"),
        "{e}"
    );
}

#[test]
fn shape_disagreement_names_both_edges_and_shapes() {
    let src = format!(
        "{HEAD}{}{}{}{}{}",
        vertices(&["x", "a", "b", "y"]),
        edge("x", "a", D4),
        edge("x", "b", r#"{ op = "dense", units = 5 }"#),
        edge("a", "b", r#"{ op = "dense", units = 6 }"#),
        edge("b", "y", D10),
    );
    let e = err(&src);
    assert!(e.contains("shapes disagree at vertex `b`"), "{e}");
    assert!(e.contains("x -> b gives [5]"), "{e}");
    assert!(e.contains("a -> b gives [6]"), "{e}");
}

#[test]
fn unknown_op_and_unknown_field_have_line_and_column() {
    let src = format!(
        "{HEAD}{}{}",
        vertices(&["x", "y"]),
        edge("x", "y", r#"{ op = "densse", units = 10 }"#)
    );
    let e = err(&src);
    assert!(e.contains("densse"), "{e}");
    assert!(e.contains("line ") && e.contains("column "), "{e}");

    let src = format!(
        "{HEAD}{}{}",
        vertices(&["x", "y"]),
        edge("x", "y", r#"{ op = "dense", unitz = 10 }"#)
    );
    let e = err(&src);
    assert!(e.contains("unitz"), "{e}");
    assert!(e.contains("line "), "{e}");

    let src = format!(
        "{HEAD}colour = 3\n{}{}",
        vertices(&["x", "y"]),
        edge("x", "y", D10)
    );
    let e = err(&src);
    assert!(
        e.contains("colour") && e.contains("line 6, column 1"),
        "{e}"
    );
}

#[test]
fn empty_candidate_list() {
    let src = format!("{HEAD}{}{}", vertices(&["x", "y"]), edge("x", "y", ""));
    let e = err(&src);
    assert!(e.contains("x -> y has an empty candidate list"), "{e}");
}

#[test]
fn wrong_output_width_and_bad_op_settings() {
    let src = format!("{HEAD}{}{}", vertices(&["x", "y"]), edge("x", "y", D4));
    let e = err(&src);
    assert!(e.contains("has shape [4], but the task needs [10]"), "{e}");

    let src = format!(
        "{HEAD}{}{}",
        vertices(&["x", "y"]),
        edge("x", "y", r#"{ op = "dense", units = 0 }"#)
    );
    assert!(err(&src).contains("units must be at least 1"));

    let src = format!(
        "{HEAD}{}{}",
        vertices(&["x", "y"]),
        edge("x", "y", r#"{ op = "conv2d", channels = 10, kernel = 3 }"#)
    );
    assert!(err(&src).contains("conv2d needs a [channels, height, width] input, got [8]"));

    let src = format!(
        "{HEAD}{}{}",
        vertices(&["x", "y"]),
        edge("x", "y", r#"{ op = "glm", features = [8], units = 10 }"#)
    );
    assert!(err(&src).contains("feature 8 is out of range"));
}

#[test]
fn duplicate_vertex_and_bad_ard() {
    let src = format!(
        "{HEAD}{}{}",
        vertices(&["x", "x", "y"]),
        edge("x", "y", D10)
    );
    assert!(err(&src).contains("vertex `x` is declared twice"));

    let src = format!(
        "{HEAD}[ard]\nlambda1 = 0.25\n{}{}",
        vertices(&["x", "y"]),
        edge("x", "y", D10)
    );
    assert!(err(&src).contains("non-positive precision update"));
}

#[test]
fn syntax_error_has_a_location() {
    let e = err("name = \"t\nbroken");
    assert!(e.contains("line "), "{e}");
}

#[test]
fn missing_file_names_the_path() {
    let e = Family::from_path("/no/such/spec.toml").expect_err("missing");
    assert!(matches!(e, SpecError::InFile { .. }));
    assert!(e.to_string().contains("/no/such/spec.toml"), "{e}");
}

#[test]
fn a_failed_atomic_write_leaves_the_old_file_and_no_temporary() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("model.safetensors");
    std::fs::write(&target, b"the previous checkpoint").expect("write");
    // A failure injected at the last step: the rename lands on a non-empty directory.
    let blocked = dir.path().join("blocked");
    std::fs::create_dir(&blocked).expect("dir");
    std::fs::write(blocked.join("inside"), b"x").expect("write");
    assert!(ardent_models::write_atomic(&blocked, b"new bytes").is_err());
    assert_eq!(std::fs::read(blocked.join("inside")).expect("kept"), b"x");
    // And a good write replaces the old file whole.
    ardent_models::write_atomic(&target, b"new bytes").expect("write");
    assert_eq!(std::fs::read(&target).expect("read"), b"new bytes");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "temporaries left: {left:?}");
}
