//! The leak checker on small scenarios whose answers follow from PyTorch's rules: each leak kind
//! with its exact bytes and graph nodes per iteration and its retaining line, bounded patterns
//! judged clean, and the same findings on cpu and meta for every gallery scenario.

use std::path::Path;

use leakharness::check::{check_scenario, discover, CheckOptions};
use leakharness::device::Backend;
use leakharness::report::{LeakKind, Report, Verdict};
use leakharness::scenario::{load, parse_scenario};

use crate::gallery::cpu_report;

const PRELUDE: &str = "import torch\nimport torch.nn as nn\n\
device = \"cuda\" if torch.cuda.is_available() else \"cpu\"\n\
model = nn.Linear(8, 4).to(device)\n\
opt = torch.optim.SGD(model.parameters(), lr=0.1)\n";

/// Checks `body` after the prelude (5 lines: the body starts at line 6) on `backend`.
fn check_on(backend: Backend, body: &str) -> Report {
    let src = format!("{PRELUDE}{body}");
    let scenario = parse_scenario(Path::new("t.py"), &src).unwrap_or_else(|e| panic!("{e}"));
    check_scenario(
        &scenario,
        &CheckOptions {
            backend,
            ..CheckOptions::default()
        },
    )
    .unwrap()
}

fn check(body: &str) -> Report {
    let report = check_on(Backend::Cpu, body);
    assert_eq!(
        report.after_teardown.after_empty_cache, report.baseline,
        "every scenario returns to the baseline at teardown"
    );
    report
}

fn one_leak(r: &Report) -> &leakharness::report::Leak {
    assert_eq!(r.verdict, Verdict::Leak, "{r:#?}");
    assert_eq!(r.leaks.len(), 1, "{:#?}", r.leaks);
    &r.leaks[0]
}

// x: 32x8 f32 = 1024 B; y, the output and its grad: 32x4 f32 = 512 B; the loss: 4 B -> 512 B.
const STEP: &str = concat!(
    "    x = torch.randn(32, 8, device=device)\n",
    "    y = torch.randn(32, 4, device=device)\n",
    "    loss = nn.functional.mse_loss(model(x), y)\n",
);

#[test]
fn a_detached_loss_kept_in_a_list_is_a_tensor_list_leak_of_512_bytes_per_step() {
    let r = check(&format!("losses = []\nfor step in range(5):\n{STEP}    loss.backward()\n    opt.step()\n    opt.zero_grad()\n    losses.append(loss.detach())\n"));
    let l = one_leak(&r);
    assert_eq!(l.kinds, [LeakKind::TensorList]);
    assert_eq!((l.retained_by.line, l.retained_by.column), (14, 5));
    assert_eq!(l.retained_by.statement, "losses.append(loss.detach())");
    assert_eq!(
        (l.bytes_per_iteration, l.graph_nodes_per_iteration),
        (512, 0)
    );
    assert_eq!(l.alloc_sites.len(), 1);
    assert_eq!(
        (
            l.alloc_sites[0].at.line,
            l.alloc_sites[0].bytes,
            l.alloc_sites[0].count
        ),
        (10, 512, 1)
    );
    assert_eq!(l.retention_path[0], "losses[0]");
    assert!(l.help.contains("loss.item()"), "{}", l.help);
}

#[test]
fn an_attached_loss_kept_after_backward_retains_its_graph() {
    let r = check(&format!("losses = []\nfor step in range(5):\n{STEP}    loss.backward()\n    opt.step()\n    opt.zero_grad()\n    losses.append(loss)\n"));
    let l = one_leak(&r);
    assert_eq!(l.kinds, [LeakKind::TensorList, LeakKind::RetainedGraph]);
    // Backward freed what the graph saved; the loss itself and 3 nodes per step remain:
    // MseLossBackward0, AddmmBackward0 and TBackward0 (AccumulateGrad nodes are shared).
    assert_eq!(
        (l.bytes_per_iteration, l.graph_nodes_per_iteration),
        (512, 3)
    );
    assert_eq!(l.retained_by.line, 14);
}

#[test]
fn retain_graph_with_the_loss_kept_keeps_every_saved_tensor() {
    let r = check(&format!("kept = []\nfor step in range(4):\n{STEP}    loss.backward(retain_graph=True)\n    opt.zero_grad()\n    kept.append(loss)\n"));
    let l = one_leak(&r);
    assert_eq!(l.kinds, [LeakKind::TensorList, LeakKind::RetainedGraph]);
    // loss 512 + MseLossBackward0's input (the output, 512) and target (y, 512) + AddmmBackward0's
    // mat1 (x, 1024); mat2 is weight.t(), a view.
    assert_eq!(
        (l.bytes_per_iteration, l.graph_nodes_per_iteration),
        (2560, 3)
    );
    assert!(
        l.retention_path
            .iter()
            .any(|s| s.starts_with("grad_fn AddmmBackward0")),
        "{:?}",
        l.retention_path
    );
}

#[test]
fn a_running_total_of_attached_losses_is_an_attached_metric() {
    let r = check(&format!("total = 0\nfor step in range(6):\n{STEP}    loss.backward()\n    opt.step()\n    opt.zero_grad()\n    total += loss\n"));
    let l = one_leak(&r);
    assert_eq!(l.kinds, [LeakKind::AttachedMetric]);
    assert_eq!(
        (l.retained_by.line, l.retained_by.statement.as_str()),
        (14, "total += loss")
    );
    // The total is updated in place (no bytes), but each step chains its graph: 3 nodes of the
    // loss and the AddBackward0 of the in-place add.
    assert_eq!((l.bytes_per_iteration, l.graph_nodes_per_iteration), (0, 4));
    assert!(l.help.contains("loss.detach() or float(loss)"));
}

#[test]
fn evaluation_without_no_grad_keeping_outputs_is_missing_no_grad() {
    let r = check("outputs = []\nfor step in range(4):\n    x = torch.randn(32, 8, device=device)\n    outputs.append(model(x))\n");
    let l = one_leak(&r);
    assert_eq!(l.kinds, [LeakKind::TensorList, LeakKind::MissingNoGrad]);
    // The 32x4 output (512) and AddmmBackward0's saved input x (1024); AddmmBackward0 + TBackward0.
    assert_eq!(
        (l.bytes_per_iteration, l.graph_nodes_per_iteration),
        (1536, 2)
    );
    assert!(l.help.contains("torch.no_grad()"));
}

#[test]
fn leaks_in_nested_loops_are_per_inner_iteration() {
    let r = check(&format!("history = []\nfor epoch in range(2):\n    for step in range(3):\n{}        loss.backward()\n        opt.step()\n        opt.zero_grad()\n        history.append(loss.detach())\n", STEP.replace("    ", "        ")));
    let l = one_leak(&r);
    assert_eq!((l.bytes_per_iteration, l.retained_by.line), (512, 15));
    assert_eq!(
        r.iterations.len(),
        2 * 3 + 2,
        "a checkpoint per step and per epoch"
    );
}

#[test]
fn bounded_patterns_are_clean() {
    let cases = [
        // Optimizer state created at the first step, then constant.
        format!("opt = torch.optim.Adam(model.parameters())\nfor step in range(5):\n{STEP}    loss.backward()\n    opt.step()\n    opt.zero_grad()\n"),
        // Warm-up: the first two steps keep something, later ones do not.
        format!("warm = []\nfor step in range(6):\n{STEP}    if step < 2:\n        warm.append(loss.detach())\n"),
        // A running total updated in place from detached losses.
        format!("total = torch.zeros((), device=device)\nfor step in range(5):\n{STEP}    total += loss.detach()\n"),
        // Logging on the host.
        format!("log = []\nfor step in range(5):\n{STEP}    loss.backward()\n    log.append(loss.item())\n    opt.zero_grad()\n"),
        // Evaluation under no_grad keeping its outputs only for the current step.
        "with torch.no_grad():\n    for step in range(4):\n        out = model(torch.randn(32, 8, device=device))\n".to_string(),
        // A graph retained for a second backward, then dropped.
        format!("for step in range(4):\n{STEP}    loss.backward(retain_graph=True)\n    loss.backward()\n    opt.zero_grad()\n"),
    ];
    for body in &cases {
        let r = check(body);
        assert_eq!(r.verdict, Verdict::Clean, "{body}\n{:#?}", r.leaks);
        assert!(r.passed);
    }
}

#[test]
fn a_detached_list_made_every_epoch_is_bounded_growth_not_a_leak() {
    let body = format!(
        "for epoch in range(3):\n    epoch_losses = []\n    for step in range(4):\n{}        epoch_losses.append(loss.detach())\n",
        STEP.replace("    ", "        ")
    );
    let r = check(&body);
    assert_eq!(r.verdict, Verdict::BoundedGrowth, "{:#?}", r.leaks);
    assert!(r.passed, "`expect: clean` accepts bounded growth");
    assert!(r.leaks.is_empty());
    let [b] = &r.bounded_growth[..] else {
        panic!("one bounded growth: {:#?}", r.bounded_growth)
    };
    assert_eq!(
        b.retained_by.statement,
        "epoch_losses.append(loss.detach())"
    );
    assert_eq!(b.released_by.statement, "for epoch in range(3):");
    // loss.detach() shares the loss's storage: one f32 rounded up to 512 B per step.
    assert_eq!(b.bytes_per_iteration, 512);
    assert_eq!(b.projected_bytes, 512 * 10_000);
}

#[test]
fn the_peak_is_broken_down_by_purpose_and_statement() {
    let r = check(&format!(
        "for step in range(2):\n{STEP}    loss.backward()\n    opt.step()\n    opt.zero_grad()\n"
    ));
    assert!(r.peak.allocated > 0);
    assert_eq!(r.peak.by_purpose.values().sum::<u64>(), r.peak.allocated);
    assert_eq!(
        r.peak.by_purpose["parameter"],
        512 + 512,
        "weight 4x8 and bias 4, each rounded to 512"
    );
    assert!(r
        .peak
        .by_statement
        .iter()
        .any(|s| s.at.statement.starts_with("x = torch.randn")));
}

#[test]
fn an_oom_reports_the_memory_by_purpose_and_statement() {
    let src = "#@ expect: oom\n#@ device-memory: 4MiB\nimport torch\nkeep = []\nfor i in range(100):\n    keep.append(torch.zeros(64, 1024, device=\"cuda\"))\n";
    let scenario = parse_scenario(Path::new("t.py"), src).unwrap();
    let r = check_scenario(
        &scenario,
        &CheckOptions {
            backend: Backend::Meta,
            ..CheckOptions::default()
        },
    )
    .unwrap();
    assert_eq!((r.verdict, r.passed), (Verdict::Oom, true));
    let oom = r.oom.expect("oom details");
    assert!(
        oom.message
            .starts_with("CUDA out of memory. Tried to allocate 2.00 MiB."),
        "{}",
        oom.message
    );
    assert_eq!(oom.at.unwrap().line, 6);
    // Four 256 KiB tensors fill the first 2 MiB segment... 8 fill both; the ninth needs a third.
    assert_eq!(oom.memory.by_purpose["user-tensor"], 4 << 20);
    assert_eq!(oom.memory.by_statement[0].bytes, 4 << 20);
}

/// Checks the gallery scenario at `path` on meta and asserts it finds what cpu finds: the
/// verdict, each leak's kinds, retaining line, bytes and graph nodes per iteration, the
/// iterations, the peak and what is left after teardown.
fn cpu_and_meta_find_the_same(path: &Path) {
    let meta = check_scenario(
        &load(path).unwrap(),
        &CheckOptions {
            backend: Backend::Meta,
            ..CheckOptions::default()
        },
    )
    .unwrap();
    let cpu = cpu_report(path);
    let name = path.display();
    assert_eq!(cpu.verdict, meta.verdict, "{name}");
    assert_eq!(cpu.leaks.len(), meta.leaks.len(), "{name}");
    for (a, b) in cpu.leaks.iter().zip(&meta.leaks) {
        assert_eq!(
            (
                &a.kinds,
                a.retained_by.line,
                a.bytes_per_iteration,
                a.graph_nodes_per_iteration
            ),
            (
                &b.kinds,
                b.retained_by.line,
                b.bytes_per_iteration,
                b.graph_nodes_per_iteration
            ),
            "{name}"
        );
    }
    assert_eq!(cpu.iterations, meta.iterations, "{name}");
    assert_eq!(cpu.peak.allocated, meta.peak.allocated, "{name}");
    assert_eq!(
        cpu.after_teardown.after_empty_cache, meta.after_teardown.after_empty_cache,
        "{name}"
    );
}

/// One test per part of the gallery, so that libtest's threads share the comparison (every
/// scenario on cpu and on meta is most of this binary's time; as one test it was the binary's
/// long pole). Part `k` of `n` takes the scenarios at positions `k`, `k + n`, `k + 2n`... of the
/// sorted gallery: the heavy `leaks/` folder is spread over every part, and the parts together
/// take every scenario exactly once.
macro_rules! cpu_and_meta_gallery_parts {
    ($($test:ident: $part:literal),+ $(,)?) => {
        /// The part numbers the tests below were given, in order.
        const GALLERY_PARTS: &[usize] = &[$($part),+];

        $(
            #[test]
            fn $test() {
                cpu_and_meta_find_the_same_in_gallery_part($part);
            }
        )+
    };
}

cpu_and_meta_gallery_parts!(
    cpu_and_meta_find_the_same_in_gallery_part_0: 0,
    cpu_and_meta_find_the_same_in_gallery_part_1: 1,
    cpu_and_meta_find_the_same_in_gallery_part_2: 2,
    cpu_and_meta_find_the_same_in_gallery_part_3: 3,
    cpu_and_meta_find_the_same_in_gallery_part_4: 4,
    cpu_and_meta_find_the_same_in_gallery_part_5: 5,
    cpu_and_meta_find_the_same_in_gallery_part_6: 6,
    cpu_and_meta_find_the_same_in_gallery_part_7: 7,
);

fn cpu_and_meta_find_the_same_in_gallery_part(part: usize) {
    let parts = GALLERY_PARTS.len();
    assert!(
        GALLERY_PARTS.iter().copied().eq(0..parts),
        "the parts must be numbered 0..{parts} in order, or a scenario is compared twice or never: {GALLERY_PARTS:?}"
    );
    let files = discover(&[Path::new("scenarios").to_path_buf()]).unwrap();
    assert!(files.len() >= parts, "{files:?}");
    for path in files.iter().skip(part).step_by(parts) {
        cpu_and_meta_find_the_same(path);
    }
}

/// A leak as (retaining line, kinds, bytes and graph nodes per iteration of the innermost loop
/// around it, the line of the loop that releases it).
type LeakRow<'a> = (u32, &'a [LeakKind], u64, u64, Option<u32>);

/// What one gallery scenario must report: its leaks, and each bounded growth as (line, bytes
/// per iteration, releasing line).
struct Growth {
    file: &'static str,
    verdict: Verdict,
    leaks: &'static [LeakRow<'static>],
    bounded: &'static [(u32, u64, u32)],
}

// The figures follow from PyTorch's rules (docs/autograd.md, docs/allocator.md). Every gallery
// model is `nn.Linear(64, 10)`, whose forward is `addmm(bias, x, weight.t())`: a TBackward0 for
// `weight.t()` and an AddmmBackward0 that saves `x` (mat1; mat2 is a view of the weight and
// costs nothing). `nn.CrossEntropyLoss` is log_softmax then nll_loss: LogSoftmaxBackward0 saves
// its 32×10 f32 result (1280 B, rounded up to 1536 B), NllLossBackward0 the same result, the
// int64 targets and the total weight. `backward()` frees every saved tensor; the 0-dim f32 loss
// is one 512 B block. The AccumulateGrad nodes of weight and bias are shared by every step, so
// they never grow.
const GROWTH_GALLERY: [Growth; 11] = [
    // `running_loss += loss` after backward: the in-place add records an AddBackward0 that
    // saves nothing and chains this step's NllLoss, LogSoftmax, Addmm and T nodes, whose
    // saved tensors backward freed; the loss's own block dies when `loss` is rebound.
    // 0 B and 5 nodes per step, until line 12 starts the next epoch.
    Growth {
        file: "leaks/per_epoch_total_attached.py",
        verdict: Verdict::Leak,
        leaks: &[(21, &[LeakKind::AttachedMetric], 0, 5, Some(12))],
        bounded: &[],
    },
    // `epoch_losses.append(loss)` after backward: the 512 B loss and its 4 nodes per step.
    Growth {
        file: "leaks/per_epoch_losses_attached.py",
        verdict: Verdict::Leak,
        leaks: &[(
            21,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            512,
            4,
            Some(12),
        )],
        bounded: &[],
    },
    // No backward runs through validation outputs: each keeps its 32×10 output (1536 B) and,
    // through AddmmBackward0, the 32×64 f32 input it saved (8192 B): 9728 B and 2 nodes
    // (Addmm, T) per batch.
    Growth {
        file: "leaks/per_epoch_validation_without_no_grad.py",
        verdict: Verdict::Leak,
        leaks: &[(
            24,
            &[LeakKind::TensorList, LeakKind::MissingNoGrad],
            1536 + 8192,
            2,
            Some(12),
        )],
        bounded: &[],
    },
    // Three loops deep: the list made every epoch grows with batches and micro-batches, so it
    // is judged at the batch loop and released by the epoch loop; per micro-batch, the 512 B
    // loss and 5 nodes (DivBackward0 for `/ 2`, whose divisor is a Python number, then
    // NllLoss, LogSoftmax, Addmm, T).
    Growth {
        file: "leaks/nested_three_deep_history.py",
        verdict: Verdict::Leak,
        leaks: &[(
            21,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            512,
            5,
            Some(12),
        )],
        bounded: &[],
    },
    // The summed loss grows by a graph per sequence, which the batch's backward consumes.
    Growth {
        file: "clean/per_sequence_losses_one_backward.py",
        verdict: Verdict::Clean,
        leaks: &[],
        bounded: &[],
    },
    // `output.detach()` shares the output's 1536 B block and drops the graph.
    Growth {
        file: "bounded/per_epoch_predictions_detached.py",
        verdict: Verdict::BoundedGrowth,
        leaks: &[],
        bounded: &[(22, 1536, 12)],
    },
    // A `while` loop at top level, as the running total above: `total_loss = 0.0 + loss` makes
    // a tensor at the first step, and every later `+=` adds in place, recording an AddBackward0
    // that saves nothing and chains the step's NllLoss, LogSoftmax, Addmm and T nodes (their
    // saved tensors freed by backward; the loss's block freed when `loss` is rebound). 0 B and
    // 5 nodes per step, and nothing releases them. The engine cannot run a `while` longer, so
    // the loop is measured within its one execution, after 2, 4 and 6 of its 6 steps.
    Growth {
        file: "leaks/while_loop_running_total.py",
        verdict: Verdict::Leak,
        leaks: &[(22, &[LeakKind::AttachedMetric], 0, 5, None)],
        bounded: &[],
    },
    // The per-epoch list of attached losses, local to `train_one_epoch()` (line 13): the step
    // loop runs in the function's frame, called from the epoch loop (line 26), which is the
    // loop around it; the list dies when the call returns. Per step, the 512 B loss and its 4
    // nodes (NllLoss, LogSoftmax, Addmm, T), held by the function's local `losses`.
    Growth {
        file: "leaks/per_epoch_function_losses_attached.py",
        verdict: Verdict::Leak,
        leaks: &[(
            22,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            512,
            4,
            Some(26),
        )],
        bounded: &[],
    },
    // `feature_maps.append(maps)` after backward: the 4×8×4×4 pooled map (2048 B) and its
    // MaxPool2DWithIndices, Relu, NativeBatchNorm and Convolution nodes, whose saved tensors
    // (the indices included) backward freed.
    // `scaled_losses.append(scaler.scale(loss))` under autocast: the 0-dim scaled loss
    // (512 B) and its 13 nodes, as torch 2.15 counts them for the same model under CPU
    // autocast: Mul, NllLoss, LogSoftmax, the ToCopy of the float16 logits, and per Linear
    // Addmm, T and the ToCopy nodes of its weight and bias casts (new every step: the cache is
    // cleared at each region's exit), with the ReLU between.
    Growth {
        file: "leaks/amp_kept_scaled_loss.py",
        verdict: Verdict::Leak,
        leaks: &[(
            24,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            512,
            13,
            None,
        )],
        bounded: &[],
    },
    // `losses.append(loss)` after the U-Net's backward: the 0-dim MSE loss, a view of its
    // 4×3×16×16 element-wise buffer (12,288 B), and its 14 nodes, as torch 2.15 counts them:
    // MseLoss, four Convolution, three NativeGroupNorm and Silu, Cat, UpsampleNearest2D and
    // AvgPool2D.
    Growth {
        file: "leaks/unet_denoiser_losses_kept.py",
        verdict: Verdict::Leak,
        leaks: &[(
            47,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            12288,
            14,
            None,
        )],
        bounded: &[],
    },
    Growth {
        file: "leaks/conv_feature_maps_kept.py",

        verdict: Verdict::Leak,
        leaks: &[(
            27,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            2048,
            4,
            None,
        )],
        bounded: &[],
    },
];

#[test]
fn gallery_growth_in_every_loop_follows_pytorchs_rules() {
    for expected in &GROWTH_GALLERY {
        let r = cpu_report(&Path::new("scenarios").join(expected.file));
        let name = expected.file;
        assert_eq!(r.verdict, expected.verdict, "{name}: {:#?}", r.leaks);
        assert!(r.passed, "{name}");
        let leaks: Vec<LeakRow<'_>> = r
            .leaks
            .iter()
            .map(|l| {
                (
                    l.retained_by.line,
                    l.kinds.as_slice(),
                    l.bytes_per_iteration,
                    l.graph_nodes_per_iteration,
                    l.released_by.as_ref().map(|s| s.line),
                )
            })
            .collect();
        assert_eq!(leaks, expected.leaks, "{name}");
        for l in &r.leaks {
            let projected = l
                .released_by
                .as_ref()
                .map(|_| l.bytes_per_iteration * 10_000);
            assert_eq!(l.projected_bytes, projected, "{name}");
        }
        let bounded: Vec<_> = r
            .bounded_growth
            .iter()
            .map(|b| {
                (
                    b.retained_by.line,
                    b.bytes_per_iteration,
                    b.released_by.line,
                )
            })
            .collect();
        assert_eq!(bounded, expected.bounded, "{name}");
        for b in &r.bounded_growth {
            assert_eq!(b.projected_bytes, b.bytes_per_iteration * 10_000, "{name}");
        }
    }
}

#[test]
fn while_loops_and_loops_in_functions_are_judged_as_for_loops_at_top_level() {
    let while_body = |kept: &str| {
        format!(
            "total = 0.0\nstep = 0\nwhile step < 6:\n{STEP}    loss.backward()\n    opt.step()\n    opt.zero_grad()\n    total += {kept}\n    step += 1\n"
        )
    };
    let r = check(&while_body("loss.item()"));
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.leaks);
    let r = check(&while_body("loss"));
    let l = one_leak(&r);
    assert_eq!(l.kinds, [LeakKind::AttachedMetric]);
    assert_eq!(l.retained_by.statement, "total += loss");
    assert_eq!(l.released_by, None);
    // Each step chains MseLoss, Addmm, T and the in-place AddBackward0; backward freed what
    // they saved.
    assert_eq!((l.bytes_per_iteration, l.graph_nodes_per_iteration), (0, 4));

    let function_body = |kept: &str| {
        format!(
            "def epoch(steps):\n    outs = []\n    for step in range(steps):\n{}        outs.append({kept})\n    return len(outs)\n\nfor e in range(3):\n    epoch(4)\n",
            STEP.replace("    ", "        ")
        )
    };
    let r = check(&function_body("loss.item()"));
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.leaks);
    // Detached data in a list local to the call: released when the call returns, at every
    // iteration of the caller's loop.
    let r = check(&function_body("loss.detach()"));
    assert_eq!(r.verdict, Verdict::BoundedGrowth, "{:#?}", r.leaks);
    let [b] = &r.bounded_growth[..] else {
        panic!("one bounded growth: {:#?}", r.bounded_growth)
    };
    assert_eq!(b.retained_by.statement, "outs.append(loss.detach())");
    assert_eq!(b.released_by.statement, "for e in range(3):");
    assert_eq!(b.bytes_per_iteration, 512);
}

#[test]
fn a_later_backward_through_another_graph_does_not_consume_kept_validation_outputs() {
    // Validation first, training after it in the same epoch: the training backward runs
    // through the shared AccumulateGrad nodes, not through the kept outputs' graphs.
    let r = check(&format!(
        "for epoch in range(2):\n    outs = []\n    for b in range(3):\n        outs.append(model(torch.randn(32, 8, device=device)))\n    for step in range(2):\n{}        loss.backward()\n        opt.step()\n        opt.zero_grad()\n",
        STEP.replace("    ", "        ")
    ));
    let l = one_leak(&r);
    assert_eq!(l.kinds, [LeakKind::TensorList, LeakKind::MissingNoGrad]);
    assert_eq!(l.retained_by.line, 9);
    assert_eq!(l.released_by.as_ref().map(|s| s.line), Some(6));
    // The 32×4 output (512 B) and the 32×8 input AddmmBackward0 saved (1024 B).
    assert_eq!(l.bytes_per_iteration, 512 + 1024);
}

#[test]
fn a_graph_grown_over_micro_batches_and_consumed_by_one_backward_is_clean() {
    let r = check(
        "for step in range(3):\n    loss = 0\n    for micro in range(4):\n        x = torch.randn(32, 8, device=device)\n        loss = loss + model(x).pow(2).mean()\n    loss.backward()\n    opt.step()\n    opt.zero_grad()\n",
    );
    assert_eq!(r.verdict, Verdict::Clean, "{:#?}", r.leaks);
    assert!(r.bounded_growth.is_empty());
}

#[test]
fn the_top_level_history_of_the_gallery_is_released_by_nothing() {
    let r = cpu_report(Path::new("scenarios/leaks/nested_epoch_step_history.py"));
    let l = one_leak(&r);
    assert_eq!(
        (l.retained_by.line, l.released_by.clone(), l.projected_bytes),
        (22, None, None)
    );
}

mod rust_api {
    use std::path::Path;

    use leakharness::check::{assert_no_leaks, check, check_scenario, CheckOptions};
    use leakharness::device::Backend;
    use leakharness::nn::{Linear, Module};
    use leakharness::report::{LeakKind, Verdict};
    use leakharness::scenario::parse_scenario;
    use leakharness::tensor::Device;

    fn options() -> CheckOptions {
        CheckOptions {
            backend: Backend::Cpu,
            ..CheckOptions::default()
        }
    }

    #[test]
    fn a_clean_training_loop_passes_the_assertion() {
        let report = check(&options(), |rt, lp| {
            let layer = Linear::new(rt, 8, 4, true)?;
            layer.to(Device::Cuda)?;
            let mut log = Vec::new();
            lp.run(5, |_| {
                let x = rt.randn(&[16, 8], Device::Cuda)?;
                let loss = layer.forward(&x)?.pow(2.0)?.mean()?;
                loss.backward(None, false)?;
                layer.zero_grad(true)?;
                log.push(loss.item()?);
                Ok(())
            })
        })
        .unwrap();
        assert_no_leaks(&report);
        assert_eq!(report.iterations.len(), 5);
        assert_eq!(report.after_teardown.after_empty_cache.reserved, 0);
    }

    #[test]
    fn the_rust_api_and_a_scenario_of_the_same_program_find_the_same_leak() {
        let src = "import torch\n\
                   w = torch.randn(16, device=\"cuda\", requires_grad=True)\n\
                   kept = []\n\
                   for i in range(4):\n    kept.append((w * 2.0).sum())\n";
        let scenario = parse_scenario(Path::new("same.py"), src).unwrap();
        let from_scenario = check_scenario(&scenario, &options()).unwrap();
        let push_line = line!() + 5;
        let from_rust = check(&options(), |rt, lp| {
            let w = rt.randn(&[16], Device::Cuda)?.requires_grad_(true)?;
            let mut kept = Vec::new();
            lp.run(4, |_| {
                kept.push(w.mul_scalar(2.0)?.sum()?);
                Ok(())
            })
        })
        .unwrap();
        let (s, r) = (&from_scenario.leaks, &from_rust.leaks);
        assert_eq!((s.len(), r.len()), (1, 1), "{s:#?}\n{r:#?}");
        // The kept sums (512 B each) and their graphs (MulBackward0, SumBackward0).
        assert_eq!(s[0].kinds, [LeakKind::TensorList, LeakKind::RetainedGraph]);
        assert_eq!(r[0].kinds, s[0].kinds);
        assert_eq!(
            (r[0].bytes_per_iteration, r[0].graph_nodes_per_iteration),
            (s[0].bytes_per_iteration, s[0].graph_nodes_per_iteration)
        );
        assert_eq!(
            (s[0].bytes_per_iteration, s[0].graph_nodes_per_iteration),
            (512, 2)
        );
        assert_eq!(r[0].help, s[0].help);
        // The retaining statement, each in its own source: the append, and the push.
        assert_eq!(
            (s[0].retained_by.line, s[0].retained_by.statement.as_str()),
            (5, "kept.append((w * 2.0).sum())")
        );
        assert_eq!(r[0].retained_by.line, push_line, "{:#?}", r[0].retained_by);
        assert!(
            r[0].retained_by
                .statement
                .contains("the_rust_api_and_a_scenario_of_the_same_program_find_the_same_leak")
                && r[0].retained_by.statement.contains("check.rs"),
            "{:#?}",
            r[0].retained_by
        );
        // The chain that holds it, from the loop down to the kept tensor.
        assert!(
            r[0].retention_path[0].starts_with("what the program keeps across the loop at ")
                && r[0]
                    .retention_path
                    .last()
                    .unwrap()
                    .starts_with("512 bytes temporary, allocated at "),
            "{:?}",
            r[0].retention_path
        );
    }

    #[test]
    fn kept_losses_leak_with_stacks_that_start_in_the_callers_code() {
        let report = check(&options(), |rt, lp| {
            let layer = Linear::new(rt, 8, 4, true)?;
            layer.to(Device::Cuda)?;
            let mut kept = Vec::new();
            lp.run(4, |_| {
                let x = rt.randn(&[16, 8], Device::Cuda)?;
                let loss = layer.forward(&x)?.pow(2.0)?.mean()?;
                loss.backward(None, false)?;
                kept.push(loss);
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(report.verdict, Verdict::Leak);
        let leak = &report.leaks[0];
        // As for `losses.append(loss)` in a scenario: the kept tensors grow, and so does the
        // graph each keeps (a backward ran through it, so it is retained, not unused).
        assert_eq!(leak.kinds, [LeakKind::TensorList, LeakKind::RetainedGraph]);
        // The loss (512 B) and its nodes: MeanBackward0, PowBackward0, AddmmBackward0, TBackward0.
        assert_eq!(
            (leak.bytes_per_iteration, leak.graph_nodes_per_iteration),
            (512, 4)
        );
        let site = &leak.alloc_sites[0];
        assert!(
            site.stack[0]
                .function
                .contains("kept_losses_leak_with_stacks_that_start_in_the_callers_code"),
            "{:#?}",
            site.stack
        );
        assert!(std::panic::catch_unwind(|| assert_no_leaks(&report)).is_err());
    }
}

#[test]
fn deep_graphs_and_long_histories_are_walked_without_exhausting_the_stack() {
    // A running total of 3000 attached steps: a 6000-node chain, and an allocator history whose
    // early events were dropped (the peak is rebuilt from what is left).
    let r = check_on(
        Backend::Meta,
        "w = torch.zeros(1, device=device, requires_grad=True)\ntotal = torch.zeros(1, device=device)\nfor i in range(3000):\n    total = total + w * 2.0\n",
    );
    let l = one_leak(&r);
    assert_eq!(l.kinds, [LeakKind::AttachedMetric]);
    assert_eq!((l.bytes_per_iteration, l.graph_nodes_per_iteration), (0, 2));
    assert!(
        l.retention_path
            .iter()
            .any(|s| s == "grad_fn AddBackward0 (×3000)"),
        "{:?}",
        l.retention_path
    );
}

#[test]
fn device_tensors_kept_in_nested_lists_are_tensor_list_leaks() {
    let r = check("hist = []\nfor step in range(4):\n    x = torch.randn(32, 8, device=device)\n    hist.append([model(x).detach()])\n");
    let l = one_leak(&r);
    assert_eq!(l.kinds, [LeakKind::TensorList]);
    assert_eq!(l.bytes_per_iteration, 512);
    assert_eq!(
        l.retention_path[..2],
        ["hist[0]".to_string(), "[0]".to_string()]
    );
}

/// The human summary and the Markdown report of every gallery scenario that leaks or grows,
/// pinned as insta snapshots (`tests/checker/snapshots/`). What differs between machines is fixed
/// first: the device's description, and the Rust stacks (their paths and lines move with every
/// edit of the runtime).
mod report_snapshots {
    use std::path::Path;

    use leakharness::check::discover;
    use leakharness::report::{human_summary, render_markdown, Report};

    fn machine_independent(mut r: Report) -> Report {
        r.device = "cpu (simulated)".into();
        for l in &mut r.leaks {
            for s in &mut l.alloc_sites {
                s.stack.clear();
            }
        }
        for b in &mut r.bounded_growth {
            for s in &mut b.alloc_sites {
                s.stack.clear();
            }
        }
        for b in &mut r.after_teardown.live_blocks {
            b.stack.clear();
        }
        r
    }

    #[test]
    fn gallery_leak_and_bounded_growth_reports() {
        // Relative paths (cargo runs tests in the package's root), so that reports name
        // `scenarios/...` on every machine.
        let dirs = [
            Path::new("scenarios/leaks").to_path_buf(),
            Path::new("scenarios/bounded").to_path_buf(),
        ];
        let files = discover(&dirs).unwrap();
        assert!(files.len() >= 13, "{files:?}");
        for path in files {
            let r = machine_independent(crate::gallery::cpu_report(&path));
            assert!(r.passed, "{}", path.display());
            let stem = path
                .with_extension("")
                .display()
                .to_string()
                .replace(['/', '\\'], "__");
            insta::assert_snapshot!(format!("{stem}.human"), human_summary(&r));
            insta::assert_snapshot!(format!("{stem}.md"), render_markdown(&r));
        }
    }
}

#[test]
fn what_an_in_place_write_into_a_view_saved_is_held_through_copy_slices() {
    // `y[:, 0].mul_(c)` with grad: y's grad_fn becomes CopySlices owning the MulBackward0 of
    // the write, which saved `c`. Each step keeps y (48 B -> 512) and, through that node, c
    // (16 B -> 512): CopySlices, the wrapped MulBackward0, the view's SelectBackward0 and
    // `x * 1`'s MulBackward0. Before the walk looked inside CopySlices, c's 512 B a step
    // were a second leak that "nothing the program names holds".
    let r = check(concat!(
        "x = torch.randn(4, 3, device=device, requires_grad=True)\n",
        "kept = []\n",
        "for step in range(5):\n",
        "    c = torch.randn(4, device=device)\n",
        "    y = x * 1\n",
        "    y[:, 0].mul_(c)\n",
        "    kept.append(y)\n",
    ));
    let l = one_leak(&r);
    assert_eq!(
        (l.bytes_per_iteration, l.graph_nodes_per_iteration),
        (1024, 4)
    );
    assert_eq!(l.retained_by.statement, "kept.append(y)");
    assert_eq!(l.retention_path[0], "kept[0]");
}
