//! The crate's own code would live here; its leak tests are the scenarios under `leaks/`.
