//! CSV tables of numbers: comma-separated, optional header, one label column. Quoted fields
//! (`"alcohol"`, `"a ""b"""`) are understood; every other field must be a number.

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

/// How to read a CSV table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    pub header: bool,
    pub label: LabelColumn,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            label: LabelColumn::Last,
        }
    }
}

/// A parsed table: features row-major, one label per row.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// Feature column names (`column N` when there is no header).
    pub columns: Vec<String>,
    pub label_name: String,
    pub features: Vec<f32>,
    pub labels: Vec<f32>,
}

impl CsvTable {
    pub fn rows(&self) -> usize {
        self.labels.len()
    }
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
        .filter(|(_, l)| !l.trim().is_empty());

    let mut width = None;
    let mut names: Option<Vec<String>> = None;
    if options.header {
        let (n, line) = lines
            .next()
            .ok_or_else(|| err(1, "empty file: expected a header line".into()))?;
        let header = split_line(line).map_err(|m| err(n, m))?;
        width = Some(header.len());
        names = Some(header.into_iter().map(|h| h.trim().to_string()).collect());
    }

    let mut label_index = None;
    let mut features = Vec::new();
    let mut labels = Vec::new();
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
                let li =
                    resolve_label(&options.label, names.as_deref(), w).map_err(|m| err(1, m))?;
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
                labels.push(value);
            } else {
                features.push(value);
            }
        }
    }
    let Some(li) = label_index else {
        return Err(err(1, "no data rows".into()));
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
    })
}

fn resolve_label(
    label: &LabelColumn,
    names: Option<&[String]>,
    width: usize,
) -> Result<usize, String> {
    match label {
        LabelColumn::Last => Ok(width - 1),
        LabelColumn::Index(i) if *i < width => Ok(*i),
        LabelColumn::Index(i) => Err(format!(
            "label column {i} is out of range for {width} columns"
        )),
        LabelColumn::Name(name) => {
            let names = names.ok_or("a label column by name needs a header")?;
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
