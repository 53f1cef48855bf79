//! Realtime pokes: each open event stream subscribes to its user's scope, and a push that
//! grew that scope's changelog pokes it, so the client pulls now instead of at its next
//! interval. A poke carries nothing: the pull that follows brings the changes.
//!
//! The [`Hub`] delivers within this process. Between processes the storage relays pokes
//! (PostgreSQL LISTEN/NOTIFY) into each process's hub.

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::future::BoxFuture;
use futures_util::stream::{self, Stream};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// Pokes waiting for a slow stream; more are folded into one (a lagging stream still
/// gets a poke, and one pull catches up with any number).
const BACKLOG: usize = 4;

/// The streams of this process, by scope.
pub struct Hub {
    scopes: Mutex<HashMap<Uuid, broadcast::Sender<()>>>,
    /// Flips to true when the server shuts down, ending every stream so that graceful
    /// shutdown is not kept waiting by streams that would never end.
    closed: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub {
            scopes: Mutex::new(HashMap::new()),
            closed: watch::Sender::new(false),
        }
    }
}

impl Hub {
    /// Subscribes to `scope`'s pokes.
    pub fn subscribe(self: &Arc<Hub>, scope: Uuid) -> Subscription {
        let receiver = self
            .lock()
            .entry(scope)
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe();
        Subscription {
            receiver,
            closed: self.closed.subscribe(),
            _guard: Unsubscribe {
                hub: self.clone(),
                scope,
            },
        }
    }

    /// Pokes every stream of `scope` in this process.
    pub fn poke(&self, scope: Uuid) {
        if let Some(sender) = self.lock().get(&scope) {
            // An error only means nobody listens right now.
            let _ = sender.send(());
        }
    }

    /// Pokes every stream in this process (after pokes may have been lost).
    pub fn poke_all(&self) {
        for sender in self.lock().values() {
            let _ = sender.send(());
        }
    }

    /// Ends every stream, now and for streams opened later.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, broadcast::Sender<()>>> {
        // The map stays consistent even if a holder panicked (every update is a single
        // insert or remove), so a poisoned lock is still usable.
        self.scopes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One stream's subscription. Field order matters: the receiver is dropped before the
/// guard looks whether anyone still listens.
pub struct Subscription {
    receiver: broadcast::Receiver<()>,
    closed: watch::Receiver<bool>,
    _guard: Unsubscribe,
}

impl Subscription {
    /// Waits for the next poke; None once the server shuts down.
    pub async fn next(&mut self) -> Option<()> {
        if *self.closed.borrow() {
            return None;
        }
        tokio::select! {
            received = self.receiver.recv() => match received {
                // Lagged: pokes were folded; one stands for all of them.
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => Some(()),
                Err(broadcast::error::RecvError::Closed) => None,
            },
            _ = self.closed.wait_for(|closed| *closed) => None,
        }
    }
}

/// Forgets a scope's channel when its last stream goes away.
struct Unsubscribe {
    hub: Arc<Hub>,
    scope: Uuid,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let mut scopes = self.hub.lock();
        if scopes
            .get(&self.scope)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            scopes.remove(&self.scope);
        }
    }
}

/// Whether the session a stream was opened with still lives; asked every so often, so
/// that a stream ends within seconds of a logout or an expiry, in whichever process the
/// session ended.
pub type SessionCheck = Box<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// The SSE response for one subscription: a `: connected` comment at once (so the
/// client knows the stream is live), then an event `poke` per poke, and a `: ping`
/// comment after `heartbeat` of silence (which keeps proxies from closing the stream).
/// It ends when the server shuts down, or when `alive` (asked every `check_every`)
/// says the session ended.
///
/// The poke's data is `{}`: browsers drop events without a data line.
pub fn event_stream(
    subscription: Subscription,
    heartbeat: Duration,
    check_every: Duration,
    alive: SessionCheck,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let hello = stream::once(async { Ok(Event::default().comment("connected")) });
    let mut checks = tokio::time::interval(check_every);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (subscription, checks, alive);
    let pokes = stream::unfold(state, |(mut subscription, mut checks, alive)| async move {
        loop {
            tokio::select! {
                poke = subscription.next() => {
                    poke?;
                    let event = Ok(Event::default().event("poke").data("{}"));
                    return Some((event, (subscription, checks, alive)));
                }
                _ = checks.tick() => {
                    if !alive().await {
                        return None;
                    }
                }
            }
        }
    });
    Sse::new(stream::StreamExt::chain(hello, pokes))
        .keep_alive(KeepAlive::new().interval(heartbeat).text("ping"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_poke_reaches_only_its_scope() {
        let hub = Arc::new(Hub::default());
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let mut alices = hub.subscribe(alice);
        let mut bobs = hub.subscribe(bob);
        hub.poke(alice);
        assert_eq!(alices.next().await, Some(()));
        let nothing = tokio::time::timeout(Duration::from_millis(50), bobs.next()).await;
        assert!(nothing.is_err(), "bob must not be poked");
    }

    #[tokio::test]
    async fn many_pokes_fold_into_one_and_close_ends_streams() {
        let hub = Arc::new(Hub::default());
        let scope = Uuid::new_v4();
        let mut subscription = hub.subscribe(scope);
        for _ in 0..100 {
            hub.poke(scope);
        }
        assert_eq!(subscription.next().await, Some(()));
        hub.close();
        assert_eq!(subscription.next().await, None);
    }

    #[test]
    fn the_last_stream_leaving_forgets_the_scope() {
        let hub = Arc::new(Hub::default());
        let scope = Uuid::new_v4();
        let first = hub.subscribe(scope);
        let second = hub.subscribe(scope);
        drop(first);
        assert_eq!(hub.lock().len(), 1);
        drop(second);
        assert!(hub.lock().is_empty());
    }
}
