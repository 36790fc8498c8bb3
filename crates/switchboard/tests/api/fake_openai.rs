//! A stand-in for an OpenAI-compatible endpoint: chat completions and
//! audio transcriptions, recording every request it receives so tests can
//! check what was sent (keys, models, that nothing unredacted left).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Default)]
pub struct Fake {
    /// Every request: (path, authorization header, body as text).
    pub requests: Mutex<Vec<(String, String, String)>>,
    /// Answer this many chat requests with 429 first.
    pub rate_limit_first: Mutex<usize>,
    /// The rubric question's answer.
    pub answer: Mutex<&'static str>,
}

impl Fake {
    pub fn requests_to(&self, path: &str) -> Vec<(String, String)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, auth, body)| (auth.clone(), body.clone()))
            .collect()
    }
}

fn record(fake: &Fake, path: &str, headers: &HeaderMap, body: &Bytes) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    fake.requests.lock().unwrap().push((
        path.to_owned(),
        auth,
        String::from_utf8_lossy(body).into_owned(),
    ));
}

async fn chat(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    record(&fake, "/v1/chat/completions", &headers, &body);
    {
        let mut limited = fake.rate_limit_first.lock().unwrap();
        if *limited > 0 {
            *limited -= 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                Json(json!({"error": {"message": "slow down"}})),
            )
                .into_response();
        }
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let system = request["messages"][0]["content"].as_str().unwrap_or("");
    let content = if system.contains("quality questions") {
        json!({"answers": [{"id": "empathy", "answer": *fake.answer.lock().unwrap(), "turns": [1]}]})
    } else if system.contains("summarise") {
        json!({"summary": "The caller filed a claim and asked for the form.",
               "next_steps": ["Email the claim form to the caller"]})
    } else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "unexpected prompt"}})),
        )
            .into_response();
    };
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    }))
    .into_response()
}

async fn transcriptions(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&fake, "/v1/audio/transcriptions", &headers, &body);
    let text = String::from_utf8_lossy(&body);
    if !(text.contains("name=\"model\"")
        && text.contains("name=\"file\"")
        && text.contains("verbose_json"))
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": "not a transcription request"}})),
        )
            .into_response();
    }
    Json(json!({
        "task": "transcribe", "language": "english", "duration": 9.0,
        "text": "Thank you for calling, how can I help? I want to file a claim.",
        "segments": [
            {"id": 0, "start": 0.0, "end": 3.0, "text": " Thank you for calling, how can I help?", "speaker": "agent"},
            {"id": 1, "start": 3.5, "end": 6.0, "text": " I want to file a claim.", "speaker": "customer"}
        ],
        "words": [
            {"word": "Thank", "start": 0.0, "end": 0.3}, {"word": "you", "start": 0.3, "end": 0.5},
            {"word": "claim", "start": 5.5, "end": 6.0}
        ]
    }))
    .into_response()
}

async fn models(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    record(&fake, "/v1/models", &headers, &Bytes::new());
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(a) if a.starts_with("Bearer ") => Json(json!({"data": []})).into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// Starts the stand-in; returns its `…/v1` base URL.
pub async fn start() -> (url::Url, Arc<Fake>) {
    let fake = Arc::new(Fake {
        answer: Mutex::new("no"),
        ..Fake::default()
    });
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(chat))
        .route(
            "/v1/audio/transcriptions",
            axum::routing::post(transcriptions),
        )
        .route("/v1/models", axum::routing::get(models))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base.parse().unwrap(), fake)
}
