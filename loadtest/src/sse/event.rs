//! The `text/event-stream` format (WHATWG HTML, "Server-sent events"), parsed incrementally.
//!
//! Lines may end in LF, CRLF or a lone CR, and a read may end anywhere, even between the CR and
//! the LF of one line break. A line that arrives whole is parsed in place; only a line cut by the
//! end of an input is copied (into `partial`). The `data:` lines of an event are joined into one
//! reusable buffer, so after the first few events nothing is allocated.

/// Longest line kept while waiting for its end. Event data of a market tick is a few hundred
/// bytes; a line this long means the stream is not what we think it is.
pub const MAX_LINE: usize = 1 << 20;

/// A line longer than [`MAX_LINE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event-stream line longer than {MAX_LINE} bytes")]
pub struct LineTooLong;

/// One thing the stream said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A dispatched event.
    Event(Event<'a>),
    /// A comment line (`: hb`), without the colon and one leading space.
    Comment(&'a [u8]),
    /// A `retry:` reconnection time, in milliseconds.
    Retry(u64),
}

/// A dispatched event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event:` type; empty for the default (`message`).
    pub kind: &'a [u8],
    /// The last event ID string as of this event (what `Last-Event-ID` would send once it is
    /// received); empty when none was set.
    pub last_id: &'a [u8],
    /// The data lines joined by LF.
    pub data: &'a [u8],
}

/// The event-stream parser.
#[derive(Debug, Default)]
pub struct EventParser {
    /// A line cut by the end of the previous input.
    partial: Vec<u8>,
    /// The previous input ended with CR: an LF at the start of the next belongs to it.
    after_cr: bool,
    data: Vec<u8>,
    has_data: bool,
    kind: Vec<u8>,
    /// The last event ID buffer: set by each `id:` line, including one of an event still
    /// being read.
    id_buffer: Vec<u8>,
    /// The last event ID string: the buffer as of the last dispatch (blank line), so never the
    /// id of an event cut by the end of the input.
    last_id: Vec<u8>,
}

impl EventParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last event ID string (what `Last-Event-ID` must send on a reconnect): the id in force
    /// at the last dispatch. An `id:` line of an event whose blank line has not arrived does not
    /// count yet: resuming from it would tell the server that event was received.
    pub fn last_id(&self) -> &[u8] {
        &self.last_id
    }

    /// Parses the next bytes of the stream, passing each event, comment and retry to `sink`.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        sink: &mut impl FnMut(Item<'_>),
    ) -> Result<(), LineTooLong> {
        if self.after_cr && !input.is_empty() {
            self.after_cr = false;
            if let Some(rest) = input.strip_prefix(b"\n") {
                input = rest;
            }
        }
        while !input.is_empty() {
            let Some(end) = memchr::memchr2(b'\n', b'\r', input) else {
                if self.partial.len() + input.len() > MAX_LINE {
                    return Err(LineTooLong);
                }
                self.partial.extend_from_slice(input);
                return Ok(());
            };
            let next = match (input[end], input.get(end + 1)) {
                (b'\r', Some(b'\n')) => end + 2,
                (b'\r', None) => {
                    self.after_cr = true;
                    end + 1
                }
                _ => end + 1,
            };
            if self.partial.is_empty() {
                self.line(&input[..end], sink);
            } else {
                if self.partial.len() + end > MAX_LINE {
                    return Err(LineTooLong);
                }
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&input[..end]);
                self.line(&line, sink);
                line.clear();
                self.partial = line;
            }
            input = &input[next..];
        }
        Ok(())
    }

    /// One complete line, without its line break.
    fn line(&mut self, line: &[u8], sink: &mut impl FnMut(Item<'_>)) {
        if line.is_empty() {
            // Dispatch (WHATWG, first step, even for a block without data).
            if self.last_id != self.id_buffer {
                self.last_id.clear();
                self.last_id.extend_from_slice(&self.id_buffer);
            }
            if self.has_data {
                sink(Item::Event(Event {
                    kind: &self.kind,
                    last_id: &self.last_id,
                    data: &self.data,
                }));
            }
            self.data.clear();
            self.has_data = false;
            self.kind.clear();
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => {
                sink(Item::Comment(strip_space(&line[1..])));
                return;
            }
            Some(colon) => (&line[..colon], strip_space(&line[colon + 1..])),
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.kind.clear();
                self.kind.extend_from_slice(value);
            }
            b"id" if memchr::memchr(0, value).is_none() => {
                self.id_buffer.clear();
                self.id_buffer.extend_from_slice(value);
            }
            b"retry" => {
                if let Some(ms) = super::head::parse_u64(value) {
                    sink(Item::Retry(ms));
                }
            }
            _ => {}
        }
    }
}

fn strip_space(value: &[u8]) -> &[u8] {
    value.strip_prefix(b" ").unwrap_or(value)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a parse produced, owned, for comparisons.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Owned {
        Event {
            kind: String,
            id: String,
            data: String,
        },
        Comment(String),
        Retry(u64),
    }

    pub(crate) fn own(item: Item<'_>) -> Owned {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match item {
            Item::Event(e) => Owned::Event {
                kind: text(e.kind),
                id: text(e.last_id),
                data: text(e.data),
            },
            Item::Comment(c) => Owned::Comment(text(c)),
            Item::Retry(ms) => Owned::Retry(ms),
        }
    }

    fn parse_pieces(pieces: &[&[u8]]) -> Vec<Owned> {
        let mut parser = EventParser::new();
        let mut out = Vec::new();
        for piece in pieces {
            parser.feed(piece, &mut |item| out.push(own(item))).unwrap();
        }
        out
    }

    fn event(kind: &str, id: &str, data: &str) -> Owned {
        Owned::Event {
            kind: kind.into(),
            id: id.into(),
            data: data.into(),
        }
    }

    const STREAM: &[u8] = b"retry: 2000\n\nid: 5\nevent: snapshot\ndata: {\"sym\":\"A\"}\n\n\
        : hb\n\nid: 6\r\nevent: tick\r\ndata: line one\r\ndata:line two\r\n\r\n\
        id: 7\revent: tick\rdata: {\"sym\":\"B\"}\r\r";

    fn expected() -> Vec<Owned> {
        vec![
            Owned::Retry(2000),
            event("snapshot", "5", "{\"sym\":\"A\"}"),
            Owned::Comment("hb".into()),
            event("tick", "6", "line one\nline two"),
            event("tick", "7", "{\"sym\":\"B\"}"),
        ]
    }

    #[test]
    fn whole_stream() {
        assert_eq!(parse_pieces(&[STREAM]), expected());
    }

    #[test]
    fn every_pair_of_split_points() {
        for a in 0..=STREAM.len() {
            for b in a..=STREAM.len() {
                let pieces = [&STREAM[..a], &STREAM[a..b], &STREAM[b..]];
                assert_eq!(parse_pieces(&pieces), expected(), "split at {a}, {b}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let pieces: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(parse_pieces(&pieces), expected());
    }

    #[test]
    fn crlf_split_between_cr_and_lf_is_one_line_break() {
        let out = parse_pieces(&[b"data: a\r", b"\n", b"\r", b"\n"]);
        assert_eq!(out, vec![event("", "", "a")]);
    }

    #[test]
    fn spec_details() {
        // No space after the colon; field without a colon; unknown fields; an event without data
        // is not dispatched; the id persists; an id with NUL is ignored; bad retry ignored.
        let out = parse_pieces(&[
            b"data:x\nfoo: bar\nevent: e\n\nid: 9\nevent: only\n\ndata\n\n",
            b"id: a\0b\nretry: soon\ndata: y\n\n",
        ]);
        assert_eq!(
            out,
            vec![event("e", "", "x"), event("", "9", ""), event("", "9", "y")]
        );
    }

    #[test]
    fn nchan_framing() {
        // nchan: no event type, string ids, a heartbeat comment, body until close.
        let out = parse_pieces(&[
            b": hi\n\nid: 1700000000:0\ndata: {\"sym\":\"LT0001\",\"n\":1}\n\n",
            b": hb\n\nid: 1700000000:1,1700000001:0\ndata: {\"n\":2}\n\n",
        ]);
        assert_eq!(
            out,
            vec![
                Owned::Comment("hi".into()),
                event("", "1700000000:0", "{\"sym\":\"LT0001\",\"n\":1}"),
                Owned::Comment("hb".into()),
                event("", "1700000000:1,1700000001:0", "{\"n\":2}"),
            ]
        );
    }

    #[test]
    fn last_id_moves_when_an_event_is_dispatched_not_when_its_id_line_arrives() {
        let mut parser = EventParser::new();
        let mut ids = Vec::new();
        let mut feed = |parser: &mut EventParser, bytes: &[u8]| {
            parser
                .feed(bytes, &mut |item| {
                    if let Item::Event(e) = item {
                        ids.push(String::from_utf8_lossy(e.last_id).into_owned());
                    }
                })
                .unwrap();
            String::from_utf8_lossy(parser.last_id()).into_owned()
        };
        assert_eq!(
            feed(&mut parser, b"id: 6\nevent: tick\ndata: {}\n\nid: 7\n"),
            "6"
        );
        assert_eq!(feed(&mut parser, b"event: tick\ndata: {\"sym\""), "6");
        assert_eq!(feed(&mut parser, b":\"A\"}\n"), "6");
        assert_eq!(feed(&mut parser, b"\n"), "7");
        // A block with an id and no data dispatches nothing, but it does set the id a
        // reconnect sends (WHATWG: the last event ID string is set before the empty-data check).
        assert_eq!(feed(&mut parser, b"id: 9\n\n"), "9");
        assert_eq!(feed(&mut parser, b"id: 10\ndata: x"), "9");
        assert_eq!(ids, ["6", "7"]);
    }

    #[test]
    fn line_too_long() {
        let mut parser = EventParser::new();
        let big = vec![b'a'; MAX_LINE / 2 + 1];
        parser.feed(b"data: ", &mut |_| {}).unwrap();
        parser.feed(&big, &mut |_| {}).unwrap();
        assert_eq!(parser.feed(&big, &mut |_| {}), Err(LineTooLong));
    }
}
