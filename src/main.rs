//! `leakharness`: check scenario files for GPU memory leaks.
//!
//! Exit status: 0 when every scenario meets its expectation, 1 when any does not, 2 when any
//! cannot be parsed or run.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use leakharness::base::parse_size;
use leakharness::check::plan::{self, plan_files, Exports, RunPlan, RunTotals};
use leakharness::check::{hold_scenario, trace_scenario, CheckOptions};
use leakharness::device::{Backend, BackendChoice};
use leakharness::r#gen::{self, Exploration, ExploreEvent};
use leakharness::report::{
    human_summary, outcome, remove_stale_temporaries, render_index, render_junit, report_events,
    write_atomically, CaseResult, JunitCase, Report, Reporter, RunEvent, Verdict,
};
use leakharness::scenario::{load, LoadError};

#[derive(Parser)]
#[command(
    name = "leakharness",
    version,
    about = "Finds GPU memory leaks in PyTorch-style training code"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check scenario files (or every .py under directories) and write their reports.
    Run(RunArgs),
    /// Run one scenario once and print, as JSON, the device counters just before each statement
    /// (compare with `benches/pytorch_trace.py`, which records the same under PyTorch).
    Trace(TraceArgs),
    /// Generate random training programs, clean or with one planted leak, check each, and write
    /// every case the checker misjudges (shrunk) to reports/found/.
    Explore(ExploreArgs),
}

#[derive(clap::Args)]
struct ExploreArgs {
    /// How many programs to generate.
    #[arg(long, default_value_t = 256)]
    cases: u32,
    /// Seed of the generator; a fresh one when not given (printed in the summary).
    #[arg(long)]
    seed: Option<u64>,
    /// Where the tensors live: auto picks cuda when a CUDA device is present, else cpu.
    #[arg(long, default_value = "auto", value_parser = parse_backend)]
    backend: BackendChoice,
    /// Directory for the findings: scenario files and their reports.
    #[arg(long, default_value = "reports/found")]
    found_dir: PathBuf,
}

#[derive(clap::Args)]
struct TraceArgs {
    /// The scenario file.
    path: PathBuf,
    /// Where the tensors live: auto picks cuda when a CUDA device is present, else cpu.
    #[arg(long, default_value = "auto", value_parser = parse_backend)]
    backend: BackendChoice,
    /// Device memory when the scenario's header does not set it (e.g. 24GiB).
    #[arg(long, value_parser = parse_device_memory)]
    device_memory: Option<u64>,
    /// Record, instead of the counters, the tensors the names reach and the autograd nodes
    /// with their saved tensors before each statement (`scripts/parity.py` compares them with
    /// PyTorch's).
    #[arg(long)]
    tensors: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// Where the tensors live: auto picks cuda when a CUDA device is present, else cpu.
    #[arg(long, default_value = "auto", value_parser = parse_backend)]
    backend: BackendChoice,
    /// Directory for the JSON and Markdown reports.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Device memory when a scenario's header does not set it (e.g. 24GiB).
    #[arg(long, value_parser = parse_device_memory)]
    device_memory: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also write a JUnit XML file with one test case per scenario, for CI.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Also write <stem>.trace.json per scenario: Chrome trace events for ui.perfetto.dev.
    #[arg(long)]
    trace_events: bool,
    /// Also write <stem>.pickle per scenario: a PyTorch memory snapshot for
    /// pytorch.org/memory_viz.
    #[arg(long)]
    snapshot: bool,
    /// Stop a scenario after this many executed statements, when its header does not say.
    #[arg(long, default_value_t = 1_000_000)]
    max_steps: u64,
    /// Stop a scenario run after this many seconds of wall time.
    #[arg(long, default_value_t = 120)]
    time_limit: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A line per scenario, as cargo test prints them, and details for failures.
    Human,
    /// One JSON report per line, for every file (one that cannot run gets verdict `error`).
    Json,
    /// One event per line: started, iteration, leak, finished, per scenario.
    Jsonl,
}

fn parse_backend(s: &str) -> Result<BackendChoice, String> {
    s.parse()
        .map_err(|e: leakharness::device::DeviceError| e.to_string())
}

fn parse_device_memory(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

/// `println!` for the run's listing on stdout, except that a reader that went away
/// (`leakharness run dir | head`) ends the listing instead of the run: `println!` panics on a
/// closed pipe, and the reports, the JUnit file and the index must still be written.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// [`outln!`] without the newline.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Explore(args) => explore(args),
        Command::Trace(args) => trace(args),
    }
}

/// The backend, resolved as for every command ([`plan::resolve_backend`]), its notice told.
fn resolve_backend(choice: BackendChoice) -> Result<Backend, ExitCode> {
    match plan::resolve_backend(choice) {
        Ok((backend, notice)) => {
            if let Some(notice) = notice {
                eprintln!("note: {notice}");
            }
            Ok(backend)
        }
        Err(e) => Err(fatal(&e.to_string())),
    }
}

fn trace(args: TraceArgs) -> ExitCode {
    let backend = match resolve_backend(args.backend) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let scenario = match load(&args.path) {
        Ok(s) => s,
        Err(LoadError::Invalid(errors)) => return invalid(&errors.to_string()),
        Err(e) => return invalid(&format!("{}: error: {e}", args.path.display())),
    };
    if let Err(errors) = leakharness::scenario::interp::validate(&scenario) {
        return invalid(&errors.to_string());
    }
    let options = CheckOptions {
        backend,
        device_memory: args.device_memory,
        ..CheckOptions::default()
    };
    let json = if args.tensors {
        hold_scenario(&scenario, &options).map(serde_json::to_value)
    } else {
        trace_scenario(&scenario, &options).map(serde_json::to_value)
    };
    match json {
        Ok(Err(e)) => fatal(&e.to_string()),
        Ok(Ok(trace)) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) ends the output quietly, as for any filter.
            match serde_json::to_writer(&mut out, &trace)
                .and_then(|()| writeln!(out).map_err(serde_json::Error::io))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.is_io() => ExitCode::SUCCESS,
                Err(e) => fatal(&e.to_string()),
            }
        }
        Err(e) => fatal(&e.to_string()),
    }
}

fn invalid(errors: &str) -> ExitCode {
    eprintln!("{errors}");
    ExitCode::from(2)
}

fn explore(args: ExploreArgs) -> ExitCode {
    let backend = match resolve_backend(args.backend) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        nanos as u64
    });
    let exploration = Exploration {
        cases: args.cases,
        seed,
        options: CheckOptions {
            backend,
            ..CheckOptions::default()
        },
        found_dir: args.found_dir,
        shrink_budget: 256,
    };
    let bar = progress_bar(u64::from(args.cases));
    let explored = r#gen::explore(&exploration, &mut |event| match event {
        ExploreEvent::Checked { .. } => bar.inc(1),
        ExploreEvent::Finding { path, reasons, .. } => {
            bar.suspend(|| outln!("finding: {} ({})", path.display(), reasons.join("; ")))
        }
        ExploreEvent::NotWritten { error, .. } => {
            bar.suspend(|| eprintln!("error: cannot write a finding: {error}"))
        }
    });
    bar.finish_and_clear();
    match explored {
        Ok(e) => {
            outln!("{} cases, {} findings (seed {seed})", e.cases, e.findings);
            if e.findings > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fatal(&e.to_string()),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let backend = match resolve_backend(args.backend) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let files = match plan_files(&args.paths) {
        Ok(files) => files,
        Err(e) => return fatal(&e.to_string()),
    };
    // A run killed between writing a report and renaming it left its temporary file behind.
    if let Err(e) = remove_stale_temporaries(&args.report_dir) {
        eprintln!("warning: cannot clean {}: {e}", args.report_dir.display());
    }
    let interrupt = Interrupt::install(files.len());
    let plan = RunPlan {
        options: CheckOptions {
            backend,
            device_memory: args.device_memory,
            max_steps: args.max_steps,
            time_limit: std::time::Duration::from_secs(args.time_limit),
            // The handler's flag reaches inside the operation running when a signal comes.
            interrupt: Some(interrupt.flag()),
            ..CheckOptions::default()
        },
        report_dir: args.report_dir.clone(),
        command: Some(command_line()),
        exports: Exports {
            trace_events: args.trace_events,
            snapshot: args.snapshot,
        },
        files,
    };
    let mut output = Output {
        format: args.format,
        bar: progress_bar(plan.files.len() as u64),
        cases: Vec::new(),
        pages: Vec::new(),
        interrupt,
    };
    let RunTotals {
        passed,
        failed,
        mut broken,
        skipped,
    } = {
        let interrupt = output.interrupt.clone();
        plan.run_until(&mut output, &|| interrupt.requested())
    };
    output.bar.finish_and_clear();
    if output.interrupt.requested() {
        eprintln!("{}", output.interrupt.summary());
    }
    if !output.pages.is_empty() {
        let listed: Vec<(String, &Report)> =
            output.pages.iter().map(|(s, r)| (s.clone(), r)).collect();
        let index = args.report_dir.join("index.html");
        if let Err(e) = write_atomically(&index, render_index(&listed).as_bytes()) {
            eprintln!("error: cannot write {}: {e}", index.display());
            broken += 1;
        }
    }
    if let Some(junit) = &args.junit {
        let xml = render_junit("leakharness", &output.cases);
        if let Err(e) = write_atomically(junit, xml.as_bytes()) {
            eprintln!("error: cannot write {}: {e}", junit.display());
            broken += 1;
        }
    }
    if args.format == Format::Human {
        let mut summary = format!("{passed} passed, {} failed", failed + broken);
        if skipped > 0 {
            summary.push_str(&format!(", {skipped} skipped"));
        }
        outln!("\n{summary}");
    }
    if output.interrupt.requested() {
        ExitCode::from(INTERRUPTED)
    } else if broken > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `leakharness run`'s reporter: each event rendered in the chosen format above the progress
/// bar, and what the JUnit file and the HTML index need kept.
struct Output {
    format: Format,
    bar: ProgressBar,
    cases: Vec<JunitCase>,
    /// Each written report's stem and summary.
    pages: Vec<(String, Report)>,
    /// Whether Ctrl-C or SIGTERM asked the run to stop, and how many files were done by then.
    interrupt: Interrupt,
}

impl Output {
    /// Machine-readable output has a line for every file, whatever happened to it.
    fn emit(&self, report: &Report) {
        match self.format {
            Format::Human => {}
            Format::Json => self
                .bar
                .suspend(|| outln!("{}", serde_json::to_string(report).unwrap_or_default())),
            Format::Jsonl => self.bar.suspend(|| {
                for event in report_events(report) {
                    outln!("{event}");
                }
            }),
        }
    }
}

impl Reporter for Output {
    fn event(&mut self, event: &RunEvent<'_>) {
        let line = |path: &Path, status: &str| format!("{} ... {status}", path.display());
        let case = |path: &Path, seconds, result| JunitCase {
            name: path.display().to_string(),
            seconds,
            result,
        };
        match *event {
            RunEvent::Started { path } => {
                self.bar.set_message(path.display().to_string());
                return;
            }
            RunEvent::Finished {
                path,
                stem,
                report,
                written,
                seconds,
            } => {
                self.bar.inc(1);
                self.emit(report);
                self.cases.push(case(
                    path,
                    seconds,
                    if report.passed {
                        CaseResult::Passed
                    } else if report.verdict == Verdict::Error {
                        CaseResult::Error {
                            message: outcome(report).into(),
                            text: human_summary(report),
                        }
                    } else {
                        CaseResult::Failed {
                            message: outcome(report).into(),
                            text: human_summary(report),
                        }
                    },
                ));
                let status = match (report.passed, report.verdict) {
                    (true, Verdict::Clean) => "ok".to_string(),
                    // Passing a clean expectation with a leak takes an allowance for every leak.
                    (true, Verdict::Leak) if report.expected == "clean" => {
                        "ok (leak allowed)".to_string()
                    }
                    (true, v) => format!("ok ({} as expected)", v.name()),
                    (false, _) => "FAILED".to_string(),
                };
                if self.format == Format::Human {
                    self.bar.suspend(|| {
                        outln!("{}", line(path, &status));
                        if !report.passed
                            || !report.leaks.is_empty()
                            || !report.stale_allowances.is_empty()
                            || !report.bounded_growth.is_empty()
                        {
                            out!("{}", human_summary(report));
                        }
                        if let (false, Ok(p)) = (report.passed, written) {
                            outln!("  report: {}", p.markdown.display());
                        }
                    });
                }
                match written {
                    Err(e) => self.bar.suspend(|| eprintln!("error: {e}")),
                    Ok(_) => {
                        // The index needs the summary, not the run's event history.
                        let mut page = report.clone();
                        page.events = Vec::new();
                        self.pages.push((stem.to_string(), page));
                    }
                }
            }
            RunEvent::Error {
                path,
                message,
                invalid,
                report,
                seconds,
            } => {
                self.bar.inc(1);
                self.cases.push(case(
                    path,
                    seconds,
                    CaseResult::Error {
                        message: if invalid {
                            "invalid scenario"
                        } else {
                            "cannot run"
                        }
                        .into(),
                        text: message.to_string(),
                    },
                ));
                self.emit(report);
                self.bar.suspend(|| {
                    if self.format == Format::Human {
                        outln!("{}", line(path, "ERROR"));
                    }
                    eprintln!("{message}");
                });
            }
            RunEvent::Skipped {
                path,
                reason,
                seconds,
            } => {
                self.bar.inc(1);
                self.cases
                    .push(case(path, seconds, CaseResult::Skipped(reason.to_string())));
                self.bar.suspend(|| match self.format {
                    Format::Human => outln!("{}", line(path, &format!("ignored, {reason}"))),
                    Format::Json | Format::Jsonl => outln!(
                        "{}",
                        serde_json::json!({
                            "event": "skipped",
                            "scenario": path.display().to_string(),
                            "reason": reason,
                        })
                    ),
                });
            }
        }
        // Every event but `Started` ends a file.
        self.interrupt.finished_one();
    }
}

/// The command line as typed, for reports: arguments that a shell would split or expand are
/// single-quoted, so the line can be pasted back into a shell.
fn command_line() -> String {
    let quote = |arg: String| {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
        if plain {
            arg
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    };
    std::iter::once("leakharness".to_string())
        .chain(std::env::args().skip(1).map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The exit status of a run stopped by SIGINT or SIGTERM: 128 + SIGINT, as shells report it.
const INTERRUPTED: u8 = 130;

/// How long a run may take to stop by itself after a signal before the handler ends the
/// process: reports are written to temporary names and renamed, so ending it mid-check loses
/// only the file being checked, and the next run removes its temporary files.
const STOP_WITHIN: std::time::Duration = std::time::Duration::from_millis(900);

/// What a run shares with its signal handler: whether a stop was asked for, and how many files
/// were done, for the line the handler prints if it has to end the process itself.
#[derive(Clone)]
struct Interrupt {
    state: std::sync::Arc<InterruptState>,
}

struct InterruptState {
    /// Shared with every runtime of the run ([`CheckOptions::interrupt`]), so that the
    /// operation running when the signal comes stops at its next look at the flag.
    requested: std::sync::Arc<std::sync::atomic::AtomicBool>,
    finished: std::sync::atomic::AtomicUsize,
    total: usize,
}

impl Interrupt {
    /// Handles SIGINT and SIGTERM for a run over `total` files: the first stops the file being
    /// checked inside its running operation (host kernels look at the flag between blocks,
    /// the interpreter before every statement) and the run before the next file, and ends the
    /// process if that takes longer than [`STOP_WITHIN`] (a cuda kernel cannot be stopped once
    /// launched); a second ends it at once. The flag is the one piece of state the handler and
    /// the run share: the handler is process-wide by nature, the flag is owned by this run.
    fn install(total: usize) -> Interrupt {
        let interrupt = Interrupt {
            state: std::sync::Arc::new(InterruptState {
                requested: std::sync::Arc::new(false.into()),
                finished: 0.into(),
                total,
            }),
        };
        let handler = interrupt.clone();
        let installed = ctrlc::set_handler(move || {
            use std::sync::atomic::Ordering;
            if handler.state.requested.swap(true, Ordering::SeqCst) {
                std::process::exit(INTERRUPTED.into());
            }
            std::thread::sleep(STOP_WITHIN);
            eprintln!("{}", handler.summary());
            std::process::exit(INTERRUPTED.into());
        });
        if let Err(e) = installed {
            eprintln!("warning: cannot handle Ctrl-C: {e}");
        }
        interrupt
    }

    /// The flag the handler sets, for the run's runtimes.
    fn flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.state.requested.clone()
    }

    fn requested(&self) -> bool {
        self.state
            .requested
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Counts one more file as done.
    fn finished_one(&self) {
        self.state
            .finished
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn summary(&self) -> String {
        let done = self
            .state
            .finished
            .load(std::sync::atomic::Ordering::SeqCst);
        format!(
            "interrupted: {done} of {} scenario files checked; no report for the rest",
            self.state.total
        )
    }
}

fn progress_bar(len: u64) -> ProgressBar {
    // Only on a terminal, and only when there is enough to wait for.
    if !std::io::stderr().is_terminal() || len < 4 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}

fn fatal(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
