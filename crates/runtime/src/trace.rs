//! The trace context (W3C `traceparent`) of the request a thread is serving, carried to invocations.

use std::cell::RefCell;

thread_local! {
    static CURRENT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Sets the context of the current thread (None clears it).
pub(crate) fn set(traceparent: Option<String>) {
    CURRENT.with(|c| *c.borrow_mut() = traceparent);
}

/// The context of the current thread.
pub(crate) fn current() -> Option<String> {
    CURRENT.with(|c| c.borrow().clone())
}
