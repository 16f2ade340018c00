//! The `random` module, on the interpreter's own seeded generator.

use super::super::value::Value;
use super::super::{CallArgs, Interp, X};
use super::float_of;
use crate::scenario::Span;

/// The `random` module, on the interpreter's own generator (splitmix64: seeded runs repeat,
/// but the numbers are not CPython's Mersenne Twister's).
pub(super) fn random(it: &mut Interp<'_>, name: &str, args: &CallArgs, span: Span) -> X<Value> {
    let next = |it: &mut Interp<'_>| {
        it.random_state = it.random_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = it.random_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let int = |v: Option<&Value>| match v {
        Some(Value::Int(i)) => *i,
        _ => 0,
    };
    match name {
        "seed" => {
            it.random_state = int(args.pos.first()) as u64;
            Ok(Value::None)
        }
        "random" => Ok(Value::Float(next(it))),
        "uniform" => {
            let a = float_of(
                it,
                &args.pos.first().cloned().unwrap_or(Value::Int(0)),
                span,
            )?;
            let b = float_of(it, &args.pos.get(1).cloned().unwrap_or(Value::Int(1)), span)?;
            Ok(Value::Float(a + (b - a) * next(it)))
        }
        "gauss" => {
            let mu = float_of(
                it,
                &args.pos.first().cloned().unwrap_or(Value::Int(0)),
                span,
            )?;
            let sigma = float_of(it, &args.pos.get(1).cloned().unwrap_or(Value::Int(1)), span)?;
            let (u1, u2) = (next(it).max(1e-300), next(it));
            Ok(Value::Float(
                mu + sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos(),
            ))
        }
        "randint" | "randrange" => {
            let (a, b) = match (args.pos.first(), args.pos.get(1)) {
                (Some(_), Some(_)) => (int(args.pos.first()), int(args.pos.get(1))),
                _ => (0, int(args.pos.first())),
            };
            let hi = if name == "randint" { b } else { b - 1 };
            if hi < a {
                return Err(it.raise("ValueError", "empty range for randrange()".into(), span));
            }
            let n = (hi - a + 1) as f64;
            Ok(Value::Int(a + (next(it) * n) as i64))
        }
        "choice" => {
            let items = it.collect(args.pos.first().cloned().unwrap_or(Value::None), span)?;
            if items.is_empty() {
                return Err(it.raise(
                    "IndexError",
                    "Cannot choose from an empty sequence".into(),
                    span,
                ));
            }
            let i = (next(it) * items.len() as f64) as usize;
            Ok(items[i.min(items.len() - 1)].clone())
        }
        "sample" => {
            let mut items = it.collect(args.pos.first().cloned().unwrap_or(Value::None), span)?;
            let k = int(args.pos.get(1)).max(0) as usize;
            let mut out = Vec::new();
            while out.len() < k && !items.is_empty() {
                let i = (next(it) * items.len() as f64) as usize;
                out.push(items.remove(i.min(items.len() - 1)));
            }
            Ok(it.list(out, span))
        }
        "shuffle" => {
            if let Some(Value::List(l)) = args.pos.first() {
                let n = l.borrow().len();
                for i in (1..n).rev() {
                    let j = ((next(it) * (i + 1) as f64) as usize).min(i);
                    l.borrow_mut().swap(i, j);
                }
            }
            Ok(Value::None)
        }
        _ => Ok(Value::None),
    }
}
