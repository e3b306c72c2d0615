use ardent_data::{Targets, bundled};

#[test]
fn wine_has_1599_rows_and_11_features() {
    let d = bundled::wine().expect("bundled wine");
    assert_eq!(d.len(), 1599);
    assert_eq!(d.sample_shape, vec![11]);
    // First row of the UCI file: 7.4, 0.7, 0, 1.9, ..., alcohol 9.4, quality 5.
    assert_eq!(d.sample(0)[0], 7.4);
    assert_eq!(d.sample(0)[10], 9.4);
    let Targets::Real { values, width } = &d.targets else {
        panic!("wine quality is a real target")
    };
    assert_eq!(*width, 1);
    assert_eq!(values[0], 5.0);
    assert!(values.iter().all(|q| (3.0..=8.0).contains(q)));
}

#[test]
fn digits_has_1797_images_of_10_classes() {
    let d = bundled::digits().expect("bundled digits");
    assert_eq!(d.len(), 1797);
    assert_eq!(d.sample_shape, vec![64]);
    assert_eq!(d.classes(), Some(10));
    assert!(d.features.iter().all(|&v| (0.0..=16.0).contains(&v)));
    let Targets::Classes { labels, .. } = &d.targets else {
        panic!("digits are classes")
    };
    let mut counts = [0usize; 10];
    for &l in labels {
        counts[l as usize] += 1;
    }
    // scikit-learn documents about 180 images per class.
    assert!(
        counts.iter().all(|&c| (170..=190).contains(&c)),
        "{counts:?}"
    );
    let img = d.clone().reshaped(vec![1, 8, 8]).expect("8x8");
    assert_eq!(img.sample_shape, vec![1, 8, 8]);
    assert!(d.reshaped(vec![3, 3]).is_err());
}
