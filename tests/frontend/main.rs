//! What users write and run: parsing scenarios, the interpreter's Python and torch semantics,
//! the gallery's files, and the `leakharness` command line. One test binary of modules.

mod cli;
mod gallery_parses;
mod interp;
mod scenario_parse;
