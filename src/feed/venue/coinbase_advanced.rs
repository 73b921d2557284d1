//! Coinbase Advanced Trade websocket: the `market_trades`, `ticker` and `ticker_batch`
//! channels into ticks, the other channels recognised and skipped.
//!
//! ```text
//! {"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"snapshot","trades":[{"trade_id":"000000000","product_id":"ETH-USD","price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"}]}]}
//! ```
//!
//! Every data message is the envelope `{channel, client_id, timestamp, sequence_num, events}`;
//! only an error comes bare, as `{"type":"error","message":..}`. One message may hold several
//! events, each with several trades or tickers: each gives a tick. A trade is `product_id`,
//! `price`, `size` at its own `time`; a ticker is a quote from `best_bid`,
//! `best_bid_quantity`, `best_ask`, `best_ask_quantity` at the envelope's `timestamp` (a
//! ticker has no time of its own). Symbols use the `COINBASE:` prefix of Coinbase Exchange:
//! the same venue and product ids (see the parent module). A ticker without a best bid or ask
//! (the docs' 2023 example shows none) is [`Reject::MissingPrice`].

use simd_json::prelude::*;
use simd_json::tape::Value;

use super::Decoded;
use super::coinbase::VENUE;
use super::fields::{each_object, field, label, pick};
use super::ticks::{oldest_first, quote, trade, venue_symbol};
use super::timestamp::rfc3339_time;
use crate::tick::Reject;
use crate::tick::Tick;
use crate::tick::skip;

/// Decodes one parsed line.
pub(super) fn decode(root: Value<'_, '_>, rx: u64, out: &mut Vec<Tick>) -> Result<Decoded, Reject> {
    let object = root.as_object().ok_or(Reject::NotAnObject)?;
    let [channel, timestamp, events, kind] =
        pick(&object, ["channel", "timestamp", "events", "type"])?;
    let Some(channel) = label(channel)? else {
        return match label(kind)? {
            Some("error") => Ok(Decoded::Skipped(skip::ERROR)),
            _ => Err(Reject::MalformedMessage),
        };
    };
    let start = out.len();
    match channel {
        "ticker" | "ticker_batch" => {
            let ts = || rfc3339_time(field(timestamp));
            each_object(events, |event| {
                let [tickers] = pick(&event, ["tickers"])?;
                each_object(tickers, |ticker| {
                    let [product_id, bid, bid_qty, ask, ask_qty] = pick(
                        &ticker,
                        [
                            "product_id",
                            "best_bid",
                            "best_bid_quantity",
                            "best_ask",
                            "best_ask_quantity",
                        ],
                    )?;
                    let symbol = venue_symbol(VENUE, field(product_id), false)?;
                    let book = [field(bid), field(bid_qty), field(ask), field(ask_qty)];
                    out.push(quote(symbol, book, ts, rx)?);
                    Ok(())
                })
            })?;
        }
        "market_trades" => {
            each_object(events, |event| {
                let [kind, trades] = pick(&event, ["type", "trades"])?;
                let batch = out.len();
                each_object(trades, |item| {
                    let [product_id, price, size, time] =
                        pick(&item, ["product_id", "price", "size", "time"])?;
                    let symbol = venue_symbol(VENUE, field(product_id), false)?;
                    let ts = || rfc3339_time(field(time));
                    out.push(trade(symbol, field(price), field(size), ts, rx)?);
                    Ok(())
                })?;
                // The snapshot on subscribing lists recent trades newest first.
                if label(kind)? == Some("snapshot") {
                    oldest_first(out, batch);
                }
                Ok(())
            })?;
        }
        // The subscription is named `level2`, its messages `l2_data`.
        "l2_data" | "level2" => {
            let first_type = events
                .and_then(|events| events.as_array())
                .and_then(|events| events.get(0))
                .and_then(|event| event.get("type"))
                .and_then(|kind| kind.into_string());
            return Ok(Decoded::Skipped(if first_type == Some("snapshot") {
                skip::BOOK_SNAPSHOT
            } else {
                skip::BOOK_UPDATE
            }));
        }
        "candles" => return Ok(Decoded::Skipped(skip::CANDLE)),
        "heartbeats" => return Ok(Decoded::Skipped(skip::HEARTBEAT)),
        "subscriptions" => return Ok(Decoded::Skipped(skip::SUBSCRIPTION)),
        "status" => return Ok(Decoded::Skipped(skip::STATUS)),
        "user" | "futures_balance_summary" => return Ok(Decoded::Skipped(skip::ACCOUNT)),
        _ => return Err(Reject::UnknownMessage),
    }
    Ok(Decoded::Ticks(out.len() - start))
}

#[cfg(test)]
mod tests {
    use super::super::{Decoder, Format};
    use super::*;
    use crate::tick::{Decimal, TickKind};

    fn decode(line: &str) -> (Result<Decoded, Reject>, Vec<Tick>) {
        let mut out = Vec::new();
        let decoded = Decoder::new(Format::CoinbaseAdvanced).decode(line.as_bytes(), 7, &mut out);
        (decoded, out)
    }

    fn text(value: Option<Decimal>) -> Option<String> {
        value.map(|d| d.to_string())
    }

    // The Advanced Trade docs' market_trades example.
    const DOCS_TRADES: &str = r#"{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"snapshot","trades":[{"trade_id":"000000000","product_id":"ETH-USD","price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"}]}]}"#;

    #[test]
    fn decodes_the_documented_trade() {
        let (decoded, out) = decode(DOCS_TRADES);
        assert_eq!(decoded, Ok(Decoded::Ticks(1)));
        let tick = out[0];
        assert_eq!(tick.symbol.as_str(), "COINBASE:ETH-USD");
        assert_eq!(tick.kind, TickKind::Trade);
        assert_eq!(text(tick.px).as_deref(), Some("1260.01"));
        assert_eq!(text(tick.qty).as_deref(), Some("0.3"));
        assert_eq!(tick.ts, 1_565_815_347_265_000_000);
        assert_eq!(tick.rx, 7);
    }

    #[test]
    fn every_trade_of_every_event_is_a_tick_snapshots_oldest_first() {
        let line = r#"{"channel":"market_trades","client_id":"","timestamp":"2024-04-30T01:30:08.2Z","sequence_num":3,"events":[{"type":"snapshot","trades":[{"trade_id":"12","product_id":"BTC-USD","price":"63420.50","size":"0.012","side":"BUY","time":"2024-04-30T01:30:08.123456Z"},{"trade_id":"11","product_id":"BTC-USD","price":"63420.00","size":"0.5","side":"SELL","time":"2024-04-30T01:30:07Z"}]},{"type":"update","trades":[{"trade_id":"13","product_id":"ETH-USD","price":"3000.1","size":"2","side":"SELL","time":"2024-04-30T01:30:08.2Z"},{"trade_id":"14","product_id":"ETH-USD","price":"3000.0","size":"1","side":"SELL","time":"2024-04-30T01:30:08.1Z"}]}]}"#;
        let (decoded, out) = decode(line);
        assert_eq!(decoded, Ok(Decoded::Ticks(4)));
        let prices: Vec<_> = out.iter().map(|t| t.px.map(|p| p.to_string())).collect();
        // The snapshot is reordered by time; the update keeps the venue's order.
        assert_eq!(
            prices,
            [
                Some("63420.00".to_owned()),
                Some("63420.50".to_owned()),
                Some("3000.1".to_owned()),
                Some("3000.0".to_owned())
            ]
        );
        assert_eq!(out[1].ts, 1_714_440_608_123_456_000);
    }

    #[test]
    fn tickers_are_quotes_at_the_envelope_time() {
        // The current docs' schema: best bid and ask with quantities.
        let line = r#"{"channel":"ticker","client_id":"","timestamp":"2024-01-15T10:30:45.123456789Z","sequence_num":7,"events":[{"type":"snapshot","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"42500.00","volume_24_h":"1000000","low_24_h":"41000.00","high_24_h":"43000.00","low_52_w":"35000.00","high_52_w":"48000.00","price_percent_chg_24_h":"2.5","best_bid":"42499.00","best_ask":"42501.00","best_bid_quantity":"5.0","best_ask_quantity":"5.5"},{"type":"ticker","product_id":"ETH-USD","price":"2500.10","best_bid":"2500.00","best_ask":"2500.20","best_bid_quantity":"1","best_ask_quantity":"2"}]}]}"#;
        let (decoded, out) = decode(line);
        assert_eq!(decoded, Ok(Decoded::Ticks(2)));
        let tick = out[0];
        assert_eq!(tick.symbol.as_str(), "COINBASE:BTC-USD");
        assert_eq!(tick.kind, TickKind::Quote);
        assert_eq!(tick.px, None);
        assert_eq!(text(tick.bid).as_deref(), Some("42499.00"));
        assert_eq!(text(tick.bid_qty).as_deref(), Some("5.0"));
        assert_eq!(text(tick.ask).as_deref(), Some("42501.00"));
        assert_eq!(text(tick.ask_qty).as_deref(), Some("5.5"));
        // Nine fraction digits: nanoseconds exactly.
        assert_eq!(tick.ts, 1_705_314_645_123_456_789);
        assert_eq!(out[1].symbol.as_str(), "COINBASE:ETH-USD");
        assert_eq!(out[1].ts, tick.ts);
    }

    #[test]
    fn the_2023_ticker_schema_has_no_book_to_quote() {
        // The 2023 docs' ticker example: a last price and 24 h stats, no best bid or ask.
        let line = r#"{"channel":"ticker","client_id":"","timestamp":"2023-02-09T20:30:37.167359596Z","sequence_num":0,"events":[{"type":"snapshot","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"21932.98","volume_24_h":"16038.28770938","low_24_h":"21835.29","high_24_h":"23011.18","low_52_w":"15460","high_52_w":"48240","price_percent_chg_24_h":"-4.15775596190603"}]}]}"#;
        assert_eq!(decode(line).0, Err(Reject::MissingPrice));
    }

    #[test]
    fn skips_the_other_channels() {
        for (line, kind) in [
            (
                r#"{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z","sequence_num":0,"events":[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105","heartbeat_counter":"3049"}]}"#,
                skip::HEARTBEAT,
            ),
            (
                r#"{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":0,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.73","new_quantity":"0.06317902"}]}]}"#,
                skip::BOOK_SNAPSHOT,
            ),
            (
                r#"{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:51.714964855Z","sequence_num":1,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2023-02-09T20:32:50.714964855Z","price_level":"21921.73","new_quantity":"0"}]}]}"#,
                skip::BOOK_UPDATE,
            ),
            (
                r#"{"channel":"subscriptions","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":2,"events":[{"subscriptions":{"market_trades":["ETH-USD"]}}]}"#,
                skip::SUBSCRIPTION,
            ),
            (
                r#"{"channel":"candles","client_id":"","timestamp":"2023-06-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"snapshot","candles":[{"start":"1688998200","high":"1867.72","low":"1865.63","open":"1867.38","close":"1866.81","volume":"0.20269406","product_id":"ETH-USD"}]}]}"#,
                skip::CANDLE,
            ),
            (
                r#"{"channel":"status","client_id":"","timestamp":"2023-02-09T20:29:49.753424311Z","sequence_num":0,"events":[{"type":"snapshot","products":[]}]}"#,
                skip::STATUS,
            ),
            (
                r#"{"channel":"user","client_id":"","timestamp":"2023-02-09T20:33:57.609931463Z","sequence_num":0,"events":[{"type":"snapshot","orders":[]}]}"#,
                skip::ACCOUNT,
            ),
            (
                r#"{"type":"error","message":"failure to subscribe"}"#,
                skip::ERROR,
            ),
        ] {
            let (decoded, out) = decode(line);
            assert_eq!(decoded, Ok(Decoded::Skipped(kind)), "{line}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn one_bad_trade_rejects_the_whole_message() {
        let trade = |price: &str| {
            format!(
                r#"{{"trade_id":"1","product_id":"BTC-USD","price":"{price}","size":"1","side":"BUY","time":"2024-04-30T01:30:08Z"}}"#
            )
        };
        let line = format!(
            r#"{{"channel":"market_trades","timestamp":"2024-04-30T01:30:08Z","events":[{{"type":"update","trades":[{},{}]}},{{"type":"update","trades":[{}]}}]}}"#,
            trade("1"),
            trade("2"),
            trade("-3")
        );
        let mut decoder = Decoder::new(Format::CoinbaseAdvanced);
        let mut out = vec![decode(DOCS_TRADES).1[0]];
        assert_eq!(
            decoder.decode(line.as_bytes(), 0, &mut out),
            Err(Reject::BadPrice)
        );
        assert_eq!(
            out.len(),
            1,
            "ticks decoded before the fault are taken back"
        );
    }

    #[test]
    fn rejects_with_a_precise_reason() {
        for (line, reject) in [
            (r#"{"client_id":"","events":[]}"#, Reject::MalformedMessage),
            (r#"{"channel":["x"],"events":[]}"#, Reject::MalformedMessage),
            (r#"{"channel":"market_trades"}"#, Reject::MalformedMessage),
            (
                r#"{"channel":"market_trades","events":{}}"#,
                Reject::MalformedMessage,
            ),
            (
                r#"{"channel":"market_trades","events":[1]}"#,
                Reject::MalformedMessage,
            ),
            (
                r#"{"channel":"market_trades","events":[{"type":"update"}]}"#,
                Reject::MalformedMessage,
            ),
            (
                r#"{"channel":"ticker","events":[{"type":"update","tickers":"x"}]}"#,
                Reject::MalformedMessage,
            ),
            (
                r#"{"channel":"futures_positions","events":[]}"#,
                Reject::UnknownMessage,
            ),
            (
                r#"{"channel":"market_trades","events":[{"type":"update","trades":[{"price":"1","size":"1","time":"2024-04-30T01:30:08Z"}]}]}"#,
                Reject::MissingSymbol,
            ),
            (
                r#"{"channel":"market_trades","events":[{"type":"update","trades":[{"product_id":"X","price":"1","time":"2024-04-30T01:30:08Z"}]}]}"#,
                Reject::MissingSize,
            ),
            (
                r#"{"channel":"market_trades","events":[{"type":"update","trades":[{"product_id":"X","price":"1","size":"1","time":"2024-04-30T01:30:08"}]}]}"#,
                Reject::BadTimestamp,
            ),
            (
                r#"{"channel":"ticker","events":[{"type":"update","tickers":[{"product_id":"X","best_bid":"1"}]}]}"#,
                Reject::MissingTimestamp,
            ),
        ] {
            let (decoded, out) = decode(line);
            assert_eq!(decoded, Err(reject), "{line}");
            assert!(out.is_empty());
        }
        // An empty batch is a valid message with no ticks.
        assert_eq!(
            decode(r#"{"channel":"market_trades","timestamp":"2024-04-30T01:30:08Z","events":[]}"#)
                .0,
            Ok(Decoded::Ticks(0))
        );
    }
}
