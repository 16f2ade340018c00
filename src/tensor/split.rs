//! Operations that return several tensors: `split`, `split_with_sizes`, `chunk`, `unbind`
//! and the `unsafe_split`/`unsafe_chunk` that PyTorch's recurrent layers use. Forward
//! allocates nothing: every piece is a view of the input's storage. One node with an output
//! per piece is their history (`SplitBackward0`, `SplitWithSizesBackward0`,
//! `UnbindBackward0`, `UnsafeSplitBackward0`), as PyTorch builds it; it saves no tensor.
//!
//! Backward (`split_with_sizes_backward`, `unbind_backward` in PyTorch's
//! `FunctionsManual.cpp`) gets one gradient per piece; a piece nothing used has none, and is
//! given zeros before the pieces are joined: a zeros tensor of the piece's size for `split`
//! (then `cat`), a 0-dim zeros tensor expanded to the piece's size for `unbind` (then
//! `stack`). Those zeros are what backward allocates beyond the joined gradient.

use super::ops::wrap_dim;
use super::{DType, Device, Result, Scalar, Tensor, TensorError};
use crate::autograd::{Formula, NodeBuilder};

/// Which operation made a multi-output node: its name, and how its backward joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitKind {
    /// `split(split_size)` and `chunk`: SplitBackward0.
    Split,
    /// `split(list)`: SplitWithSizesBackward0.
    WithSizes,
    /// `unsafe_split(split_size)` and `unsafe_chunk`: UnsafeSplitBackward0. The pieces are
    /// not views to autograd, so in-place operations on them are allowed.
    Unsafe,
    /// `unbind`: UnbindBackward0.
    Unbind,
}

/// What a split node keeps for backward: no tensor, only the input's geometry.
#[derive(Debug, Clone)]
pub(crate) struct Split {
    kind: SplitKind,
    dim: usize,
    self_sizes: Vec<usize>,
    /// Each piece's length along `dim` (1 for every piece of `unbind`).
    sizes: Vec<usize>,
    dtype: DType,
    device: Device,
}

impl Split {
    /// PyTorch's node class.
    pub(crate) fn node_name(&self) -> &'static str {
        match self.kind {
            SplitKind::Split => "SplitBackward0",
            SplitKind::WithSizes => "SplitWithSizesBackward0",
            SplitKind::Unsafe => "UnsafeSplitBackward0",
            SplitKind::Unbind => "UnbindBackward0",
        }
    }

    /// The input's gradient from one gradient per piece, `None` for a piece that got none.
    pub(crate) fn backward(&self, grads: &[Option<Tensor>]) -> Result<Tensor> {
        match self.kind {
            SplitKind::Unbind => self.unbind_backward(grads),
            _ => self.split_backward(grads),
        }
    }

    /// `split_with_sizes_backward`: zeros of each missing piece's size (in the input's dtype
    /// and device), allocated in piece order, then `cat`.
    fn split_backward(&self, grads: &[Option<Tensor>]) -> Result<Tensor> {
        let rt = self.runtime_of(grads)?;
        let mut all = Vec::with_capacity(self.sizes.len());
        for (j, &length) in self.sizes.iter().enumerate() {
            match grads.get(j).cloned().flatten() {
                Some(g) => all.push(g),
                None => {
                    let mut shape = self.self_sizes.clone();
                    shape[self.dim] = length;
                    let z = Tensor::empty_on(&rt, &shape, self.dtype, self.device)?;
                    z.fill_values(Scalar::Float(0.0))?;
                    all.push(z);
                }
            }
        }
        Tensor::cat(&all, self.dim as isize)
    }

    /// `unbind_backward`: a missing piece is a 0-dim zeros tensor (with the options of the
    /// first gradient that exists) expanded to the piece's sizes, then `stack`.
    fn unbind_backward(&self, grads: &[Option<Tensor>]) -> Result<Tensor> {
        let Some(first) = grads.iter().flatten().next() else {
            return Err(TensorError::Invalid(
                "UnbindBackward0 got no gradient".into(),
            ));
        };
        let sizes = first.shape().to_vec();
        let mut all = Vec::with_capacity(self.sizes.len());
        for j in 0..self.sizes.len() {
            match grads.get(j).cloned().flatten() {
                Some(g) => all.push(g),
                None => {
                    let z = Tensor::empty_on(first.runtime(), &[], first.dtype(), first.device())?;
                    z.fill_values(Scalar::Float(0.0))?;
                    all.push(z.expand(&sizes)?);
                }
            }
        }
        Tensor::stack(&all, self.dim as isize)
    }

    fn runtime_of(&self, grads: &[Option<Tensor>]) -> Result<crate::runtime::Runtime> {
        grads
            .iter()
            .flatten()
            .next()
            .map(|g| g.runtime().clone())
            .ok_or_else(|| TensorError::Invalid(format!("{} got no gradient", self.node_name())))
    }
}

impl Tensor {
    /// The pieces of `lengths` along `dim`, from the start; `views` says whether autograd
    /// sees them as views of `self` (`split`) or as tensors of their own (`unsafe_split`).
    fn pieces(&self, dim: usize, lengths: &[usize], views: bool) -> Vec<Tensor> {
        let mut at = 0;
        lengths
            .iter()
            .map(|&length| {
                let piece = self.narrow_view(dim, at, length);
                at += length;
                if views {
                    piece
                } else {
                    let own = Tensor::from_parts(
                        self.runtime(),
                        self.storage(),
                        piece.shape().to_vec(),
                        piece.strides().to_vec(),
                        piece.0.offset,
                        self.dtype(),
                        false,
                    );
                    *own.0.own_version.borrow_mut() = Some(Default::default());
                    own
                }
            })
            .collect()
    }

    /// Records one node for all `outs` when `self` needs a gradient.
    fn record_split(&self, kind: SplitKind, dim: usize, sizes: Vec<usize>, outs: &[Tensor]) {
        if let Some(b) = NodeBuilder::new(&[self]) {
            let split = Split {
                kind,
                dim,
                self_sizes: self.shape().to_vec(),
                sizes,
                dtype: self.dtype(),
                device: self.device(),
            };
            b.finish_multi(Formula::Split(split), outs);
        }
    }

    /// The dimension a split works on, with PyTorch's error for a 0-dim tensor.
    fn split_dim(&self, op: &str, dim: isize) -> Result<usize> {
        if self.dim() == 0 {
            return Err(TensorError::Invalid(format!(
                "{op} expects at least a 1-dimensional tensor"
            )));
        }
        wrap_dim(dim, self.dim())
    }

    /// Lengths of `split(split_size)`: full pieces and a shorter last one; one empty piece
    /// of a dimension of size 0.
    fn split_lengths(&self, split_size: i64, dim: usize) -> Result<Vec<usize>> {
        let size = self.shape()[dim];
        if split_size < 0 {
            return Err(TensorError::Invalid(format!(
                "split expects split_size be non-negative, but got split_size={split_size}"
            )));
        }
        if split_size == 0 && size != 0 {
            return Err(TensorError::Invalid(format!(
                "split_size can only be 0 if dimension size is 0, but got dimension size of {size}"
            )));
        }
        let split_size = split_size as usize;
        if size == 0 {
            return Ok(vec![0]);
        }
        let count = size.div_ceil(split_size);
        Ok((0..count)
            .map(|i| split_size.min(size - i * split_size))
            .collect())
    }

    /// `tensor.split(split_size, dim)` (`torch.split` with an int): views of `split_size`
    /// elements along `dim`, the last one shorter; one SplitBackward0 for all of them.
    pub fn split(&self, split_size: i64, dim: isize) -> Result<Vec<Tensor>> {
        let d = self.split_dim("split", dim)?;
        let lengths = self.split_lengths(split_size, d)?;
        let outs = self.pieces(d, &lengths, true);
        self.record_split(SplitKind::Split, d, lengths, &outs);
        Ok(outs)
    }

    /// `tensor.split([sizes], dim)` (`split_with_sizes`): views of the given lengths, which
    /// must add up to the dimension's size; one SplitWithSizesBackward0.
    pub fn split_with_sizes(&self, sizes: &[i64], dim: isize) -> Result<Vec<Tensor>> {
        let d = self.split_dim("split_with_sizes", dim)?;
        let lengths = self.check_split_sizes(sizes, d)?;
        let outs = self.pieces(d, &lengths, true);
        self.record_split(SplitKind::WithSizes, d, lengths, &outs);
        Ok(outs)
    }

    fn check_split_sizes(&self, sizes: &[i64], dim: usize) -> Result<Vec<usize>> {
        let listed = || {
            let parts: Vec<String> = sizes.iter().map(i64::to_string).collect();
            format!("[{}]", parts.join(", "))
        };
        if sizes.iter().any(|&s| s < 0) {
            return Err(TensorError::Invalid(format!(
                "split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes={}",
                listed()
            )));
        }
        let size = self.shape()[dim];
        if sizes.iter().map(|&s| s as u64).sum::<u64>() != size as u64 {
            return Err(TensorError::Invalid(format!(
                "split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size at dimension {dim}), but got split_sizes={}",
                listed()
            )));
        }
        Ok(sizes.iter().map(|&s| s as usize).collect())
    }

    /// Lengths of `chunk(chunks)`: `split` by `ceil(size / chunks)`, so there may be fewer
    /// than `chunks` pieces; a dimension of size 0 gives `chunks` empty pieces.
    fn chunk_lengths(&self, op: &str, chunks: i64, dim: isize) -> Result<(usize, Vec<usize>)> {
        if self.dim() == 0 {
            return Err(TensorError::Invalid(format!(
                "{op} expects at least a 1-dimensional tensor"
            )));
        }
        if chunks <= 0 {
            return Err(TensorError::Invalid(format!(
                "{op} expects `chunks` to be greater than 0, got: {chunks}"
            )));
        }
        let d = wrap_dim(dim, self.dim())?;
        let size = self.shape()[d];
        if size == 0 {
            return Ok((d, vec![0; chunks as usize]));
        }
        let split_size = size.div_ceil(chunks as usize);
        Ok((d, self.split_lengths(split_size as i64, d)?))
    }

    /// `tensor.chunk(chunks, dim)`: `split` by `ceil(size / chunks)` (SplitBackward0), or for
    /// a dimension of size 0, `chunks` empty pieces (SplitWithSizesBackward0).
    pub fn chunk(&self, chunks: i64, dim: isize) -> Result<Vec<Tensor>> {
        let (d, lengths) = self.chunk_lengths("chunk", chunks, dim)?;
        let kind = if self.shape()[d] == 0 {
            SplitKind::WithSizes
        } else {
            SplitKind::Split
        };
        let outs = self.pieces(d, &lengths, true);
        self.record_split(kind, d, lengths, &outs);
        Ok(outs)
    }

    /// `tensor.unsafe_split(split_size, dim)`: `split` whose pieces autograd does not treat
    /// as views (UnsafeSplitBackward0), so they may be modified in place: what PyTorch's
    /// recurrent cells do to their gates.
    pub fn unsafe_split(&self, split_size: i64, dim: isize) -> Result<Vec<Tensor>> {
        let d = self.split_dim("split", dim)?;
        let lengths = self.split_lengths(split_size, d)?;
        let outs = self.pieces(d, &lengths, false);
        self.record_split(SplitKind::Unsafe, d, lengths, &outs);
        Ok(outs)
    }

    /// `tensor.unsafe_chunk(chunks, dim)`: `chunk` through [`Tensor::unsafe_split`].
    pub fn unsafe_chunk(&self, chunks: i64, dim: isize) -> Result<Vec<Tensor>> {
        let (d, lengths) = self.chunk_lengths("chunk", chunks, dim)?;
        let outs = self.pieces(d, &lengths, false);
        self.record_split(SplitKind::Unsafe, d, lengths, &outs);
        Ok(outs)
    }

    /// `tensor.unbind(dim)` (`torch.unbind`, and what iterating a tensor does): one view per
    /// index of `dim`, that dimension removed; one UnbindBackward0.
    pub fn unbind(&self, dim: isize) -> Result<Vec<Tensor>> {
        if self.dim() == 0 {
            return Err(TensorError::Invalid(format!(
                "Dimension specified as {dim} but tensor has no dimensions"
            )));
        }
        let d = wrap_dim(dim, self.dim())?;
        let n = self.shape()[d];
        let outs: Vec<Tensor> = (0..n).map(|i| self.select_view(d, i)).collect();
        self.record_split(SplitKind::Unbind, d, vec![1; n], &outs);
        Ok(outs)
    }
}
