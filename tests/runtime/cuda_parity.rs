//! The cuda backend against the cpu backend on a real GPU: every operation forward and
//! backward, random numbers, optimizers, a training run, identical allocator traces on cuda,
//! cpu and meta, and the driver cross-check.
//!
//! Without a CUDA device each test says it was skipped and passes; with
//! `LEAKHARNESS_REQUIRE_CUDA=1` a missing device (or driver, NVRTC, cuBLAS) fails instead.

use std::io::Write;

use leakharness::check::{check_scenario, CheckOptions};
use leakharness::device::{cuda_device_count, Backend};
use leakharness::nn::{CrossEntropyLoss, Linear, Module, ReLU, Sequential};
use leakharness::optim::{Adam, AdamOptions, Optimizer, Sgd, SgdOptions};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{
    BatchNormOptions, ConvOptions, ConvPadding, DType, Device, KlDivReduction, PoolOptions,
    Reduction, Result, RoundingMode, Tensor,
};

fn required() -> bool {
    std::env::var("LEAKHARNESS_REQUIRE_CUDA").as_deref() == Ok("1")
}

fn options(seed: u64) -> RuntimeOptions {
    RuntimeOptions {
        seed,
        ..RuntimeOptions::default()
    }
}

/// A cuda runtime, or `None` after saying why there is none (a failure when required).
fn cuda(test: &str, seed: u64) -> Option<Runtime> {
    match Runtime::new(Backend::Cuda, options(seed)) {
        Ok(rt) => Some(rt),
        Err(e) if required() => panic!("{test}: LEAKHARNESS_REQUIRE_CUDA=1 but: {e}"),
        Err(e) => {
            // Straight to stderr: the harness hides eprintln! output of passing tests.
            let _ = writeln!(std::io::stderr(), "{test}: skipped: {e}");
            None
        }
    }
}

fn assert_close(what: &str, gpu: &[f32], cpu: &[f32], rel: f32) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    for (i, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
        // Equal infinities are equal; their difference is NaN.
        let ok = g == c || (g.is_nan() && c.is_nan()) || (g - c).abs() <= rel * c.abs().max(1.0);
        assert!(ok, "{what}[{i}]: cuda {g} vs cpu {c}");
    }
}

/// Runs `program` on a cuda and a cpu runtime with the same seed and compares every tensor it
/// returns (values, shapes, dtypes) within `rel`.
fn parity(test: &str, rel: f32, program: impl Fn(&Runtime) -> Result<Vec<Tensor>>) {
    let Some(gpu_rt) = cuda(test, 7) else { return };
    let cpu_rt = Runtime::new(Backend::Cpu, options(7)).unwrap();
    let on_gpu = program(&gpu_rt).unwrap();
    let on_cpu = program(&cpu_rt).unwrap();
    assert_eq!(on_gpu.len(), on_cpu.len());
    for (i, (g, c)) in on_gpu.iter().zip(&on_cpu).enumerate() {
        assert_eq!(g.shape(), c.shape(), "{test}: output {i} shape");
        assert_eq!(g.dtype(), c.dtype(), "{test}: output {i} dtype");
        if g.dtype() == DType::F32 {
            assert_close(
                &format!("{test}: output {i}"),
                &g.to_vec_f32(),
                &c.to_vec_f32(),
                rel,
            );
        } else {
            assert_eq!(g.to_vec_i64(), c.to_vec_i64(), "{test}: output {i}");
        }
    }
}

fn leaf(rt: &Runtime, shape: &[usize]) -> Result<Tensor> {
    rt.randn(shape, Device::Cuda)?.requires_grad_(true)
}

/// Gradients of `leaves` after `loss.backward()`.
fn grads(loss: &Tensor, leaves: &[&Tensor]) -> Result<Vec<Tensor>> {
    loss.backward(None, false)?;
    Ok(leaves.iter().map(|l| l.grad().unwrap()).collect())
}

#[test]
fn cuda_runtime_errors_instead_of_panicking_without_cuda() {
    if cuda_device_count().is_ok_and(|n| n > 0) {
        return;
    }
    assert!(Runtime::new(Backend::Cuda, options(0)).is_err());
}

#[test]
fn random_numbers_match_the_cpu_backend() {
    parity("random_numbers_match_the_cpu_backend", 1e-6, |rt| {
        Ok(vec![
            rt.randn(&[1001], Device::Cuda)?,
            rt.rand(&[37, 5], Device::Cuda)?,
            rt.randint(-3, 1000, &[513], Device::Cuda)?,
            rt.randn(&[3], Device::Cuda)?,
        ])
    });
}

#[test]
fn elementwise_ops_and_broadcasting_match_forward_and_backward() {
    parity("elementwise", 1e-5, |rt| {
        let a = leaf(rt, &[4, 5])?;
        let b = leaf(rt, &[5])?;
        let c = leaf(rt, &[4, 1])?;
        let host = rt.tensor(&[2.5], &[], Device::Cpu)?;
        let y = a
            .add(&b)?
            .mul(&c)?
            .sub(&a.mul_scalar(0.5)?)?
            .div(&b.mul(&b)?.add_scalar(1.0)?)?
            .add(&host)?
            .pow(2.0)?
            .neg()?
            .div_scalar(3.0)?
            .sub_scalar(1)?;
        let loss = y.sum()?;
        let g = grads(&loss, &[&a, &b, &c])?;
        let cmp = [
            a.gt(&b)?,
            a.le_scalar(0.0)?,
            a.eq(&a)?,
            a.ne_scalar(1)?,
            a.lt(&c)?,
            a.ge(&c)?,
        ];
        let ints = rt.randint(0, 100, &[6, 2], Device::Cuda)?;
        let int_ops = [
            ints.add(&ints)?,
            ints.mul_scalar(3)?,
            ints.sub_scalar(7)?,
            ints.div_scalar(4)?,
        ];
        let mut out = vec![y.detach(), loss.detach()];
        out.extend(g);
        out.extend(cmp.iter().map(|t| t.to_dtype(DType::I64).unwrap()));
        out.extend(int_ops);
        Ok(out)
    });
}

#[test]
fn views_copies_fills_and_in_place_ops_match() {
    parity("views", 1e-5, |rt| {
        let a = rt.randn(&[3, 4], Device::Cuda)?;
        let t = a.t()?;
        let copy = t.reshape(&[12])?; // a transposed view cannot be flattened: a copy
        let e = rt
            .randn(&[4], Device::Cuda)?
            .expand(&[3, 4])?
            .clone_tensor()?;
        let z = rt.zeros(&[2, 3], DType::F32, Device::Cuda)?;
        let o = rt.ones(&[2, 3], DType::I64, Device::Cuda)?;
        let f = rt.empty(&[5], DType::F32, Device::Cuda)?;
        f.fill_(1.5)?;
        let b = a.clone_tensor()?;
        b.add_(&rt.randn(&[4], Device::Cuda)?)?;
        b.mul_scalar_(2.0)?;
        b.sub_scalar_(0.25)?;
        b.relu_()?;
        t.clone_tensor()?.zero_()?;
        let round_trip = a.cpu()?.cuda()?;
        let host = rt.tensor(&[1.0, -2.0, 3.5], &[3], Device::Cuda)?;
        let ints = rt.tensor_i64(&[5, -6, 7], &[3], Device::Cuda)?;
        Ok(vec![
            copy,
            e,
            z,
            o,
            f,
            b,
            round_trip,
            host.float()?,
            ints.float()?,
            a.to_dtype(DType::I64)?,
            t.mul(&t)?,
        ])
    });
}

#[test]
fn pointwise_functions_match_forward_and_backward() {
    // The kernels use CUDA's expf/logf/tanhf/erff, the host Rust's and libm's: a few ulps apart.
    parity("pointwise", 1e-5, |rt| {
        let a = leaf(rt, &[6, 7])?;
        let positive = a.abs()?.add_scalar(0.5)?;
        let y = a
            .exp()?
            .add(&positive.log()?)?
            .add(&positive.sqrt()?)?
            .add(&a.tanh()?)?
            .add(&a.sigmoid()?)?
            .add(&a.gelu()?)?
            .add(&a.silu()?)?
            .add(&positive.reciprocal()?)?
            .add(&a.sin()?)?
            .add(&a.cos()?)?
            .add(&positive.log1p()?)?
            .add(&a.expm1()?)?
            .add(&positive.rsqrt()?)?;
        // The rounding functions: their gradients are zeros.
        let scaled = a.mul_scalar(3.0)?;
        let rounded = scaled
            .floor()?
            .add(&scaled.ceil()?)?
            .add(&scaled.round()?)?
            .add(&scaled.trunc()?)?
            .add(&a.sign()?)?;
        let y = y.add(&rounded)?;
        let s = a.softmax(1)?.mul(&a)?.add(&a.softmax(0)?)?;
        let loss = y.sum()?.add(&s.sum()?)?;
        let g = grads(&loss, &[&a])?;
        let mut out = vec![y.detach(), s.detach()];
        out.extend(g);
        Ok(out)
    });
}

#[test]
fn sorts_and_triangles_match_forward_and_backward() {
    // The sort, triangle, any/all, cumsum, flip, repeat and softplus layer kernels (through
    // host copies on cuda), and constant padding.
    parity("sorts", 0.0, |rt| {
        let a = leaf(rt, &[5, 6])?;
        let (top, top_i) = a.topk(3, 1, true)?;
        let (low, low_i) = a.topk(2, 0, false)?;
        let (sorted, order) = a.sort(-1, true)?;
        let lower = a.tril(-1)?;
        let upper = a.triu(1)?;
        let w = rt.randn(&[5, 6], Device::Cuda)?;
        let loss = top
            .sum()?
            .add(&low.mul_scalar(2.0)?.sum()?)?
            .add(&sorted.mul(&w)?.sum()?)?
            .add(&lower.mul(&w)?.sum()?)?
            .add(&upper.sum()?)?
            .add(&a.cumsum(1)?.mul(&w)?.sum()?)?
            .add(&a.flip(&[0, 1])?.mul(&w)?.sum()?)?
            .add(&a.repeat(&[2, 1])?.sum()?)?
            .add(&a.softplus(2.0, 1.0)?.mul(&w)?.sum()?)?
            .add(&a.constant_pad(&[1, -2], 0.5)?.sum()?)?
            .add(&a.roll(&[1, -2], &[0, 1])?.mul(&w)?.sum()?)?;
        let g = grads(&loss, &[&a])?;
        let mut out = vec![
            top.detach(),
            top_i.float()?,
            low.detach(),
            low_i.float()?,
            sorted.detach(),
            order.float()?,
            a.argsort(0, false)?.float()?,
            lower.detach(),
            upper.detach(),
            a.isfinite()?.float()?,
            a.gt_scalar(0.5)?.any_dim(1, false)?.float()?,
        ];
        out.extend(g);
        Ok(out)
    });
}

#[test]
fn clamp_maximum_and_where_match_forward_and_backward() {
    // ew_binary's OP_MIN/OP_MAX, ew_ternary's OP_WHERE and OP_MASKED_FILL, bool masks.
    parity("choices", 0.0, |rt| {
        let a = leaf(rt, &[5, 6])?;
        let b = leaf(rt, &[6])?;
        let clamped = a
            .clamp(Some(-0.5), Some(0.5))?
            .add(&a.clamp_min(0.2)?)?
            .add(&a.clamp_max(-0.1)?)?;
        // Ties on purpose: maximum(a, a) splits the gradient in halves.
        let m = a.maximum(&b)?.add(&a.minimum(&b)?)?.add(&a.maximum(&a)?)?;
        let w = Tensor::r#where(&a.gt(&b)?, &a, &b)?;
        // A strided slice: its backward copies into a strided view of zeros.
        let w = w.add(&a.slice(1, Some(1), None, 2)?.sum_dim(&[1], true)?)?;
        let picks = vec![a.argmin(1, false)?, a.argmax(0, true)?];
        let loss = clamped.sum()?.add(&m.sum()?)?.add(&w.sum()?)?;
        let g = grads(&loss, &[&a, &b])?;
        let mut out = vec![clamped.detach(), m.detach(), w.detach()];
        out.extend(g);
        out.extend(picks);
        Ok(out)
    });
}

#[test]
fn dropout_and_layer_norm_match_forward_and_backward() {
    parity("dropout and layer_norm", 1e-5, |rt| {
        let a = leaf(rt, &[9, 2, 6])?;
        let w = leaf(rt, &[2, 6])?;
        let b = leaf(rt, &[2, 6])?;
        let d = a.dropout(0.3, true)?;
        let y = d.layer_norm(&[2, 6], Some(&w), Some(&b), 1e-5)?;
        let z = y.layer_norm(&[6], None, None, 1e-5)?;
        let loss = z.mul(&a)?.sum()?;
        let g = grads(&loss, &[&a, &w, &b])?;
        let mut out = vec![d.detach(), y.detach(), z.detach()];
        out.extend(g);
        Ok(out)
    });
}

#[test]
fn transposed_and_permuted_views_match() {
    parity("shape views", 1e-5, |rt| {
        let a = leaf(rt, &[2, 3, 4])?;
        let p = a.permute(&[2, 0, 1])?;
        let t = a.transpose(0, 2)?.contiguous()?;
        let q = a.unsqueeze(1)?.squeeze(None)?.exp()?;
        let c = Tensor::cat(&[a.clone(), q.clone()], 1)?;
        let st = Tensor::stack(&[a.clone(), q.clone()], -1)?;
        let n = a
            .narrow(2, 1, 2)?
            .mul(&a.select_dim(1, 0)?.unsqueeze(1)?.narrow(2, 0, 2)?)?;
        let loss = p
            .mul(&p)?
            .sum()?
            .add(&t.sum()?)?
            .add(&c.mul(&c)?.sum()?)?
            .add(&st.sum()?)?
            .add(&n.sum()?)?;
        let g = grads(&loss, &[&a])?;
        let mut out = vec![
            p.detach().contiguous()?,
            t.detach(),
            q.detach(),
            c.detach(),
            st.detach(),
            n.detach(),
        ];
        out.extend(g);
        Ok(out)
    });
}

#[test]
fn reductions_match_forward_and_backward() {
    parity("reductions", 1e-5, |rt| {
        let a = leaf(rt, &[3, 4, 5])?;
        let s = a.sum_dim(&[1], true)?;
        let m = a.mean_dim(&[0, 2], false)?;
        let (mx, mx_i) = a.max_dim(1, false, false)?;
        let (mn, mn_i) = a.max_dim(-1, true, true)?;
        // max()/min() of every element (reduce_stat 3 and 4) and their evenly spread gradient.
        let (all_max, all_min) = (a.max()?, a.min()?);
        let loss = s
            .sum()?
            .add(&m.mean()?)?
            .add(&a.mean()?)?
            .add(&mx.sum()?)?
            .add(&mn.sum()?)?
            .add(&all_max)?
            .add(&all_min)?;
        let g = grads(&loss, &[&a])?;
        let ints = rt.randint(0, 9, &[4, 6], Device::Cuda)?;
        let mut out = vec![
            s.detach(),
            m.detach(),
            loss.detach(),
            a.detach().argmax(1, false)?,
            a.detach().argmax(-1, true)?,
            mx.detach(),
            mx_i,
            mn.detach(),
            mn_i,
            all_max.detach(),
            all_min.detach(),
            ints.max()?,
            // OP_DIV_TRUNC and OP_DIV_FLOOR.
            a.detach()
                .div_scalar_mode(-0.75, Some(RoundingMode::Trunc))?,
            a.detach()
                .div_scalar_mode(-0.75, Some(RoundingMode::Floor))?,
            ints.sub_scalar(4)?
                .div_scalar_mode(-3, Some(RoundingMode::Floor))?,
            ints.sub_scalar(4)?
                .div_scalar_mode(3, Some(RoundingMode::Trunc))?,
            ints.sum()?,
            ints.sum_dim(&[0], false)?,
            rt.randn(&[513, 700], Device::Cuda)?.sum_dim(&[1], false)?,
        ];
        out.extend(g);
        Ok(out)
    });
}

#[test]
fn matrix_products_match_forward_and_backward() {
    parity("matmul", 1e-4, |rt| {
        let x = leaf(rt, &[33, 64])?;
        let w = leaf(rt, &[17, 64])?;
        let bias = leaf(rt, &[17])?;
        let y = bias.addmm(&x, &w.t()?)?; // nn.Linear
        let z = y.relu()?.matmul(&rt.randn(&[17, 9], Device::Cuda)?)?;
        let batched = leaf(rt, &[3, 11, 17])?;
        let folded = batched.matmul(&w)?;
        let b = batched.matmul(&batched.transpose(1, 2)?)?;
        // sum's gradient is an expanded (stride 0) tensor: the strided kernel's case.
        let loss = z.sum()?.add(&folded.sum()?)?.add(&b.sum()?)?;
        let g = grads(&loss, &[&x, &w, &bias, &batched])?;
        let mut out = vec![y.detach(), z.detach(), folded.detach(), b.detach()];
        out.extend(g);
        Ok(out)
    });
}

#[test]
fn losses_match_forward_and_backward() {
    parity("losses", 1e-5, |rt| {
        let x = leaf(rt, &[16, 10])?;
        let y = rt.randint(0, 10, &[16], Device::Cuda)?;
        let target = rt.randn(&[16, 10], Device::Cuda)?;
        let mut out = Vec::new();
        for reduction in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            let ce = x.cross_entropy(&y, reduction)?;
            let mse = x.mse_loss(&target, reduction)?;
            let smooth = x.smooth_l1_loss(&target, reduction, 0.5)?;
            let loss = ce.sum()?.add(&mse.sum()?)?.add(&smooth.sum()?)?;
            out.push(ce.detach());
            out.push(mse.detach());
            out.push(smooth.detach());
            out.extend(grads(&loss, &[&x])?);
            x.set_grad(None);
        }
        out.push(x.detach().log_softmax(0)?);
        Ok(out)
    });
}

fn mlp(rt: &Runtime, sizes: &[usize]) -> Result<Sequential> {
    let mut layers: Vec<Box<dyn Module>> = Vec::new();
    for (i, w) in sizes.windows(2).enumerate() {
        if i > 0 {
            layers.push(Box::new(ReLU::new(false)));
        }
        layers.push(Box::new(Linear::new_on(
            rt,
            w[0],
            w[1],
            true,
            Device::Cuda,
        )?));
    }
    Ok(Sequential::new(layers))
}

#[test]
fn optimizer_steps_match() {
    parity("optimizers", 1e-4, |rt| {
        let model = mlp(rt, &[8, 16, 4])?;
        let sgd_params: Vec<Tensor> = model.parameters();
        let mut sgd = Sgd::new(
            sgd_params.clone(),
            SgdOptions {
                lr: 0.1,
                momentum: 0.9,
                weight_decay: 0.01,
                ..SgdOptions::default()
            },
        )?;
        let other = mlp(rt, &[8, 16, 4])?;
        let mut adam = Adam::new(other.parameters(), AdamOptions::default());
        let x = rt.randn(&[5, 8], Device::Cuda)?;
        let y = rt.randint(0, 4, &[5], Device::Cuda)?;
        for _ in 0..3 {
            for (m, opt) in [
                (&model, &mut sgd as &mut dyn Optimizer),
                (&other, &mut adam),
            ] {
                let loss = CrossEntropyLoss::default().forward(&m.forward(&x)?, &y)?;
                loss.backward(None, false)?;
                opt.step()?;
                opt.zero_grad(true)?;
            }
        }
        let mut out = model.parameters();
        out.extend(other.parameters());
        Ok(out.iter().map(Tensor::detach).collect())
    });
}

/// One program: the allocator traces of cuda, cpu and meta must be identical.
fn traced_program(rt: &Runtime) -> Result<()> {
    let model = mlp(rt, &[32, 64, 10])?;
    let mut opt = Adam::new(model.parameters(), AdamOptions::default());
    for _ in 0..3 {
        let x = rt.randn(&[16, 32], Device::Cuda)?;
        let y = rt.randint(0, 10, &[16], Device::Cuda)?;
        let loss = CrossEntropyLoss::default().forward(&model.forward(&x)?, &y)?;
        loss.backward(None, false)?;
        opt.step()?;
        opt.zero_grad(true)?;
        loss.item()?;
    }
    Ok(())
}

#[test]
fn allocator_traces_are_identical_on_cuda_cpu_and_meta() {
    let Some(gpu_rt) = cuda("allocator_traces_are_identical_on_cuda_cpu_and_meta", 3) else {
        return;
    };
    let cpu_rt = Runtime::new(Backend::Cpu, options(3)).unwrap();
    let meta_rt = Runtime::new(Backend::Meta, options(3)).unwrap();
    let mut traces = Vec::new();
    for rt in [&gpu_rt, &cpu_rt, &meta_rt] {
        traced_program(rt).unwrap();
        rt.allocator_mut().empty_cache().unwrap();
        traces.push(rt.allocator().history().trace());
    }
    assert!(!traces[0].is_empty());
    assert_eq!(traces[0], traces[1], "cuda and cpu traces differ");
    assert_eq!(traces[1], traces[2], "cpu and meta traces differ");
}

#[test]
fn an_mlp_learns_on_cuda() {
    let Some(rt) = cuda("an_mlp_learns_on_cuda", 11) else {
        return;
    };
    let model = mlp(&rt, &[20, 64, 64, 5]).unwrap();
    let mut opt = Sgd::new(
        model.parameters(),
        SgdOptions {
            lr: 0.1,
            momentum: 0.9,
            ..SgdOptions::default()
        },
    )
    .unwrap();
    let x = rt.randn(&[64, 20], Device::Cuda).unwrap();
    let y = rt.randint(0, 5, &[64], Device::Cuda).unwrap();
    let mut losses = Vec::new();
    for _ in 0..50 {
        let loss = CrossEntropyLoss::default()
            .forward(&model.forward(&x).unwrap(), &y)
            .unwrap();
        loss.backward(None, false).unwrap();
        opt.step().unwrap();
        opt.zero_grad(true).unwrap();
        losses.push(loss.item().unwrap());
    }
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses[49] < 0.5 * losses[0], "{losses:?}");
}

#[test]
fn segments_come_from_the_driver_and_go_back_on_empty_cache() {
    let Some(rt) = cuda(
        "segments_come_from_the_driver_and_go_back_on_empty_cache",
        0,
    ) else {
        return;
    };
    let gpu = rt.gpu().unwrap();
    let (before, _) = gpu.mem_get_info().unwrap();
    let t = rt.randn(&[64 << 20], Device::Cuda).unwrap(); // 256 MiB
    let (during, _) = gpu.mem_get_info().unwrap();
    assert!(
        before - during >= 256 << 20,
        "the driver saw {} bytes go",
        before - during
    );
    drop(t);
    rt.allocator_mut().empty_cache().unwrap();
    let (after, _) = gpu.mem_get_info().unwrap();
    assert_eq!(after, before, "driver free memory after empty_cache");
}

#[test]
fn the_checker_cross_checks_the_drivers_free_memory() {
    if cuda("the_checker_cross_checks_the_drivers_free_memory", 0).is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/clean");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "py"));
    let Some(path) = path else {
        panic!("no scenario in {}", dir.display());
    };
    let scenario = leakharness::scenario::load(&path).unwrap();
    let opts = CheckOptions {
        backend: Backend::Cuda,
        ..CheckOptions::default()
    };
    let report = check_scenario(&scenario, &opts).unwrap();
    let (before, after) = report
        .after_teardown
        .driver_free
        .expect("cuda fills driver_free");
    assert_eq!(before, after, "{}", report.scenario);
    assert_eq!(report.after_teardown.driver_missing(), None);
}

/// float16 and bfloat16 on the GPU (kernels/prelude.cuh's conversions, the strided matmul for
/// half operands, an autocast region with its casts) against the cpu backend's `half` crate:
/// conversions and element-wise results are rounded the same way, so they agree exactly;
/// products accumulate in another order.
#[test]
fn half_precision_and_autocast_match() {
    parity("half_precision_conversions", 0.0, |rt| {
        let x = rt.randn(&[5, 7], Device::Cuda)?.mul_scalar(1000.0)?;
        let h = x.to_dtype(DType::F16)?;
        let b = x.to_dtype(DType::BF16)?;
        Ok(vec![
            h.float()?,
            b.float()?,
            h.mul_scalar(3.0)?.float()?,
            b.exp()?.float()?,
            h.add(&x)?,
        ])
    });
    parity("half_precision_products", 1e-2, |rt| {
        let a = leaf(rt, &[6, 8])?;
        let w = leaf(rt, &[8, 4])?;
        let _region = rt.autocast(Device::Cuda, Some(DType::F16), true, None);
        let out = a.mm(&w)?;
        let loss = out.mse_loss(&rt.randn(&[6, 4], Device::Cuda)?, Reduction::Mean)?;
        let mut r = vec![out.float()?, loss.clone()];
        r.extend(grads(&loss, &[&a, &w])?);
        Ok(r)
    });
}

/// The layer, loss and indexing operations whose cuda path is the host arithmetic through
/// copies (`LayerKernel::host`): convolution, pooling, batch norm, embedding, logsumexp,
/// one_hot, the BCE and KL losses, indexing and its in-place writes, gather and its
/// scatter-add backward, nonzero. Forward and backward against the cpu backend.
#[test]
fn host_computed_layer_loss_and_index_ops_match() {
    parity("host_computed_layers", 1e-5, |rt| {
        let x = leaf(rt, &[2, 3, 6, 6])?;
        let w = leaf(rt, &[4, 3, 3, 3])?;
        let b = leaf(rt, &[4])?;
        let mut conv = ConvOptions::new(2);
        conv.padding = ConvPadding::Explicit(vec![1, 1]);
        let y = x.conv2d(&w, Some(&b), &conv)?;
        let pooled = y.max_pool2d(&PoolOptions::new([2, 2]))?;
        let avg = y.avg_pool2d(&PoolOptions::new([2, 2]), true, None)?;
        let adaptive = y.adaptive_avg_pool2d([2, 3])?;
        let gamma = leaf(rt, &[4])?;
        let beta = leaf(rt, &[4])?;
        let running_mean = rt.zeros(&[4], DType::F32, Device::Cuda)?;
        let running_var = rt.ones(&[4], DType::F32, Device::Cuda)?;
        let normed = y.batch_norm(
            [Some(&running_mean), Some(&running_var)],
            Some(&gamma),
            Some(&beta),
            BatchNormOptions {
                training: true,
                momentum: 0.1,
                eps: 1e-5,
            },
        )?;
        let loss = pooled
            .sum()?
            .add(&avg.mul(&avg)?.sum()?)?
            .add(&adaptive.sum()?)?
            .add(&normed.mul(&normed)?.sum()?)?;
        let mut out = vec![
            y.detach(),
            pooled.detach(),
            avg.detach(),
            adaptive.detach(),
            normed.detach(),
        ];
        out.extend(grads(&loss, &[&x, &w, &b, &gamma, &beta])?);
        out.push(running_mean);
        out.push(running_var);
        Ok(out)
    });
    parity("host_computed_losses", 1e-5, |rt| {
        let table = leaf(rt, &[10, 5])?;
        let ids = rt.randint(0, 10, &[7], Device::Cuda)?;
        let emb = Tensor::embedding(&table, &ids, Some(3))?;
        let logits = leaf(rt, &[6, 5])?;
        let lse = logits.logsumexp(&[1], false)?;
        let hot = ids.one_hot(10)?;
        let probs = rt.rand(&[6, 5], Device::Cuda)?;
        let p = logits.sigmoid()?;
        let bce = p.binary_cross_entropy(&probs, None, Reduction::Mean)?;
        let pos_weight = rt.rand(&[5], Device::Cuda)?;
        let bcel = logits.binary_cross_entropy_with_logits(
            &probs,
            None,
            Some(&pos_weight),
            Reduction::Sum,
        )?;
        let kl = logits
            .log_softmax(1)?
            .kl_div(&probs, KlDivReduction::BatchMean, false)?;
        let loss = emb
            .mul(&emb)?
            .sum()?
            .add(&lse.sum()?)?
            .add(&bce)?
            .add(&bcel)?
            .add(&kl)?;
        let mut out = vec![
            emb.detach(),
            lse.detach(),
            hot,
            bce.detach(),
            bcel.detach(),
            kl.detach(),
        ];
        out.extend(grads(&loss, &[&table, &logits])?);
        Ok(out)
    });
    parity("host_computed_indexing", 1e-5, |rt| {
        let x = leaf(rt, &[6, 4])?;
        let rows = rt.randint(0, 6, &[5], Device::Cuda)?;
        let cols = rt.randint(0, 4, &[5], Device::Cuda)?;
        let picked = x.index_tensors(&[Some(rows.clone()), Some(cols.clone())])?;
        let selected = x.index_select(0, &rows)?;
        let gathered = x.gather(1, &rt.randint(0, 4, &[6, 3], Device::Cuda)?)?;
        let mask = x.detach().gt_scalar(0.0)?;
        let positions = mask.nonzero()?;
        let target = rt.randn(&[6, 4], Device::Cuda)?;
        target.index_put_(&[Some(rows.clone())], &rt.randn(&[4], Device::Cuda)?, true)?;
        target.masked_fill_(&mask, -2.0)?;
        let loss = picked
            .sum()?
            .add(&selected.mul(&selected)?.sum()?)?
            .add(&gathered.mul(&gathered)?.sum()?)?;
        let mut out = vec![
            picked.detach(),
            selected.detach(),
            gathered.detach(),
            positions,
            target,
        ];
        out.extend(grads(&loss, &[&x])?);
        Ok(out)
    });
}

/// `triu` (the host arithmetic through copies on cuda) and its backward, the causal mask of
/// `nn.Transformer.generate_square_subsequent_mask`, and a backward whose saved tensors
/// `save_on_cpu` copied to the host and back.
#[test]
fn triu_the_causal_mask_and_save_on_cpu_match() {
    use leakharness::autograd::{push_saved_tensors_hooks, SavedTensorsHooks};
    parity("triu_and_save_on_cpu", 1e-5, |rt| {
        let x = leaf(rt, &[2, 3, 4])?;
        let upper = x.triu(1)?;
        let mask =
            leakharness::nn::generate_square_subsequent_mask(rt, 4, Device::Cuda, DType::F32)?;
        let loss = {
            let _offload =
                push_saved_tensors_hooks(rt, SavedTensorsHooks::ToHost { pin_memory: true })?;
            upper.mul(&upper)?.exp()?.sum()?
        };
        let mut out = vec![upper.detach(), mask];
        out.extend(grads(&loss, &[&x])?);
        Ok(out)
    });
}
