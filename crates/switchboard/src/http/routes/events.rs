//! `GET /api/v1/events`: the tenant's live updates as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _};

use crate::http::extract::{perm, Authorized};
use crate::http::AppState;

/// Server-Sent Events: each `data:` line is a JSON event (`call.created`,
/// `call.updated`, `call.analysed`) of the caller's tenant only, with the
/// event type as the SSE `event:` name; a comment every 15 s keeps proxies
/// from closing the stream.
#[utoipa::path(get, path = "/api/v1/events", tag = "calls", security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", body = crate::events::Event)))]
pub async fn stream(
    State(state): State<AppState>,
    auth: Authorized<perm::CallsViewAll>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = state.events.subscribe(auth.ctx.tenant_id()).map(|e| {
        Ok(SseEvent::default()
            .event(e.kind)
            .json_data(&e)
            .unwrap_or_else(|_| SseEvent::default().comment("unserialisable event")))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
