//! The one call model every provider's payload is read into.
//!
//! A provider describes a call in several events (started, ended, analysed),
//! which may arrive in any order and more than once. Each event becomes a
//! [`CallUpdate`]: only what that event states, every field optional. The
//! call is the [`merge`] of its updates in a fixed order — by [`Stage`], then
//! by when the event happened — so the same set of events always yields the
//! same call, and a later event's value wins field by field without erasing
//! what it does not mention.

pub use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// Why a payload could not be read, naming the field as a JSON path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParseError {
    pub field: String,
    pub message: String,
}

impl ParseError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Agent,
    Customer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(Direction::Inbound),
            "outbound" => Some(Direction::Outbound),
            _ => None,
        }
    }
}

/// Where a call came from. Providers with webhooks are also agent providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Retell,
    Vapi,
    Twilio,
    /// Any other system, through Standard Webhooks.
    Generic,
    /// `POST /api/v1/calls`.
    Api,
    /// Bulk import (API or command line).
    Import,
    /// A call-recording provider's REST API, pulled on a schedule.
    RecordingProvider,
}

impl Source {
    pub const AGENT_PROVIDERS: [Source; 4] = [
        Source::Retell,
        Source::Vapi,
        Source::Twilio,
        Source::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Retell => "retell",
            Source::Vapi => "vapi",
            Source::Twilio => "twilio",
            Source::Generic => "generic",
            Source::Api => "api",
            Source::Import => "import",
            Source::RecordingProvider => "recording_provider",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Source::Retell,
            Source::Vapi,
            Source::Twilio,
            Source::Generic,
            Source::Api,
            Source::Import,
            Source::RecordingProvider,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }

    /// Whether agents (and webhook URLs) exist for this source.
    pub fn is_agent_provider(self) -> bool {
        Self::AGENT_PROVIDERS.contains(&self)
    }

    /// Whether a deleted call of this source stays deleted: its senders
    /// resend and send later events on their own (webhooks, the recording
    /// pull's look-back). A call posted or imported again is the tenant's
    /// own request, and is created again.
    pub fn keeps_deletions(self) -> bool {
        !matches!(self, Source::Api | Source::Import)
    }
}

impl std::str::FromStr for Source {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Source::parse(s)
            .ok_or_else(|| ParseError::new("provider", "expected retell, vapi, twilio or generic"))
    }
}

impl std::str::FromStr for Stage {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Stage::parse(s)
            .ok_or_else(|| ParseError::new("stage", "expected started, ended or analyzed"))
    }
}

/// How far along a call an event is. Events merge in this order, so a late
/// `call_started` redelivery cannot undo what `call_ended` said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Started,
    Ended,
    Analyzed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Started => "started",
            Stage::Ended => "ended",
            Stage::Analyzed => "analyzed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "started" => Some(Stage::Started),
            "ended" => Some(Stage::Ended),
            "analyzed" => Some(Stage::Analyzed),
            _ => None,
        }
    }
}

/// One timed word. Seconds from the start of the call. Written as
/// `{"word", "start", "end"}`, except in [`to_stored_json`]; read in
/// either form.
#[derive(Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Word {
    // Held inline up to 24 bytes: a five-minute transcript's 700-odd words
    // cost no allocation each when a payload is read, and none to free
    // (decision 0021). Not a doc comment: the API description shows those.
    #[schema(value_type = String)]
    pub word: CompactString,
    pub start: f64,
    pub end: f64,
}

thread_local! {
    /// Set while [`to_stored_json`] runs on this thread.
    static STORED_FORM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `value` as the database stores it (before [`crate::packed`]): its JSON,
/// except that a turn's timed words are in their compact form (see
/// `timed_words`), or `[word, start, end]` triples where that cannot hold
/// them. Timed words are three quarters of a transcript's JSON, so a stored
/// call or update is 30 % smaller than with triples and 55 % smaller than
/// with named fields (decisions 0010 and 0013); every output (the API,
/// objects) keeps the named fields.
pub fn to_stored_json<T: Serialize>(value: &T) -> String {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            STORED_FORM.set(false);
        }
    }
    STORED_FORM.set(true);
    let _reset = Reset;
    serde_json::to_string(value).expect("call models serialise")
}

impl Serialize for Word {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        if STORED_FORM.get() {
            return (&self.word, self.start, self.end).serialize(s);
        }
        let mut word = s.serialize_struct("Word", 3)?;
        word.serialize_field("word", &self.word)?;
        word.serialize_field("start", &self.start)?;
        word.serialize_field("end", &self.end)?;
        word.end()
    }
}

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Named {
            word: CompactString,
            start: f64,
            end: f64,
        }
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = Word;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a word with its start and end")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Word, A::Error> {
                let (word, start, end) =
                    Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Word { word, start, end })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Word, A::Error> {
                let Named { word, start, end } =
                    Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Word { word, start, end })
            }
        }
        d.deserialize_any(Either)
    }
}

/// One turn of the conversation. Times are seconds from the start of the call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "timed_words")]
    pub words: Vec<Word>,
}

/// A turn's words, which [`to_stored_json`] writes in a compact form when
/// it can do so without losing anything: `{"w": "Thank you …", "ms": [gap,
/// duration, gap, duration, …]}` — the words joined by spaces (when none is
/// empty or holds a space), and each word's start as milliseconds after the
/// previous word's end (the first's after zero) followed by its length in
/// milliseconds (when every time is a whole number of milliseconds). Small
/// integers and a string the turn's text repeats compress several times
/// better than the triples' decimals (decision 0013). Words that do not fit
/// are written as triples; all three forms are read.
mod timed_words {
    use super::{Word, STORED_FORM};
    use serde::de::{Error as _, MapAccess, SeqAccess, Visitor};
    use serde::ser::SerializeMap as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// `seconds` as whole milliseconds, when that is exactly what it is.
    fn whole_ms(seconds: f64) -> Option<i64> {
        let ms = (seconds * 1000.0).round();
        if ms.is_nan() || ms.abs() >= 9e15 {
            return None;
        }
        let ms = ms as i64;
        // Bit for bit, so that -0.0 (which would come back as 0.0) is not.
        (seconds_of(ms).to_bits() == seconds.to_bits()).then_some(ms)
    }

    fn seconds_of(ms: i64) -> f64 {
        ms as f64 / 1000.0
    }

    fn compact(words: &[Word]) -> Option<(String, Vec<i64>)> {
        let mut joined = String::new();
        let mut ms = Vec::with_capacity(words.len() * 2);
        let mut previous_end = 0;
        for (i, w) in words.iter().enumerate() {
            if w.word.is_empty() || w.word.contains(' ') {
                return None;
            }
            if i > 0 {
                joined.push(' ');
            }
            joined.push_str(&w.word);
            let (start, end) = (whole_ms(w.start)?, whole_ms(w.end)?);
            ms.push(start.checked_sub(previous_end)?);
            ms.push(end.checked_sub(start)?);
            previous_end = end;
        }
        Some((joined, ms))
    }

    pub fn serialize<S: Serializer>(words: &[Word], s: S) -> Result<S::Ok, S::Error> {
        match STORED_FORM.get().then(|| compact(words)).flatten() {
            Some((joined, ms)) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("w", &joined)?;
                map.serialize_entry("ms", &ms)?;
                map.end()
            }
            None => words.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Word>, D::Error> {
        struct Words;
        impl<'de> Visitor<'de> for Words {
            type Value = Vec<Word>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of timed words")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<Word>, A::Error> {
                Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<Word>, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Compact {
                    w: String,
                    ms: Vec<i64>,
                }
                let Compact { w, ms } =
                    Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                let texts: Vec<&str> = w.split(' ').collect();
                if ms.len() != texts.len() * 2 {
                    return Err(A::Error::custom(format!(
                        "{} words with {} times",
                        texts.len(),
                        ms.len()
                    )));
                }
                let mut previous_end = 0i64;
                let mut words = Vec::with_capacity(texts.len());
                for (text, pair) in texts.into_iter().zip(ms.chunks_exact(2)) {
                    let start = previous_end
                        .checked_add(pair[0])
                        .ok_or_else(|| A::Error::custom("a word's time overflows"))?;
                    let end = start
                        .checked_add(pair[1])
                        .ok_or_else(|| A::Error::custom("a word's time overflows"))?;
                    words.push(Word {
                        word: text.into(),
                        start: seconds_of(start),
                        end: seconds_of(end),
                    });
                    previous_end = end;
                }
                Ok(words)
            }
        }
        d.deserialize_any(Words)
    }
}

/// A transcript as an event states it: the turns themselves, or (in the
/// database, for events whose raw payload the call's source parser reads
/// again) the key of the event whose raw entry holds them (decision 0026).
/// Written as the list of turns, or as `{"raw_event": key}`.
#[derive(Clone, Debug, PartialEq)]
pub enum Turns {
    Here(Vec<Turn>),
    InRawEvent(String),
}

impl Turns {
    /// The turns, when they are here rather than in a raw document.
    pub fn here(&self) -> Option<&[Turn]> {
        match self {
            Turns::Here(turns) => Some(turns),
            Turns::InRawEvent(_) => None,
        }
    }

    /// The turns, when they are here rather than in a raw document.
    pub fn into_here(self) -> Option<Vec<Turn>> {
        match self {
            Turns::Here(turns) => Some(turns),
            Turns::InRawEvent(_) => None,
        }
    }
}

impl From<Vec<Turn>> for Turns {
    fn from(turns: Vec<Turn>) -> Self {
        Turns::Here(turns)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEventRef<T> {
    raw_event: T,
}

impl Serialize for Turns {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Turns::Here(turns) => turns.serialize(s),
            Turns::InRawEvent(key) => RawEventRef { raw_event: key }.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Turns {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = Turns;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of turns or {\"raw_event\": key}")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Turns, A::Error> {
                Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Turns::Here)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Turns, A::Error> {
                let RawEventRef { raw_event } =
                    Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Turns::InRawEvent(raw_event))
            }
        }
        d.deserialize_any(Either)
    }
}

/// What the provider's own analysis said.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProviderAnalysis {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_sentiment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_successful: Option<bool>,
    /// Everything else the provider reported, as it sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Value>,
}

/// Money in integer minor units with its currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cost {
    pub amount_minor: i64,
    /// ISO 4217, e.g. `USD`.
    pub currency: String,
}

macro_rules! call_fields {
    ($($(#[$doc:meta])* $field:ident: $ty:ty),+ $(,)?) => {
        /// What one event states about a call; `None` means "not mentioned".
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct CallFields {
            $($(#[$doc])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>,)+
        }

        impl CallFields {
            /// Takes every field `later` mentions.
            pub fn absorb(&mut self, later: CallFields) {
                $(if later.$field.is_some() { self.$field = later.$field; })+
            }
        }
    };
}

call_fields! {
    /// The provider's agent id (Retell `agent_id`, Vapi `assistantId`).
    provider_agent_id: String,
    direction: Direction,
    /// E.164 where the provider's text allows, otherwise as sent.
    from: String,
    to: String,
    /// Unix milliseconds.
    started_at: i64,
    ended_at: i64,
    duration_ms: i64,
    /// A test call (web call, dashboard test) is kept but never billed.
    test: bool,
    turns: Turns,
    /// Where the provider keeps the recording.
    recording_url: String,
    disconnection_reason: String,
    analysis: ProviderAnalysis,
    cost: Cost,
    /// Free-form metadata the sender attached.
    metadata: serde_json::Value,
}

impl CallFields {
    /// Whether there is a transcript to analyse.
    pub fn has_turns(&self) -> bool {
        match &self.turns {
            None => false,
            Some(Turns::Here(turns)) => !turns.is_empty(),
            // Only a transcript with turns is stored by reference.
            Some(Turns::InRawEvent(_)) => true,
        }
    }

    /// The turns when they are here (not only referred to).
    pub fn turns_here(&self) -> Option<&[Turn]> {
        self.turns.as_ref().and_then(Turns::here)
    }
}

/// One event about one call, read from a provider's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallUpdate {
    /// The provider's id of the call: with the source, what makes a call one call.
    pub external_id: String,
    pub stage: Stage,
    /// When the event happened, Unix milliseconds, if the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<i64>,
    pub fields: CallFields,
}

/// An update as stored, with what orders it among its call's updates.
#[derive(Clone, Debug)]
pub struct StoredUpdate {
    pub update: CallUpdate,
    pub received_at: i64,
    /// Unique per event of a call (a digest of the raw payload, or the
    /// sender's message id): ties are broken by it so the order is total.
    pub event_key: String,
}

/// The call as all its updates describe it, in a fixed order: by stage,
/// then when the event happened (or was received), then by key.
pub fn merge(mut updates: Vec<StoredUpdate>) -> (Stage, CallFields) {
    updates.sort_by(|a, b| {
        (
            a.update.stage,
            a.update.occurred_at.unwrap_or(a.received_at),
            a.received_at,
        )
            .cmp(&(
                b.update.stage,
                b.update.occurred_at.unwrap_or(b.received_at),
                b.received_at,
            ))
            .then_with(|| a.event_key.cmp(&b.event_key))
    });
    let mut fields = CallFields::default();
    let mut stage = Stage::Started;
    for u in updates {
        fields.absorb(u.update.fields);
        stage = stage.max(u.update.stage);
    }
    if fields.duration_ms.is_none() {
        if let (Some(s), Some(e)) = (fields.started_at, fields.ended_at) {
            // Saturating: providers' timestamps are any i64 they send.
            fields.duration_ms = Some(e.saturating_sub(s).max(0));
        }
    }
    (stage, fields)
}

/// What the free-text filter searches: the words said, lower-case, a turn
/// a line. Without speaker labels, which would make a search for "agent"
/// find every call, and without control characters (PostgreSQL refuses a
/// NUL in text; nobody searches for the others).
pub fn search_text(turns: &[Turn]) -> String {
    let mut out = String::with_capacity(turns.iter().map(|t| t.text.len() + 1).sum());
    for t in turns {
        push_searchable(&mut out, &t.text);
        out.push('\n');
    }
    out
}

/// `text` lower-case, its control characters as spaces. A turn is nearly
/// always printable ASCII, lowered in place at once: `char` by `char` this
/// was 4 % of the CPU a webhook costs (BENCHMARKS.md).
fn push_searchable(out: &mut String, text: &str) {
    if text.bytes().all(|b| b.is_ascii() && !b.is_ascii_control()) {
        let start = out.len();
        out.push_str(text);
        out[start..].make_ascii_lowercase();
    } else {
        out.extend(
            text.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .flat_map(char::to_lowercase),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn update(stage: Stage, at: i64, f: CallFields) -> StoredUpdate {
        StoredUpdate {
            update: CallUpdate {
                external_id: "c1".into(),
                stage,
                occurred_at: Some(at),
                fields: f,
            },
            received_at: at,
            event_key: format!("{stage:?}{at}"),
        }
    }

    #[test]
    fn transcripts_kept_elsewhere_are_written_as_their_event_and_win_like_turns() {
        let turns = Turns::Here(vec![Turn {
            speaker: Speaker::Customer,
            text: "Hello".into(),
            start: None,
            end: None,
            words: vec![],
        }]);
        let elsewhere = Turns::InRawEvent("k2".into());
        assert_eq!(
            serde_json::to_value(&elsewhere).unwrap(),
            serde_json::json!({"raw_event": "k2"})
        );
        assert_eq!(
            serde_json::to_value(&turns).unwrap(),
            serde_json::json!([{"speaker": "customer", "text": "Hello"}])
        );
        for t in [&turns, &elsewhere] {
            let back: Turns = serde_json::from_str(&to_stored_json(t)).unwrap();
            assert_eq!(&back, t);
        }
        assert!(serde_json::from_str::<Turns>(r#"{"raw_event": "k", "x": 1}"#).is_err());
        assert!(serde_json::from_str::<Turns>(r#""k""#).is_err());

        let with = |turns: Turns| CallFields {
            turns: Some(turns),
            ..Default::default()
        };
        let (_, fields) = merge(vec![
            update(Stage::Analyzed, 5, with(elsewhere.clone())),
            update(Stage::Ended, 9, with(turns.clone())),
            update(Stage::Analyzed, 7, CallFields::default()),
        ]);
        assert_eq!(fields.turns, Some(elsewhere));
        assert!(fields.has_turns());
        assert_eq!(fields.turns_here(), None);
        assert!(!with(Turns::Here(vec![])).has_turns());
    }

    #[test]
    fn later_stages_win_field_by_field_without_erasing() {
        let started = update(
            Stage::Started,
            1,
            CallFields {
                from: Some("+14155550100".into()),
                started_at: Some(1_000),
                ..Default::default()
            },
        );
        let ended = update(
            Stage::Ended,
            2,
            CallFields {
                ended_at: Some(61_000),
                disconnection_reason: Some("user_hangup".into()),
                ..Default::default()
            },
        );
        let analyzed = update(
            Stage::Analyzed,
            3,
            CallFields {
                disconnection_reason: Some("agent_hangup".into()),
                ..Default::default()
            },
        );
        let events = vec![analyzed, started, ended];
        let (stage, call) = merge(events);
        assert_eq!(stage, Stage::Analyzed);
        assert_eq!(call.from.as_deref(), Some("+14155550100"));
        assert_eq!(call.duration_ms, Some(60_000));
        assert_eq!(call.disconnection_reason.as_deref(), Some("agent_hangup"));
    }

    proptest! {
        /// Any arrival order, with any redeliveries, gives the same call.
        #[test]
        fn merge_ignores_arrival_order(order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(), dup in 0..6usize) {
            let all: Vec<StoredUpdate> = (0..6i64).map(|i| update(
                [Stage::Started, Stage::Ended, Stage::Analyzed][(i % 3) as usize],
                i,
                CallFields { duration_ms: Some(i), to: (i % 2 == 0).then(|| format!("+1415555010{i}")), ..Default::default() },
            )).collect();
            let mut shuffled: Vec<StoredUpdate> = order.iter().map(|&i| all[i].clone()).collect();
            shuffled.push(all[dup].clone());
            let sorted = all.clone();
            prop_assert_eq!(merge(shuffled), merge(sorted));
        }
    }

    fn turn_of(words: Vec<Word>) -> CallUpdate {
        CallUpdate {
            external_id: "c1".into(),
            stage: Stage::Ended,
            occurred_at: None,
            fields: CallFields {
                turns: Some(Turns::Here(vec![Turn {
                    speaker: Speaker::Agent,
                    text: "Hi there".into(),
                    start: Some(0.5),
                    end: Some(1.25),
                    words,
                }])),
                ..Default::default()
            },
        }
    }

    fn word(word: &str, start: f64, end: f64) -> Word {
        Word {
            word: word.into(),
            start,
            end,
        }
    }

    #[test]
    fn search_text_is_what_was_said_lower_case_without_labels_or_nul() {
        let turn = |speaker, text: &str| Turn {
            speaker,
            text: text.into(),
            start: None,
            end: None,
            words: Vec::new(),
        };
        let text = search_text(&[
            turn(Speaker::Agent, "Hello, ÉMILE"),
            turn(Speaker::Customer, "a\u{0}b\tc"),
        ]);
        assert_eq!(text, "hello, émile\na b c\n");
        assert!(!text.contains("agent") && !text.contains("customer"));
    }

    proptest! {
        #[test]
        fn searchable_text_is_the_same_by_bytes_as_by_chars(
            text in prop_oneof!["[ -~]{0,40}", "[ -~\t\u{0}\u{7f}]{0,40}", "\\PC{0,40}", ".{0,40}"]
        ) {
            let mut fast = String::new();
            push_searchable(&mut fast, &text);
            let by_chars: String = text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .flat_map(char::to_lowercase)
                .collect();
            prop_assert_eq!(fast, by_chars);
        }
    }

    #[test]
    fn stored_json_writes_words_compactly_and_reads_every_form() {
        let update = turn_of(vec![word("Hi", 0.5, 0.75), word("there", 0.8, 1.25)]);
        let stored = to_stored_json(&update);
        assert!(
            stored.contains(r#""words":{"w":"Hi there","ms":[500,250,50,450]}"#),
            "{stored}"
        );
        let named = serde_json::to_string(&update).unwrap();
        assert!(
            named.contains(r#"{"word":"Hi","start":0.5,"end":0.75}"#),
            "{named}"
        );
        let triples = named.replace(
            r#"[{"word":"Hi","start":0.5,"end":0.75},{"word":"there","start":0.8,"end":1.25}]"#,
            r#"[["Hi",0.5,0.75],["there",0.8,1.25]]"#,
        );
        assert_ne!(triples, named);
        assert!(named.len() > triples.len());
        for json in [&stored, &named, &triples] {
            assert_eq!(serde_json::from_str::<CallUpdate>(json).unwrap(), update);
        }
        for bad in [
            stored.replace("450]", "\"x\"]"),
            triples.replace("0.75]", "\"x\"]"),
            stored.replace(",450]", "]"),
            stored.replace(r#""ms""#, r#""mz""#),
        ] {
            assert!(bad != stored && bad != triples, "the test changes nothing");
            assert!(serde_json::from_str::<CallUpdate>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn words_the_compact_form_cannot_hold_are_stored_as_triples() {
        for words in [
            vec![word("Hi", 0.5, 0.75), word("the re", 0.8, 1.25)],
            vec![word("Hi", 0.5, 0.75), word("", 0.8, 1.25)],
            vec![word("Hi", 0.5, 0.7501), word("there", 0.8, 1.25)],
            vec![word("Hi", -0.0, 0.75)],
            // Past what milliseconds in an i64 can hold exactly.
            vec![word("Hi", 0.5, 1e13)],
        ] {
            let update = turn_of(words);
            let stored = to_stored_json(&update);
            assert!(stored.contains(r#""words":[["Hi","#), "{stored}");
            assert_eq!(serde_json::from_str::<CallUpdate>(&stored).unwrap(), update);
        }
    }

    proptest! {
        /// Whatever the words, the stored form reads back bit for bit as
        /// the plain JSON does (serde_json may move an arbitrary float's
        /// last bit, in both).
        #[test]
        fn stored_words_read_back_exactly(
            words in prop::collection::vec(
                (
                    prop_oneof!["[a-zA-Z,.?']{1,8}", ".{0,4}"],
                    prop_oneof![(-5_000_000i64..5_000_000).prop_map(|ms| ms as f64 / 1000.0), -1e9f64..1e9],
                    prop_oneof![(-5_000_000i64..5_000_000).prop_map(|ms| ms as f64 / 1000.0), -1e9f64..1e9],
                ),
                1..20,
            )
        ) {
            let update = turn_of(words.into_iter().map(|(w, start, end)| word(&w, start, end)).collect());
            let plain: CallUpdate = serde_json::from_str(&serde_json::to_string(&update).unwrap()).unwrap();
            let words = &plain.fields.turns_here().unwrap()[0].words;
            let back: CallUpdate = serde_json::from_str(&to_stored_json(&update)).unwrap();
            let turns = back.fields.turns_here().unwrap();
            prop_assert_eq!(turns[0].words.len(), words.len());
            for (a, b) in turns[0].words.iter().zip(words) {
                prop_assert_eq!(&a.word, &b.word);
                prop_assert_eq!(a.start.to_bits(), b.start.to_bits());
                prop_assert_eq!(a.end.to_bits(), b.end.to_bits());
            }
        }
    }

    #[test]
    fn a_panicking_serialiser_leaves_the_named_form_in_place() {
        struct Panics;
        impl Serialize for Panics {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                panic!("a serialiser failed")
            }
        }
        assert!(std::panic::catch_unwind(|| to_stored_json(&Panics)).is_err());
        let word = Word {
            word: "a".into(),
            start: 0.0,
            end: 1.0,
        };
        assert_eq!(
            serde_json::to_string(&word).unwrap(),
            r#"{"word":"a","start":0.0,"end":1.0}"#
        );
    }

    /// Found by review while fuzzing the parsers (fuzz/README.md): Retell
    /// timestamps are any i64, and the duration between two far-apart
    /// ones overflowed.
    #[test]
    fn far_apart_times_saturate_the_duration() {
        let f = CallFields {
            started_at: Some(-9_000_000_000_000_000_000),
            ended_at: Some(9_000_000_000_000_000_000),
            ..Default::default()
        };
        let (_, call) = merge(vec![update(Stage::Ended, 1, f)]);
        assert_eq!(call.duration_ms, Some(i64::MAX));
    }
}
