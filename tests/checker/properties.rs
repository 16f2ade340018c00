//! Property tests of the leak checker over generated training programs (`leakharness::gen`):
//! clean programs are judged clean, planted leaks are found at their line with their kinds and
//! predicted bytes, memory returns to the baseline at teardown, and cpu and meta agree byte
//! for byte. `LEAKHARNESS_FULL_PROPERTIES=1` (set by `.ci/run`) runs CI's case counts, four
//! times a developer's default; `PROPTEST_CASES` overrides both; `LEAKHARNESS_SEED` replays a
//! run. A failure is shrunk and written to `reports/found/` as a scenario file.

use crate::props::{run, Property, Setup};

fn check(property: Property) {
    if let Err(message) = run(property, &Setup::for_tests()) {
        panic!("{message}");
    }
}

#[test]
fn clean_programs_are_judged_clean() {
    check(Property::CleanIsClean);
}

#[test]
fn planted_leaks_are_found_at_their_line_with_their_bytes() {
    check(Property::PlantedIsFound);
}

#[test]
fn leaks_made_every_epoch_are_found_released_by_the_epoch_loop() {
    check(Property::ReleasedLeakIsFound);
}

#[test]
fn every_program_returns_to_the_baseline_at_teardown() {
    check(Property::TeardownToBaseline);
}

#[test]
fn cpu_and_meta_agree_byte_for_byte() {
    check(Property::BackendsAgree);
}
