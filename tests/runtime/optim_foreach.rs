//! The optimizers' two implementations, PyTorch's for-loop (`foreach=False`) and its
//! `_multi_tensor_*` path (`foreach=True`, the default when every parameter is on the
//! device), measured step by step against PyTorch 2.15.
//!
//! The expected figures were printed by real PyTorch (CPU build, `foreach` forced either way)
//! with `scripts/optim_step_peaks.py`: the bytes, each tensor rounded up to 512 as the CUDA
//! caching allocator rounds, that one `step()` allocates on top of what was alive before it
//! (parameters, gradients, state), at its peak and after it. Parameters of 256×64, 64 and
//! 10×256 floats: 65,536, 512 and 10,240 bytes, 76,288 together.

use leakharness::device::Backend;
use leakharness::optim::{
    Adagrad, AdagradOptions, Adam, AdamOptions, AdamW, Optimizer, Rmsprop, RmspropOptions, Sgd,
    SgdOptions,
};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, Tensor};

const SHAPES: [&[usize]; 3] = [&[256, 64], &[64], &[10, 256]];

type Make = fn(Vec<Tensor>, Option<bool>) -> Box<dyn Optimizer>;

/// (peak, kept) of step 1 and step 2, for `foreach=False` then `foreach=True`.
type Figures = [[(u64, u64); 2]; 2];

fn cases() -> Vec<(&'static str, Make, Figures)> {
    vec![
        (
            "adam",
            |p, foreach| {
                Box::new(Adam::new(
                    p,
                    AdamOptions {
                        foreach,
                        ..AdamOptions::default()
                    },
                ))
            },
            [
                [(283648, 152576), (131072, 0)],
                [(228864, 152576), (76288, 0)],
            ],
        ),
        (
            "adam_weight_decay",
            |p, foreach| {
                Box::new(Adam::new(
                    p,
                    AdamOptions {
                        weight_decay: 0.1,
                        foreach,
                        ..AdamOptions::default()
                    },
                ))
            },
            [
                [(349184, 152576), (196608, 0)],
                [(228864, 152576), (76288, 0)],
            ],
        ),
        (
            "adamw",
            |p, foreach| {
                Box::new(AdamW::new(
                    p,
                    AdamOptions {
                        foreach,
                        ..AdamW::default_options()
                    },
                ))
            },
            [
                [(283648, 152576), (131072, 0)],
                [(228864, 152576), (76288, 0)],
            ],
        ),
        (
            "sgd_momentum",
            |p, foreach| {
                Box::new(
                    Sgd::new(
                        p,
                        SgdOptions {
                            lr: 0.1,
                            momentum: 0.9,
                            foreach,
                            ..SgdOptions::default()
                        },
                    )
                    .unwrap(),
                )
            },
            [[(76288, 76288), (0, 0)], [(76288, 76288), (0, 0)]],
        ),
        (
            "sgd_momentum_weight_decay",
            |p, foreach| {
                Box::new(
                    Sgd::new(
                        p,
                        SgdOptions {
                            lr: 0.1,
                            momentum: 0.9,
                            weight_decay: 0.01,
                            foreach,
                            ..SgdOptions::default()
                        },
                    )
                    .unwrap(),
                )
            },
            [[(131072, 76288), (65536, 0)], [(152576, 76288), (76288, 0)]],
        ),
        (
            "sgd_nesterov",
            |p, foreach| {
                Box::new(
                    Sgd::new(
                        p,
                        SgdOptions {
                            lr: 0.1,
                            momentum: 0.9,
                            nesterov: true,
                            foreach,
                            ..SgdOptions::default()
                        },
                    )
                    .unwrap(),
                )
            },
            [[(131072, 76288), (65536, 0)], [(76288, 76288), (0, 0)]],
        ),
        (
            "adam_amsgrad",
            |p, foreach| {
                Box::new(Adam::new(
                    p,
                    AdamOptions {
                        amsgrad: true,
                        foreach,
                        ..AdamOptions::default()
                    },
                ))
            },
            [
                [(359936, 228864), (131072, 0)],
                [(305152, 228864), (76288, 0)],
            ],
        ),
        (
            "adamw_amsgrad_weight_decay",
            |p, foreach| {
                Box::new(AdamW::new(
                    p,
                    AdamOptions {
                        amsgrad: true,
                        weight_decay: 0.1,
                        foreach,
                        ..AdamOptions::default()
                    },
                ))
            },
            [
                [(359936, 228864), (131072, 0)],
                [(305152, 228864), (76288, 0)],
            ],
        ),
        (
            "rmsprop_centered",
            |p, foreach| {
                Box::new(
                    Rmsprop::new(
                        p,
                        RmspropOptions {
                            centered: true,
                            foreach,
                            ..RmspropOptions::default()
                        },
                    )
                    .unwrap(),
                )
            },
            [
                [(218624, 152576), (66048, 0)],
                [(228864, 152576), (76288, 0)],
            ],
        ),
        (
            "rmsprop_centered_momentum",
            |p, foreach| {
                Box::new(
                    Rmsprop::new(
                        p,
                        RmspropOptions {
                            centered: true,
                            momentum: 0.9,
                            foreach,
                            ..RmspropOptions::default()
                        },
                    )
                    .unwrap(),
                )
            },
            [
                [(294912, 228864), (66048, 0)],
                [(305152, 228864), (76288, 0)],
            ],
        ),
        (
            "rmsprop",
            |p, foreach| {
                Box::new(
                    Rmsprop::new(
                        p,
                        RmspropOptions {
                            foreach,
                            ..RmspropOptions::default()
                        },
                    )
                    .unwrap(),
                )
            },
            [[(142336, 76288), (66048, 0)], [(152576, 76288), (76288, 0)]],
        ),
        (
            "rmsprop_momentum_weight_decay",
            |p, foreach| {
                Box::new(
                    Rmsprop::new(
                        p,
                        RmspropOptions {
                            momentum: 0.9,
                            weight_decay: 0.1,
                            foreach,
                            ..RmspropOptions::default()
                        },
                    )
                    .unwrap(),
                )
            },
            [
                [(283648, 152576), (131072, 0)],
                [(305152, 152576), (152576, 0)],
            ],
        ),
        (
            "adagrad",
            |p, foreach| {
                Box::new(
                    Adagrad::new(
                        p,
                        AdagradOptions {
                            foreach,
                            ..AdagradOptions::default()
                        },
                    )
                    .unwrap(),
                )
            },
            [[(66048, 0), (66048, 0)], [(152576, 0), (152576, 0)]],
        ),
        (
            "adagrad_weight_decay",
            |p, foreach| {
                Box::new(
                    Adagrad::new(
                        p,
                        AdagradOptions {
                            weight_decay: 0.1,
                            foreach,
                            ..AdagradOptions::default()
                        },
                    )
                    .unwrap(),
                )
            },
            [[(131072, 0), (131072, 0)], [(152576, 0), (152576, 0)]],
        ),
    ]
}

/// Parameters of `SHAPES` on `device`, each with a fresh gradient.
fn params(rt: &Runtime, device: Device) -> Vec<Tensor> {
    SHAPES
        .iter()
        .map(|s| rt.randn(s, device).unwrap().requires_grad_(true).unwrap())
        .collect()
}

fn fresh_grads(rt: &Runtime, params: &[Tensor]) {
    for p in params {
        p.set_grad(Some(rt.randn(p.shape(), p.device()).unwrap()));
    }
}

/// Two steps of `make(params, foreach)`: each step's (peak, kept) above what was alive.
fn run(backend: Backend, make: Make, foreach: Option<bool>) -> [(u64, u64); 2] {
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let ps = params(&rt, Device::Cuda);
    let mut opt = make(ps.clone(), foreach);
    let mut out = [(0, 0); 2];
    for figures in &mut out {
        fresh_grads(&rt, &ps);
        let before = rt.memory_allocated();
        rt.allocator_mut().reset_peak_memory_stats();
        opt.step().unwrap();
        *figures = (
            rt.allocator().max_memory_allocated() - before,
            rt.memory_allocated() - before,
        );
    }
    out
}

#[test]
fn each_path_allocates_what_pytorch_allocates_in_one_step() {
    for backend in [Backend::Meta, Backend::Cpu] {
        for (name, make, [for_loop, foreach]) in cases() {
            assert_eq!(
                run(backend, make, Some(false)),
                for_loop,
                "{name} foreach=False on {backend:?}"
            );
            assert_eq!(
                run(backend, make, Some(true)),
                foreach,
                "{name} foreach=True on {backend:?}"
            );
        }
    }
}

/// `_default_to_fused_or_foreach`: unset, `foreach` is on for device parameters, so the
/// default step of device parameters is the foreach one, and host parameters take the loop.
#[test]
fn the_default_is_foreach_on_the_device_and_the_loop_on_the_host() {
    for (name, make, [_, foreach]) in cases() {
        assert_eq!(run(Backend::Meta, make, None), foreach, "{name} default");
    }
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let host = params(&rt, Device::Cpu);
    let device = params(&rt, Device::Cuda);
    assert!(leakharness::optim::default_foreach(
        &device.iter().collect::<Vec<_>>()
    ));
    assert!(!leakharness::optim::default_foreach(
        &host.iter().collect::<Vec<_>>()
    ));
    let mixed = [&device[0], &host[1]];
    assert!(!leakharness::optim::default_foreach(&mixed));
}

/// Nesterov on the foreach path adds the momentum buffers into the gradients in place
/// (`torch._foreach_add_(device_grads, bufs, alpha=momentum)`): without weight decay that is
/// `param.grad` itself. PyTorch 2.15 prints 1.9 after one step from a gradient of ones (the
/// loop leaves 1.0).
#[test]
fn foreach_nesterov_writes_into_the_gradient() {
    for (foreach, expected) in [(true, 1.9f32), (false, 1.0)] {
        let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
        let p = rt
            .ones(&[3], DType::F32, Device::Cuda)
            .unwrap()
            .requires_grad_(true)
            .unwrap();
        p.set_grad(Some(rt.ones(&[3], DType::F32, Device::Cuda).unwrap()));
        let mut opt = Sgd::new(
            vec![p.clone()],
            SgdOptions {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
                foreach: Some(foreach),
                ..SgdOptions::default()
            },
        )
        .unwrap();
        opt.step().unwrap();
        assert_eq!(p.grad().unwrap().to_vec_f32(), vec![expected; 3]);
    }
}
