//! `leakharness`: check scenario files for GPU memory leaks.
//!
//! Exit status: 0 when every scenario meets its expectation, 1 when any does not, 2 when any
//! cannot be parsed or run.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use leakharness::base::parse_size;
use leakharness::check::{
    check_file, discover, report_stem, trace_scenario, CheckOptions, FileOutcome,
};
use leakharness::device::{Backend, BackendChoice};
use leakharness::gen::{self, Exploration, ExploreEvent};
use leakharness::report::{
    human_summary, outcome, render_index, render_junit, report_events, snapshot_pickle,
    trace_events, write_atomically, write_reports, CaseResult, ExportError, JunitCase, Report,
    Verdict, WriteError,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Explore(args) => explore(args),
        Command::Trace(args) => trace(args),
    }
}

fn resolve_backend(choice: BackendChoice) -> Result<Backend, ExitCode> {
    match choice {
        BackendChoice::Exactly(Backend::Cuda) => match leakharness::device::cuda_device_count() {
            Ok(n) if n > 0 => Ok(Backend::Cuda),
            Ok(_) => Err(fatal("--backend cuda: no CUDA device is present")),
            Err(e) => Err(fatal(&format!("--backend cuda: {e}"))),
        },
        choice => {
            let (backend, notice) = choice.resolve();
            if let Some(notice) = notice {
                eprintln!("note: {notice}");
            }
            Ok(backend)
        }
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
    match trace_scenario(&scenario, &options) {
        Ok(trace) => {
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
    let explored = gen::explore(&exploration, &mut |event| match event {
        ExploreEvent::Checked { .. } => bar.inc(1),
        ExploreEvent::Finding { path, reasons, .. } => {
            bar.suspend(|| println!("finding: {} ({})", path.display(), reasons.join("; ")))
        }
        ExploreEvent::NotWritten { error, .. } => {
            bar.suspend(|| eprintln!("error: cannot write a finding: {error}"))
        }
    });
    bar.finish_and_clear();
    match explored {
        Ok(e) => {
            println!("{} cases, {} findings (seed {seed})", e.cases, e.findings);
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
    // Each file with the root its report is named from: the directory it was found under, or
    // its own folder when given as a file.
    let mut files = Vec::new();
    for p in &args.paths {
        let root = if p.is_dir() {
            p.clone()
        } else {
            p.parent().map(PathBuf::from).unwrap_or_default()
        };
        match discover(std::slice::from_ref(p)) {
            Ok(found) => files.extend(found.into_iter().map(|f| (f, root.clone()))),
            Err(e) => return fatal(&e.to_string()),
        }
    }
    if files.is_empty() {
        return fatal("no scenario files (*.py) found");
    }
    let options = CheckOptions {
        backend,
        device_memory: args.device_memory,
        max_steps: args.max_steps,
        time_limit: std::time::Duration::from_secs(args.time_limit),
        ..CheckOptions::default()
    };
    let command = command_line();
    let bar = progress_bar(files.len() as u64);
    let (mut passed, mut failed, mut broken, mut skipped) = (0, 0, 0, 0);
    // Machine-readable output has a line for every file, whatever happened to it.
    let emit = |report: &Report| match args.format {
        Format::Human => {}
        Format::Json => {
            bar.suspend(|| println!("{}", serde_json::to_string(report).unwrap_or_default()))
        }
        Format::Jsonl => bar.suspend(|| {
            for event in report_events(report) {
                println!("{event}");
            }
        }),
    };
    let mut cases = Vec::new();
    let mut pages = Vec::new();
    for (path, root) in &files {
        bar.set_message(path.display().to_string());
        let started = std::time::Instant::now();
        let checked = check_file(path, &options);
        let seconds = started.elapsed().as_secs_f64();
        bar.inc(1);
        let line = |status: &str| format!("{} ... {status}", path.display());
        let case = |result| JunitCase {
            name: path.display().to_string(),
            seconds,
            result,
        };
        match checked {
            FileOutcome::Checked(mut report) => {
                report.command = Some(command.clone());
                let stem = report_stem(path, root);
                let written = write_reports(&report, &args.report_dir, &stem).and_then(|paths| {
                    write_exports(&report, &args, &stem)?;
                    Ok(paths)
                });
                emit(&report);
                cases.push(case(if report.passed {
                    CaseResult::Passed
                } else if report.verdict == Verdict::Error {
                    CaseResult::Error {
                        message: outcome(&report).into(),
                        text: human_summary(&report),
                    }
                } else {
                    CaseResult::Failed {
                        message: outcome(&report).into(),
                        text: human_summary(&report),
                    }
                }));
                let status = match (report.passed, report.verdict) {
                    (true, Verdict::Clean) => "ok".to_string(),
                    // Passing a clean expectation with a leak takes an allowance for every leak.
                    (true, Verdict::Leak) if report.expected == "clean" => {
                        "ok (leak allowed)".to_string()
                    }
                    (true, v) => format!("ok ({} as expected)", v.name()),
                    (false, _) => "FAILED".to_string(),
                };
                // A scenario that raised an error, or whose report could not be written, could
                // not be checked; counted once, as broken.
                let cannot_run =
                    (!report.passed && report.verdict == Verdict::Error) || written.is_err();
                if cannot_run {
                    broken += 1;
                } else if report.passed {
                    passed += 1;
                } else {
                    failed += 1;
                }
                if args.format == Format::Human {
                    bar.suspend(|| {
                        println!("{}", line(&status));
                        if !report.passed
                            || !report.leaks.is_empty()
                            || !report.stale_allowances.is_empty()
                            || !report.bounded_growth.is_empty()
                        {
                            print!("{}", human_summary(&report));
                        }
                        if let (false, Ok(p)) = (report.passed, &written) {
                            println!("  report: {}", p.markdown.display());
                        }
                    });
                }
                if let Err(e) = written {
                    bar.suspend(|| eprintln!("error: {e}"));
                } else {
                    // The index needs the summary, not the run's event history.
                    report.events = Vec::new();
                    pages.push((stem, *report));
                }
            }
            FileOutcome::Invalid(errors) => {
                broken += 1;
                cases.push(case(CaseResult::Error {
                    message: "invalid scenario".into(),
                    text: errors.clone(),
                }));
                emit(&Report::could_not_run(
                    &path.display().to_string(),
                    backend,
                    &errors,
                ));
                bar.suspend(|| {
                    if args.format == Format::Human {
                        println!("{}", line("ERROR"));
                    }
                    eprintln!("{errors}");
                });
            }
            FileOutcome::Skipped(reason) => {
                skipped += 1;
                cases.push(case(CaseResult::Skipped(reason.clone())));
                bar.suspend(|| match args.format {
                    Format::Human => println!("{}", line(&format!("ignored, {reason}"))),
                    Format::Json | Format::Jsonl => println!(
                        "{}",
                        serde_json::json!({
                            "event": "skipped",
                            "scenario": path.display().to_string(),
                            "reason": reason,
                        })
                    ),
                });
            }
            FileOutcome::CannotRun(e) => {
                broken += 1;
                let message = format!("{}: error: {e}", path.display());
                cases.push(case(CaseResult::Error {
                    message: "cannot run".into(),
                    text: message.clone(),
                }));
                emit(&Report::could_not_run(
                    &path.display().to_string(),
                    backend,
                    &message,
                ));
                bar.suspend(|| {
                    if args.format == Format::Human {
                        println!("{}", line("ERROR"));
                    }
                    eprintln!("{message}");
                });
            }
        }
    }
    bar.finish_and_clear();
    if !pages.is_empty() {
        let listed: Vec<(String, &Report)> = pages.iter().map(|(s, r)| (s.clone(), r)).collect();
        let index = args.report_dir.join("index.html");
        if let Err(e) = write_atomically(&index, render_index(&listed).as_bytes()) {
            eprintln!("error: cannot write {}: {e}", index.display());
            broken += 1;
        }
    }
    if let Some(junit) = &args.junit {
        if let Err(e) = write_atomically(junit, render_junit("leakharness", &cases).as_bytes()) {
            eprintln!("error: cannot write {}: {e}", junit.display());
            broken += 1;
        }
    }
    if args.format == Format::Human {
        let mut summary = format!("{passed} passed, {} failed", failed + broken);
        if skipped > 0 {
            summary.push_str(&format!(", {skipped} skipped"));
        }
        println!("\n{summary}");
    }
    if broken > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The exports asked for beside the JSON and Markdown reports.
fn write_exports(report: &Report, args: &RunArgs, stem: &str) -> Result<(), WriteError> {
    let dir = &args.report_dir;
    let mut files: Vec<(PathBuf, Result<Vec<u8>, ExportError>)> = Vec::new();
    if args.trace_events {
        let trace = trace_events(report).map(|t| t.to_string().into_bytes());
        files.push((dir.join(format!("{stem}.trace.json")), trace));
    }
    if args.snapshot {
        files.push((dir.join(format!("{stem}.pickle")), snapshot_pickle(report)));
    }
    for (path, bytes) in files {
        let bytes = bytes.map_err(|e| WriteError {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&path, &bytes).map_err(|source| WriteError { path, source })?;
    }
    Ok(())
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
