use ardent_data::{CsvOptions, Header, LabelColumn, SplitMix64, parse_csv};

fn opts(label: LabelColumn) -> CsvOptions {
    CsvOptions {
        header: Header::Present,
        label,
    }
}

fn auto() -> CsvOptions {
    CsvOptions::default()
}

#[test]
fn header_quotes_and_label_by_name() {
    let text = "\"a\",\"the \"\"label\"\"\",b\n1,0,2.5\n-3,1,4e-1\n";
    let t = parse_csv(
        text.as_bytes(),
        "t.csv",
        &opts(LabelColumn::Name("the \"label\"".into())),
    )
    .expect("valid");
    assert_eq!(t.columns, vec!["a", "b"]);
    assert_eq!(t.features, vec![1.0, 2.5, -3.0, 0.4]);
    assert_eq!(t.labels, vec![0.0, 1.0]);
    assert_eq!(t.rows(), 2);
}

#[test]
fn no_header_label_last_and_crlf() {
    let text = "1,2,3\r\n4,5,6\r\n\r\n";
    let t = parse_csv(
        text.as_bytes(),
        "t.csv",
        &CsvOptions {
            header: Header::Absent,
            label: LabelColumn::Last,
        },
    )
    .expect("valid");
    assert_eq!(t.features, vec![1.0, 2.0, 4.0, 5.0]);
    assert_eq!(t.labels, vec![3.0, 6.0]);
    assert_eq!(t.label_name, "column 3");
}

#[test]
fn wrong_field_count_says_the_line() {
    let text = "a,b,y\n1,2,0\n3,4\n";
    let e = parse_csv(text.as_bytes(), "t.csv", &opts(LabelColumn::Last))
        .expect_err("short row")
        .to_string();
    assert_eq!(e, "t.csv: line 3: expected 3 fields, found 2");
}

#[test]
fn non_number_says_line_and_column() {
    let text = "a,b,y\n1,2,0\n3,x4,1\n";
    let e = parse_csv(text.as_bytes(), "t.csv", &opts(LabelColumn::Last))
        .expect_err("non-number")
        .to_string();
    assert_eq!(e, "t.csv: line 3: column 2 (`b`): `x4` is not a number");
}

#[test]
fn unknown_label_column_and_empty_file() {
    let e = parse_csv(
        b"a,b\n1,2\n",
        "t.csv",
        &opts(LabelColumn::Name("zz".into())),
    )
    .expect_err("no column")
    .to_string();
    assert!(e.contains("no column named `zz`"), "{e}");
    let e = parse_csv(b"", "t.csv", &opts(LabelColumn::Last))
        .expect_err("empty")
        .to_string();
    assert!(e.contains("empty file"), "{e}");
    let e = parse_csv(b"a,b\n", "t.csv", &opts(LabelColumn::Last))
        .expect_err("no rows")
        .to_string();
    assert!(e.contains("no data rows"), "{e}");
}

#[test]
fn unterminated_quote() {
    let e = parse_csv(b"a,b\n\"1,2\n", "t.csv", &opts(LabelColumn::Last))
        .expect_err("quote")
        .to_string();
    assert!(e.contains("line 2") && e.contains("unterminated"), "{e}");
}

/// What `numpy.savetxt(f, np.c_[x, y], delimiter=",")` writes: no header, labels as `%.18e`.
fn savetxt(rows: usize, features: usize) -> String {
    let mut out = String::new();
    for r in 0..rows {
        let mut fields: Vec<String> = (0..features)
            .map(|c| format!("{:.18e}", (r * features + c) as f64 * 0.25 - 3.0))
            .collect();
        fields.push(format!("{:.18e}", (r % 3) as f64));
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

#[test]
fn a_headerless_table_keeps_its_first_row() {
    let text = savetxt(50, 4);
    let t = parse_csv(text.as_bytes(), "x.csv", &auto()).expect("valid");
    assert_eq!(t.rows(), 50, "every data line is a sample");
    assert_eq!(&t.features[..4], &[-3.0, -2.75, -2.5, -2.25]);
    assert!(!t.header.present && t.header.guessed && t.header.line == 1);
    assert_eq!(t.columns, ["column 1", "column 2", "column 3", "column 4"]);
    assert_eq!(t.lines, (1..=50).collect::<Vec<_>>());
    let said = t.header.to_string();
    assert!(
        said.contains("no header") && said.contains("--header"),
        "{said}"
    );
}

#[test]
fn a_line_with_a_name_is_a_header_and_says_it_was_guessed() {
    let t = parse_csv(b"\n\na,b,y\n1,2,0\n", "t.csv", &auto()).expect("valid");
    assert_eq!(
        (t.rows(), t.columns.clone()),
        (1, vec!["a".into(), "b".into()])
    );
    assert!(t.header.present && t.header.guessed);
    assert_eq!(t.header.line, 3, "blank lines before it are skipped");
    assert_eq!(t.lines, vec![4]);
    assert!(t.header.to_string().contains("--no-header"));
    // One non-number is enough: a header may name some columns by numbers.
    let t = parse_csv(b"1,2,label\n1,2,0\n", "t.csv", &auto()).expect("valid");
    assert!(t.header.present);
}

#[test]
fn the_switches_override_the_guess() {
    let forced = parse_csv(b"1,2,3\n4,5,6\n", "t.csv", &opts(LabelColumn::Last)).expect("valid");
    assert_eq!(forced.columns, ["1", "2"]);
    assert_eq!(forced.rows(), 1);
    assert!(forced.header.present && !forced.header.guessed);
    let e = parse_csv(
        b"a,b,y\n1,2,0\n",
        "t.csv",
        &CsvOptions {
            header: Header::Absent,
            label: LabelColumn::Last,
        },
    )
    .expect_err("a name read as data")
    .to_string();
    assert_eq!(e, "t.csv: line 1: column 1: `a` is not a number");
}

#[test]
fn a_label_by_name_in_a_headerless_file_says_how_to_fix_it() {
    let e = parse_csv(
        b"1,2\n3,4\n",
        "t.csv",
        &CsvOptions {
            header: Header::Auto,
            label: LabelColumn::Name("y".into()),
        },
    )
    .expect_err("no names")
    .to_string();
    assert!(e.contains("line 1") && e.contains("--header"), "{e}");
}

#[test]
fn labels_written_as_decimals_are_found_with_their_line() {
    let t = parse_csv(b"a,y\n1,0\n2,2.000\n3,1e0\n", "t.csv", &auto()).expect("valid");
    assert_eq!(t.labels, vec![0.0, 2.0, 1.0]);
    assert_eq!(t.first_decimal_label, Some((3, "2.000".into())));
    let t = parse_csv(b"a,y\n1,0\n2,2\n", "t.csv", &auto()).expect("valid");
    assert_eq!(t.first_decimal_label, None);
}

/// The property the header fuzz target checks, over tables a seeded generator makes: the
/// samples read are the data lines, with or without a header line, whatever the numbers look
/// like (signs, exponents, `inf` and `nan`, integers, blank lines between rows).
#[test]
fn samples_read_equal_data_lines_for_random_tables() {
    let mut rng = SplitMix64(2026);
    let number = |rng: &mut SplitMix64| -> String {
        match rng.below(7) {
            0 => format!("{}", rng.below(1000) as i64 - 500),
            1 => format!("{:e}", (rng.uniform() - 0.5) * 1e6),
            2 => format!("{:.18e}", rng.uniform()),
            3 => ["nan", "inf", "-inf", "NaN"][rng.below(4) as usize].to_string(),
            4 => format!(" {} ", rng.uniform()),
            5 => format!("+{}", rng.below(9)),
            _ => format!("{}", rng.uniform() * 100.0),
        }
    };
    for case in 0..500 {
        let width = 2 + rng.below(6) as usize;
        let rows = 1 + rng.below(30) as usize;
        let header = rng.below(2) == 0;
        let mut text = String::new();
        if header {
            let names: Vec<String> = (0..width)
                .map(|c| {
                    if c == 0 || rng.below(2) == 0 {
                        format!("f{c}")
                    } else {
                        format!("{c}")
                    }
                })
                .collect();
            text.push_str(&names.join(","));
            text.push('\n');
        }
        for _ in 0..rows {
            let fields: Vec<String> = (0..width).map(|_| number(&mut rng)).collect();
            text.push_str(&fields.join(","));
            text.push_str(if rng.below(5) == 0 { "\r\n\n" } else { "\n" });
        }
        let t = parse_csv(text.as_bytes(), "r.csv", &auto())
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
        assert_eq!(t.rows(), rows, "case {case}:\n{text}");
        assert_eq!(t.header.present, header, "case {case}:\n{text}");
        assert_eq!(t.features.len(), rows * (width - 1), "case {case}");
    }
}
