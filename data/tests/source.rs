//! `Source`: a bundled set by name or a path, with a cap on training samples.

use ardent_data::{Source, TargetKind, bundled};

#[test]
fn a_bundled_name_reads_the_bundled_set() {
    let s = Source::new("digits")
        .load(TargetKind::Classes)
        .expect("digits");
    let direct = bundled::by_name("digits").expect("bundled").expect("reads");
    assert_eq!(s.train.len(), direct.len());
    assert_eq!(s.train.features, direct.features);
    assert!(s.test.is_none());
}

#[test]
fn max_samples_caps_the_training_split_only() {
    let source = Source {
        max_samples: Some(100),
        ..Source::new("digits")
    };
    let s = source.load(TargetKind::Classes).expect("digits");
    assert_eq!(s.train.len(), 100);
    let whole = Source::new("digits")
        .load(TargetKind::Classes)
        .expect("digits");
    assert_eq!(s.train.features[..], whole.train.features[..100 * 64]);
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let e = Source::new("/no/such/data.csv")
        .load(TargetKind::Classes)
        .expect_err("missing");
    assert!(e.to_string().contains("/no/such/data.csv"), "{e}");
}
