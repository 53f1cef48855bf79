//! The workers of one origin talk over a BroadcastChannel: standby workers forward
//! their page's commands to the leader, and the leader's reports reach every page. What
//! is said when is decided by `engine::leadership`.

use crate::channel::JsonChannel;
pub use crate::engine::leadership::PeerMessage;

const CHANNEL: &str = "boards-sync:workers";

/// This worker's end of the channel.
pub struct Peers {
    channel: JsonChannel<PeerMessage>,
}

impl Peers {
    /// Joins the channel; `on_message` gets what the other workers post.
    pub fn open(on_message: impl Fn(PeerMessage) + 'static) -> Peers {
        Peers {
            channel: JsonChannel::listener(CHANNEL, on_message),
        }
    }

    /// Posts to every other worker of the origin.
    pub fn post(&self, message: &PeerMessage) {
        self.channel.post(message);
    }
}
