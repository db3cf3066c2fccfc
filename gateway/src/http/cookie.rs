//! The session cookie: `totilove_session`, HttpOnly (no script reads it),
//! SameSite=Strict (no other site sends it), Path=/, Secure over TLS.

use axum::http::{HeaderMap, HeaderValue, header};

pub const SESSION_COOKIE: &str = "totilove_session";

/// `Set-Cookie` carrying `token`, living `max_age_secs`.
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        max_age_secs.max(0)
    ))
    .ok()
}

/// `Set-Cookie` that makes the browser forget the session cookie.
pub fn cleared_session_cookie(secure: bool) -> HeaderValue {
    let value = if secure {
        "totilove_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
    } else {
        "totilove_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    };
    HeaderValue::from_static(value)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; totilove_session=tok.en; b=2"),
        );
        assert_eq!(cookie_value(&h, SESSION_COOKIE), Some("tok.en"));
        assert_eq!(cookie_value(&h, "c"), None);
    }

    #[test]
    fn the_cookie_is_secure_only_when_asked() {
        let c = session_cookie("t", 60, true).expect("valid");
        assert!(c.to_str().expect("ascii").ends_with("Max-Age=60; Secure"));
        let c = session_cookie("t", 60, false).expect("valid");
        assert!(!c.to_str().expect("ascii").contains("Secure"));
    }
}
