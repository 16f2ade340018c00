//! AFL++ target: scenario text through parse, validate, print and run (meta and cpu).
fn main() {
    afl::fuzz!(|data: &[u8]| leakharness_fuzz::scenario(data));
}
