//! How a retention path reads: runs of one step and repeated groups of steps written once,
//! and which block a root's example path goes to.

/// Which block makes the better example of what a root leaks, given each block's allocation
/// iterations (`None` outside every loop) and size: one allocated in a loop before one
/// allocated outside them all, then the one of the earlier iteration (a block the loop has
/// left behind, not one the current iteration is still using), then the larger.
pub(super) fn better_example(new: (Option<&[u32]>, u64), old: (Option<&[u32]>, u64)) -> bool {
    let key = |(iterations, size): (Option<&[u32]>, u64)| {
        (
            iterations.is_none(),
            iterations.map(<[u32]>::to_vec),
            std::cmp::Reverse(size),
        )
    };
    key(new) < key(old)
}

/// Collapses runs of the same step (`grad_fn AddBackward0` seven times over, in a running
/// total's chain) into one step with a count, then runs of a repeated group of steps (a carried
/// state's chain), so paths stay readable.
pub(super) fn compress(path: Vec<String>) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for step in path {
        match out.last_mut() {
            Some((last, n)) if *last == step => *n += 1,
            _ => out.push((step, 1)),
        }
    }
    let steps: Vec<String> = out
        .into_iter()
        .map(|(s, n)| if n == 1 { s } else { format!("{s} (×{n})") })
        .collect();
    // Folding again folds repeats of groups that hold folded groups: an LSTM chunk's chain is
    // its time steps' group, then the chunk's own nodes.
    let mut folded = fold_repeats(&steps);
    loop {
        let again = fold_repeats(&folded);
        if again.len() == folded.len() {
            return folded;
        }
        folded = again;
    }
}

/// The longest run a repeated group in a chain may have and still be one group: a carried
/// state's graph repeats a step's few nodes once per iteration; a GRU cell's step is eight
/// links (add, mul, saved other, sigmoid, add, unsafe_split, addmm, saved mat1).
const LONGEST_REPEATED_GROUP: usize = 8;

/// `path` with each run of a repeated group of links written once with its count, as
/// `6 × [grad_fn AddBackward0 → grad_fn MulBackward0]`: a chain through every iteration's graph
/// grows with the run, and the repeat is what the reader needs to see.
fn fold_repeats(path: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < path.len() {
        let mut best = (1, 1);
        for len in 1..=LONGEST_REPEATED_GROUP.min(path.len() - i) {
            let group = &path[i..i + len];
            let times = 1 + path[i + len..]
                .chunks_exact(len)
                .take_while(|next| *next == group)
                .count();
            if times >= 2 && times * len > best.0 * best.1 {
                best = (len, times);
            }
        }
        let (len, times) = best;
        if times == 1 {
            out.push(path[i].clone());
        } else {
            out.push(format!("{times} × [{}]", path[i..i + len].join(" → ")));
        }
        i += len * times;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{better_example, fold_repeats};

    fn chain(links: &[&str]) -> Vec<String> {
        links.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_repeated_group_of_links_is_written_once_with_its_count() {
        let mut links = vec!["hidden"];
        for _ in 0..6 {
            links.extend(["grad_fn AddBackward0", "grad_fn MulBackward0"]);
        }
        links.extend(["grad_fn MeanBackward1", "grad_fn AccumulateGrad"]);
        assert_eq!(
            fold_repeats(&chain(&links)),
            chain(&[
                "hidden",
                "6 × [grad_fn AddBackward0 → grad_fn MulBackward0]",
                "grad_fn MeanBackward1",
                "grad_fn AccumulateGrad",
            ])
        );
    }

    #[test]
    fn a_group_of_eight_links_folds_and_one_of_nine_does_not() {
        let group = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut links = vec!["hidden"];
        for _ in 0..3 {
            links.extend(group);
        }
        let folded = fold_repeats(&chain(&links));
        assert_eq!(
            folded,
            chain(&["hidden", "3 × [a → b → c → d → e → f → g → h]"])
        );
        let mut links = vec!["hidden"];
        for _ in 0..3 {
            links.extend(group);
            links.push("i");
        }
        assert_eq!(fold_repeats(&chain(&links)), chain(&links));
    }

    #[test]
    fn a_chain_without_repeats_is_unchanged() {
        let links = chain(&[
            "losses",
            "[0]",
            "grad_fn MseLossBackward0",
            "grad_fn AddmmBackward0",
        ]);
        assert_eq!(fold_repeats(&links), links);
    }

    #[test]
    fn the_smallest_group_that_covers_the_longest_run_wins() {
        let links = chain(&["a", "b", "a", "b", "a", "b", "c", "c", "c", "c"]);
        assert_eq!(fold_repeats(&links), chain(&["3 × [a → b]", "4 × [c]"]));
    }

    #[test]
    fn an_earlier_iteration_beats_a_larger_block_of_a_later_one() {
        let (first, last): (&[u32], &[u32]) = (&[0], &[5]);
        assert!(better_example((Some(first), 4096), (Some(last), 20480)));
        assert!(!better_example((Some(last), 20480), (Some(first), 4096)));
        assert!(better_example((Some(first), 8192), (Some(first), 4096)));
        assert!(better_example((Some(last), 512), (None, 1 << 20)));
    }
}
