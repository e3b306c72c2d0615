//! Grown families: the subnetworks a chain spec gives, counted by hand.

use ardent_models::grow::Subnetworks;
use ardent_models::{Aggregation, Family};

const CHAIN: &str = r#"
name = "chain"
task = "classification"
classes = 3
input = [4]

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
ops = [{ op = "dense", units = 5, activation = "relu" }]

[[edge]]
from = "a"
to = "b"
ops = [{ op = "dense", units = 6, activation = "relu" }]

[[edge]]
from = "b"
to = "logits"
ops = [{ op = "dense", units = 3 }]
"#;

fn chain() -> Subnetworks {
    Subnetworks::new(&Family::parse(CHAIN).expect("valid")).expect("valid")
}

#[test]
fn a_chain_of_three_edges_gives_subnetworks_up_to_depth_two() {
    assert_eq!(chain().depths(), [0, 1, 2]);
}

#[test]
fn a_conv_chain_gives_the_depths_from_its_flatten_on() {
    // x, conv1, pool1, conv2, pool2, flat, fc1, logits: the dense head takes flat and fc1.
    let f = Family::from_path(crate::zoo("lenet5-caffe.toml")).expect("valid");
    let s = Subnetworks::new(&f).expect("a chain");
    assert_eq!(s.depths(), [5, 6]);
    let g = s.grown(&[5, 6]).expect("valid");
    // conv1 20·25+20, conv2 50·20·25+50, head on flat 800·10+10; then the same convs, fc1
    // 800·500+500 and a head 500·10+10.
    let convs = 520 + 25_050;
    assert_eq!(
        g.supernet_cost().params,
        (convs + 8_010) + (convs + 400_500 + 5_010)
    );
    let err = s.grown(&[3]).expect_err("refused").to_string();
    assert!(err.contains("depth 3") && err.contains("5, 6"), "{err}");
}

#[test]
fn a_grown_family_sums_its_subnetworks_at_the_output() {
    let f = chain().grown(&[0, 2, 1]).expect("valid");
    let names: Vec<&str> = f.vertices.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["x", "a_2", "b_2", "a_3", "logits"]);
    assert_eq!(f.vertices[f.output].agg, Aggregation::Sum);
    let edges: Vec<String> = (0..f.edges.len()).map(|e| f.edge_name(e)).collect();
    assert_eq!(
        edges,
        [
            "x -> logits",
            "x -> a_2",
            "a_2 -> b_2",
            "b_2 -> logits",
            "x -> a_3",
            "a_3 -> logits",
        ]
    );
    // By hand: depth 0 is 4·3+3; depth 2 is 4·5+5 + 5·6+6 + 6·3+3; depth 1 is 4·5+5 + 5·3+3.
    assert_eq!(f.supernet_cost().params, 15 + (25 + 36 + 21) + (25 + 18));
    assert_eq!(Subnetworks::edges_of(&[0, 2, 1], 0), 0..1);
    assert_eq!(Subnetworks::edges_of(&[0, 2, 1], 1), 1..4);
    assert_eq!(Subnetworks::edges_of(&[0, 2, 1], 2), 4..6);
}

#[test]
fn growing_keeps_the_earlier_edges() {
    let before = chain().grown(&[1]).expect("valid");
    let after = chain().grown(&[1, 2]).expect("valid");
    for e in 0..before.edges.len() {
        assert_eq!(before.edges[e].ops, after.edges[e].ops);
        assert_eq!(before.edge_name(e), after.edge_name(e));
    }
}

#[test]
fn a_depth_beyond_the_chain_or_no_subnetwork_is_refused() {
    let err = chain().grown(&[3]).expect_err("refused").to_string();
    assert!(err.contains("depth 3") && err.contains("0, 1, 2"), "{err}");
    assert!(chain().grown(&[]).is_err());
}

#[test]
fn a_family_that_is_not_a_chain_is_refused() {
    let skip = CHAIN.replace(
        "[[edge]]\nfrom = \"b\"",
        "[[edge]]\nfrom = \"x\"\nto = \"logits\"\nops = [{ op = \"dense\", units = 3 }]\n\n[[edge]]\nfrom = \"b\"",
    );
    let err = Subnetworks::new(&Family::parse(&skip).expect("valid"))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("cannot be grown"), "{err}");
    let two_ops = CHAIN.replace(
        "ops = [{ op = \"dense\", units = 6, activation = \"relu\" }]",
        "ops = [{ op = \"dense\", units = 6, activation = \"relu\" }, { op = \"identity\" }]",
    );
    let two_ops = two_ops.replace("units = 5,", "units = 6,");
    let err = Subnetworks::new(&Family::parse(&two_ops).expect("valid"))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("has 2 ops"), "{err}");
    let relu_head = CHAIN.replace(
        "ops = [{ op = \"dense\", units = 3 }]",
        "ops = [{ op = \"dense\", units = 3, activation = \"relu\" }]",
    );
    let err = Subnetworks::new(&Family::parse(&relu_head).expect("valid"))
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("not a dense layer without activation"),
        "{err}"
    );
}
