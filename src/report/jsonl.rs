//! `--format jsonl`: a scenario run as a stream of events, one JSON object a line, for tools
//! that follow a run as it goes (`jq`, log collectors).

use serde_json::{json, Value};

use super::{outcome, Report};

/// The events of one checked scenario, in order: `started`, one `iteration` per loop
/// iteration, one `leak` per leak, then `finished` with the verdict.
pub fn report_events(r: &Report) -> Vec<Value> {
    let mut events = vec![json!({
        "event": "started",
        "scenario": r.scenario,
        "backend": r.backend,
        "device": r.device,
        "expected": r.expected,
    })];
    events.extend(r.iterations.iter().map(|p| {
        json!({
            "event": "iteration",
            "scenario": r.scenario,
            "loop_line": p.loop_line,
            "index": p.index,
            "allocated": p.allocated,
            "reserved": p.reserved,
            "graph_nodes": p.graph_nodes,
        })
    }));
    for leak in &r.leaks {
        let mut event = json!({ "event": "leak", "scenario": r.scenario });
        if let (Value::Object(fields), Ok(Value::Object(leak))) =
            (&mut event, serde_json::to_value(leak))
        {
            fields.extend(leak);
        }
        events.push(event);
    }
    events.push(json!({
        "event": "finished",
        "scenario": r.scenario,
        "verdict": r.verdict,
        "passed": r.passed,
        "outcome": outcome(r),
        "error": r.error.as_ref().map(|e| &e.message),
    }));
    events
}

#[cfg(test)]
mod tests {
    use super::report_events;
    use crate::report::tests::sample_report;

    #[test]
    fn a_run_is_started_iterations_leaks_and_finished() {
        let r = sample_report();
        let events = report_events(&r);
        let names: Vec<&str> = events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["started", "iteration", "iteration", "leak", "finished"]
        );
        assert_eq!(events[3]["line"], 7);
        assert_eq!(events[3]["bytes_per_iteration"], 512);
        assert_eq!(events[4]["outcome"], "Leak found, as expected");
    }
}
