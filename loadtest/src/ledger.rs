//! Per-connection integrity: gaps, duplicates and reorders, by `seq` and by per-symbol `n`.
//!
//! One [`Ledger`] per client connection, kept across its reconnects, so what a resume with
//! `Last-Event-ID` skipped or repeated shows up here. The checks:
//!
//! - per symbol, the server's count `n` must go up by exactly one from the baseline a
//!   `snapshot` set (or from 1, on tickcast, for a symbol that had no price yet): a jump is a
//!   gap (`missing` counts the ticks in it: conflation for slow clients, loss for fast ones),
//!   the same `n` again is a duplicate, a lower one a reorder;
//! - the event id `seq` must strictly increase on a connection (tickcast), and on a firehose it
//!   must go up by one between live ticks (`seq_gaps`);
//! - at the end, each symbol's last feeder count (`qty`) is compared with what the feeder sent
//!   (`tail_missing`), which catches loss after the last tick that arrived.
//!
//! Sans-IO: the client passes each event in; nothing here reads a clock.

use crate::data::TickData;
use crate::mix::Subscription;

/// What an event is, from its `event:` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A live tick (`tick` on tickcast, the default `message` on nchan).
    Live,
    /// A snapshot (tickcast): the symbol's latest tick at subscription time.
    Snapshot,
    /// A reset (tickcast): the resume point was lost; snapshots follow.
    Reset,
    /// Anything else.
    Other,
}

impl EventKind {
    /// The kind of an event with this `event:` field.
    pub fn of(kind: &[u8]) -> Self {
        match kind {
            b"tick" | b"" | b"message" => EventKind::Live,
            b"snapshot" => EventKind::Snapshot,
            b"reset" => EventKind::Reset,
            _ => EventKind::Other,
        }
    }
}

/// How the global `seq` of a connection is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// Not at all (nchan: several publishers race, only per-symbol order is defined).
    Off,
    /// Strictly increasing (tickcast, a subset of symbols).
    Increasing,
    /// Strictly increasing, and by exactly one between live ticks (tickcast firehose fed only
    /// by this load tester).
    Contiguous,
}

/// How a ledger checks its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerRules {
    /// The global sequence check.
    pub seq: SeqCheck,
    /// The first tick of a symbol seen without a snapshot must have `n == 1` (tickcast: a
    /// symbol with a price always gets a snapshot). Off for nchan, whose first message on a
    /// channel may be any.
    pub strict_first: bool,
}

/// Integrity counters of one connection, or summed over many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Integrity {
    /// Live ticks delivered (duplicates included).
    pub events: u64,
    /// Snapshot events.
    pub snapshots: u64,
    /// Reset events.
    pub resets: u64,
    /// Jumps in a symbol's `n`.
    pub gaps: u64,
    /// Ticks skipped inside those jumps.
    pub missing: u64,
    /// Events repeated (same `seq`, or same `n` of a symbol).
    pub duplicates: u64,
    /// Events that went backwards.
    pub reorders: u64,
    /// Ticks skipped by the global `seq` (firehose on tickcast).
    pub seq_gaps: u64,
    /// Ticks the feeder sent after the last one that arrived, per symbol, summed.
    pub tail_missing: u64,
    /// Subscribed symbols the feeder sent that never arrived at all.
    pub never_seen: u64,
    /// Events without a readable `sym` or `n`.
    pub unreadable: u64,
    /// Events for a symbol the connection did not subscribe to.
    pub unexpected: u64,
}

impl Integrity {
    /// Adds another connection's counters.
    pub fn add(&mut self, other: &Integrity) {
        self.events += other.events;
        self.snapshots += other.snapshots;
        self.resets += other.resets;
        self.gaps += other.gaps;
        self.missing += other.missing;
        self.duplicates += other.duplicates;
        self.reorders += other.reorders;
        self.seq_gaps += other.seq_gaps;
        self.tail_missing += other.tail_missing;
        self.never_seen += other.never_seen;
        self.unreadable += other.unreadable;
        self.unexpected += other.unexpected;
    }

    /// Ticks lost in total: inside gaps and after the last arrival.
    pub fn lost(&self) -> u64 {
        self.missing + self.tail_missing
    }

    /// Whether nothing was lost, repeated, reordered, reset or unreadable.
    pub fn is_clean(&self) -> bool {
        self.lost() == 0
            && self.seq_gaps == 0
            && self.never_seen == 0
            && self.duplicates == 0
            && self.reorders == 0
            && self.resets == 0
            && self.unexpected == 0
            && self.unreadable == 0
    }
}

/// Per symbol: the last `n` (0: not seen yet) and the last feeder count.
#[derive(Debug, Clone, Copy, Default)]
struct SymbolState {
    last_n: u64,
    last_count: u64,
}

/// Symbol states of a firehose (indexed) or of a set of symbols (sorted keys).
#[derive(Debug)]
enum Slots {
    Dense(Vec<SymbolState>),
    Sparse {
        keys: Vec<u32>,
        states: Vec<SymbolState>,
    },
}

impl Slots {
    fn get(&mut self, symbol: u32) -> Option<&mut SymbolState> {
        match self {
            Slots::Dense(states) => {
                let i = symbol as usize;
                if i >= states.len() {
                    states.resize(i + 1, SymbolState::default());
                }
                Some(&mut states[i])
            }
            Slots::Sparse { keys, states } => {
                let i = keys.binary_search(&symbol).ok()?;
                Some(&mut states[i])
            }
        }
    }

    fn for_each(&self, mut f: impl FnMut(u32, &SymbolState)) {
        match self {
            Slots::Dense(states) => {
                for (i, state) in states.iter().enumerate() {
                    f(i as u32, state);
                }
            }
            Slots::Sparse { keys, states } => {
                for (&key, state) in keys.iter().zip(states) {
                    f(key, state);
                }
            }
        }
    }
}

/// What the client should do with an event after the ledger saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed {
    /// It is a live tick: record its latency.
    pub live: bool,
    /// This event made the connection complete: every subscribed symbol reached its final
    /// feeder count (reported once).
    pub completed: bool,
}

/// The integrity ledger of one connection.
#[derive(Debug)]
pub struct Ledger {
    rules: LedgerRules,
    slots: Slots,
    last_seq: Option<u64>,
    /// Whether the next live tick must follow the previous one by exactly one `seq` (only
    /// between live ticks: snapshots are not contiguous).
    seq_armed: bool,
    /// Subscribed symbols with an expected final count not reached yet.
    remaining: u64,
    digest: u64,
    /// The counters so far.
    pub integrity: Integrity,
}

/// FNV-1a offset basis and prime.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Ledger {
    /// A ledger for a connection subscribed to `subscription`. `expected[s]` is how many ticks
    /// of universe symbol `s` the feeder will send (empty when the load tester does not feed).
    pub fn new(rules: LedgerRules, subscription: &Subscription, expected: &[u32]) -> Self {
        let (slots, remaining) = match subscription {
            Subscription::Firehose => (
                Slots::Dense(vec![SymbolState::default(); expected.len()]),
                expected.iter().filter(|&&e| e > 0).count() as u64,
            ),
            Subscription::Symbols(symbols) => (
                Slots::Sparse {
                    keys: symbols.clone(),
                    states: vec![SymbolState::default(); symbols.len()],
                },
                symbols
                    .iter()
                    .filter(|&&s| expected.get(s as usize).is_some_and(|&e| e > 0))
                    .count() as u64,
            ),
        };
        Self {
            rules,
            slots,
            last_seq: None,
            seq_armed: false,
            remaining,
            digest: FNV_OFFSET,
            integrity: Integrity::default(),
        }
    }

    /// Whether every subscribed symbol reached its expected count (trivially, when nothing is
    /// expected).
    pub fn is_complete(&self) -> bool {
        self.remaining == 0
    }

    /// A hash of the live ticks in arrival order (`sym`, `seq`, `n`): equal on two connections
    /// (or two runs) exactly when they saw the same sequence.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Checks one event. `symbol` is the index of `data.sym` (see [`crate::universe`]).
    pub fn observe(
        &mut self,
        kind: EventKind,
        data: &TickData<'_>,
        symbol: Option<u32>,
        expected: &[u32],
    ) -> Observed {
        match kind {
            EventKind::Live => self.live(data, symbol, expected),
            EventKind::Snapshot => {
                self.integrity.snapshots += 1;
                if let Some(seq) = data.seq {
                    if self.last_seq.is_some_and(|last| seq <= last) {
                        self.integrity.reorders += 1;
                    }
                    self.last_seq = Some(seq);
                }
                self.seq_armed = false;
                let (Some(symbol), Some(n)) = (symbol, data.n) else {
                    self.integrity.unreadable += 1;
                    return Observed::default();
                };
                let Some(state) = self.slots.get(symbol) else {
                    self.integrity.unexpected += 1;
                    return Observed::default();
                };
                state.last_n = n;
                let before = state.last_count;
                if let Some(count) = data.qty {
                    state.last_count = count;
                }
                Observed {
                    live: false,
                    completed: self.note_count(symbol, before, expected),
                }
            }
            EventKind::Reset => {
                self.integrity.resets += 1;
                self.last_seq = None;
                self.seq_armed = false;
                Observed::default()
            }
            EventKind::Other => Observed::default(),
        }
    }

    fn live(&mut self, data: &TickData<'_>, symbol: Option<u32>, expected: &[u32]) -> Observed {
        self.integrity.events += 1;
        if let (Some(seq), true) = (data.seq, self.rules.seq != SeqCheck::Off) {
            if let Some(last) = self.last_seq {
                if seq == last {
                    self.integrity.duplicates += 1;
                    return Observed::default();
                }
                if seq < last {
                    self.integrity.reorders += 1;
                    return Observed::default();
                }
                if self.rules.seq == SeqCheck::Contiguous && self.seq_armed && seq > last + 1 {
                    self.integrity.seq_gaps += seq - last - 1;
                }
            }
            self.last_seq = Some(seq);
            self.seq_armed = true;
        }
        let (Some(symbol), Some(n)) = (symbol, data.n) else {
            self.integrity.unreadable += 1;
            return Observed {
                live: true,
                completed: false,
            };
        };
        self.digest = fnv(
            fnv(fnv(self.digest, data.sym), &n.to_le_bytes()),
            &data.seq.unwrap_or(0).to_le_bytes(),
        );
        let Some(state) = self.slots.get(symbol) else {
            self.integrity.unexpected += 1;
            return Observed {
                live: true,
                completed: false,
            };
        };
        let last = state.last_n;
        if last == 0 {
            if self.rules.strict_first && n > 1 {
                self.integrity.gaps += 1;
                self.integrity.missing += n - 1;
            }
        } else if n == last {
            self.integrity.duplicates += 1;
            return Observed::default();
        } else if n < last {
            self.integrity.reorders += 1;
            return Observed::default();
        } else if n > last + 1 {
            self.integrity.gaps += 1;
            self.integrity.missing += n - last - 1;
        }
        state.last_n = n;
        let before = state.last_count;
        if let Some(count) = data.qty {
            state.last_count = state.last_count.max(count);
        }
        Observed {
            live: true,
            completed: self.note_count(symbol, before, expected),
        }
    }

    /// Updates completion after `symbol`'s count moved from `before`.
    fn note_count(&mut self, symbol: u32, before: u64, expected: &[u32]) -> bool {
        let Some(&target) = expected.get(symbol as usize) else {
            return false;
        };
        let target = u64::from(target);
        let now = self.slots.get(symbol).map_or(0, |s| s.last_count);
        if target > 0 && before < target && now >= target && self.remaining > 0 {
            self.remaining -= 1;
            return self.remaining == 0;
        }
        false
    }

    /// Closes the books once the feed is over: `sent[s]` is how many ticks of universe symbol
    /// `s` the feeder actually sent. Adds `tail_missing` and `never_seen`.
    pub fn finish(&mut self, sent: &[u32]) {
        let mut tail = 0;
        let mut never = 0;
        self.slots.for_each(|symbol, state| {
            let Some(&sent) = sent.get(symbol as usize) else {
                return;
            };
            let sent = u64::from(sent);
            if sent == 0 {
                return;
            }
            if state.last_n == 0 {
                never += 1;
                tail += sent;
            } else {
                tail += sent.saturating_sub(state.last_count);
            }
        });
        self.integrity.tail_missing += tail;
        self.integrity.never_seen += never;
    }
}

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKCAST: LedgerRules = LedgerRules {
        seq: SeqCheck::Increasing,
        strict_first: true,
    };
    const FIREHOSE: LedgerRules = LedgerRules {
        seq: SeqCheck::Contiguous,
        strict_first: true,
    };
    const NCHAN: LedgerRules = LedgerRules {
        seq: SeqCheck::Off,
        strict_first: false,
    };

    fn tick(sym: u32, seq: u64, n: u64) -> (TickData<'static>, Option<u32>) {
        (
            TickData {
                sym: b"S",
                seq: Some(seq),
                n: Some(n),
                qty: Some(n),
                ts: Some(0),
                rx: None,
            },
            Some(sym),
        )
    }

    fn feed(ledger: &mut Ledger, kind: EventKind, events: &[(u32, u64, u64)]) -> Vec<Observed> {
        events
            .iter()
            .map(|&(sym, seq, n)| {
                let (data, symbol) = tick(sym, seq, n);
                ledger.observe(kind, &data, symbol, &[])
            })
            .collect()
    }

    #[test]
    fn clean_stream_after_snapshots() {
        let mut ledger = Ledger::new(FIREHOSE, &Subscription::Firehose, &[]);
        feed(&mut ledger, EventKind::Snapshot, &[(0, 3, 2), (1, 7, 5)]);
        feed(
            &mut ledger,
            EventKind::Live,
            &[(0, 9, 3), (1, 10, 6), (2, 11, 1)],
        );
        assert_eq!(ledger.integrity.events, 3);
        assert_eq!(ledger.integrity.snapshots, 2);
        assert!(ledger.integrity.is_clean(), "{:?}", ledger.integrity);
    }

    #[test]
    fn gaps_by_n_and_by_seq() {
        let mut ledger = Ledger::new(FIREHOSE, &Subscription::Firehose, &[]);
        feed(
            &mut ledger,
            EventKind::Live,
            &[(0, 1, 1), (0, 2, 2), (0, 5, 5), (1, 6, 3)],
        );
        let i = ledger.integrity;
        // Symbol 0 skipped n 3 and 4; symbol 1 started at 3 without a snapshot (strict).
        assert_eq!((i.gaps, i.missing), (2, 4));
        assert_eq!(i.seq_gaps, 2);
        assert_eq!(i.lost(), 4);
        assert!(!i.is_clean());
    }

    #[test]
    fn duplicates_and_reorders() {
        let mut ledger = Ledger::new(TICKCAST, &Subscription::Symbols(vec![0, 1]), &[]);
        feed(
            &mut ledger,
            EventKind::Live,
            &[(0, 10, 1), (0, 10, 1), (1, 12, 1), (0, 11, 2)],
        );
        let i = ledger.integrity;
        assert_eq!((i.duplicates, i.reorders), (1, 1));
        assert_eq!(i.gaps, 0);

        // Without a global seq (nchan), the per-symbol n decides.
        let mut ledger = Ledger::new(NCHAN, &Subscription::Symbols(vec![0, 1]), &[]);
        feed(
            &mut ledger,
            EventKind::Live,
            &[
                (0, 1, 7),
                (0, 2, 8),
                (0, 2, 8),
                (1, 1, 4),
                (0, 3, 6),
                (1, 5, 6),
            ],
        );
        let i = ledger.integrity;
        // nchan's first message may be any n: no gap for 7 or 4; 4 -> 6 is a gap of one.
        assert_eq!((i.duplicates, i.reorders, i.gaps, i.missing), (1, 1, 1, 1));
    }

    #[test]
    fn unsubscribed_and_unreadable_events_are_counted() {
        let mut ledger = Ledger::new(TICKCAST, &Subscription::Symbols(vec![3]), &[]);
        feed(&mut ledger, EventKind::Live, &[(4, 1, 1)]);
        ledger.observe(EventKind::Live, &TickData::default(), None, &[]);
        assert_eq!(
            (ledger.integrity.unexpected, ledger.integrity.unreadable),
            (1, 1)
        );
        assert_eq!(ledger.integrity.events, 2);
    }

    #[test]
    fn reset_rebaselines_and_is_counted() {
        let mut ledger = Ledger::new(FIREHOSE, &Subscription::Firehose, &[]);
        feed(&mut ledger, EventKind::Live, &[(0, 100, 1), (0, 101, 2)]);
        feed(&mut ledger, EventKind::Reset, &[(0, 5000, 0)]);
        feed(&mut ledger, EventKind::Snapshot, &[(0, 5000, 40)]);
        feed(&mut ledger, EventKind::Live, &[(0, 5001, 41)]);
        let i = ledger.integrity;
        assert_eq!(i.resets, 1);
        assert_eq!((i.gaps, i.seq_gaps, i.reorders), (0, 0, 0));
        assert!(!i.is_clean(), "a reset is never clean");
    }

    #[test]
    fn resume_across_a_reconnect_is_seamless_or_shows_its_faults() {
        // The same ledger sees the stream before and after a reconnect.
        let mut ledger = Ledger::new(FIREHOSE, &Subscription::Firehose, &[]);
        feed(&mut ledger, EventKind::Live, &[(0, 1, 1), (1, 2, 1)]);
        feed(&mut ledger, EventKind::Live, &[(0, 3, 2), (1, 4, 2)]);
        assert!(ledger.integrity.is_clean());
        // A server that replays one event too many, then skips one.
        feed(&mut ledger, EventKind::Live, &[(1, 4, 2), (1, 6, 3)]);
        let i = ledger.integrity;
        assert_eq!((i.duplicates, i.seq_gaps, i.gaps), (1, 1, 0));
    }

    #[test]
    fn completion_and_tail() {
        let expected = [3, 2, 0];
        let mut ledger = Ledger::new(TICKCAST, &Subscription::Firehose, &expected);
        assert!(!ledger.is_complete());
        let mut done = Vec::new();
        for &(sym, seq, n) in &[(0, 1, 1), (1, 2, 1), (0, 3, 2), (1, 4, 2), (0, 5, 3)] {
            let (data, symbol) = tick(sym, seq, n);
            done.push(
                ledger
                    .observe(EventKind::Live, &data, symbol, &expected)
                    .completed,
            );
        }
        assert_eq!(done, vec![false, false, false, false, true]);
        assert!(ledger.is_complete());
        ledger.finish(&expected);
        assert_eq!(
            (ledger.integrity.tail_missing, ledger.integrity.never_seen),
            (0, 0)
        );

        // A connection that stopped early: symbol 0 at 1 of 3, symbol 1 never seen.
        let mut ledger = Ledger::new(TICKCAST, &Subscription::Symbols(vec![0, 1, 2]), &expected);
        feed(&mut ledger, EventKind::Live, &[(0, 1, 1)]);
        ledger.finish(&expected);
        assert_eq!(
            (ledger.integrity.tail_missing, ledger.integrity.never_seen),
            (4, 1)
        );
        assert_eq!(ledger.integrity.lost(), 4);

        // A snapshot that already carries the final count completes its symbol.
        let mut ledger = Ledger::new(TICKCAST, &Subscription::Symbols(vec![1]), &expected);
        let (data, symbol) = tick(1, 9, 2);
        assert!(
            ledger
                .observe(EventKind::Snapshot, &data, symbol, &expected)
                .completed
        );
        // Nothing expected: complete from the start.
        assert!(Ledger::new(TICKCAST, &Subscription::Symbols(vec![2]), &expected).is_complete());
    }

    #[test]
    fn digest_depends_on_order() {
        let run = |events: &[(u32, u64, u64)]| {
            let mut ledger = Ledger::new(FIREHOSE, &Subscription::Firehose, &[]);
            feed(&mut ledger, EventKind::Live, events);
            ledger.digest()
        };
        let a = run(&[(0, 1, 1), (1, 2, 5)]);
        assert_eq!(a, run(&[(0, 1, 1), (1, 2, 5)]));
        assert_ne!(a, run(&[(0, 1, 5), (1, 2, 1)]));
    }

    #[test]
    fn event_kinds() {
        assert_eq!(EventKind::of(b"tick"), EventKind::Live);
        assert_eq!(EventKind::of(b""), EventKind::Live);
        assert_eq!(EventKind::of(b"snapshot"), EventKind::Snapshot);
        assert_eq!(EventKind::of(b"reset"), EventKind::Reset);
        assert_eq!(EventKind::of(b"status"), EventKind::Other);
    }
}
