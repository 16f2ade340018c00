//! AFL++ target: the caching allocator's public API driven by a byte program.
fn main() {
    afl::fuzz!(|data: &[u8]| leakharness_fuzz::allocator(data));
}
