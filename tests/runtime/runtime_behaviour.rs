//! PyTorch's error messages, grad-mode rules and training behaviour of the runtime.

use leakharness::alloc::Purpose;
use leakharness::device::Backend;
use leakharness::nn::{CrossEntropyLoss, Linear, MSELoss, Module, ReLU, Sequential};
use leakharness::optim::{Adam, AdamOptions, Optimizer, Sgd, SgdOptions};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, Tensor, TensorError};

fn rt(backend: Backend) -> Runtime {
    Runtime::new(backend, RuntimeOptions::default()).unwrap()
}

fn leaf(rt: &Runtime, shape: &[usize]) -> Tensor {
    rt.randn(shape, Device::Cuda)
        .unwrap()
        .requires_grad_(true)
        .unwrap()
}

#[test]
fn shape_errors_read_like_pytorch() {
    let rt = rt(Backend::Meta);
    let a = rt.randn(&[32, 10], Device::Cuda).unwrap();
    let b = rt.randn(&[64, 256], Device::Cuda).unwrap();
    assert_eq!(
        a.matmul(&b).unwrap_err().to_string(),
        "mat1 and mat2 shapes cannot be multiplied (32x10 and 64x256)"
    );
    let bias = rt.randn(&[256], Device::Cuda).unwrap();
    assert_eq!(
        bias.addmm(&a, &b).unwrap_err().to_string(),
        "mat1 and mat2 shapes cannot be multiplied (32x10 and 64x256)"
    );
    let c = rt.randn(&[2, 3], Device::Cuda).unwrap();
    let d = rt.randn(&[2, 4], Device::Cuda).unwrap();
    assert_eq!(
        c.add(&d).unwrap_err().to_string(),
        "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"
    );
    assert_eq!(
        c.sum_dim(&[2], false).unwrap_err().to_string(),
        "Dimension out of range (expected to be in range of [-2, 1], but got 2)"
    );
}

#[test]
fn mixing_devices_fails_except_for_host_scalars() {
    let rt = rt(Backend::Cpu);
    let d = rt.randn(&[3], Device::Cuda).unwrap();
    let h = rt.randn(&[3], Device::Cpu).unwrap();
    assert_eq!(
        d.add(&h).unwrap_err().to_string(),
        "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
    );
    let s = rt.tensor(&[2.0], &[], Device::Cpu).unwrap();
    let r = d.mul(&s).unwrap();
    assert_eq!(r.device(), Device::Cuda);
    let a = rt.randn(&[2, 3], Device::Cuda).unwrap();
    let b = rt.randn(&[3, 2], Device::Cpu).unwrap();
    assert!(matches!(a.mm(&b), Err(TensorError::DeviceMismatch { .. })));
}

#[test]
fn out_of_memory_carries_the_allocators_message() {
    let rt = Runtime::new(
        Backend::Meta,
        RuntimeOptions {
            device_memory: Some(64 << 20),
            ..RuntimeOptions::default()
        },
    )
    .unwrap();
    let err = rt.randn(&[1 << 30], Device::Cuda).unwrap_err();
    assert!(matches!(&err, TensorError::Alloc(_)));
    assert!(
        err.to_string()
            .starts_with("CUDA out of memory. Tried to allocate 4.00 GiB."),
        "{err}"
    );
    assert_eq!(rt.memory_allocated(), 0);
}

#[test]
fn in_place_on_a_leaf_that_requires_grad_is_refused_unless_under_no_grad() {
    let rt = rt(Backend::Cpu);
    let w = leaf(&rt, &[3]);
    assert_eq!(
        w.add_scalar_(1.0).unwrap_err().to_string(),
        "a leaf Variable that requires grad is being used in an in-place operation."
    );
    assert_eq!(w.version(), 0);
    let _g = rt.no_grad();
    w.add_scalar_(1.0).unwrap();
    assert_eq!(w.version(), 1);
    assert!(w.is_leaf());
}

#[test]
fn modifying_a_saved_output_in_place_is_caught_at_backward() {
    let rt = rt(Backend::Cpu);
    let x = leaf(&rt, &[10, 5]);
    let r = x.mul_scalar(2.0).unwrap().relu().unwrap();
    r.add_scalar_(1.0).unwrap();
    assert_eq!(r.grad_fn().unwrap().name(), "AddBackward1");
    let err = r.sum().unwrap().backward(None, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "one of the variables needed for gradient computation has been modified by an inplace operation: [torch.cuda.FloatTensor [10, 5]], which is output 0 of ReluBackward0, is at version 1; expected version 0 instead. Hint: enable anomaly detection to find the operation that failed to compute its gradient, with torch.autograd.set_detect_anomaly(True)."
    );
}

#[test]
fn modifying_a_saved_leaf_through_detach_is_caught_too() {
    let rt = rt(Backend::Cpu);
    let w = leaf(&rt, &[3]);
    let y = w.mul(&w).unwrap().sum().unwrap();
    w.detach().mul_scalar_(2.0).unwrap();
    let err = y.backward(None, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "one of the variables needed for gradient computation has been modified by an inplace operation: [torch.cuda.FloatTensor [3]] is at version 1; expected version 0 instead. Hint: enable anomaly detection to find the operation that failed to compute its gradient, with torch.autograd.set_detect_anomaly(True)."
    );
}

#[test]
fn backward_needs_a_graph_and_a_scalar() {
    let rt = rt(Backend::Meta);
    let x = rt.randn(&[3], Device::Cuda).unwrap();
    assert_eq!(
        x.sum()
            .unwrap()
            .backward(None, false)
            .unwrap_err()
            .to_string(),
        "element 0 of tensors does not require grad and does not have a grad_fn"
    );
    let w = leaf(&rt, &[3]);
    let y = w.mul_scalar(2.0).unwrap();
    assert_eq!(
        y.backward(None, false).unwrap_err().to_string(),
        "grad can be implicitly created only for scalar outputs"
    );
    let g = rt.ones(&[3], DType::F32, Device::Cuda).unwrap();
    y.backward(Some(&g), false).unwrap();
    assert_eq!(w.grad().unwrap().shape(), &[3]);
}

#[test]
fn item_needs_one_element_and_has_a_placeholder_on_meta() {
    let rt = rt(Backend::Meta);
    let x = rt.randn(&[3], Device::Cuda).unwrap();
    assert_eq!(
        x.item().unwrap_err().to_string(),
        "a Tensor with 3 elements cannot be converted to Scalar"
    );
    assert_eq!(x.sum().unwrap().item().unwrap(), 0.0);
    let cpu = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let t = cpu.tensor(&[1.5, 2.5], &[2], Device::Cuda).unwrap();
    assert_eq!(t.sum().unwrap().item().unwrap(), 4.0);
}

#[test]
fn only_float_leaves_can_require_grad_and_results_follow_inputs() {
    let rt = rt(Backend::Cpu);
    let i = rt.randint(0, 10, &[4], Device::Cuda).unwrap();
    assert_eq!(
        i.set_requires_grad(true).unwrap_err().to_string(),
        "only Tensors of floating point and complex dtype can require gradients"
    );
    let w = leaf(&rt, &[4]);
    let y = w.mul_scalar(2.0).unwrap();
    assert!(y.requires_grad() && !y.is_leaf());
    assert!(y.set_requires_grad(false).is_err());
    assert!(!y.detach().requires_grad());
    assert!(y.detach().shares_storage(&y));
    assert!(!y.gt_scalar(0.0).unwrap().requires_grad());
    assert_eq!(y.argmax(0, false).unwrap().dtype(), DType::I64);
    assert!(!y.argmax(0, false).unwrap().requires_grad());
}

#[test]
fn comparisons_casts_and_argmax_compute_like_pytorch() {
    let rt = rt(Backend::Cpu);
    let a = rt
        .tensor(&[1.0, 5.0, 3.0, 7.0, 2.0, 2.0], &[2, 3], Device::Cuda)
        .unwrap();
    assert_eq!(a.argmax(1, false).unwrap().to_vec_i64(), vec![1, 0]);
    assert_eq!(a.argmax(-1, true).unwrap().shape(), &[2, 1]);
    let t = rt.tensor_i64(&[1, 2], &[2], Device::Cuda).unwrap();
    let correct = a.argmax(1, false).unwrap().eq(&t).unwrap();
    assert_eq!(correct.dtype(), DType::Bool);
    assert_eq!(
        correct.float().unwrap().mean().unwrap().item().unwrap(),
        0.5
    );
    assert_eq!(correct.sum().unwrap().dtype(), DType::I64);
    assert_eq!(a.ge_scalar(3).unwrap().to_vec_i64(), vec![0, 1, 1, 1, 0, 0]);
    let halves = t.mul_scalar(0.5).unwrap();
    assert_eq!(halves.dtype(), DType::F32);
    assert_eq!(t.mul_scalar(3).unwrap().to_vec_i64(), vec![3, 6]);
    assert_eq!(a.ne(&a).unwrap().to_vec_i64(), vec![0; 6]);
    assert_eq!(
        a.lt(&a.add_scalar(1.0).unwrap()).unwrap().to_vec_i64(),
        vec![1; 6]
    );
    assert_eq!(
        a.le_scalar(2.0).unwrap().to_vec_i64(),
        vec![1, 0, 0, 0, 1, 1]
    );
    assert_eq!(a.gt(&a).unwrap().to_vec_i64(), vec![0; 6]);
    assert_eq!(
        a.eq_scalar(2.0).unwrap().to_vec_i64(),
        vec![0, 0, 0, 0, 1, 1]
    );
    assert_eq!(
        a.ne_scalar(2.0).unwrap().to_vec_i64(),
        vec![1, 1, 1, 1, 0, 0]
    );
    assert_eq!(
        a.lt_scalar(2.0).unwrap().to_vec_i64(),
        vec![1, 0, 0, 0, 0, 0]
    );
    assert_eq!(a.ge(&a).unwrap().to_vec_i64(), vec![1; 6]);
    assert_eq!(
        a.to_dtype(DType::I64).unwrap().to_vec_i64(),
        vec![1, 5, 3, 7, 2, 2]
    );
    a.fill_(0.25).unwrap();
    assert_eq!(a.to_vec_f32(), vec![0.25; 6]);
    a.zero_().unwrap();
    assert_eq!(a.to_vec_f32(), vec![0.0; 6]);
    assert_eq!(a.version(), 2);
}

#[test]
fn randomness_is_seeded_per_runtime_and_the_same_on_every_thread() {
    let draw = || {
        let rt = Runtime::new(
            Backend::Cpu,
            RuntimeOptions {
                seed: 42,
                ..RuntimeOptions::default()
            },
        )
        .unwrap();
        let a = rt.randn(&[5], Device::Cuda).unwrap().to_vec_f32();
        let b = rt.rand(&[5], Device::Cuda).unwrap().to_vec_f32();
        (a, b)
    };
    let here = draw();
    let there = std::thread::spawn(draw).join().unwrap();
    assert_eq!(here, there);
    assert!(here.1.iter().all(|&u| (0.0..1.0).contains(&u)));
    let mean: f32 = {
        let rt = rt(Backend::Cpu);
        rt.randn(&[10_000], Device::Cpu)
            .unwrap()
            .mean()
            .unwrap()
            .item()
            .unwrap() as f32
    };
    assert!(mean.abs() < 0.05);
}

#[test]
fn linear_init_is_bounded_by_one_over_sqrt_fan_in() {
    let rt = rt(Backend::Cpu);
    let layer = Linear::new(&rt, 100, 20, true).unwrap();
    let bound = 0.1f32;
    for p in layer.parameters() {
        let v = p.to_vec_f32();
        assert!(v.iter().all(|x| x.abs() <= bound));
        assert!(v.iter().any(|x| x.abs() > bound / 2.0));
        assert_eq!(p.device(), Device::Cpu);
    }
}

#[test]
fn a_small_mlp_learns_a_synthetic_regression() {
    let rt = rt(Backend::Cpu);
    let model = Sequential::new(vec![
        Box::new(Linear::new(&rt, 4, 32, true).unwrap()),
        Box::new(ReLU::new(true)),
        Box::new(Linear::new(&rt, 32, 1, true).unwrap()),
    ]);
    model.to(Device::Cuda).unwrap();
    let mut opt = Sgd::new(
        model.parameters(),
        SgdOptions {
            lr: 0.05,
            momentum: 0.9,
            ..SgdOptions::default()
        },
    )
    .unwrap();
    let x = rt.randn(&[64, 4], Device::Cuda).unwrap();
    let coef = rt
        .tensor(&[1.0, -2.0, 0.5, 3.0], &[4, 1], Device::Cuda)
        .unwrap();
    let y = x.matmul(&coef).unwrap().relu().unwrap();
    let mut losses = Vec::new();
    for _ in 0..150 {
        let loss = MSELoss::default()
            .forward(&model.forward(&x).unwrap(), &y)
            .unwrap();
        losses.push(loss.item().unwrap());
        opt.zero_grad(true).unwrap();
        loss.backward(None, false).unwrap();
        opt.step().unwrap();
    }
    assert!(
        losses[149] < 0.05 * losses[0],
        "{} -> {}",
        losses[0],
        losses[149]
    );
}

#[test]
fn a_classifier_trained_with_adam_and_cross_entropy_gets_accurate() {
    let rt = rt(Backend::Cpu);
    let model = Sequential::new(vec![
        Box::new(Linear::new(&rt, 2, 16, true).unwrap()),
        Box::new(ReLU::new(false)),
        Box::new(Linear::new(&rt, 16, 2, true).unwrap()),
    ]);
    model.to(Device::Cuda).unwrap();
    let mut opt = Adam::new(
        model.parameters(),
        AdamOptions {
            lr: 0.02,
            ..AdamOptions::default()
        },
    );
    let x = rt.randn(&[128, 2], Device::Cuda).unwrap();
    // Class 1 where x0 + x1 > 0.
    let labels = x
        .sum_dim(&[1], false)
        .unwrap()
        .gt_scalar(0.0)
        .unwrap()
        .to_dtype(DType::I64)
        .unwrap();
    for _ in 0..100 {
        let loss = CrossEntropyLoss::default()
            .forward(&model.forward(&x).unwrap(), &labels)
            .unwrap();
        opt.zero_grad(true).unwrap();
        loss.backward(None, false).unwrap();
        opt.step().unwrap();
    }
    let accuracy = {
        let _g = rt.no_grad();
        model.eval();
        let pred = model.forward(&x).unwrap().argmax(1, false).unwrap();
        pred.eq(&labels)
            .unwrap()
            .float()
            .unwrap()
            .mean()
            .unwrap()
            .item()
            .unwrap()
    };
    assert!(!model.is_training());
    assert!(accuracy > 0.95, "accuracy {accuracy}");
    assert!(opt.state_tensors().iter().all(|t| rt
        .allocator()
        .tag(t.block().unwrap())
        .unwrap()
        .purpose
        == Purpose::OptimizerState));
}

#[test]
fn absurd_shapes_and_empty_reductions_are_errors_not_panics() {
    let rt = rt(Backend::Meta);
    assert!(matches!(
        rt.zeros(&[usize::MAX, 2], DType::F32, Device::Cuda),
        Err(TensorError::Invalid(_))
    ));
    assert!(matches!(
        rt.randn(&[usize::MAX / 2], Device::Cuda),
        Err(TensorError::Invalid(_))
    ));
    let e = rt.zeros(&[2, 0], DType::F32, Device::Cuda).unwrap();
    assert_eq!(
        e.argmax(1, false).unwrap_err().to_string(),
        "argmax(): Expected reduction dim 1 to have non-zero size."
    );
    assert!(rt.randint(i64::MIN, i64::MAX, &[4], Device::Cuda).is_ok());
    assert!(rt.tensor(&[1.0], &[2], Device::Cuda).is_err());
}

#[test]
fn holding_the_allocator_while_tensors_come_and_go_neither_panics_nor_leaks() {
    let rt = rt(Backend::Cpu);
    let x = rt.randn(&[256], Device::Cuda).unwrap();
    {
        let stats = rt.allocator();
        assert_eq!(stats.memory_allocated(), 1024);
        drop(x);
        assert!(matches!(
            rt.randn(&[4], Device::Cuda),
            Err(TensorError::Invalid(_))
        ));
        assert_eq!(
            stats.memory_allocated(),
            1024,
            "the free waits for the guard"
        );
    }
    assert_eq!(rt.memory_allocated(), 0);
}

#[test]
fn linear_can_be_created_on_the_device_directly() {
    let rt = rt(Backend::Meta);
    let layer = Linear::new_on(&rt, 64, 32, true, Device::Cuda).unwrap();
    assert_eq!(rt.memory_allocated(), 8192 + 512);
    for p in layer.parameters() {
        assert_eq!(
            rt.allocator().tag(p.block().unwrap()).unwrap().purpose,
            Purpose::Parameter
        );
        assert!(p.requires_grad() && p.is_leaf());
    }
}
