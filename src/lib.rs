//! leakharness finds GPU memory leaks in deep-learning training code, proves their absence in
//! `cargo test`, and explains each leak well enough to paste into a bug ticket.
//!
//! The flow, one module per stage: [`device`] memory (cuda, cpu, meta) feeds the caching
//! allocator in [`alloc`], which follows PyTorch's rules and tags every allocation.

pub mod alloc;
pub mod device;
pub mod report;
