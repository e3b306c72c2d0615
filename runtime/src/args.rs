//! Command-line pieces shared by `ardent-run` and `ardent`: value parsers for numeric options
//! and the CSV header switches.
//!
//! Every numeric option is checked when clap parses it, so a bad value ends the command before
//! it reads or writes anything: clap prints one `error:` line naming the option and the value,
//! followed by the range the option takes, and exits with code 2. ARCHITECTURE.md lists each
//! option's range; the bounds that are not mathematical (an epoch count of at most a million)
//! keep a typo from starting a run that would never end.

use std::fmt::Display;

use ardent_data::Header;

/// A whole number in `LO..=HI`, as `usize`.
pub fn int_in<const LO: u64, const HI: u64>(s: &str) -> Result<usize, String> {
    let v = whole::<LO, HI>(s)?;
    usize::try_from(v).map_err(|_| range_text::<LO, HI>())
}

/// A whole number in `LO..=HI`, as `u64`.
pub fn u64_in<const LO: u64, const HI: u64>(s: &str) -> Result<u64, String> {
    whole::<LO, HI>(s)
}

fn whole<const LO: u64, const HI: u64>(s: &str) -> Result<u64, String> {
    let t = s.trim();
    match t.parse::<u64>() {
        Ok(v) if (LO..=HI).contains(&v) => Ok(v),
        Ok(_) => Err(range_text::<LO, HI>()),
        Err(_) if t.parse::<f64>().is_ok() || t.parse::<i128>().is_ok() => {
            Err(range_text::<LO, HI>())
        }
        Err(_) => Err(format!("not a number; {}", range_text::<LO, HI>())),
    }
}

fn range_text<const LO: u64, const HI: u64>() -> String {
    if HI == u64::MAX {
        format!("takes a whole number ≥ {LO}")
    } else {
        format!("takes a whole number from {LO} to {}", group(HI))
    }
}

/// `1000000` as `1,000,000`.
fn group(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A finite number for which `ok` holds; `what` describes the range in the message.
fn real(s: &str, ok: impl Fn(f64) -> bool, what: impl Display) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && ok(v) => Ok(v),
        Ok(_) => Err(format!("takes {what}")),
        Err(_) => Err(format!("not a number; takes {what}")),
    }
}

/// A probability threshold strictly between 0 and 1 (λ of the relative-density rule).
pub fn open_unit(s: &str) -> Result<f64, String> {
    real(
        s,
        |v| v > 0.0 && v < 1.0,
        "a number strictly between 0 and 1",
    )
}

/// [`open_unit`] as `f32`, checked after rounding (0.99999999 rounds to 1 in f32).
pub fn open_unit_f32(s: &str) -> Result<f32, String> {
    let v = open_unit(s)? as f32;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err("takes a number strictly between 0 and 1 (in f32)".into())
    }
}

/// A fraction in (0, 1].
pub fn fraction(s: &str) -> Result<f64, String> {
    real(s, |v| v > 0.0 && v <= 1.0, "a number in (0, 1]")
}

/// A fraction in [0, 1): a share held out, which must leave something in.
pub fn held_out_fraction(s: &str) -> Result<f64, String> {
    real(s, |v| (0.0..1.0).contains(&v), "a number in [0, 1)")
}

/// Adam's step size: (0, 1000]. Adam moves each weight by about the step size, so a larger
/// one is a typo (and one above about 1 diverges, which the training loop reports).
pub fn learning_rate(s: &str) -> Result<f64, String> {
    real(
        s,
        |v| v > 0.0 && v <= 1000.0,
        "a learning rate in (0, 1000]",
    )
}

/// A weight on a term of the objective: [0, 1000].
pub fn term_weight(s: &str) -> Result<f64, String> {
    real(s, |v| (0.0..=1000.0).contains(&v), "a weight in [0, 1000]")
}

/// A finite number ≥ 0 (a length in epochs).
pub fn non_negative(s: &str) -> Result<f64, String> {
    real(s, |v| v >= 0.0, "a finite number ≥ 0")
}

/// A concentration or temperature: in (0, 1000].
pub fn positive_scale(s: &str) -> Result<f64, String> {
    real(s, |v| v > 0.0 && v <= 1000.0, "a number in (0, 1000]")
}

/// A factor between two scales of input values, in [1e-6, 1e6], written as a number or as a
/// ratio `a/b` (`1/255`); the result is the `f32` a model computes with.
pub fn input_scale(s: &str) -> Result<f32, String> {
    const WHAT: &str = "a factor in [1e-6, 1e6], as a number or a ratio such as 1/255";
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (real(a, |_| true, WHAT)?, real(b, |b| b != 0.0, WHAT)?);
            a / b
        }
        None => real(s, |_| true, WHAT)?,
    };
    if (1e-6..=1e6).contains(&v) {
        Ok(v as f32)
    } else {
        Err(format!("takes {WHAT}"))
    }
}

/// The CSV header switches. Neither given: the reader decides from the first line (a line of
/// numbers is data, anything else names the columns) and says so.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct HeaderArgs {
    /// CSV: the first line names the columns, whatever it holds.
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    /// CSV: there is no header line; the first line is data.
    #[arg(long)]
    pub no_header: bool,
}

impl HeaderArgs {
    pub fn header(&self) -> Header {
        match (self.header, self.no_header) {
            (true, _) => Header::Present,
            (_, true) => Header::Absent,
            _ => Header::Auto,
        }
    }
}

/// `--no-sparse` and `--tract-ops`, shared by `run`, `bench` and `info`.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct SparseArgs {
    /// Run every product with tract's dense kernels, none with ardent's sparse product.
    #[arg(long)]
    pub no_sparse: bool,
    /// Run the graph with tract's own ops throughout: no sparse products, and tract's
    /// convolutions and max-pools instead of ardent's.
    #[arg(long)]
    pub tract_ops: bool,
}

impl SparseArgs {
    /// How to load a model under this switch, with the batch fixed or symbolic.
    pub fn load_options(self, batch: Option<usize>) -> crate::LoadOptions {
        crate::LoadOptions {
            batch,
            rewrite: crate::RewriteOptions {
                tract_only: self.tract_ops,
                keep_dense: self.no_sparse,
                ..crate::RewriteOptions::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_scales_are_numbers_or_ratios_in_range() {
        assert_eq!(input_scale("1/255"), Ok((1.0f64 / 255.0) as f32));
        assert_eq!(input_scale("0.5"), Ok(0.5));
        assert_eq!(input_scale(" 2 / 1 "), Ok(2.0));
        for bad in [
            "0", "-1", "1/0", "0/5", "nan", "inf", "1/nan", "1e7", "1e-7", "x", "1/2/3", "",
        ] {
            let e = input_scale(bad).expect_err(bad);
            assert!(e.contains("[1e-6, 1e6]"), "{bad}: {e}");
        }
    }

    #[test]
    fn whole_numbers_and_their_ranges() {
        assert_eq!(int_in::<1, 10>("3"), Ok(3));
        assert_eq!(int_in::<1, 10>(" 10 "), Ok(10));
        for bad in [
            "0",
            "11",
            "-1",
            "2.5",
            "1e3",
            "nan",
            "inf",
            "x",
            "99999999999999999999999",
        ] {
            let e = int_in::<1, 10>(bad).expect_err(bad);
            assert!(e.contains("from 1 to 10"), "{bad}: {e}");
        }
        assert_eq!(
            int_in::<0, { u64::MAX }>("1000000000000"),
            Ok(1_000_000_000_000)
        );
        assert_eq!(
            u64_in::<1, 1_000_000>("0").expect_err("0"),
            "takes a whole number from 1 to 1,000,000"
        );
    }

    #[test]
    fn reals_refuse_non_finite_and_out_of_range() {
        for bad in ["nan", "NaN", "inf", "-inf", "0", "1", "-0.5", "2", "x"] {
            assert!(open_unit(bad).is_err(), "{bad}");
        }
        assert_eq!(open_unit("0.975"), Ok(0.975));
        assert!(open_unit_f32("0.999999999").is_err());
        assert_eq!(fraction("1"), Ok(1.0));
        assert_eq!(held_out_fraction("0"), Ok(0.0));
        assert!(held_out_fraction("1").is_err());
        assert!(learning_rate("0").is_err() && learning_rate("1e30").is_err());
        assert_eq!(term_weight("0"), Ok(0.0));
        assert!(term_weight("1e30").is_err());
        assert_eq!(non_negative("1e30"), Ok(1e30));
        assert!(non_negative("inf").is_err());
    }
}
