//! The time limit inside one long operation (issue 17): host kernels look at the runtime's
//! deadline, which the interpreter sets from its clock, between blocks of their work.

use std::path::Path;
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
