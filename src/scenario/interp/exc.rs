//! The builtin exception types and their hierarchy (CPython's `Objects/exceptions.c`, and
//! PyTorch's `torch.OutOfMemoryError`, which subclasses `RuntimeError`).

use super::pyobj::ExcObj;
use super::value::Value;
use super::{Interp, Unwind};
use crate::scenario::Span;

/// Every builtin exception type with its base, bases first.
const HIERARCHY: [(&str, &str); 35] = [
    ("BaseException", ""),
    ("SystemExit", "BaseException"),
    ("KeyboardInterrupt", "BaseException"),
    ("GeneratorExit", "BaseException"),
    ("Exception", "BaseException"),
    ("StopIteration", "Exception"),
    ("ArithmeticError", "Exception"),
    ("FloatingPointError", "ArithmeticError"),
    ("OverflowError", "ArithmeticError"),
    ("ZeroDivisionError", "ArithmeticError"),
    ("AssertionError", "Exception"),
    ("AttributeError", "Exception"),
    ("BufferError", "Exception"),
    ("EOFError", "Exception"),
    ("ImportError", "Exception"),
    ("ModuleNotFoundError", "ImportError"),
    ("LookupError", "Exception"),
    ("IndexError", "LookupError"),
    ("KeyError", "LookupError"),
    ("MemoryError", "Exception"),
    ("NameError", "Exception"),
    ("UnboundLocalError", "NameError"),
    ("OSError", "Exception"),
    ("FileNotFoundError", "OSError"),
    ("RuntimeError", "Exception"),
    ("NotImplementedError", "RuntimeError"),
    ("RecursionError", "RuntimeError"),
    ("torch.OutOfMemoryError", "RuntimeError"),
    ("SyntaxError", "Exception"),
    ("SystemError", "Exception"),
    ("TypeError", "Exception"),
    ("ValueError", "Exception"),
    ("UnicodeError", "ValueError"),
    ("Warning", "Exception"),
    ("UserWarning", "Warning"),
];

/// Whether `name` is a builtin exception type.
pub(super) fn is_exception_type(name: &str) -> bool {
    HIERARCHY.iter().any(|(n, _)| *n == canonical(name))
}

/// The one name of a type that has several (`torch.cuda.OutOfMemoryError` is
/// `torch.OutOfMemoryError`, `IOError` is `OSError`).
pub(super) fn canonical(name: &str) -> &str {
    match name {
        "torch.cuda.OutOfMemoryError" | "OutOfMemoryError" => "torch.OutOfMemoryError",
        "IOError" | "EnvironmentError" => "OSError",
        other => other,
    }
}

fn base_of(name: &str) -> Option<&'static str> {
    HIERARCHY
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .filter(|b| !b.is_empty())
}

/// Whether the builtin type `name` is `ancestor` or derives from it.
pub(super) fn is_subclass_name(name: &str, ancestor: &str) -> bool {
    let ancestor = canonical(ancestor);
    let mut at = Some(canonical(name));
    while let Some(n) = at {
        if n == ancestor {
            return true;
        }
        at = base_of(n);
    }
    // `object` is every type's base.
    ancestor == "object"
}

/// Splits `"TypeError: message"` into the type and the message; messages without a known type
/// are RuntimeErrors, as most of PyTorch's errors are.
pub(super) fn split_message(message: &str) -> (&str, &str) {
    if let Some((kind, rest)) = message.split_once(": ") {
        if is_exception_type(kind) {
            return (canonical(kind), rest);
        }
    }
    ("RuntimeError", message)
}

/// The type as a traceback shows it: `ValueError`, `torch.OutOfMemoryError`, `MyError`.
pub(super) fn display_kind(e: &ExcObj) -> String {
    match &e.class {
        Some(c) => c.name.to_string(),
        None => e.kind.to_string(),
    }
}

/// The argument of an exception a failure message stands for. A `KeyError`'s message is its
/// key's repr (`KeyError: 'lr'`), and the exception holds the key itself, whose repr `str(e)`
/// shows again; other messages are the argument.
pub(super) fn failure_arg(kind: &str, message: &str) -> Value {
    let quoted = message.len() >= 2 && message.starts_with('\'') && message.ends_with('\'');
    if kind == "KeyError" && quoted {
        return Value::Str(message[1..message.len() - 1].into());
    }
    Value::Str(message.into())
}

impl Interp<'_> {
    /// Raises `KeyError(key)` at `span` of the running frame: the exception holds the key, as
    /// CPython's does, and `str()` of it is the key's repr.
    pub(crate) fn raise_key_error(&mut self, key: Value, span: Span) -> Unwind {
        let e = self.new_exception("KeyError", None, vec![key], None, None);
        e.traceback.borrow_mut().push((self.frame().clone(), span));
        Unwind::Exc(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_is_a_runtime_error_and_an_exception() {
        assert!(is_subclass_name("torch.OutOfMemoryError", "RuntimeError"));
        assert!(is_subclass_name("torch.cuda.OutOfMemoryError", "Exception"));
        assert!(!is_subclass_name("RuntimeError", "torch.OutOfMemoryError"));
        assert!(is_subclass_name("KeyboardInterrupt", "BaseException"));
        assert!(!is_subclass_name("KeyboardInterrupt", "Exception"));
        assert!(is_subclass_name("RecursionError", "RuntimeError"));
    }

    #[test]
    fn messages_name_their_type() {
        assert_eq!(split_message("TypeError: bad"), ("TypeError", "bad"));
        assert_eq!(
            split_message("shapes cannot be multiplied"),
            ("RuntimeError", "shapes cannot be multiplied")
        );
        assert_eq!(
            split_message("torch.OutOfMemoryError: CUDA out of memory"),
            ("torch.OutOfMemoryError", "CUDA out of memory")
        );
    }
}
