//! f32 matrix products for the fused operations.
//!
//! On x86-64 CPUs with AVX-512 the products run through a packed kernel of ardent's own; the
//! gemm crate (what burn-flex uses) reached 30–45 GFLOP/s per core here, against PyTorch's
//! 100–150 on the same shapes, because its AVX-512 kernel spills accumulators to the stack and
//! its AVX2 one is half as wide. Elsewhere (other CPUs, aarch64, armv7) the gemm crate runs.
//!
//! The kernel is the usual three-level blocking: `KC` rows of B packed into panels of `NR`
//! columns, `MC` rows of A packed into panels of `MR` rows, and an `MR`×`NR` micro-kernel of
//! 16 accumulator registers that reads both panels in order; edge tiles go through a small
//! buffer. `tests/matmul.rs` holds both paths to a plain triple loop.

/// Operand strides: (row stride, column stride), in elements.
pub type Strides = (usize, usize);

/// `dst[m×n] = a[m×k] · b[k×n]` (plus `dst` when `accumulate`) on the calling thread, `dst`
/// row-major with row stride n. Operands are given by row and column strides, so a transposed
/// operand costs nothing.
///
/// # Panics
/// When a stride reaches outside its slice or `dst` is shorter than m × n.
pub fn matmul(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    a_strides: Strides,
    b: &[f32],
    b_strides: Strides,
    accumulate: bool,
) {
    single(
        dst,
        (m, n, k),
        Lhs::Raw(a.as_ptr(), a_strides),
        a.len(),
        b,
        b_strides,
        accumulate,
    );
}

/// [`matmul`] split over rayon's threads: by blocks of rows of `dst` when m is the larger
/// side, by blocks of columns otherwise. Each block is one call of the single-threaded product,
/// so the sums are those of [`matmul`], in the same order.
pub fn matmul_parallel(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    a_strides: Strides,
    b: &[f32],
    b_strides: Strides,
    accumulate: bool,
) {
    check(dst.len(), (m, n, k), a.len(), a_strides, b.len(), b_strides);
    let threads = rayon::current_num_threads();
    // Below this many multiply-adds a second thread costs more than it saves.
    if threads < 2 || m * n * k < 1 << 18 {
        return matmul(dst, (m, n, k), a, a_strides, b, b_strides, accumulate);
    }
    let dst = Dst {
        ptr: dst.as_mut_ptr(),
        row_stride: n,
    };
    let (a_ptr, b_ptr) = (Shared(a.as_ptr()), Shared(b.as_ptr()));
    let by_rows = m >= n;
    let (len, unit) = if by_rows { (m, MR) } else { (n, NR) };
    let block = len.div_ceil(threads).div_ceil(unit) * unit;
    rayon::scope(|s| {
        for start in (0..len).step_by(block) {
            let size = block.min(len - start);
            let (a_ptr, b_ptr) = (a_ptr, b_ptr);
            s.spawn(move |_| {
                let (a, b) = (a_ptr.get(), b_ptr.get());
                // SAFETY: `check` covered the whole product; each task takes a disjoint block
                // of rows (or of columns) of `dst` and the matching rows of a (or columns of
                // b), so no two tasks write one element and every read stays in bounds.
                #[allow(unsafe_code)]
                unsafe {
                    if by_rows {
                        product(
                            dst.offset(start, 0),
                            (size, n, k),
                            Lhs::Raw(a.add(start * a_strides.0), a_strides),
                            b,
                            b_strides,
                            accumulate,
                        )
                    } else {
                        product(
                            dst.offset(0, start),
                            (m, size, k),
                            Lhs::Raw(a, a_strides),
                            b.add(start * b_strides.1),
                            b_strides,
                            accumulate,
                        )
                    }
                }
            });
        }
    });
}

/// A left operand packed once for many products: a layer's weights against every sample's
/// columns, where packing the weights again for each sample was a tenth of a conv step.
#[derive(Debug, Clone)]
pub struct PackedLhs {
    m: usize,
    k: usize,
    /// Row-major, for the gemm crate's path and small products.
    raw: Vec<f32>,
    /// The kernel's packed blocks (empty without AVX-512) and where each starts.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    panels: Vec<f32>,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    offsets: Vec<usize>,
}

impl PackedLhs {
    /// Packs `a`, m × k with the given strides.
    ///
    /// # Panics
    /// When a stride reaches outside `a`.
    pub fn new(a: &[f32], (m, k): (usize, usize), (rs, cs): Strides) -> PackedLhs {
        check(0, (m, 0, k), a.len(), (rs, cs), 0, (0, 0));
        let mut raw = Vec::with_capacity(m * k);
        for i in 0..m {
            raw.extend((0..k).map(|p| a[i * rs + p * cs]));
        }
        #[cfg(target_arch = "x86_64")]
        let (panels, offsets) = if avx512() {
            avx512::pack_whole(&raw, (m, k))
        } else {
            (Vec::new(), Vec::new())
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (panels, offsets) = (Vec::new(), Vec::new());
        PackedLhs {
            m,
            k,
            raw,
            panels,
            offsets,
        }
    }
}

/// `dst[m×n] = lhs · b[k×n]` (plus `dst` when `accumulate`) on the calling thread, as
/// [`matmul`] with a prepacked left operand.
///
/// # Panics
/// When b's strides reach outside it or `dst` is shorter than m × n.
pub fn matmul_packed(
    dst: &mut [f32],
    n: usize,
    lhs: &PackedLhs,
    b: &[f32],
    b_strides: Strides,
    accumulate: bool,
) {
    let (m, k) = (lhs.m, lhs.k);
    single(
        dst,
        (m, n, k),
        Lhs::Packed(lhs),
        m * k,
        b,
        b_strides,
        accumulate,
    );
}

/// One product on the calling thread, its operands checked first: `lhs_len` elements stand
/// behind `lhs` (the slice's length, or m × k packed).
fn single(
    dst: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: Lhs,
    lhs_len: usize,
    b: &[f32],
    b_strides: Strides,
    accumulate: bool,
) {
    let a_strides = match lhs {
        Lhs::Raw(_, strides) => strides,
        Lhs::Packed(_) => (k, 1),
    };
    check(dst.len(), (m, n, k), lhs_len, a_strides, b.len(), b_strides);
    if m == 0 || n == 0 {
        return;
    }
    let dst = Dst {
        ptr: dst.as_mut_ptr(),
        row_stride: n,
    };
    // SAFETY: `check` keeps every index the strides reach inside the left operand (`lhs_len`
    // elements), `b` and `dst`; `dst` is borrowed mutably, so it aliases neither operand.
    #[allow(unsafe_code)]
    unsafe {
        product(dst, (m, n, k), lhs, b.as_ptr(), b_strides, accumulate)
    };
}

/// The left operand of one product: strided values, or packed ahead.
#[derive(Clone, Copy)]
enum Lhs<'a> {
    Raw(*const f32, Strides),
    Packed(&'a PackedLhs),
}

fn check(
    dst: usize,
    (m, n, k): (usize, usize, usize),
    a: usize,
    (a_rs, a_cs): Strides,
    b: usize,
    (b_rs, b_cs): Strides,
) {
    assert!(dst >= m * n, "matmul: destination too small");
    assert!(
        m == 0 || k == 0 || (m - 1) * a_rs + (k - 1) * a_cs < a,
        "matmul: lhs"
    );
    assert!(
        k == 0 || n == 0 || (k - 1) * b_rs + (n - 1) * b_cs < b,
        "matmul: rhs"
    );
}

/// Where the product goes: row-major, unit column stride.
#[derive(Clone, Copy)]
struct Dst {
    ptr: *mut f32,
    row_stride: usize,
}

impl Dst {
    /// The same destination from row `i`, column `j`.
    ///
    /// # Safety
    /// (i, j) must lie inside the destination.
    #[allow(unsafe_code)]
    unsafe fn offset(self, i: usize, j: usize) -> Dst {
        Dst {
            // SAFETY: the caller keeps (i, j) inside the destination.
            ptr: unsafe { self.ptr.add(i * self.row_stride + j) },
            row_stride: self.row_stride,
        }
    }
}

/// A read-only pointer handed to another thread.
#[derive(Clone, Copy)]
struct Shared(*const f32);

impl Shared {
    /// The pointer (a method, so that closures capture the whole `Send` wrapper).
    fn get(self) -> *const f32 {
        self.0
    }
}

// SAFETY: the pointers are only read, and `matmul_parallel` outlives its tasks (rayon's scope).
#[allow(unsafe_code)]
unsafe impl Send for Shared {}
#[allow(unsafe_code)]
unsafe impl Send for Dst {}
// SAFETY: tasks share a `Dst` only to write disjoint blocks of it.
#[allow(unsafe_code)]
unsafe impl Sync for Dst {}
// SAFETY: as for `Send`: only read.
#[allow(unsafe_code)]
unsafe impl Sync for Shared {}

/// Rows of A per micro-tile.
const MR: usize = 8;
/// Columns of B per micro-tile: two AVX-512 registers.
const NR: usize = 32;
/// Depth of one packed block: A's panel (MR × KC) and B's (KC × NR) stay in L1.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const KC: usize = 256;
/// Rows of A per packed block: MC × KC floats stay in L2.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const MC: usize = 128;
/// Columns of B per packed block.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const NC: usize = 1024;

/// Products smaller than this many multiply-adds go to the gemm crate: packing would dominate.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const SMALL: usize = 4096;

/// The product on one thread, by ardent's kernel when the CPU has AVX-512, by gemm otherwise.
///
/// # Safety
/// Every element the sizes and strides reach must lie inside the operands and `dst`, and `dst`
/// must not overlap them.
#[allow(unsafe_code)]
unsafe fn product(
    dst: Dst,
    (m, n, k): (usize, usize, usize),
    lhs: Lhs,
    b: *const f32,
    (b_rs, b_cs): Strides,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if m * n * k >= SMALL && avx512() {
        // SAFETY: the CPU has AVX-512F; the caller's guarantees are the kernel's.
        unsafe { avx512::product(dst, (m, n, k), lhs, b, (b_rs, b_cs), accumulate) };
        return;
    }
    let (a, (a_rs, a_cs)) = match lhs {
        Lhs::Raw(a, strides) => (a, strides),
        Lhs::Packed(p) => (p.raw.as_ptr(), (p.k, 1)),
    };
    // SAFETY: as the caller guarantees; gemm takes (column stride, row stride) pairs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.ptr,
            1,
            dst.row_stride as isize,
            accumulate,
            a,
            a_cs as isize,
            a_rs as isize,
            b,
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    };
}

/// Whether this CPU runs ardent's AVX-512 kernel. `ARDENT_NO_AVX512=1` turns it off (to
/// compare the two paths on one machine).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::env::var_os("ARDENT_NO_AVX512").is_none_or(|v| v != "1")
    })
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };

    use super::{Dst, KC, Lhs, MC, MR, NC, NR, Strides};

    thread_local! {
        /// Each thread's packing buffers, kept between calls: (A block, B block).
        static PACKS: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
            const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
    }

    /// See [`super::product`].
    ///
    /// # Safety
    /// As [`super::product`], and the CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn product(
        dst: Dst,
        (m, n, k): (usize, usize, usize),
        lhs: Lhs,
        b: *const f32,
        (b_rs, b_cs): Strides,
        accumulate: bool,
    ) {
        PACKS.with(|packs| {
            let mut packs = packs.borrow_mut();
            let (pa, pb) = &mut *packs;
            pa.resize(MC.div_ceil(MR) * MR * KC, 0.0);
            pb.resize(NC.div_ceil(NR) * NR * KC, 0.0);
            if k == 0 {
                if !accumulate {
                    for i in 0..m {
                        // SAFETY: row i of the m × n destination.
                        unsafe { std::ptr::write_bytes(dst.ptr.add(i * dst.row_stride), 0, n) };
                    }
                }
                return;
            }
            for jc in (0..n).step_by(NC) {
                let nc = NC.min(n - jc);
                for pc in (0..k).step_by(KC) {
                    let kc = KC.min(k - pc);
                    // SAFETY: rows pc..pc+kc and columns jc..jc+nc of b are inside it.
                    unsafe { pack_b(pb, b.add(pc * b_rs + jc * b_cs), (b_rs, b_cs), kc, nc) };
                    let add = accumulate || pc > 0;
                    for ic in (0..m).step_by(MC) {
                        let mc = MC.min(m - ic);
                        let pa: &[f32] = match lhs {
                            Lhs::Raw(a, (a_rs, a_cs)) => {
                                // SAFETY: rows ic..ic+mc and columns pc..pc+kc of a are in it.
                                unsafe {
                                    pack_a(pa, a.add(ic * a_rs + pc * a_cs), (a_rs, a_cs), mc, kc)
                                };
                                pa
                            }
                            Lhs::Packed(p) => {
                                let blocks = p.m.div_ceil(MC);
                                &p.panels[p.offsets[(pc / KC) * blocks + ic / MC]..]
                            }
                        };
                        for jr in (0..nc).step_by(NR) {
                            for ir in (0..mc).step_by(MR) {
                                let rows = MR.min(mc - ir);
                                let cols = NR.min(nc - jr);
                                let tile = Dst {
                                    // SAFETY: (ic + ir, jc + jr) is inside the destination.
                                    ptr: unsafe {
                                        dst.ptr.add((ic + ir) * dst.row_stride + jc + jr)
                                    },
                                    row_stride: dst.row_stride,
                                };
                                let pa = &pa[ir * kc..(ir + MR) * kc];
                                let pb = &pb[jr * kc..(jr + NR) * kc];
                                // SAFETY: the panels hold kc × MR and kc × NR values; the
                                // tile's rows × cols lie inside the destination.
                                unsafe { tile_product(kc, pa, pb, tile, rows, cols, add) };
                            }
                        }
                    }
                }
            }
        });
    }

    /// A whole row-major m × k operand packed block by block, as `product` walks it (k blocks
    /// outer, m blocks inner), with each block's start.
    pub(super) fn pack_whole(a: &[f32], (m, k): (usize, usize)) -> (Vec<f32>, Vec<usize>) {
        let (mut panels, mut offsets) = (Vec::new(), Vec::new());
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            for ic in (0..m).step_by(MC) {
                let mc = MC.min(m - ic);
                let start = panels.len();
                offsets.push(start);
                panels.resize(start + mc.div_ceil(MR) * MR * kc, 0.0);
                // SAFETY: rows ic..ic+mc and columns pc..pc+kc of the m × k slice.
                unsafe {
                    pack_a(
                        &mut panels[start..],
                        a[ic * k + pc..].as_ptr(),
                        (k, 1),
                        mc,
                        kc,
                    )
                };
            }
        }
        (panels, offsets)
    }

    /// Packs an mc × kc block of A into panels of MR rows, each kc × MR in k-major order,
    /// zero-filling rows past mc. The loops follow A's unit stride, so reads stay sequential
    /// whether A is stored row-major or transposed.
    ///
    /// # Safety
    /// The block's elements must be inside A.
    unsafe fn pack_a(pa: &mut [f32], a: *const f32, (rs, cs): Strides, mc: usize, kc: usize) {
        for (panel, out) in pa.chunks_mut(MR * kc).take(mc.div_ceil(MR)).enumerate() {
            let i0 = panel * MR;
            let rows = MR.min(mc - i0);
            if rows < MR {
                out[..MR * kc].fill(0.0);
            }
            if cs == 1 {
                for r in 0..rows {
                    // SAFETY: row i0 + r < mc, columns 0..kc are inside the block.
                    let row = unsafe { std::slice::from_raw_parts(a.add((i0 + r) * rs), kc) };
                    for (p, v) in row.iter().enumerate() {
                        out[p * MR + r] = *v;
                    }
                }
            } else {
                for p in 0..kc {
                    for r in 0..rows {
                        // SAFETY: row i0 + r < mc and column p < kc are inside the block.
                        out[p * MR + r] = unsafe { *a.add((i0 + r) * rs + p * cs) };
                    }
                }
            }
        }
    }

    /// Packs a kc × nc block of B into panels of NR columns, each kc × NR in k-major order,
    /// zero-filling columns past nc, reading along B's unit stride.
    ///
    /// # Safety
    /// The block's elements must be inside B.
    unsafe fn pack_b(pb: &mut [f32], b: *const f32, (rs, cs): Strides, kc: usize, nc: usize) {
        for (panel, out) in pb.chunks_mut(NR * kc).take(nc.div_ceil(NR)).enumerate() {
            let j0 = panel * NR;
            let cols = NR.min(nc - j0);
            if cols < NR {
                out[..NR * kc].fill(0.0);
            }
            if cs == 1 {
                for p in 0..kc {
                    // SAFETY: row p, columns j0..j0+cols are inside the block.
                    let row = unsafe { std::slice::from_raw_parts(b.add(p * rs + j0), cols) };
                    out[p * NR..p * NR + cols].copy_from_slice(row);
                }
            } else if rs == 1 {
                for c in 0..cols {
                    // SAFETY: column j0 + c < nc, rows 0..kc are inside the block.
                    let col = unsafe { std::slice::from_raw_parts(b.add((j0 + c) * cs), kc) };
                    for (p, v) in col.iter().enumerate() {
                        out[p * NR + c] = *v;
                    }
                }
            } else {
                for p in 0..kc {
                    for c in 0..cols {
                        // SAFETY: row p < kc and column j0 + c < nc are inside the block.
                        out[p * NR + c] = unsafe { *b.add(p * rs + (j0 + c) * cs) };
                    }
                }
            }
        }
    }

    /// One MR × NR tile: `tile (+)= pa · pb` over kc, writing `rows` × `cols` of it.
    ///
    /// # Safety
    /// `rows` × `cols` elements from `tile` (row stride `tile.row_stride`) must be writable.
    #[target_feature(enable = "avx512f")]
    unsafe fn tile_product(
        kc: usize,
        pa: &[f32],
        pb: &[f32],
        tile: Dst,
        rows: usize,
        cols: usize,
        accumulate: bool,
    ) {
        assert!(
            pa.len() >= kc * MR && pb.len() >= kc * NR,
            "micro-kernel panels"
        );
        // Sixteen named accumulators and raw pointers: with an array and slices LLVM kept an
        // accumulator on the stack and checked bounds every step.
        let z = _mm512_setzero_ps();
        let (mut c00, mut c01, mut c10, mut c11, mut c20, mut c21, mut c30, mut c31) =
            (z, z, z, z, z, z, z, z);
        let (mut c40, mut c41, mut c50, mut c51, mut c60, mut c61, mut c70, mut c71) =
            (z, z, z, z, z, z, z, z);
        let (mut ap, mut bp) = (pa.as_ptr(), pb.as_ptr());
        for _ in 0..kc {
            // SAFETY: ap and bp advance MR and NR values per step, kc steps, inside the
            // panels (asserted above).
            unsafe {
                let b0 = _mm512_loadu_ps(bp);
                let b1 = _mm512_loadu_ps(bp.add(16));
                macro_rules! row {
                    ($r:expr, $lo:ident, $hi:ident) => {
                        let x = _mm512_set1_ps(*ap.add($r));
                        $lo = _mm512_fmadd_ps(x, b0, $lo);
                        $hi = _mm512_fmadd_ps(x, b1, $hi);
                    };
                }
                row!(0, c00, c01);
                row!(1, c10, c11);
                row!(2, c20, c21);
                row!(3, c30, c31);
                row!(4, c40, c41);
                row!(5, c50, c51);
                row!(6, c60, c61);
                row!(7, c70, c71);
                ap = ap.add(MR);
                bp = bp.add(NR);
            }
        }
        let acc: [[__m512; 2]; MR] = [
            [c00, c01],
            [c10, c11],
            [c20, c21],
            [c30, c31],
            [c40, c41],
            [c50, c51],
            [c60, c61],
            [c70, c71],
        ];
        if rows == MR && cols == NR {
            for (r, acc) in acc.iter().enumerate() {
                // SAFETY: a full tile: row r, columns 0..32 are inside the destination.
                unsafe {
                    let c = tile.ptr.add(r * tile.row_stride);
                    let (mut lo, mut hi) = (acc[0], acc[1]);
                    if accumulate {
                        lo = _mm512_add_ps(lo, _mm512_loadu_ps(c));
                        hi = _mm512_add_ps(hi, _mm512_loadu_ps(c.add(16)));
                    }
                    _mm512_storeu_ps(c, lo);
                    _mm512_storeu_ps(c.add(16), hi);
                }
            }
            return;
        }
        let mut buf = [0f32; MR * NR];
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: row r of the MR × NR buffer.
            unsafe {
                _mm512_storeu_ps(buf.as_mut_ptr().add(r * NR), acc[0]);
                _mm512_storeu_ps(buf.as_mut_ptr().add(r * NR + 16), acc[1]);
            }
        }
        for r in 0..rows {
            for c in 0..cols {
                // SAFETY: (r, c) is inside the tile's rows × cols.
                unsafe {
                    let d = tile.ptr.add(r * tile.row_stride + c);
                    *d = if accumulate {
                        *d + buf[r * NR + c]
                    } else {
                        buf[r * NR + c]
                    };
                }
            }
        }
    }
}
