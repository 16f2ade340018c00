//! From a [`Program`] description to a scenario, and the ground truth that PyTorch's memory
//! rules give for it.

use std::path::Path;

use super::{
    Benign, Case, GenError, Loss, Optimizer, Planted, PlantedLeak, Program, Shape, Style, ZeroGrad,
};
use crate::base::Expect;
use crate::scenario::{parse_scenario, print_scenario, strip_spans, Scenario, Stmt, StmtKind};

/// The path generated scenarios carry until they are written somewhere.
const GENERATED_PATH: &str = "generated.py";

/// PyTorch's caching allocator rounds every request up to a multiple of 512 bytes.
fn rounded(bytes: usize) -> u64 {
    (bytes.max(1) as u64).div_ceil(512) * 512
}

struct Lines {
    text: String,
}

impl Lines {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.text.push_str("    ");
        }
        self.text.push_str(text);
        self.text.push('\n');
    }
}

pub(super) fn case(program: &Program) -> Result<Case, GenError> {
    let text = render(program);
    let parsed = parse(&text)?;
    // Printing and parsing again gives the file exactly as it will be written out, so the
    // planted line is the line a reader of `reports/found/` sees.
    let printed = print_scenario(&parsed);
    let scenario = parse(&printed)?;
    let planted = match program.leak {
        None => None,
        Some(leak) => {
            let wanted = planted_statement(program, leak);
            let stub = parse(&format!("{wanted}\n"))?;
            let needle = strip_spans(&stub.body);
            let mut line = find(&scenario.body, &needle[0])
                .ok_or_else(|| GenError::PlantLost(wanted.clone()))?;
            if leak == PlantedLeak::ReferenceCycle {
                // Garbage has no retaining statement: it is reported at the loop it grows
                // with, the outermost.
                line = epoch_loop_line(&scenario.body).unwrap_or(line);
            }
            let statement = printed
                .lines()
                .nth(line as usize - 1)
                .map_or(wanted, |l| l.trim().to_string());
            Some(Planted {
                leak,
                kinds: leak.kinds(),
                line,
                statement,
                bytes_per_iteration: predicted_bytes(program, leak),
                graph_nodes_per_iteration: matches!(
                    leak,
                    PlantedLeak::DetachedLossList | PlantedLeak::Fragmentation
                )
                .then_some(0),
                released_by: program
                    .leak_released_by_epoch()
                    .then(|| epoch_loop_line(&scenario.body))
                    .flatten(),
            })
        }
    };
    let bounded_growth_at = match program.benign.iter().position(|b| *b == Benign::ScopedList) {
        Some(n) if program.expects_bounded_growth() => {
            let wanted = scoped_list_append(n);
            let stub = parse(&format!("{wanted}\n"))?;
            let needle = strip_spans(&stub.body);
            Some(find(&scenario.body, &needle[0]).ok_or(GenError::PlantLost(wanted))?)
        }
        _ => None,
    };
    Ok(Case {
        program: program.clone(),
        scenario,
        planted,
        bounded_growth_at,
    })
}

fn parse(text: &str) -> Result<Scenario, GenError> {
    parse_scenario(Path::new(GENERATED_PATH), text).map_err(|errors| GenError::Unparsable {
        errors,
        source_text: text.to_string(),
    })
}

/// The line of the epoch loop, the first `for` (at module level, or in the function or
/// method the style puts the loop in).
fn epoch_loop_line(body: &[Stmt]) -> Option<u32> {
    body.iter().find_map(|s| match s.kind {
        StmtKind::For { .. } => Some(s.span.line),
        _ => s.blocks().into_iter().find_map(epoch_loop_line),
    })
}

/// The statement of [`Benign::ScopedList`] number `n`.
fn scoped_list_append(n: usize) -> String {
    format!("step_losses_{n}.append(loss.detach())")
}

/// The line of the first statement, at any depth (functions and classes included), equal to
/// `needle` by structure.
fn find(body: &[Stmt], needle: &Stmt) -> Option<u32> {
    body.iter().find_map(|s| {
        if strip_spans(std::slice::from_ref(s))[0] == *needle {
            return Some(s.span.line);
        }
        s.blocks().into_iter().find_map(|b| find(b, needle))
    })
}

/// The statement that stores the first reference to the leaked memory.
fn planted_statement(program: &Program, leak: PlantedLeak) -> String {
    match leak {
        PlantedLeak::AttachedLossList | PlantedLeak::RetainedGraphKept => {
            "kept_losses.append(loss)".into()
        }
        PlantedLeak::AttachedOutputList => "kept_outputs.append(out)".into(),
        PlantedLeak::DetachedLossList => "kept_losses.append(loss.detach())".into(),
        PlantedLeak::AttachedTotal => "kept_total += loss".into(),
        PlantedLeak::AttachedMetric => match program.loss {
            Loss::Mse => "kept_metric += (out - y).pow(2).sum()".into(),
            Loss::CrossEntropy => "kept_metric += out.pow(2).sum()".into(),
        },
        PlantedLeak::EvalOutputsKept => "kept_outputs.append(eval_out)".into(),
        PlantedLeak::CarriedState => "kept_state = carry(kept_state, out)".into(),
        PlantedLeak::KeptException => "kept_errors.append(err)".into(),
        PlantedLeak::ReferenceCycle => "kept_cycle[\"self\"] = kept_cycle".into(),
        PlantedLeak::CtxSavedOutput => "ctx.result = result".into(),
        PlantedLeak::HookAccumulation => "model.register_forward_hook(check_batch(x))".into(),
        PlantedLeak::Fragmentation => format!(
            "frag_buffer = torch.empty(1280 + 256 * {}, 2048, device=device)",
            step_count(program)
        ),
        PlantedLeak::EvalTotalKept => {
            format!(
                "kept_eval_total += {}",
                loss_call(program.loss, "model(eval_x)", "eval_y")
            )
        }
    }
}

fn loss_call(loss: Loss, input: &str, target: &str) -> String {
    match loss {
        Loss::Mse => format!("nn.functional.mse_loss({input}, {target})"),
        Loss::CrossEntropy => format!("nn.functional.cross_entropy({input}, {target})"),
    }
}

fn target(program: &Program, name: &str) -> String {
    let classes = program.widths[program.widths.len() - 1];
    let b = program.batch;
    match program.loss {
        Loss::Mse => format!("{name} = torch.randn({b}, {classes}, device=device)"),
        Loss::CrossEntropy => {
            format!("{name} = torch.randint(0, {classes}, ({b},), device=device)")
        }
    }
}

fn zero_grad_call(z: ZeroGrad) -> String {
    let on = if z.on_model { "model" } else { "opt" };
    match z.set_to_none {
        None => format!("{on}.zero_grad()"),
        Some(true) => format!("{on}.zero_grad(set_to_none=True)"),
        Some(false) => format!("{on}.zero_grad(set_to_none=False)"),
    }
}

fn render(p: &Program) -> String {
    let mut out = Lines { text: header(p) };
    if p.benign.contains(&Benign::CycleCollected) {
        out.line(0, "import gc");
    }
    out.line(0, "import torch");
    out.line(0, "import torch.nn as nn");
    out.line(0, "");
    out.line(
        0,
        "device = \"cuda\" if torch.cuda.is_available() else \"cpu\"",
    );
    out.line(0, &format!("model = {}.to(device)", model(p)));
    out.line(0, &format!("opt = {}", optimizer(p.optimizer)));
    if p.leak == Some(PlantedLeak::KeptException) || p.benign.contains(&Benign::ErrorAsText) {
        out.line(0, "def audit(value):");
        out.line(1, "scaled = value * 2.0");
        out.line(1, "raise RuntimeError(\"audit failed\")");
    }
    if p.leak == Some(PlantedLeak::CtxSavedOutput) {
        scale_function(
            &mut out,
            "Scale",
            &planted_statement(p, PlantedLeak::CtxSavedOutput),
        );
    }
    if p.benign.contains(&Benign::CtxSaved) {
        scale_function(&mut out, "ScaleSaved", "ctx.save_for_backward(result)");
    }
    if p.leak == Some(PlantedLeak::HookAccumulation) || p.benign.contains(&Benign::HookRemoved) {
        out.line(0, "def check_batch(batch):");
        out.line(1, "def check(module, inputs, output):");
        out.line(2, "assert output.shape[0] == batch.shape[0]");
        out.line(1, "return check");
    }
    if p.leak == Some(PlantedLeak::CarriedState) || p.benign.contains(&Benign::CarriedDetached) {
        out.line(0, "def carry(state, value):");
        out.line(1, "return 0.9 * state + 0.1 * value.mean(0)");
    }
    match p.style {
        Style::Script => training(p, &mut out, 0),
        Style::Function => {
            out.line(0, "def train(model, opt):");
            training(p, &mut out, 1);
            out.line(0, "train(model, opt)");
        }
        Style::Trainer => {
            out.line(0, "class Trainer:");
            out.line(1, "def __init__(self, model, opt):");
            out.line(2, "self.model = model");
            out.line(2, "self.opt = opt");
            out.line(1, "def fit(self):");
            out.line(2, "model = self.model");
            out.line(2, "opt = self.opt");
            training(p, &mut out, 2);
            out.line(0, "Trainer(model, opt).fit()");
        }
    }
    out.text
}

/// The training loop and everything it uses, at depth `d`: module level, or the body of the
/// function or method the style writes.
fn training(p: &Program, out: &mut Lines, d: usize) {
    for (n, b) in p.benign.iter().enumerate() {
        match b {
            Benign::RunningItem => out.line(d, &format!("running_loss_{n} = 0.0")),
            Benign::RunningDetached => out.line(d, &format!("running_det_{n} = 0")),
            Benign::Validation { item: true } => out.line(d, &format!("val_sum_{n} = 0.0")),
            Benign::Validation { item: false } => out.line(d, &format!("val_sum_{n} = 0")),
            Benign::HostPredictions => out.line(d, &format!("preds_{n} = []")),
            Benign::CarriedDetached => out.line(d, &format!("carried_{n} = {}", state_zeros(p))),
            Benign::ErrorAsText => out.line(d, &format!("errors_{n} = []")),
            Benign::MetricsDict => {
                out.line(d, &format!("metrics_{n} = {{\"loss\": 0.0, \"steps\": 0}}"))
            }
            _ => {}
        }
    }
    if !p.leak_released_by_epoch() {
        leak_container(p, out, d);
    }
    if p.accumulation.is_some() {
        out.line(d, &zero_grad_call(p.zero_grad));
    }
    match p.shape {
        Shape::Single { iterations } => {
            out.line(d, &format!("for i in range({iterations}):"));
            for (n, b) in p.benign.iter().enumerate() {
                if *b == Benign::ScopedList {
                    out.line(d + 1, &format!("step_losses_{n} = []"));
                }
            }
            step(p, out, d + 1);
            epoch_end(p, out, d + 1);
        }
        Shape::Epochs { epochs, steps } => {
            out.line(d, &format!("for epoch in range({epochs}):"));
            // Made before the benign lists, as before the loops: a block two names reach is
            // attributed to the older name, and the plant's predicted bytes count all of it.
            if p.leak_released_by_epoch() {
                leak_container(p, out, d + 1);
            }
            for (n, b) in p.benign.iter().enumerate() {
                if *b == Benign::ScopedList {
                    out.line(d + 1, &format!("step_losses_{n} = []"));
                }
            }
            out.line(d + 1, &format!("for i in range({steps}):"));
            step(p, out, d + 2);
            epoch_end(p, out, d + 1);
        }
    }
    if p.final_check {
        final_check(p, out, d);
    }
}

/// A custom Function doubling its input, whose `forward` keeps its result with `keep`.
fn scale_function(out: &mut Lines, name: &str, keep: &str) {
    out.line(0, &format!("class {name}(torch.autograd.Function):"));
    out.line(1, "@staticmethod");
    out.line(1, "def forward(ctx, value):");
    out.line(2, "result = value * 2.0");
    out.line(2, keep);
    out.line(2, "return result");
    out.line(1, "@staticmethod");
    out.line(1, "def backward(ctx, grad):");
    out.line(2, "return grad * 2.0");
}

/// `audit(out)` in a `try`, whose handler runs `handle`.
fn audited(out: &mut Lines, d: usize, handle: &str) {
    out.line(d, "try:");
    out.line(d + 1, "audit(out)");
    out.line(d, "except RuntimeError as err:");
    out.line(d + 1, handle);
}

/// A zero state of the output's width, for the helper `carry` to update.
fn state_zeros(p: &Program) -> String {
    format!(
        "torch.zeros({}, device=device)",
        p.widths[p.widths.len() - 1]
    )
}

/// The list or total the planted leak keeps its memory in, made at depth `d`.
fn leak_container(p: &Program, out: &mut Lines, d: usize) {
    match p.leak {
        Some(
            PlantedLeak::AttachedLossList
            | PlantedLeak::DetachedLossList
            | PlantedLeak::RetainedGraphKept,
        ) => out.line(d, "kept_losses = []"),
        Some(PlantedLeak::AttachedOutputList | PlantedLeak::EvalOutputsKept) => {
            out.line(d, "kept_outputs = []")
        }
        Some(PlantedLeak::AttachedTotal) => out.line(d, "kept_total = 0"),
        Some(PlantedLeak::AttachedMetric) => out.line(d, "kept_metric = 0"),
        Some(PlantedLeak::EvalTotalKept) => out.line(d, "kept_eval_total = 0"),
        Some(PlantedLeak::CarriedState) => out.line(d, &format!("kept_state = {}", state_zeros(p))),
        Some(PlantedLeak::KeptException) => out.line(d, "kept_errors = []"),
        // Made in the step: each step's dict (or result) is dropped into a cycle when the next
        // one is.
        Some(PlantedLeak::ReferenceCycle | PlantedLeak::CtxSavedOutput) | None => {}
        // Kept by the model's hooks.
        Some(PlantedLeak::HookAccumulation) => {}
        // Kept by the allocator's cache, not by the program.
        Some(PlantedLeak::Fragmentation) => {}
    }
}

fn header(p: &Program) -> String {
    let what = match p.leak {
        None => "a training loop that is clean by construction".to_string(),
        Some(leak) if p.leak_released_by_epoch() => {
            format!("a training loop with one planted leak ({leak:?}) made every epoch")
        }
        Some(leak) => format!("a training loop with one planted leak ({leak:?})"),
    };
    let conf = if p.expandable_segments {
        "#@ alloc-conf: expandable_segments:True\n"
    } else {
        ""
    };
    format!(
        "# Generated by leakharness::gen: {what}.\n#@ expect: {}\n#@ iterations: {}\n{conf}",
        expect(p),
        p.steps()
    )
}

fn expect(p: &Program) -> Expect {
    match p.leak {
        None if p.expects_bounded_growth() => Expect::BoundedGrowth,
        None => Expect::Clean,
        Some(leak) => Expect::Leak(leak.kinds()),
    }
}

fn model(p: &Program) -> String {
    let relu = if p.relu_inplace {
        "nn.ReLU(inplace=True)"
    } else {
        "nn.ReLU()"
    };
    let layers: Vec<String> = p
        .widths
        .windows(2)
        .map(|w| format!("nn.Linear({}, {})", w[0], w[1]))
        .collect();
    format!("nn.Sequential({})", layers.join(&format!(", {relu}, ")))
}

fn optimizer(o: Optimizer) -> String {
    match o {
        Optimizer::Sgd => "torch.optim.SGD(model.parameters(), lr=0.01)".into(),
        Optimizer::SgdMomentum => {
            "torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)".into()
        }
        Optimizer::Adam => "torch.optim.Adam(model.parameters(), lr=0.001)".into(),
        Optimizer::AdamW => "torch.optim.AdamW(model.parameters(), lr=0.001)".into(),
    }
}

/// One training step, then the planted statement and the benign ones.
fn step(p: &Program, out: &mut Lines, d: usize) {
    let zero = zero_grad_call(p.zero_grad);
    if p.zero_grad.at_start && p.accumulation.is_none() {
        out.line(d, &zero);
    }
    out.line(
        d,
        &format!(
            "x = torch.randn({}, {}, device=device)",
            p.batch, p.widths[0]
        ),
    );
    out.line(d, &target(p, "y"));
    out.line(d, "out = model(x)");
    out.line(d, &format!("loss = {}", loss_call(p.loss, "out", "y")));
    if let Some(k) = p.accumulation {
        out.line(d, &format!("loss = loss / {k}"));
    }
    if p.leak == Some(PlantedLeak::RetainedGraphKept) {
        out.line(d, "loss.backward(retain_graph=True)");
    } else if p.double_backward {
        out.line(d, "loss.backward(retain_graph=True)");
        out.line(d, "loss.backward()");
    } else {
        out.line(d, "loss.backward()");
    }
    match p.accumulation {
        Some(k) => {
            out.line(d, &format!("if (i + 1) % {k} == 0:"));
            out.line(d + 1, "opt.step()");
            out.line(d + 1, &zero);
        }
        None => {
            out.line(d, "opt.step()");
            if !p.zero_grad.at_start {
                out.line(d, &zero);
            }
        }
    }
    if let Some(
        leak @ (PlantedLeak::AttachedLossList
        | PlantedLeak::DetachedLossList
        | PlantedLeak::RetainedGraphKept
        | PlantedLeak::AttachedOutputList
        | PlantedLeak::AttachedTotal
        | PlantedLeak::AttachedMetric
        | PlantedLeak::CarriedState),
    ) = p.leak
    {
        out.line(d, &planted_statement(p, leak));
    }
    if p.leak == Some(PlantedLeak::KeptException) {
        audited(out, d, &planted_statement(p, PlantedLeak::KeptException));
    }
    if p.leak == Some(PlantedLeak::ReferenceCycle) {
        out.line(d, "kept_cycle = {\"out\": out}");
        out.line(d, &planted_statement(p, PlantedLeak::ReferenceCycle));
    }
    if p.leak == Some(PlantedLeak::CtxSavedOutput) {
        out.line(d, "kept_scaled = Scale.apply(out)");
    }
    if p.leak == Some(PlantedLeak::HookAccumulation) {
        out.line(d, &planted_statement(p, PlantedLeak::HookAccumulation));
    }
    if p.leak == Some(PlantedLeak::Fragmentation) {
        out.line(d, &planted_statement(p, PlantedLeak::Fragmentation));
        out.line(d, "del frag_buffer");
    }
    for (n, b) in p.benign.iter().enumerate() {
        match b {
            Benign::LogItem { every } => {
                out.line(d, &format!("if i % {every} == 0:"));
                out.line(d + 1, "print(\"loss\", loss.item())");
            }
            Benign::RunningItem => out.line(d, &format!("running_loss_{n} += loss.item()")),
            Benign::RunningDetached => out.line(d, &format!("running_det_{n} += loss.detach()")),
            Benign::Validation { .. } if matches!(p.shape, Shape::Single { .. }) => {
                validation(p, out, d, n)
            }
            Benign::EmptyCache => out.line(d, "torch.cuda.empty_cache()"),
            Benign::RebindDetached => out.line(d, "out = out.detach()"),
            Benign::ReadCounter => {
                out.line(d, &format!("used_{n} = torch.cuda.memory_allocated()"))
            }
            Benign::HostPredictions => {
                out.line(d, &format!("preds_{n}.append(out.argmax(dim=1).cpu())"))
            }
            Benign::ScopedList => out.line(d, &scoped_list_append(n)),
            Benign::CarriedDetached => out.line(
                d,
                &format!("carried_{n} = carry(carried_{n}, out.detach())"),
            ),
            Benign::ErrorAsText => audited(out, d, &format!("errors_{n}.append(str(err))")),
            Benign::CycleCollected => {
                out.line(d, &format!("snapshot_{n} = {{\"out\": out.detach()}}"));
                out.line(d, &format!("snapshot_{n}[\"self\"] = snapshot_{n}"));
                out.line(d, &format!("snapshot_{n} = None"));
                out.line(d, "gc.collect()");
            }
            Benign::MetricsDict => {
                out.line(d, &format!("metrics_{n}[\"loss\"] += loss.item()"));
                out.line(d, &format!("metrics_{n}[\"steps\"] += 1"));
            }
            Benign::BatchSizes => out.line(d, &format!("sizes_{n} = [t.shape[0] for t in (x, y)]")),
            Benign::CtxSaved => out.line(d, &format!("scaled_{n} = ScaleSaved.apply(out)")),
            Benign::HookRemoved => {
                out.line(
                    d,
                    &format!("hook_{n} = model.register_forward_hook(check_batch(x))"),
                );
                out.line(d, &format!("checked_{n} = model(x)"));
                out.line(d, &format!("hook_{n}.remove()"));
            }
            Benign::FixedBuffer => {
                out.line(
                    d,
                    &format!("buffer_{n} = torch.empty(2048, 2048, device=device)"),
                );
                out.line(d, &format!("del buffer_{n}"));
            }
            Benign::Validation { .. } | Benign::DelTemporaries => {}
        }
    }
    // Deleting comes last, so that every statement above still finds the names.
    if p.benign.contains(&Benign::DelTemporaries) {
        out.line(d, "del out, loss");
    }
}

/// Statements that run once per epoch (once per step in a single loop): validation, and the
/// planted evaluation leaks.
fn epoch_end(p: &Program, out: &mut Lines, d: usize) {
    if let Shape::Epochs { .. } = p.shape {
        for (n, b) in p.benign.iter().enumerate() {
            if let Benign::Validation { .. } = b {
                validation(p, out, d, n);
            }
        }
    }
    match p.leak {
        Some(PlantedLeak::EvalOutputsKept) => {
            out.line(
                d,
                &format!(
                    "eval_x = torch.randn({}, {}, device=device)",
                    p.batch, p.widths[0]
                ),
            );
            out.line(d, "eval_out = model(eval_x)");
            out.line(d, &planted_statement(p, PlantedLeak::EvalOutputsKept));
        }
        Some(PlantedLeak::EvalTotalKept) => {
            out.line(
                d,
                &format!(
                    "eval_x = torch.randn({}, {}, device=device)",
                    p.batch, p.widths[0]
                ),
            );
            out.line(d, &target(p, "eval_y"));
            out.line(d, &planted_statement(p, PlantedLeak::EvalTotalKept));
        }
        _ => {}
    }
}

fn validation(p: &Program, out: &mut Lines, d: usize, n: usize) {
    let Benign::Validation { item } = p.benign[n] else {
        return;
    };
    out.line(d, "with torch.no_grad():");
    out.line(
        d + 1,
        &format!(
            "val_x_{n} = torch.randn({}, {}, device=device)",
            p.batch, p.widths[0]
        ),
    );
    out.line(d + 1, &target(p, &format!("val_y_{n}")));
    out.line(d + 1, &format!("val_out_{n} = model(val_x_{n})"));
    let call = loss_call(p.loss, &format!("val_out_{n}"), &format!("val_y_{n}"));
    if item {
        out.line(d + 1, &format!("val_sum_{n} += {call}.item()"));
    } else {
        out.line(d + 1, &format!("val_sum_{n} += {call}"));
    }
}

/// Every device tensor the program still names after its loop.
fn device_names(p: &Program) -> Vec<String> {
    let mut names = vec!["x".to_string(), "y".to_string()];
    if !p.benign.contains(&Benign::DelTemporaries) {
        names.push("out".into());
        names.push("loss".into());
    }
    for (n, b) in p.benign.iter().enumerate() {
        match b {
            Benign::RunningDetached => names.push(format!("running_det_{n}")),
            Benign::Validation { item } => {
                names.extend([
                    format!("val_x_{n}"),
                    format!("val_y_{n}"),
                    format!("val_out_{n}"),
                ]);
                if !item {
                    names.push(format!("val_sum_{n}"));
                }
            }
            Benign::ScopedList => names.push(format!("step_losses_{n}")),
            Benign::CarriedDetached => names.push(format!("carried_{n}")),
            Benign::CtxSaved => names.push(format!("scaled_{n}")),
            Benign::HookRemoved => names.push(format!("checked_{n}")),
            _ => {}
        }
    }
    names
}

/// Deletes everything the loop left and asserts that only what PyTorch keeps between steps
/// is allocated: parameters, gradients when they are zeroed rather than dropped, and the
/// optimizer's state once a step ran. cuBLAS's workspaces, which PyTorch keeps for the
/// process, are given back first: their size depends on the card.
fn final_check(p: &Program, out: &mut Lines, d: usize) {
    out.line(d, &format!("del {}", device_names(p).join(", ")));
    out.line(d, &zero_grad_call(p.zero_grad));
    out.line(d, "torch._C._cuda_clearCublasWorkspaces()");
    let params = parameter_bytes(p);
    let grads = if p.zero_grad.drops_gradients() {
        0
    } else {
        params
    };
    let per_loop = match p.shape {
        Shape::Single { iterations } => iterations,
        Shape::Epochs { steps, .. } => steps,
    };
    let stepped = p.accumulation.is_none_or(|k| per_loop >= k);
    let state = match (stepped, p.optimizer) {
        (false, _) | (true, Optimizer::Sgd) => 0,
        (true, Optimizer::SgdMomentum) => params,
        (true, Optimizer::Adam | Optimizer::AdamW) => 2 * params,
    };
    out.line(
        d,
        &format!(
            "assert torch.cuda.memory_allocated() == {}, \"only parameters, gradients and optimizer state remain\"",
            params + grads + state
        ),
    );
}

fn parameter_bytes(p: &Program) -> u64 {
    p.widths
        .windows(2)
        .map(|w| rounded(w[0] * w[1] * 4) + rounded(w[1] * 4))
        .sum()
}

/// The number of steps before this one, over the whole run: `i` in a single loop, counted on
/// through the epochs in an epoch loop.
fn step_count(p: &Program) -> String {
    match p.shape {
        Shape::Single { .. } => "i".into(),
        Shape::Epochs { steps, .. } => format!("(epoch * {steps} + i)"),
    }
}

/// What the planted leak keeps per iteration, by PyTorch's rules: which tensors each autograd
/// node saves, and that `backward()` frees them unless `retain_graph=True`.
fn predicted_bytes(p: &Program, leak: PlantedLeak) -> Option<u64> {
    let b = p.batch;
    let last = p.widths.len() - 1;
    let input = rounded(b * p.widths[0] * 4);
    let output = rounded(b * p.widths[last] * 4);
    // Each Linear saves its input: the hidden activations (after the ReLU, which saves the
    // same tensor, in place or not) stay with the graph.
    let hidden: u64 = p.widths[1..last].iter().map(|&w| rounded(b * w * 4)).sum();
    // What a loss node saves besides the model's graph, and the loss itself.
    let loss_saved = match p.loss {
        // MseLossBackward saves the output and the target.
        Loss::Mse => output + output,
        // LogSoftmaxBackward saves its result (the logits die); NllLossBackward saves that,
        // the int64 targets and the total weight.
        Loss::CrossEntropy => output + rounded(b * 8) + 512,
    };
    // The loss tensor itself: mse_loss's 0-dim result keeps a storage of the input's size
    // (docs/fidelity.md); cross_entropy's is a 4-byte block, and so is the quotient that
    // gradient accumulation divides the loss into (the undivided loss dies with the name).
    let loss = match (p.loss, p.accumulation) {
        (Loss::Mse, None) => output,
        _ => 512,
    };
    match leak {
        // Backward freed what the graph saved; the loss itself remains.
        PlantedLeak::AttachedLossList | PlantedLeak::DetachedLossList => Some(loss),
        PlantedLeak::AttachedOutputList => Some(output),
        // An in-place `+=` on the total keeps no tensor: only nodes pile up.
        PlantedLeak::AttachedTotal => Some(0),
        // `pow` saves its input, the size of the output.
        PlantedLeak::AttachedMetric => Some(output),
        PlantedLeak::EvalOutputsKept => Some(input + hidden + output),
        PlantedLeak::EvalTotalKept => Some(input + hidden + loss_saved),
        PlantedLeak::RetainedGraphKept => Some(input + hidden + loss_saved + loss),
        // Scalar products save no tensor and `mean` only sizes; backward freed what the
        // model's graph saved: only nodes pile up.
        PlantedLeak::CarriedState => Some(0),
        // The frame of `audit()` keeps the output and its scaled copy; the scalar product
        // saves no tensor, and backward freed what the model's graph saved.
        // In a function or method, the traceback also keeps the running frame, whose other
        // locals (a per-epoch list) the kept exceptions may be the first to reach.
        PlantedLeak::KeptException => (p.style == Style::Script).then_some(2 * output),
        // Each step's dict keeps that step's output, and each step's ctx its doubled output
        // (backward freed what the graph saved), counted per iteration of the outermost loop.
        // Each step's hook keeps that step's input batch through its closure.
        PlantedLeak::HookAccumulation => Some(input),
        // Step j's buffer is (1280 + 256 j) × 2048 f32 = 10 MiB + 2 MiB·j: at least 10 MiB,
        // so a segment of exactly its size, and larger than every cached one. The doubled run's
        // N more steps (N in the run as written) open 10 + 2j MiB for j = N .. 2N - 1,
        // N (3N + 9) MiB in all, counted per iteration of the outermost loop.
        PlantedLeak::Fragmentation => {
            let n = u64::from(p.steps());
            let outer = match p.shape {
                Shape::Single { iterations } => u64::from(iterations),
                Shape::Epochs { epochs, .. } => u64::from(epochs),
            };
            Some(n * (3 * n + 9) * (1 << 20) / outer)
        }
        PlantedLeak::ReferenceCycle | PlantedLeak::CtxSavedOutput => Some(match p.shape {
            Shape::Single { .. } => output,
            Shape::Epochs { steps, .. } => u64::from(steps) * output,
        }),
    }
}
