//! Clients of OpenAI-compatible endpoints: chat completions (summaries,
//! next steps, rubric questions) and audio transcriptions. Nothing here runs
//! unless an endpoint is configured: the default configuration makes no
//! network call.
//!
//! Both retry 429 and 5xx answers and transport errors on a backoff
//! schedule (honouring `Retry-After` up to the cap); any other 4xx is final.
//! Keys are sent only as bearer tokens and never logged.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// One OpenAI-compatible endpoint (`[llm]` or `[transcription]` in the
/// configuration file).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointConfig {
    /// e.g. `https://api.openai.com/v1`; unset means the feature is off.
    pub base_url: Option<url::Url>,
    /// The platform's key; a tenant's own key (credential `llm`) wins.
    pub api_key: Option<Secret>,
    pub model: String,
    pub timeout_secs: u64,
    /// Retries after the first attempt, for 429, 5xx and transport errors.
    pub max_retries: u32,
    pub retry_base_ms: u64,
}

/// Fields left out of a configuration file keep the built-in values
/// (figment merges over `Config::default()`); this is only their fallback.
impl Default for EndpointConfig {
    fn default() -> Self {
        Self::default_llm()
    }
}

impl EndpointConfig {
    fn with_model(model: &str) -> Self {
        EndpointConfig {
            base_url: None,
            api_key: None,
            model: model.into(),
            timeout_secs: 60,
            max_retries: 3,
            retry_base_ms: 500,
        }
    }

    pub fn default_llm() -> Self {
        Self::with_model("gpt-4o-mini")
    }

    pub fn default_transcription() -> Self {
        Self::with_model("whisper-1")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("the endpoint answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the endpoint could not be reached: {0}")]
    Transport(String),
    #[error("the endpoint's answer is not what was asked for: {0}")]
    Answer(String),
}

/// Tokens one or more chat requests used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.requests += other.requests;
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// A configured endpoint with the key to use.
#[derive(Clone)]
pub struct Endpoint {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
    config: EndpointConfig,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("model", &self.config.model)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// `None` when no endpoint is configured. `tenant_key` is the tenant's
    /// own key, when it has one.
    pub fn new(
        http: &reqwest::Client,
        config: &EndpointConfig,
        tenant_key: Option<String>,
    ) -> Option<Endpoint> {
        let base = config.base_url.as_ref()?;
        Some(Endpoint {
            http: http.clone(),
            base: base.as_str().trim_end_matches('/').to_owned(),
            key: tenant_key.or_else(|| config.api_key.as_ref().map(|k| k.expose().to_owned())),
            config: config.clone(),
        })
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// Sends the request `make` builds, retrying what can be retried.
    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, EndpointError> {
        let mut attempt = 0;
        loop {
            let mut req = make().timeout(Duration::from_secs(self.config.timeout_secs));
            if let Some(k) = &self.key {
                req = req.bearer_auth(k);
            }
            let (retryable, wait_hint, error) = match req.send().await {
                Ok(res) if res.status().is_success() => return Ok(res),
                Ok(res) => {
                    let status = res.status().as_u16();
                    let hint = res
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let body = res.text().await.unwrap_or_default();
                    (
                        status == 429 || status >= 500,
                        hint,
                        EndpointError::Status {
                            status,
                            message: error_message(&body),
                        },
                    )
                }
                Err(e) => (true, None, EndpointError::Transport(without_url(&e))),
            };
            if !retryable || attempt >= self.config.max_retries {
                return Err(error);
            }
            let backoff = Duration::from_millis(
                self.config
                    .retry_base_ms
                    .saturating_mul(1 << attempt.min(10)),
            );
            let cap = Duration::from_secs(30);
            tokio::time::sleep(wait_hint.unwrap_or(backoff).min(cap)).await;
            attempt += 1;
        }
    }

    /// A chat completion asked to answer with one JSON object; returns the
    /// object and the tokens used.
    pub async fn chat_json(
        &self,
        system: &str,
        user: &str,
    ) -> Result<(serde_json::Value, Usage), EndpointError> {
        let body = serde_json::json!({
            "model": self.config.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
        });
        let url = format!("{}/chat/completions", self.base);
        let res = self.send(|| self.http.post(&url).json(&body)).await?;
        let answer: ChatAnswer = res
            .json()
            .await
            .map_err(|e| EndpointError::Answer(format!("not a chat completion: {e}")))?;
        let content = answer
            .choices
            .first()
            .and_then(|c| c.message.content.as_deref())
            .ok_or_else(|| EndpointError::Answer("no message content".into()))?;
        let value: serde_json::Value = serde_json::from_str(content)
            .map_err(|_| EndpointError::Answer("the message is not a JSON object".into()))?;
        let usage = answer.usage.unwrap_or_default();
        Ok((
            value,
            Usage {
                requests: 1,
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
            },
        ))
    }

    /// Transcribes audio (`verbose_json` with segment and word timings);
    /// returns it parsed and as received.
    pub async fn transcribe(
        &self,
        audio: bytes::Bytes,
        file_name: &str,
        content_type: &str,
        language: Option<&str>,
    ) -> Result<(Transcription, String), EndpointError> {
        let url = format!("{}/audio/transcriptions", self.base);
        let res = self
            .send(|| {
                let part = reqwest::multipart::Part::stream(reqwest::Body::from(audio.clone()))
                    .file_name(file_name.to_owned())
                    .mime_str(content_type)
                    .expect("a valid content type");
                let mut form = reqwest::multipart::Form::new()
                    .part("file", part)
                    .text("model", self.config.model.clone())
                    .text("response_format", "verbose_json")
                    .text("timestamp_granularities[]", "word")
                    .text("timestamp_granularities[]", "segment");
                if let Some(l) = language {
                    form = form.text("language", l.to_owned());
                }
                self.http.post(&url).multipart(form)
            })
            .await?;
        let raw = res.text().await.map_err(|e| {
            EndpointError::Answer(format!("unreadable answer: {}", without_url(&e)))
        })?;
        let parsed = serde_json::from_str(&raw)
            .map_err(|e| EndpointError::Answer(format!("not a verbose transcription: {e}")))?;
        Ok((parsed, raw))
    }
}

/// The provider's own error message, shortened: never the request, which
/// may hold transcript text.
fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "no error message".into());
    message.chars().take(200).collect()
}

/// reqwest's errors name the URL, which for some providers holds a key.
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

#[derive(Deserialize)]
struct ChatAnswer {
    choices: Vec<ChatChoice>,
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct ChatChoice {
    message: ChatMessage,
}

#[derive(Deserialize)]
struct ChatMessage {
    content: Option<String>,
}

#[derive(Default, Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
}

/// A `verbose_json` transcription.
#[derive(Clone, Debug, Deserialize)]
pub struct Transcription {
    #[serde(default)]
    pub segments: Vec<Segment>,
    #[serde(default)]
    pub words: Vec<TimedWord>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// Diarising endpoints name the speaker; channel-split audio gives it too.
    #[serde(default)]
    pub speaker: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TimedWord {
    pub word: String,
    pub start: f64,
    pub end: f64,
}

/// Who a segment's speaker label means: labels that say so, otherwise the
/// first label heard is the agent (who answers the phone) and any other the
/// customer. Without labels every segment is the customer's: the audio
/// does not tell.
fn speaker_of(label: Option<&str>, first: &mut Option<String>) -> switchboard_ingest::Speaker {
    use switchboard_ingest::Speaker;
    let Some(label) = label else {
        return Speaker::Customer;
    };
    let lower = label.to_ascii_lowercase();
    if lower.contains("agent") || lower.contains("assistant") || lower.contains("bot") {
        return Speaker::Agent;
    }
    if lower.contains("customer") || lower.contains("caller") || lower.contains("user") {
        return Speaker::Customer;
    }
    match first {
        Some(f) if *f == lower => Speaker::Agent,
        Some(_) => Speaker::Customer,
        None => {
            *first = Some(lower);
            Speaker::Agent
        }
    }
}

/// The transcription as turns: consecutive segments of one speaker are one
/// turn, and each word goes to the turn whose span holds its midpoint.
pub fn to_turns(t: &Transcription) -> Vec<switchboard_ingest::Turn> {
    use switchboard_ingest::{Turn, Word};
    let mut first = None;
    let mut turns: Vec<Turn> = Vec::new();
    for s in &t.segments {
        let text = s.text.trim();
        if text.is_empty() || !s.start.is_finite() || !s.end.is_finite() {
            continue;
        }
        let speaker = speaker_of(s.speaker.as_deref(), &mut first);
        match turns.last_mut() {
            Some(last) if last.speaker == speaker => {
                last.text.push(' ');
                last.text.push_str(text);
                last.end = Some(s.end.max(last.end.unwrap_or(s.end)));
            }
            _ => turns.push(Turn {
                speaker,
                text: text.to_owned(),
                start: Some(s.start),
                end: Some(s.end),
                words: Vec::new(),
            }),
        }
    }
    for w in &t.words {
        let mid = (w.start + w.end) / 2.0;
        if !mid.is_finite() {
            continue;
        }
        if let Some(turn) = turns
            .iter_mut()
            .find(|t| t.start.unwrap_or(0.0) <= mid && mid <= t.end.unwrap_or(0.0))
        {
            turn.words.push(Word {
                word: w.word.trim().into(),
                start: w.start,
                end: w.end,
            });
        }
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_ingest::Speaker;

    fn transcription(json: serde_json::Value) -> Transcription {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn labelled_segments_become_turns_with_their_words() {
        let t = transcription(serde_json::json!({
            "text": "Hello, thanks for calling. Hi. I need help.",
            "segments": [
                {"start": 0.0, "end": 2.0, "text": " Hello, thanks for calling.", "speaker": "SPEAKER_00"},
                {"start": 2.5, "end": 3.0, "text": " Hi.", "speaker": "SPEAKER_01"},
                {"start": 3.1, "end": 4.5, "text": " I need help.", "speaker": "SPEAKER_01"},
                {"start": 5.0, "end": 5.0, "text": "  ", "speaker": "SPEAKER_00"}
            ],
            "words": [
                {"word": "Hello", "start": 0.0, "end": 0.4},
                {"word": "Hi", "start": 2.5, "end": 2.9},
                {"word": "help", "start": 4.0, "end": 4.4},
                {"word": "lost", "start": 50.0, "end": 51.0}
            ]
        }));
        let turns = to_turns(&t);
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].speaker, Speaker::Agent);
        assert_eq!(turns[1].speaker, Speaker::Customer);
        assert_eq!(turns[1].text, "Hi. I need help.");
        assert_eq!((turns[1].start, turns[1].end), (Some(2.5), Some(4.5)));
        assert_eq!(turns[0].words.len(), 1);
        assert_eq!(turns[1].words.len(), 2);
    }

    #[test]
    fn explicit_labels_and_no_labels() {
        let t = transcription(serde_json::json!({"segments": [
            {"start": 0.0, "end": 1.0, "text": "Hi", "speaker": "caller"},
            {"start": 1.0, "end": 2.0, "text": "Hello", "speaker": "agent"}]}));
        let turns = to_turns(&t);
        assert_eq!(turns[0].speaker, Speaker::Customer);
        assert_eq!(turns[1].speaker, Speaker::Agent);
        let t = transcription(serde_json::json!({"segments": [
            {"start": 0.0, "end": 1.0, "text": "Hi"},
            {"start": 1.0, "end": 2.0, "text": "Hello"}]}));
        assert_eq!(to_turns(&t).len(), 1);
    }
}
