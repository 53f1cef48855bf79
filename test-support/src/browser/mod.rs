//! The page object: the built app in headless Chromium, driven as a person would
//! through `data-testid`s, with the sign-up, board and todo flows the suites share.
//! What the device stores lives in [`storage`]; the browser process in [`session`];
//! sharing boards in [`sharing`].

mod session;
mod sharing;
mod storage;

use crate::PATIENCE;
use fantoccini::{Client, Locator};
use serde_json::json;
use std::time::{Duration, Instant};

/// A headless Chromium with its own profile, driven by its own ChromeDriver.
pub struct Browser {
    /// The WebDriver session, for what the page object does not cover.
    pub client: Client,
    /// Killed when the browser is dropped.
    _driver: session::Driver,
}

impl Browser {
    /// Starts ChromeDriver (`CHROMEDRIVER`) and Chromium (`CHROME`) with a fresh profile.
    pub async fn open() -> Browser {
        let (client, driver) = session::launch().await;
        Browser {
            client,
            _driver: driver,
        }
    }

    /// Makes another tab of this browser the current one.
    pub async fn switch_to(&self, tab: fantoccini::wd::WindowHandle) {
        self.client
            .switch_to_window(tab)
            .await
            .expect("the tab is there");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    /// Waits until the element with `data-testid` exists and its text satisfies `check`;
    /// returns that text.
    pub async fn wait_for_text(&self, test_id: &str, check: impl Fn(&str) -> bool) -> String {
        let selector = format!("[data-testid=\"{test_id}\"]");
        let started = Instant::now();
        let mut last = String::from("<missing>");
        while started.elapsed() < PATIENCE {
            if let Ok(element) = self.client.find(Locator::Css(&selector)).await {
                if let Ok(text) = element.text().await {
                    if check(text.trim()) {
                        return text.trim().to_string();
                    }
                    last = text;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{test_id} never matched; its last text was {last:?}");
    }

    pub(crate) fn selector(test_id: &str) -> String {
        format!("[data-testid=\"{}\"]", test_id.replace('"', "\\\""))
    }

    /// Waits for the element with `data-testid` and returns it.
    pub async fn find(&self, test_id: &str) -> fantoccini::elements::Element {
        let selector = Browser::selector(test_id);
        let started = Instant::now();
        loop {
            match self.client.find(Locator::Css(&selector)).await {
                Ok(element) => return element,
                Err(e) if started.elapsed() > PATIENCE => panic!("{test_id} never appeared: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Waits for the element, but only for `limit`.
    pub async fn find_within(
        &self,
        test_id: &str,
        limit: Duration,
    ) -> fantoccini::elements::Element {
        let selector = Browser::selector(test_id);
        let started = Instant::now();
        loop {
            match self.client.find(Locator::Css(&selector)).await {
                Ok(element) => return element,
                Err(e) if started.elapsed() > limit => {
                    panic!("{test_id} did not appear within {limit:?}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Whether the element is on the page now.
    pub async fn exists(&self, test_id: &str) -> bool {
        self.client
            .find(Locator::Css(&Browser::selector(test_id)))
            .await
            .is_ok()
    }

    /// Waits until the element is gone.
    pub async fn wait_gone(&self, test_id: &str) {
        let started = Instant::now();
        while self.exists(test_id).await {
            assert!(started.elapsed() < PATIENCE, "{test_id} never went away");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, test_id: &str) {
        self.find(test_id)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {test_id}: {e}"));
    }

    /// Types into an empty field.
    pub async fn type_into(&self, test_id: &str, text: &str) {
        self.find(test_id)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {test_id}: {e}"));
    }

    /// Replaces a field's text as a person would: select all, type over it.
    pub async fn replace_text(&self, test_id: &str, text: &str) {
        // Control+A selects; the NULL key releases Control before the new text.
        let keys = format!("\u{E009}a\u{E000}{text}");
        self.type_into(test_id, &keys).await;
    }

    /// The element's visible text.
    pub async fn text(&self, test_id: &str) -> String {
        self.find(test_id)
            .await
            .text()
            .await
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Waits until a checkbox is (or is not) checked.
    pub async fn wait_for_checked(&self, test_id: &str, checked: bool) {
        let started = Instant::now();
        loop {
            let element = self.find(test_id).await;
            if element.prop("checked").await.ok().flatten().as_deref()
                == Some(if checked { "true" } else { "false" })
            {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{test_id} never became checked={checked}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn refresh(&self) {
        self.client.refresh().await.expect("the page reloads");
    }

    /// Signs up a new account and waits until the app shows it.
    pub async fn sign_up(&self, email: &str, password: &str, name: &str) {
        self.type_into("auth-email", email).await;
        self.type_into("auth-password", password).await;
        self.type_into("auth-name", name).await;
        self.click("signup-submit").await;
        self.wait_for_text("user-email", |text| text == email).await;
    }

    /// Signs in to an existing account and waits until the app shows it.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.type_into("auth-email", email).await;
        self.type_into("auth-password", password).await;
        self.click("login-submit").await;
        self.wait_for_text("user-email", |text| text == email).await;
    }

    /// Creates a board through the form and waits for it to show.
    pub async fn create_board(&self, name: &str) {
        self.type_into("new-board-name", name).await;
        self.click("create-board-button").await;
        self.find(&format!("board-{name}")).await;
    }

    /// Adds a todo to a board and waits for it to show.
    pub async fn add_todo(&self, board: &str, title: &str) {
        self.type_into(&format!("new-todo-title-{board}"), title)
            .await;
        self.click(&format!("add-todo-{board}")).await;
        self.find(&format!("todo-{title}")).await;
    }

    /// Clicks the element if it shows up within a moment; false when it does not (sync
    /// may have removed it since the test looked).
    pub async fn try_click(&self, test_id: &str) -> bool {
        match self.find_soon(test_id).await {
            Some(element) => element.click().await.is_ok(),
            None => false,
        }
    }

    async fn find_soon(&self, test_id: &str) -> Option<fantoccini::elements::Element> {
        let selector = Browser::selector(test_id);
        for _ in 0..20 {
            if let Ok(element) = self.client.find(Locator::Css(&selector)).await {
                return Some(element);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Adds a todo if the board is still there.
    pub async fn try_add_todo(&self, board: &str, title: &str) -> bool {
        let Some(input) = self.find_soon(&format!("new-todo-title-{board}")).await else {
            return false;
        };
        input.send_keys(title).await.is_ok() && self.try_click(&format!("add-todo-{board}")).await
    }

    /// Renames a board if it is still there.
    pub async fn try_rename_board(&self, from: &str, to: &str) -> bool {
        if !self.try_click(&format!("rename-board-{from}")).await {
            return false;
        }
        let Some(input) = self.find_soon("rename-board-input").await else {
            return false;
        };
        input
            .send_keys(&format!("\u{E009}a\u{E000}{to}"))
            .await
            .is_ok()
            && self.try_click("rename-board-submit").await
    }

    /// Edits a todo's title if the todo is still there.
    pub async fn try_edit_todo(&self, from: &str, to: &str) -> bool {
        if !self.try_click(&format!("edit-todo-{from}")).await {
            return false;
        }
        let Some(input) = self.find_soon("edit-todo-input").await else {
            return false;
        };
        input
            .send_keys(&format!("\u{E009}a\u{E000}{to}"))
            .await
            .is_ok()
            && self.try_click("edit-todo-submit").await
    }

    /// Waits until nothing is pending and the worker rests.
    pub async fn wait_synced(&self) {
        self.wait_for_text("pending-count", |text| text == "0")
            .await;
        self.wait_for_text("sync-status", |text| text == "Idle")
            .await;
    }

    /// Freezes the current tab as the browser does to a background tab (Page Lifecycle):
    /// nothing in it runs until it is resumed. Switch to another tab afterwards.
    pub async fn freeze_current_tab(&self) {
        self.devtools("Page.setWebLifecycleState", json!({ "state": "frozen" }))
            .await;
    }

    /// Sends a Chrome DevTools Protocol command to the current tab; returns its result.
    pub async fn devtools(
        &self,
        command: &'static str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        self.client
            .issue_cmd(session::DevTools { command, params })
            .await
            .unwrap_or_else(|e| panic!("DevTools {command} fails: {e}"))
    }

    /// Runs `script` in every document this tab loads from now on, before the page's
    /// own scripts (to observe a page from its first moment).
    pub async fn on_new_document(&self, script: &str) {
        self.devtools(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": script }),
        )
        .await;
    }

    /// Ends the WebDriver session and stops the browser.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
