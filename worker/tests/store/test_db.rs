//! A fresh, signed-in database for one test or benchmark, whose store leads (holds the
//! current term), deleted when it ends.

use sync_protocol::{Timestamp, User};
use sync_worker::engine::Epoch;
use sync_worker::store::{Account, LocalStore};
use uuid::Uuid;

/// A fresh database for one test, deleted when the test ends.
pub struct TestDb {
    pub name: String,
    pub store: LocalStore,
    pub user: User,
    /// The epoch of a sync cycle of this session, leading.
    pub epoch: Epoch,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!("test-{}", Uuid::new_v4());
        let store = LocalStore::open_named(&name).await.expect("opens");
        let user = user();
        store
            .set_account(&Account {
                user: user.clone(),
                token: "token".into(),
            })
            .await
            .expect("signs in");
        let term = store.claim_term().await.expect("leads");
        let epoch = Epoch {
            user_id: user.id,
            token: "token".into(),
            term,
        };
        TestDb {
            name,
            store,
            user,
            epoch,
        }
    }

    pub async fn finish(self) {
        self.store.close();
        LocalStore::delete_database(&self.name)
            .await
            .expect("deletes");
    }
}

/// A user of a test's own (a new id each time).
pub fn user() -> User {
    User {
        id: Uuid::new_v4(),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        email_verified: false,
        image: None,
        created_at: Timestamp::from_millis(0),
        updated_at: Timestamp::from_millis(0),
        is_anonymous: false,
    }
}
