//! Small gaps that pasted programs hit: `Tensor.tolist()` (nested lists of Python numbers,
//! any number of dimensions, views read in their logical order), `is_cuda`/`is_cpu`/`is_meta`,
//! `str()`/`repr()` of `KeyError` (the key's repr, as CPython's `KeyError_str`, for raised and
//! for built-in lookups), `@torch.no_grad()`/`@torch.enable_grad()` on generator functions
//! (each resumption runs in the decorator's mode, the caller's comes back at `yield`), and the
//! `torch.cuda.memory_cached` aliases, and `default_collate`'s dtypes for Python numbers (floats
//! become float64, as `collate_float_fn` makes them). `EXPECTED` is what torch 2.15.0 (CPU) printed for
//! `PROGRAM`; it runs on host tensors, so the meta backend must print the same.

use leakharness::device::Backend;

const PROGRAM: &str = r#"import torch

print(torch.tensor(2.5).tolist())
print(torch.tensor([[1.5, 2.0, -3.25], [0.1, 4.0, 5.0]]).tolist())
print(torch.tensor([[1, 2], [3, 4]]).tolist())
print(torch.tensor([True, False]).tolist())
print(torch.tensor([7, -8], dtype=torch.int32).tolist())
print(torch.tensor([0.1, 3.0]).half().tolist())
print(torch.tensor([0.1, 2.5], dtype=torch.float64).tolist())
from torch.utils.data import default_collate
b = default_collate([1.5, 2.25, 0.1])
print(b.dtype, b.tolist(), default_collate([1, 2]).dtype, default_collate([True, False]).dtype)
print(torch.zeros(2, 0).tolist(), torch.zeros(0, 3).tolist())
print(torch.ones(2, 1, 3).tolist())
print(torch.tensor([[1.0, 2.0], [3.0, 4.0]]).t().tolist())
print(torch.tensor([[1.0, 2.0], [3.0, 4.0]])[:, 1].tolist())
print(type(torch.tensor(3).tolist()).__name__, type(torch.tensor([3.0]).tolist()[0]).__name__)
x = torch.ones(2)
print(x.is_cuda, x.is_cpu, x.is_meta)

e = KeyError('x')
print(str(e), repr(e), e.args[0], len(e.args[0]))
print(str(KeyError('a', 'b')), repr(KeyError('a', 'b')), str(KeyError()), str(KeyError(1)))
print(f"{KeyError('q')}", "%s" % KeyError('q'))
try:
    {}['lr']
except KeyError as err:
    print(str(err), repr(err), err.args)
try:
    {}.pop('k')
except KeyError as err:
    print(err)
try:
    {}.popitem()
except KeyError as err:
    print(err, err.args)
try:
    set().remove(3)
except KeyError as err:
    print(err, repr(err))

class MissingKey(KeyError):
    pass

print(str(MissingKey('z')), repr(MissingKey('z')))
try:
    {'a': 1}[('t', 2)]
except LookupError as err:
    print(err)
w = torch.ones(2, requires_grad=True)

@torch.no_grad()
def scaled():
    for i in range(2):
        yield w * 2, torch.is_grad_enabled()

for y, mode in scaled():
    print(y.requires_grad, mode, torch.is_grad_enabled())

@torch.enable_grad()
def modes():
    yield torch.is_grad_enabled()

with torch.no_grad():
    print(list(modes()), torch.is_grad_enabled())
print(torch.cuda.memory_cached(), torch.cuda.max_memory_cached())
"#;

/// torch 2.15.0 (CPU), line for line.
const EXPECTED: &[&str] = &[
    "2.5",
    "[[1.5, 2.0, -3.25], [0.10000000149011612, 4.0, 5.0]]",
    "[[1, 2], [3, 4]]",
    "[True, False]",
    "[7, -8]",
    "[0.0999755859375, 3.0]",
    "[0.1, 2.5]",
    "torch.float64 [1.5, 2.25, 0.1] torch.int64 torch.bool",
    "[[], []] []",
    "[[[1.0, 1.0, 1.0]], [[1.0, 1.0, 1.0]]]",
    "[[1.0, 3.0], [2.0, 4.0]]",
    "[2.0, 4.0]",
    "int float",
    "False True False",
    "'x' KeyError('x') x 1",
    "('a', 'b') KeyError('a', 'b')  1",
    "'q' 'q'",
    "'lr' KeyError('lr') ('lr',)",
    "'k'",
    "'popitem(): dictionary is empty' ('popitem(): dictionary is empty',)",
    "3 KeyError(3)",
    "'z' MissingKey('z')",
    "('t', 2)",
    "False False True",
    "False False True",
    "[True] False",
    "0 0",
];

#[test]
fn pasted_program_gaps_print_what_pytorch_prints() {
    crate::assert_prints_on_cpu_and_meta(PROGRAM, EXPECTED);
}

#[test]
fn device_tensors_are_cuda_and_their_lists_are_host_numbers() {
    let src = r#"import torch
x = torch.ones(2, 3, device="cuda")
print(x.is_cuda, x.is_cpu, x.is_meta, x.cpu().is_cuda)
before = torch.cuda.memory_allocated()
values = x.tolist()
print(values, torch.cuda.memory_allocated() - before, torch.cuda.memory_cached() == torch.cuda.memory_reserved())
"#;
    let r = crate::run_program(src, Backend::Cpu);
    if let Some(f) = r.failure {
        panic!("{}", f.error);
    }
    assert_eq!(
        r.output,
        [
            "True False False False",
            "[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]] 0 True"
        ]
    );
}

#[test]
fn an_uncaught_key_error_shows_the_key_with_its_quotes() {
    let r = crate::run_program("d = {}\nd['missing']\n", Backend::Meta);
    let err = r.failure.expect("an uncaught KeyError").error.to_string();
    assert!(err.contains("KeyError: 'missing'"), "{err}");
    assert!(!err.contains("\"'missing'\""), "{err}");
}
