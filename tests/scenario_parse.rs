//! The scenario front end: parsing the subset, rejecting everything else with located errors,
//! header comments, and printing back to Python.

use std::path::Path;

use leakharness::scenario::*;
use proptest::prelude::*;

const DESIGN_EXAMPLE: &str = r#"# Appending the attached loss keeps every step's graph alive.
#@ expect: leak retained-graph
#@ iterations: 8
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10)).to(device)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
losses = []
for step in range(8):
    x = torch.randn(32, 64, device=device)
    loss = nn.functional.mse_loss(model(x), torch.randn(32, 10, device=device))
    loss.backward()
    opt.step()
    opt.zero_grad()
    losses.append(loss)
"#;

fn parse(source: &str) -> Result<Scenario, ScenarioErrors> {
    parse_scenario(Path::new("s.py"), source)
}

#[test]
fn design_example_round_trips() {
    let scenario = parse(DESIGN_EXAMPLE).unwrap();
    let printed = print_scenario(&scenario);
    println!("{printed}");
    let again = parse(&printed).unwrap();
    assert_eq!(strip_spans(&scenario.body), strip_spans(&again.body));
    assert_eq!(scenario.header, again.header);
}

proptest! {
    #[test]
    fn printed_bodies_parse_back(body in arbitrary::scenario_body()) {
        let printed = print_body(&body);
        let parsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{e}\n--- printed:\n{printed}")))?;
        prop_assert_eq!(strip_spans(&parsed.body), body, "printed:\n{}", printed);
    }
}
