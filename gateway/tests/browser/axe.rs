//! An accessibility audit of every screen with axe-core, in the light and
//! the dark colour scheme: sign-in, sign-up, a chat open on a desktop, a
//! profile, people search, the settings, and the phone layout (390×844).
//! Any `serious` or `critical` violation (contrast below WCAG AA, a control
//! without a name, a wrong role) fails the scenario, listed with the
//! elements it is on.
//!
//! axe-core comes from the pinned npm package of `tools/ui-check` (scripts/test
//! installs it: `scripts/ui-check --install-only`). The test reads it from
//! disk and injects it into the page it audits: the gateway never serves it.

use http::Method;
use serde_json::{Value, json};
use thirtyfour::{RequestData, SessionId, common::command::FormatRequestData};

use crate::{
    driver::{Scenario, Screen},
    page::{Browser, Name},
    people::{Caller, log_in, register},
};

/// axe-core's build, read from the UI tools' node_modules.
fn axe_source() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tools/ui-check/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read axe-core at {} ({e}): install the UI's tools with scripts/ui-check --install-only",
            path.display()
        )
    })
}

/// The only exceptions: a rule, the elements (a CSS selector) it is not
/// applied to, and why.
const SKIPPED: &[(&str, &str, &str)] = &[(
    "label-content-name-mismatch",
    "a.conv",
    // A conversation row is a link whose name sums the row up in the order a
    // listener needs it ("ben, online, 2 unread messages, ben: Hi!"). It
    // starts with the name shown, which is what a person speaking their
    // clicks says; but the row's time is not in it and its preview comes
    // after the unread count, so the shown text is not one run of the name.
    "the row's name is a summary that starts with the visible name",
)];

/// Runs axe on the whole page (WCAG 2.x A and AA rules, and axe's best
/// practices) and returns the violations, each with its elements, less the
/// elements `SKIPPED` exempts from that rule.
const RUN_AXE_JS: &str = r#"
const [skipped, done] = arguments;
const exempt = (rule, el) => skipped.some(([id, selector]) => id === rule && el instanceof Element && el.matches(selector));
axe
  .run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
    resultTypes: ['violations'],
    elementRef: true,
  })
  .then(
    (results) =>
      done(
        results.violations
          .map((v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            nodes: v.nodes
              .filter((n) => !exempt(v.id, n.element))
              .map((n) => ({ target: n.target.join(' '), impact: n.impact, summary: n.failureSummary })),
          }))
          .filter((v) => v.nodes.length > 0),
      ),
    (e) => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]),
  );
"#;

/// The page's colour scheme, set through Chromium's DevTools
/// (`Emulation.setEmulatedMedia`): `prefers-color-scheme` as a person's
/// system setting would make it.
#[derive(Debug)]
struct ColourScheme(&'static str);

impl FormatRequestData for ColourScheme {
    fn format_request(&self, session_id: &SessionId) -> RequestData {
        RequestData::new(
            Method::POST,
            format!("session/{session_id}/goog/cdp/execute"),
        )
        .add_body(json!({
            "cmd": "Emulation.setEmulatedMedia",
            "params": {"features": [{"name": "prefers-color-scheme", "value": self.0}]},
        }))
    }
}

/// Whether no CSS transition is running (a colour on its way is neither).
const SETTLED_JS: &str = "return document.getAnimations()
  .every((a) => !(a instanceof CSSTransition) || a.playState !== 'running');";

/// Audits what `browser` shows now, in the light and the dark colour
/// scheme; fails on any serious or critical violation.
async fn audit(browser: &Browser, screen: &str) {
    for scheme in ["light", "dark"] {
        browser
            .driver
            .handle()
            .cmd(ColourScheme(scheme))
            .await
            .expect("Chromium emulates a colour scheme");
        // Colours ease into the new scheme (CSS transitions): audit the end.
        browser
            .eventually("the colours settled", async || {
                let settled = browser.measure(SETTLED_JS).await;
                (settled == json!(true)).then_some(())
            })
            .await;
        audit_now(browser, &format!("{screen}, {scheme}")).await;
    }
    browser
        .driver
        .handle()
        .cmd(ColourScheme(""))
        .await
        .expect("Chromium's own colour scheme back");
}

/// Audits what `browser` shows now; fails on any serious or critical violation.
async fn audit_now(browser: &Browser, screen: &str) {
    let axe = axe_source();
    // Injected through WebDriver (not a <script>: the page's CSP allows none
    // from elsewhere, and the gateway does not serve axe).
    browser
        .driver
        .execute(&format!("{axe}\n;return typeof window.axe;"), Vec::new())
        .await
        .expect("axe-core is injected");
    let result = browser
        .driver
        .execute_async(RUN_AXE_JS, vec![json!(SKIPPED)])
        .await
        .expect("axe runs");
    let violations = result.json().as_array().cloned().unwrap_or_default();
    let serious: Vec<&Value> = violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    for v in &violations {
        eprintln!(
            "axe ({screen}): {} [{}] {}: {}",
            v["id"].as_str().unwrap_or("?"),
            v["impact"].as_str().unwrap_or("?"),
            v["help"].as_str().unwrap_or(""),
            serde_json::to_string_pretty(&v["nodes"]).unwrap_or_default()
        );
    }
    assert!(
        serious.is_empty(),
        "axe finds serious or critical accessibility violations on {screen}:\n{}",
        serde_json::to_string_pretty(&serious).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_passes_an_accessibility_audit() {
    Scenario::start("axe")
        .await
        .run(async |s| {
            let ben = Caller::register(s.system.url(), "ben").await;

            // Signing in and signing up.
            let ana = s.browser("ana", Screen::Desktop).await;
            ana.find("button", Name::Is("Log in")).await;
            audit(&ana, "sign-in").await;
            ana.click("button", Name::Is("Create an account")).await;
            ana.find("button", Name::Is("Create account")).await;
            audit(&ana, "sign-up").await;

            // A conversation open on a desktop: messages both ways, ticks, presence.
            ana.click("button", Name::Is("Log in")).await;
            register(&ana, "ana").await;
            ben.send("ana", "Hi Ana! Coffee on Sunday?").await;
            ana.click("link", Name::Has("1 unread message")).await;
            let chat = ana.find("region", Name::Is("ben")).await;
            ana.sees(Some(&chat), "Coffee on Sunday?").await;
            ana.type_in("Message to ben", "Sunday works!").await;
            ana.press_enter("Message to ben").await;
            ana.find_in(Some(&chat), "img", Name::Is("Sent")).await;
            audit(&ana, "a chat on a desktop").await;

            // The other screens: ben's profile, people search, my settings.
            ana.click_in(Some(&chat), "link", Name::Is("ben")).await;
            ana.find("button", Name::Is("Block")).await;
            audit(&ana, "a profile").await;
            ana.click("link", Name::Is("Find people")).await;
            ana.find("link", Name::Is("Message ben")).await;
            audit(&ana, "people search").await;
            ana.click("link", Name::Has("Your profile and settings"))
                .await;
            ana.find("checkbox", Name::Is("Show when I am online"))
                .await;
            audit(&ana, "settings").await;

            // The phone layout: the list, then a chat alone.
            let phone = s.browser("ana-phone", Screen::Phone).await;
            log_in(&phone, "ana").await;
            phone.find("link", Name::Has("ben")).await;
            audit(&phone, "the conversation list on a phone").await;
            phone.click("link", Name::Has("ben")).await;
            let chat = phone.find("region", Name::Is("ben")).await;
            phone.sees(Some(&chat), "Sunday works!").await;
            audit(&phone, "a chat on a phone").await;
        })
        .await;
}
