//! Live updates for dashboards: calls received and analysed, announced to
//! the tenant's own listeners at `GET /api/v1/events` (Server-Sent Events).
//!
//! The bus is this node's: a worker on another node announces to its own
//! listeners. Events only say that something changed — clients read the
//! call through the API — so a missed one costs a refresh, never data.

use serde::Serialize;
use switchboard_core::{CallId, TenantId};
use tokio::sync::broadcast;

/// Events buffered per listener before a slow one starts missing some.
const BUFFER: usize = 1024;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// `call.created`, `call.updated` or `call.analysed`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub call_id: CallId,
    pub at: String,
}

impl Event {
    fn new(kind: &'static str, call_id: CallId) -> Self {
        Event {
            kind,
            call_id,
            at: crate::http::routes::rfc3339(crate::db::now_ms()),
        }
    }

    pub fn received(call_id: CallId, created: bool) -> Self {
        Self::new(
            if created {
                "call.created"
            } else {
                "call.updated"
            },
            call_id,
        )
    }

    pub fn analysed(call_id: CallId) -> Self {
        Self::new("call.analysed", call_id)
    }
}

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<(TenantId, Event)>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(BUFFER).0,
        }
    }
}

impl Events {
    /// Announces to the tenant's listeners on this node (none listening is fine).
    pub fn publish(&self, tenant: TenantId, event: Event) {
        let _ = self.tx.send((tenant, event));
    }

    /// Every event of one tenant from now on. A listener that falls more
    /// than the buffer behind skips what it missed.
    pub fn subscribe(
        &self,
        tenant: TenantId,
    ) -> impl futures_util::Stream<Item = Event> + Send + 'static {
        let rx = self.tx.subscribe();
        futures_util::stream::unfold(rx, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok((t, event)) if t == tenant => return Some((event, rx)),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}
