//! CORS: which web origins may read the API from a browser, and the preflight answer.
//!
//! Place in the flow: [`super::routes::route`] asks [`Cors::allow`] for every request that
//! carries an `Origin`, adds the headers it returns to the response, and answers an `OPTIONS`
//! preflight with [`Cors::preflight`]. Origins are compared exactly (scheme, host and port, as
//! the browser sends them). `*` allows every origin but never with credentials: a response to
//! a `*` origin carries `Access-Control-Allow-Origin: *` and no
//! `Access-Control-Allow-Credentials`, so a browser sends no cookie with it; only origins listed
//! by name get `Access-Control-Allow-Credentials: true` (a token cookie then works cross-site).
//! Must never echo an origin that is not listed, nor allow credentials for `*`.

use hyper::HeaderMap;
use hyper::header::{self, HeaderValue};

/// Headers a browser may send on a cross-origin stream or snapshot request.
const ALLOWED_HEADERS: &str = "authorization, last-event-id, cache-control";
/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The configured origins (`--cors-origin`, repeatable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    origins: Vec<String>,
    any: bool,
}

/// What a request's `Origin` is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// No `Origin` header: not a cross-origin browser request; nothing to add.
    NotCors,
    /// The origin may read the response: these headers go on it.
    Yes(Vec<(header::HeaderName, HeaderValue)>),
    /// The origin is not listed.
    No,
}

impl Cors {
    /// The policy for `origins`: exact origins such as `https://app.example.com`, or `*`.
    pub fn new(origins: &[String]) -> Self {
        Self {
            any: origins.iter().any(|o| o == "*"),
            origins: origins
                .iter()
                .filter(|o| *o != "*")
                .map(|o| o.trim_end_matches('/').to_owned())
                .collect(),
        }
    }

    /// True when no origin is configured (CORS headers are never sent).
    pub fn is_off(&self) -> bool {
        !self.any && self.origins.is_empty()
    }

    /// What the request's `Origin` header is allowed.
    pub fn allow(&self, headers: &HeaderMap) -> Allowed {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Allowed::NotCors;
        };
        let listed = origin
            .to_str()
            .is_ok_and(|o| self.origins.iter().any(|allowed| allowed == o));
        let mut out = Vec::with_capacity(3);
        if listed {
            out.push((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()));
            out.push((
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        } else if self.any {
            out.push((
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ));
        } else {
            return Allowed::No;
        }
        out.push((header::VARY, HeaderValue::from_static("Origin")));
        Allowed::Yes(out)
    }

    /// The extra headers of a preflight answer (after those of [`Cors::allow`]).
    pub fn preflight(&self) -> [(header::HeaderName, HeaderValue); 3] {
        [
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, OPTIONS"),
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            ),
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn get(allowed: &Allowed, name: header::HeaderName) -> Option<&str> {
        match allowed {
            Allowed::Yes(headers) => headers
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.to_str().ok()),
            _ => None,
        }
    }

    #[test]
    fn listed_origins_get_credentials_and_others_nothing() {
        let cors = Cors::new(&["https://app.example.com/".to_owned()]);
        let ok = cors.allow(&origin("https://app.example.com"));
        assert_eq!(
            get(&ok, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://app.example.com")
        );
        assert_eq!(
            get(&ok, header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Some("true")
        );
        assert_eq!(cors.allow(&origin("https://evil.example.com")), Allowed::No);
        assert_eq!(cors.allow(&origin("http://app.example.com")), Allowed::No);
        assert_eq!(cors.allow(&HeaderMap::new()), Allowed::NotCors);
    }

    #[test]
    fn a_star_allows_any_origin_without_credentials() {
        let cors = Cors::new(&["*".to_owned(), "https://app.example.com".to_owned()]);
        let any = cors.allow(&origin("https://elsewhere.example"));
        assert_eq!(get(&any, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
        assert_eq!(get(&any, header::ACCESS_CONTROL_ALLOW_CREDENTIALS), None);
        // A listed origin still gets its credentials.
        let listed = cors.allow(&origin("https://app.example.com"));
        assert_eq!(
            get(&listed, header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Some("true")
        );
        assert!(Cors::new(&[]).is_off());
    }
}
