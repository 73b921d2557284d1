//! tickcast: live market ticks to thousands of Server-Sent-Events subscribers.
//!
//! A tour of the layout, in the order a tick travels:
//!
//! - [`feed`]: sources (synthetic market, TCP native JSON lines) decode lines into
//!   [`tick::Tick`]s and send them to the [`feed::sequencer`], the single writer that numbers
//!   each tick, encodes its SSE frame once ([`frame`]), and publishes it to:
//! - [`ring`]: the lock-free ring of recent events (resume, shard fan-out), whose slots are
//!   [`slot::ArcSlot`]s (the crate's only `unsafe`), and
//! - [`cache`]: the arc-swapped latest event per symbol and the symbol universe.
//! - [`shard`]: per-core threads, each owning a share of the connections; a shard's dispatcher
//!   follows the ring and hands each event's shared bytes to its subscribers
//!   ([`shard::subscriber`]: queues and conflation).
//! - [`http`]: hyper routes, request validation, the SSE body that writes batches with writev.
//! - [`metrics`], [`config`], [`server`] (start-up and the shutdown order), [`clock`].
//!
//! `ARCHITECTURE.md` draws the same flow on one page.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cache;
pub mod clock;
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
