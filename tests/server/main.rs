//! Black-box integration tests: each test spawns the real `tickcast` binary on port 0 and talks
//! to it over real sockets, as a feed, as SSE clients and as a metrics scraper.
//!
//! The harness lives in [`support`]: a test starts its server there in one line and talks to it
//! through typed calls; one module per area of the external interface follows it. Every test has
//! its own server, a global time limit ([`support::within`]) and only bounded waits, and the
//! invocations that exit by themselves run under a limit of their own ([`support::run`]), so a
//! broken server fails a test instead of hanging the suite. No test asserts on speed: time
//! limits are generous upper bounds for "it never happened".

mod support;

mod auth;
mod cluster;
mod cluster_tls;
mod coalesce;
mod conflation;
mod fanout;
mod feed;
mod handoff;
mod lifecycle;
mod limits;
mod replay;
mod requests;
mod resume;
mod stream;
mod tls;
mod universe;
