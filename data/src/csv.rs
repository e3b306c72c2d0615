//! CSV tables of numbers: comma-separated, optional header, one label column. Quoted fields
//! (`"alcohol"`, `"a ""b"""`) are understood; every other field must be a number.
//!
//! Whether the first line names the columns is decided, never assumed: many writers of numeric
//! tables (`numpy.savetxt`, most exporters) write none, and taking a data row for names would
//! drop it without a word. Under [`Header::Auto`] a first line whose every field is a number is
//! data; anything else is a header. [`CsvTable::header`] says what was decided and how.

use crate::error::DataError;
use crate::gz::maybe_gunzip;

/// Which column holds the label.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LabelColumn {
    /// The last column (the default).
    #[default]
    Last,
    /// A column by its 0-based position.
    Index(usize),
    /// A column by its header name (needs a header).
    Name(String),
}

/// Whether the first non-empty line of a CSV file names its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Header {
    /// Decided from the line itself: data when every field is a number, a header otherwise.
    #[default]
    Auto,
    /// The first line is a header, whatever it holds (`--header`).
    Present,
    /// There is no header: the first line is data (`--no-header`).
    Absent,
}

/// What a reader decided about the first line, and whether it was told or guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderDecision {
    /// The first non-empty line was read as column names.
    pub present: bool,
    /// Decided from the line's contents ([`Header::Auto`]) rather than by the caller.
    pub guessed: bool,
    /// The 1-based line it was decided on.
    pub line: usize,
}

impl std::fmt::Display for HeaderDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let line = self.line;
        match (self.present, self.guessed) {
            (true, true) => write!(
                f,
                "line {line} read as column names, as it holds a field that is not a number \
                 (--no-header reads it as data)"
            ),
            (false, true) => write!(
                f,
                "no header: every field of line {line} is a number, so it is data \
                 (--header reads it as column names)"
            ),
            (true, false) => write!(f, "line {line} read as column names (as asked)"),
            (false, false) => write!(f, "no header (as asked)"),
        }
    }
}

/// How to read a CSV table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CsvOptions {
    pub header: Header,
    pub label: LabelColumn,
}

/// A parsed table: features row-major, one label per row.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// Feature column names (`column N` when there is no header).
    pub columns: Vec<String>,
    pub label_name: String,
    pub features: Vec<f32>,
    pub labels: Vec<f32>,
    /// The 1-based line of each row, for messages about a row found bad later (a label that
    /// is not a class index).
    pub lines: Vec<usize>,
    /// The first label written with a fraction part or an exponent (`2.000`, `1e0`), with its
    /// line: such a column is read as classes only when every value in it is whole.
    pub first_decimal_label: Option<(usize, String)>,
    pub header: HeaderDecision,
}

impl CsvTable {
    pub fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// True when every field of `fields` reads as a number, i.e. the line is data.
fn all_numbers(fields: &[String]) -> bool {
    fields.iter().all(|f| f.trim().parse::<f32>().is_ok())
}

/// Splits one CSV line into fields, unquoting quoted ones.
fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field".into()),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("unexpected `{c}` after a quoted field")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// Parses CSV bytes (gzip or plain). Line numbers in errors are 1-based and count the header.
pub fn parse_csv(
    bytes: &[u8],
    source_name: &str,
    options: &CsvOptions,
) -> Result<CsvTable, DataError> {
    let bytes = maybe_gunzip(bytes, source_name)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        DataError::Csv {
            source_name: source_name.to_string(),
            line,
            message: "not valid UTF-8".into(),
        }
    })?;
    let err = |line: usize, message: String| DataError::Csv {
        source_name: source_name.to_string(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let Some(&(first_line, first)) = lines.peek() else {
        return Err(err(1, "empty file: no header and no data rows".into()));
    };
    let first_fields = split_line(first).map_err(|m| err(first_line, m))?;
    let header = HeaderDecision {
        present: match options.header {
            Header::Auto => !all_numbers(&first_fields),
            Header::Present => true,
            Header::Absent => false,
        },
        guessed: options.header == Header::Auto,
        line: first_line,
    };
    let mut width = None;
    let mut names: Option<Vec<String>> = None;
    if header.present {
        lines.next();
        width = Some(first_fields.len());
        names = Some(
            first_fields
                .into_iter()
                .map(|h| h.trim().to_string())
                .collect(),
        );
    }

    let mut label_index = None;
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut row_lines = Vec::new();
    let mut first_decimal_label = None;
    for (n, line) in lines {
        let fields = split_line(line).map_err(|m| err(n, m))?;
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w {
            return Err(err(
                n,
                format!("expected {w} fields, found {}", fields.len()),
            ));
        }
        if w < 2 {
            return Err(err(
                n,
                "need at least one feature and a label column".into(),
            ));
        }
        let li = match label_index {
            Some(li) => li,
            None => {
                let li = resolve_label(&options.label, names.as_deref(), &header, w)
                    .map_err(|m| err(first_line, m))?;
                label_index = Some(li);
                li
            }
        };
        for (c, field) in fields.iter().enumerate() {
            let value: f32 = field.trim().parse().map_err(|_| {
                let column = names
                    .as_ref()
                    .map(|h| format!(" (`{}`)", h[c]))
                    .unwrap_or_default();
                err(
                    n,
                    format!("column {}{column}: `{field}` is not a number", c + 1),
                )
            })?;
            if c == li {
                if first_decimal_label.is_none() && field.trim().parse::<i64>().is_err() {
                    first_decimal_label = Some((n, field.trim().to_string()));
                }
                labels.push(value);
            } else {
                features.push(value);
            }
        }
        row_lines.push(n);
    }
    let Some(li) = label_index else {
        return Err(err(first_line, "no data rows after the header".into()));
    };
    let w = width.unwrap_or(0);
    let all_names = names.unwrap_or_else(|| (0..w).map(|c| format!("column {}", c + 1)).collect());
    Ok(CsvTable {
        columns: all_names
            .iter()
            .enumerate()
            .filter(|(c, _)| *c != li)
            .map(|(_, n)| n.clone())
            .collect(),
        label_name: all_names[li].clone(),
        features,
        labels,
        lines: row_lines,
        first_decimal_label,
        header,
    })
}

fn resolve_label(
    label: &LabelColumn,
    names: Option<&[String]>,
    header: &HeaderDecision,
    width: usize,
) -> Result<usize, String> {
    match label {
        LabelColumn::Last => Ok(width - 1),
        LabelColumn::Index(i) if *i < width => Ok(*i),
        LabelColumn::Index(i) => Err(format!(
            "label column {i} is out of range for {width} columns"
        )),
        LabelColumn::Name(name) => {
            let names = names.ok_or(if header.guessed {
                "a label column by name needs a header, and the first line is all numbers, \
                 so it was read as data (--header reads it as column names)"
            } else {
                "a label column by name needs a header, and the file is read without one"
            })?;
            names
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("no column named `{name}` in the header"))
        }
    }
}

/// Reads a CSV file from disk.
pub fn read_csv(path: &std::path::Path, options: &CsvOptions) -> Result<CsvTable, DataError> {
    let bytes = crate::gz::read_file(path)?;
    parse_csv(&bytes, &path.display().to_string(), options)
}
