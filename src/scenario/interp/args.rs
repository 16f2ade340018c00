//! Binding call arguments to parameters, with Python's TypeErrors.

use super::value::Value;
use super::{Interp, Unwind, X};
use crate::scenario::Span;

/// The arguments of one call.
#[derive(Debug, Clone, Default)]
pub struct CallArgs {
    /// Positional arguments.
    pub pos: Vec<Value>,
    /// Keyword arguments, in the order written.
    pub kw: Vec<(String, Value)>,
}

/// Arguments bound to a signature: one optional value per parameter.
#[derive(Debug)]
pub struct Bound {
    values: Vec<Option<Value>>,
    params: &'static [&'static str],
}

impl Bound {
    /// The argument for `name`, if given.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.params.iter().position(|p| *p == name)?;
        self.values[i]
            .as_ref()
            .filter(|v| !matches!(v, Value::None))
    }

    /// The argument for `name` even when it is `None`.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        let i = self.params.iter().position(|p| *p == name)?;
        self.values[i].as_ref()
    }
}

impl CallArgs {
    /// Positional arguments only.
    pub fn positional(pos: Vec<Value>) -> CallArgs {
        CallArgs {
            pos,
            kw: Vec::new(),
        }
    }

    /// Binds to `params`, of which the first `required` must be given, as Python binds a call to
    /// `def f(a, b, c=..., *, d=...)`: positionally in order, or by keyword.
    pub fn bind(
        &self,
        func: &str,
        params: &'static [&'static str],
        required: usize,
    ) -> Result<Bound, String> {
        if self.pos.len() > params.len() {
            return Err(format!(
                "TypeError: {func}() takes {} positional argument{} but {} were given",
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                self.pos.len()
            ));
        }
        let mut values: Vec<Option<Value>> = vec![None; params.len()];
        for (i, v) in self.pos.iter().enumerate() {
            values[i] = Some(v.clone());
        }
        for (name, v) in &self.kw {
            let Some(i) = params.iter().position(|p| p == name) else {
                return Err(format!(
                    "TypeError: {func}() got an unexpected keyword argument '{name}'"
                ));
            };
            if values[i].is_some() {
                return Err(format!(
                    "TypeError: {func}() got multiple values for argument '{name}'"
                ));
            }
            values[i] = Some(v.clone());
        }
        if let Some(missing) = (0..required).find(|&i| values[i].is_none()) {
            return Err(format!(
                "TypeError: {func}() missing required argument: '{}'",
                params[missing]
            ));
        }
        Ok(Bound { values, params })
    }

    /// Rejects keyword arguments other than `allowed`, for functions taking `*args`.
    pub fn only_keywords(&self, func: &str, allowed: &[&str]) -> Result<(), String> {
        match self.kw.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((k, _)) => Err(format!(
                "TypeError: {func}() got an unexpected keyword argument '{k}'"
            )),
            None => Ok(()),
        }
    }

    /// The keyword argument `name`, if given.
    pub fn keyword(&self, name: &str) -> Option<&Value> {
        self.kw.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A binding's outcome as the program sees it: its `TypeError` raised at `span`, where an
/// `except` can catch it.
pub(super) fn bound(it: &mut Interp<'_>, r: Result<Bound, String>, span: Span) -> X<Bound> {
    r.map_err(|m| {
        let f = it.fail(span, m);
        Unwind::Exc(it.exc_from_failure(f))
    })
}
