//! tickcast-load: drives a whole load scenario against tickcast (or nginx+nchan) and measures
//! what the clients get and what the server spends.
//!
//! A tour in the order a run goes (see [`run`]):
//!
//! - [`cli`] turns flags into a [`scenario::Scenario`] (presets S1-S6 with overrides) and
//!   [`run::Options`] (where the server is, or how to start it: [`server`]).
//! - [`mix`] decides every client up front: subscription class (firehose, `k` uniform, `k`
//!   Zipf-popular symbols of the [`universe`]), role (fast, slow, paused), reconnect storm.
//! - [`schedule`] plans every tick (open loop: scheduled times, bursts, symbol spread);
//!   [`feeder`] sends them on time over tickcast's TCP feed or as nchan POSTs, stamping each
//!   with its *scheduled* time so a backlog shows up as latency.
//! - [`fleet`] runs the clients on one current-thread runtime per thread; each [`client`]
//!   connects through [`dial`] (several loopback source addresses past one address's ports)
//!   and, with `--tls`, [`transport`] (rustls over that socket),
//!   parses its stream incrementally ([`sse`]: head, chunked body, events; [`data`]: the tick
//!   fields) and checks it ([`ledger`]: gaps, duplicates, reorders; [`latency`]: histograms).
//! - [`procfs`] reads the server's CPU and RSS from `/proc`; [`report`] merges everything into
//!   the JSON report and the human table. [`clock`] is the wall clock, read at the edges only.
//!
//! [`baseline`] is not part of a run: it is the plain tokio-broadcast server (binary
//! `tickcast-baseline`) that S2 compares tickcast with.
//!
//! The parsing, accounting and planning modules are sans-IO and unit-tested beside the code;
//! `tests/smoke.rs` runs a short scenario against the real server.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod baseline;
pub mod cli;
pub mod client;
pub mod clock;
pub mod data;
pub mod dial;
pub mod feeder;
pub mod fleet;
pub mod latency;
pub mod ledger;
pub mod mix;
pub mod procfs;
pub mod report;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod server;
pub mod sse;
pub mod transport;
pub mod universe;
