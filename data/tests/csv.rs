use ardent_data::{CsvOptions, LabelColumn, parse_csv};

fn opts(label: LabelColumn) -> CsvOptions {
    CsvOptions {
        header: true,
        label,
    }
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
            header: false,
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
