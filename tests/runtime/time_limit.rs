//! The time limit and interrupts inside one long operation (issue 17): host kernels look at the
//! runtime's deadline, which the interpreter sets from its clock, and at the run's interrupt
//! flag between blocks of their work; meta kernels at the flag on every call and at the clock
//! now and then.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leakharness::device::Backend;
use leakharness::runtime::{Runtime, RuntimeOptions};
use leakharness::scenario::interp::{run, RunOptions};
use leakharness::scenario::parse_scenario;
use leakharness::tensor::{Device, TensorError};

#[test]
fn a_host_matmul_past_the_deadline_stops_with_out_of_time() {
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let a = rt
        .ones(&[512, 512], leakharness::tensor::DType::F32, Device::Cuda)
        .unwrap();
    let _guard = rt.set_deadline(Instant::now());
    assert_eq!(a.matmul(&a).unwrap_err(), TensorError::OutOfTime);
    assert_eq!(a.add(&a).unwrap_err(), TensorError::OutOfTime);
    drop(_guard);
    // The guard lifted the deadline: the same product runs to its end.
    let p = a.matmul(&a).unwrap();
    assert_eq!(p.to_vec_f32()[0], 512.0);
}

#[test]
fn a_long_host_matmul_ends_the_run_at_its_line_soon_after_the_limit() {
    // Four products of 3072×3072 matrices take many seconds on two cores; checked only between
    // statements, the run would stop after the first whole product, at line 5. It must stop
    // inside it, at line 4.
    let source = "import torch\n\
                  a = torch.empty(3072, 3072, device='cuda')\n\
                  b = torch.empty(3072, 3072, device='cuda')\n\
                  c = a @ b @ a @ b @ a\n\
                  print('done')\n";
    let scenario = parse_scenario(Path::new("t.py"), source).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let limit = Duration::from_secs(1);
    let options = RunOptions {
        time_limit: limit,
        ..RunOptions::default()
    };
    let result = run(&scenario, &rt, &options, &mut ());
    let failure = result.failure.expect("the run stops at the time limit");
    let message = failure.error.to_string();
    assert_eq!((failure.error.line, failure.error.col), (4, 5), "{message}");
    assert!(
        message.contains("RuntimeError: the scenario ran longer than 1s"),
        "{message}"
    );
    assert!(result.output.is_empty(), "{:?}", result.output);
}

#[test]
fn an_except_does_not_catch_the_time_limit_inside_an_operation() {
    let source = "import torch\n\
                  a = torch.empty(3072, 3072, device='cuda')\n\
                  try:\n    c = a @ a @ a @ a @ a\nexcept Exception:\n    print('caught')\n";
    let scenario = parse_scenario(Path::new("t.py"), source).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let options = RunOptions {
        time_limit: Duration::from_secs(1),
        ..RunOptions::default()
    };
    let result = run(&scenario, &rt, &options, &mut ());
    let failure = result.failure.expect("the run stops at the time limit");
    assert_eq!(failure.error.line, 4, "{}", failure.error);
    assert!(result.output.is_empty(), "{:?}", result.output);
}

#[test]
fn a_set_interrupt_flag_stops_host_and_meta_kernels_at_once() {
    for backend in [Backend::Cpu, Backend::Meta] {
        let rt = Runtime::new(backend, RuntimeOptions::default()).unwrap();
        let a = rt
            .ones(&[256, 256], leakharness::tensor::DType::F32, Device::Cuda)
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        assert!(rt.stop_on(stop.clone()));
        assert!(
            a.matmul(&a).is_ok(),
            "{backend}: runs while the flag is down"
        );
        stop.store(true, Ordering::Relaxed);
        assert_eq!(a.matmul(&a).unwrap_err(), TensorError::Interrupted);
        assert_eq!(a.add(&a).unwrap_err(), TensorError::Interrupted);
        assert!(
            !rt.stop_on(Arc::new(AtomicBool::new(false))),
            "a runtime keeps its first flag"
        );
    }
}

#[test]
fn meta_kernels_past_the_deadline_stop_within_a_few_hundred_calls() {
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let a = rt
        .ones(&[1 << 20], leakharness::tensor::DType::F32, Device::Cuda)
        .unwrap();
    let _guard = rt.set_deadline(Instant::now());
    // Meta kernels read the clock on one call in 256 (a clock read costs more than they do).
    let stopped = (0..1024).find_map(|_| a.add(&a).err());
    assert_eq!(stopped, Some(TensorError::OutOfTime));
}

#[test]
fn one_statement_of_many_meta_operations_stops_at_its_own_line() {
    // `sum` of a million tensors is one statement of a million additions; before meta kernels
    // polled the deadline, the run stopped only at the next statement, after all of them.
    // Line 2 is short, so that the limit falls inside line 3 on any machine.
    let source = "import torch\n\
                  xs = [torch.ones(4, device='cuda')] * 1000\n\
                  s = sum(xs * 1000)\n\
                  print('done')\n";
    let scenario = parse_scenario(Path::new("t.py"), source).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(Backend::Meta, RuntimeOptions::default()).unwrap();
    let options = RunOptions {
        time_limit: Duration::from_millis(200),
        ..RunOptions::default()
    };
    let result = run(&scenario, &rt, &options, &mut ());
    let failure = result.failure.expect("the run stops at the time limit");
    assert_eq!(failure.error.line, 3, "{}", failure.error);
    assert!(result.output.is_empty(), "{:?}", result.output);
}

#[test]
fn an_interrupt_during_a_long_host_product_ends_the_run_at_its_line() {
    // The flag is raised from another thread, as the CLI's signal handler does, while line 4's
    // products run; the run ends there with a KeyboardInterrupt that `except` does not catch.
    // Products of 1024 × 1024 matrices: short blocks of rows, and dozens of them in one
    // statement, seconds of work even in a release build.
    let source = format!(
        "import torch\na = torch.empty(1024, 1024, device='cuda')\ntry:\n    c = a{}\n\
         except BaseException:\n    print('caught')\nprint('done')\n",
        " @ a".repeat(60)
    );
    let scenario = parse_scenario(Path::new("t.py"), &source).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(Backend::Cpu, RuntimeOptions::default()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    assert!(rt.stop_on(stop.clone()));
    let raiser = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Relaxed);
        })
    };
    let result = run(&scenario, &rt, &RunOptions::default(), &mut ());
    raiser.join().unwrap();
    let failure = result.failure.expect("the run stops when interrupted");
    let message = failure.error.to_string();
    assert_eq!(failure.error.line, 4, "{message}");
    assert!(message.contains("KeyboardInterrupt"), "{message}");
    assert!(result.output.is_empty(), "{:?}", result.output);
}
