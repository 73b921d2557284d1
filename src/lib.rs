//! tickcast: live market ticks to thousands of Server-Sent-Events subscribers.
//!
//! A tour of the layout, in the order a tick travels:
//!
//! - [`feed`]: sources (synthetic market, TCP native and venue JSON lines) decode lines into
//!   [`tick::Tick`]s and send them to the [`feed::sequencer`], the single writer that numbers
//!   each tick, encodes its SSE frame once ([`frame`]), and publishes it to:
//! - [`ring`]: the lock-free ring of recent events (resume, shard fan-out), whose slots are
//!   [`slot::ArcSlot`]s (the crate's only `unsafe`), and
//! - [`cache`]: the arc-swapped latest event per symbol and the symbol universe.
//! - [`replay`]: recorded files as a feed (or exported), and `tickcast record`.
//! - [`shard`]: per-core threads, each owning a share of the connections; a shard's dispatcher
//!   follows the ring and hands each event's shared bytes to its subscribers
//!   ([`shard::subscriber`]: queues and conflation). A shard serves its connections through a
//!   [`shard::Service`] it is given, and knows nothing of HTTP.
//! - [`http`]: that service: hyper routes, request validation, the SSE writer (writev); TLS
//!   with HTTP/2 or HTTP/1.1 by ALPN; at subscribe time (never per tick) it asks [`auth`]
//!   whether the request's access token allows the symbols it names: [`auth::Verifier`]
//!   checks the JWT against the configured keys (reloaded on SIGHUP) and returns a
//!   [`auth::Grant`] (entitlements, tier, limits).
//! - [`cluster`] (`--role feed|edge`): a feed node publishes its sequenced events to Redis; an
//!   edge node's follower writes them into its own ring in place of feeds (same ids, same
//!   bytes), so shards and HTTP are the same code on every node.
//! - [`config`] (flags and file, assembled into each stage's settings), [`server`] (start-up,
//!   wiring, and the shutdown order); beside the flow: [`metrics`], [`clock`].
//!
//! Imports run one way, from the top of that list's stages down: `server`/`config` → `http` →
//! `shard`; `replay` → `feed`; `feed` and `shard` → `cache` → `ring` → `frame`/`slot` → `tick`;
//! `auth` → `tick` (used by `http`, `config` and `server`); `cluster` → `feed` (used by `config`
//! and `server`); `metrics` and `clock` below all. `tests/layering.rs` checks it. `ARCHITECTURE.md` draws the
//! same flow on one page.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod cache;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod feed;
pub mod frame;
pub mod http;
pub mod metrics;
pub mod replay;
pub mod ring;
pub mod server;
pub mod shard;
#[allow(unsafe_code)] // Epoch-managed `Arc` slots: see the module's docs and its SAFETY comments.
pub mod slot;
pub mod tick;
