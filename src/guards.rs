//! What protects the browser's side of intentlab: cross-site request forgery is refused, every response carries
//! the security headers, and cookies are `Secure` whenever the person reached intentlab over https.
//!
//! Session cookies are `SameSite=Lax`, which keeps other *sites* from sending them with a POST — but not a
//! sibling subdomain (`promo.shop.example` is the same site as `intentlab.shop.example`). So a state-changing
//! request that a browser could have sent on a person's behalf must also come from intentlab's own pages, as
//! the browser tells in `Sec-Fetch-Site` and `Origin`.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_SECURITY_POLICY, HOST, ORIGIN, SET_COOKIE, STRICT_TRANSPORT_SECURITY};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Where intentlab's pages are served from, and which proxies may say how a request arrived.
#[derive(Clone, Debug, Default)]
pub struct Site {
    /// `scheme://host[:port]` of `INTENTLAB_PUBLIC_URL`, when configured.
    pub public_origin: Option<String>,
    /// Whether people reach intentlab over https (a public URL that says so).
    pub public_https: bool,
    /// Addresses of reverse proxies whose `X-Forwarded-Proto` and `X-Forwarded-For` are believed.
    pub trusted_proxies: Arc<[std::net::IpAddr]>,
}

impl Site {
    pub fn new(public_url: Option<&str>, trusted_proxies: Vec<std::net::IpAddr>) -> Result<Site, String> {
        let public_origin = match public_url.filter(|u| !u.trim().is_empty()) {
            None => None,
            Some(raw) => {
                let url = url::Url::parse(raw.trim()).map_err(|e| format!("INTENTLAB_PUBLIC_URL {raw:?}: {e}"))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(format!("INTENTLAB_PUBLIC_URL {raw:?} must be an http:// or https:// URL"));
                }
                Some(url.origin().ascii_serialization())
            }
        };
        let public_https = public_origin.as_deref().is_some_and(|o| o.starts_with("https://"));
        Ok(Site { public_origin, public_https, trusted_proxies: trusted_proxies.into() })
    }
}

/// Why a request was refused as cross-site, for the 403's message.
#[derive(Debug, PartialEq, Eq)]
pub struct CrossSite(&'static str);

/// Whether a request may change state on behalf of whoever's cookies it carries. Pure: the method, the path and
/// the headers decide.
///
/// - Safe methods change nothing. Requests with an API key (`Authorization`, `X-API-Key`) carry their own
///   credential, which no other page can add; the tracking API (`/v1/…`) and OFREP authenticate by key only.
/// - A browser that sends `Sec-Fetch-Site` says where the request came from: only `same-origin`, or `none` (the
///   person typed it), may proceed — `same-site` is exactly the sibling-subdomain case.
/// - Otherwise `Origin`, if sent, must be intentlab's: the configured public URL, else the request's own host.
/// - A request with neither header did not come from a browser page (every current browser sends them with a
///   cross-origin POST), so there is no one to forge it against.
pub fn check_same_origin(method: &Method, path: &str, headers: &HeaderMap, site: &Site) -> Result<(), CrossSite> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if headers.contains_key(AUTHORIZATION) || headers.contains_key("x-api-key") {
        return Ok(());
    }
    if path.starts_with("/v1/") || path.starts_with("/ofrep/") {
        return Ok(());
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    match text("sec-fetch-site") {
        Some("same-origin" | "none") => return Ok(()),
        Some("same-site") => return Err(CrossSite("it came from another part of the same site")),
        Some(_) => return Err(CrossSite("it came from another site")),
        None => {}
    }
    let Some(origin) = text(ORIGIN.as_str()) else { return Ok(()) };
    let expected = match &site.public_origin {
        Some(origin) => Some(origin.clone()),
        None => text(HOST.as_str()).map(|host| host.to_ascii_lowercase()),
    };
    let matches = match (&site.public_origin, expected) {
        (Some(_), Some(expected)) => origin.eq_ignore_ascii_case(&expected),
        // Without a configured URL the scheme is unknown here (a proxy may have ended TLS): the host must match.
        (None, Some(host)) => origin
            .split_once("://")
            .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(&host)),
        (_, None) => false,
    };
    if matches {
        Ok(())
    } else {
        Err(CrossSite("its Origin is not intentlab's"))
    }
}

/// Refuses cross-site state changes with 403 in the JSON error shape.
pub async fn refuse_cross_site(State(site): State<Site>, request: Request, next: Next) -> Response {
    if let Err(CrossSite(why)) = check_same_origin(request.method(), request.uri().path(), request.headers(), &site) {
        tracing::warn!(path = request.uri().path(), why, "cross-site request refused");
        return app::error::AppError::forbidden(format!(
            "cross-site request refused: {why}. Use intentlab's own pages, or an API key"
        ))
        .into_response();
    }
    next.run(request).await
}

fn peer(request: &Request) -> Option<std::net::IpAddr> {
    request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
}

/// The client's address: the connection's peer, or — when the peer is a trusted proxy — the nearest address in
/// `X-Forwarded-For` that is not one of the trusted proxies (the ones before it anyone may have written).
pub fn client_address(site: &Site, headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> Option<std::net::IpAddr> {
    let peer = peer?;
    if !site.trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ip| ip.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .iter()
            .rev()
            .find(|ip| !site.trusted_proxies.contains(ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer),
    )
}

/// Records the client's address on the request for what counts per client (sign-in limits).
pub async fn identify_client(State(site): State<Site>, mut request: Request, next: Next) -> Response {
    let client = client_address(&site, request.headers(), peer(&request))
        .map_or(app::auth::ClientAddr::UNKNOWN, app::auth::ClientAddr);
    request.extensions_mut().insert(client);
    next.run(request).await
}

/// Whether the person reached intentlab over https: the public URL says so, or a trusted proxy does.
pub fn arrived_over_https(site: &Site, headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> bool {
    site.public_https
        || (peer.is_some_and(|ip| site.trusted_proxies.contains(&ip))
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
}

const X_CONTENT_TYPE_OPTIONS: HeaderName = HeaderName::from_static("x-content-type-options");
const X_FRAME_OPTIONS: HeaderName = HeaderName::from_static("x-frame-options");
const REFERRER_POLICY: HeaderName = HeaderName::from_static("referrer-policy");
const CROSS_ORIGIN_OPENER_POLICY: HeaderName = HeaderName::from_static("cross-origin-opener-policy");

/// Responses that are not pages get a policy that allows nothing; pages set their own, with the script nonce
/// of that response (`app::pages::app::shell`).
const NOTHING_ALLOWED: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");

/// The headers every response carries. Share tokens live in URLs, hence no `Referer` at all; nothing may frame
/// intentlab (clickjacking); browsers must not guess content types. Over https, HSTS, and cookies `Secure`.
pub async fn security_headers(State(site): State<Site>, request: Request, next: Next) -> Response {
    let https = arrived_over_https(&site, request.headers(), peer(&request));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CROSS_ORIGIN_OPENER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(CONTENT_SECURITY_POLICY, NOTHING_ALLOWED);
    }
    if https {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
        secure_cookies(headers);
    }
    response
}

/// Adds `Secure` to every cookie the response sets that lacks it.
fn secure_cookies(headers: &mut HeaderMap) {
    let cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    if cookies.is_empty() {
        return;
    }
    headers.remove(SET_COOKIE);
    for cookie in cookies {
        let secured = match cookie.to_str() {
            Ok(text) if !text.split(';').any(|part| part.trim().eq_ignore_ascii_case("secure")) => {
                HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(cookie)
            }
            _ => cookie,
        };
        headers.append(SET_COOKIE, secured);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn check(method: Method, path: &str, pairs: &[(&'static str, &str)], site: &Site) -> Result<(), CrossSite> {
        check_same_origin(&method, path, &headers(pairs), site)
    }

    #[test]
    fn only_intentlabs_own_pages_may_change_state_with_its_cookies() {
        let site = Site::new(Some("https://intentlab.shop.example/"), Vec::new()).unwrap();
        let post = Method::POST;
        assert!(check(post.clone(), "/api/v1/experiments/x/start", &[("sec-fetch-site", "same-origin")], &site).is_ok());
        assert!(check(post.clone(), "/api/v1/experiments/x/start", &[("sec-fetch-site", "same-site")], &site).is_err());
        assert!(check(post.clone(), "/api/v1/experiments/x/start", &[("sec-fetch-site", "cross-site")], &site).is_err());
        assert!(check(post.clone(), "/api/x", &[("origin", "https://intentlab.shop.example")], &site).is_ok());
        assert!(check(post.clone(), "/api/x", &[("origin", "https://promo.shop.example")], &site).is_err());
        assert!(check(post.clone(), "/api/x", &[("origin", "http://intentlab.shop.example")], &site).is_err());
        assert!(check(post.clone(), "/api/x", &[("origin", "null")], &site).is_err());
        // Not from a browser page: nothing to forge.
        assert!(check(post.clone(), "/api/x", &[], &site).is_ok());
        // Safe methods, API keys and the key-only APIs are not the cookie's business.
        assert!(check(Method::GET, "/api/x", &[("sec-fetch-site", "cross-site")], &site).is_ok());
        assert!(check(
            post.clone(),
            "/api/x",
            &[("sec-fetch-site", "cross-site"), ("authorization", "Bearer k")],
            &site
        )
        .is_ok());
        assert!(check(post.clone(), "/v1/track", &[("sec-fetch-site", "same-site")], &site).is_ok());
        assert!(check(Method::DELETE, "/api/x", &[("origin", "https://evil.example")], &site).is_err());
    }

    #[test]
    fn without_a_public_url_the_origin_must_name_the_requested_host() {
        let site = Site::default();
        let post = Method::POST;
        assert!(check(
            post.clone(),
            "/api/x",
            &[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")],
            &site
        )
        .is_ok());
        assert!(check(
            post.clone(),
            "/api/x",
            &[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3001")],
            &site
        )
        .is_err());
        assert!(
            check(post, "/api/x", &[("origin", "http://127.0.0.1:3000")], &site).is_err(),
            "no Host to compare with"
        );
    }

    #[test]
    fn https_is_the_public_urls_word_or_a_trusted_proxys() {
        let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let site = Site::new(Some("http://intentlab.internal"), vec![proxy]).unwrap();
        let forwarded = headers(&[("x-forwarded-proto", "https")]);
        assert!(arrived_over_https(&site, &forwarded, Some(proxy)));
        assert!(
            !arrived_over_https(&site, &forwarded, Some("203.0.113.9".parse().unwrap())),
            "anyone may send the header"
        );
        assert!(!arrived_over_https(&site, &HeaderMap::new(), Some(proxy)));
        assert!(arrived_over_https(
            &Site::new(Some("https://x.example"), Vec::new()).unwrap(),
            &HeaderMap::new(),
            None
        ));
        assert!(Site::new(Some("ftp://x.example"), Vec::new()).is_err());
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_names_it() {
        let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let site = Site::new(None, vec![proxy]).unwrap();
        let forwarded = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.5, 10.0.0.2")]);
        // Behind the proxy: the nearest address the proxies did not add (the first one anyone may forge).
        assert_eq!(client_address(&site, &forwarded, Some(proxy)), Some("203.0.113.5".parse().unwrap()));
        let direct: std::net::IpAddr = "192.0.2.44".parse().unwrap();
        assert_eq!(
            client_address(&site, &forwarded, Some(direct)),
            Some(direct),
            "not a trusted proxy: its header is ignored"
        );
        assert_eq!(client_address(&site, &HeaderMap::new(), Some(proxy)), Some(proxy));
        assert_eq!(client_address(&site, &HeaderMap::new(), None), None);
    }

    #[test]
    fn cookies_gain_secure_once() {
        let mut map = HeaderMap::new();
        map.append(SET_COOKIE, HeaderValue::from_static("intentlab_session=abc; HttpOnly; SameSite=Lax; Path=/"));
        map.append(SET_COOKIE, HeaderValue::from_static("other=1; Secure"));
        secure_cookies(&mut map);
        let cookies: Vec<&str> = map.get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(cookies, ["intentlab_session=abc; HttpOnly; SameSite=Lax; Path=/; Secure", "other=1; Secure"]);
    }
}
