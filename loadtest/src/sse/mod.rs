//! Reading an SSE response off the wire: HTTP/1.1 head, body framing, event stream.
//!
//! Sans-IO and incremental: a [`ResponseDecoder`] takes the bytes of each `read()` as they come
//! and calls back with every [`Item`] the server said, whatever the read boundaries were. The
//! three layers are [`head`] (status line and headers), [`chunked`] (tickcast's chunked body;
//! nchan's body simply runs until the connection closes) and [`event`] (the event-stream
//! format). Data slices go from the read buffer to the caller without a copy, except an event's
//! `data:` lines, which are joined in one reused buffer.

pub mod chunked;
pub mod event;
pub mod head;

pub use chunked::{ChunkedDecoder, ChunkedError};
pub use event::{Event, EventParser, Item, LineTooLong};
pub use head::{Framing, Head, HeadError, HeadParser};

/// Why a response could not be read as an event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The head is malformed.
    #[error(transparent)]
    Head(#[from] HeadError),
    /// The status is not 200.
    #[error("status {0}")]
    Status(u16),
    /// The chunked framing is malformed.
    #[error(transparent)]
    Chunked(#[from] ChunkedError),
    /// An event-stream line is absurdly long.
    #[error(transparent)]
    Line(#[from] LineTooLong),
}

/// Where a response stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Still waiting for the end of the head.
    Head,
    /// The head was 200; events are flowing.
    Streaming,
    /// The body ended (last chunk, or all of `Content-Length`). For a body that runs until
    /// close, the caller sees the close instead.
    Ended,
}

#[derive(Debug)]
enum Body {
    Chunked(ChunkedDecoder),
    Length(u64),
    UntilClose,
}

/// Decodes one streaming response.
#[derive(Debug)]
pub struct ResponseDecoder {
    head: Option<HeadParser>,
    body: Body,
    events: EventParser,
    ended: bool,
}

impl Default for ResponseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseDecoder {
    /// A decoder for a response not yet started.
    pub fn new() -> Self {
        Self {
            head: Some(HeadParser::new()),
            body: Body::UntilClose,
            events: EventParser::new(),
            ended: false,
        }
    }

    /// A decoder for a body whose head was read elsewhere (HTTP/2: hyper read the HEADERS
    /// frame, and the DATA frames are the event stream itself); it runs until the stream ends,
    /// which the caller sees.
    pub fn body_only() -> Self {
        Self {
            head: None,
            body: Body::UntilClose,
            events: EventParser::new(),
            ended: false,
        }
    }

    /// The id of the last dispatched event, or of the last id-only block (for `Last-Event-ID`
    /// on a reconnect); see [`EventParser::last_id`].
    pub fn last_id(&self) -> &[u8] {
        self.events.last_id()
    }

    /// Takes the bytes of one read and passes everything they complete to `sink`.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        sink: &mut impl FnMut(Item<'_>),
    ) -> Result<Progress, DecodeError> {
        if let Some(parser) = &mut self.head {
            let Some((head, used)) = parser.feed(input)? else {
                return Ok(Progress::Head);
            };
            if head.status != 200 {
                return Err(DecodeError::Status(head.status));
            }
            self.head = None;
            self.body = match head.framing {
                Framing::Chunked => Body::Chunked(ChunkedDecoder::new()),
                Framing::Length(length) => Body::Length(length),
                Framing::UntilClose => Body::UntilClose,
            };
            input = &input[used..];
        }
        if self.ended {
            return Ok(Progress::Ended);
        }
        let events = &mut self.events;
        let mut failed = None;
        match &mut self.body {
            Body::Chunked(chunked) => {
                chunked.feed(input, &mut |data| {
                    if failed.is_none() {
                        failed = events.feed(data, sink).err();
                    }
                })?;
                self.ended = chunked.is_done();
            }
            Body::Length(remaining) => {
                let take = (*remaining).min(input.len() as u64) as usize;
                events.feed(&input[..take], sink)?;
                *remaining -= take as u64;
                self.ended = *remaining == 0;
            }
            Body::UntilClose => events.feed(input, sink)?,
        }
        if let Some(err) = failed {
            return Err(err.into());
        }
        Ok(if self.ended {
            Progress::Ended
        } else {
            Progress::Streaming
        })
    }
}

#[cfg(test)]
mod tests {
    use super::event::tests::{Owned, own};
    use super::*;

    fn decode_split(response: &[u8], a: usize, b: usize) -> (Vec<Owned>, Progress) {
        let mut decoder = ResponseDecoder::new();
        let mut out = Vec::new();
        let mut progress = Progress::Head;
        for piece in [&response[..a], &response[a..b], &response[b..]] {
            progress = decoder
                .feed(piece, &mut |item| out.push(own(item)))
                .unwrap();
        }
        (out, progress)
    }

    #[test]
    fn tickcast_response_at_every_split() {
        let pieces = [
            "retry: 2000\n\n",
            "id: 10\nevent: tick\ndata: {\"seq\":10}\n\nid: ",
            "11\nevent: tick\ndata: {\"a\":",
            "1}",
            "\n\n",
        ];
        let mut response = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for piece in pieces {
            response.extend_from_slice(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes());
        }
        response.extend_from_slice(b"0\r\n\r\n");
        let response = &response[..];
        let expected = vec![
            Owned::Retry(2000),
            Owned::Event {
                kind: "tick".into(),
                id: "10".into(),
                data: "{\"seq\":10}".into(),
            },
            Owned::Event {
                kind: "tick".into(),
                id: "11".into(),
                data: "{\"a\":1}".into(),
            },
        ];
        for a in 0..=response.len() {
            for b in a..=response.len() {
                let (out, progress) = decode_split(response, a, b);
                assert_eq!(out, expected, "split at {a}, {b}");
                assert_eq!(progress, Progress::Ended);
            }
        }
    }

    #[test]
    fn last_id_is_the_id_of_the_last_dispatched_event_at_every_split() {
        // A read may end inside an event (after its `id:` line, inside its data). A client that
        // drops the connection there must resume from the event before it: resuming from the
        // half-read event's id would make the server skip that event.
        let pieces = [
            "retry: 2000\n\n",
            "id: 10\nevent: tick\ndata: {\"seq\":10}\n\n",
            "id: 11\nevent: tick\ndata: {\"seq\":11}\n\n",
        ];
        let mut response = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for piece in pieces {
            response.extend_from_slice(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes());
        }
        for split in 0..=response.len() {
            let mut decoder = ResponseDecoder::new();
            let mut dispatched = Vec::new();
            decoder
                .feed(&response[..split], &mut |item| {
                    if let Item::Event(event) = item {
                        dispatched = event.last_id.to_vec();
                    }
                })
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(decoder.last_id()),
                String::from_utf8_lossy(&dispatched),
                "read ended at byte {split}: {:?}",
                String::from_utf8_lossy(&response[..split])
            );
        }
    }

    #[test]
    fn nchan_response_runs_until_close() {
        let response = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n\
            Connection: keep-alive\r\n\r\n: hi\n\nid: 1:0\ndata: {\"n\":1}\n\n";
        for a in 0..=response.len() {
            let (out, progress) = decode_split(response, a, response.len());
            assert_eq!(out.len(), 2, "split at {a}");
            assert_eq!(progress, Progress::Streaming);
        }
    }

    #[test]
    fn a_body_only_decoder_reads_events_from_the_first_byte() {
        let body = b"retry: 2000\n\nid: 10\nevent: tick\ndata: {\"seq\":10}\n\n";
        for a in 0..=body.len() {
            let mut decoder = ResponseDecoder::body_only();
            let mut out = Vec::new();
            for piece in [&body[..a], &body[a..]] {
                let progress = decoder.feed(piece, &mut |item| out.push(own(item)));
                assert_eq!(progress, Ok(Progress::Streaming));
            }
            assert_eq!(out.len(), 2, "split at {a}");
            assert_eq!(decoder.last_id(), b"10");
        }
    }

    #[test]
    fn refused_subscription() {
        let mut decoder = ResponseDecoder::new();
        let outcome = decoder.feed(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            &mut |_| {},
        );
        assert_eq!(outcome, Err(DecodeError::Status(400)));
    }
}
