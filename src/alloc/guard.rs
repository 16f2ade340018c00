//! [`LocationGuard`], which tags allocations with a scenario location while it lives and puts the
//! previous one back when dropped.

use std::cell::RefCell;
use std::sync::Arc;

use super::{CachingAllocator, Location};

/// Tags allocations made while it lives with a scenario location, and puts the previous
/// location back when dropped, so nested statements (a loop body inside a loop) restore their
/// enclosing statement's location.
///
/// ```
/// use std::cell::RefCell;
/// use std::sync::Arc;
/// use leakharness::alloc::{CachingAllocator, Location, LocationGuard, Purpose};
/// use leakharness::device::MetaDevice;
///
/// let a = RefCell::new(CachingAllocator::new(Box::new(MetaDevice::new(1 << 30).unwrap())));
/// let here = Arc::new(Location { file: "x.py".into(), line: 3, column: 1, iterations: vec![0], stack: None });
/// {
///     let _g = LocationGuard::enter(&a, here.clone());
///     let x = a.borrow_mut().allocate(4, Purpose::UserTensor).unwrap();
///     assert_eq!(a.borrow().tag(x.id).unwrap().location.as_ref(), Some(&here));
/// }
/// assert!(a.borrow().location().is_none());
/// ```
pub struct LocationGuard<'a> {
    allocator: &'a RefCell<CachingAllocator>,
    previous: Option<Arc<Location>>,
}

impl<'a> LocationGuard<'a> {
    /// Makes `location` current until the guard is dropped.
    pub fn enter(allocator: &'a RefCell<CachingAllocator>, location: Arc<Location>) -> Self {
        let previous = allocator.borrow_mut().set_location(Some(location));
        LocationGuard {
            allocator,
            previous,
        }
    }
}

impl Drop for LocationGuard<'_> {
    fn drop(&mut self) {
        self.allocator
            .borrow_mut()
            .set_location(self.previous.take());
    }
}
