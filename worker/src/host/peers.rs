//! The workers of one origin talk over a BroadcastChannel: standby workers forward
//! their page's commands to the leader, and the leader's reports reach every page.

use crate::messages::{WorkerInput, WorkerOutput};
use serde::{Deserialize, Serialize};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

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
}

/// This worker's end of the channel.
pub struct Peers {
    channel: Option<BroadcastChannel>,
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
}

impl Peers {
    pub fn open(on_message: impl Fn(PeerMessage) + 'static) -> Peers {
        let Ok(channel) = BroadcastChannel::new(CHANNEL) else {
            return Peers {
                channel: None,
                _on_message: None,
            };
        };
        let closure = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let message = event
                .data()
                .as_string()
                .and_then(|text| serde_json::from_str::<PeerMessage>(&text).ok());
            if let Some(message) = message {
                on_message(message);
            }
        });
        channel.set_onmessage(Some(closure.as_ref().unchecked_ref()));
        Peers {
            channel: Some(channel),
            _on_message: Some(closure),
        }
    }

    pub fn post(&self, message: &PeerMessage) {
        if let (Some(channel), Ok(text)) = (&self.channel, serde_json::to_string(message)) {
            let _ = channel.post_message(&text.into());
        }
    }
}
