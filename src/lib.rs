//! leakharness finds GPU memory leaks in deep-learning training code, proves their absence in
//! `cargo test`, and explains each leak well enough to paste into a bug ticket.
//!
//! The flow, one module per stage: a [`scenario`] file (a subset of PyTorch's Python) is parsed
//! and run; every allocation goes through the caching allocator in [`alloc`], which follows
//! PyTorch's rules and tags each block; the allocator gets raw segments from a [`device`]
//! backend (cuda, cpu or meta); the findings become a [`report`].

pub mod alloc;
pub mod device;
pub mod report;
pub mod scenario;
