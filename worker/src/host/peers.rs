//! The workers of one origin talk over a BroadcastChannel: standby workers forward
//! their page's commands to the leader, and the leader's reports reach every page.

use crate::channel::JsonChannel;
use crate::messages::{WorkerInput, WorkerOutput};
use serde::{Deserialize, Serialize};

const CHANNEL: &str = "boards-sync:workers";

/// What one worker tells the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "body", rename_all = "camelCase")]
pub enum PeerMessage {
    /// A page's command, for the leader.
    Input(WorkerInput),
    /// The leader's report, for every page.
    Output(WorkerOutput),
    /// A new worker asks the leader to repeat where sync stands.
    Hello,
    /// The leader is alive (see `engine::leadership`).
    Heartbeat,
}

/// This worker's end of the channel.
pub struct Peers {
    channel: JsonChannel<PeerMessage>,
}

impl Peers {
    pub fn open(on_message: impl Fn(PeerMessage) + 'static) -> Peers {
        Peers {
            channel: JsonChannel::listener(CHANNEL, on_message),
        }
    }

    pub fn post(&self, message: &PeerMessage) {
        self.channel.post(message);
    }
}
