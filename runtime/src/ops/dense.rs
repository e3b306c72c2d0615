//! `DenseProduct`: `y[m, n] = act(Σ_k x[m, k] · w[k, n] + b[n])` with a constant `w`, a layer
//! of [`super::mlp::Mlp`] that is not sparse enough for [`super::sparse_dense::SparseDense`].
//!
//! Up to three samples run one by one, each input adding its column of weights to the
//! outputs. Larger batches run on tract-linalg's matrix kernels with the weights as the kernel's rows:
//! `yᵀ = w · xᵀ`, `w` (`n × k`) packed once when the layer is built, `x` packed per run, and
//! the result stored straight into `y`'s row-major `[m, n]` (a row of `yᵀ` is a column of `y`).
//! The bias and the ReLU run inside the kernel. The kernel is the one tract-linalg picks for
//! the shape with the batch in it, as for tract's own products at a fixed batch: a
//! matrix-vector kernel for one sample, tiles for batches; the weights are packed once per
//! kernel.
//!
//! tract-linalg's kernels are reached through `unsafe` calls (they take raw packed panels and
//! an output pointer); the calls are in [`DenseProduct::compute`], each with what makes it
//! sound.
#![allow(unsafe_code)]

use std::sync::{Arc, Mutex};

use tract_linalg::BinOp;
use tract_linalg::mmm::{AsInputValue, FusedSpec, MMMInputValue, MatMatMul, ScratchSpace};
use tract_linalg::pack::PackedFormat;
use tract_nnef::tract_core::internal::*;

use super::kernel::{PlainKernel, Side};

/// The batch whose kernel `info` names.
pub const REPORTED_BATCH: usize = 64;

/// Batches up to this size run sample by sample in [`DenseProduct::one`]; packing them for a
/// matrix kernel and storing its tiles cost more than the products (BENCHMARKS.md, "Whole
/// layer chains in ardent-run").
const MAX_PER_SAMPLE: usize = 3;

/// A dense layer with its weights packed for tract-linalg.
#[derive(Debug, Clone)]
pub struct DenseProduct {
    k: usize,
    n: usize,
    /// `w` transposed, `[k, n]`: input `c`'s weights to every output, as the per-sample loop
    /// reads them; each kernel packs its copy from it.
    columns: Arc<Tensor>,
    /// `[n]`, when there is one.
    bias: Option<Arc<Tensor>>,
    relu: bool,
    /// Non-zero weights.
    kept: usize,
    /// The kernels picked so far, with the weights packed for each.
    kernels: Arc<Mutex<Kernels>>,
}

/// tract-linalg picks a kernel for the whole shape, the batch included (a matrix-vector one
/// for one sample, tiles of other widths for other batches), as tract's own products do at a
/// fixed batch; each batch size's pick is kept, and each kernel's packed weights.
#[derive(Debug, Default)]
struct Kernels {
    packed: Vec<Arc<Packed>>,
    /// Index into `packed` of the kernel for a batch size.
    by_batch: std::collections::HashMap<usize, usize>,
}

/// A kernel, which of its packings, the weights packed that way, and how `x` is packed.
#[derive(Debug)]
struct Packed {
    mmm: Box<dyn MatMatMul>,
    packing: usize,
    weights: Arc<Box<dyn MMMInputValue>>,
    x_format: PackedFormat,
    /// The kernel's scratch space from the last run, for the next.
    scratch: Mutex<Option<Scratch>>,
}

struct Scratch(Box<dyn ScratchSpace>);

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch").finish_non_exhaustive()
    }
}

impl Packed {
    fn new(kernel: PlainKernel, columns: &Tensor) -> TractResult<Packed> {
        let PlainKernel {
            mmm,
            packing,
            by_hand: x_format,
        } = kernel;
        // `columns` is [k, n]: k on axis 0, the kernel's rows (n) on axis 1.
        let weights = Arc::new(mmm.packings()[packing].0.prepare_one(columns, 0, 1)?);
        Ok(Packed {
            mmm,
            packing,
            weights,
            x_format,
            scratch: Mutex::new(None),
        })
    }
}

impl PartialEq for DenseProduct {
    fn eq(&self, other: &Self) -> bool {
        self.k == other.k
            && self.n == other.n
            && self.columns == other.columns
            && self.bias == other.bias
            && self.relu == other.relu
    }
}

impl Eq for DenseProduct {}

impl DenseProduct {
    /// The layer with weights `w` laid out `[n, k]` (row `r` holds output `r`'s weights),
    /// `bias` of `n` values if any, and `max(·, 0)` after it when `relu`.
    pub fn new(
        n: usize,
        k: usize,
        w: &[f32],
        bias: Option<&[f32]>,
        relu: bool,
    ) -> TractResult<Self> {
        ensure!(
            w.len() == n * k,
            "ArdentMlp: {} weights for a {n}×{k} matrix",
            w.len()
        );
        ensure!(n > 0 && k > 0, "ArdentMlp: an empty {n}×{k} matrix");
        if let Some(bias) = bias {
            ensure!(
                bias.len() == n,
                "ArdentMlp: {} bias values for {n} outputs",
                bias.len()
            );
        }
        let columns = tract_ndarray::Array2::from_shape_vec((n, k), w.to_vec())?
            .reversed_axes()
            .as_standard_layout()
            .into_owned()
            .into_tensor();
        let layer = DenseProduct {
            k,
            n,
            columns: Arc::new(columns),
            bias: bias.map(|b| Arc::new(tensor1(b))),
            relu,
            kept: w.iter().filter(|v| **v != 0.0).count(),
            kernels: Arc::new(Mutex::new(Kernels::default())),
        };
        // Picked now, so that a shape no kernel takes fails when the model loads.
        for batch in [1, REPORTED_BATCH] {
            layer.kernel(batch)?;
        }
        Ok(layer)
    }

    /// The kernel for `batch` samples.
    fn kernel(&self, batch: usize) -> TractResult<Arc<Packed>> {
        let mut kernels = match self.kernels.lock() {
            Ok(k) => k,
            // Entries are added whole, so a panic elsewhere left them consistent.
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(&i) = kernels.by_batch.get(&batch) {
            return Ok(kernels.packed[i].clone());
        }
        let picked = PlainKernel::pick("ArdentMlp", self.n, self.k, Some(batch), Side::B)?;
        let same =
            |p: &Arc<Packed>| p.mmm.name() == picked.mmm.name() && p.packing == picked.packing;
        let i = match kernels.packed.iter().position(same) {
            Some(i) => i,
            None => {
                kernels
                    .packed
                    .push(Arc::new(Packed::new(picked, &self.columns)?));
                kernels.packed.len() - 1
            }
        };
        kernels.by_batch.insert(batch, i);
        Ok(kernels.packed[i].clone())
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Non-zero weights.
    pub fn nnz(&self) -> usize {
        self.kept
    }

    /// Whether `max(·, 0)` follows the bias.
    pub fn relu(&self) -> bool {
        self.relu
    }

    /// Whether a bias is added.
    pub fn has_bias(&self) -> bool {
        self.bias.is_some()
    }

    /// The matrix kernels for one sample and for a batch of [`REPORTED_BATCH`].
    pub fn kernel_names(&self) -> TractResult<(String, String)> {
        Ok((
            self.kernel(1)?.mmm.name().to_string(),
            self.kernel(REPORTED_BATCH)?.mmm.name().to_string(),
        ))
    }

    /// One sample, compiled for the widest vectors the CPU has; `columns` and `bias` are the
    /// layer's, as plain values.
    fn one(&self, x: &[f32], y: &mut [f32], columns: &[f32], bias: Option<&[f32]>) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F, checked just now.
                return unsafe { self.one_avx512(x, y, columns, bias) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, checked just now.
                return unsafe { self.one_avx2(x, y, columns, bias) };
            }
        }
        self.one_any(x, y, columns, bias)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn one_avx512(&self, x: &[f32], y: &mut [f32], columns: &[f32], bias: Option<&[f32]>) {
        self.one_any(x, y, columns, bias)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn one_avx2(&self, x: &[f32], y: &mut [f32], columns: &[f32], bias: Option<&[f32]>) {
        self.one_any(x, y, columns, bias)
    }

    /// One sample, input by input: each input adds its column of weights, times itself, to
    /// every output (vectorised over the outputs); an input of zero is skipped (a ReLU's
    /// zeros, often half the inputs), which leaves out `0 · w` terms that add nothing for the
    /// finite weights a model has. Inlined into each caller, so that it is compiled for that
    /// caller's target features.
    #[inline(always)]
    fn one_any(&self, x: &[f32], y: &mut [f32], columns: &[f32], bias: Option<&[f32]>) {
        match bias {
            Some(b) => y.copy_from_slice(b),
            None => y.fill(0.0),
        }
        for (&v, column) in x.iter().zip(columns.chunks_exact(self.n)) {
            if v == 0.0 {
                continue;
            }
            for (out, &w) in y.iter_mut().zip(column) {
                *out += w * v;
            }
        }
        if self.relu {
            for out in y.iter_mut() {
                *out = out.max(0.0);
            }
        }
    }

    /// The layer on `x` (`[m, k]`), into `y` (`[m, n]`).
    pub fn compute(&self, x: &Tensor, y: &mut Tensor) -> TractResult<()> {
        let shape = x.shape();
        ensure!(
            shape.len() == 2 && shape[1] == self.k && x.datum_type() == f32::datum_type(),
            "ArdentMlp: a dense layer of {} inputs given {:?} {shape:?}",
            self.k,
            x.datum_type()
        );
        let m = shape[0];
        ensure!(
            y.shape() == [m, self.n] && y.datum_type() == f32::datum_type(),
            "ArdentMlp: output {:?} {:?} for {m} samples of {}",
            y.datum_type(),
            y.shape(),
            self.n
        );
        if m == 0 {
            return Ok(());
        }
        if m <= MAX_PER_SAMPLE {
            let columns = self.columns.try_as_plain_ram()?;
            let columns = columns.as_slice::<f32>()?;
            let bias = match &self.bias {
                Some(b) => Some(b.try_as_plain_ram()?),
                None => None,
            };
            let bias = bias.as_ref().map(|b| b.as_slice::<f32>()).transpose()?;
            let xs = x.try_as_plain_ram()?;
            let mut ys = y.try_as_plain_ram_mut()?;
            let ys = ys.as_slice_mut::<f32>()?;
            for (x, y) in xs
                .as_slice::<f32>()?
                .chunks_exact(self.k)
                .zip(ys.chunks_exact_mut(self.n))
            {
                self.one(x, y, columns, bias);
            }
            return Ok(());
        }
        let kernel = self.kernel(m)?;
        let packed_x = kernel.x_format.pack_tensor(x, 1, 0)?;
        let zero = tensor0(0f32);
        let cached = match kernel.scratch.lock() {
            Ok(mut s) => s.take(),
            // A run that panicked left a scratch space the kernel sets up anew on each run.
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Scratch(mut scratch) = match cached {
            Some(s) => s,
            // SAFETY: the scratch space is this kernel's own, used by it alone.
            None => Scratch(unsafe { kernel.mmm.allocate_scratch_space() }),
        };
        // SAFETY: strides only, nothing is written yet. Row r of yᵀ (output r) is y's column
        // r, one value apart; column s (sample s) is y's row s, n values apart.
        let store = unsafe {
            kernel
                .mmm
                .c_from_data_and_strides(std::mem::size_of::<f32>(), 1, self.n as isize)
        };
        // SAFETY: `y` covers the n × m values the kernel stores, alive for the call; the
        // packed operands are in the kernel's own formats for `packing` (the weights packed
        // when built, x just now) with k in common; the bias has one value per row.
        unsafe {
            let mut specs: TVec<FusedSpec> = tvec![FusedSpec::AddMatMul {
                a: AsInputValue::Borrowed(&**kernel.weights),
                b: AsInputValue::Borrowed(&*packed_x),
                packing: kernel.packing,
            }];
            if let Some(bias) = &self.bias {
                specs.push(FusedSpec::BinPerRow(bias.view(), BinOp::Add));
            }
            if self.relu {
                specs.push(FusedSpec::BinScalar(&zero, BinOp::Max));
            }
            specs.push(FusedSpec::Store(store.wrap(&y.view_mut())));
            kernel
                .mmm
                .run_with_scratch_space(self.n, m, &mut *scratch, &specs)?;
        }
        if let Ok(mut s) = kernel.scratch.lock() {
            *s = Some(Scratch(scratch));
        }
        Ok(())
    }
}
