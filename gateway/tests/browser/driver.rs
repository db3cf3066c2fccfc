//! Real Chromium, driven through chromedriver: one chromedriver per scenario
//! (on a port the kernel picks), one headless browser per person, and the
//! artifacts (screenshot, console log, page source) of every browser when a
//! scenario fails.

use std::{
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Mutex,
    time::Duration,
};

use futures::FutureExt;
use thirtyfour::{ChromiumLikeCapabilities, DesiredCapabilities, LoggingPrefsLogLevel, WebDriver};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use totilove_testkit::TestSystem;

use crate::page::Browser;

/// Where failed scenarios leave their screenshots and logs (CI keeps it).
pub(crate) fn artifacts_dir() -> PathBuf {
    match std::env::var_os("BROWSER_ARTIFACTS") {
        Some(dir) => PathBuf::from(dir),
        // `target/tmp` → `target/browser-artifacts`.
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .map(|target| target.join("browser-artifacts"))
            .unwrap_or_else(|| PathBuf::from("browser-artifacts")),
    }
}

/// The first of `candidates` that exists, else a program of that name on PATH.
fn program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    if let Some(found) = candidates.iter().map(Path::new).find(|p| p.is_file()) {
        return Some(found.to_path_buf());
    }
    let name = Path::new(candidates.first()?).file_name()?;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// How a browser's screen is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Screen {
    /// A laptop window, 1280×900, mouse and keyboard.
    Desktop,
    /// A phone: 390×844 CSS pixels, a touch screen.
    Phone,
}

/// A chromedriver process of this scenario's own; it and the browsers it
/// started die with it (its process group is killed).
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start() -> Self {
        let path = program("CHROMEDRIVER", &["/usr/bin/chromedriver"]).unwrap_or_else(|| {
            panic!(
                "chromedriver is missing: the browser tests need it (Debian's chromium and \
                 chromium-driver packages; scripts/test installs them as root), or set CHROMEDRIVER"
            )
        });
        let mut child = Command::new(&path)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own group, so that killing it takes the browsers along.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let stdout = child.stdout.take().expect("chromedriver's stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                // "ChromeDriver was started successfully on port 36909."
                if let Some((_, rest)) = line.split_once("started successfully on port ") {
                    return rest.trim_end_matches('.').trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("chromedriver says which port it listens on");
        // Keep reading its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn session(&self, screen: Screen) -> WebDriver {
        let mut caps = DesiredCapabilities::chrome();
        let chromium = program(
            "CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        if let Some(binary) = chromium.as_deref().and_then(Path::to_str) {
            caps.set_binary(binary).expect("capability");
        }
        for arg in [
            "--headless=new",
            // CI runs as root, where Chromium's sandbox cannot start.
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--lang=en-US",
            "--window-size=1280,900",
            // Two browsers side by side: neither may be throttled as "in the background".
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--no-first-run",
            "--no-default-browser-check",
        ] {
            caps.add_arg(arg).expect("capability");
        }
        if screen == Screen::Phone {
            caps.add_experimental_option(
                "mobileEmulation",
                serde_json::json!({
                    "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0, "touch": true},
                    "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                                  (KHTML, like Gecko) Chrome/148.0 Mobile Safari/537.36",
                }),
            )
            .expect("capability");
        }
        caps.set_browser_log_level(LoggingPrefsLogLevel::All)
            .expect("capability");
        WebDriver::new(&self.url, caps)
            .await
            .expect("chromedriver starts a headless Chromium")
    }

    fn kill(&mut self) {
        if let Some(pid) = self.child.id() {
            // The whole group: chromedriver and every Chromium it started.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One scenario: the whole system on port 0, a chromedriver, and the
/// browsers opened so far (for the artifacts when it fails).
pub(crate) struct Scenario {
    name: String,
    pub system: TestSystem,
    chromedriver: Chromedriver,
    browsers: Mutex<Vec<Browser>>,
}

impl Scenario {
    pub(crate) async fn start(name: &str) -> Self {
        totilove_testkit::init_logs();
        let (system, chromedriver) = tokio::join!(TestSystem::start(), Chromedriver::start());
        Self {
            name: name.to_owned(),
            system,
            chromedriver,
            browsers: Mutex::new(Vec::new()),
        }
    }

    /// A new browser (a person at their own device) on the app's first page.
    pub(crate) async fn browser(&self, who: &str, screen: Screen) -> Browser {
        let driver = self.chromedriver.session(screen).await;
        let browser = Browser::new(who, driver, self.system.url());
        self.browsers
            .lock()
            .expect("browsers")
            .push(browser.clone());
        browser.open("/").await;
        browser
    }

    /// Runs the scenario's steps; when one fails, every browser's screen,
    /// console and page are saved before the failure goes on.
    pub(crate) async fn run(self, steps: impl AsyncFnOnce(&Self)) {
        let outcome = AssertUnwindSafe(steps(&self)).catch_unwind().await;
        let browsers = std::mem::take(&mut *self.browsers.lock().expect("browsers"));
        let mut errors = Vec::new();
        // BROWSER_SCREENSHOTS=1 keeps how every scenario ended, passed or not.
        let keep_all = std::env::var_os("BROWSER_SCREENSHOTS").is_some();
        for browser in &browsers {
            let console = browser.console().await;
            if outcome.is_err() || keep_all {
                browser
                    .save_artifacts(&artifacts_dir(), &self.name, &console)
                    .await;
            }
            errors.extend(browser.script_errors(&console));
        }
        for browser in browsers {
            browser.quit().await;
        }
        let Self {
            system,
            mut chromedriver,
            ..
        } = self;
        chromedriver.kill();
        drop(system);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        assert!(
            errors.is_empty(),
            "the page threw uncaught errors: {errors:#?}"
        );
    }
}
