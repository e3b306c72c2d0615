//! The matrix kernels of tract-linalg that ardent's ops call themselves.

use tract_linalg::mmm::{MatMatMul, MmmDispatch, Query};
use tract_linalg::pack::PackedFormat;
use tract_nnef::tract_core::internal::*;

/// Which operand of the kernel an op packs itself, row by row into the kernel's panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The kernel's A (its `m` rows).
    A,
    /// The kernel's B (its `n` columns).
    B,
}

/// A kernel for an f32 product, with the format of the operand its op packs by hand.
#[derive(Debug)]
pub struct PlainKernel {
    pub mmm: Box<dyn MatMatMul>,
    /// Which of the kernel's packings.
    pub packing: usize,
    /// How the operand on the side the op packs is laid out: plain f32 panels.
    pub by_hand: PackedFormat,
}

impl PlainKernel {
    /// tract-linalg's pick for the f32 product `m × k · k × n`, refused (with `op` in the
    /// message) unless it needs no panel extractor and packs the `by_hand` operand as plain
    /// f32 panels.
    pub fn pick(
        op: &str,
        m: usize,
        k: usize,
        n: Option<usize>,
        by_hand: Side,
    ) -> TractResult<Self> {
        let query = Query::plain(f32::datum_type(), Some(m), Some(k), n);
        let (mmm, packing, extractor) = MmmDispatch::native()
            .pick(&query)
            .with_context(|| format!("{op}: tract-linalg has no f32 matrix kernel"))?;
        ensure!(
            extractor.is_none(),
            "{op}: {} needs a panel extractor for f32",
            mmm.name()
        );
        let (a, b) = &mmm.packings()[packing];
        let format = match by_hand {
            Side::A => a,
            Side::B => b,
        };
        let format = format
            .downcast_ref::<PackedFormat>()
            .with_context(|| format!("{op}: {} does not pack plainly", mmm.name()))?
            .clone();
        ensure!(
            format.dt == f32::datum_type(),
            "{op}: {} packs {:?}",
            mmm.name(),
            format.dt
        );
        Ok(PlainKernel {
            mmm,
            packing,
            by_hand: format,
        })
    }
}
