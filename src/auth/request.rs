//! Where a subscription's token is found: the `Authorization` header, the `access_token`
//! query parameter (for `EventSource`, which cannot set headers), or a cookie.
//!
//! Called by the HTTP edge with the request's headers and query string, on the shard thread,
//! once per subscription request, before [`super::Verifier::verify`]. Looked for, in this
//! order:
//!
//! 1. every `Authorization` header: `Bearer <token>`, the scheme in any case, one or more
//!    spaces; any other scheme, or a bearer without a token, is [`Denied::Malformed`];
//! 2. every `access_token` query parameter, percent-decoded (`form_urlencoded`);
//! 3. the cookie named by the configuration, if one is, in every `Cookie` header
//!    (`a=b; c=d`, parsed here by hand; a value may be in double quotes).
//!
//! A token is a non-empty RFC 6750 `b64token` (`A-Z a-z 0-9 - . _ ~ + /`, then `=`s); anything
//! else is [`Denied::Malformed`]. The same token in several places is one token; two
//! different tokens are [`Denied::Malformed`] (which one would the client mean?). A token
//! longer than [`MAX_TOKEN_LEN`] is [`Denied::TooLarge`], measured on the raw bytes, before
//! any decoding: a real JWT needs no percent-escapes, so its raw and decoded lengths are the
//! same.
//!
//! Borrows from the request (a [`Cow`] that owns only a percent-decoded value); never logs,
//! never allocates for a header or cookie token.

use std::borrow::Cow;

use hyper::HeaderMap;
use hyper::header;

use super::{Denied, MAX_TOKEN_LEN};

/// The query parameter that carries a token.
pub const QUERY_PARAMETER: &str = "access_token";

/// Where a token was found: for logs and for metrics by place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenPlace {
    /// `Authorization: Bearer`.
    Header,
    /// The `access_token` query parameter.
    Query,
    /// The configured cookie.
    Cookie,
}

impl TokenPlace {
    /// A `snake_case` label.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPlace::Header => "header",
            TokenPlace::Query => "query",
            TokenPlace::Cookie => "cookie",
        }
    }
}

/// A token and where it was found first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundToken<'a> {
    /// Where (the first place, when it is given in several).
    pub place: TokenPlace,
    /// The token, borrowed from the request unless percent-decoded.
    pub token: Cow<'a, str>,
}

/// The request's token, if it gives one (module docs for where, in which order, and what is
/// refused). `Ok(None)`: no token anywhere.
pub fn token_from_request<'a>(
    headers: &'a HeaderMap,
    query: &'a str,
    cookie_name: Option<&str>,
) -> Result<Option<Cow<'a, str>>, Denied> {
    Ok(find_token(headers, query, cookie_name)?.map(|found| found.token))
}

/// The same as [`token_from_request`], and where the token was found.
pub fn find_token<'a>(
    headers: &'a HeaderMap,
    query: &'a str,
    cookie_name: Option<&str>,
) -> Result<Option<FoundToken<'a>>, Denied> {
    let mut found = Found(None);
    for value in headers.get_all(header::AUTHORIZATION) {
        found.offer(TokenPlace::Header, Cow::Borrowed(bearer(value.as_bytes())?))?;
    }
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !is_query_parameter(key) {
            continue;
        }
        if value.len() > MAX_TOKEN_LEN {
            return Err(Denied::TooLarge);
        }
        // One pair, split at its first `=` by form_urlencoded as above.
        let token = form_urlencoded::parse(pair.as_bytes())
            .next()
            .map(|(_, token)| token)
            .unwrap_or_default();
        b64token(token.as_bytes())?;
        found.offer(TokenPlace::Query, token)?;
    }
    if let Some(name) = cookie_name.filter(|name| !name.is_empty()) {
        for value in headers.get_all(header::COOKIE) {
            for cookie in value.as_bytes().split(|&b| b == b';') {
                let Some((key, value)) = split_cookie(cookie) else {
                    continue;
                };
                if key != name.as_bytes() {
                    continue;
                }
                if value.len() > MAX_TOKEN_LEN {
                    return Err(Denied::TooLarge);
                }
                found.offer(TokenPlace::Cookie, Cow::Borrowed(b64token(value)?))?;
            }
        }
    }
    Ok(found.0)
}

/// The first token offered; a different one later is a conflict.
struct Found<'a>(Option<FoundToken<'a>>);

impl<'a> Found<'a> {
    fn offer(&mut self, place: TokenPlace, token: Cow<'a, str>) -> Result<(), Denied> {
        match &self.0 {
            None => {
                self.0 = Some(FoundToken { place, token });
                Ok(())
            }
            Some(first) if first.token == token => Ok(()),
            Some(_) => Err(Denied::Malformed),
        }
    }
}

/// The token of one `Authorization` value, which must be `Bearer <token>`.
fn bearer(value: &[u8]) -> Result<&str, Denied> {
    let value = value.trim_ascii();
    let (scheme, rest) = match value.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(at) => (&value[..at], &value[at..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(Denied::Malformed);
    }
    let token = rest.trim_ascii_start();
    if token.len() > MAX_TOKEN_LEN {
        return Err(Denied::TooLarge);
    }
    b64token(token)
}

/// Whether a raw query key is `access_token`, percent-decoded if it has to be.
fn is_query_parameter(key: &str) -> bool {
    if key == QUERY_PARAMETER {
        return true;
    }
    // An encoded key takes at most three bytes per character; anything longer is another
    // parameter, and is not decoded.
    key.len() <= 3 * QUERY_PARAMETER.len()
        && (key.contains('%') || key.contains('+'))
        && form_urlencoded::parse(key.as_bytes())
            .next()
            .is_some_and(|(key, _)| key == QUERY_PARAMETER)
}

/// One `name=value` piece of a `Cookie` header, trimmed, the value out of its quotes; `None`
/// for a piece without `=`.
fn split_cookie(cookie: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = cookie.iter().position(|&b| b == b'=')?;
    let name = cookie[..at].trim_ascii();
    let value = cookie[at + 1..].trim_ascii();
    let value = match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    };
    Some((name, value))
}

/// `bytes` as a token, if it is a non-empty RFC 6750 `b64token`.
fn b64token(bytes: &[u8]) -> Result<&str, Denied> {
    let body = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let valid = body > 0
        && bytes[..body].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        });
    if !valid {
        return Err(Denied::Malformed);
    }
    std::str::from_utf8(bytes).map_err(|_| Denied::Malformed)
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    const OTHER: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl";

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn find(headers: &HeaderMap, query: &str) -> Result<Option<(TokenPlace, String)>, Denied> {
        let found = find_token(headers, query, Some("tc_token"))?;
        Ok(found.map(|found| (found.place, found.token.into_owned())))
    }

    fn auth(value: &str) -> HeaderMap {
        headers(&[(header::AUTHORIZATION, value)])
    }

    fn cookie(value: &str) -> HeaderMap {
        headers(&[(header::COOKIE, value)])
    }

    fn found(place: TokenPlace, token: &str) -> Result<Option<(TokenPlace, String)>, Denied> {
        Ok(Some((place, token.to_owned())))
    }

    #[test]
    fn a_bearer_header_is_found_in_any_case() {
        for value in [
            format!("Bearer {TOKEN}"),
            format!("bearer {TOKEN}"),
            format!("BEARER   {TOKEN}"),
            format!("Bearer\t{TOKEN} "),
        ] {
            assert_eq!(
                find(&auth(&value), ""),
                found(TokenPlace::Header, TOKEN),
                "{value}"
            );
        }
        let map = auth(&format!("Bearer {TOKEN}"));
        let token = token_from_request(&map, "", None).unwrap().unwrap();
        assert!(matches!(token, Cow::Borrowed(_)));
        assert_eq!(token, TOKEN);
        assert_eq!(TokenPlace::Header.as_str(), "header");
    }

    #[test]
    fn other_schemes_and_empty_bearers_are_malformed() {
        for value in [
            "Basic YWxpY2U6c2VjcmV0",
            "Token abc",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Bearertoken",
            "",
            "Bearer a b",
            "Bearer abc,def",
            "Bearer =abc",
            "Bearer \"abc\"",
        ] {
            assert_eq!(find(&auth(value), ""), Err(Denied::Malformed), "{value:?}");
        }
        // Even when a good token is given elsewhere.
        assert_eq!(
            find(
                &auth("Basic YWxpY2U6c2VjcmV0"),
                &format!("access_token={TOKEN}")
            ),
            Err(Denied::Malformed)
        );
        // Padding `=` at the end is part of a b64token.
        assert_eq!(
            find(&auth("Bearer abc=="), ""),
            found(TokenPlace::Header, "abc==")
        );
    }

    #[test]
    fn the_query_parameter_is_percent_decoded() {
        let none = HeaderMap::new();
        assert_eq!(
            find(&none, &format!("symbols=A,B&access_token={TOKEN}")),
            found(TokenPlace::Query, TOKEN)
        );
        assert_eq!(
            find(&none, "access_token=abc%2Edef%2D"),
            found(TokenPlace::Query, "abc.def-")
        );
        assert_eq!(
            find(&none, "access%5Ftoken=abc"),
            found(TokenPlace::Query, "abc")
        );
        assert_eq!(
            find(&none, "access_token=abc%3D%3D"),
            found(TokenPlace::Query, "abc==")
        );
        // `+` decodes to a space, which no token has.
        assert_eq!(find(&none, "access_token=a+b"), Err(Denied::Malformed));
        for query in [
            "access_token=",
            "access_token",
            "access_token=%FF",
            "access_token=a%20b",
        ] {
            assert_eq!(find(&none, query), Err(Denied::Malformed), "{query}");
        }
        for query in [
            "",
            "symbols=*",
            "access_tokens=abc",
            "xaccess_token=abc",
            "&&=&",
        ] {
            assert_eq!(find(&none, query), Ok(None), "{query}");
        }
        let map = HeaderMap::new();
        let query = "access_token=abc%2Edef";
        let token = token_from_request(&map, query, None).unwrap().unwrap();
        assert!(matches!(token, Cow::Owned(_)));
        let query = "access_token=abc.def";
        let token = token_from_request(&map, query, None).unwrap().unwrap();
        assert!(matches!(token, Cow::Borrowed("abc.def")));
    }

    #[test]
    fn the_cookie_is_read_only_when_configured() {
        let map = cookie(&format!("tc_token={TOKEN}"));
        assert_eq!(find(&map, ""), found(TokenPlace::Cookie, TOKEN));
        assert_eq!(find_token(&map, "", None), Ok(None));
        assert_eq!(find_token(&map, "", Some("")), Ok(None));
        assert_eq!(find_token(&map, "", Some("other")), Ok(None));
    }

    #[test]
    fn cookie_headers_are_parsed_by_hand() {
        let cases = [
            format!("a=b; tc_token={TOKEN}; c=d"),
            format!("a=b;tc_token={TOKEN};c=d"),
            format!("  tc_token = {TOKEN}  ;"),
            format!("tc_token=\"{TOKEN}\""),
            format!(";;a;=x; tc_token={TOKEN}"),
            format!("tc_token2=other; xtc_token=other; tc_token={TOKEN}"),
            format!("a=b=c; tc_token={TOKEN}"),
        ];
        for value in &cases {
            assert_eq!(
                find(&cookie(value), ""),
                found(TokenPlace::Cookie, TOKEN),
                "{value}"
            );
        }
        // Several Cookie headers.
        let map = headers(&[
            (header::COOKIE, "a=b"),
            (header::COOKIE, &format!("tc_token={TOKEN}")),
        ]);
        assert_eq!(find(&map, ""), found(TokenPlace::Cookie, TOKEN));
        // Names are case-sensitive; no cookie of that name is no token.
        for value in ["TC_TOKEN=abc", "a=b; c=d", "", "tc_token", ";"] {
            assert_eq!(find(&cookie(value), ""), Ok(None), "{value:?}");
        }
        for value in [
            "tc_token=",
            "tc_token=\"\"",
            "tc_token=a b",
            "tc_token=\"abc",
        ] {
            assert_eq!(
                find(&cookie(value), ""),
                Err(Denied::Malformed),
                "{value:?}"
            );
        }
        // Other cookies may hold any bytes (not UTF-8 included).
        let mut map = HeaderMap::new();
        let mut raw = b"junk=\xff\xfe; tc_token=".to_vec();
        raw.extend_from_slice(TOKEN.as_bytes());
        map.append(header::COOKIE, HeaderValue::from_bytes(&raw).unwrap());
        assert_eq!(find(&map, ""), found(TokenPlace::Cookie, TOKEN));
    }

    #[test]
    fn one_token_in_several_places_is_fine_two_are_malformed() {
        let both = headers(&[
            (header::AUTHORIZATION, &format!("Bearer {TOKEN}")),
            (header::COOKIE, &format!("tc_token={TOKEN}")),
        ]);
        let query = format!("access_token={TOKEN}&access_token={TOKEN}");
        assert_eq!(find(&both, &query), found(TokenPlace::Header, TOKEN));
        let conflicts = [
            (
                auth(&format!("Bearer {TOKEN}")),
                format!("access_token={OTHER}"),
            ),
            (
                cookie(&format!("tc_token={OTHER}")),
                format!("access_token={TOKEN}"),
            ),
            (
                HeaderMap::new(),
                format!("access_token={TOKEN}&access_token={OTHER}"),
            ),
            (
                headers(&[
                    (header::AUTHORIZATION, &format!("Bearer {TOKEN}")),
                    (header::AUTHORIZATION, &format!("Bearer {OTHER}")),
                ]),
                String::new(),
            ),
            (
                cookie(&format!("tc_token={TOKEN}; tc_token={OTHER}")),
                String::new(),
            ),
        ];
        for (map, query) in &conflicts {
            assert_eq!(find(map, query), Err(Denied::Malformed), "{map:?} {query}");
        }
    }

    #[test]
    fn an_oversized_token_is_too_large_wherever_it_is() {
        let huge = "a".repeat(100 * 1024);
        assert_eq!(
            find(&auth(&format!("Bearer {huge}")), ""),
            Err(Denied::TooLarge)
        );
        assert_eq!(
            find(&HeaderMap::new(), &format!("access_token={huge}")),
            Err(Denied::TooLarge)
        );
        assert_eq!(
            find(&cookie(&format!("tc_token={huge}")), ""),
            Err(Denied::TooLarge)
        );
        // Measured before decoding: even escapes that would decode to a short value.
        let escaped = "%41".repeat(MAX_TOKEN_LEN / 3 + 1);
        assert_eq!(
            find(&HeaderMap::new(), &format!("access_token={escaped}")),
            Err(Denied::TooLarge)
        );
        // Checked before the characters: a huge header of junk is still too large.
        let junk = " ".repeat(10) + &"\"".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            find(&auth(&format!("Bearer{junk}")), ""),
            Err(Denied::TooLarge)
        );
        // At the limit, accepted.
        let limit = "a".repeat(MAX_TOKEN_LEN);
        assert_eq!(
            find(&auth(&format!("Bearer {limit}")), ""),
            found(TokenPlace::Header, &limit)
        );
    }

    #[test]
    fn no_token_anywhere_is_none() {
        let map = headers(&[
            (header::COOKIE, "a=b"),
            (header::ACCEPT, "text/event-stream"),
        ]);
        assert_eq!(
            token_from_request(&map, "symbols=*", Some("tc_token")),
            Ok(None)
        );
        assert_eq!(token_from_request(&HeaderMap::new(), "", None), Ok(None));
    }
}
