//! Text of values: `str`, `repr`, format specs (`f"{x:.4f}"`, `format`), `%`-formatting and
//! `str.format`, with Python's float formatting.

use super::super::builtins::{filled, pad};
use super::super::value::Value;
use super::super::{number, torch, CallArgs, Interp, Num, X};
use crate::scenario::Span;

impl Interp<'_> {
    /// `str(v)`.
    pub(crate) fn str_of(&mut self, v: &Value, span: Span) -> X<String> {
        match v {
            Value::Instance(_) => {
                if let Some(m) = self.lookup_method(v, "__str__") {
                    let r = self.call(m, CallArgs::default(), span)?;
                    return Ok(r.to_string());
                }
                self.repr_of(v, span)
            }
            Value::Exception(e) => {
                if let Some(m) = self.lookup_method(v, "__str__") {
                    let r = self.call(m, CallArgs::default(), span)?;
                    return Ok(r.to_string());
                }
                Ok(e.message())
            }
            other => Ok(torch::display(other)),
        }
    }

    /// `repr(v)`.
    pub(crate) fn repr_of(&mut self, v: &Value, span: Span) -> X<String> {
        match v {
            Value::Instance(i) => {
                if let Some(m) = self.lookup_method(v, "__repr__") {
                    let r = self.call(m, CallArgs::default(), span)?;
                    return Ok(r.to_string());
                }
                if let Some(r) = super::super::module::module_repr(i) {
                    return Ok(r);
                }
                Ok(v.to_string())
            }
            other => Ok(super::super::value::repr(other)),
        }
    }

    /// `format(v, spec)`: Python's format-spec mini-language.
    pub(crate) fn format_value(&mut self, v: &Value, spec: &str, span: Span) -> X<String> {
        if spec.is_empty() {
            return self.str_of(v, span);
        }
        let v = match v {
            // Tensor.__format__ formats a one-element tensor's number.
            Value::Tensor(t) if t.numel() == 1 => {
                let r = torch::item(t).map_err(|e| self.tensor_error(span, e));
                let x = self.lift(r)?;
                match t.dtype() {
                    crate::base::DType::F32 => Value::Float(x),
                    _ => Value::Int(x as i64),
                }
            }
            other => other.clone(),
        };
        let Some(f) = FormatSpec::parse(spec) else {
            return Err(self.raise(
                "ValueError",
                format!("Invalid format specifier '{spec}'"),
                span,
            ));
        };
        let body = match (f.kind, number(&v)) {
            (Some('d'), Some(Num::Int(i))) => group(i.unsigned_abs().to_string(), f.comma),
            (Some('d'), _) => {
                return Err(self.raise(
                    "ValueError",
                    format!(
                        "Unknown format code 'd' for object of type '{}'",
                        v.type_name()
                    ),
                    span,
                ))
            }
            (Some(k @ ('f' | 'F' | 'e' | 'E' | 'g' | 'G' | '%')), Some(n)) => {
                let x = match n {
                    Num::Int(i) => i as f64,
                    Num::Float(x) => x,
                };
                let p = f.precision.unwrap_or(6);
                if p > i32::MAX as usize {
                    return Err(self.raise("ValueError", "precision too big".into(), span));
                }
                let x = x.abs();
                match k {
                    'f' | 'F' => {
                        let (head, zeros) = fixed(x, p);
                        let head = if k == 'F' { head.to_uppercase() } else { head };
                        filled(self, &group(head, f.comma), '0', zeros, "", span)?
                    }
                    '%' => {
                        let (head, zeros) = fixed(x * 100.0, p);
                        filled(self, &head, '0', zeros, "%", span)?
                    }
                    'e' | 'E' => {
                        let q = p.min(EXACT_DIGITS);
                        let s = py_exp(x, q);
                        let s = if k == 'E' { s.to_uppercase() } else { s };
                        // inf and nan have no exponent and take no zeros.
                        match s.find(['e', 'E']) {
                            Some(at) => filled(self, &s[..at], '0', p - q, &s[at..], span)?,
                            None => s,
                        }
                    }
                    // Past the exact expansion `g` would only strip zeros again.
                    _ => py_general(x, p.clamp(1, EXACT_DIGITS)),
                }
            }
            (Some('x' | 'X' | 'b' | 'o'), Some(Num::Int(i))) => match f.kind {
                Some('x') => format!("{:x}", i.unsigned_abs()),
                Some('X') => format!("{:X}", i.unsigned_abs()),
                Some('b') => format!("{:b}", i.unsigned_abs()),
                _ => format!("{:o}", i.unsigned_abs()),
            },
            (None, Some(Num::Float(x))) if f.precision.is_some() => {
                py_general(x.abs(), f.precision.unwrap_or(6).clamp(1, EXACT_DIGITS))
            }
            (None, Some(Num::Int(i))) if !matches!(v, Value::Bool(_)) => {
                group(i.unsigned_abs().to_string(), f.comma)
            }
            (None | Some('s'), _) => {
                let mut s = self.str_of(&v, span)?;
                if let Some(p) = f.precision {
                    s = s.chars().take(p).collect();
                }
                return pad(self, &s, f.width, f.fill, f.align.unwrap_or('<'), span);
            }
            (Some(k), _) => {
                return Err(self.raise(
                    "ValueError",
                    format!(
                        "Unknown format code '{k}' for object of type '{}'",
                        v.type_name()
                    ),
                    span,
                ))
            }
        };
        let negative = match number(&v) {
            Some(Num::Int(i)) => i < 0,
            Some(Num::Float(x)) => x.is_sign_negative() && x != 0.0,
            None => false,
        };
        let sign = if negative {
            "-"
        } else {
            match f.sign {
                Some('+') => "+",
                Some(' ') => " ",
                _ => "",
            }
        };
        if f.zero && f.align.is_none() {
            let width = f.width.saturating_sub(sign.len());
            return Ok(format!(
                "{sign}{}",
                pad(self, &body, width, '0', '>', span)?
            ));
        }
        pad(
            self,
            &format!("{sign}{body}"),
            f.width,
            f.fill,
            f.align.unwrap_or('>'),
            span,
        )
    }

    /// `fmt % args`.
    pub(crate) fn percent_format(&mut self, fmt: &str, args: &[Value], span: Span) -> X<String> {
        let mut out = String::new();
        let mut chars = fmt.chars().peekable();
        let mut next_arg = args.iter();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let mut spec = String::new();
            while let Some(&d) = chars.peek() {
                chars.next();
                if d.is_ascii_alphabetic() || d == '%' {
                    spec.push(d);
                    break;
                }
                spec.push(d);
            }
            if spec == "%" {
                out.push('%');
                continue;
            }
            let Some(arg) = next_arg.next() else {
                return Err(self.raise(
                    "TypeError",
                    "not enough arguments for format string".into(),
                    span,
                ));
            };
            let (flags, kind) = spec.split_at(spec.len().saturating_sub(1));
            let text = match kind {
                "s" => self.str_of(arg, span)?,
                "r" => self.repr_of(arg, span)?,
                "i" => self.format_value(arg, &format!("{flags}d"), span)?,
                k => self.format_value(arg, &format!("{flags}{k}"), span)?,
            };
            out.push_str(&text);
        }
        Ok(out)
    }

    /// `fmt.format(*args, **kwargs)`.
    pub(crate) fn str_format(&mut self, fmt: &str, args: &CallArgs, span: Span) -> X<String> {
        let mut out = String::new();
        let mut chars = fmt.chars().peekable();
        let mut auto = 0usize;
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    out.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    out.push('}');
                }
                '{' => {
                    let mut field = String::new();
                    let mut depth = 1;
                    for d in chars.by_ref() {
                        match d {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        field.push(d);
                    }
                    let (name, spec) = field.split_once(':').unwrap_or((&field, ""));
                    let (name, conversion) = match name.split_once('!') {
                        Some((n, c)) => (n, c.chars().next()),
                        None => (name, None),
                    };
                    let mut parts = name.split('.');
                    let head = parts.next().unwrap_or("");
                    let mut v = if head.is_empty() {
                        let v = args.pos.get(auto).cloned();
                        auto += 1;
                        v
                    } else if let Ok(i) = head.parse::<usize>() {
                        args.pos.get(i).cloned()
                    } else {
                        args.keyword(head).cloned()
                    }
                    .ok_or_else(|| {
                        self.raise(
                            "IndexError",
                            format!(
                                "Replacement index {head} out of range for positional args tuple"
                            ),
                            span,
                        )
                    })?;
                    for attr in parts {
                        v = self.get_attr(v, attr, span)?;
                    }
                    let v = match conversion {
                        Some('r') => Value::Str(self.repr_of(&v, span)?.into()),
                        Some('s') => Value::Str(self.str_of(&v, span)?.into()),
                        _ => v,
                    };
                    let spec = if spec.contains('{') {
                        self.str_format(spec, args, span)?
                    } else {
                        spec.to_string()
                    };
                    out.push_str(&self.format_value(&v, &spec, span)?);
                }
                c => out.push(c),
            }
        }
        Ok(out)
    }
}

/// `[[fill]align][sign][0][width][,][.precision][type]`.
struct FormatSpec {
    fill: char,
    align: Option<char>,
    sign: Option<char>,
    zero: bool,
    width: usize,
    comma: bool,
    precision: Option<usize>,
    kind: Option<char>,
}

impl FormatSpec {
    fn parse(spec: &str) -> Option<FormatSpec> {
        let chars: Vec<char> = spec.chars().collect();
        let mut i = 0;
        let mut f = FormatSpec {
            fill: ' ',
            align: None,
            sign: None,
            zero: false,
            width: 0,
            comma: false,
            precision: None,
            kind: None,
        };
        let is_align = |c: char| matches!(c, '<' | '>' | '^' | '=');
        if chars.len() >= 2 && is_align(chars[1]) {
            f.fill = chars[0];
            f.align = Some(chars[1]);
            i = 2;
        } else if chars.first().is_some_and(|c| is_align(*c)) {
            f.align = Some(chars[0]);
            i = 1;
        }
        if let Some(&c) = chars.get(i) {
            if matches!(c, '+' | '-' | ' ') {
                f.sign = Some(c);
                i += 1;
            }
        }
        if chars.get(i) == Some(&'#') {
            i += 1;
        }
        if chars.get(i) == Some(&'0') {
            f.zero = true;
            i += 1;
        }
        let start = i;
        while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        if i > start {
            f.width = chars[start..i].iter().collect::<String>().parse().ok()?;
        }
        if matches!(chars.get(i), Some(',') | Some('_')) {
            f.comma = chars[i] == ',';
            i += 1;
        }
        if chars.get(i) == Some(&'.') {
            i += 1;
            let start = i;
            while chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            }
            f.precision = Some(chars[start..i].iter().collect::<String>().parse().ok()?);
        }
        if let Some(&c) = chars.get(i) {
            f.kind = Some(c);
            i += 1;
        }
        (i == chars.len()).then_some(f)
    }
}

/// Thousands separators for the integer part of `digits`.
fn group(digits: String, comma: bool) -> String {
    if !comma {
        return digits;
    }
    let (int, frac) = match digits.split_once('.') {
        Some((a, b)) => (a.to_string(), format!(".{b}")),
        None => (digits, String::new()),
    };
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out + &frac
}

/// `{:e}` as Python writes it: `1.234500e-03`, for a precision up to [`EXACT_DIGITS`].
fn py_exp(x: f64, p: usize) -> String {
    let s = format!("{x:.p$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let exp: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        }
        None => s,
    }
}

/// Digits after which an f64's decimal expansion is all zeros (its exact expansion ends within
/// 1,074 digits after the point), and below Rust's limit of 65,535 for a precision.
const EXACT_DIGITS: usize = 1100;

/// `x` with `p` digits after the point, as `{:.pf}` writes it for any precision CPython takes
/// (up to `INT_MAX`): the digits up to [`EXACT_DIGITS`], and how many zeros follow them (written
/// by the caller, watching the host's memory and the clock: a precision of 522 million was the
/// ninth campaign's hang).
fn fixed(x: f64, p: usize) -> (String, usize) {
    let q = p.min(EXACT_DIGITS);
    let zeros = if x.is_finite() { p - q } else { 0 };
    (format!("{x:.q$}"), zeros)
}

/// `{:g}` as Python writes it.
fn py_general(x: f64, p: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let exp = x.abs().log10().floor() as i32;
    if exp < -4 || exp >= p as i32 {
        let s = py_exp(x, p.saturating_sub(1));
        let (m, e) = s.split_once('e').unwrap_or((&s, ""));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!("{m}e{e}")
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_specs_read_as_python_reads_them() {
        let f = FormatSpec::parse(">10.3f").unwrap();
        assert_eq!(
            (f.align, f.width, f.precision, f.kind),
            (Some('>'), 10, Some(3), Some('f'))
        );
        assert!(FormatSpec::parse("10.3fx").is_none());
        assert_eq!(group("1234567.5".into(), true), "1,234,567.5");
        assert_eq!(py_exp(0.0012345, 2), "1.23e-03");
        assert_eq!(py_general(0.0001234, 6), "0.0001234");
        assert_eq!(py_general(1234567.0, 6), "1.23457e+06");
        assert_eq!(py_general(2.5, 6), "2.5");
    }
}
