//! What a device holds in its IndexedDB, read from the page: its records, its `Meta`
//! keys, and what it still has to sync (for failure reports).

use super::Browser;
use crate::dataset::DataSet;
use fantoccini::Locator;

/// Reads what a device still has to sync, for failure reports.
const READ_SYNC_STATE: &str = r#"
const done = arguments[arguments.length - 1];
const request = indexedDB.open("boards-sync");
request.onsuccess = () => {
  const db = request.result;
  const tx = db.transaction(["OutboxEvent", "VersionMeta", "Meta"], "readonly");
  const events = tx.objectStore("OutboxEvent").getAll();
  const metas = tx.objectStore("VersionMeta").getAll();
  const cursor = tx.objectStore("Meta").get("cursor");
  tx.oncomplete = () => {
    db.close();
    done(JSON.stringify({
      cursor: cursor.result,
      unsynced: events.result.filter((e) => !e.synced).map((e) =>
        [e.entityType, e.operation, e.payload.name || e.payload.title, e.tries, e.retryable, e.lastError]),
      pendingRecords: metas.result.filter((m) => m.localChangePending).map((m) => [m.model, m.key]),
    }));
  };
};
"#;

/// Reads the app's IndexedDB from the page.
const READ_LOCAL_STATE: &str = r#"
const done = arguments[arguments.length - 1];
const request = indexedDB.open("boards-sync");
request.onerror = () => done(JSON.stringify({error: String(request.error)}));
request.onsuccess = () => {
  const db = request.result;
  const tx = db.transaction(["Board", "Todo"], "readonly");
  const boards = tx.objectStore("Board").getAll();
  const todos = tx.objectStore("Todo").getAll();
  tx.oncomplete = () => { db.close(); done(JSON.stringify({boards: boards.result, todos: todos.result})); };
  tx.onerror = () => done(JSON.stringify({error: String(tx.error)}));
};
"#;

/// The keys of the `Meta` store (cursor, account, term) as a JSON array.
const READ_META_KEYS: &str = r#"
const done = arguments[arguments.length - 1];
const request = indexedDB.open("boards-sync");
request.onerror = () => done(JSON.stringify({error: String(request.error)}));
request.onsuccess = () => {
  const db = request.result;
  const tx = db.transaction(["Meta"], "readonly");
  const keys = tx.objectStore("Meta").getAllKeys();
  tx.oncomplete = () => { db.close(); done(JSON.stringify(keys.result)); };
  tx.onerror = () => done(JSON.stringify({error: String(tx.error)}));
};
"#;

impl Browser {
    /// Everything in this device's IndexedDB.
    pub async fn local_state(&self) -> DataSet {
        let value = self
            .client
            .execute_async(READ_LOCAL_STATE, vec![])
            .await
            .expect("the script runs");
        let parsed: serde_json::Value =
            serde_json::from_str(value.as_str().unwrap_or("{}")).expect("JSON from the page");
        assert!(
            parsed.get("error").is_none(),
            "reading IndexedDB failed: {parsed}"
        );
        DataSet::from_stores(&parsed["boards"], &parsed["todos"])
    }

    /// The keys this device keeps in its `Meta` store ("account", "cursor", "term").
    pub async fn stored_meta_keys(&self) -> Vec<String> {
        let value = self
            .client
            .execute_async(READ_META_KEYS, vec![])
            .await
            .expect("the script runs");
        let text = value.as_str().unwrap_or("[]").to_string();
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("reading Meta failed: {text}"))
    }

    /// What this device shows and still has to sync, for a failure report.
    pub async fn diagnosis(&self) -> String {
        let mut report = String::new();
        for id in [
            "sync-status",
            "pending-count",
            "sync-error",
            "realtime-status",
        ] {
            let text = match self.client.find(Locator::Css(&Browser::selector(id))).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => "<missing>".into(),
            };
            report.push_str(&format!("{id}: {text:?}; "));
        }
        let sync = self
            .client
            .execute_async(READ_SYNC_STATE, vec![])
            .await
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|e| e.to_string());
        report.push_str(&sync);
        report
    }
}
