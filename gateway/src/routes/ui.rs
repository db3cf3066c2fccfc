//! The web UI: static files compiled into the binary (one self-contained
//! executable, nothing to find on disk at run time). Plain HTML, CSS and ES
//! modules, no build step; the page's address hash does the routing
//! (`#/chat/12`), so only these files are served.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    sync::LazyLock,
};

use axum::{
    Router,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// No inline script, nothing from elsewhere, no plugins, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const MANIFEST: &str = "application/manifest+json";

/// One file of the UI, at its URL path.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../../ui/", $file)),
        }
    };
}

/// Every file of the UI. A module imported by another must be listed here
/// (a test checks it).
static ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/style.css", "style.css", CSS),
    asset!("/icon.svg", "icon.svg", SVG),
    asset!("/app.js", "app.js", JS),
    asset!("/manifest.webmanifest", "manifest.webmanifest", MANIFEST),
    // At the root, so that its scope is the whole site.
    asset!("/sw.js", "sw.js", JS),
    asset!("/js/push.js", "js/push.js", JS),
    asset!("/js/api.js", "js/api.js", JS),
    asset!("/js/auth-view.js", "js/auth-view.js", JS),
    asset!("/js/chat-view.js", "js/chat-view.js", JS),
    asset!("/js/conversation-list.js", "js/conversation-list.js", JS),
    asset!("/js/dom.js", "js/dom.js", JS),
    asset!("/js/format.js", "js/format.js", JS),
    asset!("/js/notify.js", "js/notify.js", JS),
    asset!("/js/people-view.js", "js/people-view.js", JS),
    asset!("/js/realtime.js", "js/realtime.js", JS),
    asset!("/js/settings-view.js", "js/settings-view.js", JS),
    asset!("/js/shell.js", "js/shell.js", JS),
    asset!("/js/store.js", "js/store.js", JS),
    asset!("/js/widgets.js", "js/widgets.js", JS),
];

/// A validator per file, so a browser revalidates with a cheap 304 and
/// never runs a stale module after the gateway is upgraded.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let mut hasher = DefaultHasher::new();
            asset.body.hash(&mut hasher);
            HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish()))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        })
        .collect()
});

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for (index, asset) in ASSETS.iter().enumerate() {
        router = router.route(
            asset.path,
            get(move |headers: HeaderMap| async move { serve(index, &headers) }),
        );
    }
    // On the UI's routes only: these headers govern documents, not JSON.
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

fn serve(index: usize, headers: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = ETAGS[index].clone();
    // Always revalidate: the files are small and a stale one would break the page.
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    if fresh {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), cache]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, etag),
            cache,
        ],
        asset.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(path: &str) -> Option<&'static Asset> {
        ASSETS.iter().find(|a| a.path == path)
    }

    fn scripts() -> impl Iterator<Item = &'static Asset> {
        ASSETS.iter().filter(|a| a.content_type == JS)
    }

    /// The URL path a relative import resolves to, from the importing file's path.
    fn resolve(from: &str, specifier: &str) -> String {
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop();
        for segment in specifier.split('/') {
            match segment {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }

    #[test]
    fn every_module_a_script_imports_is_served_as_javascript() {
        for script in scripts() {
            for line in script.body.lines() {
                let Some((_, rest)) = line.split_once(" from '") else {
                    continue;
                };
                let Some((specifier, _)) = rest.split_once('\'') else {
                    continue;
                };
                let path = resolve(script.path, specifier);
                let served = asset(&path);
                assert!(
                    served.is_some_and(|a| a.content_type == JS),
                    "{} imports {specifier}, which is not served as {path}",
                    script.path
                );
            }
        }
    }

    #[test]
    fn every_file_the_page_links_is_served() {
        let html = asset("/").expect("the page").body;
        for attribute in ["src=\"", "href=\""] {
            for rest in html.split(attribute).skip(1) {
                let link = rest.split('"').next().unwrap_or_default();
                assert!(asset(link).is_some(), "the page links {link}, not served");
            }
        }
    }

    #[test]
    fn no_script_parses_html_or_evaluates_strings() {
        // User content reaches the page only as text (textContent, text
        // nodes, attribute values): never through a sink that parses HTML
        // or runs code.
        let sinks = [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "createContextualFragment",
            "DOMParser",
            "srcdoc",
            "eval(",
            "new Function",
            "setAttribute('on",
            "setAttribute('style",
        ];
        for script in scripts() {
            for sink in sinks {
                assert!(!script.body.contains(sink), "{} uses {sink}", script.path);
            }
        }
    }

    #[test]
    fn the_page_has_no_inline_script_handlers_or_styles() {
        let html = asset("/").expect("the page").body;
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or_default();
            assert!(open.contains("src="), "inline script: <script{open}>");
        }
        let lower = html.to_ascii_lowercase();
        for forbidden in [" onload=", " onclick=", " onerror=", " style=", "<style"] {
            assert!(!lower.contains(forbidden), "{forbidden} in the page");
        }
    }

    #[test]
    fn every_file_has_its_own_validator() {
        let mut tags: Vec<_> = ETAGS.iter().collect();
        tags.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }

    #[test]
    fn a_matching_validator_is_answered_not_modified() {
        let index = 0;
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, ETAGS[index].clone());
        assert_eq!(serve(index, &headers).status(), StatusCode::NOT_MODIFIED);
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"old\""));
        let fresh = serve(index, &headers);
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_eq!(fresh.headers()[header::CONTENT_TYPE], HTML);
    }
}
