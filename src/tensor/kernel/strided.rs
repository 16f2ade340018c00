//! f32 operands in host memory used where they live, and the element-wise loops over them.
//!
//! [`Buf::read_f32`] copies an operand out of its storage (a strided view element by element,
//! through a list of every element's offset) and [`Buf::write_f32`] copies a result back:
//! right for every dtype and device, but on the cpu backend those copies cost more than the
//! arithmetic. For f32 operands in host memory the paths here borrow the storage instead:
//!
//! - a layout is walked in rows, with the dimensions that are contiguous with each other in
//!   every operand merged, so a contiguous tensor is one row and a broadcast bias is rows of
//!   the bias;
//! - an operation's arithmetic is chosen once per call ([`Bin::with`] and its siblings),
//!   so each operation gets its own loop with no `match` per element, and rows of unit stride
//!   run over slices the compiler vectorises;
//! - large operations are cut into chunks for rayon's threads, as `at::parallel_for` cuts
//!   PyTorch's (its grain is 32,768 elements), with a look at the deadline before each chunk.
//!
//! Every element is the same expression of the same operands as on the copying path, so the
//! numbers are the same. An output that overlaps an operand without being that operand (a
//! view written from a shifted view of itself) is left to the copying path, which reads every
//! operand before it writes.

use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rayon::prelude::*;

use super::arith::{BinaryLoop, TernaryLoop, UnaryLoop};
use super::{Buf, Cx};
use crate::tensor::{DType, Result};

/// Elements below which an operation runs on the calling thread: PyTorch's
/// `at::internal::GRAIN_SIZE`.
const GRAIN: usize = 32_768;

/// The most elements between two looks at the clock.
pub(super) const ELEMENTS_PER_TIME_CHECK: usize = 1 << 20;

/// A row-major walk over a shape that several strided layouts share, with every pair of
/// neighbouring dimensions that is contiguous in all of them merged into one, and dimensions
/// of size 1 dropped. The last dimension is the row.
pub(super) struct Walk<const M: usize> {
    /// (size, stride in each layout), outermost first; never empty.
    dims: Vec<(usize, [usize; M])>,
}

impl<const M: usize> Walk<M> {
    pub(super) fn new(shape: &[usize], strides: [&[usize]; M]) -> Self {
        let mut dims: Vec<(usize, [usize; M])> = Vec::with_capacity(shape.len().max(1));
        for (d, &size) in shape.iter().enumerate() {
            if size == 1 {
                continue;
            }
            let s: [usize; M] = std::array::from_fn(|i| strides[i][d]);
            if let Some((outer, outer_strides)) = dims.last_mut() {
                if (0..M).all(|i| outer_strides[i] == s[i] * size) {
                    *outer *= size;
                    *outer_strides = s;
                    continue;
                }
            }
            dims.push((size, s));
        }
        if dims.is_empty() {
            dims.push((1, [0; M]));
        }
        Walk { dims }
    }

    pub(super) fn numel(&self) -> usize {
        self.dims.iter().map(|(size, _)| size).product()
    }

    fn row_len(&self) -> usize {
        self.dims[self.dims.len() - 1].0
    }

    /// Each layout's stride along the row.
    pub(super) fn inner(&self) -> [usize; M] {
        self.dims[self.dims.len() - 1].1
    }

    /// Whether layout `i` gives every element its own address (no view of PyTorch's makes
    /// one that does not, but chunks on different threads write the output: checked, not
    /// assumed): ordered by stride, each dimension steps past all of the ones inside it.
    fn apart(&self, i: usize) -> bool {
        let mut dims: Vec<(usize, usize)> = self.dims.iter().map(|(n, s)| (s[i], *n)).collect();
        dims.sort_unstable();
        let mut reach = 1;
        for (stride, size) in dims {
            if size > 1 && stride < reach {
                return false;
            }
            reach = stride * size;
        }
        true
    }

    /// Each layout's offset of the first element of row `r`.
    fn row_start(&self, mut r: usize) -> [usize; M] {
        let mut offsets = [0; M];
        for (size, strides) in self.dims[..self.dims.len() - 1].iter().rev() {
            let i = r % size;
            r /= size;
            for (o, s) in offsets.iter_mut().zip(strides) {
                *o += i * s;
            }
        }
        offsets
    }

    /// Calls `f(offsets, len)` for each piece of a row among the row-major elements
    /// `start..end`: `len` elements from `offsets` (one per layout) on.
    pub(super) fn runs(&self, start: usize, end: usize, mut f: impl FnMut([usize; M], usize)) {
        let (len, inner) = (self.row_len(), self.inner());
        let mut at = start;
        while at < end {
            let (row, col) = (at / len, at % len);
            let n = (len - col).min(end - at);
            let mut offsets = self.row_start(row);
            for (o, s) in offsets.iter_mut().zip(inner) {
                *o += col * s;
            }
            f(offsets, n);
            at += n;
        }
    }
}

/// The address of a host f32 operand's first element, when it has one: an f32 `Buf` whose
/// storage is host memory (the cpu backend's blocks, host tensors), with elements.
pub(super) fn host_f32(b: &Buf) -> Option<*mut f32> {
    if b.dtype != DType::F32 || b.numel() == 0 {
        return None;
    }
    let base = b.storage.ptr()?.as_ptr() as *mut f32;
    // SAFETY: a view's offset lies inside its storage.
    Some(unsafe { base.add(b.offset) })
}

/// The bytes a view may touch, as an address range `[lo, hi)`.
pub(super) fn byte_range(at: *mut f32, b: &Buf) -> (usize, usize) {
    let last: usize = b
        .shape
        .iter()
        .zip(b.strides)
        .map(|(&size, &stride)| (size - 1) * stride)
        .sum();
    let lo = at as usize;
    (lo, lo + (last + 1) * std::mem::size_of::<f32>())
}

/// Whether two views' byte ranges meet.
pub(super) fn overlap(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// How one operand of an element-wise loop is read along one piece of a row.
#[derive(Clone, Copy)]
enum Src<'a> {
    /// The output's own elements: an in-place operation.
    Out,
    /// Elements one apart.
    Slice(&'a [f32]),
    /// One element for the whole piece (a broadcast dimension).
    Splat(f32),
    /// Elements this many apart.
    Strided(*const f32, usize),
}

impl Src<'_> {
    /// Element `i`, where `own` is the output's element `i`.
    #[inline(always)]
    fn at(self, i: usize, own: f32) -> f32 {
        match self {
            Src::Out => own,
            Src::Slice(s) => s[i],
            Src::Splat(v) => v,
            // SAFETY: `Plan::src` made this from a run that holds element `i`.
            Src::Strided(p, stride) => unsafe { *p.add(i * stride) },
        }
    }
}

/// An element-wise operation over host f32 operands: `ptrs[0]` is the output, the rest are
/// operands of the output's shape (broadcast already).
pub(super) struct Plan<const M: usize> {
    ptrs: [*mut f32; M],
    /// Which operands are the output itself (same address, same layout).
    same: [bool; M],
    walk: Walk<M>,
}

// SAFETY: the pointers are only dereferenced inside `run`, whose chunks write disjoint pieces
// of the output and only read the operands, which do not overlap the output (`Plan::new`).
unsafe impl<const M: usize> Sync for Plan<M> {}

impl<const M: usize> Plan<M> {
    /// The plan for `bufs` (output first), or `None` where the copying path must run: an
    /// operand not f32 in host memory, an output with a broadcast dimension or not of unit
    /// stride along its rows, or an operand that overlaps the output without being it.
    pub(super) fn new(bufs: [&Buf; M]) -> Option<Self> {
        let out = bufs[0];
        let mut ptrs = [std::ptr::null_mut(); M];
        for (p, b) in ptrs.iter_mut().zip(bufs) {
            debug_assert_eq!(b.shape, out.shape);
            *p = host_f32(b)?;
        }
        if out
            .shape
            .iter()
            .zip(out.strides)
            .any(|(&size, &stride)| size > 1 && stride == 0)
        {
            return None;
        }
        let walk = Walk::new(out.shape, std::array::from_fn(|i| bufs[i].strides));
        if walk.row_len() > 1 && walk.inner()[0] != 1 || !walk.apart(0) {
            return None;
        }
        let out_range = byte_range(ptrs[0], out);
        let mut same = [false; M];
        same[0] = true;
        for i in 1..M {
            let identical = ptrs[i] == ptrs[0] && walk.dims.iter().all(|(_, s)| s[i] == s[0]);
            if identical {
                same[i] = true;
            } else if overlap(out_range, byte_range(ptrs[i], bufs[i])) {
                return None;
            }
        }
        Some(Plan { ptrs, same, walk })
    }

    /// How operand `i` is read along the piece of `len` elements at `offset`.
    fn src(&self, i: usize, offset: usize, len: usize) -> Src<'_> {
        if self.same[i] {
            return Src::Out;
        }
        // SAFETY: the piece lies inside operand i's view, which does not overlap the output
        // (`Plan::new`), so nothing writes these elements while they are read.
        let at = unsafe { self.ptrs[i].add(offset) } as *const f32;
        match self.walk.inner()[i] {
            _ if len == 1 => Src::Splat(unsafe { *at }),
            0 => Src::Splat(unsafe { *at }),
            1 => Src::Slice(unsafe { std::slice::from_raw_parts(at, len) }),
            stride => Src::Strided(at, stride),
        }
    }

    /// Calls `row(out, operands)` for every piece of a row, the output's elements as a slice
    /// and `operands[i]` how operand `i` reads (`operands[0]` is unused): in chunks on
    /// rayon's threads when the operation is large, each after a look at the deadline.
    fn run(&self, cx: Cx, row: impl Fn(&mut [f32], [Src<'_>; M]) + Sync) -> Result<()> {
        let (deadline, interrupt) = (cx.deadline, cx.interrupt);
        let numel = self.walk.numel();
        let threads = rayon::current_num_threads();
        let chunk = if numel < 2 * GRAIN || threads == 1 {
            ELEMENTS_PER_TIME_CHECK
        } else {
            numel
                .div_ceil(threads)
                .clamp(GRAIN, ELEMENTS_PER_TIME_CHECK)
        };
        let body = |c: usize| -> Result<()> {
            check_time(deadline, interrupt)?;
            let (start, end) = (c * chunk, ((c + 1) * chunk).min(numel));
            self.walk.runs(start, end, |offsets, len| {
                // SAFETY: the piece lies inside the output's view (of unit stride along its
                // rows), and pieces of different chunks and runs are disjoint, so this is the
                // only reference to these elements.
                let out =
                    unsafe { std::slice::from_raw_parts_mut(self.ptrs[0].add(offsets[0]), len) };
                let srcs = std::array::from_fn(|i| self.src(i, offsets[i], len));
                row(out, srcs);
            });
            Ok(())
        };
        let chunks = numel.div_ceil(chunk);
        if chunks > 1 && numel >= 2 * GRAIN {
            (0..chunks).into_par_iter().try_for_each(body)
        } else {
            (0..chunks).try_for_each(body)
        }
    }
}

/// [`Cx::check_time`] for a deadline and interrupt flag carried into rayon's threads (a `Cx`
/// may hold the GPU and a tick counter, which stay on their thread).
fn check_time(deadline: Option<Instant>, interrupt: Option<&AtomicBool>) -> Result<()> {
    Cx {
        gpu: None,
        deadline,
        interrupt,
        ticks: &Cell::new(0),
    }
    .check_time()
}

/// `out = f(a)` over one piece.
#[inline(always)]
fn row1(out: &mut [f32], a: Src<'_>, f: impl Fn(f32) -> f32) {
    match a {
        Src::Slice(a) => {
            for (o, &x) in out.iter_mut().zip(a) {
                *o = f(x);
            }
        }
        Src::Out => {
            for o in out.iter_mut() {
                *o = f(*o);
            }
        }
        a => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = f(a.at(i, *o));
            }
        }
    }
}

/// `out = f(a, b)` over one piece.
#[inline(always)]
fn row2(out: &mut [f32], a: Src<'_>, b: Src<'_>, f: impl Fn(f32, f32) -> f32) {
    match (a, b) {
        (Src::Slice(a), Src::Slice(b)) => {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        }
        (Src::Out, Src::Slice(b)) => {
            for (o, &y) in out.iter_mut().zip(b) {
                *o = f(*o, y);
            }
        }
        (Src::Slice(a), Src::Splat(y)) => {
            for (o, &x) in out.iter_mut().zip(a) {
                *o = f(x, y);
            }
        }
        (Src::Out, Src::Splat(y)) => {
            for o in out.iter_mut() {
                *o = f(*o, y);
            }
        }
        (Src::Splat(x), Src::Slice(b)) => {
            for (o, &y) in out.iter_mut().zip(b) {
                *o = f(x, y);
            }
        }
        (a, b) => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = f(a.at(i, *o), b.at(i, *o));
            }
        }
    }
}

/// `out = f(a, b, c)` over one piece.
#[inline(always)]
fn row3(out: &mut [f32], [a, b, c]: [Src<'_>; 3], f: impl Fn(f32, f32, f32) -> f32) {
    match (a, b, c) {
        (Src::Slice(a), Src::Slice(b), Src::Slice(c)) => {
            for (((o, &x), &y), &z) in out.iter_mut().zip(a).zip(b).zip(c) {
                *o = f(x, y, z);
            }
        }
        (Src::Out, Src::Slice(b), Src::Slice(c)) => {
            for ((o, &y), &z) in out.iter_mut().zip(b).zip(c) {
                *o = f(*o, y, z);
            }
        }
        (a, b, c) => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = f(a.at(i, *o), b.at(i, *o), c.at(i, *o));
            }
        }
    }
}

/// One operand mapped into the output: [`UnaryLoop`] over a two-buffer plan.
pub(super) struct Map<'p>(pub(super) &'p Plan<2>, pub(super) Cx<'p>);

impl UnaryLoop for Map<'_> {
    type Output = Result<()>;
    fn run<F: Fn(f32) -> f32 + Copy + Send + Sync>(self, f: F) -> Result<()> {
        self.0.run(self.1, |out, [_, a]| row1(out, a, f))
    }
}

/// An operand and a number: a binary operation's loop over a two-buffer plan, the number as
/// its second operand.
pub(super) struct MapScalar<'p>(pub(super) &'p Plan<2>, pub(super) Cx<'p>, pub(super) f32);

impl BinaryLoop for MapScalar<'_> {
    type Output = Result<()>;
    fn run<F: Fn(f32, f32) -> f32 + Copy + Send + Sync>(self, f: F) -> Result<()> {
        let q = self.2;
        self.0
            .run(self.1, |out, [_, a]| row2(out, a, Src::Splat(q), f))
    }
}

/// Two operands into the output.
pub(super) struct Zip<'p>(pub(super) &'p Plan<3>, pub(super) Cx<'p>);

impl BinaryLoop for Zip<'_> {
    type Output = Result<()>;
    fn run<F: Fn(f32, f32) -> f32 + Copy + Send + Sync>(self, f: F) -> Result<()> {
        self.0.run(self.1, |out, [_, a, b]| row2(out, a, b, f))
    }
}

/// Three operands into the output.
pub(super) struct Zip3<'p>(pub(super) &'p Plan<4>, pub(super) Cx<'p>);

impl TernaryLoop for Zip3<'_> {
    type Output = Result<()>;
    fn run<F: Fn(f32, f32, f32) -> f32 + Copy + Send + Sync>(self, f: F) -> Result<()> {
        self.0
            .run(self.1, |out, [_, a, b, c]| row3(out, [a, b, c], f))
    }
}

/// The sum of `src` over the marked dimensions in f64, into `sums` (the reduced shape,
/// row-major), adding the elements in row-major order as the copying path does; `None` where
/// `src` is not f32 in host memory.
pub(super) fn reduce_sum_f32(
    cx: Cx,
    src: &Buf,
    reduce: &[bool],
    sums: &mut [f64],
) -> Option<Result<()>> {
    let at = host_f32(src)? as *const f32;
    // Where each element's sum is: the reduced shape's contiguous strides, 0 along the
    // reduced dimensions.
    let mut positions = vec![0usize; src.shape.len()];
    let mut step = 1;
    for d in (0..src.shape.len()).rev() {
        if !reduce[d] {
            positions[d] = step;
            step *= src.shape[d];
        }
    }
    let walk = Walk::new(src.shape, [src.strides, &positions]);
    let numel = walk.numel();
    let [stride, position_stride] = walk.inner();
    let mut result = Ok(());
    for start in (0..numel).step_by(ELEMENTS_PER_TIME_CHECK) {
        if let Err(e) = cx.check_time() {
            result = Err(e);
            break;
        }
        let end = numel.min(start + ELEMENTS_PER_TIME_CHECK);
        walk.runs(start, end, |[offset, p], len| {
            // SAFETY: the run lies inside `src`'s view; `sums` is the caller's own vector.
            let x = |i: usize| unsafe { *at.add(offset + i * stride) } as f64;
            match (stride, position_stride) {
                (1, 1) => {
                    // SAFETY: as above, elements one apart.
                    let row = unsafe { std::slice::from_raw_parts(at.add(offset), len) };
                    for (s, &v) in sums[p..p + len].iter_mut().zip(row) {
                        *s += v as f64;
                    }
                }
                (_, 0) => {
                    let mut acc = sums[p];
                    for i in 0..len {
                        acc += x(i);
                    }
                    sums[p] = acc;
                }
                (_, ps) => {
                    for i in 0..len {
                        sums[p + i * ps] += x(i);
                    }
                }
            }
        });
    }
    Some(result)
}

/// Calls `f(out_row, [in_rows])` for each row of `size` elements of the contiguous f32
/// output and operands in host memory, on rayon's threads in chunks of rows when they are
/// large, a look at the deadline before each chunk; `None` where the copying path must run
/// (an operand elsewhere or not contiguous, an output that overlaps an operand).
pub(super) fn rows<const N: usize>(
    cx: Cx,
    out: &Buf,
    ins: [&Buf; N],
    size: usize,
    f: impl Fn(&mut [f32], [&[f32]; N]) + Sync,
) -> Option<Result<()>> {
    let at = host_f32(out)?;
    let numel = out.numel();
    if !out.is_contiguous() || size == 0 || !numel.is_multiple_of(size) {
        return None;
    }
    let out_range = byte_range(at, out);
    let mut operands = [std::ptr::null::<f32>(); N];
    for (p, b) in operands.iter_mut().zip(ins) {
        let q = host_f32(b)?;
        if !b.is_contiguous() || b.numel() != numel || overlap(out_range, byte_range(q, b)) {
            return None;
        }
        *p = q;
    }
    // SAFETY: the output is a contiguous view of `numel` elements that no operand overlaps,
    // and each operand a contiguous view of as many; nothing else touches them meanwhile.
    let out = unsafe { std::slice::from_raw_parts_mut(at, numel) };
    let ins: [&[f32]; N] = operands.map(|p| unsafe { std::slice::from_raw_parts(p, numel) });
    let threads = rayon::current_num_threads();
    let rows_per_chunk = if numel < 2 * GRAIN || threads == 1 {
        ELEMENTS_PER_TIME_CHECK
    } else {
        numel
            .div_ceil(threads)
            .clamp(GRAIN, ELEMENTS_PER_TIME_CHECK)
    }
    .div_ceil(size);
    let chunk = rows_per_chunk * size;
    let (deadline, interrupt) = (cx.deadline, cx.interrupt);
    let body = |(c, out): (usize, &mut [f32])| -> Result<()> {
        check_time(deadline, interrupt)?;
        let start = c * chunk;
        for (r, row) in out.chunks_mut(size).enumerate() {
            let from = start + r * size;
            f(row, ins.map(|x| &x[from..from + size]));
        }
        Ok(())
    };
    Some(if numel >= 2 * GRAIN && numel > chunk {
        out.par_chunks_mut(chunk).enumerate().try_for_each(body)
    } else {
        out.chunks_mut(chunk).enumerate().try_for_each(body)
    })
}
