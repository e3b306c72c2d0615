use ardent_data::{
    Dataset, LoadOptions, Normalizer, Pooling, TargetKind, Targets, encode_idx, encode_npy_f32,
    load_path, shuffle,
};

fn classes(labels: Vec<u32>, classes: usize) -> Targets {
    Targets::Classes { labels, classes }
}

#[test]
fn split_is_deterministic_and_disjoint() {
    let n = 100;
    let d = Dataset::new(
        "t",
        vec![1],
        (0..n).map(|i| i as f32).collect(),
        classes((0..n).map(|i| i % 3).collect(), 3),
        false,
    )
    .expect("valid");
    let (t1, v1) = d.split(0.2, 7);
    let (t2, v2) = d.split(0.2, 7);
    assert_eq!((t1.clone(), v1.clone()), (t2, v2));
    assert_eq!((t1.len(), v1.len()), (80, 20));
    let mut all: Vec<f32> = t1.features.iter().chain(&v1.features).copied().collect();
    all.sort_by(f32::total_cmp);
    assert_eq!(all, (0..n).map(|i| i as f32).collect::<Vec<_>>());
    let (_, v3) = d.split(0.2, 8);
    assert_ne!(v1, v3, "another seed gives another split");
    // Labels travel with their samples.
    if let Targets::Classes { labels, .. } = &v1.targets {
        for (x, l) in v1.features.iter().zip(labels) {
            assert_eq!(*x as u32 % 3, *l);
        }
    }
}

#[test]
fn shuffle_is_a_permutation() {
    let mut v: Vec<u32> = (0..1000).collect();
    shuffle(&mut v, 1);
    assert_ne!(v, (0..1000).collect::<Vec<_>>());
    v.sort_unstable();
    assert_eq!(v, (0..1000).collect::<Vec<_>>());
}

#[test]
fn non_finite_refused_unless_allowed() {
    let make = |allow| {
        Dataset::new(
            "t.csv",
            vec![2],
            vec![1.0, f32::NAN],
            classes(vec![0], 2),
            allow,
        )
    };
    let e = make(false).expect_err("nan").to_string();
    assert!(
        e.contains("t.csv") && e.contains("sample 0, feature 1 is NaN"),
        "{e}"
    );
    assert!(make(true).is_ok());
}

#[test]
fn labels_out_of_range() {
    let e = Dataset::new("t", vec![1], vec![0.0, 1.0], classes(vec![0, 5], 3), false)
        .expect_err("range")
        .to_string();
    assert!(
        e.contains("label 5 of sample 1 is out of range for 3 classes"),
        "{e}"
    );
    let d = Dataset::new("t", vec![1], vec![0.0, 1.0], classes(vec![0, 5], 6), false).expect("ok");
    let e = d.check_classes(4).expect_err("model").to_string();
    assert!(
        e.contains("label 5 of sample 1 is out of range for a model with 4 classes"),
        "{e}"
    );
}

#[test]
fn normalizer_per_feature_and_global() {
    let d = Dataset::new(
        "t",
        vec![2],
        vec![1.0, 10.0, 3.0, 10.0],
        classes(vec![0, 1], 2),
        false,
    )
    .expect("valid");
    let n = Normalizer::fit(&d, Pooling::PerFeature);
    assert_eq!(n.mean, vec![2.0, 10.0]);
    assert_eq!(n.std, vec![1.0, 1.0], "constant feature gets std 1");
    let mut d2 = d.clone();
    n.apply(&mut d2);
    assert_eq!(d2.features, vec![-1.0, 0.0, 1.0, 0.0]);
    let g = Normalizer::fit(&d, Pooling::Global);
    assert_eq!(g.mean, vec![6.0, 6.0]);
    let var: f32 = [25.0, 16.0, 9.0, 16.0].iter().sum::<f32>() / 4.0;
    assert!((g.std[0] - var.sqrt()).abs() < 1e-6);
}

#[test]
fn load_directory_layouts() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path();
    std::fs::write(
        p.join("train-images-idx3-ubyte"),
        encode_idx(&[3, 2, 2], &[1.0; 12]),
    )
    .expect("w");
    std::fs::write(
        p.join("train-labels-idx1-ubyte"),
        encode_idx(&[3], &[0.0, 1.0, 2.0]),
    )
    .expect("w");
    std::fs::write(
        p.join("t10k-images-idx3-ubyte"),
        encode_idx(&[1, 2, 2], &[0.0; 4]),
    )
    .expect("w");
    std::fs::write(p.join("t10k-labels-idx1-ubyte"), encode_idx(&[1], &[4.0])).expect("w");
    let s = load_path(p, TargetKind::Classes, &LoadOptions::default()).expect("idx dir");
    assert_eq!(s.train.sample_shape, vec![1, 2, 2]);
    assert_eq!(s.train.len(), 3);
    // The test split has label 4: both splits get 5 classes.
    assert_eq!(s.train.classes(), Some(5));
    assert_eq!(s.test.as_ref().and_then(Dataset::classes), Some(5));

    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path();
    std::fs::write(p.join("x_train.npy"), encode_npy_f32(&[2, 3], &[0.0; 6])).expect("w");
    std::fs::write(p.join("y_train.npy"), encode_npy_f32(&[2], &[1.5, 2.5])).expect("w");
    let s = load_path(p, TargetKind::Real, &LoadOptions::default()).expect("npy dir");
    assert_eq!(s.train.sample_shape, vec![3]);
    assert_eq!(
        s.train.targets,
        Targets::Real {
            values: vec![1.5, 2.5],
            width: 1
        }
    );

    let e = load_path(
        dir.path().join("nothing").as_path(),
        TargetKind::Real,
        &LoadOptions::default(),
    )
    .expect_err("missing")
    .to_string();
    assert!(e.contains("no such file or directory"), "{e}");
}

#[test]
fn image_label_count_mismatch() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path();
    std::fs::write(
        p.join("train-images-idx3-ubyte"),
        encode_idx(&[3, 2, 2], &[1.0; 12]),
    )
    .expect("w");
    std::fs::write(
        p.join("train-labels-idx1-ubyte"),
        encode_idx(&[2], &[0.0, 1.0]),
    )
    .expect("w");
    let e = load_path(p, TargetKind::Classes, &LoadOptions::default())
        .expect_err("mismatch")
        .to_string();
    assert!(e.contains("3 images but 2 labels"), "{e}");
}

fn csv_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.csv");
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

#[test]
fn a_fractional_class_label_names_its_line() {
    let (_d, path) = csv_file("a,quality\n1,0\n2,1\n3,2.5\n");
    let e = ardent_data::load_csv(&path, TargetKind::Classes, &LoadOptions::default())
        .expect_err("2.5 is no class")
        .to_string();
    assert!(
        e.contains("t.csv: line 4: label `2.5` in column `quality` is not a class index"),
        "{e}"
    );
    // The same column is fine as real targets.
    let d = ardent_data::load_csv(&path, TargetKind::Real, &LoadOptions::default()).expect("real");
    assert_eq!(d.len(), 3);
}

#[test]
fn whole_labels_written_as_decimals_are_classes_with_a_note() {
    let (_d, path) = csv_file("1,0.000\n2,2.000\n3,1.000\n");
    let d = ardent_data::load_csv(&path, TargetKind::Classes, &LoadOptions::default())
        .expect("integral column");
    assert_eq!(d.targets, classes(vec![0, 2, 1], 3));
    assert_eq!(d.notes.len(), 2, "{:?}", d.notes);
    assert!(d.notes[0].contains("no header"), "{:?}", d.notes);
    assert!(
        d.notes[1].contains("`0.000` on line 1") && d.notes[1].contains("class indices"),
        "{:?}",
        d.notes
    );
}

#[test]
fn argmax_takes_the_first_of_equal_maxima() {
    assert_eq!(ardent_data::argmax(&[0.1, 3.0, -1.0, 3.0]), 1);
    assert_eq!(ardent_data::argmax(&[-5.0, -2.0, -7.0]), 1);
    // NaN never compares greater, so it is never the prediction.
    assert_eq!(ardent_data::argmax(&[f32::NAN, 0.5, f32::NAN]), 1);
    assert_eq!(ardent_data::argmax(&[]), 0);
}

#[test]
fn write_atomic_replaces_the_whole_file_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("out.json");
    std::fs::write(&path, b"old contents, longer than the new").expect("write");
    ardent_data::write_atomic(&path, b"new").expect("atomic write");
    assert_eq!(std::fs::read(&path).expect("read"), b"new");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["out.json"]);
    assert!(ardent_data::write_atomic(&dir.path().join("missing/out.json"), b"x").is_err());
}
