use ardent_models::{Family, Shape};

use crate::zoo;

/// The shape of the vertex named `name`; a missing name fails the test.
fn shape_of(f: &Family, name: &str) -> Shape {
    f.vertices
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.shape.clone())
        .unwrap_or_else(|| panic!("no vertex {name}"))
}

#[test]
fn lenet_300_100_hand_count() {
    let f = Family::from_path(zoo("lenet-300-100.toml")).expect("valid spec");
    let by_hand = 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10;
    assert_eq!(by_hand, 266_610);
    let cost = f.supernet_cost();
    assert_eq!(cost.params, by_hand);
    // 2 per multiply-add, 1 per bias, 1 per ReLU output.
    let flops = 2 * (784 * 300 + 300 * 100 + 100 * 10) + (300 + 100 + 10) + (300 + 100);
    assert_eq!(cost.flops, flops as u64);
    let ex = f.extremes();
    assert_eq!(ex.members, 1);
    assert_eq!(ex.smallest.1, cost);
    assert_eq!(ex.largest.1, cost);
}

#[test]
fn lenet5_caffe_hand_count_and_shapes() {
    let f = Family::from_path(zoo("lenet5-caffe.toml")).expect("valid spec");
    let shapes: Vec<Shape> = f.vertices.iter().map(|v| v.shape.clone()).collect();
    assert_eq!(
        shapes,
        vec![
            Shape(vec![1, 28, 28]),
            Shape(vec![20, 24, 24]),
            Shape(vec![20, 12, 12]),
            Shape(vec![50, 8, 8]),
            Shape(vec![50, 4, 4]),
            Shape(vec![800]),
            Shape(vec![500]),
            Shape(vec![10]),
        ]
    );
    let conv1 = 20 * 25 + 20;
    let conv2 = 50 * 20 * 25 + 50;
    let fc1 = 800 * 500 + 500;
    let fc2 = 500 * 10 + 10;
    assert_eq!(conv1 + conv2 + fc1 + fc2, 431_080);
    let cost = f.supernet_cost();
    assert_eq!(cost.params, 431_080);
    let flops = (2 * 25 + 1) * 20 * 24 * 24 // conv1
        + 4 * 20 * 12 * 12 // pool1
        + (2 * 20 * 25 + 1) * 50 * 8 * 8 // conv2
        + 4 * 50 * 4 * 4 // pool2
        + 2 * 800 * 500 + 500 + 500 // fc1 + bias + relu
        + 2 * 500 * 10 + 10; // fc2
    assert_eq!(cost.flops, flops as u64);
}

#[test]
fn lenet5_caffe_weight_is_the_same_network_with_a_precision_per_weight() {
    let neuron = Family::from_path(zoo("lenet5-caffe.toml")).expect("valid spec");
    let weight = Family::from_path(zoo("lenet5-caffe-weight.toml")).expect("valid spec");
    assert_eq!(weight.supernet_cost(), neuron.supernet_cost());
    let shapes =
        |f: &Family| -> Vec<Shape> { f.vertices.iter().map(|v| v.shape.clone()).collect() };
    assert_eq!(shapes(&weight), shapes(&neuron));
    for edge in weight
        .edges
        .iter()
        .filter(|e| e.ops[0].family().params(&Shape(vec![1])) > 0)
    {
        assert_eq!(edge.ard[0].grouping, ardent_models::Grouping::Weight);
    }
}

#[test]
fn wine_glm_members_are_the_three_submodels() {
    let f = Family::from_path(zoo("wine-glm.toml")).expect("valid spec");
    let ex = f.extremes();
    assert_eq!(ex.members, 3);
    assert!(ex.exact);
    // Constant: 1 parameter; GLM on alcohol: 2; GLM on all 11: 12.
    assert_eq!(ex.smallest.1.params, 1);
    assert_eq!(ex.largest.1.params, 12);
    assert_eq!(f.member_cost(&[0b010]).params, 12);
    assert_eq!(f.member_cost(&[0b001]).params, 2);
    assert_eq!(f.supernet_cost().params, 15);
    // The smallest member that looks at the wine is the GLM on alcohol.
    let (choice, cost) = ex.smallest_live.expect("a member uses the input");
    assert_eq!(choice, vec![0b001]);
    assert_eq!(cost.params, 2);
}

#[test]
fn mlp_search_members_shrink_the_next_layer() {
    let f = Family::from_path(zoo("mlp-search.toml")).expect("valid spec");
    // Edges in spec order: x->a (3), a->b (5), b->c (4), c->logits (1), a->logits (2), b->logits (2).
    assert_eq!(f.member_count(), 3 * 5 * 4 * 2 * 2);
    // x->a picks dense 50, a->b dense 20, b->c identity, c->logits fixed, both skips zero.
    let choice = vec![1 << 2, 1 << 2, 1 << 2, 1, 1 << 1, 1 << 1];
    let by_hand = (784 * 50 + 50) + (50 * 20 + 20) + (20 * 10 + 10);
    assert_eq!(f.member_cost(&choice).params, by_hand);
    // The supernet's a is 300 wide (padding), b 300 (identity from a), c 300.
    let widths: Vec<usize> = f.vertices.iter().map(|v| v.shape.features()).collect();
    assert_eq!(widths, vec![784, 300, 300, 300, 10]);
    let ex = f.extremes();
    assert!(ex.exact);
    // Smallest: every path to the logits cut but the fixed c->logits, whose input is then zero:
    // only its bias (10) survives.
    assert_eq!(ex.smallest.1.params, 10);
    // Smallest that uses the input: x->a dense 50, then one dense 10 to the logits (through
    // identities or the skip: both cost the same).
    let (choice, cost) = ex.smallest_live.expect("live");
    assert_eq!(cost.params, (784 * 50 + 50) + (50 * 10 + 10));
    assert_eq!(choice[0], 1 << 2);
    // Largest: x->a 300, a->b 100, b->c 100, all skips on.
    let largest = (784 * 300 + 300)
        + (300 * 100 + 100)
        + (100 * 100 + 100)
        + (100 * 10 + 10)
        + (300 * 10 + 10)
        + (100 * 10 + 10);
    assert_eq!(ex.largest.1.params, largest);
}

#[test]
fn a_fixed_member_is_a_family_of_one_member_with_the_same_cost() {
    let f = Family::from_path(zoo("mlp-search.toml")).expect("valid spec");
    let choice = vec![1 << 1, 1 << 3, 1, 1, 1, 1 << 1];
    let m = f.fixed_member(&choice).expect("member");
    assert_eq!(m.member_count(), 1);
    assert!(m.edges.iter().all(|e| !e.structure.is_searched()));
    assert_eq!(m.member_cost(&choice).params, f.member_cost(&choice).params);
    // Its spec text reproduces it, as a checkpoint needs.
    assert_eq!(Family::parse(&m.source).expect("reparse").member_count(), 1);
    // Two ops on a simplex edge are not a member.
    let err = f
        .fixed_member(&[0b11, 1, 1, 1, 1, 1])
        .expect_err("two ops on a simplex");
    assert!(err.to_string().contains("sum to 1"), "{err}");
}

#[test]
fn conv_search_shapes_and_supernet_count() {
    let f = Family::from_path(zoo("conv-search.toml")).expect("valid spec");
    let out = |name: &str| shape_of(&f, name);
    assert_eq!(out("n2"), Shape(vec![16, 28, 28]));
    assert_eq!(out("pool1"), Shape(vec![16, 14, 14]));
    assert_eq!(out("n3"), Shape(vec![32, 14, 14]));
    assert_eq!(out("gap"), Shape(vec![32, 1, 1]));
    let conv = |cin: usize, cout: usize, k: usize| cin * cout * k * k + cout;
    let cell_edge = conv(16, 16, 3) + conv(16, 16, 5) + conv(16, 8, 3);
    let by_hand = conv(1, 16, 3)
        + cell_edge
        + conv(16, 16, 3)
        + cell_edge
        + conv(16, 32, 3)
        + conv(16, 32, 5)
        + conv(16, 16, 3)
        + (32 * 10 + 10);
    assert_eq!(f.supernet_cost().params, by_hand);
    assert_eq!(f.member_count(), 5 * 3 * 5 * 3);
}

#[test]
fn concat_vertex_adds_widths() {
    let src = r#"
name = "cat"
task = "classification"
classes = 3
input = [4]
[[vertex]]
name = "x"
[[vertex]]
name = "h"
agg = "concat"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "h"
ops = [{ op = "dense", units = 5 }]
[[edge]]
from = "x"
to = "y"
ops = [{ op = "dense", units = 3 }]
[[edge]]
from = "x"
to = "h"
ops = [{ op = "identity" }]
"#;
    // The third edge duplicates x -> h: rejected; with a distinct source it works.
    assert!(Family::parse(src).is_err());
    let src = src.replace(
        "[[edge]]\nfrom = \"x\"\nto = \"y\"\nops = [{ op = \"dense\", units = 3 }]",
        "[[edge]]\nfrom = \"h\"\nto = \"y\"\nops = [{ op = \"dense\", units = 3 }]",
    );
    let src = src.replace(
        "[[edge]]\nfrom = \"x\"\nto = \"h\"\nops = [{ op = \"identity\" }]",
        "",
    );
    let f = Family::parse(&src).expect("valid");
    assert_eq!(f.vertices[1].shape, Shape(vec![5]));
}

/// The conv front's two specs: the same three conv blocks, a dense head or a global-average one.
#[test]
fn conv_bn_specs_hand_count() {
    let convs = 32 * 9 + 32 * 64 * 9 + 64 * 64 * 9;
    let norms = 2 * (32 + 64 + 64);
    let dense_head = 576 * 128 + 128 + 128 * 10 + 10;
    let gap_head = 64 * 10 + 10;
    for (spec, params, last) in [
        ("conv-bn.toml", convs + norms + dense_head, Shape(vec![10])),
        (
            "conv-bn-gap.toml",
            convs + norms + gap_head,
            Shape(vec![10]),
        ),
    ] {
        let f = Family::from_path(zoo(spec)).expect("valid spec");
        assert_eq!(f.supernet_cost().params, params, "{spec}");
        assert_eq!(f.vertices.last().map(|v| v.shape.clone()), Some(last));
    }
    assert_eq!(convs + norms + dense_head, 131_050);
    assert_eq!(convs + norms + gap_head, 56_554);
}

#[test]
fn conv_darts_hand_count() {
    let f = Family::from_path(zoo("conv-darts.toml")).expect("valid spec");
    let conv = |i: usize, o: usize, k: usize, bias: bool| i * o * k * k + if bias { o } else { 0 };
    let stem = conv(1, 32, 3, false) + 2 * 32;
    // Cell 1 at 14x14: p0→n1 {3x3, 5x5, identity, zero}, p0→n2 {3x3, identity, zero},
    // n1→n2 {3x3, 5x5, identity, zero}.
    let cell1 = 3 * conv(32, 32, 3, true) + 2 * conv(32, 32, 5, true);
    let reduction = conv(32, 64, 3, false) + conv(32, 64, 5, false) + 2 * 64;
    let cell2 = 3 * conv(64, 64, 3, true) + 2 * conv(64, 64, 5, true);
    let head = 64 * 7 * 7 * 128 + 128 + 128 * 10 + 10;
    assert_eq!(
        f.supernet_cost().params,
        stem + cell1 + reduction + cell2 + head
    );
    assert_eq!(stem + cell1 + reduction + cell2 + head, 867_658);
    assert_eq!(
        f.edges.iter().filter(|e| e.structure.is_searched()).count(),
        7
    );
}

#[test]
fn conv_vgg_hand_count_and_shapes() {
    let f = Family::from_path(zoo("conv-vgg.toml")).expect("valid spec");
    let convs = 32 * 9 + 32 * 32 * 9 + 32 * 64 * 9 + 64 * 64 * 9;
    let norms = 2 * (32 + 32 + 64 + 64);
    let head = 64 * 7 * 7 * 128 + 128 + 128 * 10 + 10;
    assert_eq!(f.supernet_cost().params, convs + norms + head);
    assert_eq!(convs + norms + head, 468_010);
    let shape = |name: &str| shape_of(&f, name);
    assert_eq!(shape("b2"), Shape(vec![32, 28, 28]));
    assert_eq!(shape("p2"), Shape(vec![64, 7, 7]));
    assert_eq!(shape("flat"), Shape(vec![3136]));
}

#[test]
fn conv_vgg3_hand_count_and_shapes() {
    let f = Family::from_path(zoo("conv-vgg3.toml")).expect("valid spec");
    let convs = 32 * 9 + 32 * 64 * 9 + 64 * 64 * 9 + 64 * 128 * 9 + 128 * 128 * 9;
    let norms = 2 * (32 + 64 + 64 + 128 + 128);
    // The third pool floors 7x7 to 3x3, as ONNX's MaxPool does.
    let head = 128 * 3 * 3 * 128 + 128 + 128 * 10 + 10;
    assert_eq!(f.supernet_cost().params, convs + norms + head);
    assert_eq!(convs + norms + head, 426_474);
    let shape = |name: &str| shape_of(&f, name);
    assert_eq!(shape("b1"), Shape(vec![32, 28, 28]));
    assert_eq!(shape("b3"), Shape(vec![64, 14, 14]));
    assert_eq!(shape("b5"), Shape(vec![128, 7, 7]));
    assert_eq!(shape("p3"), Shape(vec![128, 3, 3]));
    assert_eq!(shape("flat"), Shape(vec![1152]));
}
