//! The name of a root that only a reference cycle keeps: the shortest cycle through it, as a
//! retention path's first step.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::scenario::interp::{program_value, Referents, Value};
use crate::tensor::Tensor;

/// A cycle through `start` among the objects `garbage` names, as a retention path's first
/// step: `cycle LeakyModule → ._forward_hooks[0] → function fw_hook → cell self → LeakyModule`.
pub(super) fn cycle_name(start: &Value, garbage: &HashSet<usize>) -> String {
    let label = |v: &Value| match v {
        Value::Function(f) => format!("function {}", f.code.qualname),
        other => other.type_name(),
    };
    let Some(start_id) = start.identity() else {
        return format!("unreachable {}", label(start));
    };
    // Breadth first, so the cycle named is a shortest one.
    let mut came_from: HashMap<usize, (usize, String, Value)> = HashMap::new();
    let mut queue = VecDeque::from([start.clone()]);
    while let Some(v) = queue.pop_front() {
        let from = v.identity().unwrap_or(0);
        let mut next = Vec::new();
        v.referents(&mut |edge, child| next.push((edge.to_string(), child.clone())));
        for (edge, child) in next {
            // The step that closes the cycle, if `child` does: `start` itself, or a tensor
            // whose node's ctx is `start` (an output kept on its own Function's ctx).
            let closing = match child.tensor().and_then(Tensor::grad_fn) {
                Some(node)
                    if node
                        .custom_ctx()
                        .as_ref()
                        .and_then(program_value)
                        .and_then(Value::identity)
                        == Some(start_id) =>
                {
                    Some(format!(
                        "{edge} → tensor → grad_fn {} → ctx {}",
                        node.name(),
                        label(start)
                    ))
                }
                _ if child.identity() == Some(start_id) => {
                    Some(format!("{edge} → {}", label(start)))
                }
                _ => None,
            };
            if let Some(last) = closing {
                let mut steps = vec![last];
                let mut at = from;
                while at != start_id {
                    let (prev, edge, value) = &came_from[&at];
                    steps.push(format!("{edge} → {}", label(value)));
                    at = *prev;
                }
                steps.reverse();
                return format!("cycle {} → {}", label(start), steps.join(" → "));
            }
            let Some(id) = child.identity() else { continue };
            if garbage.contains(&id) && !came_from.contains_key(&id) {
                came_from.insert(id, (from, edge, child.clone()));
                queue.push_back(child);
            }
        }
    }
    format!("unreachable {}", label(start))
}
