//! `leakharness`: check scenario files for GPU memory leaks.
//!
//! Exit status: 0 when every scenario meets its expectation, 1 when any does not, 2 when any
//! cannot be parsed or run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use leakharness::check::{check_file, discover, report_stem, CheckOptions, FileOutcome};
use leakharness::device::{Backend, BackendChoice};
use leakharness::report::{human_summary, write_reports, Verdict};
use leakharness::scenario::parse_size;

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
    /// One JSON report per line.
    Json,
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
    }
}

fn run(args: RunArgs) -> ExitCode {
    let backend = match args.backend {
        BackendChoice::Exactly(Backend::Cuda) => match leakharness::device::cuda_device_count() {
            Ok(n) if n > 0 => Backend::Cuda,
            Ok(_) => return fatal("--backend cuda: no CUDA device is present"),
            Err(e) => return fatal(&format!("--backend cuda: {e}")),
        },
        choice => {
            let (backend, notice) = choice.resolve();
            if let Some(notice) = notice {
                eprintln!("note: {notice}");
            }
            backend
        }
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
    let bar = progress_bar(files.len() as u64);
    let (mut passed, mut failed, mut broken, mut skipped) = (0, 0, 0, 0);
    for (path, root) in &files {
        bar.set_message(path.display().to_string());
        let outcome = check_file(path, &options);
        bar.inc(1);
        let line = |status: &str| format!("{} ... {status}", path.display());
        match outcome {
            FileOutcome::Checked(report) => {
                let written = write_reports(&report, &args.report_dir, &report_stem(path, root));
                if args.format == Format::Json {
                    bar.suspend(|| {
                        println!("{}", serde_json::to_string(&report).unwrap_or_default())
                    });
                }
                let status = match (report.passed, report.verdict) {
                    (true, Verdict::Clean) => "ok".to_string(),
                    (true, v) => format!("ok ({} as expected)", v.name()),
                    (false, _) => "FAILED".to_string(),
                };
                let cannot_run = !report.passed && report.verdict == Verdict::Error;
                if report.passed {
                    passed += 1;
                } else if cannot_run {
                    broken += 1;
                } else {
                    failed += 1;
                }
                if args.format == Format::Human {
                    bar.suspend(|| {
                        println!("{}", line(&status));
                        if !report.passed || !report.leaks.is_empty() {
                            print!("{}", human_summary(&report));
                        }
                        if let (false, Ok(p)) = (report.passed, &written) {
                            println!("  report: {}", p.markdown.display());
                        }
                    });
                }
                if let Err(e) = written {
                    bar.suspend(|| eprintln!("error: {e}"));
                    broken += 1;
                }
            }
            FileOutcome::Invalid(errors) => {
                broken += 1;
                bar.suspend(|| {
                    println!("{}", line("ERROR"));
                    eprintln!("{errors}");
                });
            }
            FileOutcome::Skipped(reason) => {
                skipped += 1;
                bar.suspend(|| println!("{}", line(&format!("ignored, {reason}"))));
            }
            FileOutcome::CannotRun(e) => {
                broken += 1;
                bar.suspend(|| {
                    println!("{}", line("ERROR"));
                    eprintln!("{}: error: {e}", path.display());
                });
            }
        }
    }
    bar.finish_and_clear();
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
