//! A tensor's `str()`/`repr()` as PyTorch 2.15 prints it with the default print options
//! (`torch/_tensor_str.py`: precision 4, threshold 1000, edge items 3, line width 80).
//!
//! One formatter serves every element: it looks at the values shown (the summarized ones past
//! the threshold) and picks integer mode (every nonzero finite value whole: `1.`, `-0.`),
//! scientific mode (the largest nonzero magnitude over 1e8, the smallest under 1e-4, or their
//! ratio over 1000) and one common width every element is right-aligned to. Rows break at 80
//! columns; each nesting level indents one more space, and the `device=`, `dtype=`,
//! `grad_fn=` suffixes go on a new line where the last one would pass column 80.

use crate::base::{DType, Device};
use crate::tensor::Tensor;

const PRECISION: usize = 4;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;
const LINE_WIDTH: usize = 80;

/// A tensor's values in row-major order, as `tolist()` reads them.
enum Values {
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
}

/// `_Formatter`: how every element of one tensor is written.
struct Formatter {
    int_mode: bool,
    sci_mode: bool,
    max_width: usize,
}

/// Python's `f"{x:.{p}f}"`: `nan`, `inf`, `-inf` for the non-finite.
fn fixed(x: f64, precision: usize) -> String {
    if x.is_nan() {
        "nan".into()
    } else {
        format!("{x:.precision$}")
    }
}

/// Python's `f"{x:.{p}e}"`: a signed exponent of at least two digits (`1.0000e+08`).
fn scientific(x: f64, precision: usize) -> String {
    if !x.is_finite() {
        return fixed(x, precision);
    }
    let s = format!("{x:.precision$e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = exponent.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", e.abs())
}

impl Formatter {
    /// Looks at the elements at `shown` (flat indices).
    fn new(values: &Values, shown: &[usize]) -> Formatter {
        let mut f = Formatter {
            int_mode: true,
            sci_mode: false,
            max_width: 1,
        };
        let floats = match values {
            Values::Float(v) => v,
            Values::Int(v) => {
                for &i in shown {
                    f.max_width = f.max_width.max(v[i].to_string().len());
                }
                return f;
            }
            Values::Bool(v) => {
                for &i in shown {
                    f.max_width = f.max_width.max(if v[i] { 4 } else { 5 });
                }
                return f;
            }
        };
        let nonzero: Vec<f64> = shown
            .iter()
            .map(|&i| floats[i])
            .filter(|x| x.is_finite() && *x != 0.0)
            .collect();
        if nonzero.is_empty() {
            return f;
        }
        let min = nonzero
            .iter()
            .map(|x| x.abs())
            .fold(f64::INFINITY, f64::min);
        let max = nonzero.iter().map(|x| x.abs()).fold(0.0, f64::max);
        f.int_mode = nonzero.iter().all(|x| *x == x.ceil());
        f.sci_mode = max / min > 1000.0 || max > 1.0e8 || min < 1.0e-4;
        for &x in &nonzero {
            let width = match (f.sci_mode, f.int_mode) {
                (true, _) => scientific(x, PRECISION).len(),
                (false, true) => fixed(x, 0).len() + 1,
                (false, false) => fixed(x, PRECISION).len(),
            };
            f.max_width = f.max_width.max(width);
        }
        f
    }

    /// `_Formatter.format`: the element right-aligned to the common width.
    fn format(&self, values: &Values, i: usize) -> String {
        let s = match values {
            Values::Float(v) => {
                let x = v[i];
                if self.sci_mode {
                    scientific(x, PRECISION)
                } else if self.int_mode {
                    let mut s = fixed(x, 0);
                    if x.is_finite() {
                        s.push('.');
                    }
                    s
                } else {
                    fixed(x, PRECISION)
                }
            }
            Values::Int(v) => v[i].to_string(),
            Values::Bool(v) => (if v[i] { "True" } else { "False" }).to_string(),
        };
        format!("{s:>width$}", width = self.max_width)
    }
}

/// The positions of dimension `size` shown: all, or the first and last three past the
/// threshold.
fn positions(size: usize, summarize: bool) -> Vec<Option<usize>> {
    if summarize && size > 2 * EDGE_ITEMS {
        let mut p: Vec<Option<usize>> = (0..EDGE_ITEMS).map(Some).collect();
        p.push(None);
        p.extend((size - EDGE_ITEMS..size).map(Some));
        p
    } else {
        (0..size).map(Some).collect()
    }
}

/// The flat indices of the elements shown (`get_summarized_data`).
fn shown(shape: &[usize], offset: usize, summarize: bool, out: &mut Vec<usize>) {
    let Some((&size, rest)) = shape.split_first() else {
        out.push(offset);
        return;
    };
    let inner: usize = rest.iter().product();
    for i in positions(size, summarize).into_iter().flatten() {
        shown(rest, offset + i * inner, summarize, out);
    }
}

/// `_tensor_str_with_formatter` of the sub-tensor at `offset` of `shape`.
fn nested(
    values: &Values,
    f: &Formatter,
    shape: &[usize],
    offset: usize,
    indent: usize,
    summarize: bool,
) -> String {
    let Some((&size, rest)) = shape.split_first() else {
        return f.format(values, offset);
    };
    let inner: usize = rest.iter().product();
    if rest.is_empty() {
        // `_vector_str`: as many elements a line as fit in the line width.
        let per_line = ((LINE_WIDTH.saturating_sub(indent)) / (f.max_width + 2)).max(1);
        let items: Vec<String> = positions(size, summarize)
            .into_iter()
            .map(|p| p.map_or_else(|| " ...".to_string(), |i| f.format(values, offset + i)))
            .collect();
        let lines: Vec<String> = items.chunks(per_line).map(|l| l.join(", ")).collect();
        return format!(
            "[{}]",
            lines.join(&format!(",\n{}", " ".repeat(indent + 1)))
        );
    }
    let slices: Vec<String> = positions(size, summarize)
        .into_iter()
        .map(|p| {
            p.map_or_else(
                || "...".to_string(),
                |i| nested(values, f, rest, offset + i * inner, indent + 1, summarize),
            )
        })
        .collect();
    let sep = format!(
        ",{}{}",
        "\n".repeat(shape.len() - 1),
        " ".repeat(indent + 1)
    );
    format!("[{}]", slices.join(&sep))
}

/// `_tensor_str`: the bracketed values, `indent` columns in.
fn body(t: &Tensor, indent: usize) -> String {
    let values = match t.dtype() {
        DType::I64 | DType::I32 => Values::Int(t.to_vec_i64()),
        DType::Bool => Values::Bool(t.to_vec_f64().into_iter().map(|x| x != 0.0).collect()),
        DType::F32 | DType::F16 | DType::BF16 | DType::F64 => Values::Float(t.to_vec_f64()),
    };
    let summarize = t.numel() > THRESHOLD;
    let mut at = Vec::new();
    shown(t.shape(), 0, summarize, &mut at);
    let f = Formatter::new(&values, &at);
    nested(&values, &f, t.shape(), 0, indent, summarize)
}

/// `_add_suffixes`: `, suffix` each, or `,\n` and the indent where it would pass the line width.
fn add_suffixes(text: &str, suffixes: &[String], indent: usize) -> String {
    let mut out = text.to_string();
    let mut last_line = match text.rfind('\n') {
        Some(i) => text.len() - i + 1,
        // Python's `rfind` answers -1.
        None => text.len() + 2,
    };
    for s in suffixes {
        if last_line + s.len() + 2 > LINE_WIDTH {
            out.push_str(&format!(",\n{}{s}", " ".repeat(indent)));
            last_line = indent + s.len();
        } else {
            out.push_str(&format!(", {s}"));
            last_line += s.len() + 2;
        }
    }
    out.push(')');
    out
}

/// `repr(t)` as PyTorch prints it. Without values (the meta backend) the body is `...`.
pub(in super::super) fn tensor_repr(t: &Tensor) -> String {
    const PREFIX: &str = "tensor(";
    let indent = PREFIX.len();
    let mut suffixes = Vec::new();
    if t.device() == Device::Cuda {
        suffixes.push("device='cuda:0'".to_string());
    }
    let empty = t.numel() == 0;
    if empty && t.dim() != 1 {
        let dims: Vec<String> = t.shape().iter().map(usize::to_string).collect();
        let tuple = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        suffixes.push(format!("size={tuple}"));
    }
    // Only the default types (float32, int64, bool) print without their dtype, but an empty
    // tensor names any type but float32.
    if (empty && t.dtype() != DType::F32)
        || !matches!(t.dtype(), DType::F32 | DType::I64 | DType::Bool)
    {
        suffixes.push(format!("dtype={}", t.dtype()));
    }
    let text = if !t.has_data() {
        "...".to_string()
    } else if empty {
        "[]".to_string()
    } else {
        body(t, indent)
    };
    if let Some(node) = t.grad_fn() {
        suffixes.push(format!("grad_fn=<{}>", node.name()));
    } else if t.requires_grad() {
        suffixes.push("requires_grad=True".into());
    }
    add_suffixes(&format!("{PREFIX}{text}"), &suffixes, indent)
}
