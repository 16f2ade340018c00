//! Adam's and AdamW's `amsgrad`, `capturable` and `fused`, and RMSprop's `centered` and
//! `capturable`, allocation by allocation against PyTorch 2.15.
//!
//! The expected logs were printed by real PyTorch (CPU build) under a dispatch mode that sees
//! every tensor an op returns, 0-dim ones included: each new storage rounded up to 512 bytes
//! as the CUDA caching allocator rounds, positive when made, negative when freed. Capturable
//! needs a capturable device; the script admits the CPU as one
//! (`_get_capturable_supported_devices`), so the same Python code runs. Parameters of 256×64,
//! 3×256 and 10×256 floats (65,536, 3,072 and 10,240 bytes). The state `_init_group` makes at
//! the first step comes first; then one step, the same at every step.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::optim::{Adam, AdamOptions, AdamW, Optimizer, Rmsprop, RmspropOptions};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{Device, Tensor};

const SHAPES: [&[usize]; 3] = [&[256, 64], &[3, 256], &[10, 256]];

/// (case, the state made at the first step, one step), as torch 2.15 allocated them.
const LOGS: &[(&str, &[i64], &[i64])] = &[
    (
        "adam_capturable_loop",
        &[512, 65536, 65536, 512, 3072, 3072, 512, 10240, 10240],
        &[
            512, 512, -512, 512, 512, -512, 512, 512, -512, 512, 512, 65536, 512, 65536, -65536,
            -512, 512, 512, -512, -512, 512, 512, -512, -512, 512, 512, -512, -512, 512, 512, -512,
            -512, 512, -512, 512, -512, 3072, 512, 3072, -3072, -512, 512, 512, -512, -512, -65536,
            512, 512, -512, -512, 512, 512, -512, -512, 512, 512, -512, -512, 512, -512, 512, -512,
            10240, 512, 10240, -10240, -512, 512, 512, -512, -512, -3072, -512, -512, -512, -512,
            -512, -10240,
        ],
    ),
    (
        "adam_capturable_foreach",
        &[512, 65536, 65536, 512, 3072, 3072, 512, 10240, 10240],
        &[
            512, 512, 512, 512, 512, 512, 65536, 3072, 10240, -512, -512, -512, -512, -512, -512,
            -10240, -3072, -65536,
        ],
    ),
    (
        "adam_capturable_amsgrad_loop",
        &[
            512, 65536, 65536, 65536, 512, 3072, 3072, 3072, 512, 10240, 10240, 10240,
        ],
        &[
            512, 512, -512, 512, 512, -512, 512, 512, -512, 512, 512, 65536, -65536, 65536, 512,
            65536, -65536, -512, 512, 512, -512, -512, 512, 512, -512, -512, 512, 512, -512, -512,
            512, 512, -512, -512, 512, -512, 512, -512, 3072, -3072, 3072, 512, 3072, -3072, -512,
            512, 512, -512, -512, -65536, 512, 512, -512, -512, 512, 512, -512, -512, 512, 512,
            -512, -512, 512, -512, 512, -512, 10240, -10240, 10240, 512, 10240, -10240, -512, 512,
            512, -512, -512, -3072, -512, -512, -512, -512, -512, -10240,
        ],
    ),
    (
        "adamw_capturable_wd_loop",
        &[512, 65536, 65536, 512, 3072, 3072, 512, 10240, 10240],
        &[
            512, 512, -512, 512, 512, -512, 512, 512, -512, 512, 512, 65536, 512, 65536, -65536,
            -512, 512, 512, -512, -512, 512, 512, -512, -512, 512, 512, -512, -512, 512, 512, -512,
            -512, 512, -512, 512, -512, 3072, 512, 3072, -3072, -512, 512, 512, -512, -512, -65536,
            512, 512, -512, -512, 512, 512, -512, -512, 512, 512, -512, -512, 512, -512, 512, -512,
            10240, 512, 10240, -10240, -512, 512, 512, -512, -512, -3072, -512, -512, -512, -512,
            -512, -10240,
        ],
    ),
    (
        "adam_capturable_wd_foreach",
        &[512, 65536, 65536, 512, 3072, 3072, 512, 10240, 10240],
        &[
            65536, 3072, 10240, -10240, -3072, -65536, 512, 512, 512, 512, 512, 512, 65536, 3072,
            10240, -512, -512, -512, -512, -512, -512, -10240, -3072, -65536,
        ],
    ),
    (
        "adam_fused",
        &[512, 65536, 65536, 512, 3072, 3072, 512, 10240, 10240],
        &[],
    ),
    (
        "adamw_fused_amsgrad",
        &[
            512, 65536, 65536, 65536, 512, 3072, 3072, 3072, 512, 10240, 10240, 10240,
        ],
        &[],
    ),
    (
        "rmsprop_capturable_loop",
        &[512, 65536, 512, 3072, 512, 10240],
        &[65536, 3072, -65536, 10240, -3072, -10240],
    ),
    (
        "rmsprop_capturable_foreach",
        &[512, 65536, 512, 3072, 512, 10240],
        &[65536, 3072, 10240, -10240, -3072, -65536],
    ),
];

fn make(name: &str, params: Vec<Tensor>) -> Box<dyn Optimizer> {
    let adam = |amsgrad, capturable, fused, foreach, weight_decay| AdamOptions {
        amsgrad,
        capturable,
        fused,
        foreach,
        weight_decay,
        ..AdamOptions::default()
    };
    let rmsprop = |foreach| RmspropOptions {
        capturable: true,
        foreach,
        ..RmspropOptions::default()
    };
    match name {
        "adam_capturable_loop" => Box::new(Adam::new(
            params,
            adam(false, true, false, Some(false), 0.0),
        )),
        "adam_capturable_foreach" => {
            Box::new(Adam::new(params, adam(false, true, false, Some(true), 0.0)))
        }
        "adam_capturable_amsgrad_loop" => {
            Box::new(Adam::new(params, adam(true, true, false, Some(false), 0.0)))
        }
        "adamw_capturable_wd_loop" => Box::new(AdamW::new(
            params,
            adam(false, true, false, Some(false), 0.1),
        )),
        "adam_capturable_wd_foreach" => {
            Box::new(Adam::new(params, adam(false, true, false, Some(true), 0.1)))
        }
        "adam_fused" => Box::new(Adam::new(params, adam(false, false, true, None, 0.0))),
        "adamw_fused_amsgrad" => Box::new(AdamW::new(params, adam(true, false, true, None, 0.01))),
        "rmsprop_capturable_loop" => Box::new(Rmsprop::new(params, rmsprop(Some(false))).unwrap()),
        "rmsprop_capturable_foreach" => {
            Box::new(Rmsprop::new(params, rmsprop(Some(true))).unwrap())
        }
        other => panic!("no case {other}"),
    }
}

/// Allocations (+size) and frees (-size) since event `from`.
fn log_since(rt: &Runtime, from: usize) -> Vec<i64> {
    rt.allocator().history().trace()[from..]
        .iter()
        .filter_map(|e| match e {
            EventKind::Alloc { size, .. } => Some(*size as i64),
            EventKind::Free { size, .. } => Some(-(*size as i64)),
            _ => None,
        })
        .collect()
}

/// Two steps of case `name`: the allocator's log of each.
fn two_steps(backend: Backend, name: &str) -> [Vec<i64>; 2] {
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let params: Vec<Tensor> = SHAPES
        .iter()
        .map(|s| {
            rt.randn(s, Device::Cuda)
                .unwrap()
                .requires_grad_(true)
                .unwrap()
        })
        .collect();
    let mut opt = make(name, params.clone());
    [0, 1].map(|_| {
        for p in &params {
            p.set_grad(Some(rt.randn(p.shape(), p.device()).unwrap()));
        }
        let from = rt.allocator().history().trace().len();
        opt.step().unwrap();
        log_since(&rt, from)
    })
}

#[test]
fn each_variant_allocates_and_frees_what_pytorch_does() {
    for backend in [Backend::Meta, Backend::Cpu] {
        for (name, init, step) in LOGS {
            let [first, second] = two_steps(backend, name);
            assert_eq!(
                first,
                [*init, *step].concat(),
                "{name}, step 1, {backend:?}"
            );
            assert_eq!(second, *step, "{name}, step 2, {backend:?}");
        }
    }
}

/// Three steps of one parameter [1, 2, 3] from fixed gradients, on the cpu.
fn three_steps(make: impl Fn(Vec<Tensor>) -> Box<dyn Optimizer>, on: Device) -> Vec<f32> {
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let p = rt
        .tensor(&[1.0, 2.0, 3.0], &[3], on)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    let mut opt = make(vec![p.clone()]);
    for g in [[0.5, -1.0, 2.0], [0.1, 0.1, 0.1], [-3.0, 0.2, 1.0]] {
        p.set_grad(Some(rt.tensor(&g, &[3], on).unwrap()));
        opt.step().unwrap();
    }
    p.to_vec_f32()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 2e-5, "{what}: {got:?}, torch 2.15 {want:?}");
    }
}

/// The values torch 2.15 (CPU) printed for the same three steps: every path of a variant
/// (for-loop, foreach, capturable, fused) gives them.
#[test]
fn each_variant_computes_what_pytorch_computes() {
    let adam = AdamOptions {
        lr: 0.1,
        amsgrad: true,
        weight_decay: 0.1,
        ..AdamOptions::default()
    };
    let adamw = AdamOptions {
        weight_decay: 0.01,
        ..adam
    };
    for (foreach, capturable, fused) in [
        (Some(false), false, false),
        (Some(true), false, false),
        (Some(false), true, false),
        (Some(true), true, false),
        (None, false, true),
    ] {
        let what = format!("foreach {foreach:?}, capturable {capturable}, fused {fused}");
        // Capturable needs device parameters (PyTorch's AssertionError otherwise).
        let places: &[Device] = if capturable {
            &[Device::Cuda]
        } else {
            &[Device::Cpu, Device::Cuda]
        };
        for &on in places {
            let o = AdamOptions {
                foreach,
                capturable,
                fused,
                ..adam
            };
            let got = three_steps(|p| Box::new(Adam::new(p, o)), on);
            assert_close(
                &got,
                &[0.86204, 2.132585, 2.737528],
                &format!("Adam {what}"),
            );
            let o = AdamOptions {
                foreach,
                capturable,
                fused,
                ..adamw
            };
            let got = three_steps(|p| Box::new(AdamW::new(p, o)), on);
            assert_close(
                &got,
                &[0.869567, 2.185461, 2.743234],
                &format!("AdamW {what}"),
            );
        }
    }
    for foreach in [Some(false), Some(true)] {
        let o = RmspropOptions {
            lr: 0.1,
            centered: true,
            momentum: 0.9,
            foreach,
            ..RmspropOptions::default()
        };
        let got = three_steps(|p| Box::new(Rmsprop::new(p, o).unwrap()), Device::Cuda);
        assert_close(&got, &[-1.111435, 4.335384, -0.274234], "RMSprop centered");
    }
}

#[test]
fn capturable_refuses_host_parameters_as_pytorch_asserts() {
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let p = rt
        .randn(&[3], Device::Cpu)
        .unwrap()
        .requires_grad_(true)
        .unwrap();
    p.set_grad(Some(rt.randn(&[3], Device::Cpu).unwrap()));
    let o = AdamOptions {
        capturable: true,
        ..AdamOptions::default()
    };
    let err = Adam::new(vec![p], o).step().unwrap_err().to_string();
    assert!(
        err.contains("If capturable=True, params and state_steps must be on supported devices"),
        "{err}"
    );
}
