//! Conversion of expressions, assignment targets, comprehensions, f-strings, keywords and
//! constants, with the depth limit and the operator tables.

use std::rc::Rc;

use rustpython_parser::ast as py;
use rustpython_parser::ast::Ranged;
use rustpython_parser::text_size::TextRange;

use super::super::ast::*;
use super::{all, Converter, MAX_EXPR_DEPTH};

impl Converter<'_> {
    pub(super) fn target(&mut self, target: &py::Expr) -> Option<Target> {
        let span = self.span(target.range());
        match target {
            py::Expr::Name(name) => Some(Target::Name(self.name(name))),
            py::Expr::Tuple(py::ExprTuple { elts, .. })
            | py::Expr::List(py::ExprList { elts, .. }) => {
                let items = all(elts.iter().map(|e| self.target(e)).collect());
                Some(Target::Tuple(items?, span))
            }
            py::Expr::Starred(starred) => {
                let inner = self.target(&starred.value)?;
                Some(Target::Starred(Box::new(inner), span))
            }
            py::Expr::Attribute(attribute) => Some(Target::Attribute {
                value: self.expr(&attribute.value)?,
                attr: attribute.attr.to_string(),
                span,
            }),
            py::Expr::Subscript(subscript) => {
                let value = self.expr(&subscript.value);
                let index = self.index(&subscript.slice);
                Some(Target::Subscript {
                    value: value?,
                    index: index?,
                    span,
                })
            }
            other => self.reject(
                other.range(),
                "this assignment target",
                "assign to a name, an attribute, an item or a tuple of them",
            ),
        }
    }

    /// `[*x for ...]`: rustpython's parser takes it, CPython's compiler refuses it (and the
    /// printer could not write it back).
    fn no_starred_element(&mut self, elt: &py::Expr) -> Option<()> {
        match elt {
            py::Expr::Starred(s) => self.syntax_error(
                s.range,
                "iterable unpacking cannot be used in comprehension",
            ),
            _ => Some(()),
        }
    }

    fn comprehensions(&mut self, generators: &[py::Comprehension]) -> Option<Vec<Comprehension>> {
        let converted: Vec<Option<Comprehension>> = generators
            .iter()
            .map(|g| {
                if g.is_async {
                    return self.reject(
                        g.iter.range(),
                        "`async for` in a comprehension",
                        "use a plain `for`",
                    );
                }
                let target = self.target(&g.target);
                let iter = self.expr(&g.iter);
                let ifs = self.exprs(&g.ifs);
                Some(Comprehension {
                    target: target?,
                    iter: iter?,
                    ifs: ifs?,
                })
            })
            .collect();
        all(converted)
    }

    /// The pieces of an f-string (or of a format spec, itself a joined string).
    fn fparts(&mut self, values: &[py::Expr]) -> Option<Vec<FPart>> {
        let parts: Vec<Option<FPart>> = values
            .iter()
            .map(|v| match v {
                py::Expr::Constant(c) => match &c.value {
                    py::Constant::Str(s) => Some(FPart::Lit(s.clone())),
                    _ => self.reject(c.range, "this f-string piece", "use text and `{value}`"),
                },
                py::Expr::FormattedValue(f) => {
                    let value = self.expr(&f.value);
                    let spec = match f.format_spec.as_deref() {
                        None => Some(Vec::new()),
                        Some(py::Expr::JoinedStr(j)) => self.fparts(&j.values),
                        Some(other) => self.fparts(std::slice::from_ref(other)),
                    };
                    let conversion = match f.conversion {
                        py::ConversionFlag::None => None,
                        py::ConversionFlag::Str => Some('s'),
                        py::ConversionFlag::Repr => Some('r'),
                        py::ConversionFlag::Ascii => Some('a'),
                    };
                    Some(FPart::Value {
                        value: Box::new(value?),
                        conversion,
                        spec: spec?,
                    })
                }
                other => self.reject(other.range(), "this f-string piece", "use `{value}`"),
            })
            .collect();
        all(parts)
    }

    /// Converts `expr`, refusing trees deeper than [`MAX_EXPR_DEPTH`] as CPython's compiler
    /// does, so that no input can exhaust the stack here or in the passes after this one.
    /// What goes between a subscript's brackets. `x[*a]` indexes with the tuple `(*a,)`:
    /// CPython's grammar (`slices` in `Grammar/python.gram`) makes a lone starred index a
    /// one-element tuple, where rustpython's parser leaves the bare starred expression, which
    /// has no meaning of its own in that place.
    fn index(&mut self, slice: &py::Expr) -> Option<Expr> {
        let index = self.expr(slice)?;
        Some(match index.kind {
            ExprKind::Starred(_) => Expr {
                span: index.span,
                kind: ExprKind::Tuple(vec![index]),
            },
            _ => index,
        })
    }

    pub(super) fn expr(&mut self, expr: &py::Expr) -> Option<Expr> {
        if self.depth == MAX_EXPR_DEPTH {
            // CPython stops compiling at the first; one error says all there is to say.
            if !self.too_deep {
                self.too_deep = true;
                let span = self.span(expr.range());
                self.errors.push(self.error(
                    span,
                    "RecursionError: maximum recursion depth exceeded during compilation".into(),
                ));
            }
            return None;
        }
        self.depth += 1;
        let converted = self.expr_within_depth(expr);
        self.depth -= 1;
        converted
    }

    fn expr_within_depth(&mut self, expr: &py::Expr) -> Option<Expr> {
        let range = expr.range();
        let kind = match expr {
            py::Expr::BoolOp(bool_op) => ExprKind::BoolOp {
                op: match bool_op.op {
                    py::BoolOp::And => BoolOp::And,
                    py::BoolOp::Or => BoolOp::Or,
                },
                values: self.exprs(&bool_op.values)?,
            },
            py::Expr::NamedExpr(named) => {
                self.expr(&named.value);
                return self.reject(
                    range,
                    "an assignment expression (`:=`)",
                    "assign the value on its own line first",
                );
            }
            py::Expr::BinOp(bin) => {
                let left = self.expr(&bin.left);
                let right = self.expr(&bin.right);
                ExprKind::BinOp {
                    left: Box::new(left?),
                    op: bin_op(bin.op),
                    right: Box::new(right?),
                }
            }
            py::Expr::UnaryOp(unary) => ExprKind::UnaryOp {
                op: match unary.op {
                    py::UnaryOp::USub => UnaryOp::Neg,
                    py::UnaryOp::UAdd => UnaryOp::Pos,
                    py::UnaryOp::Not => UnaryOp::Not,
                    py::UnaryOp::Invert => UnaryOp::Invert,
                },
                operand: Box::new(self.expr(&unary.operand)?),
            },
            py::Expr::Lambda(lambda) => {
                let params = self.params(&lambda.args);
                let body = self.expr(&lambda.body);
                let span = self.span(range);
                let body = body?;
                ExprKind::Lambda(Rc::new(FunctionDef {
                    name: Name {
                        id: "<lambda>".into(),
                        span,
                    },
                    params: params?,
                    body: vec![Stmt {
                        span: body.span,
                        kind: StmtKind::Return(Some(body)),
                    }],
                    decorators: Vec::new(),
                    returns: None,
                    is_lambda: true,
                }))
            }
            py::Expr::IfExp(if_exp) => {
                let body = self.expr(&if_exp.body);
                let test = self.expr(&if_exp.test);
                let orelse = self.expr(&if_exp.orelse);
                ExprKind::IfExp {
                    test: Box::new(test?),
                    body: Box::new(body?),
                    orelse: Box::new(orelse?),
                }
            }
            py::Expr::Dict(dict) => {
                let items: Vec<Option<(Option<Expr>, Expr)>> = dict
                    .keys
                    .iter()
                    .zip(&dict.values)
                    .map(|(k, v)| {
                        let k = self.opt_expr(k.as_ref());
                        let v = self.expr(v);
                        Some((k?, v?))
                    })
                    .collect();
                ExprKind::Dict(all(items)?)
            }
            py::Expr::Set(set) => ExprKind::Set(self.exprs(&set.elts)?),
            py::Expr::ListComp(c) => {
                self.no_starred_element(&c.elt)?;
                let elt = self.expr(&c.elt);
                ExprKind::ListComp {
                    generators: self.comprehensions(&c.generators)?,
                    elt: Box::new(elt?),
                }
            }
            py::Expr::SetComp(c) => {
                self.no_starred_element(&c.elt)?;
                let elt = self.expr(&c.elt);
                ExprKind::SetComp {
                    generators: self.comprehensions(&c.generators)?,
                    elt: Box::new(elt?),
                }
            }
            py::Expr::GeneratorExp(c) => {
                self.no_starred_element(&c.elt)?;
                let elt = self.expr(&c.elt);
                ExprKind::GeneratorExp {
                    generators: self.comprehensions(&c.generators)?,
                    elt: Box::new(elt?),
                }
            }
            py::Expr::DictComp(c) => {
                let key = self.expr(&c.key);
                let value = self.expr(&c.value);
                ExprKind::DictComp {
                    generators: self.comprehensions(&c.generators)?,
                    key: Box::new(key?),
                    value: Box::new(value?),
                }
            }
            py::Expr::Await(a) => {
                self.expr(&a.value);
                return self.reject(range, "`await`", "call the function directly");
            }
            py::Expr::Yield(y) => ExprKind::Yield(self.opt_expr(y.value.as_deref())?.map(Box::new)),
            py::Expr::YieldFrom(y) => ExprKind::YieldFrom(Box::new(self.expr(&y.value)?)),
            py::Expr::Compare(compare) => {
                let left = self.expr(&compare.left);
                let comparators = self.exprs(&compare.comparators);
                ExprKind::Compare {
                    left: Box::new(left?),
                    ops: compare.ops.iter().map(|&op| cmp_op(op)).collect(),
                    comparators: comparators?,
                }
            }
            py::Expr::Call(call) => {
                let func = self.expr(&call.func);
                let args = self.exprs(&call.args);
                let keywords: Vec<Option<Keyword>> = call
                    .keywords
                    .iter()
                    .map(|keyword| self.keyword(keyword))
                    .collect();
                ExprKind::Call {
                    func: Box::new(func?),
                    args: args?,
                    keywords: all(keywords)?,
                }
            }
            py::Expr::JoinedStr(joined) => ExprKind::FString(self.fparts(&joined.values)?),
            py::Expr::FormattedValue(_) => {
                ExprKind::FString(self.fparts(std::slice::from_ref(expr))?)
            }
            py::Expr::Constant(constant) => return self.constant(&constant.value, range),
            py::Expr::Attribute(attribute) => ExprKind::Attribute {
                value: Box::new(self.expr(&attribute.value)?),
                attr: attribute.attr.to_string(),
            },
            py::Expr::Subscript(subscript) => {
                let value = self.expr(&subscript.value);
                let index = self.index(&subscript.slice);
                ExprKind::Subscript {
                    value: Box::new(value?),
                    index: Box::new(index?),
                }
            }
            py::Expr::Starred(starred) => ExprKind::Starred(Box::new(self.expr(&starred.value)?)),
            py::Expr::Name(name) => ExprKind::Name(name.id.to_string()),
            py::Expr::List(list) => ExprKind::List(self.exprs(&list.elts)?),
            py::Expr::Tuple(tuple) => ExprKind::Tuple(self.exprs(&tuple.elts)?),
            py::Expr::Slice(slice) => {
                let lower = self.opt_expr(slice.lower.as_deref());
                let upper = self.opt_expr(slice.upper.as_deref());
                let step = self.opt_expr(slice.step.as_deref());
                ExprKind::Slice {
                    lower: lower?.map(Box::new),
                    upper: upper?.map(Box::new),
                    step: step?.map(Box::new),
                }
            }
        };
        Some(Expr {
            kind,
            span: self.span(range),
        })
    }

    pub(super) fn keyword(&mut self, keyword: &py::Keyword) -> Option<Keyword> {
        Some(Keyword {
            name: keyword.arg.as_ref().map(|n| n.to_string()),
            value: self.expr(&keyword.value)?,
            span: self.span(keyword.range),
        })
    }

    fn constant(&mut self, constant: &py::Constant, range: TextRange) -> Option<Expr> {
        let kind = match constant {
            py::Constant::None => ExprKind::None,
            py::Constant::Bool(b) => ExprKind::Bool(*b),
            py::Constant::Str(s) => ExprKind::Str(s.clone()),
            py::Constant::Int(i) => match i.to_string().parse::<i64>() {
                Ok(i) => ExprKind::Int(i),
                Err(_) => {
                    return self.reject(
                        range,
                        "an integer literal this large",
                        "use a value that fits in 64 bits",
                    )
                }
            },
            py::Constant::Float(f) => ExprKind::Float(*f),
            py::Constant::Bytes(_) => {
                return self.reject(range, "a bytes literal", "use a str literal")
            }
            py::Constant::Complex { .. } => {
                return self.reject(range, "a complex literal", "use a float")
            }
            py::Constant::Ellipsis => ExprKind::Ellipsis,
            py::Constant::Tuple(_) => {
                return self.reject(range, "a constant tuple", "write the tuple as `(a, b)`")
            }
        };
        Some(Expr {
            kind,
            span: self.span(range),
        })
    }
}

pub(super) fn bin_op(op: py::Operator) -> BinOp {
    match op {
        py::Operator::Add => BinOp::Add,
        py::Operator::Sub => BinOp::Sub,
        py::Operator::Mult => BinOp::Mul,
        py::Operator::MatMult => BinOp::MatMul,
        py::Operator::Div => BinOp::Div,
        py::Operator::Mod => BinOp::Mod,
        py::Operator::Pow => BinOp::Pow,
        py::Operator::LShift => BinOp::LShift,
        py::Operator::RShift => BinOp::RShift,
        py::Operator::BitOr => BinOp::BitOr,
        py::Operator::BitXor => BinOp::BitXor,
        py::Operator::BitAnd => BinOp::BitAnd,
        py::Operator::FloorDiv => BinOp::FloorDiv,
    }
}

fn cmp_op(op: py::CmpOp) -> CmpOp {
    match op {
        py::CmpOp::Eq => CmpOp::Eq,
        py::CmpOp::NotEq => CmpOp::NotEq,
        py::CmpOp::Lt => CmpOp::Lt,
        py::CmpOp::LtE => CmpOp::LtE,
        py::CmpOp::Gt => CmpOp::Gt,
        py::CmpOp::GtE => CmpOp::GtE,
        py::CmpOp::Is => CmpOp::Is,
        py::CmpOp::IsNot => CmpOp::IsNot,
        py::CmpOp::In => CmpOp::In,
        py::CmpOp::NotIn => CmpOp::NotIn,
    }
}
