//! Black-box integration tests: each test spawns the real `tickcast` binary on port 0 and talks
//! to it over real sockets, as a feed, as SSE clients and as a metrics scraper.
//!
//! The harness lives in [`support`]; one module per area of the external interface follows it.
//! Every test has its own server, a global time limit ([`support::within`]) and only bounded
//! waits, so a broken server fails a test instead of hanging the suite. No test asserts on speed:
//! time limits are generous upper bounds for "it never happened".

mod support;

mod coalesce;
mod conflation;
mod fanout;
mod feed;
mod handoff;
mod lifecycle;
mod replay;
mod requests;
mod resume;
mod stream;
mod universe;
