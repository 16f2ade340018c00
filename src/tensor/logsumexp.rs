//! `torch.logsumexp(x, dim, keepdim)` and `F.one_hot(t, num_classes)`.
//!
//! `logsumexp` is its own autograd node (LogsumexpBackward0, derivatives.yaml:
//! `self: logsumexp_backward(grad, self, result, dim, keepdim)`), so the node saves `self` and
//! the result; under it, ATen's `logsumexp_out_impl` (aten/src/ATen/native/ReduceOps.cpp)
//! allocates `maxes = amax(self, dim, keepdim=True)`, the temporaries of
//! `maxes.masked_fill_(maxes.abs() == INFINITY, 0)`, then `(self - maxes).exp_()` at the
//! input's size, summed into the result, and frees them. The allocations here are made in that
//! order; the arithmetic is one kernel call.
//!
//! `one_hot` (aten/src/ATen/native/Onehot.cpp) makes `zeros(shape + [num_classes], int64)` and
//! scatters ones into it: no autograd (int64). With `num_classes=-1` on the device it first
//! reads `self.max()`, a 0-dim int64 device temporary.

use super::kernel::{Buf, Cx};
use super::layer_node::{read, run, write};
use super::{DType, Device, LayerKernel, Result, Tensor, TensorError};
use crate::autograd::{Formula, Node, NodeBuilder};

/// Which dimensions a logsumexp reduces, as its kernel and node keep them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogsumexpDims {
    /// The input's sizes.
    shape: Vec<usize>,
    /// For each input dimension, whether it is reduced.
    reduce: Vec<bool>,
    /// `keepdim`.
    keepdim: bool,
}

impl LogsumexpDims {
    /// The result's sizes: reduced dimensions kept as 1 or dropped.
    fn out_shape(&self) -> Vec<usize> {
        self.shape
            .iter()
            .zip(&self.reduce)
            .filter_map(|(&s, &r)| match (r, self.keepdim) {
                (false, _) => Some(s),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect()
    }

    /// The sizes with reduced dimensions kept as 1 (`amax(..., keepdim=True)`).
    fn kept_shape(&self) -> Vec<usize> {
        self.shape
            .iter()
            .zip(&self.reduce)
            .map(|(&s, &r)| if r { 1 } else { s })
            .collect()
    }

    /// For each element of the input in row-major order, the index of its reduced element.
    fn groups(&self) -> Vec<usize> {
        let kept = self.kept_shape();
        let numel: usize = self.shape.iter().product();
        let mut out = Vec::with_capacity(numel);
        let mut index = vec![0usize; self.shape.len()];
        for _ in 0..numel {
            let mut o = 0;
            for (d, &i) in index.iter().enumerate() {
                o = o * kept[d] + if self.reduce[d] { 0 } else { i };
            }
            out.push(o);
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        out
    }

    /// `[result, maxes, shifted]` from `[x]`: the maxes with infinities made 0 (what
    /// `masked_fill_` leaves in them), `exp(x - maxes)`, and `log(sum) + maxes`.
    pub(super) fn host_forward(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let Some(x) = read(ins, 0, cx) else { return };
        let groups = self.groups();
        let n_out: usize = self.kept_shape().iter().product();
        let mut maxes = vec![f32::NEG_INFINITY; n_out];
        for (&v, &g) in x.iter().zip(&groups) {
            // NaN propagates through amax, as ATen's max does.
            if v.is_nan() || v > maxes[g] {
                maxes[g] = if maxes[g].is_nan() { maxes[g] } else { v };
            }
        }
        for m in &mut maxes {
            if m.is_infinite() {
                *m = 0.0;
            }
        }
        let shifted: Vec<f32> = x
            .iter()
            .zip(&groups)
            .map(|(&v, &g)| (v - maxes[g]).exp())
            .collect();
        let mut sums = vec![0f32; n_out];
        for (&s, &g) in shifted.iter().zip(&groups) {
            sums[g] += s;
        }
        let result: Vec<f32> = sums.iter().zip(&maxes).map(|(s, m)| s.ln() + m).collect();
        write(outs, 0, cx, &result);
        write(outs, 1, cx, &maxes);
        write(outs, 2, cx, &shifted);
    }

    /// `logsumexp_backward`: `grad * (self - result).exp()`, with `grad` and `result`
    /// unsqueezed back when `keepdim` was false: three allocations of the input's size, the
    /// first two freed when the product exists.
    pub(crate) fn backward(&self, node: &Node, grad: &Tensor) -> Result<Tensor> {
        let input = node.unpack("self")?;
        let result = node.unpack("result")?;
        let unsqueezed = |t: &Tensor| -> Result<Tensor> {
            let mut t = t.clone();
            for (d, _) in self.reduce.iter().enumerate().filter(|&(_, &r)| r) {
                t = t.unsqueeze(d)?;
            }
            Ok(t)
        };
        let (grad, result) = if self.keepdim {
            (grad.clone(), result)
        } else {
            (unsqueezed(grad)?, unsqueezed(&result)?)
        };
        grad.mul(&input.sub(&result)?.exp()?)
    }
}

impl Tensor {
    /// `torch.logsumexp(self, dim, keepdim)`: `log(sum(exp(self)))` over `dims`, computed
    /// stably, in the input's floating type. Integer inputs are converted to float32 first, as
    /// ATen does. The node,
    /// LogsumexpBackward0, saves `self` and the result.
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if let Some(c) = Tensor::autocast(super::autocast::AutocastOp::Logsumexp, &[Some(self)])? {
            return c.arg(0).logsumexp(dims, keepdim);
        }
        let x = if self.dtype().is_floating_point() {
            self.clone()
        } else {
            self.to_dtype(DType::F32)?
        };
        let dt = x.dtype();
        let wrapped = x.wrap_dims(dims)?;
        let mut reduce = vec![false; x.dim()];
        if wrapped.is_empty() && x.dim() > 0 {
            // `dim=()`: ATen's amax reduces every dimension but its sum none, so 2.15 fails
            // adding the kept maxes into the result.
            return Err(TensorError::Invalid(format!(
                "output with shape {} doesn't match the broadcast shape {}",
                super::format_shape(x.shape()),
                super::format_shape(&vec![1; x.dim()])
            )));
        }
        for d in wrapped {
            reduce[d] = true;
        }
        let spec = LogsumexpDims {
            shape: x.shape().to_vec(),
            reduce,
            keepdim,
        };
        let (rt, device) = (x.runtime(), x.device());
        let kept = spec.kept_shape();
        let squeezed = LogsumexpDims {
            keepdim: false,
            ..spec.clone()
        }
        .out_shape();
        let maxes = if x.numel() == 0 {
            None
        } else {
            let maxes = Tensor::empty_on(rt, &kept, dt, device)?;
            // `maxes_squeezed.abs() == INFINITY`: two temporaries, freed once masked_fill_ ran.
            let abs = Tensor::empty_on(rt, &squeezed, dt, device)?;
            let is_inf = Tensor::empty_on(rt, &squeezed, DType::Bool, device)?;
            drop(is_inf);
            drop(abs);
            Some(maxes)
        };
        // `(self - maxes).exp_()` (`exp(self)` for an empty input), alive until the sum is in
        // the result.
        let shifted = Tensor::empty_on(rt, x.shape(), dt, device)?;
        let out = Tensor::empty_on(rt, &spec.out_shape(), dt, device)?;
        let op = LayerKernel::Logsumexp(spec.clone());
        run(
            &out,
            &op,
            &[Some(&out), maxes.as_ref(), Some(&shifted)],
            &[Some(&x)],
        )?;
        drop(shifted);
        drop(maxes);
        if let Some(mut b) = NodeBuilder::new(&[&x]) {
            b.save("self", &x);
            b.save_output("result");
            b.finish(Formula::Layer(super::LayerNode::Logsumexp(spec)), &out);
        }
        Ok(out)
    }

    /// `F.one_hot(self, num_classes)`: int64 zeros of `self`'s shape plus `num_classes`, with
    /// a one at each class index. `num_classes = -1` reads the largest class (a 0-dim device
    /// temporary on the device, as `self.max().item()`).
    pub fn one_hot(&self, num_classes: i64) -> Result<Tensor> {
        if self.dtype() != DType::I64 {
            return Err(TensorError::Invalid(
                "one_hot is only applicable to index tensor of type LongTensor.".into(),
            ));
        }
        let mut shape = self.shape().to_vec();
        if self.numel() == 0 {
            if num_classes <= 0 {
                return Err(TensorError::Invalid(
                    "Can not infer total number of classes from empty tensor.".into(),
                ));
            }
            shape.push(num_classes as usize);
            return Tensor::empty_on(self.runtime(), &shape, DType::I64, self.device());
        }
        let values = self.read_i64();
        if let Some(v) = &values {
            // Checked on the host by ATen; on CUDA the same values fail scatter's device
            // assert, so the error is given here too rather than later.
            if v.iter().any(|&c| c < 0) {
                return Err(TensorError::Invalid(
                    "Class values must be non-negative.".into(),
                ));
            }
        }
        let largest = values.as_ref().and_then(|v| v.iter().copied().max());
        let classes =
            if num_classes == -1 {
                if self.device() == Device::Cuda {
                    // `self.max()`: a 0-dim result on the device, freed after `.item()`.
                    drop(Tensor::empty_on(
                        self.runtime(),
                        &[],
                        DType::I64,
                        self.device(),
                    )?);
                }
                match largest {
                    Some(m) => m + 1,
                    None => return Err(TensorError::Unsupported(
                        "F.one_hot without num_classes on the meta backend (the class count is \
                         read from the values, which meta does not have); pass num_classes"
                            .into(),
                    )),
                }
            } else {
                if largest.is_some_and(|m| m >= num_classes) {
                    return Err(TensorError::Invalid(
                        "Class values must be smaller than num_classes.".into(),
                    ));
                }
                if num_classes < 1 {
                    return Err(TensorError::Invalid(
                        "num_classes should be positive".into(),
                    ));
                }
                num_classes
            };
        shape.push(classes as usize);
        let out = Tensor::empty_on(self.runtime(), &shape, DType::I64, self.device())?;
        run(&out, &LayerKernel::OneHot, &[Some(&out)], &[Some(self)])?;
        Ok(out)
    }
}

/// `[out]` from `[indices]`: zeros with a one at each index along the last dimension.
pub(super) fn one_hot_host(cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
    let (Some(idx), Some(out)) = (ins[0].and_then(|b| b.read_i64(cx)), outs[0]) else {
        return;
    };
    let classes = out.shape.last().copied().unwrap_or(1);
    let mut v = vec![0i64; idx.len() * classes];
    for (row, &c) in idx.iter().enumerate() {
        v[row * classes + c as usize] = 1;
    }
    out.write_i64(cx, &v);
}
