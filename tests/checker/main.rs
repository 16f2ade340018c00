//! The leak checker: its findings on small scenarios and the gallery in PyTorch's exact bytes,
//! snapshots of its reports, the files other tools open (HTML in a real browser, memory snapshot,
//! trace events, JUnit), and its properties over generated programs. One test binary of
//! modules.

// The properties share this module with tests/planted_bugs.rs, which uses another part of it.
#[allow(dead_code)]
#[path = "../common/props.rs"]
mod props;

mod check;
mod exports;
mod fragmentation;
mod gallery;
mod held_by;
mod html_browser;
mod optim_step_held;
mod patterns;
mod period;
mod properties;
mod reports;
