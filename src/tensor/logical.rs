//! The tests scripts run on their losses and gradients: `any`, `all` (of every element or
//! along dimensions), `isinf` and `isfinite`. None records a node (bool results have no
//! gradient). What each allocates is ATen's (2.15, aten/src/ATen/native/ReduceOps.cpp and
//! TensorCompare.cpp, and its dispatch trace): `any`/`all` one bool output; `isinf` one bool
//! output (its own kernel); `isfinite` of a float tensor is the composite
//! `(self == self) * (self.abs() != inf)`, whose operands run right to left: `abs`, `!= inf`,
//! `self == self`, then the product; of an integer tensor `ones_like(self, bool)`, as `isinf`
//! of one is `zeros_like`.

use super::layer_node::{operand, run, LayerKernel};
use super::rearrange::for_each_coord;
use super::{DType, Result, Scalar, Tensor};
use crate::tensor::kernel::{Buf, Cx};

/// Which reduction of truth values, over which dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnyAll {
    /// `all` (every element nonzero) rather than `any`.
    all: bool,
    /// Per input dimension, whether it is reduced.
    reduce: Vec<bool>,
}

impl Tensor {
    /// `torch.any(self)`: whether any element is nonzero, a 0-dim bool tensor.
    pub fn any(&self) -> Result<Tensor> {
        self.any_all(false, None, false)
    }

    /// `torch.all(self)`: whether every element is nonzero.
    pub fn all(&self) -> Result<Tensor> {
        self.any_all(true, None, false)
    }

    /// `torch.any(self, dim, keepdim)`.
    pub fn any_dim(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.any_all(false, Some(dim), keepdim)
    }

    /// `torch.all(self, dim, keepdim)`.
    pub fn all_dim(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.any_all(true, Some(dim), keepdim)
    }

    fn any_all(&self, all: bool, dim: Option<isize>, keepdim: bool) -> Result<Tensor> {
        let n = self.dim();
        let reduce: Vec<bool> = match dim {
            None => vec![true; n],
            Some(d) => {
                let d = super::ops::wrap_dim(d, n.max(1))?;
                (0..n).map(|i| i == d).collect()
            }
        };
        let shape: Vec<usize> = self
            .shape()
            .iter()
            .zip(&reduce)
            .filter_map(|(&s, &r)| match (r, keepdim) {
                (false, _) => Some(s),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        let out = Tensor::empty_on(self.runtime(), &shape, DType::Bool, self.device())?;
        run(
            &out,
            &LayerKernel::AnyAll(AnyAll { all, reduce }),
            &[Some(&out)],
            &[Some(self)],
        )?;
        Ok(out)
    }

    /// `torch.isinf(self)`: one bool output (false everywhere for an integer tensor).
    pub fn isinf(&self) -> Result<Tensor> {
        if !self.dtype().is_floating_point() {
            return self.filled_bools(false);
        }
        let out = Tensor::empty_on(self.runtime(), self.shape(), DType::Bool, self.device())?;
        run(&out, &LayerKernel::IsInf, &[Some(&out)], &[Some(self)])?;
        Ok(out)
    }

    /// `torch.isfinite(self)`: ATen's composite, `(self == self) * (self.abs() != inf)`, its
    /// right operand first; `ones_like(self, bool)` for an integer tensor.
    pub fn isfinite(&self) -> Result<Tensor> {
        if !self.dtype().is_floating_point() {
            return self.filled_bools(true);
        }
        // C++ keeps the temporaries to the end of the expression and destroys them in reverse
        // order, as these locals are dropped.
        let abs = self.abs()?;
        let finite_size = abs.ne_scalar(f64::INFINITY)?;
        let not_nan = self.eq(self)?;
        not_nan.mul(&finite_size)
    }

    /// `zeros_like`/`ones_like(self, dtype=torch.bool)`: one allocation.
    fn filled_bools(&self, value: bool) -> Result<Tensor> {
        let out = Tensor::empty_on(self.runtime(), self.shape(), DType::Bool, self.device())?;
        out.fill_values(Scalar::Int(i64::from(value)))?;
        Ok(out)
    }
}

impl AnyAll {
    /// `[out]` from `[x]`: each output element is the `any` or `all` of the input elements
    /// that differ from it only in reduced dimensions (NaN counts as nonzero).
    pub(super) fn host(&self, cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
        let (Some(x), Some(out)) = (operand(ins, 0), operand(outs, 0)) else {
            return;
        };
        let Some(v) = x.read_f64(cx) else { return };
        let mut result = vec![self.all; out.numel().max(1)];
        let shape = x.shape;
        let mut values = v.into_iter();
        for_each_coord(shape, |coord| {
            let truth = values.next().is_some_and(|value| value != 0.0);
            let mut at = 0;
            for (d, &c) in coord.iter().enumerate() {
                if !self.reduce[d] {
                    at = at * shape[d] + c;
                }
            }
            if self.all {
                result[at] &= truth;
            } else {
                result[at] |= truth;
            }
        });
        let bits: Vec<f64> = result.iter().map(|&b| f64::from(u8::from(b))).collect();
        out.write_f64(cx, &bits[..out.numel()]);
    }
}

/// `[out]` from `[x]`: whether each element is an infinity of either sign.
pub(super) fn isinf_host(cx: Cx, outs: &[Option<&Buf>], ins: &[Option<&Buf>]) {
    let (Some(x), Some(out)) = (operand(ins, 0), operand(outs, 0)) else {
        return;
    };
    let Some(v) = x.read_f64(cx) else { return };
    let bits: Vec<f64> = v
        .iter()
        .map(|x| f64::from(u8::from(x.is_infinite())))
        .collect();
    out.write_f64(cx, &bits);
}
