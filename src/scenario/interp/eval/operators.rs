//! Operators: truth value, unary and binary operators, comparisons and `in`, with Python's
//! special-method fallbacks.

use super::super::pyobj::Native;
use super::super::value::Value;
use super::super::{builtins, number, torch, CallArgs, Interp, X};
use crate::scenario::{BinOp, CmpOp, Span, UnaryOp};

impl Interp<'_> {
    pub(in crate::scenario::interp) fn truthy(&mut self, v: &Value, span: Span) -> X<bool> {
        if let Some(b) = v.truthy() {
            return Ok(b);
        }
        match v {
            Value::Tensor(t) => {
                let r = torch::tensor_bool(t).map_err(|e| self.tensor_error(span, e));
                self.lift(r)
            }
            Value::Instance(_) => {
                for name in ["__bool__", "__len__"] {
                    if let Some(m) = self.lookup_method(v, name) {
                        let r = self.call(m, CallArgs::default(), span)?;
                        return Ok(match r {
                            Value::Bool(b) => b,
                            Value::Int(i) => i != 0,
                            _ => true,
                        });
                    }
                }
                Ok(true)
            }
            Value::Native(n) => Ok(match &**n {
                Native::Deque(d, _) => !d.borrow().is_empty(),
                _ => true,
            }),
            _ => Ok(true),
        }
    }

    pub(in crate::scenario::interp) fn unary(
        &mut self,
        op: UnaryOp,
        v: Value,
        span: Span,
    ) -> X<Value> {
        let r = match (op, &v) {
            (UnaryOp::Not, _) => return Ok(Value::Bool(!self.truthy(&v, span)?)),
            (UnaryOp::Neg, Value::Int(i)) => i.checked_neg().map(Value::Int),
            (UnaryOp::Neg, Value::Bool(b)) => Some(Value::Int(-(*b as i64))),
            (UnaryOp::Neg, Value::Float(f)) => Some(Value::Float(-f)),
            (UnaryOp::Pos, Value::Int(_) | Value::Float(_)) => Some(v.clone()),
            (UnaryOp::Pos, Value::Bool(b)) => Some(Value::Int(*b as i64)),
            (UnaryOp::Invert, Value::Int(i)) => Some(Value::Int(!i)),
            (UnaryOp::Invert, Value::Bool(b)) => Some(Value::Int(!(*b as i64))),
            (UnaryOp::Neg, Value::Tensor(t)) => {
                let r = torch::neg(t).map_err(|e| self.tensor_error(span, e));
                return Ok(Value::Tensor(self.lift(r)?));
            }
            (UnaryOp::Pos, Value::Tensor(_)) => Some(v.clone()),
            (_, Value::Instance(_)) => {
                let name = match op {
                    UnaryOp::Neg => "__neg__",
                    UnaryOp::Pos => "__pos__",
                    _ => "__invert__",
                };
                if let Some(m) = self.lookup_method(&v, name) {
                    return self.call(m, CallArgs::default(), span);
                }
                None
            }
            _ => None,
        };
        match r {
            Some(v) => Ok(v),
            None if matches!(v, Value::Int(_)) => Err(self.raise(
                "OverflowError",
                "integer result does not fit in 64 bits".into(),
                span,
            )),
            None => Err(self.raise(
                "TypeError",
                format!(
                    "bad operand type for unary {}: '{}'",
                    op.symbol(),
                    v.type_name()
                ),
                span,
            )),
        }
    }

    pub(crate) fn binary(&mut self, l: Value, op: BinOp, r: Value, span: Span) -> X<Value> {
        // `"%.4f" % loss` formats the tensor's number, as `Tensor.__format__` does.
        if let (Value::Str(fmt), BinOp::Mod) = (&l, op) {
            let args = match &r {
                Value::Tuple(t) => t.as_ref().clone(),
                other => vec![other.clone()],
            };
            return Ok(Value::Str(self.percent_format(fmt, &args, span)?.into()));
        }
        if matches!(l, Value::Tensor(_)) || matches!(r, Value::Tensor(_)) {
            let result = torch::binary(&l, op, &r).map_err(|e| match e {
                Ok(tensor_error) => self.tensor_error(span, tensor_error),
                Err(message) => self.fail(span, message),
            });
            return self.lift(result);
        }
        if matches!(l, Value::Instance(_)) || matches!(r, Value::Instance(_)) {
            let name = format!("__{}__", builtins::dunder(op));
            if let Some(m) = self.lookup_method(&l, &name) {
                return self.call(m, CallArgs::positional(vec![r]), span);
            }
            let rname = format!("__r{}__", builtins::dunder(op));
            if let Some(m) = self.lookup_method(&r, &rname) {
                return self.call(m, CallArgs::positional(vec![l]), span);
            }
        }
        if let Some(v) = builtins::sequence_op(self, &l, op, &r, span)? {
            return Ok(v);
        }
        let (Some(a), Some(b)) = (number(&l), number(&r)) else {
            return Err(self.raise(
                "TypeError",
                format!(
                    "unsupported operand type(s) for {}: '{}' and '{}'",
                    op.symbol(),
                    l.type_name(),
                    r.type_name()
                ),
                span,
            ));
        };
        match builtins::arith(a, op, b) {
            Ok(v) => Ok(v),
            Err(m) => {
                let f = self.fail(span, m);
                self.lift(Err(f))
            }
        }
    }

    pub(in crate::scenario::interp) fn compare(
        &mut self,
        l: &Value,
        op: CmpOp,
        r: &Value,
        span: Span,
    ) -> X<Value> {
        if matches!(l, Value::Tensor(_)) || matches!(r, Value::Tensor(_)) {
            if let Some(result) = torch::compare(l, op, r) {
                let result = result.map_err(|e| self.tensor_error(span, e));
                return self.lift(result);
            }
        }
        let result = match op {
            CmpOp::Is | CmpOp::IsNot => {
                let same = match (l.identity(), r.identity()) {
                    (Some(a), Some(b)) => a == b,
                    (None, None) => match (l, r) {
                        (Value::None, Value::None) => true,
                        (Value::Bool(a), Value::Bool(b)) => a == b,
                        (Value::Path(a), Value::Path(b)) => a == b,
                        (Value::Int(a), Value::Int(b)) => a == b && (-5..=256).contains(a),
                        (Value::DType(a), Value::DType(b)) => a == b,
                        _ => false,
                    },
                    _ => false,
                };
                same == (op == CmpOp::Is)
            }
            CmpOp::In | CmpOp::NotIn => {
                let found = self.contains(r, l, span)?;
                found == (op == CmpOp::In)
            }
            CmpOp::Eq | CmpOp::NotEq => {
                if let Some(m) = self.lookup_method(l, "__eq__") {
                    let v = self.call(m, CallArgs::positional(vec![r.clone()]), span)?;
                    let t = self.truthy(&v, span)?;
                    t == (op == CmpOp::Eq)
                } else {
                    builtins::equal(l, r) == (op == CmpOp::Eq)
                }
            }
            CmpOp::Lt | CmpOp::LtE | CmpOp::Gt | CmpOp::GtE => {
                let ord = builtins::order(l, r).ok_or_else(|| {
                    self.raise(
                        "TypeError",
                        format!(
                            "'{}' not supported between instances of '{}' and '{}'",
                            op.symbol(),
                            l.type_name(),
                            r.type_name()
                        ),
                        span,
                    )
                })?;
                match op {
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::LtE => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                }
            }
        };
        Ok(Value::Bool(result))
    }

    /// `item in container`.
    pub(crate) fn contains(&mut self, container: &Value, item: &Value, span: Span) -> X<bool> {
        match container {
            Value::Dict(d) | Value::Set(d) => {
                let k = self.key(item, span)?;
                Ok(d.borrow().contains(&k))
            }
            Value::Str(s) => match item {
                Value::Str(sub) => Ok(s.contains(&**sub)),
                other => Err(self.raise(
                    "TypeError",
                    format!(
                        "'in <string>' requires string as left operand, not {}",
                        other.type_name()
                    ),
                    span,
                )),
            },
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(container, "__contains__") {
                    let r = self.call(m, CallArgs::positional(vec![item.clone()]), span)?;
                    return self.truthy(&r, span);
                }
                let items = self.collect(container.clone(), span)?;
                Ok(items.iter().any(|x| builtins::equal(item, x)))
            }
            Value::Range(..) => match number(item) {
                Some(super::super::Num::Int(i)) => {
                    let items = builtins::range_contains(container, i);
                    Ok(items)
                }
                _ => Ok(false),
            },
            other => {
                let items = self.collect(other.clone(), span)?;
                Ok(items.iter().any(|x| builtins::equal(item, x)))
            }
        }
    }
}
