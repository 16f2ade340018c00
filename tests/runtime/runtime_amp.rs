//! Mixed precision in exact bytes: float16/bfloat16 storage and rounding, type promotion,
//! `torch.autocast`'s casts and weight-cast cache (freed when the outermost region exits), and
//! `GradScaler`'s tensors, skipped steps and scale updates. The facts and their PyTorch source
//! files are in docs/fidelity.md, "Mixed precision".

use leakharness::alloc::Purpose;
use leakharness::device::Backend;
use leakharness::nn::{Linear, Module};
use leakharness::optim::{GradScaler, GradScalerOptions, Optimizer, Sgd, SgdOptions};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, Reduction, Tensor};

fn rt(backend: Backend) -> Runtime {
    Runtime::new(backend, RuntimeOptions::default()).unwrap()
}

fn name(t: &Tensor) -> String {
    t.grad_fn().map_or("None".into(), |n| n.name().to_string())
}

fn next_names(t: &Tensor) -> Vec<String> {
    t.grad_fn()
        .unwrap()
        .next_functions()
        .iter()
        .map(|n| n.as_ref().map_or("None".into(), |n| n.name().to_string()))
        .collect()
}

#[test]
fn half_types_take_two_bytes_and_round_like_pytorch() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let h = rt.zeros(&[600], DType::F16, Device::Cuda).unwrap(); // 1200 B -> 1536
        assert_eq!(rt.memory_allocated(), 1536);
        let b = h.to_dtype(DType::BF16).unwrap();
        assert_eq!(b.dtype(), DType::BF16);
        assert_eq!(rt.memory_allocated(), 2 * 1536);
        let f = b.float().unwrap(); // 2400 B -> 2560
        assert_eq!(rt.memory_allocated(), 2 * 1536 + 2560);
        drop((h, b, f));
    }
    // torch 2.15.0: torch.tensor(1/3, dtype=...).item().
    let rt = rt(Backend::Cpu);
    let third = (1.0f64 / 3.0) as f32;
    let h = rt
        .tensor_of(&[third], &[], DType::F16, Device::Cpu)
        .unwrap();
    assert_eq!(h.item().unwrap(), 0.333251953125);
    let b = rt
        .tensor_of(&[third], &[], DType::BF16, Device::Cpu)
        .unwrap();
    assert_eq!(b.item().unwrap(), 0.333984375);
    // Each operation rounds its result once: 1.0001 is 1.0 in float16, times 3 is 3.0.
    let x = rt
        .tensor_of(&[1.0001, 2.0], &[2], DType::F16, Device::Cuda)
        .unwrap();
    assert_eq!(x.mul_scalar(3.0).unwrap().to_vec_f32(), vec![3.0, 6.0]);
    // 70000 overflows float16 (max 65504) and is 70144 in bfloat16.
    let big = rt.tensor(&[70000.0], &[1], Device::Cuda).unwrap();
    assert!(big.to_dtype(DType::F16).unwrap().to_vec_f32()[0].is_infinite());
    assert_eq!(
        big.to_dtype(DType::BF16).unwrap().to_vec_f32(),
        vec![70144.0]
    );
}

#[test]
fn promotion_follows_torch_result_type() {
    let rt = rt(Backend::Meta);
    let h = rt.zeros(&[4], DType::F16, Device::Cuda).unwrap();
    let f = rt.zeros(&[4], DType::F32, Device::Cuda).unwrap();
    let b = rt.zeros(&[4], DType::BF16, Device::Cuda).unwrap();
    let f0 = rt.zeros(&[], DType::F32, Device::Cuda).unwrap();
    assert_eq!(h.add(&f).unwrap().dtype(), DType::F32);
    assert_eq!(h.add(&b).unwrap().dtype(), DType::F32);
    // A 0-dim float32 does not widen a float16 tensor; a Python float neither.
    assert_eq!(h.mul(&f0).unwrap().dtype(), DType::F16);
    assert_eq!(h.mul_scalar(0.5).unwrap().dtype(), DType::F16);
    assert_eq!(h.exp().unwrap().dtype(), DType::F16);
    assert_eq!(h.sum().unwrap().dtype(), DType::F16);
}

/// `nn.Linear(64, 32)` on the device: weight 8 KiB, bias 512 B.
fn linear(rt: &Runtime) -> Linear {
    let l = Linear::new(rt, 64, 32, true).unwrap();
    l.to(Device::Cuda).unwrap();
    l
}

#[test]
fn autocast_casts_linear_operands_and_caches_the_weights_until_the_outermost_exit() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = rt(backend);
        let l = linear(&rt);
        let x = rt.randn(&[16, 64], Device::Cuda).unwrap(); // 4 KiB
        let base = rt.memory_allocated();
        assert_eq!(base, 8192 + 512 + 4096);
        let region = rt.autocast(Device::Cuda, Some(DType::F16), true, None);
        let out = l.forward(&x).unwrap();
        assert_eq!(out.dtype(), DType::F16);
        // x cast (2 KiB), weight cast (4 KiB, cached), bias cast (512, cached), out (1 KiB).
        let inside = base + 2048 + 4096 + 512 + 1024;
        assert_eq!(rt.memory_allocated() - rt.blas_workspace_bytes(), inside);
        assert_eq!(rt.autocast_cached(), 2);
        // AddmmBackward0 over (bias cast, x cast needing no grad, t(weight cast)).
        assert_eq!(name(&out), "AddmmBackward0");
        assert_eq!(next_names(&out), ["ToCopyBackward0", "None", "TBackward0"]);
        // A second forward reuses the cached casts: only x's cast and the output are new.
        let out2 = l.forward(&x).unwrap();
        assert_eq!(
            rt.memory_allocated() - rt.blas_workspace_bytes(),
            inside + 2048 + 1024
        );
        assert_eq!(rt.autocast_cached(), 2);
        {
            // Nested regions do not clear the cache; enabled=False runs in float32.
            let _off = rt.autocast(Device::Cuda, None, false, None);
            assert_eq!(l.forward(&x).unwrap().dtype(), DType::F32);
        }
        assert_eq!(rt.autocast_cached(), 2);
        drop((out, out2));
        // The graphs are gone; the cache still holds both weight casts.
        assert_eq!(
            rt.memory_allocated() - rt.blas_workspace_bytes(),
            base + 4096 + 512
        );
        drop(region);
        assert_eq!(rt.autocast_cached(), 0);
        assert_eq!(rt.memory_allocated() - rt.blas_workspace_bytes(), base);
    }
}

#[test]
fn the_fp32_list_runs_losses_in_float32_and_backward_reaches_float32_gradients() {
    let rt = rt(Backend::Cpu);
    let l = linear(&rt);
    let x = rt.randn(&[16, 64], Device::Cuda).unwrap();
    let y = rt.randn(&[16, 32], Device::Cuda).unwrap();
    let loss = {
        let _region = rt.autocast(Device::Cuda, None, true, None);
        let out = l.forward(&x).unwrap();
        assert_eq!(out.dtype(), DType::F16);
        let loss = out.mse_loss(&y, Reduction::Mean).unwrap();
        assert_eq!(loss.dtype(), DType::F32);
        assert_eq!(next_names(&loss), ["ToCopyBackward0", "None"]);
        // exp is on cuda's fp32 list, relu on none; sum reduces into float32 without a cast
        // (`fp32_set_opt_dtype`): SumBackward0 straight onto the addmm.
        assert_eq!(out.exp().unwrap().dtype(), DType::F32);
        assert_eq!(out.relu().unwrap().dtype(), DType::F16);
        let before = rt.memory_allocated();
        let s = out.sum().unwrap();
        assert_eq!(s.dtype(), DType::F32);
        assert_eq!(rt.memory_allocated() - before, 512);
        assert_eq!(next_names(&s), ["AddmmBackward0"]);
        s.backward(None, true).unwrap();
        for p in l.parameters() {
            p.set_grad(None);
        }
        loss
    };
    loss.backward(None, false).unwrap();
    for p in l.parameters() {
        let g = p.grad().unwrap();
        assert_eq!(g.dtype(), DType::F32);
        assert!(g.to_vec_f32().iter().all(|v| v.is_finite()));
    }
}

/// Measured under PyTorch 2.11 on an H100 (docs/gpu.md): on cuda, `log_softmax`/`softmax` of
/// a float16 tensor under autocast write float32 directly (`half_to_float`: no cast, no
/// ToCopyBackward0, a float16 gradient back), and `cross_entropy` asks for its input's own
/// dtype: a float16 log_softmax that nll_loss casts, 1,024 B more alive for a 32×10 batch than
/// a float32 log_softmax would leave.
#[test]
fn cuda_autocast_softmax_writes_float32_directly_and_cross_entropy_keeps_a_float16_log_softmax() {
    let rt = rt(Backend::Cpu);
    let logits = rt
        .randn(&[32, 10], Device::Cuda)
        .unwrap()
        .to_dtype(DType::F16)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let y = rt.randint(0, 10, &[32], Device::Cuda).unwrap();
    let _region = rt.autocast(Device::Cuda, None, true, None);
    let before = rt.memory_allocated();
    let ls = logits.log_softmax(1).unwrap();
    assert_eq!(ls.dtype(), DType::F32);
    assert_eq!(name(&ls), "LogSoftmaxBackward0");
    assert_eq!(next_names(&ls), ["AccumulateGrad"]);
    assert_eq!(
        rt.memory_allocated() - before,
        1536,
        "one float32 result, no cast copy"
    );
    assert_eq!(logits.softmax(1).unwrap().dtype(), DType::F32);
    ls.sum().unwrap().backward(None, false).unwrap();
    assert_eq!(logits.grad().unwrap().dtype(), DType::F16);
    drop(ls);
    logits.set_grad(None);

    let before = rt.memory_allocated();
    let loss = logits.cross_entropy(&y, Reduction::Mean).unwrap();
    assert_eq!(loss.dtype(), DType::F32);
    assert_eq!(name(&loss), "NllLossBackward0");
    assert_eq!(next_names(&loss)[0], "ToCopyBackward0");
    let cast = loss.grad_fn().unwrap().next_functions()[0].clone().unwrap();
    assert_eq!(
        cast.next_functions()[0].as_ref().unwrap().name(),
        "LogSoftmaxBackward0"
    );
    // float16 log_softmax (640 -> 1024), its float32 cast (1280 -> 1536), the loss and
    // total_weight (512 each).
    assert_eq!(rt.memory_allocated() - before, 1024 + 1536 + 512 + 512);
    // An explicit dtype is the caller's: a bfloat16 request converts first.
    let explicit = logits.log_softmax_dtype(1, Some(DType::BF16)).unwrap();
    assert_eq!(explicit.dtype(), DType::BF16);
    assert_eq!(next_names(&explicit), ["ToCopyBackward0"]);
}

#[test]
fn binary_cross_entropy_is_refused_under_cuda_autocast_and_float32_on_the_cpu() {
    let rt = rt(Backend::Meta);
    let p = rt.zeros(&[4], DType::F16, Device::Cuda).unwrap();
    let t = rt.zeros(&[4], DType::F32, Device::Cuda).unwrap();
    let region = rt.autocast(Device::Cuda, None, true, None);
    let e = p
        .binary_cross_entropy(&t, None, Reduction::Mean)
        .unwrap_err();
    assert!(e.to_string().contains("are unsafe to autocast"), "{e}");
    let l = p.binary_cross_entropy_with_logits(&t, None, None, Reduction::Mean);
    assert_eq!(l.unwrap().dtype(), DType::F32);
    assert_eq!(p.logsumexp(&[0], false).unwrap().dtype(), DType::F32);
    drop(region);
    let hp = rt.zeros(&[4], DType::BF16, Device::Cpu).unwrap();
    let ht = rt.zeros(&[4], DType::F32, Device::Cpu).unwrap();
    let _cpu = rt.autocast(Device::Cpu, None, true, None);
    let l = hp.binary_cross_entropy(&ht, None, Reduction::Mean).unwrap();
    assert_eq!(l.dtype(), DType::F32);
}

#[test]
fn autocast_on_the_cpu_follows_the_cpu_lists() {
    let rt = rt(Backend::Cpu);
    let w = rt
        .randn(&[4, 3], Device::Cpu)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let x = rt.randn(&[2, 4], Device::Cpu).unwrap();
    let _region = rt.autocast(Device::Cpu, Some(DType::BF16), true, None);
    let out = x.mm(&w).unwrap();
    assert_eq!(out.dtype(), DType::BF16);
    // Checked on torch 2.15.0 CPU: softmax stays bfloat16, cat promotes to float32 through
    // a cast of the bfloat16 operand.
    assert_eq!(out.softmax(-1).unwrap().dtype(), DType::BF16);
    let f = rt.randn(&[2, 3], Device::Cpu).unwrap();
    let c = Tensor::cat(&[out.clone(), f], 0).unwrap();
    assert_eq!(c.dtype(), DType::F32);
    assert_eq!(next_names(&c), ["ToCopyBackward0", "None"]);
    // Device tensors are not cast by a cpu region.
    let d = rt.randn(&[2, 4], Device::Cuda).unwrap();
    let dw = rt.randn(&[4, 3], Device::Cuda).unwrap();
    assert_eq!(d.mm(&dw).unwrap().dtype(), DType::F32);
}

#[test]
fn module_half_converts_parameters_in_place() {
    let rt = rt(Backend::Meta);
    let l = linear(&rt);
    let weight = l.parameters()[0].clone();
    for p in l.parameters() {
        p.convert_data(DType::F16, Purpose::Parameter).unwrap();
    }
    assert_eq!(weight.dtype(), DType::F16);
    assert!(weight.is_same(&l.parameters()[0]));
    // 4 KiB of weight and 512 of bias.
    assert_eq!(rt.memory_allocated(), 4096 + 512);
}

/// A one-parameter model whose gradient is `g` after backward: loss = (p * g).sum().
fn param_with_grad(rt: &Runtime, values: &[f32]) -> (Tensor, Tensor) {
    let p = rt
        .zeros(&[values.len()], DType::F32, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let g = rt.tensor(values, &[values.len()], Device::Cuda).unwrap();
    (p, g)
}

#[test]
fn grad_scaler_allocates_as_grad_scaler_py() {
    let rt = rt(Backend::Meta);
    let (p, g) = param_with_grad(&rt, &[1.0; 4]);
    let mut opt = Sgd::new(vec![p.clone()], SgdOptions::default()).unwrap();
    let mut scaler = GradScaler::new(GradScalerOptions::default()).unwrap();
    let loss = p.mul(&g).unwrap().sum().unwrap();
    let base = rt.memory_allocated();
    let scaled = scaler.scale(&loss).unwrap();
    // _scale, _growth_tracker and the scaled loss: 512 bytes each.
    assert_eq!(rt.memory_allocated() - base, 3 * 512);
    scaled.backward(None, false).unwrap();
    let after_backward = rt.memory_allocated();
    rt.allocator_mut().reset_peak_memory_stats();
    let grads: Vec<Tensor> = opt.params().iter().filter_map(Tensor::grad).collect();
    let ran = scaler.step(1, &grads, || opt.step()).unwrap();
    assert!(ran);
    // unscale_ leaves found_inf's device copy in the optimizer's state until update().
    assert_eq!(rt.memory_allocated() - after_backward, 512);
    // Its peak: double and reciprocal, then found_inf, its copy and inv_scale's copy with
    // inv_scale itself.
    let peak = rt.allocator().stats().allocated_bytes.all.peak as u64;
    assert_eq!(peak - after_backward, 4 * 512);
    scaler.update().unwrap();
    assert_eq!(rt.memory_allocated(), after_backward);
    assert_eq!(scaler.named_tensors().len(), 2);
}

#[test]
fn grad_scaler_skips_the_step_on_inf_and_grows_after_the_interval() {
    let rt = rt(Backend::Cpu);
    let options = GradScalerOptions {
        init_scale: 1024.0,
        growth_interval: 2,
        ..GradScalerOptions::default()
    };
    let mut scaler = GradScaler::new(options).unwrap();
    let (p, g) = param_with_grad(&rt, &[1.0, 2.0]);
    let mut opt = Sgd::new(
        vec![p.clone()],
        SgdOptions {
            lr: 1.0,
            ..SgdOptions::default()
        },
    )
    .unwrap();
    let mut step = |g: &Tensor| {
        opt.zero_grad(true).unwrap();
        let loss = p.mul(g).unwrap().sum().unwrap();
        scaler.scale(&loss).unwrap().backward(None, false).unwrap();
        // The gradient is the scaled one until unscale_.
        let grads = vec![p.grad().unwrap()];
        let ran = scaler.step(1, &grads, || opt.step()).unwrap();
        scaler.update().unwrap();
        (ran, scaler.get_scale().unwrap(), p.to_vec_f32())
    };
    // A clean step: the gradient is unscaled to g, the step runs.
    assert_eq!(step(&g), (true, 1024.0, vec![-1.0, -2.0]));
    // A second clean step reaches the growth interval: the scale doubles.
    assert_eq!(step(&g), (true, 2048.0, vec![-2.0, -4.0]));
    // An inf in the gradient: no step, the scale backs off.
    let inf = rt
        .tensor(&[f32::INFINITY, 1.0], &[2], Device::Cuda)
        .unwrap();
    assert_eq!(step(&inf), (false, 1024.0, vec![-2.0, -4.0]));
}

#[test]
fn a_disabled_grad_scaler_passes_through() {
    let rt = rt(Backend::Meta);
    let mut scaler = GradScaler::new(GradScalerOptions {
        enabled: false,
        ..GradScalerOptions::default()
    })
    .unwrap();
    let loss = rt.zeros(&[], DType::F32, Device::Cuda).unwrap();
    let before = rt.memory_allocated();
    let scaled = scaler.scale(&loss).unwrap();
    assert!(scaled.is_same(&loss));
    assert_eq!(rt.memory_allocated(), before);
    assert_eq!(scaler.get_scale().unwrap(), 1.0);
    let mut ran = false;
    assert!(scaler
        .step(1, &[], || {
            ran = true;
            Ok(())
        })
        .unwrap());
    assert!(ran);
}
