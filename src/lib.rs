//! leakharness finds GPU memory leaks in deep-learning training code.
pub mod scenario;
