//! Tensors: reference-counted handles over shared storages, with PyTorch's autograd metadata.
//!
//! A [`Tensor`] is what a Python variable holds: cloning the handle is `b = a` in Python, not
//! `a.clone()` (that is [`Tensor::clone_tensor`]). Views ([`Tensor::t`], [`Tensor::detach`],
//! [`Tensor::expand`]) share their base's storage and version counter; device storages give
//! their block back to the allocator when the last tensor using them goes.
//!
//! ```
//! use leakharness::device::Backend;
//! use leakharness::runtime::{Runtime, RuntimeOptions};
//! use leakharness::tensor::Device;
//!
//! let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
//! let w = rt.randn(&[64, 10], Device::Cuda).unwrap().requires_grad_(true).unwrap();
//! let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
//! let loss = x.matmul(&w).unwrap().relu().unwrap().sum().unwrap();
//! loss.backward(None, false).unwrap();
//! let grad = w.grad().unwrap();
//! assert_eq!(grad.shape(), &[64, 10]);
//! assert!(loss.item().unwrap() >= 0.0);
//! ```

mod activation;
mod aten_scalar;
mod attention;
mod autocast;
mod baddbmm;
mod batchnorm;
mod bce;
mod choose;
mod conv;
mod data;
mod embedding;
mod factory;
mod fused_cells;
mod group_norm;
mod index;
mod inplace;
mod kernel;
mod layer_node;
mod logical;
mod logsumexp;
mod loss;
mod matmul;
mod norm;
mod ops;
mod pad_sequence;
mod pointwise;
mod pool;
mod pool1d;
mod precision;
mod rearrange;
mod recurrent;
mod reduce;
mod reflect_pad;
mod rounding;
mod shape;
mod similarity;
mod sort;
mod split;
mod stats;
mod storage;
mod strided_grad;
mod subscript;
mod triu;
mod upsample;
mod views;
mod wrapped;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

pub use crate::base::{DType, Device, Result, TensorError};
pub use attention::SdpaOptions;
pub use bce::KlDivReduction;
pub(crate) use choose::{
    clamp_backward, clamp_bound_backward, extremum_backward, where_backward, Extremum,
};
pub use index::{Indexer, SetValue};
pub use loss::Reduction;
pub(crate) use loss::{
    log_softmax_backward, mse_loss_backward, nll_loss_backward, smooth_l1_loss_backward,
    softmax_backward,
};
pub(crate) use norm::{dropout_backward, layer_norm_backward};
pub use pad_sequence::PaddingSide;
pub(crate) use pointwise::{Keeps, Pointwise};
pub use shape::TensorIndex;
pub use subscript::list_index;
// Layer operations (convolution, pooling, batch norm, embedding, activations).
pub use autocast::AutocastGuard;
pub(crate) use autocast::AutocastOp;
pub use batchnorm::BatchNormOptions;
pub use conv::{ConvOptions, ConvPadding, ConvTransposeOptions};
pub(crate) use fused_cells::FusedCell;
pub(crate) use layer_node::{LayerKernel, LayerNode};
pub use pool::PoolOptions;
pub use rounding::RoundingMode;
pub(crate) use split::Split;
pub(crate) use stats::{statistic_backward, StatNode};
pub use upsample::{Interpolate, InterpolateMode, Resize, Spelled, UpsampleMode};

use crate::alloc::Purpose;
use crate::autograd::{self, Node};
use crate::base::BlockId;
use crate::runtime::Runtime;
use storage::Storage;

/// A Python number: ints keep integer tensors integer, floats make them float, as in PyTorch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// A Python `int`.
    Int(i64),
    /// A Python `float`.
    Float(f64),
}

impl Scalar {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }
}

impl From<f64> for Scalar {
    fn from(v: f64) -> Self {
        Scalar::Float(v)
    }
}

impl From<f32> for Scalar {
    fn from(v: f32) -> Self {
        Scalar::Float(v as f64)
    }
}

impl From<i64> for Scalar {
    fn from(v: i64) -> Self {
        Scalar::Int(v)
    }
}

impl From<i32> for Scalar {
    fn from(v: i32) -> Self {
        Scalar::Int(v as i64)
    }
}

pub(crate) struct TensorImpl {
    pub(crate) rt: Runtime,
    /// Replaced only by `set_data` (what `module.to(device)` does to parameters).
    pub(crate) storage: RefCell<Rc<Storage>>,
    pub(crate) shape: Vec<usize>,
    /// In elements.
    pub(crate) strides: Vec<usize>,
    /// In elements.
    pub(crate) offset: usize,
    /// Replaced only by `set_data` (`module.half()` converts parameters in place, as
    /// `param.data = param.half()` does).
    pub(crate) dtype: Cell<DType>,
    pub(crate) is_view: bool,
    /// The tensor a view was made from (the first of a chain of views), PyTorch's `_base`:
    /// an in-place operation with grad on the view rebases its history (CopySlices,
    /// `src/autograd/copy_slices.rs`). Held weakly: the storage is shared anyway, and a
    /// strong link would make a cycle through a saved alias of a node's own output.
    pub(crate) view_base: RefCell<Weak<TensorImpl>>,
    pub(crate) requires_grad: Cell<bool>,
    pub(crate) grad: RefCell<Option<Tensor>>,
    pub(crate) grad_fn: RefCell<Option<Rc<Node>>>,
    /// Which output of `grad_fn` this tensor is (PyTorch's `output_nr`): non-zero only for
    /// the outputs of a multi-output node (`split`, `unbind`).
    pub(crate) output_nr: Cell<usize>,
    /// A version counter of its own (shared with its views), for a tensor that shares its
    /// storage without being a view to autograd: the pieces of `unsafe_split`, which
    /// PyTorch's LSTM cell modifies in place one by one. `None`: the storage's counter.
    pub(crate) own_version: RefCell<Option<Rc<Cell<u64>>>>,
    /// Held weakly, as PyTorch does: the graph owns the AccumulateGrad node, not the leaf.
    pub(crate) grad_accumulator: RefCell<Weak<Node>>,
    /// A leaf's `register_hook` hooks (a non-leaf's live on its `grad_fn`).
    pub(crate) hooks: RefCell<Option<Rc<RefCell<Vec<crate::autograd::ProgramObject>>>>>,
    /// A Python number PyTorch wrapped into this 0-dim host tensor (`is_wrapped_number`,
    /// c10/core/TensorImpl.h; `src/tensor/wrapped.rs`).
    pub(crate) is_wrapped_number: Cell<bool>,
}

impl Drop for TensorImpl {
    fn drop(&mut self) {
        if let Some(node) = self.grad_fn.get_mut().take() {
            autograd::drop_graph(node);
        }
    }
}

/// A tensor handle. `Clone` gives another handle to the same tensor.
#[derive(Clone)]
pub struct Tensor(pub(crate) Rc<TensorImpl>);

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Tensor");
        d.field("shape", &self.shape())
            .field("dtype", &self.dtype())
            .field("device", &self.device());
        if self.requires_grad() {
            d.field("requires_grad", &true);
        }
        if let Some(node) = self.grad_fn() {
            d.field("grad_fn", &node.name());
        }
        d.finish()
    }
}

pub(crate) fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1].max(1);
    }
    strides
}

/// Elements of `shape`, or an error when the count overflows.
pub(crate) fn checked_numel(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &s| n.checked_mul(s))
        .ok_or_else(|| {
            TensorError::Invalid(format!(
                "a tensor of shape {} has too many elements",
                format_shape(shape)
            ))
        })
}

pub(crate) fn format_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

impl Tensor {
    /// A fresh contiguous tensor; device memory is allocated as a temporary.
    pub(crate) fn empty_on(
        rt: &Runtime,
        shape: &[usize],
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        Tensor::empty_for(rt, shape, dtype, device, Purpose::Temporary)
    }

    /// A fresh contiguous tensor whose device memory is tagged with `purpose`.
    pub(crate) fn empty_for(
        rt: &Runtime,
        shape: &[usize],
        dtype: DType,
        device: Device,
        purpose: Purpose,
    ) -> Result<Tensor> {
        let numel = checked_numel(shape)?;
        let storage = Rc::new(Storage::new(rt, device, numel, dtype, purpose)?);
        Ok(Tensor::from_parts(
            rt,
            storage,
            shape.to_vec(),
            contiguous_strides(shape),
            0,
            dtype,
            false,
        ))
    }

    fn from_parts(
        rt: &Runtime,
        storage: Rc<Storage>,
        shape: Vec<usize>,
        strides: Vec<usize>,
        offset: usize,
        dtype: DType,
        is_view: bool,
    ) -> Tensor {
        Tensor(Rc::new(TensorImpl {
            rt: rt.clone(),
            storage: RefCell::new(storage),
            shape,
            strides,
            offset,
            dtype: Cell::new(dtype),
            is_view,
            view_base: RefCell::new(Weak::new()),
            requires_grad: Cell::new(false),
            grad: RefCell::new(None),
            grad_fn: RefCell::new(None),
            output_nr: Cell::new(0),
            own_version: RefCell::new(None),
            grad_accumulator: RefCell::new(Weak::new()),
            hooks: RefCell::new(None),
            is_wrapped_number: Cell::new(false),
        }))
    }

    /// A view of the same storage with another geometry; no autograd history.
    pub(crate) fn view_raw(&self, shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Tensor {
        let view = Tensor::from_parts(
            &self.0.rt,
            self.storage(),
            shape,
            strides,
            offset,
            self.0.dtype.get(),
            true,
        );
        *view.0.own_version.borrow_mut() = self.0.own_version.borrow().clone();
        *view.0.view_base.borrow_mut() = if self.0.is_view {
            self.0.view_base.borrow().clone()
        } else {
            Rc::downgrade(&self.0)
        };
        view
    }

    /// The tensor this view was made from (`tensor._base`), while it lives; `None` for a
    /// tensor that is not a view to autograd (`detach()`).
    pub(crate) fn view_base(&self) -> Option<Tensor> {
        self.0.view_base.borrow().upgrade().map(Tensor)
    }

    pub(crate) fn storage(&self) -> Rc<Storage> {
        self.0.storage.borrow().clone()
    }

    /// Tensors (views included) using this storage now.
    pub(crate) fn storage_use_count(&self) -> usize {
        Rc::strong_count(&self.0.storage.borrow())
    }

    /// The runtime this tensor belongs to.
    pub fn runtime(&self) -> &Runtime {
        &self.0.rt
    }

    /// Sizes, outermost first (`tensor.shape`).
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.0.shape.len()
    }

    /// Strides in elements.
    pub fn strides(&self) -> &[usize] {
        &self.0.strides
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.0.shape.iter().product()
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype.get()
    }

    /// Where the tensor lives.
    pub fn device(&self) -> Device {
        self.0.storage.borrow().device()
    }

    /// Whether elements are laid out row-major without gaps.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&size, &stride) in self.0.shape.iter().zip(&self.0.strides).rev() {
            if size != 1 && stride != expected {
                return false;
            }
            expected *= size;
        }
        true
    }

    /// Whether the values are real: false for device tensors on the meta backend, which has
    /// no memory (and on a cuda device opened without kernels through
    /// [`Runtime::with_device`]).
    pub fn has_data(&self) -> bool {
        self.0.storage.borrow().has_data()
    }

    /// `tensor.requires_grad`.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad.get()
    }

    /// `tensor.requires_grad_(flag)`, returning the same tensor.
    pub fn requires_grad_(self, flag: bool) -> Result<Tensor> {
        self.set_requires_grad(flag)?;
        Ok(self)
    }

    /// `tensor.requires_grad = flag`.
    pub fn set_requires_grad(&self, flag: bool) -> Result<()> {
        if !self.is_leaf() {
            return Err(TensorError::Invalid(
                "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
                    .into(),
            ));
        }
        if flag && !self.dtype().is_floating_point() {
            return Err(TensorError::Invalid(
                "only Tensors of floating point and complex dtype can require gradients".into(),
            ));
        }
        self.0.requires_grad.set(flag);
        Ok(())
    }

    /// `tensor.is_leaf`: made by the user, not by an operation that autograd recorded.
    pub fn is_leaf(&self) -> bool {
        self.0.grad_fn.borrow().is_none()
    }

    /// `tensor.grad`.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.borrow().clone()
    }

    /// `tensor.grad = grad` (`None` is what `zero_grad(set_to_none=True)` does).
    pub fn set_grad(&self, grad: Option<Tensor>) {
        let old = self.0.grad.replace(grad);
        drop(old);
    }

    /// `tensor.grad_fn`.
    pub fn grad_fn(&self) -> Option<Rc<Node>> {
        self.0.grad_fn.borrow().clone()
    }

    /// `tensor.output_nr`: which output of its `grad_fn` this tensor is.
    pub fn output_nr(&self) -> usize {
        self.0.output_nr.get()
    }

    /// `tensor._version`: bumped by every in-place operation on this storage.
    pub fn version(&self) -> u64 {
        match &*self.0.own_version.borrow() {
            Some(v) => v.get(),
            None => self.0.storage.borrow().version(),
        }
    }

    /// The allocator block holding the values, for device tensors that have one.
    pub fn block(&self) -> Option<BlockId> {
        self.0.storage.borrow().block()
    }

    /// Bytes of the storage (views count their whole base).
    pub fn storage_nbytes(&self) -> usize {
        self.0.storage.borrow().nbytes()
    }

    /// An identity for this tensor object (Python's `id()`): equal for handles to the same
    /// tensor, unique among live tensors.
    pub fn id(&self) -> usize {
        Rc::as_ptr(&self.0) as usize
    }

    /// Whether both are handles to the same tensor (Python's `a is b`).
    pub fn is_same(&self, other: &Tensor) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// Whether both use the same storage (a view and its base, a tensor and its detach()).
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Rc::ptr_eq(&self.storage(), &other.storage())
    }

    /// Whether this is a Python number wrapped into a 0-dim host tensor, as PyTorch wraps the
    /// number operand of `x * 2.0` called from Python (`_is_wrapped_number()`).
    pub fn is_wrapped_number(&self) -> bool {
        self.0.is_wrapped_number.get()
    }

    /// Handles to this tensor that exist now (its Python reference count, more or less).
    pub fn use_count(&self) -> usize {
        Rc::strong_count(&self.0)
    }

    /// Tags the device block with `purpose` (used by nn and optim; a no-op on host tensors).
    pub fn set_purpose(&self, purpose: Purpose) {
        self.0.storage.borrow().set_purpose(purpose);
    }

    /// `param.data = other`: keeps this tensor's identity and autograd metadata but takes
    /// `other`'s storage, as `module.to(device)` does to parameters.
    pub fn set_data(&self, other: &Tensor) -> Result<()> {
        if other.shape() != self.shape()
            || other.strides() != self.strides()
            || other.0.offset != self.0.offset
        {
            return Err(TensorError::Unsupported(format!(
                "set_data from a tensor of another layout ({} {:?} into {} {:?})",
                format_shape(other.shape()),
                other.dtype(),
                format_shape(self.shape()),
                self.dtype()
            )));
        }
        let old = self.0.storage.replace(other.storage());
        self.0.dtype.set(other.dtype());
        drop(old);
        Ok(())
    }

    pub(crate) fn bump_version(&self) {
        match &*self.0.own_version.borrow() {
            Some(v) => v.set(v.get() + 1),
            None => self.0.storage.borrow().bump_version(),
        }
    }

    /// "torch.cuda.FloatTensor [10, 5]", as PyTorch names tensors in autograd errors.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.legacy_type(), format_shape(self.shape()))
    }

    /// "torch.cuda.FloatTensor": the legacy type name PyTorch's messages use.
    pub(crate) fn legacy_type(&self) -> String {
        let prefix = match self.device() {
            Device::Cuda => "torch.cuda.",
            Device::Cpu => "torch.",
        };
        format!("{prefix}{}", self.dtype().legacy_name())
    }

    pub(crate) fn set_grad_fn(&self, node: Option<Rc<Node>>) {
        self.0.output_nr.set(0);
        let old = self.0.grad_fn.replace(node);
        if let Some(old) = old {
            autograd::drop_graph(old);
        }
    }
}
