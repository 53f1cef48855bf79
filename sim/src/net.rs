//! The engine's transport in the simulation: a request is handed to the simulator,
//! which decides (from the seed) whether and when the server sees it and the answer
//! comes back.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use sync_protocol::{OutboxEvent, PullResponse, PushResult};
use sync_worker::engine::leadership::Lease;
use sync_worker::engine::{Transport, TransportError};

/// What a request asks.
#[derive(Debug, Clone)]
pub enum Body {
    Push(Vec<OutboxEvent>),
    Pull { cursor: Option<String>, limit: u32 },
}

/// What comes back.
#[derive(Debug, Clone)]
pub enum Reply {
    Pushed(Vec<PushResult>),
    Pulled(PullResponse),
    Failed(TransportError),
}

type Slot = Rc<RefCell<Option<Reply>>>;

/// A request on its way.
pub struct Request {
    pub id: u64,
    pub device: usize,
    pub token: String,
    pub body: Body,
    /// Sent by a cycle whose lease was already revoked (which must send nothing).
    pub fenced: bool,
    slot: Slot,
}

impl Request {
    /// Hands the answer to the waiting cycle.
    pub fn answer(self, reply: Reply) {
        *self.slot.borrow_mut() = Some(reply);
    }
}

/// Requests the engines sent since the simulator last looked.
#[derive(Default)]
pub struct Net {
    sent: RefCell<Vec<Request>>,
    next_id: RefCell<u64>,
}

impl Net {
    pub fn take_sent(&self) -> Vec<Request> {
        std::mem::take(&mut *self.sent.borrow_mut())
    }

    fn send(&self, device: usize, token: &str, body: Body, fenced: bool) -> WaitForReply {
        let slot: Slot = Rc::default();
        let id = {
            let mut next = self.next_id.borrow_mut();
            *next += 1;
            *next
        };
        self.sent.borrow_mut().push(Request {
            id,
            device,
            token: token.to_string(),
            body,
            fenced,
            slot: slot.clone(),
        });
        WaitForReply(slot)
    }
}

/// Resolves once the simulator answered.
struct WaitForReply(Slot);

impl Future for WaitForReply {
    type Output = Reply;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Reply> {
        match self.0.borrow_mut().take() {
            Some(reply) => Poll::Ready(reply),
            None => Poll::Pending,
        }
    }
}

/// One tab's engine's transport; it knows the engine's lease so that a request sent
/// after the lease was revoked is caught.
pub struct SimTransport {
    device: usize,
    net: Rc<Net>,
    lease: Lease,
}

impl SimTransport {
    pub fn new(device: usize, net: Rc<Net>, lease: Lease) -> SimTransport {
        SimTransport { device, net, lease }
    }

    fn send(&self, token: &str, body: Body) -> WaitForReply {
        self.net
            .send(self.device, token, body, !self.lease.is_held())
    }
}

impl Transport for SimTransport {
    async fn push(
        &self,
        token: &str,
        events: &[OutboxEvent],
    ) -> Result<Vec<PushResult>, TransportError> {
        match self.send(token, Body::Push(events.to_vec())).await {
            Reply::Pushed(results) => Ok(results),
            Reply::Failed(error) => Err(error),
            Reply::Pulled(_) => Err(TransportError::Invalid("a pull answer to a push".into())),
        }
    }

    async fn pull(
        &self,
        token: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<PullResponse, TransportError> {
        let body = Body::Pull {
            cursor: cursor.map(str::to_string),
            limit,
        };
        match self.send(token, body).await {
            Reply::Pulled(page) => Ok(page),
            Reply::Failed(error) => Err(error),
            Reply::Pushed(_) => Err(TransportError::Invalid("a push answer to a pull".into())),
        }
    }
}
