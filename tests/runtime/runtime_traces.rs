//! The cpu backend (real arithmetic) and the meta backend (no data at all) must make exactly
//! the same allocations and frees for the same program: meta answers "how much memory" only if
//! it is right. Random programs over the runtime's operations, compared event by event.

use leakharness::alloc::EventKind;
use leakharness::device::Backend;
use leakharness::nn::{Linear, MSELoss, Module, ReLU, Reduction, Sequential};
use leakharness::optim::{Adam, AdamOptions, Optimizer};
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::tensor::{DType, Device, KlDivReduction, RoundingMode, Tensor, UpsampleMode};
use proptest::prelude::*;

const SHAPES: [&[usize]; 5] = [&[4, 8], &[8, 8], &[8], &[8, 4], &[]];

#[derive(Debug, Clone)]
enum Op {
    New { shape: usize, grad: bool },
    Binary { kind: u8, a: usize, b: usize },
    Unary { kind: u8, a: usize },
    Matmul { a: usize, b: usize },
    Loss { kind: u8, a: usize, b: usize },
    Backward { a: usize, retain: bool },
    Drop { a: usize },
    ZeroGrads,
    TrainStep,
    EmptyCache,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..SHAPES.len(), any::<bool>()).prop_map(|(shape, grad)| Op::New { shape, grad }),
        4 => (0u8..7, any::<usize>(), any::<usize>()).prop_map(|(kind, a, b)| Op::Binary { kind, a, b }),
        4 => (0u8..79, any::<usize>()).prop_map(|(kind, a)| Op::Unary { kind, a }),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Matmul { a, b }),
        2 => (0u8..8, any::<usize>(), any::<usize>()).prop_map(|(kind, a, b)| Op::Loss { kind, a, b }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(a, retain)| Op::Backward { a, retain }),
        2 => any::<usize>().prop_map(|a| Op::Drop { a }),
        1 => Just(Op::ZeroGrads),
        1 => Just(Op::TrainStep),
        1 => Just(Op::EmptyCache),
    ]
}

struct Outcome {
    trace: Vec<EventKind>,
    results: Vec<String>,
    nodes: usize,
    allocated: u64,
}

fn run(backend: Backend, ops: &[Op]) -> Outcome {
    let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
    let model = Sequential::new(vec![
        Box::new(Linear::new(&rt, 8, 16, true).unwrap()),
        Box::new(ReLU::new(true)),
        Box::new(Linear::new(&rt, 16, 4, true).unwrap()),
    ]);
    model.to(Device::Cuda).unwrap();
    let mut opt = Adam::new(model.parameters(), AdamOptions::default());
    // One tensor of each shape to start from, every other one requiring grad, so that even
    // short programs build graphs.
    let mut pool: Vec<Tensor> = SHAPES
        .iter()
        .enumerate()
        .map(|(i, s)| {
            rt.randn(s, Device::Cuda)
                .unwrap()
                .requires_grad_(i % 2 == 0)
                .unwrap()
        })
        .collect();
    let mut results = Vec::new();
    let pick = |pool: &Vec<Tensor>, i: usize| pool[i % pool.len()].clone();
    for op in ops {
        let result: Result<Option<Tensor>, String> = (|| {
            let r = match op {
                Op::New { shape, grad } => {
                    let t = rt
                        .randn(SHAPES[*shape], Device::Cuda)
                        .map_err(|e| e.to_string())?;
                    Some(t.requires_grad_(*grad).map_err(|e| e.to_string())?)
                }
                _ if pool.is_empty() => None,
                Op::Binary { kind, a, b } => {
                    let (a, b) = (pick(&pool, *a), pick(&pool, *b));
                    Some(
                        match kind {
                            0 => a.add(&b),
                            1 => a.sub(&b),
                            2 => a.mul(&b),
                            3 => a.div(&b),
                            4 => a.maximum(&b),
                            5 => a.minimum(&b),
                            _ => a.gt(&b).and_then(|c| Tensor::r#where(&c, &a, &b)),
                        }
                        .map_err(|e| e.to_string())?,
                    )
                }
                Op::Unary { kind, a } => {
                    let a = pick(&pool, *a);
                    Some(
                        match kind {
                            0 => a.relu(),
                            1 => a.relu_(),
                            2 => a.sum(),
                            3 => a.mean(),
                            4 => a.sum_dim(&[0], false),
                            5 => a.t(),
                            6 => Ok(a.detach()),
                            7 => a.clone_tensor(),
                            8 => a.pow(2.0),
                            9 => a.mul_scalar(0.5),
                            10 => a
                                .cpu()
                                .and_then(|h| h.add_scalar(1.0))
                                .and_then(|h| h.cuda()),
                            11 => a.add_scalar_(1.0),
                            12 => a.exp(),
                            13 => a.log(),
                            14 => a.sqrt(),
                            15 => a.tanh(),
                            16 => a.sigmoid(),
                            17 => a.abs(),
                            18 => a.gelu(),
                            19 => a.silu(),
                            20 => a.transpose(0, -1),
                            21 => a.permute(&(0..a.dim() as isize).rev().collect::<Vec<_>>()),
                            22 => a.squeeze(None),
                            23 => a.softmax(-1),
                            24 => a.t().and_then(|t| t.contiguous()),
                            25 => Tensor::cat(&[a.clone(), a.clone()], 0),
                            26 => Tensor::stack(&[a.clone(), a.clone()], 0),
                            27 => a.narrow(0, 0, 1),
                            28 => a.select_dim(-1, 0),
                            29 => a.dropout(0.5, true),
                            32 => a.max_dim(-1, false, a.dim() % 2 == 0).map(|(v, _)| v),
                            31 => a
                                .unsqueeze(0)
                                .and_then(|u| Tensor::cat(&[u.clone(), u], 0))
                                .and_then(|b| b.matmul(&b.transpose(-1, -2)?)),
                            30 => a.layer_norm(
                                &a.shape()[a.dim().saturating_sub(1)..],
                                None,
                                None,
                                1e-5,
                            ),
                            33 => a.clamp(Some(-0.5), Some(0.5)),
                            34 => a.clamp_min(0.1),
                            35 => a.clamp_max(0.1),
                            36 => a.slice(-1, Some(1), None, 2),
                            37 => Ok(a.alias()),
                            // Multi-output views: a piece keeps the one node of all pieces, and
                            // backward allocates zeros for the pieces nobody used.
                            38 => a.chunk(2, 0).map(|p| p[p.len() - 1].clone()),
                            39 => a.unbind(0).map(|p| p[0].clone()),
                            40 => a
                                .split_with_sizes(
                                    &[1, a.shape().first().map_or(0, |&n| n as i64 - 1)],
                                    0,
                                )
                                .map(|p| p[1].clone()),
                            41 => a.var(Some(&[0]), 1.0, false),
                            42 => a.std(None, 1.0, true),
                            43 => a.vector_norm(2.0, None, false),
                            44 => a.vector_norm(1.0, Some(&[-1]), false),
                            45 => a.logsumexp(&[-1], a.dim() % 2 == 0),
                            // Mixed precision: half-type copies and arithmetic, and an
                            // autocast region whose casts (and cached parameter casts) are
                            // freed when it exits.
                            46 => a.to_dtype(DType::F16).and_then(|h| h.mul_scalar(2.0)),
                            47 => a.to_dtype(DType::BF16).and_then(|h| h.exp()),
                            48 => {
                                let _region = rt.autocast(Device::Cuda, None, true, None);
                                a.transpose(-1, -2)
                                    .and_then(|t| a.matmul(&t))
                                    .and_then(|m| m.softmax(-1))
                            }
                            49 => a.max(),
                            50 => a.min(),
                            51 => a.div_scalar_mode(2, Some(RoundingMode::Floor)),
                            52 => a.sub_alpha(&a, 2.0),
                            53 => a.sin(),
                            54 => a.cos(),
                            55 => a.abs().and_then(|t| t.log1p()),
                            56 => a.expm1(),
                            57 => a
                                .abs()
                                .and_then(|t| t.add_scalar(1.0))
                                .and_then(|t| t.rsqrt()),
                            58 => a.floor(),
                            59 => a.round_decimals(1),
                            60 => a.sign(),
                            61 => a.topk(1, -1, a.dim() % 2 == 0).map(|(v, _)| v),
                            62 => a.sort(0, true).map(|(v, _)| v),
                            63 => a.argsort(-1, false),
                            64 => a.tril(0),
                            65 => a.cumsum(-1),
                            66 => a.flip(&[0]),
                            67 => a.repeat(&vec![2; a.dim().max(1)]),
                            68 => a.isfinite(),
                            69 => a.any_dim(0, true),
                            70 => a.isinf(),
                            71 => a.softplus(1.0, 20.0),
                            72 => a.constant_pad(&[1, -1], 2.0),
                            73 => a.dropout2d(0.5, true),
                            74 => a.roll(&[1], &[-1]),
                            75 => a.roll(&[2], &[]),
                            76 => a.group_norm(2, None, None, 1e-5),
                            77 => a.unsqueeze(0).and_then(|u| u.unsqueeze(0)).and_then(|u| {
                                let mode = UpsampleMode::Bilinear {
                                    align_corners: false,
                                };
                                u.upsample2d([5, 3], mode, None)
                            }),
                            _ => a.argmax(0, false),
                        }
                        .map_err(|e| e.to_string())?,
                    )
                }
                Op::Matmul { a, b } => Some(
                    pick(&pool, *a)
                        .matmul(&pick(&pool, *b))
                        .map_err(|e| e.to_string())?,
                ),
                Op::Loss { kind, a, b } => {
                    let (a, b) = (pick(&pool, *a), pick(&pool, *b));
                    Some(
                        match kind {
                            0 => a.mse_loss(&b, Reduction::Mean),
                            1 => a.mse_loss(&b, Reduction::None),
                            2 => rt
                                .randint(
                                    0,
                                    a.shape().get(1).copied().unwrap_or(1) as i64,
                                    &[a.shape().first().copied().unwrap_or(1)],
                                    Device::Cuda,
                                )
                                .and_then(|t| a.cross_entropy(&t, Reduction::Mean)),
                            3 => a.smooth_l1_loss(&b, Reduction::Mean, 1.0),
                            5 => {
                                a.binary_cross_entropy_with_logits(&b, None, None, Reduction::Mean)
                            }
                            // Fresh probabilities: a pooled tensor may hold NaN (the log of a
                            // negative), which the cpu kernel refuses as PyTorch's does but meta,
                            // having no values, cannot see.
                            6 => rt
                                .rand(a.shape(), Device::Cuda)
                                .and_then(|p| p.requires_grad_(true))
                                .and_then(|p| {
                                    let target = rt.rand(a.shape(), Device::Cuda)?;
                                    p.binary_cross_entropy(&target, None, Reduction::Sum)
                                }),
                            7 => a.kl_div(&b, KlDivReduction::BatchMean, false),
                            _ => model.forward(&a),
                        }
                        .map_err(|e| e.to_string())?,
                    )
                }
                Op::Backward { a, retain } => {
                    let a = pick(&pool, *a);
                    let _ = a.item().map(|v| v.is_nan());
                    a.backward(None, *retain).map_err(|e| e.to_string())?;
                    None
                }
                Op::Drop { a } => {
                    let i = a % pool.len();
                    pool.remove(i);
                    None
                }
                Op::ZeroGrads => {
                    for t in &pool {
                        t.set_grad(None);
                    }
                    opt.zero_grad(true).map_err(|e| e.to_string())?;
                    None
                }
                Op::TrainStep => {
                    let x = rt.randn(&[4, 8], Device::Cuda).map_err(|e| e.to_string())?;
                    let y = rt.randn(&[4, 4], Device::Cuda).map_err(|e| e.to_string())?;
                    let loss = MSELoss::default()
                        .forward(&model.forward(&x).map_err(|e| e.to_string())?, &y)
                        .map_err(|e| e.to_string())?;
                    loss.backward(None, false).map_err(|e| e.to_string())?;
                    opt.step().map_err(|e| e.to_string())?;
                    Some(loss)
                }
                Op::EmptyCache => {
                    rt.allocator_mut()
                        .empty_cache()
                        .map_err(|e| e.to_string())?;
                    None
                }
            };
            Ok(r)
        })();
        match result {
            Ok(Some(t)) => {
                results.push(format!("{:?} {:?}", t.shape(), t.dtype()));
                pool.push(t);
            }
            Ok(None) => results.push("ok".into()),
            Err(e) => results.push(e),
        }
    }
    let nodes = rt.live_nodes();
    let allocated = rt.memory_allocated();
    drop(pool);
    drop(opt);
    drop(model);
    assert_eq!(rt.live_nodes(), 0, "graphs outlive every tensor");
    assert_eq!(rt.memory_allocated(), 0, "memory outlives every tensor");
    let trace = rt.allocator().history().trace();
    Outcome {
        trace,
        results,
        nodes,
        allocated,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn cpu_and_meta_make_the_same_allocations(ops in proptest::collection::vec(op(), 1..60)) {
        let cpu = run(Backend::Cpu, &ops);
        let meta = run(Backend::Meta, &ops);
        prop_assert_eq!(&cpu.results, &meta.results);
        prop_assert_eq!(cpu.nodes, meta.nodes);
        prop_assert_eq!(cpu.allocated, meta.allocated);
        prop_assert_eq!(cpu.trace, meta.trace);
    }
}
