//! Two small real datasets shipped inside the crate (see `data/bundled/README.md` for their
//! licence and citation), for the demo and the tests.

use crate::csv::{CsvOptions, Header, LabelColumn, parse_csv};
use crate::dataset::{Dataset, TargetKind, from_table};
use crate::error::DataError;

const WINE: &[u8] = include_bytes!("../bundled/winequality-red.csv.gz");
const DIGITS: &[u8] = include_bytes!("../bundled/digits.csv.gz");

/// UCI Wine Quality, red: 1,599 wines, 11 physico-chemical features, quality (3..8) as a real
/// target.
pub fn wine() -> Result<Dataset, DataError> {
    let name = "bundled:winequality-red";
    let options = CsvOptions {
        header: Header::Present,
        label: LabelColumn::Name("quality".into()),
    };
    let table = parse_csv(WINE, name, &options)?;
    from_table(name, table, TargetKind::Real, false)
}

/// UCI Optical Recognition of Handwritten Digits (scikit-learn's copy): 1,797 images of 8×8
/// pixels valued 0..16, as `[64]` vectors, 10 classes.
pub fn digits() -> Result<Dataset, DataError> {
    let name = "bundled:digits";
    let options = CsvOptions {
        header: Header::Absent,
        label: LabelColumn::Last,
    };
    let table = parse_csv(DIGITS, name, &options)?;
    from_table(name, table, TargetKind::Classes, false)
}

/// A bundled dataset by name (`wine` or `digits`).
pub fn by_name(name: &str) -> Option<Result<Dataset, DataError>> {
    match name {
        "wine" | "winequality-red" => Some(wine()),
        "digits" => Some(digits()),
        _ => None,
    }
}
