//! A create that trusts what its context's last change left (`local::Expected`): it
//! reads nothing first, and the stamp it spends fences it whenever another context
//! changed the outbox or the account meanwhile. Run over the in-memory replica, which
//! runs the same rules as the IndexedDB store; `worker/tests/store/cases.rs` runs the
//! same histories against IndexedDB in a browser.

use super::local::{self, Expected};
use super::memory::MemoryReplica;
use super::{Account, OutboxEntry, RuleError};
use sync_protocol::{Board, Operation, OutboxEvent, Record, Timestamp, User};
use uuid::Uuid;

const DAY_MS: i64 = 86_400_000;

fn person(n: u128, name: &str) -> Account {
    Account {
        user: User {
            id: Uuid::from_u128(n),
            name: name.into(),
            email: format!("{}@example.com", name.to_lowercase()),
            email_verified: false,
            image: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            is_anonymous: false,
        },
        token: format!("{name}'s token"),
    }
}

fn run<V>(future: impl std::future::Future<Output = V>) -> V {
    futures::executor::block_on(future)
}

/// One replica (a browser profile) and a source of ids for its contexts' changes.
struct Profile {
    replica: MemoryReplica,
    next_id: u128,
}

/// A context (a tab): what its last change left.
#[derive(Default)]
struct Tab {
    expected: Option<Expected>,
}

impl Profile {
    fn signed_in_as(account: &Account) -> Profile {
        let replica = MemoryReplica::new();
        run(replica.sign_in(account)).unwrap();
        Profile {
            replica,
            next_id: 1000,
        }
    }

    /// `tab` creates a board at `at` milliseconds.
    fn create_board(&mut self, tab: &mut Tab, at: i64, name: &str) -> Result<Board, RuleError> {
        let mut next = self.next_id;
        let mut ids = || {
            next += 1;
            Uuid::from_u128(next)
        };
        let board = run(self.replica.local_change_trusting(
            &mut tab.expected,
            Timestamp::from_millis(at),
            &mut ids,
            async |w| local::create_board(w, name).await,
        ));
        self.next_id = next;
        board
    }

    /// An outbox entry numbered `seq`, written without the local-write rules, as a
    /// writer that does not spend the stamp would: what a trusted create cannot see.
    fn write_unstamped_entry(&mut self, seq: u32) {
        self.next_id += 1;
        let board = Board {
            id: Uuid::from_u128(self.next_id),
            name: "Unstamped".into(),
            created_at: Timestamp::from_millis(0),
            user_id: Uuid::from_u128(1),
        };
        let event = OutboxEvent::new(
            Uuid::from_u128(self.next_id + 500_000),
            Operation::Create,
            &Record::Board(board),
            Timestamp::from_millis(0),
        );
        let entry = OutboxEntry::new(event, seq, None);
        run(self
            .replica
            .transaction(async |tx| super::ReplicaTx::put_entry(tx, &entry).await))
        .unwrap();
    }

    /// When each stamp whose tombstone is kept was made, in milliseconds (the first
    /// change's tombstone, which spent none, is left out).
    fn tombstones_made_at(&self) -> Vec<i64> {
        let spent = self.replica.state().spent_stamps;
        let made = |stamp: &super::Stamp| -stamp.age(Timestamp::from_millis(0)).unwrap();
        spent.keys().flatten().map(made).collect()
    }

    /// The outbox's numbers and the owners of its boards, in number order.
    fn outbox(&self) -> Vec<(u32, String)> {
        let state = self.replica.state();
        let owner = |entry: &OutboxEntry| {
            entry.event.payload["userId"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        state
            .outbox
            .iter()
            .map(|(seq, entry)| (*seq, owner(entry)))
            .collect()
    }
}

#[test]
fn a_burst_of_creates_trusts_what_the_last_one_left_and_a_pause_reads_again() {
    let ada = person(1, "Ada");
    let mut profile = Profile::signed_in_as(&ada);
    let mut tab = Tab::default();
    profile.create_board(&mut tab, 1_000, "First").unwrap();
    // Invisible to a trusting create: it takes number 2, which it did not read.
    profile.write_unstamped_entry(7);
    profile.create_board(&mut tab, 2_000, "Second").unwrap();
    let seqs: Vec<u32> = profile.outbox().iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        [1, 2, 7],
        "the second create trusted, reading nothing"
    );
    // Thirty seconds on, the context reads first again.
    profile.create_board(&mut tab, 32_000, "Third").unwrap();
    assert_eq!(profile.outbox().last().unwrap().0, 8);
}

#[test]
fn a_stamp_from_the_future_is_not_trusted() {
    let ada = person(1, "Ada");
    let mut profile = Profile::signed_in_as(&ada);
    let mut tab = Tab::default();
    profile.create_board(&mut tab, 50_000, "First").unwrap();
    profile.write_unstamped_entry(7);
    // The clock went back: the context cannot tell how old its stamp is, so it reads.
    profile.create_board(&mut tab, 40_000, "Second").unwrap();
    assert_eq!(profile.outbox().last().unwrap().0, 8);
}

#[test]
fn a_change_made_with_the_clock_behind_still_spends_the_newest_stamp_and_fences() {
    let ada = person(1, "Ada");
    let mut profile = Profile::signed_in_as(&ada);
    let (mut first, mut second) = (Tab::default(), Tab::default());
    profile.create_board(&mut first, 50_000, "First").unwrap();
    // The second tab's clock is behind the first's: its stamp is made a millisecond
    // after the one it spends, so the newest tombstone still sorts last and holds it.
    profile.create_board(&mut second, 1_000, "Second").unwrap();
    let stamp = profile.replica.state().stamp().expect("a stamp");
    assert_eq!(stamp.age(Timestamp::from_millis(50_001)), Some(0));
    // The first tab trusts its own stamp, which the second spent: it reads, and takes
    // the next number.
    profile.write_unstamped_entry(7);
    profile.create_board(&mut first, 50_002, "Third").unwrap();
    assert_eq!(profile.outbox().last().unwrap().0, 8, "read, not trusted");
    // Tabs that read find the newest stamp, change after change, whatever their clocks.
    profile
        .create_board(&mut Tab::default(), 1_001, "Fourth")
        .unwrap();
    profile
        .create_board(&mut Tab::default(), 1_002, "Fifth")
        .unwrap();
    assert_eq!(profile.outbox().last().unwrap().0, 10);
}

#[test]
fn another_tabs_change_fences_a_trusting_create_which_reads_and_takes_the_next_number() {
    let ada = person(1, "Ada");
    let mut profile = Profile::signed_in_as(&ada);
    let (mut first, mut second) = (Tab::default(), Tab::default());
    profile.create_board(&mut first, 1_000, "First").unwrap();
    profile.create_board(&mut second, 1_001, "Second").unwrap();
    // The first tab trusts number 2; the second tab took it and spent the stamp.
    profile.create_board(&mut first, 1_002, "Third").unwrap();
    profile.create_board(&mut second, 1_003, "Fourth").unwrap();
    let seqs: Vec<u32> = profile.outbox().iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4], "one number per event, none replaced");
    let names: Vec<String> = profile
        .replica
        .state()
        .outbox
        .values()
        .map(|entry| entry.event.payload["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["First", "Second", "Third", "Fourth"]);
}

#[test]
fn a_sign_out_elsewhere_fences_a_trusting_create() {
    let ada = person(1, "Ada");
    let mut profile = Profile::signed_in_as(&ada);
    let mut tab = Tab::default();
    profile.create_board(&mut tab, 1_000, "Ada's").unwrap();
    run(profile.replica.clear_local_data()).unwrap();
    let refused = profile.create_board(&mut tab, 1_001, "Late");
    assert_eq!(refused, Err(RuleError::SignedOut));
    assert!(profile.outbox().is_empty(), "nothing written signed out");

    // Signed in as someone else, the tab's next create is theirs, numbered from their
    // empty outbox.
    let bob = person(2, "Bob");
    run(profile.replica.sign_in(&bob)).unwrap();
    profile.create_board(&mut tab, 1_002, "Bob's").unwrap();
    assert_eq!(profile.outbox(), [(1, bob.user.id.to_string())]);
}

#[test]
fn a_sign_in_elsewhere_fences_a_trusting_create() {
    let ada = person(1, "Ada");
    let mut profile = Profile::signed_in_as(&ada);
    let mut tab = Tab::default();
    profile.create_board(&mut tab, 1_000, "Ada's").unwrap();
    // Another tab signs in again (a new token): the stamp is spent.
    let again = Account {
        token: "a new token".into(),
        ..ada.clone()
    };
    run(profile.replica.sign_in(&again)).unwrap();
    profile.write_unstamped_entry(7);
    profile.create_board(&mut tab, 1_001, "Next").unwrap();
    assert_eq!(profile.outbox().last().unwrap().0, 8, "read, not trusted");
}

#[test]
fn tombstones_outlive_a_sign_out_and_are_forgotten_after_a_day() {
    let ada = person(1, "Ada");
    let mut profile = Profile::signed_in_as(&ada);
    let (mut first, mut second) = (Tab::default(), Tab::default());
    profile.create_board(&mut first, 1_000, "First").unwrap();
    profile.create_board(&mut second, 2_000, "Second").unwrap();
    run(profile.replica.clear_local_data()).unwrap();
    // The sign-in's, the two changes' and the sign-out's (which has no clock: it makes
    // its stamp a millisecond after the one it spends).
    assert_eq!(profile.tombstones_made_at(), [0, 1_000, 2_000]);
    let state = profile.replica.state();
    assert_eq!(state.spent_stamps.len(), 4, "{:?}", state.spent_stamps);
    assert_eq!(
        state
            .stamp()
            .and_then(|stamp| stamp.age(Timestamp::from_millis(2_001))),
        Some(0)
    );

    run(profile.replica.sign_in(&ada)).unwrap();
    // A day after the first stamp was made, a change that reads forgets its tombstone
    // and keeps the younger ones: the second change's, and the sign-out's and the
    // sign-in's just after it.
    profile
        .create_board(&mut Tab::default(), 1_000 + DAY_MS + 1, "Later")
        .unwrap();
    assert_eq!(
        profile.tombstones_made_at(),
        [2_000, 2_001, 2_002],
        "only the stamps made within the day are kept"
    );
}

#[test]
fn forgetting_after_days_away_keeps_the_newest_tombstone_which_still_fences() {
    let ada = person(1, "Ada");
    let mut profile = Profile::signed_in_as(&ada);
    let (mut first, mut second) = (Tab::default(), Tab::default());
    profile.create_board(&mut first, 1_000, "Before").unwrap();
    // Two days on, the first change reads and forgets every tombstone a day old: all
    // but the one it adds, whose stamp (the one it spends) is two days old too.
    let later = 1_000 + 2 * DAY_MS;
    profile.create_board(&mut first, later, "Back").unwrap();
    assert_eq!(profile.tombstones_made_at(), [1_000]);
    profile
        .create_board(&mut second, later + 1, "Elsewhere")
        .unwrap();
    profile.write_unstamped_entry(7);
    profile
        .create_board(&mut first, later + 2, "Again")
        .unwrap();
    assert_eq!(
        profile.outbox().last().unwrap().0,
        8,
        "fenced: read, not trusted"
    );
}

#[test]
fn only_the_first_change_after_a_pause_forgets_old_tombstones() {
    let ada = person(1, "Ada");
    let mut profile = Profile::signed_in_as(&ada);
    let tab = || Tab::default();
    profile.create_board(&mut tab(), 1_000, "First").unwrap();
    profile.create_board(&mut tab(), 2_000, "Second").unwrap();
    // A day on, the first change forgets the tombstone made before the day began.
    profile
        .create_board(&mut tab(), DAY_MS + 1_500, "Later")
        .unwrap();
    assert_eq!(profile.tombstones_made_at(), [2_000]);
    // The next one, a second later, reads a stamp just made: it leaves the tombstones
    // alone, although the one of 2,000 ms is a day old by now.
    profile
        .create_board(&mut tab(), DAY_MS + 2_500, "Soon after")
        .unwrap();
    assert_eq!(
        profile.tombstones_made_at(),
        [2_000, DAY_MS + 1_500],
        "a burst issues no clean-up"
    );
    // After a pause, the next change forgets it.
    profile
        .create_board(&mut tab(), DAY_MS + 40_000, "After a pause")
        .unwrap();
    assert_eq!(
        profile.tombstones_made_at(),
        [DAY_MS + 1_500, DAY_MS + 2_500]
    );
}
