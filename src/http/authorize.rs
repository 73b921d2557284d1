//! Authorization at the HTTP edge: who the request is (a verified token, or nobody with
//! `--auth none`), and what it may see.
//!
//! Place in the flow: [`super::routes`] calls [`Gate::check`] once per request, before anything
//! is registered on the shard; the [`Grant`] it returns decides the symbols (403 for those
//! outside the token's patterns, `symbols=*` narrowed to the entitled ones), the stream's end
//! (`exp`), its tier (delayed) and its subject's stream limit. Nothing here runs per tick:
//! a stream's symbols are fixed at subscribe time, and symbols that appear later are offered to
//! the token's patterns once each (`shard::subscriber::Admit`).
//! Must never log a token, and never let a request through when a token is required and
//! missing, forged or expired.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::HeaderMap;

use crate::auth::{Denied, Grant, Verifier, token_from_request};

/// Whether requests need a token, and the counters of refused ones.
#[derive(Debug)]
pub struct Gate {
    verifier: Option<Arc<Verifier>>,
    cookie: Option<String>,
    denied: [AtomicU64; Denied::ALL.len()],
}

impl Gate {
    /// No authentication: every request sees everything (`--auth none`).
    pub fn open() -> Self {
        Self {
            verifier: None,
            cookie: None,
            denied: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Every stream, snapshot and symbol list needs a token `verifier` accepts, from
    /// `Authorization: Bearer`, the `access_token` query parameter, or the cookie `cookie`.
    pub fn jwt(verifier: Arc<Verifier>, cookie: Option<String>) -> Self {
        Self {
            verifier: Some(verifier),
            cookie,
            ..Self::open()
        }
    }

    /// True without authentication.
    pub fn is_open(&self) -> bool {
        self.verifier.is_none()
    }

    /// The request's grant: `Ok(None)` when the gate is open, the verified token's grant, or
    /// why it is refused (counted).
    pub fn check(
        &self,
        headers: &HeaderMap,
        query: &str,
        now_unix_s: u64,
    ) -> Result<Option<Grant>, Denied> {
        let Some(verifier) = &self.verifier else {
            return Ok(None);
        };
        let verdict = token_from_request(headers, query, self.cookie.as_deref())
            .and_then(|token| token.ok_or(Denied::Missing))
            .and_then(|token| verifier.verify(&token, now_unix_s));
        match verdict {
            Ok(grant) => Ok(Some(grant)),
            Err(denied) => {
                self.denied[denied.index()].fetch_add(1, Ordering::Relaxed);
                Err(denied)
            }
        }
    }

    /// Prometheus text of the refused tokens, by reason.
    pub fn render(&self, out: &mut String) {
        if self.is_open() {
            return;
        }
        crate::metrics::render_labelled(
            out,
            "tickcast_auth_denied_total",
            "Requests refused for their token, by reason.",
            "reason",
            Denied::ALL.map(|d| (d.code(), self.denied[d.index()].load(Ordering::Relaxed))),
        );
    }
}
