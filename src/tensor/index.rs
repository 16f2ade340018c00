//! Advanced indexing as ATen records it: `x[idx]`, `x[mask]`, `x[:, idx]` (`at::index`,
//! IndexBackward0 saving the index tensors as given, bool masks included, and the input's
//! sizes), `index_select` (IndexSelectBackward0: `index`), `gather` (GatherBackward0: `self`
//! and `index`), and the in-place writes a subscript assignment dispatches to: `index_put_`
//! (IndexPutBackward0: `indices`), `index_fill_` (IndexFillBackward0: `index`),
//! `masked_fill_` (MaskedFillBackward0: `mask`). Facts read from PyTorch 2.15's
//! `grad_fn._saved_*` and `tools/autograd/derivatives.yaml` (`docs/autograd.md`).
//!
//! A bool mask becomes int64 indices through `nonzero`, whose size depends on the mask's
//! values: on the meta backend a device mask has none, so such an index is an error there,
//! as PyTorch's own meta tensors refuse `nonzero`.

use super::kernel::{Buf, Cx};
use super::layer_node::{operand, read, run, write};
use super::{
    format_shape, DType, Device, LayerKernel, LayerNode, Result, Scalar, Tensor, TensorError,
};
use crate::autograd::{Formula, Node, NodeBuilder};

/// The names of IndexBackward0's and IndexPutBackward0's saved index tensors, by the position
/// of the dimension each indexes (PyTorch shows them as one tuple, `_saved_indices`, with
/// `None` at the dimensions taken whole).
const INDEX_NAMES: [&str; 8] = [
    "indices[0]",
    "indices[1]",
    "indices[2]",
    "indices[3]",
    "indices[4]",
    "indices[5]",
    "indices[6]",
    "indices[7]",
];

/// Where `at::index` takes each element from: which dimensions of the input are indexed, the
/// shape the index tensors broadcast to, and whether that shape goes first in the result
/// (indexed dimensions that are not adjacent) or where the indexed dimensions were.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndexPlan {
    self_shape: Vec<usize>,
    indexed: Vec<bool>,
    index_shape: Vec<usize>,
    front: bool,
}

impl IndexPlan {
    fn new(self_shape: &[usize], indexed: Vec<bool>, index_shape: Vec<usize>) -> IndexPlan {
        let first = indexed.iter().position(|&b| b).unwrap_or(0);
        let last = indexed.iter().rposition(|&b| b).unwrap_or(0);
        let front = indexed[first..=last].iter().any(|&b| !b);
        IndexPlan {
            self_shape: self_shape.to_vec(),
            indexed,
            index_shape,
            front,
        }
    }

    fn first(&self) -> usize {
        if self.front {
            0
        } else {
            self.indexed.iter().position(|&b| b).unwrap_or(0)
        }
    }

    /// The result's shape: the dimensions not indexed, with the index shape at `first`.
    pub(crate) fn out_shape(&self) -> Vec<usize> {
        let kept: Vec<usize> = (0..self.self_shape.len())
            .filter(|&d| !self.indexed[d])
            .map(|d| self.self_shape[d])
            .collect();
        let first = self.first();
        let mut shape = kept[..first].to_vec();
        shape.extend(&self.index_shape);
        shape.extend(&kept[first..]);
        shape
    }

    /// For each element of the result in row-major order, the row-major offset of the input
    /// element it is; `indices` holds one index per indexed dimension, each read at the index
    /// shape. PyTorch's error for an index out of range.
    fn sources(&self, indices: &[Vec<i64>]) -> Result<Vec<usize>> {
        let out_shape = self.out_shape();
        let n: usize = out_shape.iter().product();
        let k = self.index_shape.len();
        let first = self.first();
        let kept: Vec<usize> = (0..self.self_shape.len())
            .filter(|&d| !self.indexed[d])
            .collect();
        let self_strides = super::contiguous_strides(&self.self_shape);
        let mut offsets = Vec::with_capacity(n);
        let mut coord = vec![0usize; out_shape.len()];
        for _ in 0..n {
            let mut lin = 0usize;
            for (i, &c) in coord[first..first + k].iter().enumerate() {
                lin = lin * self.index_shape[i] + c;
            }
            let mut offset = 0usize;
            for (j, &d) in kept.iter().enumerate() {
                let at = if j < first { j } else { j + k };
                offset += coord[at] * self_strides[d];
            }
            let dims = (0..self.self_shape.len()).filter(|&d| self.indexed[d]);
            for (values, d) in indices.iter().zip(dims) {
                let size = self.self_shape[d] as i64;
                let i = values[lin];
                let wrapped = if i < 0 { i + size } else { i };
                if !(0..size).contains(&wrapped) {
                    return Err(TensorError::Invalid(format!(
                        "index {i} is out of bounds for dimension {d} with size {size}"
                    )));
                }
                offset += wrapped as usize * self_strides[d];
            }
            offsets.push(offset);
            for d in (0..coord.len()).rev() {
                coord[d] += 1;
                if coord[d] < out_shape[d] {
                    break;
                }
                coord[d] = 0;
            }
        }
        Ok(offsets)
    }

    /// The index values of `ins[from..]` read at the index shape; `None` without values.
    fn read_indices(&self, cx: Cx, ins: &[Option<&Buf>], from: usize) -> Option<Vec<Vec<i64>>> {
        (from..ins.len())
            .map(|i| operand(ins, i).and_then(|b| b.read_i64(cx)))
            .collect()
    }

    /// `[y]` from `[x, index...]`.
    pub(super) fn host_index(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(x), Some(indices)) = (read(ins, 0, cx), self.read_indices(cx, ins, 1)) else {
            return Ok(());
        };
        let y: Vec<f32> = self.sources(&indices)?.into_iter().map(|o| x[o]).collect();
        write(outs, 0, cx, &y);
        Ok(())
    }

    /// `[dst]` (written in place) from `[values, index...]`, the values at the result's shape.
    pub(super) fn host_put(
        &self,
        accumulate: bool,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(mut dst), Some(values), Some(indices)) = (
            read(outs, 0, cx),
            read(ins, 0, cx),
            self.read_indices(cx, ins, 1),
        ) else {
            return Ok(());
        };
        for (o, v) in self.sources(&indices)?.into_iter().zip(values) {
            if accumulate {
                dst[o] += v;
            } else {
                dst[o] = v;
            }
        }
        write(outs, 0, cx, &dst);
        Ok(())
    }
}

/// `[dst]` (in place) from `[mask]`, the mask at `dst`'s shape: `value` where it is true.
pub(super) fn host_masked_fill(
    value: f32,
    cx: Cx,
    outs: &[Option<&Buf>],
    ins: &[Option<&Buf>],
) -> Result<()> {
    let (Some(mut dst), Some(mask)) = (
        read(outs, 0, cx),
        operand(ins, 0).and_then(|b| b.read_bool(cx)),
    ) else {
        return Ok(());
    };
    for (d, m) in dst.iter_mut().zip(mask) {
        if m {
            *d = value;
        }
    }
    write(outs, 0, cx, &dst);
    Ok(())
}

/// Gather and its backward's scatter-add along one dimension.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Along {
    dim: usize,
    self_shape: Vec<usize>,
}

impl Along {
    /// Along `dim` of a tensor of `self_shape`.
    pub(crate) fn new(dim: usize, self_shape: Vec<usize>) -> Along {
        Along { dim, self_shape }
    }

    /// Row-major offsets into a tensor of `self_shape` for each element of `index` (whose shape
    /// is `index_shape`), taking the index value as the coordinate along `dim`.
    fn offsets(&self, index_shape: &[usize], index: &[i64]) -> Result<Vec<usize>> {
        let strides = super::contiguous_strides(&self.self_shape);
        let size = self.self_shape[self.dim] as i64;
        let mut coord = vec![0usize; index_shape.len()];
        let mut out = Vec::with_capacity(index.len());
        for &i in index {
            if !(0..size).contains(&i) {
                return Err(TensorError::Invalid(format!(
                    "index {i} is out of bounds for dimension {} with size {size}",
                    self.dim
                )));
            }
            let mut offset = 0;
            for (d, &c) in coord.iter().enumerate() {
                let c = if d == self.dim { i as usize } else { c };
                offset += c * strides[d];
            }
            out.push(offset);
            for d in (0..coord.len()).rev() {
                coord[d] += 1;
                if coord[d] < index_shape[d] {
                    break;
                }
                coord[d] = 0;
            }
        }
        Ok(out)
    }

    /// `[y]` from `[x, index]`.
    pub(super) fn host_gather(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(x), Some(ib)) = (read(ins, 0, cx), operand(ins, 1)) else {
            return Ok(());
        };
        let Some(index) = ib.read_i64(cx) else {
            return Ok(());
        };
        let y: Vec<f32> = self
            .offsets(ib.shape, &index)?
            .into_iter()
            .map(|o| x[o])
            .collect();
        write(outs, 0, cx, &y);
        Ok(())
    }

    /// `[dst]` (in place) from `[src, index]`, `src` at the index's shape.
    pub(super) fn host_scatter_add(
        &self,
        cx: Cx,
        outs: &[Option<&Buf>],
        ins: &[Option<&Buf>],
    ) -> Result<()> {
        let (Some(mut dst), Some(src), Some(ib)) =
            (read(outs, 0, cx), read(ins, 0, cx), operand(ins, 1))
        else {
            return Ok(());
        };
        let Some(index) = ib.read_i64(cx) else {
            return Ok(());
        };
        for (o, v) in self.offsets(ib.shape, &index)?.into_iter().zip(src) {
            dst[o] += v;
        }
        write(outs, 0, cx, &dst);
        Ok(())
    }
}

/// One item of a subscript: a basic index or a tensor (int64 indices or a bool mask).
#[derive(Debug, Clone)]
pub enum Indexer {
    /// An integer, a slice, `None` or `...`.
    Basic(super::TensorIndex),
    /// An int64 or bool tensor.
    Tensor(Tensor),
}

/// What `x[index] = value` assigns.
#[derive(Debug, Clone)]
pub enum SetValue {
    /// A Python number.
    Scalar(Scalar),
    /// A tensor, broadcast to what the index selects.
    Tensor(Tensor),
}

/// The nodes of this file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IndexNode {
    /// IndexBackward0: `index_backward(zeros(self_sizes), indices, grad)`.
    Index {
        self_sizes: Vec<usize>,
        positions: Vec<usize>,
    },
    /// IndexPutBackward0 (inputs `self`, `values`).
    IndexPut {
        positions: Vec<usize>,
        accumulate: bool,
        values_shape: Vec<usize>,
    },
    /// IndexFillBackward0: `grad.index_fill(dim, index, 0)`.
    IndexFill { dim: usize },
    /// MaskedFillBackward0: `grad.masked_fill(mask, 0)`.
    MaskedFill,
    /// IndexSelectBackward0: `zeros(self_sizes).index_add_(dim, index, grad)`.
    IndexSelect { self_sizes: Vec<usize>, dim: usize },
    /// GatherBackward0: `zeros(self.sizes()).scatter_add_(dim, index, grad)`.
    Gather { dim: usize },
}

impl IndexNode {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            IndexNode::Index { .. } => "IndexBackward0",
            IndexNode::IndexPut { .. } => "IndexPutBackward0",
            IndexNode::IndexFill { .. } => "IndexFillBackward0",
            IndexNode::MaskedFill => "MaskedFillBackward0",
            IndexNode::IndexSelect { .. } => "IndexSelectBackward0",
            IndexNode::Gather { .. } => "GatherBackward0",
        }
    }

    fn saved_indices(node: &Node, positions: &[usize]) -> Result<Vec<Option<Tensor>>> {
        let len = positions.iter().max().map_or(0, |m| m + 1);
        let mut out = vec![None; len];
        for &p in positions {
            out[p] = Some(node.unpack(INDEX_NAMES[p])?);
        }
        Ok(out)
    }

    pub(crate) fn backward(
        &self,
        node: &Node,
        grad: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let mut out = vec![None; needs.len()];
        match self {
            IndexNode::Index {
                self_sizes,
                positions,
            } => {
                let indices = Self::saved_indices(node, positions)?;
                let zeros = grad.new_zeros(self_sizes)?;
                zeros.index_put_raw(&indices, grad, true)?;
                out[0] = Some(zeros);
            }
            IndexNode::IndexPut {
                positions,
                accumulate,
                values_shape,
            } => {
                let indices = Self::saved_indices(node, positions)?;
                if need(0) {
                    out[0] = Some(if *accumulate {
                        grad.clone()
                    } else {
                        // `zeros_like(values)` is made before `index_put`'s copy of grad.
                        let zeros = grad.new_zeros(values_shape)?;
                        let g = grad.clone_raw()?;
                        g.index_put_raw(&indices, &zeros, false)?;
                        g
                    });
                }
                if need(1) {
                    out[1] = Some(grad.index_raw(&indices)?.sum_to(values_shape)?);
                }
            }
            IndexNode::IndexFill { dim } => {
                let index = node.unpack("index")?;
                let g = grad.clone_raw()?;
                g.index_fill_raw(*dim, &index, 0.0)?;
                out[0] = Some(g);
            }
            IndexNode::MaskedFill => {
                let mask = node.unpack("mask")?;
                let g = grad.clone_raw()?;
                g.masked_fill_raw(&mask, 0.0)?;
                out[0] = Some(g);
            }
            IndexNode::IndexSelect { self_sizes, dim } => {
                let index = node.unpack("index")?;
                let zeros = grad.new_zeros(self_sizes)?;
                let mut indices = vec![None; dim + 1];
                indices[*dim] = Some(index);
                zeros.index_put_raw(&indices, grad, true)?;
                out[0] = Some(zeros);
            }
            IndexNode::Gather { dim } => {
                let self_ = node.unpack("self")?;
                let index = node.unpack("index")?;
                let zeros = grad.new_zeros(self_.shape())?;
                let along = Along {
                    dim: *dim,
                    self_shape: self_.shape().to_vec(),
                };
                run(
                    &zeros,
                    &LayerKernel::ScatterAdd(along),
                    &[Some(&zeros)],
                    &[Some(grad), Some(&index)],
                )?;
                out[0] = Some(zeros);
            }
        }
        Ok(out)
    }
}

fn is_index_dtype(t: &Tensor) -> bool {
    matches!(t.dtype(), DType::I64 | DType::I32 | DType::Bool)
}

impl Tensor {
    /// A copy without history (what a backward formula's `grad.clone()` allocates).
    fn clone_raw(&self) -> Result<Tensor> {
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
        out.copy_values_from(self)?;
        Ok(out)
    }

    /// `mask.nonzero()`: the int64 coordinates (count × mask.dim()) of the true elements, on
    /// the mask's device. Its size depends on the values, which the meta backend has not.
    pub fn nonzero(&self) -> Result<Tensor> {
        let Some(values) = self.read_bool() else {
            return Err(TensorError::Unsupported(
                "an operation whose result size depends on a tensor's values (nonzero, boolean-mask indexing, masked_select) on the meta backend, which has no values (PyTorch's meta tensors refuse it too); check this scenario with --backend cpu".into(),
            ));
        };
        let strides = super::contiguous_strides(self.shape());
        let mut coords = Vec::new();
        for (i, v) in values.into_iter().enumerate() {
            if v {
                coords.extend(
                    strides
                        .iter()
                        .zip(self.shape())
                        .map(|(&s, &n)| ((i / s.max(1)) % n.max(1)) as i64),
                );
            }
        }
        let count = coords.len() / self.dim().max(1);
        let out = self.new_like(&[count, self.dim()], DType::I64, self.device())?;
        out.write_i64(&coords);
        Ok(out)
    }

    /// `nonzero(as_tuple=True)` (and `torch.where(condition)`): the columns of
    /// [`nonzero`](Self::nonzero), views of its one allocation.
    pub fn nonzero_columns(&self) -> Result<Vec<Tensor>> {
        let nz = self.nonzero()?;
        let (count, width) = (nz.shape()[0], nz.shape()[1]);
        Ok((0..width)
            .map(|j| nz.view_raw(vec![count], vec![width], nz.0.offset + j))
            .collect())
    }

    /// `expandTensors`: bool masks become their `nonzero` columns (a mask of k dimensions
    /// indexes k dimensions), int64 indices stay; each moved to this tensor's device. Returns
    /// the indexed dimensions and their int64 index tensors, and the `nonzero` results that
    /// must live while they are used.
    fn expand_indices(&self, indices: &[Option<Tensor>]) -> Result<Vec<(usize, Tensor)>> {
        let mut out = Vec::new();
        let mut dim = 0usize;
        for index in indices {
            match index {
                None => dim += 1,
                Some(t) if t.dtype() == DType::Bool => {
                    for (j, &n) in t.shape().iter().enumerate() {
                        if self.shape().get(dim + j) != Some(&n) {
                            return Err(TensorError::Invalid(format!(
                                "The shape of the mask {} at index {j} does not match the shape of the indexed tensor {} at index {}",
                                format_shape(t.shape()),
                                format_shape(self.shape()),
                                dim + j
                            )));
                        }
                    }
                    let nz = t.nonzero()?.to(self.device())?;
                    // Column j of the coordinates: a strided view, as `nonzero().select(1, j)`.
                    let (count, width) = (nz.shape()[0], nz.shape()[1]);
                    for j in 0..t.dim() {
                        let column = nz.view_raw(vec![count], vec![width], nz.0.offset + j);
                        out.push((dim + j, column));
                    }
                    dim += t.dim();
                }
                Some(t) => {
                    out.push((dim, t.to(self.device())?));
                    dim += 1;
                }
            }
        }
        if dim > self.dim() {
            return Err(TensorError::Invalid(format!(
                "too many indices for tensor of dimension {}",
                self.dim()
            )));
        }
        Ok(out)
    }

    /// The plan and the broadcast int64 indices of `at::index`/`index_put_` with `indices`.
    fn index_plan(&self, indices: &[Option<Tensor>]) -> Result<(IndexPlan, Vec<Tensor>)> {
        for t in indices.iter().flatten() {
            if !is_index_dtype(t) {
                return Err(TensorError::Invalid(
                    "tensors used as indices must be long, int, byte or bool tensors".into(),
                ));
            }
        }
        let expanded = self.expand_indices(indices)?;
        let mut shape: Vec<usize> = Vec::new();
        for (_, t) in &expanded {
            shape = super::ops::broadcast_shapes(&shape, t.shape()).map_err(|_| {
                TensorError::Invalid(format!(
                    "shape mismatch: indexing tensors could not be broadcast together with shapes {}",
                    expanded
                        .iter()
                        .map(|(_, t)| format_shape(t.shape()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        }
        let mut indexed = vec![false; self.dim()];
        for (d, _) in &expanded {
            indexed[*d] = true;
        }
        let views = expanded
            .iter()
            .map(|(_, t)| t.broadcast_view(&shape))
            .collect();
        Ok((IndexPlan::new(self.shape(), indexed, shape), views))
    }

    /// `at::index` without history: one allocation (plus `nonzero` for masks).
    fn index_raw(&self, indices: &[Option<Tensor>]) -> Result<Tensor> {
        let (plan, views) = self.index_plan(indices)?;
        let out = self.new_like(&plan.out_shape(), self.dtype(), self.device())?;
        let mut ins = vec![Some(self)];
        ins.extend(views.iter().map(Some));
        run(&out, &LayerKernel::Index(plan), &[Some(&out)], &ins)?;
        Ok(out)
    }

    /// `index_put_` without history or version bump; `values` broadcast to what is selected.
    fn index_put_raw(
        &self,
        indices: &[Option<Tensor>],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<()> {
        let (plan, views) = self.index_plan(indices)?;
        let shape = plan.out_shape();
        let values = values.to(self.device())?;
        if super::ops::broadcast_shapes(&shape, values.shape())
            .ok()
            .as_deref()
            != Some(&shape)
        {
            return Err(TensorError::Invalid(format!(
                "shape mismatch: value tensor of shape {} cannot be broadcast to indexing result of shape {}",
                format_shape(values.shape()),
                format_shape(&shape)
            )));
        }
        let values = values.broadcast_view(&shape);
        let mut ins = vec![Some(&values)];
        ins.extend(views.iter().map(Some));
        run(
            self,
            &LayerKernel::IndexPut(plan, accumulate),
            &[Some(self)],
            &ins,
        )
    }

    fn index_fill_raw(&self, dim: usize, index: &Tensor, value: f32) -> Result<()> {
        let mut indices = vec![None; dim + 1];
        indices[dim] = Some(index.reshape(&[-1])?);
        let (plan, views) = self.index_plan(&indices)?;
        let fill = self.new_like(&[], self.dtype(), Device::Cpu)?;
        fill.write_f32(&[value]);
        let values = fill.broadcast_view(&plan.out_shape());
        let mut ins = vec![Some(&values)];
        ins.extend(views.iter().map(Some));
        run(
            self,
            &LayerKernel::IndexPut(plan, false),
            &[Some(self)],
            &ins,
        )
    }

    fn masked_fill_raw(&self, mask: &Tensor, value: f32) -> Result<()> {
        let shape = super::ops::broadcast_shapes(self.shape(), mask.shape())?;
        if shape != self.shape() {
            return Err(TensorError::Invalid(format!(
                "masked_fill_ only supports boolean masks broadcastable to the tensor, but got mask of shape {}",
                format_shape(mask.shape())
            )));
        }
        let mask = mask.to(self.device())?.broadcast_view(self.shape());
        run(
            self,
            &LayerKernel::MaskedFill(value),
            &[Some(self)],
            &[Some(&mask)],
        )
    }

    /// Saves `indices` under [`INDEX_NAMES`] by position; the positions saved.
    fn save_indices(b: &mut NodeBuilder, indices: &[Option<Tensor>]) -> Result<Vec<usize>> {
        if indices.len() > INDEX_NAMES.len() {
            return Err(TensorError::Unsupported(format!(
                "indexing with more than {} index items",
                INDEX_NAMES.len()
            )));
        }
        let mut positions = Vec::new();
        for (p, t) in indices.iter().enumerate() {
            if let Some(t) = t {
                b.save(INDEX_NAMES[p], t);
                positions.push(p);
            }
        }
        Ok(positions)
    }

    /// `torch.ops.aten.index(self, indices)`: the elements `indices` pick (int64 tensors or bool
    /// masks, `None` for a dimension taken whole), a new tensor; IndexBackward0 saves the
    /// indices as given and the input's sizes.
    pub fn index_tensors(&self, indices: &[Option<Tensor>]) -> Result<Tensor> {
        let out = self.index_raw(indices)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            let positions = Self::save_indices(&mut b, indices)?;
            b.finish(
                Formula::Layer(LayerNode::Index(IndexNode::Index {
                    self_sizes: self.shape().to_vec(),
                    positions,
                })),
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.index_put_(indices, values, accumulate)`: in place, at the next version;
    /// IndexPutBackward0 saves the indices.
    pub fn index_put_(
        &self,
        indices: &[Option<Tensor>],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<Tensor> {
        let builder = self.begin_inplace(&[self, values])?;
        self.index_put_raw(indices, values, accumulate)?;
        self.bump_version();
        if let Some(mut b) = builder {
            let positions = Self::save_indices(&mut b, indices)?;
            b.finish(
                Formula::Layer(LayerNode::Index(IndexNode::IndexPut {
                    positions,
                    accumulate,
                    values_shape: values.shape().to_vec(),
                })),
                self,
            );
        }
        Ok(self.clone())
    }

    /// `tensor.index_fill_(dim, index, value)`: in place; IndexFillBackward0 saves `index`.
    pub fn index_fill_(&self, dim: isize, index: &Tensor, value: f64) -> Result<Tensor> {
        let d = super::ops::wrap_dim(dim, self.dim())?;
        if index.dtype() != DType::I64 || index.dim() > 1 {
            return Err(TensorError::Invalid(
                "index_fill_(): Expected a long tensor for index with at most one dimension".into(),
            ));
        }
        let builder = self.begin_inplace(&[self])?;
        self.index_fill_raw(d, index, value as f32)?;
        self.bump_version();
        if let Some(mut b) = builder {
            b.save("index", index);
            b.finish(
                Formula::Layer(LayerNode::Index(IndexNode::IndexFill { dim: d })),
                self,
            );
        }
        Ok(self.clone())
    }

    /// `tensor.masked_fill(mask, value)`: ATen clones `self` into a contiguous result and fills
    /// that in place below autograd, so the graph has one MaskedFillBackward0 (saving `mask`)
    /// and memory one output (`masked_fill` in `TensorAdvancedIndexing.cpp`).
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        if mask.dtype() != DType::Bool {
            return Err(TensorError::Invalid(format!(
                "masked_fill only supports boolean masks, but got mask with dtype {}",
                mask.dtype().short_name()
            )));
        }
        let out = self.new_like(self.shape(), self.dtype(), self.device())?;
        out.copy_values_from(self)?;
        out.masked_fill_raw(mask, value as f32)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("mask", mask);
            b.finish(
                Formula::Layer(LayerNode::Index(IndexNode::MaskedFill)),
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.masked_fill_(mask, value)`: in place; MaskedFillBackward0 saves `mask`.
    pub fn masked_fill_(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        if mask.dtype() != DType::Bool {
            return Err(TensorError::Invalid(format!(
                "masked_fill_ only supports boolean masks, but got mask with dtype {}",
                mask.dtype().short_name()
            )));
        }
        let builder = self.begin_inplace(&[self])?;
        self.masked_fill_raw(mask, value as f32)?;
        self.bump_version();
        if let Some(mut b) = builder {
            b.save("mask", mask);
            b.finish(
                Formula::Layer(LayerNode::Index(IndexNode::MaskedFill)),
                self,
            );
        }
        Ok(self.clone())
    }

    /// `tensor.index_select(dim, index)`: a new tensor; IndexSelectBackward0 saves `index`.
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        let d = super::ops::wrap_dim(dim, self.dim())?;
        if !index.dtype().is_integer() || index.dim() > 1 {
            return Err(TensorError::Invalid(
                "index_select(): Index is supposed to be a vector".into(),
            ));
        }
        let mut indices = vec![None; d + 1];
        indices[d] = Some(index.reshape(&[-1])?);
        let out = self.index_raw(&indices)?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("index", index);
            b.finish(
                Formula::Layer(LayerNode::Index(IndexNode::IndexSelect {
                    self_sizes: self.shape().to_vec(),
                    dim: d,
                })),
                &out,
            );
        }
        Ok(out)
    }

    /// `tensor.gather(dim, index)`: a tensor of the index's shape; GatherBackward0 saves `self`
    /// (the whole input) and `index`.
    pub fn gather(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        let d = super::ops::wrap_dim(dim, self.dim())?;
        if index.dtype() != DType::I64 {
            return Err(TensorError::Invalid(
                "gather(): Expected dtype int64 for index".into(),
            ));
        }
        let fits = index.dim() == self.dim()
            && (0..self.dim()).all(|i| i == d || index.shape()[i] <= self.shape()[i]);
        if !fits {
            return Err(TensorError::Invalid(format!(
                "Size does not match at dimension {d} expected index {} to be smaller than self {} apart from dimension {d}",
                format_shape(index.shape()),
                format_shape(self.shape())
            )));
        }
        super::ops::common_device(self, index)?;
        let out = self.new_like(index.shape(), self.dtype(), self.device())?;
        let along = Along {
            dim: d,
            self_shape: self.shape().to_vec(),
        };
        run(
            &out,
            &LayerKernel::Gather(along),
            &[Some(&out)],
            &[Some(self), Some(index)],
        )?;
        if let Some(mut b) = NodeBuilder::new(&[self]) {
            b.save("self", self);
            b.save("index", index);
            b.finish(
                Formula::Layer(LayerNode::Index(IndexNode::Gather { dim: d })),
                &out,
            );
        }
        Ok(out)
    }
}
