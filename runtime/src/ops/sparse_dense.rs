//! `SparseDense`: `y[m, n] = Σ_k x[m, k] · w[k, n]` with a constant `w` held in compressed
//! rows (CSR over the outputs), replacing tract's dense product where most weights are zero.
//!
//! Two loops, both plain Rust that the compiler vectorises where the target has SIMD (SSE2 on
//! every x86-64, NEON on aarch64 and armv7 with NEON) and leaves scalar elsewhere:
//! - fewer than [`LANES`] samples: per sample and output, a dot product over the row's kept
//!   weights, gathering `x` by column;
//! - otherwise, blocks of [`LANES`] samples: the block's columns that any weight reads are
//!   transposed once into `[used column, lane]`, and every kept weight then adds `w · x` to
//!   [`LANES`] accumulators at once, so a weight costs one vector multiply-add per block.
//!
//! Sums are the dense product's sums without the zero terms, in another order: equal up to
//! f32 rounding (tests hold them to tract's own product within 1e-5).

use tract_nnef::tract_core::internal::*;

/// Samples per block of the batched loop; 16 f32 lanes are four SSE or NEON registers, enough
/// independent accumulators to hide the multiply-add latency.
pub const LANES: usize = 16;

/// Batches (or a batch's last samples) from this size on run as blocks of [`LANES`].
const MIN_BLOCK: usize = 4;

/// What happens to each output of the product as it is stored: a bias per output, then
/// `max(·, 0)`.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    pub bias: Option<&'a [f32]>,
    pub relu: bool,
}

impl Epilogue<'_> {
    /// The plain product.
    pub const NONE: Epilogue<'static> = Epilogue {
        bias: None,
        relu: false,
    };

    #[inline(always)]
    fn apply(&self, output: usize, v: f32) -> f32 {
        let v = match self.bias {
            Some(b) => v + b[output],
            None => v,
        };
        if self.relu { v.max(0.0) } else { v }
    }
}

/// The product with a constant sparse right-hand side. Inputs: `x` as `[batch, k]` (any
/// batch, symbolic or fixed); output `[batch, n]`.
#[derive(Debug, Clone)]
pub struct SparseDense {
    k: usize,
    n: usize,
    /// Kept weights of output `r` are `start[r]..start[r + 1]`.
    start: Vec<u32>,
    /// Input column of each kept weight.
    cols: Vec<u32>,
    /// Position of each kept weight's column in `used`.
    compact: Vec<u32>,
    values: Vec<f32>,
    /// The input columns any kept weight reads, ascending.
    used: Vec<u32>,
}

impl PartialEq for SparseDense {
    fn eq(&self, other: &Self) -> bool {
        // Bitwise on the values, so that equality is reflexive (NaN) as `Eq` requires.
        self.k == other.k
            && self.n == other.n
            && self.start == other.start
            && self.cols == other.cols
            && self.values.len() == other.values.len()
            && self
                .values
                .iter()
                .zip(&other.values)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Eq for SparseDense {}

impl SparseDense {
    /// Builds the op from `w` laid out `[n, k]` (row `r` holds output `r`'s weights), keeping
    /// the entries that are not zero.
    pub fn from_rows(n: usize, k: usize, w: &[f32]) -> TractResult<SparseDense> {
        ensure!(
            w.len() == n * k,
            "SparseDense: {} weights for a {n}×{k} matrix",
            w.len()
        );
        ensure!(n > 0 && k > 0, "SparseDense: an empty {n}×{k} matrix");
        ensure!(
            w.len() <= u32::MAX as usize,
            "SparseDense: {n}×{k} is too large for 32-bit indices"
        );
        let mut start = Vec::with_capacity(n + 1);
        let mut cols = Vec::new();
        let mut values = Vec::new();
        start.push(0);
        for row in w.chunks_exact(k) {
            for (c, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    cols.push(c as u32);
                    values.push(v);
                }
            }
            start.push(cols.len() as u32);
        }
        let mut seen = vec![false; k];
        for &c in &cols {
            seen[c as usize] = true;
        }
        let used: Vec<u32> = (0..k as u32).filter(|&c| seen[c as usize]).collect();
        let mut position = vec![0u32; k];
        for (i, &c) in used.iter().enumerate() {
            position[c as usize] = i as u32;
        }
        let compact = cols.iter().map(|&c| position[c as usize]).collect();
        Ok(SparseDense {
            k,
            n,
            start,
            cols,
            compact,
            values,
            used,
        })
    }

    /// Input features.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Outputs.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Kept (non-zero) weights.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// The product on row-major `x` (`m × k`), into row-major `y` (`m × n`).
    pub fn compute(&self, x: &[f32], y: &mut [f32]) {
        self.compute_with(x, y, Epilogue::NONE)
    }

    /// The product followed by `epilogue`, applied as each output is stored.
    pub fn compute_with(&self, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
        self.compute_on(x, y, epilogue, true)
    }

    /// [`Self::compute_with`] with the blocked loop compiled for the target's baseline
    /// whatever the CPU has, the plain path the wider ones are tested against: they do the
    /// same operations in the same order, so they give the same bits.
    pub fn compute_baseline(&self, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
        self.compute_on(x, y, epilogue, false)
    }

    fn compute_on(&self, x: &[f32], y: &mut [f32], epilogue: Epilogue, widest: bool) {
        let (k, n) = (self.k, self.n);
        let m = x.len() / k;
        debug_assert_eq!(y.len(), m * n);
        let full = m - m % LANES;
        // A short tail still pays as one padded block: per kept weight a few vector
        // operations against one gathered scalar each for every sample.
        let blocked = if m - full >= MIN_BLOCK { m } else { full };
        if blocked > 0 {
            let (x, y) = (&x[..blocked * k], &mut y[..blocked * n]);
            if widest {
                self.blocks(x, y, epilogue);
            } else {
                self.blocks_any(x, y, epilogue);
            }
        }
        for (xs, ys) in x[blocked * k..]
            .chunks_exact(k)
            .zip(y[blocked * n..].chunks_exact_mut(n))
        {
            self.one(xs, ys, epilogue);
        }
    }

    /// One sample: a gathered dot product per output.
    fn one(&self, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
        for (r, out) in y.iter_mut().enumerate() {
            let (s, e) = (self.start[r] as usize, self.start[r + 1] as usize);
            let (cols, values) = (&self.cols[s..e], &self.values[s..e]);
            // Four partial sums break the chain of dependent additions.
            let mut acc = [0f32; 4];
            let mut c4 = cols.chunks_exact(4);
            let mut v4 = values.chunks_exact(4);
            for (c, v) in (&mut c4).zip(&mut v4) {
                for i in 0..4 {
                    acc[i] += v[i] * x[c[i] as usize];
                }
            }
            for (&c, &v) in c4.remainder().iter().zip(v4.remainder()) {
                acc[0] += v * x[c as usize];
            }
            *out = epilogue.apply(r, (acc[0] + acc[1]) + (acc[2] + acc[3]));
        }
    }

    /// Blocks of [`LANES`] samples, compiled for the widest vectors the CPU has: on x86-64
    /// the baseline is SSE2, four lanes, so a kept weight costs eight vector operations per
    /// block; with AVX-512 it costs two, with AVX2 four (BENCHMARKS.md, "Whole layer chains
    /// in ardent-run").
    #[allow(unsafe_code)]
    fn blocks(&self, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F, checked just now.
                return unsafe { self.blocks_avx512(x, y, epilogue) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, checked just now.
                return unsafe { self.blocks_avx2(x, y, epilogue) };
            }
        }
        self.blocks_any(x, y, epilogue)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn blocks_avx512(&self, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
        self.blocks_any(x, y, epilogue)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn blocks_avx2(&self, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
        self.blocks_any(x, y, epilogue)
    }

    /// Blocks of [`LANES`] samples; the last may be shorter (its missing lanes read zeros).
    /// Inlined into each caller, so that it is compiled for that caller's target features.
    #[inline(always)]
    fn blocks_any(&self, x: &[f32], y: &mut [f32], epilogue: Epilogue) {
        let (k, n) = (self.k, self.n);
        // Row `u` holds used column `u` of the block's samples, one per lane.
        let mut xt = vec![[0f32; LANES]; self.used.len()];
        for (xb, yb) in x.chunks(k * LANES).zip(y.chunks_mut(n * LANES)) {
            let count = xb.len() / k;
            if count < LANES {
                xt.fill([0.0; LANES]);
            }
            if count == LANES {
                // Column by column, so that wide vectors take each column as one gather.
                for (row, &c) in xt.iter_mut().zip(&self.used) {
                    let c = c as usize;
                    for (lane, v) in row.iter_mut().enumerate() {
                        *v = xb[lane * k + c];
                    }
                }
            } else {
                for (lane, xs) in xb.chunks_exact(k).enumerate() {
                    for (row, &c) in xt.iter_mut().zip(&self.used) {
                        row[lane] = xs[c as usize];
                    }
                }
            }
            for r in 0..n {
                let (s, e) = (self.start[r] as usize, self.start[r + 1] as usize);
                // Two accumulators, alternate weights: one would chain every addition on the
                // one before (a vector add's latency per kept weight).
                let mut acc = [[0f32; LANES]; 2];
                let (us, ws) = (&self.compact[s..e], &self.values[s..e]);
                let mut pairs_u = us.chunks_exact(2);
                let mut pairs_w = ws.chunks_exact(2);
                for (u, w) in (&mut pairs_u).zip(&mut pairs_w) {
                    let (a, b) = (&xt[u[0] as usize], &xt[u[1] as usize]);
                    for l in 0..LANES {
                        acc[0][l] += w[0] * a[l];
                        acc[1][l] += w[1] * b[l];
                    }
                }
                for (&u, &w) in pairs_u.remainder().iter().zip(pairs_w.remainder()) {
                    let lanes = &xt[u as usize];
                    for l in 0..LANES {
                        acc[0][l] += w * lanes[l];
                    }
                }
                let acc: [f32; LANES] = std::array::from_fn(|l| acc[0][l] + acc[1][l]);
                for (l, &a) in acc[..count].iter().enumerate() {
                    yb[l * n + r] = epilogue.apply(r, a);
                }
            }
        }
    }
}

impl Op for SparseDense {
    fn name(&self) -> StaticName {
        "ArdentSparseDense".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}×{} with {} kept weights ({:.2} %), {} input columns read",
            self.k,
            self.n,
            self.nnz(),
            100.0 * self.nnz() as f64 / (self.k * self.n).max(1) as f64,
            self.used.len()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for SparseDense {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let shape = x.shape();
        ensure!(
            shape.len() == 2 && shape[1] == self.k,
            "ArdentSparseDense: input of shape {shape:?}, [batch, {}] expected",
            self.k
        );
        let m = shape[0];
        let view = x.try_as_plain_ram()?;
        let xs = view.as_slice::<f32>()?;
        // Written in place: a Vec made into a tensor would be copied once more.
        let mut y = Tensor::zero::<f32>(&[m, self.n])?;
        self.compute(xs, y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for SparseDense {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        ensure!(
            x.datum_type == f32::datum_type(),
            "ArdentSparseDense takes f32, not {:?}",
            x.datum_type
        );
        ensure!(
            x.rank() == 2 && x.shape[1] == self.k.to_dim(),
            "ArdentSparseDense: input fact {x:?}, [batch, {}] expected",
            self.k
        );
        Ok(tvec!(f32::fact([x.shape[0].clone(), self.n.to_dim()])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            inputs[0].shape[0].clone() * self.nnz()
        )))
    }

    as_op!();
}
