//! A person at a browser: finds things as they would, by role and accessible
//! name (the names Chromium itself computes for assistive technology), and
//! waits for what they expect to see, polling, never sleeping blindly.

use std::{path::Path, sync::Arc, time::Duration};

use http::Method;
use serde_json::{Value, json};
use thirtyfour::{
    BrowserLogEntry, ElementId, Key, RequestData, SessionId, WebDriver, WebElement,
    common::command::FormatRequestData,
};

/// How long anything a person waits for may take.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

/// An accessible name, matched whole or in part (both with spaces collapsed).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Name<'a> {
    Is(&'a str),
    Has(&'a str),
}

impl Name<'_> {
    fn needle(&self) -> String {
        match self {
            Name::Is(s) | Name::Has(s) => collapse(s).to_lowercase(),
        }
    }

    fn matches(&self, label: &str) -> bool {
        let label = collapse(label);
        match self {
            Name::Is(s) => label == collapse(s),
            Name::Has(s) => label.contains(&collapse(s)),
        }
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The elements that may carry a role (checked against Chromium's computed role).
fn candidates(role: &str) -> String {
    match role {
        "button" => "button, [role=button], input[type=submit], input[type=button]".into(),
        "link" => "a[href], [role=link]".into(),
        "textbox" => "textarea, input:not([type]), input[type=text], input[type=email], input[type=password], input[type=url], [role=textbox]".into(),
        "searchbox" => "input[type=search], [role=searchbox]".into(),
        "checkbox" => "input[type=checkbox], [role=checkbox]".into(),
        "combobox" => "select, [role=combobox]".into(),
        "heading" => "h1, h2, h3, h4, h5, h6, [role=heading]".into(),
        "img" => "img, svg, [role=img]".into(),
        "region" => "section[aria-label], section[aria-labelledby], [role=region]".into(),
        "navigation" => "nav, [role=navigation]".into(),
        "separator" => "hr, [role=separator]".into(),
        "status" => "output, [role=status]".into(),
        "alert" => "[role=alert]".into(),
        "option" => "option, [role=option]".into(),
        "list" => "ul, ol, [role=list]".into(),
        other => format!("[role={other}]"),
    }
}

/// Roles Chromium may report under another name.
fn same_role(wanted: &str, computed: &str) -> bool {
    wanted == computed || matches!((wanted, computed), ("img", "image") | ("image", "img"))
}

/// Rendered elements under `root` (or the document) matching a selector
/// whose own text, labels or ARIA names mention the needle: a cheap filter
/// before asking Chromium for the real accessible names.
const CANDIDATES_JS: &str = r#"
const [root, selector, needle] = arguments;
const out = [];
for (const el of (root || document).querySelectorAll(selector)) {
  // (A closed list box's options have no boxes of their own, yet can be chosen.)
  const shown = el.getClientRects().length || (el instanceof HTMLOptionElement && el.parentElement?.getClientRects().length);
  if (!shown || el.closest('[hidden], [aria-hidden="true"], [inert]')) continue;
  const parts = [el.getAttribute('aria-label'), el.getAttribute('title'), el.getAttribute('placeholder'), el.getAttribute('alt'), el.value, el.textContent];
  for (const id of (el.getAttribute('aria-labelledby') || '').split(/\s+/)) if (id) parts.push(document.getElementById(id)?.textContent);
  if (el.labels) for (const l of el.labels) parts.push(l.textContent);
  const text = parts.filter((p) => typeof p === 'string').join(' ').replace(/\s+/g, ' ').toLowerCase();
  if (text.includes(needle)) out.push(el);
}
return out;
"#;

/// `GET /session/{id}/element/{id}/computedrole` or `/computedlabel` (W3C).
#[derive(Debug)]
struct Computed {
    element: ElementId,
    what: &'static str,
}

impl FormatRequestData for Computed {
    fn format_request(&self, session_id: &SessionId) -> RequestData {
        RequestData::new(
            Method::GET,
            format!(
                "session/{session_id}/element/{}/{}",
                self.element, self.what
            ),
        )
    }
}

#[derive(Clone)]
pub(crate) struct Browser {
    who: Arc<str>,
    base: Arc<str>,
    pub driver: WebDriver,
}

impl Browser {
    pub(crate) fn new(who: &str, driver: WebDriver, base: &str) -> Self {
        Self {
            who: who.into(),
            base: base.into(),
            driver,
        }
    }

    pub(crate) async fn open(&self, path: &str) {
        self.driver
            .goto(format!("{}{path}", self.base))
            .await
            .expect("the page opens");
    }

    pub(crate) async fn reload(&self) {
        self.driver.refresh().await.expect("the page reloads");
    }

    /// Waits until `check` gives something; fails the scenario, saying what
    /// this person was waiting for, after `WAIT`.
    pub(crate) async fn eventually<T>(
        &self,
        what: &str,
        mut check: impl AsyncFnMut() -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(found) = check().await {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} waited {WAIT:?} in vain for {what}",
                self.who
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn computed(&self, element: &WebElement, what: &'static str) -> Option<String> {
        let response = self
            .driver
            .handle()
            .cmd(Computed {
                element: element.element_id(),
                what,
            })
            .await
            .ok()?;
        response.value::<String>().ok()
    }

    /// The elements with this role and accessible name under `scope` now.
    pub(crate) async fn query(
        &self,
        scope: Option<&WebElement>,
        role: &str,
        name: Name<'_>,
    ) -> Vec<WebElement> {
        let root = match scope {
            Some(el) => el.to_json().unwrap_or(Value::Null),
            None => Value::Null,
        };
        let Ok(found) = self
            .driver
            .execute(
                CANDIDATES_JS,
                vec![root, json!(candidates(role)), json!(name.needle())],
            )
            .await
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for el in found.elements().unwrap_or_default() {
            let Some(computed_role) = self.computed(&el, "computedrole").await else {
                continue;
            };
            if !same_role(role, &computed_role) {
                continue;
            }
            if let Some(label) = self.computed(&el, "computedlabel").await
                && name.matches(&label)
            {
                out.push(el);
            }
        }
        out
    }

    /// The element with this role and name, once it is there.
    pub(crate) async fn find(&self, role: &str, name: Name<'_>) -> WebElement {
        self.find_in(None, role, name).await
    }

    pub(crate) async fn find_in(
        &self,
        scope: Option<&WebElement>,
        role: &str,
        name: Name<'_>,
    ) -> WebElement {
        self.eventually(&format!("a {role} named {name:?}"), async || {
            self.query(scope, role, name).await.into_iter().next()
        })
        .await
    }

    /// Waits until nothing with this role and name is there.
    pub(crate) async fn gone(&self, scope: Option<&WebElement>, role: &str, name: Name<'_>) {
        self.eventually(&format!("no {role} named {name:?}"), async || {
            self.query(scope, role, name).await.is_empty().then_some(())
        })
        .await;
    }

    /// Whether something with this role and name is there right now.
    pub(crate) async fn has(&self, scope: Option<&WebElement>, role: &str, name: Name<'_>) -> bool {
        !self.query(scope, role, name).await.is_empty()
    }

    /// Clicks the element with this role and name, once it is there and enabled.
    pub(crate) async fn click(&self, role: &str, name: Name<'_>) {
        self.click_in(None, role, name).await;
    }

    pub(crate) async fn click_in(&self, scope: Option<&WebElement>, role: &str, name: Name<'_>) {
        self.eventually(&format!("a {role} named {name:?} to click"), async || {
            for el in self.query(scope, role, name).await {
                if el.is_enabled().await.unwrap_or(false) && el.click().await.is_ok() {
                    return Some(());
                }
            }
            None
        })
        .await;
    }

    /// The form control labelled `label` (any role).
    pub(crate) async fn field(&self, label: &str) -> WebElement {
        let name = Name::Is(label);
        self.eventually(&format!("a field labelled {label:?}"), async || {
            let found = self
                .driver
                .execute(
                    CANDIDATES_JS,
                    vec![
                        Value::Null,
                        json!("input, textarea, select"),
                        json!(name.needle()),
                    ],
                )
                .await
                .ok()?;
            for el in found.elements().unwrap_or_default() {
                if self
                    .computed(&el, "computedlabel")
                    .await
                    .is_some_and(|l| name.matches(&l))
                {
                    return Some(el);
                }
            }
            None
        })
        .await
    }

    /// Chooses `option` in the list box labelled `label`.
    pub(crate) async fn choose(&self, label: &str, option: &str) {
        let list = self.field(label).await;
        self.click_in(Some(&list), "option", Name::Is(option)).await;
    }

    /// Types into the field labelled `label` (after what is there).
    pub(crate) async fn type_in(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field.send_keys(text).await.expect("typing");
    }

    /// Replaces what the field labelled `label` holds.
    pub(crate) async fn fill(&self, label: &str, text: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clearing a field");
        field.send_keys(text).await.expect("typing");
    }

    /// Presses Enter in the field labelled `label`.
    pub(crate) async fn press_enter(&self, label: &str) {
        let field = self.field(label).await;
        field.send_keys(Key::Enter).await.expect("pressing Enter");
    }

    /// The text a person sees in `scope` (or the whole page).
    pub(crate) async fn text(&self, scope: Option<&WebElement>) -> String {
        let root = match scope {
            Some(el) => el.to_json().unwrap_or(Value::Null),
            None => Value::Null,
        };
        self.driver
            .execute(
                "return (arguments[0] || document.body).innerText;",
                vec![root],
            )
            .await
            .ok()
            .and_then(|r| r.convert::<String>().ok())
            .unwrap_or_default()
    }

    /// Waits until `scope` (or the page) shows `text`.
    pub(crate) async fn sees(&self, scope: Option<&WebElement>, text: &str) {
        self.eventually(&format!("to see {text:?}"), async || {
            self.text(scope).await.contains(text).then_some(())
        })
        .await;
    }

    /// Waits until `scope` (or the page) no longer shows `text`.
    pub(crate) async fn no_longer_sees(&self, scope: Option<&WebElement>, text: &str) {
        self.eventually(&format!("not to see {text:?}"), async || {
            (!self.text(scope).await.contains(text)).then_some(())
        })
        .await;
    }

    pub(crate) async fn title(&self) -> String {
        self.driver.title().await.unwrap_or_default()
    }

    /// Runs a script in the page and returns its JSON result (for measuring
    /// the layout, never for acting in a person's place).
    pub(crate) async fn measure(&self, script: &str) -> Value {
        self.driver
            .execute(script, Vec::new())
            .await
            .expect("the script runs")
            .json()
            .clone()
    }

    /// The console's entries since the last call (reading empties it).
    pub(crate) async fn console(&self) -> Vec<BrowserLogEntry> {
        self.driver.browser_log().await.unwrap_or_default()
    }

    /// Uncaught errors the page threw (the console's `SEVERE` entries from
    /// scripts, not failed requests, which a test may cause on purpose).
    pub(crate) fn script_errors(&self, console: &[BrowserLogEntry]) -> Vec<String> {
        console
            .iter()
            .filter(|e| e.level == "SEVERE" && e.source.as_deref() == Some("javascript"))
            .map(|e| format!("{}: {}", self.who, e.message))
            .collect()
    }

    /// Screenshot, console log and page source into `dir`, named after the scenario and the person.
    pub(crate) async fn save_artifacts(
        &self,
        dir: &Path,
        scenario: &str,
        console: &[BrowserLogEntry],
    ) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("cannot create {}: {e}", dir.display());
            return;
        }
        let stem = dir.join(format!("{scenario}-{}", self.who));
        if let Ok(png) = self.driver.screenshot_as_png().await {
            let _ = std::fs::write(stem.with_extension("png"), png);
        }
        let lines: Vec<String> = console
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {}",
                    e.timestamp,
                    e.level,
                    e.source.as_deref().unwrap_or("-"),
                    e.message
                )
            })
            .collect();
        let _ = std::fs::write(stem.with_extension("console.log"), lines.join("\n") + "\n");
        if let Ok(html) = self.driver.source().await {
            let _ = std::fs::write(stem.with_extension("html"), html);
        }
        eprintln!(
            "{}'s browser: screenshot, console and page saved as {}.*",
            self.who,
            stem.display()
        );
    }

    pub(crate) async fn quit(self) {
        let _ = self.driver.quit().await;
    }
}
