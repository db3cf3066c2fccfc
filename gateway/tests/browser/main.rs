//! The web UI in real, headless Chromium against the whole system on port 0:
//! people register, find each other and chat as they would, and the tests
//! look for what they would see. Needs chromedriver and Chromium (scripts/test
//! installs them); without them these tests fail, they never skip.
//! A failed scenario leaves screenshots and console logs in
//! `target/browser-artifacts/` (or `$BROWSER_ARTIFACTS`).

mod accounts;
mod axe;
mod blocking;
mod chat;
mod driver;
mod notifications;
mod page;
mod people;
mod phone;
