//! `--auth jwt` as a client meets it: forged, expired and misplaced tokens refused with 401 and
//! their reason (and counted), symbols outside the token refused with 403 or left out, a stream
//! that ends with `event: reauth` at the token's expiry and resumes with a fresh one, the
//! delayed tier, the per-subject stream limit, the three kinds of key, and the open server
//! without `--auth`.
//!
//! Tokens come from [`crate::support::auth`]: minted in-process with the test keys, once by
//! `tickcast token` itself, and built by hand for what no minter makes (forgeries).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use tickcast::auth::{MintRequest, Tier};
use tokio::time::Instant;

use crate::support::auth::{
    self, EC_PRIVATE, EC_PUBLIC, HOUR, HS256_SECRET, JWKS, JWKS_EC_KID, JWKS_RSA_KID, RSA_PRIVATE,
    RSA_PUBLIC, bearer, claims, hs256_secret, hs256_signed, mint, mint_at, now_unix_s, request,
    token, unsigned,
};
use crate::support::{
    EVENT_TIMEOUT, End, Event, Item, Response, Server, SseStream, TEST_TIMEOUT, assert_error,
    assert_strictly_increasing, eventually, snapshot_tick, within,
};

/// Every refusal code of a token, as `tickcast_auth_denied_total` labels them.
const DENIED_CODES: [&str; 11] = [
    "token_missing",
    "token_too_large",
    "token_malformed",
    "token_unknown_key",
    "token_wrong_algorithm",
    "token_bad_signature",
    "token_expired",
    "token_not_yet_valid",
    "token_wrong_issuer",
    "token_wrong_audience",
    "token_bad_claims",
];
/// The routes that need a token.
const PROTECTED: [&str; 3] = [
    "/v1/stream?symbols=A",
    "/v1/snapshot?symbols=A",
    "/v1/symbols",
];
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "tickcast-test";

/// Asserts a 401 with `code`, the JSON body and a `WWW-Authenticate: Bearer` challenge.
#[track_caller]
fn assert_denied(response: &Response, code: &str, what: &str) {
    assert_eq!(response.status(), 401, "{what}: {}", response.text());
    assert_error(response, 401, code);
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{what}: a 401 carries a Bearer challenge, got {challenge:?}"
    );
}

/// Asserts each `tickcast_auth_denied_total{reason}` is what `expected` says (0 if absent).
async fn assert_denied_counts(server: &Server, expected: &[(&str, f64)]) {
    let metrics = server.metrics().await;
    for code in DENIED_CODES {
        let want = expected
            .iter()
            .find(|(reason, _)| *reason == code)
            .map_or(0.0, |(_, n)| *n);
        let got = metrics.sum("tickcast_auth_denied_total", &[("reason", code)]);
        assert_eq!(got, want, "tickcast_auth_denied_total{{reason={code:?}}}");
    }
}

/// The `symbols` of a `/v1/symbols` answer (the server sorts them).
fn listed(symbols: &Value) -> Vec<&str> {
    symbols["symbols"]
        .as_array()
        .unwrap_or_else(|| panic!("no symbols array: {symbols}"))
        .iter()
        .map(|symbol| symbol.as_str().expect("symbol names are strings"))
        .collect()
}

/// The symbols of a `/v1/snapshot` answer, sorted.
fn snapshot_symbols(snapshot: &Value) -> Vec<&str> {
    let mut symbols: Vec<&str> = snapshot["ticks"]
        .as_array()
        .unwrap_or_else(|| panic!("no ticks array: {snapshot}"))
        .iter()
        .map(|tick| tick["sym"].as_str().expect("sym is a string"))
        .collect();
    symbols.sort_unstable();
    symbols
}

/// (event type, symbol, n) of an event.
fn kind_sym_n(event: &Event) -> (String, String, u64) {
    (event.event.clone(), event.sym(), event.n())
}

/// Asserts that a fresh stream starts with one snapshot of each of `symbols` (their first
/// tick, in any order) and nothing else before them.
async fn assert_first_snapshots(stream: &mut SseStream, symbols: &[&str]) {
    let seen: BTreeSet<_> = stream
        .events(symbols.len(), EVENT_TIMEOUT)
        .await
        .iter()
        .map(kind_sym_n)
        .collect();
    let expected: BTreeSet<_> = symbols
        .iter()
        .map(|symbol| ("snapshot".to_owned(), (*symbol).to_owned(), 1))
        .collect();
    assert_eq!(seen, expected);
}

/// The refusal of a stream request that must not be answered 200.
async fn refused_stream(server: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    match server.stream_with(path, headers).await {
        Ok(stream) => panic!(
            "GET {path} {headers:?} must be refused, got 200 ({:?})",
            stream.head
        ),
        Err(response) => response,
    }
}

#[tokio::test]
async fn forged_and_invalid_tokens_get_401_with_their_reason_and_a_valid_one_still_works() {
    within(TEST_TIMEOUT, async {
        let server = Server::jwt(
            HS256_SECRET,
            &["--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE],
        )
        .await;
        let now = now_unix_s();
        let strict = |ttl| MintRequest {
            issuer: Some(ISSUER.to_owned()),
            audience: Some(AUDIENCE.to_owned()),
            ..request("alice", &["A"], ttl)
        };
        let valid = mint(HS256_SECRET, &strict(HOUR));
        let mut good_claims = claims("alice", &["A"]);
        good_claims["iss"] = json!(ISSUER);
        good_claims["aud"] = json!(AUDIENCE);
        let with = |name: &str, value: Value| {
            let mut changed = good_claims.clone();
            changed[name] = value;
            changed
        };

        // Alice's token with its payload swapped for one that allows every symbol.
        let parts: Vec<&str> = valid.split('.').collect();
        let widened = unsigned(&json!({"alg": "HS256"}), &with("symbols", json!(["*"])));
        let widened_payload = widened.split('.').nth(1).expect("a payload part");
        let tampered = format!("{}.{widened_payload}.{}", parts[0], parts[2]);
        let mut no_symbols = good_claims.clone();
        no_symbols
            .as_object_mut()
            .expect("claims are an object")
            .remove("symbols");

        let cases: Vec<(&str, Option<String>, &str)> = vec![
            (
                "signed with another secret",
                Some(hs256_signed(
                    &good_claims,
                    b"not-the-server-secret-but-32-bytes-long",
                )),
                "token_bad_signature",
            ),
            (
                "payload swapped under a valid signature",
                Some(tampered),
                "token_bad_signature",
            ),
            (
                "alg none",
                Some(unsigned(
                    &json!({"alg": "none", "typ": "JWT"}),
                    &good_claims,
                )),
                "token_wrong_algorithm",
            ),
            (
                "expired an hour ago",
                Some(mint_at(
                    HS256_SECRET,
                    &strict(Duration::from_secs(60)),
                    now - 3600,
                )),
                "token_expired",
            ),
            (
                "nbf an hour ahead",
                Some(hs256_signed(
                    &with("nbf", json!(now + 3600)),
                    &hs256_secret(),
                )),
                "token_not_yet_valid",
            ),
            (
                "another issuer",
                Some(mint(
                    HS256_SECRET,
                    &MintRequest {
                        issuer: Some("https://other-issuer.test".to_owned()),
                        ..strict(HOUR)
                    },
                )),
                "token_wrong_issuer",
            ),
            (
                "another audience",
                Some(mint(
                    HS256_SECRET,
                    &MintRequest {
                        audience: Some("someone-else".to_owned()),
                        ..strict(HOUR)
                    },
                )),
                "token_wrong_audience",
            ),
            (
                "no symbols claim",
                Some(hs256_signed(&no_symbols, &hs256_secret())),
                "token_bad_claims",
            ),
            ("garbage", Some("not-a-jwt".to_owned()), "token_malformed"),
            ("no token", None, "token_missing"),
        ];
        for (what, token, code) in &cases {
            let authorization = token.as_deref().map(bearer);
            let headers: Vec<(&str, &str)> = authorization
                .iter()
                .map(|value| ("Authorization", value.as_str()))
                .collect();
            for path in PROTECTED {
                let response = server.request("GET", path, &headers).await;
                assert_denied(&response, code, &format!("{what}, GET {path}"));
            }
        }
        // Another scheme than Bearer is malformed too.
        let basic = [("Authorization", "Basic YWxpY2U6c2VjcmV0")];
        for path in PROTECTED {
            let response = server.request("GET", path, &basic).await;
            assert_denied(&response, "token_malformed", "Basic credentials");
        }

        // The open routes stay open, and the valid token is served after all of that.
        for path in ["/healthz", "/metrics"] {
            assert_eq!(
                server.get(path).await.status(),
                200,
                "{path} without a token"
            );
        }
        let mut stream = server.stream_as("/v1/stream?symbols=A", &valid).await;
        let mut feed = server.feed().await;
        feed.trade("A", "1.5").await;
        let tick = stream.next_event(EVENT_TIMEOUT).await;
        assert_eq!(
            (tick.event.as_str(), tick.raw("px").as_str()),
            ("tick", "1.5")
        );
        let snapshot = server.get_as("/v1/snapshot?symbols=A", &valid).await;
        assert_eq!(snapshot.status(), 200, "{}", snapshot.text());
        assert_eq!(
            server.get_as("/v1/symbols", &valid).await.status(),
            200,
            "/v1/symbols with the valid token"
        );

        // Each refusal counted once per request, under its reason.
        let routes = PROTECTED.len() as f64;
        assert_denied_counts(
            &server,
            &[
                ("token_bad_signature", 2.0 * routes),
                ("token_wrong_algorithm", routes),
                ("token_expired", routes),
                ("token_not_yet_valid", routes),
                ("token_wrong_issuer", routes),
                ("token_wrong_audience", routes),
                ("token_bad_claims", routes),
                ("token_malformed", 2.0 * routes),
                ("token_missing", routes),
            ],
        )
        .await;
    })
    .await;
}

/// Where an oversized token is refused depends on its size and place. The token limit (8 KiB,
/// 401 `token_too_large`) is below the edge's limits on a head (`--max-header-bytes`, 32 KiB by
/// default: 431 `headers_too_large`) and on a target (64 KiB: 414), so a 10 KB token reaches
/// the token check from every place, a 60 KB one from the query only, and a 100 KB one none.
///
/// The 100 KB target is refused by hyper itself, not by the edge's `--max-url-bytes` check: the
/// `http` crate's `Uri` holds at most 65534 bytes, below that flag's default (66560), so the 414
/// has an empty body and no refusal is counted. Only the status is asserted here.
#[tokio::test]
async fn oversized_tokens_get_401_431_or_414_by_size_and_place() {
    within(TEST_TIMEOUT, async {
        let server = Server::jwt(HS256_SECRET, &["--jwt-cookie", "tc_token"]).await;
        let path = "/v1/stream?symbols=A";
        let sent = async |size: usize| {
            let huge = "a".repeat(size);
            let cookie = format!("tc_token={huge}");
            [
                server
                    .request("GET", path, &[("Authorization", &bearer(&huge))])
                    .await,
                server.request("GET", path, &[("Cookie", &cookie)]).await,
                server.get(&format!("{path}&access_token={huge}")).await,
            ]
        };

        let [in_header, in_cookie, in_query] = sent(10 * 1024).await;
        assert_denied(&in_header, "token_too_large", "10 KB in the header");
        assert_denied(&in_cookie, "token_too_large", "10 KB in the cookie");
        assert_denied(&in_query, "token_too_large", "10 KB in the query");

        let [in_header, in_cookie, in_query] = sent(60 * 1024).await;
        assert_error(&in_header, 431, "headers_too_large");
        assert_error(&in_cookie, 431, "headers_too_large");
        assert_denied(&in_query, "token_too_large", "60 KB in the query");

        let [in_header, in_cookie, in_query] = sent(100 * 1024).await;
        assert_error(&in_header, 431, "headers_too_large");
        assert_error(&in_cookie, 431, "headers_too_large");
        assert_eq!(in_query.status(), 414, "100 KB in the query");

        assert_denied_counts(&server, &[("token_too_large", 4.0)]).await;
        let refusals = server
            .metric(
                "tickcast_http_refusals_total",
                &[("reason", "headers_too_large")],
            )
            .await;
        assert_eq!(refusals, 4.0, "431 refusals counted");
        let valid = token(HS256_SECRET, "alice", &["A"]);
        let _stream = server.stream_as(path, &valid).await;
    })
    .await;
}

#[tokio::test]
async fn a_token_sees_only_its_symbols_and_star_takes_matching_new_ones() {
    within(TEST_TIMEOUT, async {
        let server = Server::jwt(HS256_SECRET, &[]).await;
        // The operator's tool, as a user runs it: `A` exactly, and every symbol starting `B`.
        let alice = auth::cli_token(&["--sub", "alice", "--symbols", "A,B*", "--ttl", "1h"]);
        // One feed connection is sequenced in order: once A and B1 show, C and AB are in too.
        let mut feed = server.feed().await;
        feed.trades(&[("C", "1"), ("AB", "2"), ("A", "3"), ("B1", "4")])
            .await;
        server
            .wait_for_counts_as(&[("A", 1), ("B1", 1)], &alice)
            .await;

        let symbols = server.get_as("/v1/symbols", &alice).await.json();
        assert_eq!(listed(&symbols), ["A", "B1"], "{symbols}");

        let mut exact = server.stream_as("/v1/stream?symbols=A,B1", &alice).await;
        assert_first_snapshots(&mut exact, &["A", "B1"]).await;

        let authorization = bearer(&alice);
        let as_alice = [("Authorization", authorization.as_str())];
        for (path, named, not_named) in [
            (
                "/v1/stream?symbols=A,C",
                ["\"C\""].as_slice(),
                ["\"A\""].as_slice(),
            ),
            (
                "/v1/stream?symbols=C,AB,B1",
                &["\"C\"", "\"AB\""],
                &["\"B1\""],
            ),
            ("/v1/snapshot?symbols=A,C", &["\"C\""], &["\"A\""]),
        ] {
            let response = server.request("GET", path, &as_alice).await;
            let message = assert_error(&response, 403, "not_entitled");
            for symbol in named {
                assert!(message.contains(symbol), "{path}: {message} names {symbol}");
            }
            for symbol in not_named {
                assert!(
                    !message.contains(symbol),
                    "{path}: {message} names only the refused"
                );
            }
        }
        let everything = server.get_as("/v1/snapshot?symbols=*", &alice).await.json();
        assert_eq!(snapshot_symbols(&everything), ["A", "B1"], "{everything}");

        // `*` is every entitled symbol, those first seen after the stream opened included.
        let mut star = server.stream_as("/v1/stream?symbols=*", &alice).await;
        assert_first_snapshots(&mut star, &["A", "B1"]).await;
        feed.trades(&[("D", "5"), ("C", "6"), ("B7", "7"), ("AB", "8"), ("A", "9")])
            .await;
        // In feed order: D, C and AB were passed over.
        let live: Vec<_> = star
            .events(2, EVENT_TIMEOUT)
            .await
            .iter()
            .map(kind_sym_n)
            .collect();
        assert_eq!(
            live,
            [
                ("tick".into(), "B7".into(), 1),
                ("tick".into(), "A".into(), 2)
            ]
        );
        let symbols = server.get_as("/v1/symbols", &alice).await.json();
        assert_eq!(listed(&symbols), ["A", "B1", "B7"], "{symbols}");
    })
    .await;
}

#[tokio::test]
async fn the_token_may_come_from_the_query_parameter_or_the_configured_cookie() {
    within(TEST_TIMEOUT, async {
        let server = Server::jwt(HS256_SECRET, &["--jwt-cookie", "tc_token"]).await;
        let alice = token(HS256_SECRET, "alice", &["A"]);
        let _feed = server.seeded_feed_as(&[("A", "1")], &alice).await;

        // What a browser's EventSource can do: the token in the URL, or in a cookie.
        let mut by_query = server
            .stream(&format!("/v1/stream?symbols=A&access_token={alice}"))
            .await;
        let cookie = format!("theme=dark; tc_token={alice}");
        let by_cookie = server
            .stream_with("/v1/stream?symbols=A", &[("Cookie", &cookie)])
            .await;
        let mut by_cookie = by_cookie.unwrap_or_else(|response| {
            panic!(
                "the cookie's token: {} {}",
                response.status(),
                response.text()
            )
        });
        for stream in [&mut by_query, &mut by_cookie] {
            let event = stream.next_event(EVENT_TIMEOUT).await;
            assert_eq!(kind_sym_n(&event), ("snapshot".into(), "A".into(), 1));
        }
        let snapshot = server
            .get(&format!("/v1/snapshot?symbols=A&access_token={alice}"))
            .await;
        assert_eq!(snapshot.status(), 200, "{}", snapshot.text());

        // Another cookie is no token; two different tokens are one too many.
        let other_cookie = format!("session={alice}");
        let response = server
            .request("GET", "/v1/symbols", &[("Cookie", &other_cookie)])
            .await;
        assert_denied(&response, "token_missing", "a cookie of another name");
        let bob = token(HS256_SECRET, "bob", &["A"]);
        let response = server
            .request(
                "GET",
                &format!("/v1/symbols?access_token={bob}"),
                &[("Cookie", &cookie)],
            )
            .await;
        assert_denied(&response, "token_malformed", "two different tokens");
    })
    .await;
}

#[tokio::test]
async fn an_expiring_token_ends_the_stream_with_reauth_and_a_fresh_one_resumes_without_gap() {
    within(TEST_TIMEOUT, async {
        // No leeway: the expired token is refused as soon as its stream has ended.
        let server = Server::jwt(HS256_SECRET, &["--jwt-leeway", "0s"]).await;
        let short = mint(
            HS256_SECRET,
            &request("alice", &["A"], Duration::from_secs(3)),
        );
        let path = "/v1/stream?symbols=A";
        let mut stream = server.stream_as(path, &short).await;
        let mut feed = server.feed().await;

        // Ticks keep coming while the token runs out (in 2 to 3 s: `exp` is whole seconds).
        let mut fed = 0u64;
        let mut pace = tokio::time::interval(Duration::from_millis(25));
        let mut before: Vec<Event> = Vec::new();
        let started = Instant::now();
        let reauth = loop {
            assert!(
                started.elapsed() < Duration::from_secs(6),
                "no reauth within 6 s of a 3 s token; {} ticks received",
                before.len()
            );
            tokio::select! {
                _ = pace.tick() => {
                    fed += 1;
                    feed.trade("A", &fed.to_string()).await;
                }
                next = stream.try_next_event(EVENT_TIMEOUT) => {
                    let event = next.unwrap_or_else(|end| {
                        panic!("stream ended ({end:?}) before its reauth, after {before:?}")
                    });
                    if event.event == "reauth" {
                        break event;
                    }
                    before.push(event);
                }
            }
        };
        let last = before.last().expect("ticks arrived before the expiry");
        assert_eq!(
            reauth.json(),
            json!({"reason": "token_expired", "last_event_id": last.id()}),
            "the reauth names the last id sent"
        );
        assert_eq!(reauth.id, None, "the reauth has no id of its own");
        assert_eq!(reauth.last_event_id, last.id().to_string());
        let (rest, end) = stream.rest(EVENT_TIMEOUT).await;
        assert_eq!(
            end,
            End::Finished,
            "the stream ends after its reauth: {rest:?}"
        );
        assert!(
            !rest.iter().any(|item| matches!(item, Item::Event(_))),
            "nothing after the reauth: {rest:?}"
        );
        let expired = server.get_as("/v1/snapshot?symbols=A", &short).await;
        assert_denied(&expired, "token_expired", "the token the stream ended for");

        // Missed while reconnecting, then resumed with a fresh token from the reauth's id.
        for _ in 0..3 {
            fed += 1;
            feed.trade("A", &fed.to_string()).await;
        }
        let fresh = token(HS256_SECRET, "alice", &["A"]);
        server.wait_for_counts_as(&[("A", fed)], &fresh).await;
        let authorization = bearer(&fresh);
        let last_event_id = last.id().to_string();
        let mut resumed = server
            .stream_with(
                path,
                &[
                    ("Authorization", &authorization),
                    ("Last-Event-ID", &last_event_id),
                ],
            )
            .await
            .unwrap_or_else(|response| panic!("resume: {} {}", response.status(), response.text()));
        let after = resumed
            .events((fed as usize) - before.len(), EVENT_TIMEOUT)
            .await;

        let all: Vec<&Event> = before.iter().chain(&after).collect();
        assert!(
            all.iter().all(|event| event.event == "tick"),
            "only ticks, no snapshot or reset: {all:?}"
        );
        let counts: Vec<u64> = all.iter().map(|event| event.n()).collect();
        assert_eq!(
            counts,
            (1..=fed).collect::<Vec<_>>(),
            "every tick once, across the reauth ({} before it)",
            before.len()
        );
        let ids: Vec<u64> = all.iter().map(|event| event.id()).collect();
        assert_strictly_increasing("ids across the reauth", &ids);
    })
    .await;
}

#[tokio::test]
async fn a_delayed_token_gets_the_same_ticks_two_seconds_late_and_an_older_snapshot() {
    within(TEST_TIMEOUT, async {
        let server = Server::jwt(HS256_SECRET, &[]).await;
        let realtime = token(HS256_SECRET, "rt", &["A"]);
        let delay = Duration::from_secs(2);
        let delayed = mint(
            HS256_SECRET,
            &MintRequest {
                tier: Tier::Delayed { delay },
                ..request("late", &["A"], HOUR)
            },
        );
        let path = "/v1/stream?symbols=A";
        let mut live = server.stream_as(path, &realtime).await;
        let mut late = server.stream_as(path, &delayed).await;
        let mut feed = server.feed().await;

        let fed_at = Instant::now();
        feed.trades(&[("A", "1"), ("A", "2"), ("A", "3"), ("A", "4"), ("A", "5")])
            .await;
        let mut on_time = Vec::new();
        for _ in 0..5 {
            let event = live.next_event(EVENT_TIMEOUT).await;
            on_time.push((event, Instant::now()));
        }
        // Right after the ticks: the realtime snapshot has the last one, the delayed none.
        let now_snapshot = server
            .get_as("/v1/snapshot?symbols=A", &realtime)
            .await
            .json();
        assert_eq!(
            snapshot_tick(&now_snapshot, "A").map(|t| &t["n"]),
            Some(&json!(5))
        );
        let old_snapshot = server
            .get_as("/v1/snapshot?symbols=A", &delayed)
            .await
            .json();
        assert_eq!(old_snapshot["missing"], json!(["A"]), "{old_snapshot}");

        let quiet = Duration::from_secs(1).saturating_sub(fed_at.elapsed());
        match late.try_next_event(quiet).await {
            Err(End::Timeout) => {}
            other => panic!("the delayed stream got something within 1 s: {other:?}"),
        }
        let mut held_back = Vec::new();
        for _ in 0..5 {
            let left = (fed_at + Duration::from_secs(4)).saturating_duration_since(Instant::now());
            let event = late.next_event(left).await;
            held_back.push((event, Instant::now()));
        }
        let seen = |events: &[(Event, Instant)]| -> Vec<(String, u64, u64, String)> {
            events
                .iter()
                .map(|(e, _)| (e.event.clone(), e.id(), e.n(), e.raw("px")))
                .collect()
        };
        assert_eq!(
            seen(&held_back),
            seen(&on_time),
            "the same ticks, ids and order"
        );
        for ((tick, live_at), (_, late_at)) in on_time.iter().zip(&held_back) {
            let lag = late_at.duration_since(*live_at);
            assert!(
                lag >= Duration::from_millis(1900),
                "tick {} arrived only {lag:?} after its realtime copy",
                tick.id()
            );
        }

        // The delayed snapshot is the price as of 2 s ago: the fifth tick, not a new sixth.
        feed.trade("A", "6").await;
        server.wait_for_counts_as(&[("A", 6)], &realtime).await;
        let old_snapshot = server
            .get_as("/v1/snapshot?symbols=A", &delayed)
            .await
            .json();
        let as_of = snapshot_tick(&old_snapshot, "A")
            .unwrap_or_else(|| panic!("a price as of 2 s ago: {old_snapshot}"));
        assert_eq!(
            (&as_of["n"], as_of["seq"].as_u64()),
            (&json!(5), Some(on_time[4].0.id()))
        );
    })
    .await;
}

#[tokio::test]
async fn streams_per_subject_are_capped_by_the_flag_or_the_token() {
    within(TEST_TIMEOUT, async {
        let server = Server::jwt(HS256_SECRET, &["--max-streams-per-sub", "2"]).await;
        let path = "/v1/stream?symbols=A";
        let alice = token(HS256_SECRET, "alice", &["*"]);
        let _first = server.stream_as(path, &alice).await;
        let second = server.stream_as(path, &alice).await;

        // The limit is the subject's: a second token of alice's counts the same.
        let alice_again = mint(HS256_SECRET, &request("alice", &["A"], 2 * HOUR));
        for held_by_alice in [&alice, &alice_again] {
            let authorization = bearer(held_by_alice);
            let refused = refused_stream(&server, path, &[("Authorization", &authorization)]).await;
            assert_error(&refused, 429, "too_many_streams_for_subject");
            assert_eq!(refused.header("retry-after"), Some("10"));
        }
        // Other subjects, and alice's other requests, are not affected.
        let bob = token(HS256_SECRET, "bob", &["A"]);
        let _bob = server.stream_as(path, &bob).await;
        assert_eq!(
            server
                .get_as("/v1/snapshot?symbols=A", &alice)
                .await
                .status(),
            200
        );

        // A place comes back when one of her streams ends.
        drop(second);
        let authorization = bearer(&alice);
        let _third = eventually("alice's place to come back", EVENT_TIMEOUT, async || {
            server
                .stream_with(path, &[("Authorization", &authorization)])
                .await
                .ok()
        })
        .await;

        // A token's `max_conns` overrides the flag, below it or above it.
        let limited = |sub: &str, max_conns| {
            mint(
                HS256_SECRET,
                &MintRequest {
                    max_conns: Some(max_conns),
                    ..request(sub, &["A"], HOUR)
                },
            )
        };
        let carol = limited("carol", 1);
        let _carol = server.stream_as(path, &carol).await;
        let authorization = bearer(&carol);
        let refused = refused_stream(&server, path, &[("Authorization", &authorization)]).await;
        assert_error(&refused, 429, "too_many_streams_for_subject");
        let dave = limited("dave", 3);
        let mut daves = Vec::new();
        for _ in 0..3 {
            daves.push(server.stream_as(path, &dave).await);
        }
        let refusals = server
            .metric(
                "tickcast_http_refusals_total",
                &[("reason", "too_many_streams_for_subject")],
            )
            .await;
        assert!(refusals >= 3.0, "{refusals} refusals counted");
    })
    .await;
}

#[tokio::test]
async fn rs256_es256_and_jwks_servers_accept_their_own_tokens_only() {
    within(TEST_TIMEOUT, async {
        let jwks_file = auth::key_file(JWKS);
        let jwks_flags = ["--auth", "jwt", "--jwks", &jwks_file];
        let (rsa, ec, jwks) = tokio::join!(
            Server::jwt(RSA_PUBLIC, &[]),
            Server::jwt(EC_PUBLIC, &[]),
            Server::tcp_with(&jwks_flags),
        );
        let signed_by = |key: &str, kid: Option<&str>| {
            mint(
                key,
                &MintRequest {
                    kid: kid.map(str::to_owned),
                    ..request("alice", &["A"], HOUR)
                },
            )
        };
        let rsa_token = signed_by(RSA_PRIVATE, None);
        let ec_token = signed_by(EC_PRIVATE, None);
        // The key confusion: HS256 with the server's RSA public key (its PEM bytes) as secret.
        let public_pem = std::fs::read(auth::key_file(RSA_PUBLIC)).expect("read the public key");
        let confused = hs256_signed(&claims("alice", &["A"]), &public_pem);

        let cases: [(&Server, &str, &str, Option<&str>); 10] = [
            (&rsa, "RS256 token", &rsa_token, None),
            (
                &rsa,
                "ES256 token",
                &ec_token,
                Some("token_wrong_algorithm"),
            ),
            (
                &rsa,
                "HS256 with the public key",
                &confused,
                Some("token_wrong_algorithm"),
            ),
            (&ec, "ES256 token", &ec_token, None),
            (
                &ec,
                "RS256 token",
                &rsa_token,
                Some("token_wrong_algorithm"),
            ),
            (
                &jwks,
                "RS256 token, no kid",
                &rsa_token,
                Some("token_unknown_key"),
            ),
            (
                &jwks,
                "RS256 token, the EC key's kid",
                &signed_by(RSA_PRIVATE, Some(JWKS_EC_KID)),
                Some("token_wrong_algorithm"),
            ),
            (
                &jwks,
                "unknown kid",
                &signed_by(EC_PRIVATE, Some("retired-2019")),
                Some("token_unknown_key"),
            ),
            (
                &jwks,
                "RS256 token, its kid",
                &signed_by(RSA_PRIVATE, Some(JWKS_RSA_KID)),
                None,
            ),
            (
                &jwks,
                "ES256 token, its kid",
                &signed_by(EC_PRIVATE, Some(JWKS_EC_KID)),
                None,
            ),
        ];
        for (server, what, token, refusal) in cases {
            let response = server.get_as("/v1/symbols", token).await;
            match refusal {
                None => assert_eq!(response.status(), 200, "{what}: {}", response.text()),
                Some(code) => assert_denied(&response, code, what),
            }
        }

        // A JWKS-verified token streams.
        let ec_jwks = signed_by(EC_PRIVATE, Some(JWKS_EC_KID));
        let mut stream = jwks.stream_as("/v1/stream?symbols=A", &ec_jwks).await;
        jwks.feed().await.trade("A", "2.5").await;
        assert_eq!(stream.next_event(EVENT_TIMEOUT).await.raw("px"), "2.5");
    })
    .await;
}

#[tokio::test]
async fn without_auth_no_token_is_needed_and_the_start_up_log_says_so() {
    within(TEST_TIMEOUT, async {
        let server = Server::tcp().await;
        let _feed = server.seeded_feed(&[("A", "1")]).await;
        let mut stream = server.stream("/v1/stream?symbols=A").await;
        assert_eq!(stream.next_event(EVENT_TIMEOUT).await.event, "snapshot");
        // A token, even garbage, is not looked at.
        let garbage = [("Authorization", "Bearer not-a-jwt")];
        for path in PROTECTED.iter().skip(1) {
            assert_eq!(server.get(path).await.status(), 200, "{path}");
            let response = server.request("GET", path, &garbage).await;
            assert_eq!(response.status(), 200, "{path} with a garbage token");
        }
        let metrics = server.metrics().await;
        assert_eq!(metrics.try_sum("tickcast_auth_denied_total", &[]), None);
        eventually(
            "the open-server warning on stderr",
            EVENT_TIMEOUT,
            async || server.stderr().contains("open to anyone").then_some(()),
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn sighup_re_reads_the_jwks_and_a_retired_key_stops_working() {
    within(TEST_TIMEOUT, async {
        // A JWKS of our own, which the test rewrites: both fixture keys first.
        let dir = std::env::temp_dir().join(format!("tickcast-jwks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("jwks.json");
        let both: Value = serde_json::from_str(
            &std::fs::read_to_string(auth::key_file(JWKS)).expect("read the JWKS fixture"),
        )
        .expect("the JWKS fixture is JSON");
        std::fs::write(&path, both.to_string()).expect("write the JWKS");
        let path_text = path.display().to_string();
        let server = Server::tcp_with(&["--auth", "jwt", "--jwks", &path_text]).await;
        let signed = |key: &str, kid: &str| {
            mint(
                key,
                &MintRequest {
                    kid: Some(kid.to_owned()),
                    ..request("alice", &["A"], HOUR)
                },
            )
        };
        let rsa = signed(RSA_PRIVATE, JWKS_RSA_KID);
        let ec = signed(EC_PRIVATE, JWKS_EC_KID);
        assert_eq!(server.get_as("/v1/symbols", &rsa).await.status(), 200);
        assert_eq!(server.get_as("/v1/symbols", &ec).await.status(), 200);

        // Retire the RSA key: keep only the EC one, and signal.
        let mut only_ec = both.clone();
        let keys = only_ec["keys"].as_array_mut().expect("a keys array");
        keys.retain(|key| key["kid"] == JWKS_EC_KID);
        assert_eq!(keys.len(), 1);
        std::fs::write(&path, only_ec.to_string()).expect("rewrite the JWKS");
        server.hangup();
        eventually("the retired key to be refused", EVENT_TIMEOUT, || async {
            (server.get_as("/v1/symbols", &rsa).await.status() == 401).then_some(())
        })
        .await;
        assert_error(
            &server.get_as("/v1/symbols", &rsa).await,
            401,
            "token_unknown_key",
        );
        assert_eq!(server.get_as("/v1/symbols", &ec).await.status(), 200);

        // A broken file on the next signal keeps the keys in force.
        std::fs::write(&path, "{not json").expect("break the JWKS");
        server.hangup();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(server.get_as("/v1/symbols", &ec).await.status(), 200);
        assert_error(
            &server.get_as("/v1/symbols", &rsa).await,
            401,
            "token_unknown_key",
        );
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}
