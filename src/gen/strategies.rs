//! The proptest strategies that draw [`Program`]s: clean, with one planted leak, or with a
//! leak the epoch loop releases.

use proptest::collection::vec;
use proptest::prelude::*;

use super::{
    Benign, Loss, Optimizer, PlantedLeak, Program, Shape, Style, ZeroGrad, MAX_BATCH, MAX_WIDTH,
};

fn optimizer() -> impl Strategy<Value = Optimizer> {
    prop_oneof![
        Just(Optimizer::Sgd),
        Just(Optimizer::SgdMomentum),
        Just(Optimizer::Adam),
        Just(Optimizer::AdamW),
    ]
}

fn loss() -> impl Strategy<Value = Loss> {
    prop_oneof![Just(Loss::Mse), Just(Loss::CrossEntropy)]
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        (2u32..=8).prop_map(|iterations| Shape::Single { iterations }),
        (2u32..=4)
            .prop_flat_map(|epochs| (Just(epochs), 1..=8 / epochs))
            .prop_map(|(epochs, steps)| Shape::Epochs { epochs, steps }),
    ]
}

fn zero_grad() -> impl Strategy<Value = ZeroGrad> {
    (
        any::<bool>(),
        prop_oneof![Just(None), any::<bool>().prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(|(on_model, set_to_none, at_start)| ZeroGrad {
            on_model,
            set_to_none,
            at_start,
        })
}

/// One benign statement.
pub fn benign() -> impl Strategy<Value = Benign> {
    prop_oneof![
        (2u32..=3).prop_map(|every| Benign::LogItem { every }),
        Just(Benign::RunningItem),
        Just(Benign::RunningDetached),
        any::<bool>().prop_map(|item| Benign::Validation { item }),
        Just(Benign::DelTemporaries),
        Just(Benign::EmptyCache),
        Just(Benign::RebindDetached),
        Just(Benign::ReadCounter),
        Just(Benign::HostPredictions),
        Just(Benign::ScopedList),
        Just(Benign::CarriedDetached),
        Just(Benign::ErrorAsText),
        Just(Benign::CycleCollected),
        Just(Benign::MetricsDict),
        Just(Benign::BatchSizes),
        Just(Benign::CtxSaved),
        Just(Benign::HookRemoved),
        Just(Benign::FixedBuffer),
    ]
}

/// Script first, so that a failing case shrinks to a module-level loop.
fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Script),
        Just(Style::Function),
        Just(Style::Trainer)
    ]
}

/// One leak of the catalogue.
pub fn planted_leak() -> impl Strategy<Value = PlantedLeak> {
    proptest::sample::select(&PlantedLeak::ALL[..])
}

fn program_with(leak: BoxedStrategy<Option<PlantedLeak>>) -> impl Strategy<Value = Program> {
    let model = (
        vec(1usize..=MAX_WIDTH, 2..=5),
        1usize..=MAX_BATCH,
        any::<bool>(),
        optimizer(),
        loss(),
    );
    let training = (
        shape(),
        zero_grad(),
        prop_oneof![Just(None), (2u32..=4).prop_map(Some)],
        any::<bool>(),
        vec(benign(), 0..=6),
        any::<bool>(),
        any::<bool>(),
        style(),
        any::<bool>(),
    );
    (model, training, leak).prop_map(
        |(
            (widths, batch, relu_inplace, optimizer, loss),
            (
                shape,
                zero_grad,
                accumulation,
                double_backward,
                benign,
                final_check,
                per_epoch,
                style,
                expandable_segments,
            ),
            leak,
        )| Program {
            widths,
            batch,
            relu_inplace,
            optimizer,
            loss,
            shape,
            zero_grad,
            // A period longer than the loop never steps the optimizer: such a program is not
            // gradient accumulation. A period that does not divide the loop is measured at its
            // last multiple, which the checker reads from where memory drops; an optimizer that
            // makes its state at the first step hides that step's drop, and a loop too short
            // for a second one shows no period (docs/leaks.md). The fragmentation plant grows
            // by more each step, so its bytes per iteration depend on where it is measured:
            // its expected figure assumes the loop's own length, so it keeps a dividing period.
            accumulation: accumulation.filter(|&k| {
                let n = shape.inner_iterations();
                let measured_at_n = n % k == 0
                    || (optimizer == Optimizer::Sgd && leak != Some(PlantedLeak::Fragmentation));
                k <= n && measured_at_n
            }),
            double_backward,
            benign: benign
                .into_iter()
                .filter(|b| b.compatible_with(leak))
                .collect(),
            final_check: final_check && leak.is_none(),
            leak,
            leak_per_epoch: per_epoch,
            style,
            expandable_segments: expandable_segments && leak != Some(PlantedLeak::Fragmentation),
        },
    )
}

/// Programs that are clean by construction.
pub fn clean_program() -> impl Strategy<Value = Program> {
    program_with(Just(None).boxed())
}

/// Programs with exactly one leak from the catalogue.
pub fn leaky_program() -> impl Strategy<Value = Program> {
    program_with(planted_leak().prop_map(Some).boxed())
}

/// Programs with one leak planted in the step loop of an epoch loop, its list or total made
/// every epoch: growth that the epoch loop releases, a leak all the same because it holds
/// graph.
pub fn released_leak_program() -> impl Strategy<Value = Program> {
    let leak = proptest::sample::select(&PlantedLeak::IN_STEP_WITH_GRAPH[..]).prop_map(Some);
    (program_with(leak.boxed()), 2u32..=4, 1u32..=4).prop_map(|(mut program, epochs, steps)| {
        program.shape = Shape::Epochs {
            epochs,
            steps: steps.min(8 / epochs),
        };
        program.leak_per_epoch = true;
        program
    })
}

/// Clean and leaky programs, half and half.
pub fn program() -> impl Strategy<Value = Program> {
    program_with(prop_oneof![Just(None), planted_leak().prop_map(Some)].boxed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    /// The option reaches the scenario's header and the allocator, and never comes with the
    /// leak it fixes.
    #[test]
    fn some_programs_run_with_expandable_segments_but_never_the_fragmentation_plant() {
        let mut runner = TestRunner::deterministic();
        let mut expandable = 0;
        for _ in 0..100 {
            let program = program().new_tree(&mut runner).unwrap().current();
            let case = program.case().unwrap();
            let config = case.scenario.header.allocator_config();
            assert_eq!(config.expandable_segments, program.expandable_segments);
            if program.expandable_segments {
                expandable += 1;
                assert_ne!(program.leak, Some(PlantedLeak::Fragmentation));
            }
        }
        assert!((20..=80).contains(&expandable), "{expandable} of 100");
    }
}
