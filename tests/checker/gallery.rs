//! The gallery's reports on cpu with the default options, each checked once per test binary.
//! Several tests read the same reports (cpu against meta, the report snapshots, the growth
//! table, the history's release), and checking a gallery scenario on cpu in the debug build is
//! most of what this binary spends its time on; each test still asserts all it did.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use leakharness::check::{check_scenario, CheckOptions};
use leakharness::report::Report;
use leakharness::scenario::load;

/// One slot per scenario path, filled by the first test that needs it; a second test asking
/// meanwhile waits for that check instead of running its own.
type Slots = Mutex<HashMap<PathBuf, Arc<OnceLock<Report>>>>;

/// The report of the scenario at `path` (relative to the package root, as cargo runs tests
/// there, so that reports name `scenarios/...` on every machine), checked on cpu with
/// [`CheckOptions::default`].
pub fn cpu_report(path: &Path) -> Report {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    let slot = SLOTS
        .get_or_init(Slots::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(path.to_path_buf())
        .or_default()
        .clone();
    slot.get_or_init(|| {
        let scenario = load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        check_scenario(&scenario, &CheckOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
    .clone()
}
