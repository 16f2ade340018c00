//! Double backward, `torch.autograd.grad` and the callbacks of the autograd engine (tensor
//! hooks), in exact bytes: what a `create_graph` gradient keeps, which nodes a `grad` call
//! runs and releases, what a hook's replacement gradient costs.

use std::any::Any;
use std::rc::Rc;

use leakharness::autograd::{self, BackwardOptions, Callbacks, NoCallbacks, Node, ProgramObject};
use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor, TensorError};

fn rt(backend: Backend) -> Runtime {
    Runtime::new(backend, RuntimeOptions::default()).unwrap()
}

fn leaf(rt: &Runtime, n: usize) -> Tensor {
    rt.randn(&[n], Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

const CREATE_GRAPH: BackwardOptions = BackwardOptions {
    retain_graph: None,
    create_graph: true,
};

fn name(n: &Option<Rc<Node>>) -> Option<String> {
    n.as_ref().map(|n| n.name().to_string())
}

#[test]
fn create_graph_makes_a_grad_that_holds_its_parameter_until_reset() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let w = leaf(&rt, 256); // 1024 B
        let loss = w.mul(&w).unwrap().sum().unwrap(); // 512 B
        let base = rt.memory_allocated();
        autograd::backward(
            std::slice::from_ref(&loss),
            &[],
            CREATE_GRAPH,
            &mut NoCallbacks,
        )
        .unwrap();
        let grad = w.grad().unwrap();
        // PyTorch 2.15 (`grad_fn` chain of `w.grad` after `(w * w).sum().backward(
        // create_graph=True)`): CopyBackwards <- AddBackward0 <- MulBackward0 (x2).
        let copy = grad.grad_fn().unwrap();
        assert_eq!(copy.name(), "CopyBackwards");
        let next = copy.next_functions();
        assert_eq!(next.len(), 2);
        assert!(
            next[0].is_none(),
            "the copy's destination needs no gradient"
        );
        let add = next[1].clone().unwrap();
        assert_eq!(add.name(), "AddBackward0");
        let muls = add.next_functions();
        assert_eq!(name(&muls[0]).as_deref(), Some("MulBackward0"));
        assert_eq!(name(&muls[1]).as_deref(), Some("MulBackward0"));
        drop((copy, next, add, muls, grad));
        // The gradient and the 0-dim seed both MulBackward0 save.
        assert_eq!(rt.memory_allocated() - base, 1024 + 512);
        // Peak: the seed, both products and their out-of-place sum.
        assert_eq!(rt.allocator().max_memory_allocated() - base, 512 + 3 * 1024);
        // The forward graph was retained (retain_graph defaults to create_graph).
        assert!(loss
            .grad_fn()
            .unwrap()
            .next_functions()
            .into_iter()
            .flatten()
            .all(|n| n.name() == "MulBackward0" || n.name() == "AccumulateGrad"));
        w.set_grad(None);
        assert_eq!(
            rt.memory_allocated(),
            base,
            "resetting .grad breaks the cycle"
        );
    }
}

#[test]
fn a_second_create_graph_backward_adds_out_of_place() {
    let rt = rt(Backend::Cpu);
    let w = leaf(&rt, 256);
    for _ in 0..2 {
        let loss = w.mul(&w).unwrap().sum().unwrap();
        autograd::backward(&[loss], &[], CREATE_GRAPH, &mut NoCallbacks).unwrap();
    }
    // PyTorch: `w.grad.grad_fn` is AddBackward0 after the second call.
    assert_eq!(w.grad().unwrap().grad_fn().unwrap().name(), "AddBackward0");
    let values = w.grad().unwrap().to_vec_f32();
    let expected: Vec<f32> = w.to_vec_f32().iter().map(|x| 4.0 * x).collect();
    for (a, b) in values.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-5);
    }
    w.set_grad(None);
}

#[test]
fn grad_runs_only_the_nodes_on_a_path_to_its_inputs() {
    let rt = rt(Backend::Cpu);
    let a = leaf(&rt, 256);
    let b = leaf(&rt, 256);
    let c = leaf(&rt, 256);
    // a*b reaches a; c.exp() does not.
    let y = a
        .mul(&b)
        .unwrap()
        .sum()
        .unwrap()
        .add(&c.exp().unwrap().sum().unwrap())
        .unwrap();
    let exp_node = y.grad_fn().unwrap().next_functions()[1]
        .clone()
        .unwrap()
        .next_functions()[0]
        .clone()
        .unwrap();
    assert_eq!(exp_node.name(), "ExpBackward0");
    let grads = autograd::grad(
        &[y],
        &[],
        std::slice::from_ref(&a),
        BackwardOptions::default(),
        false,
        &mut NoCallbacks,
    )
    .unwrap();
    let ga = grads[0].clone().unwrap();
    assert_eq!(ga.to_vec_f32(), b.to_vec_f32());
    assert!(ga.grad_fn().is_none(), "no create_graph, no graph");
    assert!(a.grad().is_none() && b.grad().is_none() && c.grad().is_none());
    // ExpBackward0 did not run, so it still holds its result (PyTorch releases only what
    // ran: `exec_info`).
    assert!(!exp_node.backward_ran());
    assert!(exp_node.saved_tensors()[0].tensor.is_some());
}

#[test]
fn grad_of_an_unused_input_is_an_error_unless_allowed() {
    let rt = rt(Backend::Cpu);
    let a = leaf(&rt, 4);
    let unused = leaf(&rt, 4);
    let y = a.sum().unwrap();
    let err = autograd::grad(
        std::slice::from_ref(&y),
        &[],
        std::slice::from_ref(&unused),
        BackwardOptions {
            retain_graph: Some(true),
            create_graph: false,
        },
        false,
        &mut NoCallbacks,
    )
    .unwrap_err();
    assert!(matches!(err, TensorError::Invalid(m) if m.contains("allow_unused=True")));
    let grads = autograd::grad(
        &[y],
        &[],
        &[unused],
        BackwardOptions::default(),
        true,
        &mut NoCallbacks,
    )
    .unwrap();
    assert!(grads[0].is_none());
}

#[test]
fn create_graph_through_a_saved_output_restores_its_history() {
    let rt = rt(Backend::Cpu);
    let x = leaf(&rt, 8);
    let y = x.exp().unwrap().sum().unwrap();
    let g = autograd::grad(
        &[y],
        &[],
        std::slice::from_ref(&x),
        CREATE_GRAPH,
        false,
        &mut NoCallbacks,
    )
    .unwrap()
    .remove(0)
    .unwrap();
    // grad * result, where result (saved without history) is unpacked with ExpBackward0 as
    // its grad_fn again: the double-backward graph reaches x.
    assert_eq!(g.grad_fn().unwrap().name(), "MulBackward0");
    let gg = autograd::grad(
        &[g.sum().unwrap()],
        &[],
        std::slice::from_ref(&x),
        BackwardOptions::default(),
        false,
        &mut NoCallbacks,
    )
    .unwrap()
    .remove(0)
    .unwrap();
    for (a, b) in gg.to_vec_f32().iter().zip(x.exp().unwrap().to_vec_f32()) {
        assert!((a - b).abs() < 1e-5);
    }
}

/// Hooks whose payload is a factor: each multiplies the gradient.
struct Scale;

impl Callbacks for Scale {
    fn tensor_hook(
        &mut self,
        hook: &ProgramObject,
        grad: &Tensor,
    ) -> leakharness::tensor::Result<Option<Tensor>> {
        let factor = hook.downcast_ref::<f64>().copied().unwrap_or(1.0);
        grad.mul_scalar(factor).map(Some)
    }

    fn custom_backward(
        &mut self,
        _: &ProgramObject,
        _: &Rc<Node>,
        _: &Tensor,
    ) -> leakharness::tensor::Result<Vec<Option<Tensor>>> {
        unreachable!("no custom Function here")
    }
}

#[test]
fn hooks_replace_gradients_in_order_and_handles_remove_them() {
    let rt = rt(Backend::Cpu);
    let w = leaf(&rt, 4);
    let two: ProgramObject = Rc::new(2.0f64);
    let three: Rc<dyn Any> = Rc::new(3.0f64);
    let h2 = w.register_hook(two).unwrap();
    let _h3 = w.register_hook(three).unwrap();
    let y = w.mul_scalar(1.0).unwrap();
    let h_y = y.register_hook(Rc::new(5.0f64)).unwrap();
    assert_eq!(
        y.grad_fn().unwrap().hooks().len(),
        1,
        "a non-leaf's hook lives on its node"
    );
    let loss = y.sum().unwrap();
    autograd::backward(&[loss], &[], BackwardOptions::default(), &mut Scale).unwrap();
    assert_eq!(w.grad().unwrap().to_vec_f32(), [30.0; 4]);
    h2.remove();
    h2.remove();
    h_y.remove();
    assert_eq!(w.hooks().len(), 1);
    w.set_grad(None);
    let loss = w.sum().unwrap();
    autograd::backward(&[loss], &[], BackwardOptions::default(), &mut Scale).unwrap();
    assert_eq!(w.grad().unwrap().to_vec_f32(), [3.0; 4]);
    let plain = rt.randn(&[4], Device::Cuda).unwrap();
    assert!(plain.register_hook(Rc::new(1.0f64)).is_err());
}

/// A gradient that reaches a buffer as a view is never summed in place: PyTorch's view keeps its
/// base alive, so its storage has two users. A weight used in two products gets two
/// `TBackward0` views of its gradient; the second is added into a new 16,384-byte block, as an
/// H100 snapshot of truncated BPTT under PyTorch 2.11 shows (docs/gpu.md).
#[test]
fn gradients_arriving_as_views_are_summed_into_a_new_block() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let w = rt
            .randn(&[64, 64], Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let a = rt.randn(&[16, 64], Device::Cuda).unwrap();
        let b = rt.randn(&[16, 64], Device::Cuda).unwrap();
        let loss = a
            .mm(&w.t().unwrap())
            .unwrap()
            .sum()
            .unwrap()
            .add(&b.mm(&w.t().unwrap()).unwrap().sum().unwrap())
            .unwrap();
        rt.allocator_mut().reset_peak_memory_stats();
        let before = rt.memory_allocated();
        loss.backward(None, false).unwrap();
        // Alive at once: both products' gradients (16,384 B each, views of the mm results),
        // their sum and the seed; an in-place sum would have needed one block less.
        let peak = rt.allocator().max_memory_allocated() - before;
        assert_eq!(peak, 3 * 16384 + 512, "{backend:?}");
        assert_eq!(
            rt.memory_allocated() - before,
            16384,
            "{backend:?}: w.grad stays"
        );
    }
}
