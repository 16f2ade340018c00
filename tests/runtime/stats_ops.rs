//! `var`, `std` and the vector norm (13K): what forward allocates (the result only) and what
//! the node saves, checked against PyTorch 2.15 (`grad_fn._saved_*`, docs/autograd.md).

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

fn input(rt: &Runtime) -> Tensor {
    rt.randn(&[32, 10], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

/// Runs `op` on a 32×10 input on cpu and meta: one allocation of `bytes`, the node `name`
/// saving `saved`, and a backward leaving a gradient of the input's shape.
fn check(op: impl Fn(&Tensor) -> Tensor, shape: &[usize], bytes: u64, name: &str, saved: &[&str]) {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let x = input(&rt);
        let before = rt.allocator().stats().allocation.all.allocated;
        let y = op(&x);
        assert_eq!(y.shape(), shape, "{name}");
        assert_eq!(
            rt.allocator().stats().allocation.all.allocated - before,
            1,
            "{name}: forward allocates its result only"
        );
        assert_eq!(rt.memory_allocated(), 1536 + bytes, "{name}");
        let node = y.grad_fn().unwrap();
        assert_eq!(node.name(), name);
        let names: Vec<&str> = node.saved_tensors().iter().map(|t| t.name).collect();
        assert_eq!(names, saved, "{name}");
        drop(node);
        y.sum().unwrap().backward(None, false).unwrap();
        assert_eq!(x.grad().unwrap().shape(), &[32, 10]);
        drop(y);
        assert_eq!(
            rt.memory_allocated(),
            2 * 1536,
            "{name}: x and its gradient"
        );
    }
}

#[test]
fn var_allocates_its_result_and_saves_self() {
    check(
        |x| x.var(Some(&[1]), 1.0, false).unwrap(),
        &[32],
        512,
        "VarBackward0",
        &["self"],
    );
    check(
        |x| x.var(None, 0.0, false).unwrap(),
        &[],
        512,
        "VarBackward0",
        &["self"],
    );
}

#[test]
fn std_allocates_its_result_and_saves_self_and_result() {
    check(
        |x| x.std(Some(&[0]), 1.0, true).unwrap(),
        &[1, 10],
        512,
        "StdBackward0",
        &["self", "result"],
    );
}

#[test]
fn norm_is_linalg_vector_norm_saving_self_and_result() {
    check(
        |x| x.vector_norm(2.0, None, false).unwrap(),
        &[],
        512,
        "LinalgVectorNormBackward0",
        &["self", "result"],
    );
    check(
        |x| x.vector_norm(1.0, Some(&[1]), true).unwrap(),
        &[32, 1],
        512,
        "LinalgVectorNormBackward0",
        &["self", "result"],
    );
}

#[test]
fn the_statistics_have_pytorchs_values() {
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let x = rt
        .tensor(&[1.0, 2.0, 3.0, 4.0, -2.0, 0.0], &[2, 3], Device::Cuda)
        .unwrap();
    // torch.tensor([[1., 2., 3.], [4., -2., 0.]]) under PyTorch 2.15.
    assert_eq!(
        x.var(Some(&[1]), 1.0, false).unwrap().to_vec_f32(),
        [1.0, 9.333333]
    );
    assert_eq!(x.var(None, 1.0, false).unwrap().to_vec_f32(), [4.6666665]);
    assert_eq!(
        x.std(Some(&[0]), 0.0, false).unwrap().to_vec_f32(),
        [1.5, 2.0, 1.5]
    );
    assert_eq!(
        x.vector_norm(2.0, None, false).unwrap().to_vec_f32(),
        [5.8309517]
    );
    assert_eq!(
        x.vector_norm(1.0, Some(&[1]), false).unwrap().to_vec_f32(),
        [6.0, 6.0]
    );
}

#[test]
fn scenarios_call_them_as_pytorch_spells_them() {
    use leakharness::scenario::interp::{run, RunOptions};
    let source = "import torch\n\
                  x = torch.randn(4, 5, device='cuda', requires_grad=True)\n\
                  a = x.var(1) + x.var(dim=(0, 1), unbiased=False) + torch.var(x, 1, correction=0)\n\
                  b = x.std() + torch.std(x, dim=0, keepdim=True).sum()\n\
                  c = x.norm() + x.norm(p=1, dim=1).sum() + torch.norm(x, 'fro')\n\
                  (a.sum() + b.sum() + c).backward()\n\
                  print(tuple(x.grad.shape))\n";
    let scenario = leakharness::scenario::parse_scenario(std::path::Path::new("s.py"), source)
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let result = run(&scenario, &rt, &RunOptions::default(), &mut ());
    assert!(result.failure.is_none(), "{:?}", result.failure);
    assert_eq!(result.output.join(""), "(4, 5)");
}
