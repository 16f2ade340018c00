//! Memory semantics of the tensor runtime, asserted in exact bytes through the allocator's
//! statistics: what the graph keeps alive, what backward frees, what gradients and optimizer
//! state cost. Sizes are the request rounded up to 512 bytes, as in PyTorch.

use leakharness::alloc::{EventKind, Purpose};
use leakharness::device::Backend;
use leakharness::nn::{CrossEntropyLoss, Linear, MSELoss, Module, ReLU, Reduction, Sequential};
use leakharness::optim::{Adam, AdamOptions, AdamW, Optimizer, Sgd, SgdOptions};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, Tensor, TensorError, TensorIndex};

fn rt(backend: Backend) -> Runtime {
    Runtime::new(backend, RuntimeOptions::default()).unwrap()
}

/// A random leaf tensor on the device that requires grad: the set-up most tests start from.
fn leaf(rt: &Runtime, shape: &[usize]) -> Tensor {
    rt.randn(shape, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

fn purpose(rt: &Runtime, t: &Tensor) -> Purpose {
    rt.allocator().tag(t.block().unwrap()).unwrap().purpose
}

fn mlp(rt: &Runtime, sizes: &[usize]) -> Sequential {
    let mut layers: Vec<Box<dyn Module>> = Vec::new();
    for (i, w) in sizes.windows(2).enumerate() {
        if i > 0 {
            layers.push(Box::new(ReLU::new(false)));
        }
        layers.push(Box::new(Linear::new(rt, w[0], w[1], true).unwrap()));
    }
    let model = Sequential::new(layers);
    model.to(Device::Cuda).unwrap();
    model
}

fn param_bytes(params: &[Tensor]) -> u64 {
    params
        .iter()
        .map(|p| ((p.numel() * 4) as u64).next_multiple_of(512))
        .sum()
}

#[test]
fn relu_output_lives_in_the_graph_until_backward_frees_it() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = rt.randn(&[32, 64], Device::Cuda).unwrap(); // 8 KiB
        let w = leaf(&rt, &[64, 128]); // 32 KiB
        let h = x.matmul(&w).unwrap().relu().unwrap(); // the mm output (16 KiB) is freed at once
        assert_eq!(rt.memory_allocated(), 8192 + 32768 + 16384);
        let s = h.sum().unwrap();
        let relu_block = h.block().unwrap();
        drop(h);
        // ReluBackward0 saved its result: the 16 KiB stay, tagged as a saved activation.
        assert_eq!(rt.memory_allocated(), 8192 + 32768 + 16384 + 512);
        assert_eq!(
            rt.allocator().tag(relu_block).unwrap().purpose,
            Purpose::SavedActivation
        );
        assert_eq!(rt.live_nodes(), 4); // Sum, Relu, Mm, AccumulateGrad(w)
        s.backward(None, false).unwrap();
        // The relu output is gone; w.grad (32 KiB) arrived; the ones_like seed was freed.
        assert_eq!(rt.memory_allocated(), 8192 + 32768 + 32768 + 512);
        let g = w.grad().unwrap();
        assert_eq!(g.shape(), &[64, 128]);
        assert_eq!(purpose(&rt, &g), Purpose::Gradient);
        assert!(rt.allocator().tag(relu_block).is_none());
        // The graph is still referenced by `s`, with its saved tensors released.
        assert_eq!(rt.live_nodes(), 4);
        drop(s);
        assert_eq!(rt.live_nodes(), 0);
    }
}

#[test]
fn linear_saves_input_and_weight_view_and_allocates_nothing_for_the_transpose() {
    let rt = rt(Backend::Meta);
    let layer = Linear::new(&rt, 64, 256, true).unwrap();
    assert_eq!(
        rt.memory_allocated(),
        0,
        "parameters are created on the host"
    );
    let weight = layer.weight.clone();
    layer.to(Device::Cuda).unwrap();
    assert!(weight.is_same(&layer.weight), "identity survives .to()");
    assert_eq!(weight.device(), Device::Cuda);
    assert_eq!(purpose(&rt, &weight), Purpose::Parameter);
    let params = 65536 + 1024;
    assert_eq!(rt.memory_allocated(), params);

    let x = rt.randn(&[32, 64], Device::Cuda).unwrap(); // 8 KiB
    let y = layer.forward(&x).unwrap(); // 32 KiB, one allocation (addmm)
    assert_eq!(rt.memory_allocated(), params + 8192 + 32768);
    let node = y.grad_fn().unwrap();
    assert_eq!(node.name(), "AddmmBackward0");
    let saved: Vec<&str> = node.saved_tensors().iter().map(|s| s.name).collect();
    // x does not require grad, so mat2 (weight.t()) is not needed: only mat1 is saved.
    assert_eq!(saved, ["mat1"]);
    let next: Vec<Option<String>> = node
        .next_functions()
        .iter()
        .map(|n| n.as_ref().map(|n| n.name().to_string()))
        .collect();
    assert_eq!(
        next,
        [
            Some("AccumulateGrad".into()),
            None,
            Some("TBackward0".into())
        ]
    );

    y.sum().unwrap().backward(None, false).unwrap();
    // weight.grad is the mm output, contiguous after TBackward0 and stolen without a copy;
    // bias.grad is the sum_to of the incoming gradient.
    assert_eq!(rt.memory_allocated(), 2 * params + 8192 + 32768);
    let wg = layer.weight.grad().unwrap();
    assert!(wg.is_contiguous());
    assert_eq!(wg.shape(), &[256, 64]);
    let allocs = rt
        .allocator()
        .history()
        .trace()
        .iter()
        .filter(|e| matches!(e, EventKind::Alloc { .. }))
        .count();
    // 2 params, x, y, ones seed, mm for weight grad, sum_to for bias grad (sum is 1 more).
    assert_eq!(allocs, 2 + 1 + 1 + 1 + 1 + 1 + 1);
}

#[test]
fn second_backward_accumulates_in_place() {
    let rt = rt(Backend::Cpu);
    let w = leaf(&rt, &[100]);
    w.mul_scalar(3.0)
        .unwrap()
        .sum()
        .unwrap()
        .backward(None, false)
        .unwrap();
    let g = w.grad().unwrap();
    let block = g.block().unwrap();
    let before = rt.memory_allocated();
    w.mul_scalar(3.0)
        .unwrap()
        .sum()
        .unwrap()
        .backward(None, false)
        .unwrap();
    assert_eq!(rt.memory_allocated(), before);
    assert_eq!(w.grad().unwrap().block(), Some(block));
    assert!(g.to_vec_f32().iter().all(|&v| (v - 6.0).abs() < 1e-6));
    assert_eq!(g.version(), 1);
}

#[test]
fn expanded_gradients_are_copied_not_stolen() {
    let rt = rt(Backend::Cpu);
    let w = leaf(&rt, &[10, 10]);
    // SumBackward0 hands AccumulateGrad an expanded view of the 0-dim seed: it must be
    // copied into a dense gradient.
    w.sum().unwrap().backward(None, false).unwrap();
    let g = w.grad().unwrap();
    assert!(g.is_contiguous());
    assert_eq!(g.to_vec_f32(), vec![1.0; 100]);
    assert_eq!(rt.memory_allocated(), 512 + 512);
}

#[test]
fn adam_state_is_twice_the_parameters_and_constant_after_the_first_step() {
    let rt = rt(Backend::Meta);
    let model = mlp(&rt, &[64, 256, 10]);
    let params = model.parameters();
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    let p_bytes = param_bytes(&params);
    assert_eq!(p_bytes, 65536 + 1024 + 10240 + 512);
    let mut opt = Adam::new(params.clone(), AdamOptions::default());
    let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
    let y = rt.randn(&[32, 10], Device::Cuda).unwrap();
    let base = rt.memory_allocated();
    for step in 0..3 {
        let loss = MSELoss::default()
            .forward(&model.forward(&x).unwrap(), &y)
            .unwrap();
        loss.backward(None, false).unwrap();
        drop(loss);
        assert_eq!(
            rt.memory_allocated(),
            base + p_bytes + 2 * p_bytes.min(if step == 0 { 0 } else { p_bytes })
        );
        rt.allocator_mut().reset_peak_memory_stats();
        opt.step().unwrap();
        // State for every parameter first, then (the default on the device is foreach) one
        // `exp_avg_sq_sqrt` per parameter at once.
        assert_eq!(rt.memory_allocated(), base + p_bytes + 2 * p_bytes);
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            base + p_bytes + 2 * p_bytes + p_bytes
        );
        opt.zero_grad(true).unwrap();
        assert_eq!(rt.memory_allocated(), base + 2 * p_bytes);
    }
    assert_eq!(opt.state_tensors().len(), 2 * params.len());
    assert!(opt
        .state_tensors()
        .iter()
        .all(|t| purpose(&rt, t) == Purpose::OptimizerState));
}

#[test]
fn adamw_decays_in_place_and_adam_weight_decay_allocates_a_temporary() {
    for decoupled in [false, true] {
        let rt = rt(Backend::Meta);
        let layer = Linear::new(&rt, 256, 256, false).unwrap(); // 256 KiB weight
        layer.to(Device::Cuda).unwrap();
        let options = AdamOptions {
            weight_decay: 0.1,
            foreach: Some(false),
            ..AdamOptions::default()
        };
        let mut opt: Box<dyn Optimizer> = if decoupled {
            Box::new(AdamW::new(layer.parameters(), options))
        } else {
            Box::new(Adam::new(layer.parameters(), options))
        };
        let x = rt.randn(&[4, 256], Device::Cuda).unwrap();
        layer
            .forward(&x)
            .unwrap()
            .sum()
            .unwrap()
            .backward(None, false)
            .unwrap();
        let before = rt.memory_allocated();
        rt.allocator_mut().reset_peak_memory_stats();
        opt.step().unwrap();
        let p = 262144;
        assert_eq!(rt.memory_allocated(), before + 2 * p);
        // Adam's L2 term `grad.add(param, alpha=wd)` lives through the update.
        let temps = if decoupled { 2 } else { 3 };
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            before + 2 * p + temps * p
        );
    }
}

#[test]
fn sgd_momentum_keeps_one_buffer_per_parameter() {
    let rt = rt(Backend::Meta);
    let model = mlp(&rt, &[64, 128, 10]);
    let params = model.parameters();
    let p_bytes = param_bytes(&params);
    let mut plain = Sgd::new(params.clone(), SgdOptions::default()).unwrap();
    let mut momentum = Sgd::new(
        params.clone(),
        SgdOptions {
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 1e-4,
            ..SgdOptions::default()
        },
    )
    .unwrap();
    let x = rt.randn(&[8, 64], Device::Cuda).unwrap();
    let base = rt.memory_allocated();
    for step in 0..3 {
        model
            .forward(&x)
            .unwrap()
            .sum()
            .unwrap()
            .backward(None, false)
            .unwrap();
        plain.step().unwrap();
        let state = if step == 0 { 0 } else { p_bytes };
        assert_eq!(rt.memory_allocated(), base + p_bytes + state);
        momentum.step().unwrap();
        assert_eq!(rt.memory_allocated(), base + 2 * p_bytes);
        momentum.zero_grad(true).unwrap();
        assert_eq!(rt.memory_allocated(), base + p_bytes);
    }
    assert!(plain.state_tensors().is_empty());
    assert_eq!(momentum.state_tensors().len(), params.len());
}

#[test]
fn zero_grad_without_set_to_none_keeps_gradient_memory() {
    let rt = rt(Backend::Cpu);
    let model = mlp(&rt, &[16, 32, 4]);
    let p_bytes = param_bytes(&model.parameters());
    let x = rt.randn(&[8, 16], Device::Cuda).unwrap();
    model
        .forward(&x)
        .unwrap()
        .sum()
        .unwrap()
        .backward(None, false)
        .unwrap();
    let with_grads = rt.memory_allocated();
    assert_eq!(with_grads, 512 + 2 * p_bytes);
    model.zero_grad(false).unwrap();
    assert_eq!(rt.memory_allocated(), with_grads);
    assert!(model.parameters().iter().all(|p| p
        .grad()
        .unwrap()
        .to_vec_f32()
        .iter()
        .all(|&v| v == 0.0)));
    model.zero_grad(true).unwrap();
    assert_eq!(rt.memory_allocated(), 512 + p_bytes);
}

#[test]
fn no_grad_builds_no_graph_and_saves_nothing() {
    let rt = rt(Backend::Meta);
    let model = mlp(&rt, &[64, 256, 10]);
    let base = rt.memory_allocated();
    let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
    let out = {
        let _g = rt.no_grad();
        model.forward(&x).unwrap()
    };
    assert_eq!(rt.live_nodes(), 0);
    assert!(out.grad_fn().is_none() && !out.requires_grad());
    // Only x and the output: the hidden activation was freed as soon as it was consumed.
    assert_eq!(
        rt.memory_allocated(),
        base + 8192 + 1280u64.next_multiple_of(512)
    );
    let with_grad = model.forward(&x).unwrap();
    // With grad: the hidden activation (32 KiB, relu's result) stays for backward.
    assert_eq!(rt.memory_allocated(), base + 8192 + 2 * 1536 + 32768);
    assert_eq!(rt.live_nodes(), 5 + 4); // Addmm, T, Relu, Addmm, T and 4 AccumulateGrad
    drop(with_grad);
    assert_eq!(rt.live_nodes(), 0);
}

#[test]
fn retain_graph_keeps_saved_tensors_until_the_graph_is_dropped() {
    let rt = rt(Backend::Cpu);
    let model = mlp(&rt, &[64, 256, 10]);
    let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
    let y = rt.randn(&[32, 10], Device::Cuda).unwrap();
    let loss = MSELoss::default()
        .forward(&model.forward(&x).unwrap(), &y)
        .unwrap();
    let graph_bytes = rt.memory_allocated();
    loss.backward(None, true).unwrap();
    let p_bytes = param_bytes(&model.parameters());
    assert_eq!(rt.memory_allocated(), graph_bytes + p_bytes);
    loss.backward(None, false).unwrap();
    // The saved relu output (32 KiB) and mse's saved model output (1.25 KiB -> 1.5 KiB) go.
    assert_eq!(rt.memory_allocated(), graph_bytes + p_bytes - 32768 - 1536);
    let err = loss.backward(None, false).unwrap_err();
    assert_eq!(err, TensorError::BackwardTwice);
    assert!(err.to_string().starts_with(
        "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed)."
    ));
    // The loss holds a storage of the output's size (mse_loss's 0-dim result, as PyTorch's).
    drop(loss);
    assert_eq!(
        rt.memory_allocated(),
        graph_bytes + p_bytes - 32768 - 1536 - 1536
    );
}

#[test]
fn dropping_a_retained_graph_frees_its_saved_tensors() {
    let rt = rt(Backend::Meta);
    let model = mlp(&rt, &[64, 256, 10]);
    let p_bytes = param_bytes(&model.parameters());
    let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
    let base = rt.memory_allocated();
    let loss = model.forward(&x).unwrap().pow(2.0).unwrap().mean().unwrap();
    loss.backward(None, true).unwrap();
    // Saved: relu's result (32 KiB), the model output saved by pow (1.5 KiB), and the loss.
    assert_eq!(rt.memory_allocated(), base + p_bytes + 32768 + 1536 + 512);
    drop(loss);
    assert_eq!(rt.memory_allocated(), base + p_bytes);
    assert_eq!(rt.live_nodes(), 0);
}

#[test]
fn appending_losses_grows_every_step_while_keeping_items_does_not() {
    for keep_tensor in [true, false] {
        let rt = rt(Backend::Meta);
        let model = mlp(&rt, &[64, 256, 10]);
        let mut opt = Sgd::new(model.parameters(), SgdOptions::default()).unwrap();
        let mut losses = Vec::new();
        let mut items = Vec::new();
        let mut at_end = Vec::new();
        let mut nodes = Vec::new();
        for _ in 0..5 {
            let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
            let y = rt.randn(&[32, 10], Device::Cuda).unwrap();
            let loss = MSELoss::default()
                .forward(&model.forward(&x).unwrap(), &y)
                .unwrap();
            loss.backward(None, false).unwrap();
            opt.step().unwrap();
            opt.zero_grad(true).unwrap();
            if keep_tensor {
                losses.push(loss);
            } else {
                items.push(loss.item().unwrap());
                drop(loss);
            }
            at_end.push(rt.memory_allocated());
            nodes.push(rt.live_nodes());
        }
        let growth: Vec<i64> = at_end
            .windows(2)
            .map(|w| w[1] as i64 - w[0] as i64)
            .collect();
        if keep_tensor {
            // Each kept loss holds its graph, whose saved tensors backward already released:
            // the bytes are the loss itself (mse_loss's 0-dim result keeps a storage of the
            // 32×10 output's size: 1,280 bytes, 1,536 rounded), and the graph shows in the
            // node count (MseLoss, Addmm, T, Relu, Addmm, T; the AccumulateGrad nodes are
            // shared).
            assert_eq!(growth, vec![1536; 4]);
            assert_eq!(
                nodes.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>(),
                vec![6; 4]
            );
        } else {
            assert_eq!(growth, vec![0; 4]);
            assert_eq!(nodes, vec![0; 5]);
            assert_eq!(items.len(), 5);
        }
    }
}

#[test]
fn outputs_kept_from_an_evaluation_without_no_grad_keep_their_activations() {
    let rt = rt(Backend::Meta);
    let model = mlp(&rt, &[64, 256, 10]);
    let mut outputs = Vec::new();
    let mut at_end = Vec::new();
    for _ in 0..4 {
        let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
        outputs.push(model.forward(&x).unwrap());
        at_end.push(rt.memory_allocated());
    }
    let growth: Vec<u64> = at_end.windows(2).map(|w| w[1] - w[0]).collect();
    // Output (1.25 KiB -> 1.5 KiB), x saved as mat1 (8 KiB), relu's result saved twice,
    // once as ReluBackward0's result and once as the second addmm's mat1 (32 KiB).
    assert_eq!(growth, vec![1536 + 8192 + 32768; 3]);
    let path = outputs[2].grad_fn().unwrap();
    assert_eq!(path.saved_tensors()[0].name, "mat1");
    assert_eq!(
        path.saved_tensors()[0].tensor.as_ref().unwrap().shape(),
        &[32, 256]
    );
}

#[test]
fn a_running_total_chains_every_graph_and_drops_without_recursion() {
    let rt = rt(Backend::Meta);
    let w = leaf(&rt, &[4]);
    let mut total = rt.zeros(&[], DType::F32, Device::Cuda).unwrap();
    for _ in 0..200_000 {
        total = total.add(&w.sum().unwrap()).unwrap();
    }
    assert_eq!(rt.live_nodes(), 2 * 200_000 + 1);
    drop(total);
    assert_eq!(rt.live_nodes(), 0);
    assert_eq!(rt.memory_allocated(), 512);
}

#[test]
fn in_place_add_on_a_tensor_attaches_it_to_the_graph() {
    let rt = rt(Backend::Meta);
    let w = leaf(&rt, &[4]);
    let total = rt.zeros(&[], DType::F32, Device::Cuda).unwrap();
    for _ in 0..3 {
        total.add_(&w.pow(2.0).unwrap().sum().unwrap()).unwrap();
    }
    assert!(!total.is_leaf());
    assert_eq!(total.grad_fn().unwrap().name(), "AddBackward0");
    // Each step's pow saved w (no copy: w is the leaf itself) and created Pow + Sum + Add.
    assert_eq!(rt.live_nodes(), 3 * 3 + 1);
    assert_eq!(total.version(), 3);
}

#[test]
fn cross_entropy_allocates_log_softmax_output_loss_and_total_weight() {
    let rt = rt(Backend::Meta);
    let logits = leaf(&rt, &[32, 100]);
    let target = rt.randint(0, 100, &[32], Device::Cuda).unwrap();
    let start = rt.allocator().history().total_recorded();
    let loss = CrossEntropyLoss::default()
        .forward(&logits, &target)
        .unwrap();
    let sizes: Vec<u64> = rt
        .allocator()
        .history()
        .events()
        .filter(|e| e.seq >= start)
        .filter_map(|e| match e.kind {
            EventKind::Alloc { requested, .. } => Some(requested),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, [12800, 4, 4]);
    let node = loss.grad_fn().unwrap();
    assert_eq!(node.name(), "NllLossBackward0");
    let saved: Vec<&str> = node.saved_tensors().iter().map(|s| s.name).collect();
    assert_eq!(saved, ["self", "target", "total_weight"]);
    // All three stay: log_softmax's output (saved twice), the loss, and total_weight.
    assert_eq!(
        rt.memory_allocated(),
        12800 + 512 + 12800u64.next_multiple_of(512) + 512 + 512
    );
    loss.backward(None, false).unwrap();
    assert_eq!(
        rt.memory_allocated(),
        2 * 12800u64.next_multiple_of(512) + 512 + 512
    );
}

/// PyTorch 2.11 on CUDA (docs/fidelity.md): a 32×10 `mse_loss` makes two allocations of
/// 1,536 bytes, peaks at 3,072 and keeps 1,536 in a 0-dim result whose storage is 1,280 bytes.
#[test]
fn mse_loss_keeps_a_result_of_the_inputs_size_and_frees_its_elementwise_temporary() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let a = rt.randn(&[32, 10], Device::Cuda).unwrap();
        let b = rt.randn(&[32, 10], Device::Cuda).unwrap();
        for reduction in [Reduction::Mean, Reduction::Sum] {
            rt.allocator_mut().reset_peak_memory_stats();
            let allocations = rt.allocator().stats().allocation.all.allocated;
            let loss = a.mse_loss(&b, reduction).unwrap();
            assert_eq!(loss.shape(), &[] as &[usize]);
            assert_eq!(loss.storage_nbytes(), 1280);
            assert_eq!(
                rt.allocator().stats().allocation.all.allocated - allocations,
                2
            );
            assert_eq!(rt.memory_allocated(), 2 * 1536 + 1536);
            assert_eq!(rt.allocator().max_memory_allocated(), 2 * 1536 + 3072);
            if backend == Backend::Cpu {
                let (x, y) = (a.to_vec_f32(), b.to_vec_f32());
                let sum: f64 = x
                    .iter()
                    .zip(&y)
                    .map(|(p, q)| ((p - q) * (p - q)) as f64)
                    .sum();
                let expected = if reduction == Reduction::Mean {
                    sum / 320.0
                } else {
                    sum
                };
                assert!((loss.item().unwrap() - expected).abs() < 1e-4 * expected.abs());
            }
        }
        let none = a.mse_loss(&b, Reduction::None).unwrap();
        assert_eq!(none.shape(), &[32, 10]);
    }
}

#[test]
fn host_tensors_are_not_device_memory_and_copies_allocate_on_the_device() {
    let rt = rt(Backend::Cpu);
    let h = rt.tensor(&[1.0, 2.0, 3.0], &[3], Device::Cpu).unwrap();
    assert_eq!(rt.memory_allocated(), 0);
    let d = h.cuda().unwrap();
    assert_eq!(rt.memory_allocated(), 512);
    assert!(d.cuda().unwrap().is_same(&d));
    let back = d.mul_scalar(2.0).unwrap().cpu().unwrap();
    assert_eq!(back.to_vec_f32(), vec![2.0, 4.0, 6.0]);
    assert_eq!(rt.memory_allocated(), 512);
    assert_eq!(d.sum().unwrap().item().unwrap(), 6.0);
}

#[test]
fn empty_tensors_take_no_device_memory() {
    let rt = rt(Backend::Cpu);
    let e = rt.zeros(&[0, 16], DType::F32, Device::Cuda).unwrap();
    let s = e.sum().unwrap();
    assert_eq!(s.item().unwrap(), 0.0);
    assert_eq!(rt.memory_allocated(), 512);
}

#[test]
fn view_allocates_nothing_and_reshape_copies_only_when_it_must() {
    let rt = rt(Backend::Meta);
    let x = leaf(&rt, &[64, 32]);
    let v = x.view(&[-1]).unwrap();
    assert_eq!(rt.memory_allocated(), 8192);
    assert_eq!(v.grad_fn().unwrap().name(), "ViewBackward0");
    assert!(v.shares_storage(&x));
    let r = x.t().unwrap().reshape(&[-1]).unwrap();
    assert_eq!(rt.memory_allocated(), 2 * 8192);
    assert_eq!(r.grad_fn().unwrap().name(), "UnsafeViewBackward0");
    assert_eq!(
        x.t().unwrap().view(&[-1]).unwrap_err().to_string(),
        "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead."
    );
    assert_eq!(
        x.view(&[5, -1]).unwrap_err().to_string(),
        "shape '[5, -1]' is invalid for input of size 2048"
    );
    // The gradient through the view is an expanded view of the seed reshaped without a copy;
    // AccumulateGrad then copies it into a dense gradient.
    v.sum().unwrap().backward(None, false).unwrap();
    assert_eq!(x.grad().unwrap().shape(), &[64, 32]);
}

type UnaryFn = fn(&Tensor) -> leakharness::tensor::Result<Tensor>;

/// Element-wise functions: the output is the one allocation; the node keeps `self` or
/// `result` as derivatives.yaml's formula reads it (docs/autograd.md); backward allocates the
/// input's gradient plus the temporaries its formula makes (`2 * result` for sqrt,
/// `self.sgn()` for abs).
#[test]
fn pointwise_nodes_keep_what_derivatives_yaml_reads() {
    let cases: [(UnaryFn, &str, &str, u64); 9] = [
        (Tensor::exp, "ExpBackward0", "result", 0),
        (Tensor::log, "LogBackward0", "self", 0),
        (Tensor::sqrt, "SqrtBackward0", "result", 1),
        (Tensor::tanh, "TanhBackward0", "result", 0),
        (Tensor::sigmoid, "SigmoidBackward0", "result", 0),
        (Tensor::abs, "AbsBackward0", "self", 1),
        (Tensor::gelu, "GeluBackward0", "self", 0),
        (Tensor::silu, "SiluBackward0", "self", 0),
        (|t| t.softmax(1), "SoftmaxBackward0", "result", 0),
    ];
    for backend in [Backend::Cpu, Backend::Meta] {
        for (f, node, saved, temporaries) in cases {
            let rt = rt(backend);
            // 32×10 f32: 1,280 bytes, 1,536 rounded.
            let x = leaf(&rt, &[32, 10]);
            let y = f(&x).unwrap();
            assert_eq!(rt.memory_allocated(), 2 * 1536, "{node}: one output");
            let g = y.grad_fn().unwrap();
            assert_eq!(g.name(), node);
            let names: Vec<&str> = g.saved_tensors().iter().map(|s| s.name).collect();
            assert_eq!(names, [saved], "{node}");
            let s = y.sum().unwrap();
            drop((y, g));
            let kept = if saved == "result" { 1536 } else { 0 };
            assert_eq!(rt.memory_allocated(), 1536 + kept + 512, "{node}: kept");
            rt.allocator_mut().reset_peak_memory_stats();
            s.backward(None, false).unwrap();
            // x, what the node kept, the loss, the seed gradient, the temporaries and x.grad.
            let peak = 1536 + kept + 512 + 512 + 1536 * temporaries + 1536;
            assert_eq!(rt.allocator().max_memory_allocated(), peak, "{node}: peak");
            assert_eq!(rt.memory_allocated(), 1536 + 512 + 1536, "{node}: after");
        }
    }
}

/// transpose, permute, squeeze and contiguous-when-contiguous are views: no allocation, nodes
/// that save nothing; contiguous of a permuted tensor copies (CloneBackward0).
#[test]
fn shape_ops_are_views_that_save_nothing() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = leaf(&rt, &[2, 1, 3, 4]); // 96 bytes, 512 rounded
        let t = x.transpose(0, 2).unwrap();
        let p = x.permute(&[3, 2, 1, 0]).unwrap();
        let q = x.squeeze(None).unwrap();
        let q1 = x.squeeze(Some(1)).unwrap();
        let c = x.contiguous().unwrap();
        assert!(c.is_same(&x));
        assert_eq!(rt.memory_allocated(), 512);
        assert_eq!(t.shape(), &[3, 1, 2, 4]);
        assert_eq!(p.shape(), &[4, 3, 1, 2]);
        assert_eq!(q.shape(), &[2, 3, 4]);
        for (v, node) in [
            (&t, "TransposeBackward0"),
            (&p, "PermuteBackward0"),
            (&q, "SqueezeBackward0"),
            (&q1, "SqueezeBackward1"),
        ] {
            assert!(v.shares_storage(&x));
            let g = v.grad_fn().unwrap();
            assert_eq!(g.name(), node);
            assert!(g.saved_tensors().is_empty());
        }
        let copied = p.contiguous().unwrap();
        assert_eq!(copied.grad_fn().unwrap().name(), "CloneBackward0");
        assert_eq!(rt.memory_allocated(), 1024);
        let loss = copied.sum().unwrap().add(&q.sum().unwrap()).unwrap();
        loss.backward(None, false).unwrap();
        assert_eq!(x.grad().unwrap().shape(), x.shape());
    }
}

/// cat and stack allocate their output only and keep no tensor; narrow and select are views
/// whose backward allocates a zero gradient of the input's size (slice_backward,
/// select_backward) besides what AccumulateGrad keeps.
#[test]
fn joins_allocate_their_output_and_slices_allocate_in_backward() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        // 32×10 f32: 1,280 bytes, 1,536 rounded.
        let a = leaf(&rt, &[32, 10]);
        let b = rt.randn(&[32, 10], Device::Cuda).unwrap();
        let c = Tensor::cat(&[a.clone(), b.clone()], 0).unwrap(); // 2,560 B → 2,560
        let s = Tensor::stack(&[a.clone(), b.clone()], 2).unwrap();
        assert_eq!(rt.memory_allocated(), 1536 * 2 + 2560 * 2);
        assert_eq!(s.shape(), &[32, 10, 2]);
        for (t, node) in [(&c, "CatBackward0"), (&s, "StackBackward0")] {
            let g = t.grad_fn().unwrap();
            assert_eq!(g.name(), node);
            assert!(g.saved_tensors().is_empty());
        }
        drop((c, s));
        let n = a.narrow(0, 4, 8).unwrap();
        let row = a.select_dim(1, 3).unwrap();
        assert!(n.shares_storage(&a) && row.shares_storage(&a));
        assert_eq!(n.grad_fn().unwrap().name(), "SliceBackward0");
        assert_eq!(row.grad_fn().unwrap().name(), "SelectBackward0");
        assert_eq!(rt.memory_allocated(), 1536 * 2);
        let loss = n.sum().unwrap(); // 512
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // a, b, the loss, the seed, and the zero gradient of a's size that becomes a.grad.
        assert_eq!(
            rt.allocator().max_memory_allocated(),
            1536 * 2 + 512 + 512 + 1536
        );
        assert_eq!(rt.memory_allocated(), 1536 * 2 + 512 + 1536);
        let grad = a.grad().unwrap();
        if backend == Backend::Cpu {
            let v = grad.to_vec_f32();
            assert_eq!(v.iter().sum::<f32>(), 80.0, "8 rows of 10 ones");
            assert_eq!(v[4 * 10], 1.0);
            assert_eq!(v[3 * 10], 0.0);
        }
    }
}

/// Measured on PyTorch 2.11, CUDA (docs/fidelity.md): `F.dropout` of a 32×10 input keeps
/// 2,048 bytes in 2 allocations (the output and the bool mask NativeDropoutBackward0 saves);
/// `F.layer_norm(a, (10,))` keeps 2,560 in 3 (the output, and the 32×1 mean and rstd saved
/// with the input).
#[test]
fn dropout_and_layer_norm_allocate_and_save_what_pytorch_does_on_cuda() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let a = leaf(&rt, &[32, 10]);
        let count = |rt: &Runtime| rt.allocator().stats().allocation.all.allocated;
        let (base, n0) = (rt.memory_allocated(), count(&rt));
        let d = a.dropout(0.5, true).unwrap();
        assert_eq!((rt.memory_allocated() - base, count(&rt) - n0), (2048, 2));
        let node = d.grad_fn().unwrap();
        assert_eq!(node.name(), "NativeDropoutBackward0");
        let saved = node.saved_tensors();
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].name, "result1");
        assert_eq!(saved[0].tensor.as_ref().unwrap().dtype(), DType::Bool);
        drop(node);
        d.sum().unwrap().backward(None, false).unwrap();
        if backend == Backend::Cpu {
            // The gradient is the mask scaled by 1 / (1 - p): 2 where kept, 0 elsewhere, and
            // kept exactly where the output is not zero.
            let (g, y) = (a.grad().unwrap().to_vec_f32(), d.to_vec_f32());
            assert!(g.iter().all(|&v| v == 0.0 || v == 2.0));
            assert!(g.iter().zip(&y).all(|(&g, &y)| (g != 0.0) == (y != 0.0)));
            assert!(g.contains(&0.0) && g.contains(&2.0));
        }
        drop(d);
        a.set_grad(None);
        assert!(a.dropout(0.5, false).unwrap().is_same(&a));

        let (base, n0) = (rt.memory_allocated(), count(&rt));
        let y = a.layer_norm(&[10], None, None, 1e-5).unwrap();
        assert_eq!((rt.memory_allocated() - base, count(&rt) - n0), (2560, 3));
        let node = y.grad_fn().unwrap();
        assert_eq!(node.name(), "NativeLayerNormBackward0");
        let names: Vec<&str> = node.saved_tensors().iter().map(|s| s.name).collect();
        assert_eq!(names, ["input", "result1", "result2"]);
        let shapes: Vec<Vec<usize>> = node.saved_tensors()[1..]
            .iter()
            .map(|s| s.tensor.as_ref().unwrap().shape().to_vec())
            .collect();
        assert_eq!(shapes, [vec![32, 1], vec![32, 1]]);
    }
}

/// Host tensors take PyTorch's unfused CPU dropout: a float noise tensor, and MulBackward0
/// saving it.
#[test]
fn host_dropout_saves_a_float_noise_tensor() {
    let rt = rt(Backend::Cpu);
    let a = rt
        .randn(&[4, 5], Device::Cpu)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let d = a.dropout(0.25, true).unwrap();
    let node = d.grad_fn().unwrap();
    assert_eq!(node.name(), "MulBackward0");
    let saved = node.saved_tensors();
    assert_eq!(saved[0].name, "other");
    assert_eq!(saved[0].tensor.as_ref().unwrap().dtype(), DType::F32);
    assert_eq!(rt.memory_allocated(), 0);
}

/// `F.l1_loss` is PyTorch's composite `(a - b).abs().mean()`: on 2.11 CUDA (docs/fidelity.md)
/// three allocations, a 3,584-byte peak and 2,048 bytes kept (AbsBackward0's saved difference
/// and the 0-dim loss) for 32×10.
#[test]
fn l1_loss_is_sub_abs_mean() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let a = leaf(&rt, &[32, 10]);
        let b = rt.randn(&[32, 10], Device::Cuda).unwrap();
        let base = rt.memory_allocated();
        let allocations = rt.allocator().stats().allocation.all.allocated;
        rt.allocator_mut().reset_peak_memory_stats();
        let loss = a.l1_loss(&b, Reduction::Mean).unwrap();
        assert_eq!(rt.memory_allocated() - base, 2048);
        assert_eq!(rt.allocator().max_memory_allocated() - base, 3584);
        assert_eq!(
            rt.allocator().stats().allocation.all.allocated - allocations,
            3
        );
        let mean = loss.grad_fn().unwrap();
        assert_eq!(mean.name(), "MeanBackward0");
        let abs = mean.next_functions()[0].clone().unwrap();
        assert_eq!(abs.name(), "AbsBackward0");
        assert_eq!(
            abs.next_functions()[0].as_ref().unwrap().name(),
            "SubBackward0"
        );
    }
}

/// The node chains of PyTorch 2.15's `matmul` (docs/autograd.md), and bmm's one output.
#[test]
fn matmul_decomposes_as_aten_does() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let leaf = |shape: &[usize]| {
            rt.randn(shape, Device::Cuda)
                .unwrap()
                .requires_grad_(true)
                .unwrap()
        };
        let chain = |t: &Tensor| {
            let mut names = Vec::new();
            let mut node = t.grad_fn();
            while let Some(n) = node {
                names.push(n.name().to_string());
                node = n
                    .next_functions()
                    .into_iter()
                    .flatten()
                    .find(|f| f.name() != "AccumulateGrad");
            }
            names
        };
        let (a, w) = (leaf(&[4, 5, 6]), leaf(&[6, 7]));
        let base = rt.memory_allocated();
        let y = a.matmul(&w).unwrap();
        assert_eq!(y.shape(), &[4, 5, 7]);
        assert_eq!(
            chain(&y),
            ["UnsafeViewBackward0", "MmBackward0", "ViewBackward0"]
        );
        // One output: 4×5×7 f32 = 560 bytes, 1,024 rounded.
        assert_eq!(rt.memory_allocated() - base, 1024);
        drop(y);
        let b = leaf(&[4, 6, 7]);
        let base = rt.memory_allocated();
        let z = a.matmul(&b).unwrap();
        assert_eq!(
            chain(&z),
            [
                "UnsafeViewBackward0",
                "BmmBackward0",
                "ViewBackward0",
                "ExpandBackward0"
            ]
        );
        assert_eq!(rt.memory_allocated() - base, 1024);
        let bmm = a.bmm(&b).unwrap();
        let node = bmm.grad_fn().unwrap();
        let names: Vec<&str> = node.saved_tensors().iter().map(|s| s.name).collect();
        assert_eq!(names, ["self", "mat2"]);
        drop(node);
        let loss = bmm.sum().unwrap().add(&z.sum().unwrap()).unwrap();
        loss.backward(None, false).unwrap();
        assert_eq!(a.grad().unwrap().shape(), a.shape());
        assert_eq!(b.grad().unwrap().shape(), b.shape());
    }
}

/// Measured on PyTorch 2.11, CUDA (docs/fidelity.md): `a.max(1)` of 32×10 allocates the values
/// and the int64 indices (2 allocations, 1,024 bytes) and MaxBackward0 saves the indices.
#[test]
fn max_dim_keeps_values_and_indices() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let a = leaf(&rt, &[32, 10]);
        let base = rt.memory_allocated();
        let (values, indices) = a.max_dim(1, false, false).unwrap();
        assert_eq!(rt.memory_allocated() - base, 1024);
        assert_eq!((values.shape(), indices.dtype()), (&[32][..], DType::I64));
        let node = values.grad_fn().unwrap();
        assert_eq!(node.name(), "MaxBackward0");
        let saved = node.saved_tensors();
        assert_eq!(saved[0].name, "indices");
        assert!(
            saved[0].tensor.as_ref().unwrap().is_same(&indices)
                || saved[0].tensor.as_ref().unwrap().shares_storage(&indices)
        );
        drop((node, indices));
        // The indices stay with the graph.
        assert_eq!(rt.memory_allocated() - base, 1024);
        values.sum().unwrap().backward(None, false).unwrap();
        if backend == Backend::Cpu {
            let g = a.grad().unwrap().to_vec_f32();
            assert_eq!(g.iter().sum::<f32>(), 32.0, "one 1 per row");
        }
    }
}

/// `clip_grad_norm_` over the four gradients of Linear(64, 256), Linear(256, 10): PyTorch 2.11
/// on CUDA (docs/fidelity.md, from `torch.cuda.memory._record_memory_history`) makes 11
/// allocations in this order of sizes, peaks 3,072 bytes above the gradients and keeps only
/// the 0-dim total norm; `clip_grad_value_` allocates nothing.
#[test]
fn clip_grad_norm_allocates_what_pytorch_does() {
    use leakharness::alloc::EventKind;
    use leakharness::nn::{clip_grad_norm_, clip_grad_value_};
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let model = mlp(&rt, &[64, 256, 10]);
        let x = rt.randn(&[32, 64], Device::Cuda).unwrap();
        model
            .forward(&x)
            .unwrap()
            .sum()
            .unwrap()
            .backward(None, false)
            .unwrap();
        drop(x);
        let params = model.parameters();
        let base = rt.memory_allocated();
        let events_before = rt.allocator().history().trace().len();
        rt.allocator_mut().reset_peak_memory_stats();
        let total = clip_grad_norm_(&params, 1.0).unwrap();
        assert_eq!(total.shape(), &[] as &[usize]);
        assert_eq!(rt.memory_allocated() - base, 512);
        assert_eq!(rt.allocator().max_memory_allocated() - base, 3072);
        let trace = rt.allocator().history().trace();
        let mut requested_at = std::collections::HashMap::new();
        let sizes: Vec<String> = trace[events_before..]
            .iter()
            .filter_map(|e| match e {
                EventKind::Alloc {
                    place, requested, ..
                } => {
                    requested_at.insert(*place, *requested);
                    Some(format!("+{requested}"))
                }
                EventKind::Free { place, .. } => Some(format!("-{}", requested_at[place])),
                _ => None,
            })
            .collect();
        // PyTorch's trace, requested bytes of each allocation and of what each free gives
        // back: the 16-byte scratch, four 4-byte norms, the scratch freed, the 16-byte stack,
        // the total, the stack freed before the norms (2.15's CPU profiler shows `-16 -4 -4 -4
        // -4` after `linalg_vector_norm`; docs/fidelity.md), ...
        let expected = [
            "+16", "+4", "+4", "+4", "+4", "-16", "+16", "+4", "-16", "-4", "-4", "-4", "-4", "+4",
            "+4", "+4", "-4", "-4", "+4", "-4", "-4",
        ];
        assert_eq!(sizes, expected);
        if backend == Backend::Cpu {
            let norm: f64 = params
                .iter()
                .flat_map(|p| p.grad().unwrap().to_vec_f32())
                .map(|v| (v as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(norm <= 1.0 + 1e-4, "clipped to max_norm: {norm}");
        }
        let before = rt.allocator().stats().allocation.all.allocated;
        clip_grad_value_(&params, 0.01).unwrap();
        assert_eq!(rt.allocator().stats().allocation.all.allocated, before);
        if backend == Backend::Cpu {
            assert!(params
                .iter()
                .flat_map(|p| p.grad().unwrap().to_vec_f32())
                .all(|v| v.abs() <= 0.01));
        }
    }
}

/// clamp, clamp_min, maximum and where: one output each, the nodes save what
/// derivatives.yaml reads, and backward allocates FunctionsManual.cpp's masks, its 0-dim zero
/// on the device, `grad / 2` and the `where` outputs.
#[test]
fn choices_save_what_derivatives_yaml_reads_and_backward_allocates_its_masks() {
    // 32×10: f32 1,280 bytes (1,536 rounded), a bool mask 320 (512), a 0-dim value 512.
    let (f, b, s) = (1536, 512, 512);
    type Choice = fn(&Tensor, &Tensor, &Tensor) -> leakharness::tensor::Result<Tensor>;
    // (op, node, saved, backward peak beyond x, y, the condition, the sum and the seed)
    let cases: [(Choice, &str, &[&str], u64); 4] = [
        // zero, self >= min, self <= max, the where output.
        (
            |x, _, _| x.clamp(Some(-0.5), Some(0.5)),
            "ClampBackward1",
            &["self"],
            s + 2 * b + f,
        ),
        // zero, self > min, the where output.
        (
            |x, _, _| x.clamp_min(0.1),
            "ClampMinBackward0",
            &["self"],
            s + b + f,
        ),
        // self's gradient, then other's: eq, grad / 2, where, the losing mask.
        (
            |x, y, _| x.maximum(y),
            "MaximumBackward0",
            &["self", "other"],
            f + (2 * b + 2 * f),
        ),
        // the condition is the caller's; one where output per input (the 0 is a host number).
        (
            |x, y, c| Tensor::r#where(c, x, y),
            "WhereBackward0",
            &["condition"],
            2 * f,
        ),
    ];
    for backend in [Backend::Cpu, Backend::Meta] {
        for (op, node, saved, peak) in cases {
            let rt = rt(backend);
            let x = leaf(&rt, &[32, 10]);
            let y = leaf(&rt, &[32, 10]);
            let c = x.detach().gt_scalar(0.0).unwrap();
            let base = 2 * f + b;
            assert_eq!(rt.memory_allocated(), base, "{node}: inputs");
            let out = op(&x, &y, &c).unwrap();
            assert_eq!(rt.memory_allocated(), base + f, "{node}: one output");
            let g = out.grad_fn().unwrap();
            assert_eq!(g.name(), node);
            let names: Vec<&str> = g.saved_tensors().iter().map(|t| t.name).collect();
            assert_eq!(names, saved, "{node}");
            let loss = out.sum().unwrap();
            drop((out, g));
            // What the nodes save is the caller's: nothing beyond the sum stays.
            assert_eq!(rt.memory_allocated(), base + s, "{node}: kept");
            rt.allocator_mut().reset_peak_memory_stats();
            loss.backward(None, false).unwrap();
            let grads = if node == "ClampBackward1" || node == "ClampMinBackward0" {
                1
            } else {
                2
            };
            assert_eq!(
                rt.allocator().max_memory_allocated(),
                base + s + s + peak,
                "{node}: peak"
            );
            assert_eq!(rt.memory_allocated(), base + s + grads * f, "{node}: after");
        }
    }
}

/// Basic indexing is views, as `THPVariable_getitem` makes them: the nodes PyTorch 2.15 records
/// for each form (checked with `grad_fn` chains), no allocation; a strided slice's backward
/// allocates one zero tensor of the input's sizes.
#[test]
fn basic_indexing_is_views_with_pytorchs_nodes() {
    use TensorIndex::{Ellipsis, Int, None as New, Slice};
    let all = Slice(None, None, 1);
    /// The index, whether it is a tuple, the shape, the nodes from the output back.
    type Case<'a> = (&'a [TensorIndex], bool, &'a [usize], &'a [&'a str]);
    let cases: [Case; 9] = [
        (&[all], false, &[4, 5, 6], &["SliceBackward0"]),
        (&[all, Int(0)], true, &[4, 6], &["SelectBackward0"]),
        (&[Ellipsis, Int(-1)], true, &[4, 5], &["SelectBackward0"]),
        (&[New], false, &[1, 4, 5, 6], &["UnsqueezeBackward0"]),
        (
            &[Slice(None, None, 2)],
            false,
            &[2, 5, 6],
            &["SliceBackward0"],
        ),
        (&[Ellipsis], false, &[4, 5, 6], &["AliasBackward0"]),
        (&[all, all, all], true, &[4, 5, 6], &["AliasBackward0"]),
        (
            &[Int(0), Int(1)],
            true,
            &[6],
            &["SelectBackward0", "SelectBackward0"],
        ),
        (
            &[Slice(Some(1), None, 1), New, Int(2)],
            true,
            &[3, 1, 6],
            &["SelectBackward0", "UnsqueezeBackward0", "SliceBackward0"],
        ),
    ];
    for backend in [Backend::Cpu, Backend::Meta] {
        for (index, tuple, shape, nodes) in cases {
            let rt = rt(backend);
            // 4×5×6 f32: 480 bytes, 512 rounded.
            let x = leaf(&rt, &[4, 5, 6]);
            let y = x.index(index, tuple).unwrap();
            assert_eq!(y.shape(), shape, "{index:?}");
            assert!(y.shares_storage(&x), "{index:?}: a view");
            assert_eq!(rt.memory_allocated(), 512, "{index:?}: nothing allocated");
            let mut chain = Vec::new();
            let mut node = y.grad_fn();
            while let Some(n) = node.filter(|n| n.name() != "AccumulateGrad") {
                chain.push(n.name().to_string());
                node = n.next_functions().into_iter().flatten().next();
            }
            assert_eq!(chain, nodes, "{index:?}");
        }
        let rt = rt(backend);
        let x = leaf(&rt, &[4, 5, 6]);
        let loss = x
            .index(&[all, Slice(Some(1), Some(-1), 2)], true)
            .unwrap()
            .sum()
            .unwrap();
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // x, the loss, the seed, then the zeros of x's sizes that become x.grad.
        assert_eq!(rt.allocator().max_memory_allocated(), 512 * 4);
        assert_eq!(rt.memory_allocated(), 512 * 3);
    }
}

/// `_single_tensor_rmsprop` and `_single_tensor_adagrad` per parameter: RMSprop's `avg =
/// square_avg.sqrt()` is one parameter-sized temporary, and so is Adagrad's
/// `state_sum.sqrt().add_(eps)` (PyTorch 2.15; `+ eps`, a second one, only when
/// differentiable). Adagrad's `sum` exists from its constructor.
#[test]
fn rmsprop_and_adagrad_state_and_step_temporaries() {
    use leakharness::optim::{Adagrad, AdagradOptions, Rmsprop, RmspropOptions};
    let rt = rt(Backend::Cpu);
    let w = leaf(&rt, &[1024]); // 4096 B
    let grad = || {
        w.mul_scalar(2.0)
            .unwrap()
            .sum()
            .unwrap()
            .backward(None, false)
            .unwrap();
    };
    let base = rt.memory_allocated();
    let mut rms = Rmsprop::new(
        vec![w.clone()],
        RmspropOptions {
            foreach: Some(false),
            ..RmspropOptions::default()
        },
    )
    .unwrap();
    assert_eq!(rt.memory_allocated(), base);
    grad();
    rt.allocator_mut().reset_peak_memory_stats();
    let before = rt.memory_allocated();
    rms.step().unwrap();
    assert_eq!(rt.memory_allocated() - before, 4096, "square_avg");
    assert_eq!(rt.allocator().max_memory_allocated() - before, 2 * 4096);
    w.set_grad(None);
    drop(rms);
    let base = rt.memory_allocated();
    let mut ada = Adagrad::new(
        vec![w.clone()],
        AdagradOptions {
            foreach: Some(false),
            ..AdagradOptions::default()
        },
    )
    .unwrap();
    assert_eq!(rt.memory_allocated() - base, 4096, "sum, before any step");
    grad();
    rt.allocator_mut().reset_peak_memory_stats();
    let before = rt.memory_allocated();
    ada.step().unwrap();
    assert_eq!(rt.memory_allocated(), before);
    assert_eq!(rt.allocator().max_memory_allocated() - before, 4096);
    assert_eq!(ada.state_tensors().len(), 1);
}

/// smooth_l1_loss allocates as mse_loss does (docs/fidelity.md, measured on 2.11 cuda: kept
/// 1,536, peak 3,072, two allocations): the result's storage of the input's size first, then
/// the element-wise loss, freed. SmoothL1LossBackward0 saves `self` and `target`; its backward
/// allocates one tensor of the input's shape per input that needs grad.
#[test]
fn smooth_l1_loss_keeps_a_result_of_the_inputs_size() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let a = leaf(&rt, &[32, 10]);
        let b = rt.randn(&[32, 10], Device::Cuda).unwrap();
        rt.allocator_mut().reset_peak_memory_stats();
        let allocations = rt.allocator().stats().allocation.all.allocated;
        let loss = a.smooth_l1_loss(&b, Reduction::Mean, 1.0).unwrap();
        assert_eq!(loss.shape(), &[] as &[usize]);
        assert_eq!(loss.storage_nbytes(), 1280);
        assert_eq!(
            rt.allocator().stats().allocation.all.allocated - allocations,
            2
        );
        assert_eq!(rt.memory_allocated(), 2 * 1536 + 1536);
        assert_eq!(rt.allocator().max_memory_allocated(), 2 * 1536 + 3072);
        let g = loss.grad_fn().unwrap();
        assert_eq!(g.name(), "SmoothL1LossBackward0");
        let saved: Vec<&str> = g.saved_tensors().iter().map(|t| t.name).collect();
        assert_eq!(saved, ["self", "target"]);
        drop(g);
        rt.allocator_mut().reset_peak_memory_stats();
        loss.backward(None, false).unwrap();
        // a, b, the loss, the seed, and a's gradient.
        assert_eq!(rt.allocator().max_memory_allocated(), 3 * 1536 + 512 + 1536);
        assert_eq!(rt.memory_allocated(), 3 * 1536 + 1536);
        if backend == Backend::Cpu {
            let (x, y) = (a.to_vec_f32(), b.to_vec_f32());
            let expected: f64 = x
                .iter()
                .zip(&y)
                .map(|(p, q)| {
                    let d = (p - q).abs() as f64;
                    if d < 1.0 {
                        0.5 * d * d
                    } else {
                        d - 0.5
                    }
                })
                .sum::<f64>()
                / 320.0;
            assert!((loss.item().unwrap() - expected).abs() < 1e-5);
        }
    }
}

/// Modules without parameters allocate what their functions do: Identity returns its input
/// (no allocation, no node), Dropout in training the output and its bool mask, in eval the
/// input itself, GELU one output.
#[test]
fn stateless_modules_allocate_what_their_functions_do() {
    use leakharness::nn::{LayerFn, Stateless};
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        // 32×10 f32: 1,536 rounded; its bool mask 512.
        let x = leaf(&rt, &[32, 10]);
        let identity = Stateless::new(LayerFn::Identity);
        assert!(identity.forward(&x).unwrap().is_same(&x));
        let dropout = Stateless::new(LayerFn::Dropout { p: 0.5 });
        let y = dropout.forward(&x).unwrap();
        assert_eq!(y.grad_fn().unwrap().name(), "NativeDropoutBackward0");
        assert_eq!(rt.memory_allocated(), 1536 + 1536 + 512);
        drop(y);
        dropout.eval();
        assert!(dropout.forward(&x).unwrap().is_same(&x));
        let gelu = Stateless::new(LayerFn::Gelu).forward(&x).unwrap();
        assert_eq!(gelu.grad_fn().unwrap().name(), "GeluBackward0");
        assert_eq!(rt.memory_allocated(), 1536 + 1536);
    }
}

/// argmin, like argmax: one int64 output of the reduced shape, no node, the first minimum.
#[test]
fn argmin_allocates_its_int64_indices_only() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let x = rt
            .tensor(&[3.0, -1.0, -1.0, 2.0, 0.5, 7.0], &[2, 3], Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        let i = x.argmin(1, false).unwrap();
        assert_eq!((i.shape(), i.dtype()), (&[2][..], DType::I64));
        assert!(i.grad_fn().is_none());
        assert_eq!(rt.memory_allocated(), 512 + 512);
        if backend == Backend::Cpu {
            assert_eq!(i.to_vec_i64(), [1, 1]);
            assert_eq!(x.argmin(0, true).unwrap().to_vec_i64(), [1, 0, 0]);
        }
    }
}
