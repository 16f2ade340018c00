//! The leak patterns beyond the textbook four (`docs/leaks.md`): each gallery scenario, leaking
//! and fixed, with its kinds, retaining line, exact bytes and graph nodes per iteration, and the
//! fix its help text gives.

use std::path::Path;

use leakharness::check::{check_scenario, CheckOptions};
use leakharness::report::{LeakKind, Verdict};
use leakharness::scenario::load;

/// One leak a pattern scenario must report: its line, kinds, bytes and nodes per iteration,
/// and how its help text starts.
type Row = (u32, &'static [LeakKind], u64, u64, &'static str);

struct Pattern {
    file: &'static str,
    verdict: Verdict,
    leaks: &'static [Row],
}

const PATTERNS: &[Pattern] = &[
    // Per step, outside no_grad: the 16×64 tanh result saved by TanhBackward0 (4096 B, the new
    // hidden state) and the 16×32 input saved by the input AddmmBackward0 (2048 B); six nodes
    // (Tanh, Add, two Addmm, two T), the weights' AccumulateGrads being shared.
    Pattern {
        file: "real/pytorch_2198_hidden_carried.py",
        verdict: Verdict::Leak,
        leaks: &[(
            22,
            &[LeakKind::MissingNoGrad, LeakKind::CarriedState],
            4096 + 2048,
            6,
            "wrap the loop in torch.no_grad() when no backward needs the state",
        )],
    },
    Pattern {
        file: "real/pytorch_2198_hidden_detached.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // The same with a real nn.LSTM(32, 64) over 5×16×32 chunks: per chunk, the composed
    // path's graph (73 nodes) and what it saves or outputs (153,600 B), the same growth PyTorch
    // 2.15 shows with oneDNN off (docs/fidelity.md).
    Pattern {
        file: "leaks/lstm_hidden_not_detached.py",
        verdict: Verdict::Leak,
        leaks: &[(
            10,
            &[LeakKind::MissingNoGrad, LeakKind::CarriedState],
            153600,
            73,
            "wrap the loop in torch.no_grad() when no backward needs the state",
        )],
    },
    Pattern {
        file: "clean/lstm_language_model_detached.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // nn.GRU(32, 64) over 5×16×32 chunks: 76 nodes and 153,600 B per chunk, as 2.15's
    // composed CPU path grows (nodes and saved storages reachable from `hidden`).
    Pattern {
        file: "leaks/gru_hidden_not_detached.py",
        verdict: Verdict::Leak,
        leaks: &[(
            10,
            &[LeakKind::MissingNoGrad, LeakKind::CarriedState],
            153600,
            76,
            "wrap the loop in torch.no_grad() when no backward needs the state",
        )],
    },
    // `h = cell(x, h)` with nn.GRUCell(32, 64), batch 16 on CUDA: the fused cell's 5 nodes and
    // 51,200 B per step, PyTorch 2.11's growth on an H100 (two mm's and
    // `_thnn_fused_gru_cell`, whose node keeps a [16, 320] workspace).
    Pattern {
        file: "leaks/gru_cell_state_carried.py",
        verdict: Verdict::Leak,
        leaks: &[(
            10,
            &[LeakKind::MissingNoGrad, LeakKind::CarriedState],
            51200,
            5,
            "wrap the loop in torch.no_grad() when no backward needs the state",
        )],
    },
    Pattern {
        file: "clean/gru_language_model.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // nn.MultiheadAttention's averaged weights kept each step: 1,024 B and the 21 nodes of
    // their graph after backward, as on 2.15.
    Pattern {
        file: "leaks/mha_attention_weights_logged.py",
        verdict: Verdict::Leak,
        leaks: &[(
            19,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            1024,
            21,
            "append loss.item() instead",
        )],
    },
    // nn.TransformerEncoder step logits kept for an epoch metric: the 8×3 logits (512 B) and
    // the step's 134 graph nodes after backward, as on 2.15 (161 reachable there, 27 of them
    // the parameters' AccumulateGrad nodes that every step shares).
    Pattern {
        file: "leaks/transformer_logits_kept_for_metrics.py",
        verdict: Verdict::Leak,
        leaks: &[(
            49,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            512,
            134,
            "append loss.item() instead",
        )],
    },
    Pattern {
        file: "clean/transformer_encoder_training.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // Features of a non-reentrant checkpointed block kept each step: the 64×128 output
    // (32,768 B) and its 8 graph nodes after backward, as on 2.15 (14 reachable there, 6 of
    // them the parameters' AccumulateGrad nodes).
    Pattern {
        file: "leaks/checkpoint_features_kept.py",
        verdict: Verdict::Leak,
        leaks: &[(
            34,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            32768,
            8,
            "append loss.item() instead",
        )],
    },
    Pattern {
        file: "clean/checkpoint_non_reentrant_mlp.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // Saved tensors filed by a pack hook in a dict that outlives the step: the input, the ReLU
    // output, log_softmax's result, the target and total_weight (43,520 B) and the 6 nodes the
    // kept outputs' histories hold after backward.
    Pattern {
        file: "leaks/saved_tensors_hooks_stash_kept.py",
        verdict: Verdict::Leak,
        leaks: &[(
            28,
            &[LeakKind::RetainedGraph],
            43520,
            6,
            "keep loss.detach() or loss.item() instead",
        )],
    },
    Pattern {
        file: "clean/activation_offload_save_on_cpu.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // nn.Transformer seq2seq with the epoch loss summed as a tensor: no bytes (each step's
    // nodes keep nothing after backward, and the totals are freed) but 200 nodes per step,
    // as on 2.15 (637 nodes reachable after 3 steps, 237 after 1, 37 of them AccumulateGrad).
    Pattern {
        file: "leaks/transformer_seq2seq_total_loss_attached.py",
        verdict: Verdict::Leak,
        leaks: &[(
            46,
            &[LeakKind::AttachedMetric],
            0,
            200,
            "accumulate loss.detach() or float(loss) instead",
        )],
    },
    Pattern {
        file: "clean/transformer_seq2seq_training.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // Kept BCELoss tensors: each holds its 7 nodes and the 32×10 storage binary_cross_entropy
    // resized to 0-dim (1,280 B, a 1,536 B block), as on 2.15.
    Pattern {
        file: "leaks/loss_bce_history_kept.py",
        verdict: Verdict::Leak,
        leaks: &[(
            17,
            &[LeakKind::TensorList, LeakKind::RetainedGraph],
            1536,
            7,
            "append loss.item() instead",
        )],
    },
    // After backward: Add, two scalar Muls, Mean, Relu, Addmm and T per step; backward freed
    // what Relu and Addmm saved and the scalar Muls save no tensor, so 0 B.
    Pattern {
        file: "leaks/carried_state_function.py",
        verdict: Verdict::Leak,
        leaks: &[(
            21,
            &[LeakKind::CarriedState],
            0,
            7,
            "detach the carried state once its backward has run",
        )],
    },
    Pattern {
        file: "clean/carried_state_truncated_bptt.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // Every other batch runs out of memory in the first layer (16384×4096 f32 is 256 MiB of a
    // 128 MiB device, which the cuBLAS workspaces of the forward and backward threads leave
    // room for at 8 rows); the kept error's frame of train_step() holds that 16384×16 f32
    // batch: 1 MiB per failure, 512 KiB per iteration, no graph (nothing was recorded).
    Pattern {
        file: "leaks/oom_retry_keeps_exception.py",
        verdict: Verdict::Leak,
        leaks: &[(26, &[LeakKind::KeptException], 524288, 0, "keep str(e)")],
    },
    Pattern {
        file: "clean/oom_retry_keeps_message.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // Every step fails in the decoder; the traceback's frame of forward() keeps batch and mask
    // (32×64 f32, 8192 B each) and features (32×128 f32, 16384 B, also saved by
    // ReluBackward0), with Relu, Addmm and T nodes no backward ran through.
    Pattern {
        file: "leaks/exc_info_kept.py",
        verdict: Verdict::Leak,
        leaks: &[(
            24,
            &[LeakKind::MissingNoGrad, LeakKind::KeptException],
            8192 + 8192 + 16384,
            3,
            "keep str(e)",
        )],
    },
    // Odd steps fail: the frame of training_step() keeps hidden (9×256 f32, 9216 B) and the
    // 9×64 batch its Addmm saved (2304 → 2560 B): 11776 B per failure, 5888 B per iteration.
    Pattern {
        file: "real/ipython_11572_kept_exceptions.py",
        verdict: Verdict::Leak,
        leaks: &[(
            23,
            &[LeakKind::MissingNoGrad, LeakKind::KeptException],
            5888,
            1,
            "keep str(e)",
        )],
    },
    Pattern {
        file: "real/ipython_11572_errors_as_text.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // Each step's tree (a 64×64 f32 root value and its relu, 16384 B each) is a cycle through
    // `children` and `parent`; nothing collects it within six steps.
    Pattern {
        file: "leaks/reference_cycle_tree.py",
        verdict: Verdict::Leak,
        leaks: &[(15, &[LeakKind::ReferenceCycle], 32768, 0, "break the cycle")],
    },
    Pattern {
        file: "clean/reference_cycle_broken.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // Each LeakyModule's two 256×256 Linears (262144 + 1024 B each) stay in the cycle its
    // forward hook's closure makes through `self`.
    Pattern {
        file: "real/pytorch_46386_hook_cycle_without_collect.py",
        verdict: Verdict::Leak,
        leaks: &[(
            19,
            &[LeakKind::ReferenceCycle],
            2 * (262144 + 1024),
            0,
            "break the cycle",
        )],
    },
    Pattern {
        file: "real/pytorch_46386_hook_cycle_collected.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // Every step's hook keeps, through its closure's cell, the 32×64 f32 batch (8192 B); the
    // model's name reaches them first, through `._forward_hooks`, and the leak is reported at
    // the statement that registered them.
    Pattern {
        file: "leaks/hook_registered_every_step.py",
        verdict: Verdict::Leak,
        leaks: &[(
            27,
            &[LeakKind::HookCapture, LeakKind::HookAccumulation],
            8192,
            0,
            "register the hook once",
        )],
    },
    Pattern {
        file: "clean/hook_removed_every_step.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // The hook appends each image's 8×32 f32 feature output (1024 B), attached: Relu (which
    // saved that output), Addmm and T stay with it, backward having freed Addmm's input. The
    // retaining statement is the hook's registration in `ActivationsAndGradients.__init__`.
    Pattern {
        file: "real/gradcam_71_hook_activations.py",
        verdict: Verdict::Leak,
        leaks: &[(
            16,
            &[LeakKind::RetainedGraph, LeakKind::HookCapture],
            1024,
            3,
            "have the hook or closure keep output.detach()",
        )],
    },
    Pattern {
        file: "real/gradcam_71_hook_activations_on_host.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // The full backward hook appends each image's 8×32 f32 output gradient (1024 B, no graph:
    // backward runs without create_graph); the path goes through `._backward_hooks[0]`, and the
    // leak is reported at the hook's registration.
    Pattern {
        file: "leaks/hook_full_backward_gradients_kept.py",
        verdict: Verdict::Leak,
        leaks: &[(
            13,
            &[LeakKind::HookCapture],
            1024,
            0,
            "have the hook or closure keep output.detach()",
        )],
    },
    Pattern {
        file: "clean/hook_full_backward_gradients_cleared.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
    // Each step's 16×32 f32 output (2048 B) stays on its ctx, in the cycle output → grad_fn
    // ExpBackward → ctx → output, with ExpBackward and the MmBackward0 under it (backward freed
    // what Mm saved); reported at `ctx.out = out` in `forward`.
    Pattern {
        file: "leaks/ctx_saved_output.py",
        verdict: Verdict::Leak,
        leaks: &[(
            10,
            &[
                LeakKind::RetainedGraph,
                LeakKind::ReferenceCycle,
                LeakKind::CtxSavedOutput,
            ],
            2048,
            2,
            "save the tensors backward needs with ctx.save_for_backward(out)",
        )],
    },
    Pattern {
        file: "clean/ctx_save_for_backward.py",
        verdict: Verdict::Clean,
        leaks: &[],
    },
];

#[test]
fn every_pattern_scenario_reports_its_kinds_bytes_nodes_and_fix() {
    for p in PATTERNS {
        let r = crate::gallery::cpu_report(&Path::new("scenarios").join(p.file));
        let name = p.file;
        assert_eq!(r.verdict, p.verdict, "{name}: {:#?}", r.leaks);
        assert!(r.passed, "{name}");
        let found: Vec<Row> = r
            .leaks
            .iter()
            .zip(p.leaks)
            .map(|(l, want)| {
                let help = if l.help.starts_with(want.4) {
                    want.4
                } else {
                    ""
                };
                (
                    l.retained_by.line,
                    if l.kinds == want.1 { want.1 } else { &[] },
                    l.bytes_per_iteration,
                    l.graph_nodes_per_iteration,
                    help,
                )
            })
            .collect();
        assert_eq!(r.leaks.len(), p.leaks.len(), "{name}: {:#?}", r.leaks);
        assert_eq!(found, p.leaks, "{name}: {:#?}", r.leaks);
    }
}

/// The plants of the new patterns, each on a few generated programs: found with their kinds at
/// their line (and predicted bytes), and their fixed forms, as benign statements, judged clean.
#[test]
fn new_plants_are_found_and_their_fixed_forms_are_clean() {
    use leakharness::r#gen::{self, Benign, PlantedLeak};
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let plants = [
        (PlantedLeak::CarriedState, Benign::CarriedDetached),
        (PlantedLeak::KeptException, Benign::ErrorAsText),
        (PlantedLeak::ReferenceCycle, Benign::CycleCollected),
        (PlantedLeak::CtxSavedOutput, Benign::CtxSaved),
        (PlantedLeak::HookAccumulation, Benign::HookRemoved),
    ];
    let mut runner = TestRunner::deterministic();
    // Four programs a plant in CI, two in a developer's `cargo test` (crate::props::full_counts).
    let programs = if crate::props::full_counts() { 4 } else { 2 };
    for (leak, fixed) in plants {
        for _ in 0..programs {
            let mut program = r#gen::program().new_tree(&mut runner).unwrap().current();
            program.leak = Some(leak);
            program.final_check = false;
            program.benign.retain(|b| b.compatible_with(Some(leak)));
            let case = program.case().unwrap();
            let report = check_scenario(&case.scenario, &CheckOptions::default()).unwrap();
            let wrong = r#gen::judge(&case, &report);
            assert!(
                wrong.is_empty(),
                "{leak:?}: {wrong:?}\n{}",
                case.scenario.source
            );

            program.leak = None;
            program.benign.push(fixed);
            let case = program.case().unwrap();
            let report = check_scenario(&case.scenario, &CheckOptions::default()).unwrap();
            let wrong = r#gen::judge(&case, &report);
            assert!(
                wrong.is_empty(),
                "{fixed:?}: {wrong:?}\n{}",
                case.scenario.source
            );
        }
    }
}

/// A hook registered inside a function is reported at its registration, and the held-by path
/// names that statement with the calls that led to it (the interned scenario stack).
#[test]
fn a_hook_leak_names_where_the_hook_was_registered_and_from_where() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let scenario = load(&root.join("real/gradcam_71_hook_activations.py")).unwrap();
    let r = check_scenario(&scenario, &CheckOptions::default()).unwrap();
    let leak = &r.leaks[0];
    assert_eq!(
        (leak.retained_by.line, leak.retained_by.statement.as_str()),
        (
            16,
            "target_layer.register_forward_hook(self.save_activation)"
        )
    );
    let path = leak.retention_path.join(" → ");
    assert!(
        path.contains(&format!(
            "._forward_hooks[0] registered at {f}:16:9, called from {f}:46:1",
            f = root.join("real/gradcam_71_hook_activations.py").display()
        )),
        "{path}"
    );
}

/// The detached LSTM language model ends every batch holding exactly: its parameters, their
/// gradients and Adam's two moments (61,952 B each: LSTM(16, 32, num_layers=2) has 8,192 +
/// 16,384 + 16,384 + 16,384 B of weights and four 512 B bias blocks, the decoder 2,048 + 512),
/// the carried (h, c) state (two 2×8×32 f32 tensors of 2,048 B), and the batch's inputs
/// (5×8×16 f32, 2,560 B) and targets (40 int64, 320 B in a 512 B block); besides them, the
/// cuBLAS workspaces of the program's thread and of backward's (32 MiB each on sm_90) and the
/// cuBLASLt one of `addmm` with a bias (1 MiB), taken at the first products. The state's own
/// graph (its stacks back to the gates, their saved tensors freed by backward) is replaced
/// each batch, never chained.
#[test]
fn a_detached_lstm_language_model_keeps_its_state_and_no_old_graph() {
    let r =
        crate::gallery::cpu_report(Path::new("scenarios/clean/lstm_language_model_detached.py"));
    let ends: Vec<(u64, u64)> = r
        .iterations
        .iter()
        .filter(|p| p.loop_line == 33)
        .map(|p| (p.allocated, p.graph_nodes))
        .collect();
    assert_eq!(ends.len(), 6);
    let workspaces = 2 * (32 << 20) + (1 << 20);
    let kept = workspaces + 4 * 61_952 + 2 * 2048 + 2560 + 512;
    for (allocated, nodes) in &ends {
        assert_eq!((*allocated, *nodes), (kept, ends[0].1), "{ends:?}");
    }
    assert!(ends[0].1 > 0, "the last state is attached until detached");
}
