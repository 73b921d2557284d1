//! Placeholder: the load tester is being written.
fn main() {}
