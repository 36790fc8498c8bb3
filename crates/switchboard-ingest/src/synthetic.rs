//! Deterministic synthetic calls, for `switchboard demo` (a few thousand
//! realistic calls per demo tenant, sent through the normal ingestion path)
//! and for the webhook load benchmark.
//!
//! A call is a two-speaker conversation assembled from per-industry phrase
//! banks, with word timings, a start time weighted towards business hours,
//! and a cost; [`to_call_json`] and [`to_retell_call_ended`] turn it into the
//! payloads the parsers in [`crate::providers`] accept. The same seed and
//! index always give the same call (for the locked `rand` version), so a demo
//! seeds idempotently and a benchmark replays the same load.
//!
//! Everything is fictional: invented names, emails at `example.com` and
//! `example.net`, and phone numbers in the `555-0100`–`555-0199` block that
//! North American numbering reserves for fiction in every area code.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use switchboard_core::IndustryTemplate;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::model::{Direction, Speaker, Turn, Word};
use Step::{Lookup, Optional, Pair};

/// A generated call, in the terms of the call model.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticCall {
    pub external_id: String,
    pub direction: Direction,
    /// E.164.
    pub from: String,
    pub to: String,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    /// A test call: a web call in Retell's terms.
    pub test: bool,
    /// Times in seconds from the start of the call, as in [`Turn`].
    pub turns: Vec<Turn>,
    /// In Retell's vocabulary (`agent_hangup`, `user_hangup`, …).
    pub disconnection_reason: String,
    /// US cents.
    pub cost_cents: i64,
}

/// Share of calls that are test calls (someone trying the agent out).
const TEST_SHARE: f64 = 0.08;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Every number is North American, so business hours are those of US
/// Eastern standard time; the generator knows no tenant's time zone.
const LOCAL_OFFSET_MS: i64 = -5 * HOUR_MS;
/// Roughly what a closing takes: no topic or optional exchange starts this
/// close to the target length.
const CLOSING_MS: i64 = 15_000;
/// Monday 2 March 2026, 10:00 Eastern: the benchmark call's fixed start.
const BENCHMARK_START_MS: i64 = 1_772_463_600_000;

/// The call number `index` of the stream `seed`, for a tenant of `industry`,
/// started within `[window_start_ms, window_end_ms)` and, when the window is
/// long enough, ended within it too.
pub fn generate(
    industry: IndustryTemplate,
    seed: u64,
    index: u64,
    window_start_ms: i64,
    window_end_ms: i64,
) -> SyntheticCall {
    let mut rng = rng_for(seed, index);
    let test = rng.gen_bool(TEST_SHARE);
    let direction = if rng.gen_bool(0.75) {
        Direction::Inbound
    } else {
        Direction::Outbound
    };
    // Skewed towards short calls as real call logs are. A call runs past
    // its target to finish the topic at hand: 1 to 8 minutes in the end.
    let target_ms = MINUTE_MS / 2 + (6.0 * MINUTE_MS as f64 * rng.gen::<f64>().powf(1.6)) as i64;
    let started_at_ms = busy_time(&mut rng, window_start_ms, window_end_ms);
    let mut call = compose(
        rng,
        Plan {
            industry,
            external_id: format!("syn-{}-{seed:x}-{index}", industry.as_str()),
            test,
            direction,
            target_ms,
            started_at_ms,
            pace: 1.0,
        },
    );
    let latest_start = window_end_ms - (call.ended_at_ms - call.started_at_ms);
    if call.started_at_ms > latest_start {
        let shift = latest_start.max(window_start_ms) - call.started_at_ms;
        call.started_at_ms += shift;
        call.ended_at_ms += shift;
    }
    call
}

/// A generic inbound phone call of 4.5 to 5.5 minutes, 700 to 900 words
/// and 50 to 70 turns, for benchmarks.
pub fn five_minute_call(seed: u64) -> SyntheticCall {
    // Conversations vary; the first of the seed's streams that has the
    // benchmark's shape gives every seed a comparable load.
    (0..)
        .map(|attempt| {
            compose(
                rng_for(seed, attempt),
                Plan {
                    industry: IndustryTemplate::Generic,
                    external_id: format!("syn-benchmark-{seed:x}"),
                    test: false,
                    direction: Direction::Inbound,
                    target_ms: 19 * MINUTE_MS / 4,
                    started_at_ms: BENCHMARK_START_MS,
                    // 800 words and 60 turns' pauses in five minutes: brisk talkers.
                    pace: 1.2,
                },
            )
        })
        .find(|call| {
            let words: usize = call.turns.iter().map(|t| t.words.len()).sum();
            let seconds = (call.ended_at_ms - call.started_at_ms) / 1000;
            (700..=900).contains(&words)
                && (50..=70).contains(&call.turns.len())
                && (270..=330).contains(&seconds)
        })
        .expect("some stream has the shape")
}

/// The call as Switchboard call JSON (docs/call-json.md), as
/// `POST /api/v1/calls` and Standard Webhooks senders send it.
pub fn to_call_json(call: &SyntheticCall, agent_id: Option<&str>) -> Value {
    let mut doc = json!({
        "external_id": call.external_id,
        "direction": call.direction.as_str(),
        "from": call.from,
        "to": call.to,
        "started_at": rfc3339(call.started_at_ms),
        "ended_at": rfc3339(call.ended_at_ms),
        "test": call.test,
        "turns": call.turns,
        "disconnection_reason": call.disconnection_reason,
        "cost": {"amount_minor": call.cost_cents, "currency": "USD"},
    });
    if let Some(agent_id) = agent_id {
        doc["agent_id"] = json!(agent_id);
    }
    doc
}

/// The call as the body of Retell's `call_ended` webhook. Test calls are web
/// calls, which in Retell have no phone numbers and no direction.
pub fn to_retell_call_ended(call: &SyntheticCall) -> Value {
    let mut transcript = String::new();
    let mut transcript_object = Vec::with_capacity(call.turns.len());
    for turn in &call.turns {
        let (role, label) = match turn.speaker {
            Speaker::Agent => ("agent", "Agent"),
            Speaker::Customer => ("user", "User"),
        };
        transcript.push_str(&format!("{label}: {}\n", turn.text));
        transcript_object.push(json!({"role": role, "content": turn.text, "words": turn.words}));
    }
    let (business_line, _) = lines(call);
    let mut body = json!({
        "call_id": call.external_id,
        // One agent per line, so the calls of an industry share an agent.
        "agent_id": format!("agent_{}", business_line.trim_start_matches('+')),
        "call_type": if call.test { "web_call" } else { "phone_call" },
        "call_status": "ended",
        "start_timestamp": call.started_at_ms,
        "end_timestamp": call.ended_at_ms,
        "duration_ms": call.ended_at_ms - call.started_at_ms,
        "transcript": transcript,
        "transcript_object": transcript_object,
        "disconnection_reason": call.disconnection_reason,
        "call_cost": {"combined_cost": call.cost_cents as f64},
    });
    if !call.test {
        body["direction"] = json!(call.direction.as_str());
        body["from_number"] = json!(call.from);
        body["to_number"] = json!(call.to);
    }
    json!({"event": "call_ended", "call": body})
}

/// The call as the body of Vapi's `end-of-call-report` server message. Vapi
/// reports turns without word timings and costs in dollars; test calls are
/// web calls, without phone numbers.
pub fn to_vapi_end_of_call_report(call: &SyntheticCall) -> Value {
    let messages: Vec<Value> = call
        .turns
        .iter()
        .map(|turn| {
            let role = match turn.speaker {
                Speaker::Agent => "bot",
                Speaker::Customer => "user",
            };
            let mut message = json!({"role": role, "message": turn.text});
            if let (Some(start), Some(end)) = (turn.start, turn.end) {
                message["secondsFromStart"] = json!(start);
                message["duration"] = json!((end - start) * 1000.0);
            }
            message
        })
        .collect();
    let kind = match call.direction {
        _ if call.test => "webCall",
        Direction::Inbound => "inboundPhoneCall",
        Direction::Outbound => "outboundPhoneCall",
    };
    let mut vapi_call = json!({"id": call.external_id, "type": kind});
    if !call.test {
        let (ours, theirs) = lines(call);
        vapi_call["phoneNumber"] = json!({"number": ours});
        vapi_call["customer"] = json!({"number": theirs});
    }
    let ended_reason = match call.disconnection_reason.as_str() {
        "user_hangup" => "customer-ended-call",
        "agent_hangup" => "assistant-ended-call",
        "call_transfer" => "assistant-forwarded-call",
        "inactivity" => "silence-timed-out",
        other => other,
    };
    json!({"message": {
        "type": "end-of-call-report",
        "timestamp": call.ended_at_ms,
        "call": vapi_call,
        "startedAt": rfc3339(call.started_at_ms),
        "endedAt": rfc3339(call.ended_at_ms),
        "durationMs": call.ended_at_ms - call.started_at_ms,
        "endedReason": ended_reason,
        "cost": call.cost_cents as f64 / 100.0,
        "artifact": {"messages": messages},
    }})
}

/// The business's number and the customer's, whichever way the call went.
fn lines(call: &SyntheticCall) -> (&str, &str) {
    match call.direction {
        Direction::Inbound => (&call.to, &call.from),
        Direction::Outbound => (&call.from, &call.to),
    }
}

/// One independent stream per `(seed, index)`: both go into the seed whole,
/// so no two pairs share a stream.
fn rng_for(seed: u64, index: u64) -> StdRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&index.to_le_bytes());
    StdRng::from_seed(bytes)
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .expect("synthetic times lie between the years 1 and 9999")
}

/// A time in `[start, end)`, more likely on weekdays in business hours.
fn busy_time(rng: &mut StdRng, start: i64, end: i64) -> i64 {
    if end <= start {
        return start;
    }
    // Rejection sampling; a window that is all night still gets its calls.
    let mut at = start;
    for _ in 0..32 {
        at = rng.gen_range(start..end);
        if rng.gen::<f64>() < call_volume(at) {
            break;
        }
    }
    at
}

/// Relative call volume at a time, 1 at its weekday-daytime peak.
fn call_volume(ms: i64) -> f64 {
    let local = ms + LOCAL_OFFSET_MS;
    let by_hour = match local.rem_euclid(DAY_MS) / HOUR_MS {
        9..=16 => 1.0,
        8 | 17 | 18 => 0.4,
        7 | 19 | 20 => 0.12,
        _ => 0.03,
    };
    // 1 January 1970 was a Thursday: 0 is Sunday, 6 Saturday.
    match (local.div_euclid(DAY_MS) + 4).rem_euclid(7) {
        0 | 6 => by_hour * 0.25,
        _ => by_hour,
    }
}

struct Plan {
    industry: IndustryTemplate,
    external_id: String,
    test: bool,
    direction: Direction,
    /// About how long the call should last; the topic at hand is finished.
    target_ms: i64,
    started_at_ms: i64,
    /// Speaking speed relative to the usual 2.5 words a second.
    pace: f64,
}

/// How the customer feels, which decides how often they react, how they
/// react, and how the call ends.
#[derive(Clone, Copy, PartialEq)]
enum Mood {
    Pleased,
    Neutral,
    Frustrated,
}

fn compose(rng: StdRng, plan: Plan) -> SyntheticCall {
    let bank = bank(plan.industry);
    let mut talk = Talk::new(rng, bank, plan.started_at_ms, plan.pace);
    let mut topics: Vec<&Topic> = bank.topics.iter().collect();
    topics.shuffle(&mut talk.rng);
    match plan.direction {
        Direction::Inbound => {
            let greeting = talk.pick(INBOUND_GREETINGS);
            talk.agent(greeting);
            let (hello, opener) = (talk.pick(HELLOS), talk.pick(topics[0].openers));
            talk.customer(&format!("{hello} {opener}"));
        }
        Direction::Outbound => {
            let (call_back, answer) = talk.pick(OUTBOUND_GREETINGS);
            talk.agent(call_back);
            talk.customer(answer);
            let returning = talk.pick(RETURNING_CALLS);
            talk.agent(returning);
            let thanks = talk.pick(THANKS_FOR_CALLING_BACK);
            let opener = talk.pick(topics[0].openers);
            talk.customer(&format!("{thanks} {opener}"));
        }
    }

    let time_up = |talk: &Talk| talk.now_ms + CLOSING_MS >= plan.target_ms;
    for (n, topic) in topics.iter().enumerate() {
        if n > 0 {
            if time_up(&talk) {
                break;
            }
            let anything_else = talk.pick(ANYTHING_ELSE);
            talk.agent(anything_else);
            let (more, opener) = (talk.pick(ONE_MORE_THING), talk.pick(topic.openers));
            talk.customer(&format!("{more} {opener}"));
        }
        // A topic once raised is seen through; only its optional parts give
        // way to the time.
        for step in topic.steps {
            match *step {
                Pair(agent, customer) => talk.exchange(agent, customer),
                Lookup if talk.rng.gen_bool(0.4) => talk.hold(),
                Optional(pairs) if !time_up(&talk) && talk.rng.gen_bool(0.75) => {
                    for &(agent, customer) in pairs {
                        talk.exchange(agent, customer);
                    }
                }
                Lookup | Optional(_) => {}
            }
        }
        if talk.rng.gen_bool(0.25) {
            let (agent, customer) = talk.pick(CONFIRMATIONS);
            talk.agent(agent);
            talk.customer(customer);
        }
    }

    let ending = talk.close(plan.direction);
    let duration_ms = talk.now_ms + talk.rng.gen_range(400..2_500);
    let cents_per_minute = talk.rng.gen_range(7..=12);
    let (customer, business) = (talk.cast.number, bank.line.to_owned());
    let (from, to) = match plan.direction {
        Direction::Inbound => (customer, business),
        Direction::Outbound => (business, customer),
    };
    SyntheticCall {
        external_id: plan.external_id,
        direction: plan.direction,
        from,
        to,
        started_at_ms: plan.started_at_ms,
        ended_at_ms: plan.started_at_ms + duration_ms,
        test: plan.test,
        turns: talk.turns,
        disconnection_reason: ending.to_owned(),
        // Providers bill started minutes.
        cost_cents: (duration_ms * cents_per_minute + MINUTE_MS - 1) / MINUTE_MS,
    }
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// The conversation so far, timed as it is said, and who is in it.
struct Talk {
    rng: StdRng,
    cast: Cast,
    mood: Mood,
    turns: Vec<Turn>,
    /// Milliseconds from the start of the call to the end of the latest word.
    now_ms: i64,
    /// The latest turn's speaker, start and end, in milliseconds.
    last: Option<(Speaker, i64, i64)>,
    /// Speaking speed relative to the average.
    agent_pace: f64,
    customer_pace: f64,
    /// What the agent says first next time, in answer to a reaction.
    agent_lead_in: Option<&'static str>,
    /// The line waits: the agent is looking something up, or the customer
    /// has gone quiet.
    on_hold: bool,
}

impl Talk {
    fn new(mut rng: StdRng, bank: &Bank, started_at_ms: i64, pace: f64) -> Self {
        let cast = Cast::new(&mut rng, bank, started_at_ms);
        let mood = match rng.gen_range(0..20) {
            0..=6 => Mood::Pleased,
            7..=14 => Mood::Neutral,
            _ => Mood::Frustrated,
        };
        Talk {
            cast,
            mood,
            turns: Vec::new(),
            // Connecting, and the agent drawing breath.
            now_ms: rng.gen_range(300..1_500),
            last: None,
            agent_pace: pace * rng.gen_range(0.95..1.08),
            customer_pace: pace * rng.gen_range(0.85..1.15),
            agent_lead_in: None,
            on_hold: false,
            rng,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        pick(&mut self.rng, items)
    }

    fn agent(&mut self, template: &str) {
        self.say(Speaker::Agent, template);
    }

    fn customer(&mut self, template: &str) {
        self.say(Speaker::Customer, template);
    }

    /// The agent asks the customer to wait while they look something up.
    fn hold(&mut self) {
        let (hold, ack) = self.pick(HOLDS);
        self.agent(hold);
        self.customer(ack);
        self.on_hold = true;
    }

    /// An agent line and the customer's answer, to which the customer
    /// sometimes adds how they feel, which the agent then acknowledges.
    fn exchange(&mut self, agent: &str, customer: &str) {
        self.agent(agent);
        let (positive, negative) = match self.mood {
            Mood::Pleased => (0.2, 0.0),
            Mood::Neutral => (0.05, 0.05),
            Mood::Frustrated => (0.0, 0.25),
        };
        let roll: f64 = self.rng.gen();
        let feeling = if customer.ends_with('?') {
            // A question wants its answer, not a feeling.
            None
        } else if roll < positive {
            Some((POSITIVE_REACTIONS, WELCOMES))
        } else if roll < positive + negative {
            Some((NEGATIVE_REACTIONS, APOLOGIES))
        } else {
            None
        };
        match feeling {
            Some((reactions, answers)) => {
                let reaction = self.pick(reactions);
                self.agent_lead_in = Some(self.pick(answers));
                self.customer(&format!("{customer} {reaction}"));
            }
            None => self.customer(customer),
        }
    }

    /// Ends the conversation; returns the disconnection reason.
    fn close(&mut self, direction: Direction) -> &'static str {
        let roll: f64 = self.rng.gen();
        if self.mood == Mood::Frustrated && roll < 0.35 {
            // Asked to wait once too often.
            let ((hold, _), hang_up) = (self.pick(HOLDS), self.pick(HANG_UPS));
            self.agent(hold);
            self.customer(hang_up);
            return "user_hangup";
        }
        if self.mood == Mood::Frustrated && roll < 0.55 {
            let (transfer, ack) = (self.pick(TRANSFERS), self.pick(TRANSFER_ACKS));
            self.agent(transfer);
            self.customer(ack);
            return "call_transfer";
        }
        let anything_else = self.pick(ANYTHING_ELSE);
        self.agent(anything_else);
        if roll > 0.97 {
            let inactivity = self.pick(INACTIVITY);
            self.on_hold = true;
            self.agent(inactivity);
            return "inactivity";
        }
        let goodbye = self.pick(match self.mood {
            Mood::Pleased => HAPPY_GOODBYES,
            Mood::Neutral => GOODBYES,
            Mood::Frustrated => GRUDGING_GOODBYES,
        });
        self.customer(goodbye);
        let farewell = self.pick(match direction {
            Direction::Inbound => INBOUND_FAREWELLS,
            Direction::Outbound => OUTBOUND_FAREWELLS,
        });
        self.agent(farewell);
        if self.mood == Mood::Frustrated || self.rng.gen_bool(0.35) {
            "user_hangup"
        } else {
            "agent_hangup"
        }
    }

    /// Says a line, its placeholders filled.
    fn say(&mut self, speaker: Speaker, template: &str) {
        let mut text = fill(template, &self.cast, &mut self.rng);
        if speaker == Speaker::Agent {
            if let Some(lead_in) = self.agent_lead_in.take() {
                text = format!("{lead_in} {text}");
            }
        }
        let start = self.turn_start(speaker);
        let pace = match speaker {
            Speaker::Agent => self.agent_pace,
            Speaker::Customer => self.customer_pace,
        };
        let (words, end) = timed_words(&mut self.rng, &text, start, pace);
        self.now_ms = self.now_ms.max(end);
        self.last = Some((speaker, start, end));
        self.turns.push(Turn {
            speaker,
            text,
            start: Some(seconds(start)),
            end: Some(seconds(end)),
            words,
        });
    }

    fn turn_start(&mut self, speaker: Speaker) -> i64 {
        let Some((last_speaker, last_start, last_end)) = self.last else {
            return self.now_ms;
        };
        let rng = &mut self.rng;
        if std::mem::take(&mut self.on_hold) {
            return self.now_ms + rng.gen_range(3_000..9_000);
        }
        let barge_in = match (speaker, self.mood) {
            (Speaker::Agent, _) => 0.01,
            (Speaker::Customer, Mood::Frustrated) => 0.12,
            (Speaker::Customer, _) => 0.04,
        };
        if speaker != last_speaker && rng.gen_bool(barge_in) {
            // Cutting in near the end of the other side's turn, never before
            // its middle.
            (last_end - rng.gen_range(150..700)).max((last_start + last_end) / 2)
        } else if rng.gen_bool(0.03) {
            // Thinking, or finding a document.
            self.now_ms + rng.gen_range(3_000..6_000)
        } else {
            self.now_ms + rng.gen_range(150..1_100)
        }
    }
}

/// Times the words of `text` said from `start_ms` at `pace`; returns them
/// and when the last one ends. Long words and numbers take longer, and
/// punctuation is a breath.
fn timed_words(rng: &mut StdRng, text: &str, start_ms: i64, pace: f64) -> (Vec<Word>, i64) {
    let mut words = Vec::new();
    let mut at = start_ms;
    let mut end = start_ms;
    let mut tokens = text.split_whitespace().peekable();
    while let Some(token) = tokens.next() {
        // A digit is said as a whole word ("four", "seven").
        let sounds: f64 = token
            .chars()
            .map(|c| match c {
                '0'..='9' => 4.0,
                c if c.is_alphabetic() => 1.0,
                _ => 0.0,
            })
            .sum();
        let spoken = ((105.0 + 49.0 * sounds) / pace * rng.gen_range(0.85..1.15)) as i64;
        end = at + spoken.max(80);
        words.push(Word {
            word: token.into(),
            start: seconds(at),
            end: seconds(end),
        });
        at = end + rng.gen_range(10..60);
        if tokens.peek().is_some() {
            match token.chars().last() {
                Some(',' | ';') => at += rng.gen_range(100..250),
                Some('.' | '?' | '!') => at += rng.gen_range(200..450),
                _ => {}
            }
        }
    }
    (words, end)
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The people and facts of one call, which its lines mention.
struct Cast {
    company: &'static str,
    agent: &'static str,
    first: &'static str,
    last: &'static str,
    email: String,
    other_email: String,
    /// The customer's number, E.164.
    number: String,
    other_phone: String,
    policy: String,
    reference: String,
    address: String,
    /// An appointment or viewing time, said more than once.
    time: &'static str,
    asking_cents: i64,
    offer_cents: i64,
    /// The call's start, local time, for relative dates.
    local_start_ms: i64,
}

impl Cast {
    fn new(rng: &mut StdRng, bank: &Bank, started_at_ms: i64) -> Self {
        let first = pick(rng, FIRST_NAMES);
        let last = pick(rng, LAST_NAMES);
        let domain = pick(rng, &["example.com", "example.net"]);
        let email = if rng.gen_bool(0.7) {
            format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase())
        } else {
            format!(
                "{}{}{}@{domain}",
                first.to_lowercase(),
                last.to_lowercase(),
                rng.gen_range(1..100)
            )
        };
        let other_email = format!(
            "{}{}@example.net",
            first[..1].to_lowercase(),
            last.to_lowercase()
        );
        // Steps of $5,000.
        let asking_cents = rng.gen_range(60..180) * 500_000;
        Cast {
            company: bank.company,
            agent: pick(rng, AGENT_NAMES),
            first,
            last,
            email,
            other_email,
            number: fictional_number(rng),
            other_phone: spoken_number(&fictional_number(rng)),
            policy: format!(
                "{}-{}",
                bank.policy_prefix,
                rng.gen_range(100_000..1_000_000)
            ),
            reference: format!(
                "{}{}-{}",
                char::from(b'A' + rng.gen_range(0..26)),
                char::from(b'A' + rng.gen_range(0..26)),
                rng.gen_range(10_000..100_000)
            ),
            address: format!("{} {}", rng.gen_range(2..480), pick(rng, STREETS)),
            time: pick(rng, TIMES),
            asking_cents,
            offer_cents: asking_cents - rng.gen_range(1..7) * 500_000,
            local_start_ms: started_at_ms + LOCAL_OFFSET_MS,
        }
    }

    /// The text of a placeholder; amounts and dates differ at each use.
    fn value(&self, key: &str, rng: &mut StdRng) -> String {
        match key {
            "company" => self.company.to_owned(),
            "agent" => self.agent.to_owned(),
            "first" => self.first.to_owned(),
            "name" => format!("{} {}", self.first, self.last),
            "email" => self.email.clone(),
            "other_email" => self.other_email.clone(),
            "phone" => spoken_number(&self.number),
            "other_phone" => self.other_phone.clone(),
            "policy" => self.policy.clone(),
            "reference" => self.reference.clone(),
            "address" => self.address.clone(),
            "time" => self.time.to_owned(),
            "asking" => dollars(self.asking_cents),
            "offer" => dollars(self.offer_cents),
            "amount" => {
                let cents = [0, 50, 99][rng.gen_range(0..3)];
                dollars(rng.gen_range(180..2_400) * 100 + cents)
            }
            "monthly" => dollars(rng.gen_range(1_800..14_000)),
            "small" => dollars(rng.gen_range(1..9) * 500),
            "deposit" => dollars(rng.gen_range(20..120) * 50_000),
            "tax" => dollars(rng.gen_range(24..98) * 10_000),
            "date" => self.day(rng.gen_range(1..30)),
            "past" => self.day(-rng.gen_range(1..20)),
            "daypart" => match self.local_start_ms.rem_euclid(DAY_MS) / HOUR_MS {
                0..=11 => "morning",
                12..=16 => "afternoon",
                _ => "evening",
            }
            .to_owned(),
            _ => panic!("no placeholder {{{key}}}"),
        }
    }

    /// "Tuesday, March 10th", `days` from the call.
    fn day(&self, days: i64) -> String {
        let t = OffsetDateTime::from_unix_timestamp((self.local_start_ms + days * DAY_MS) / 1000)
            .expect("synthetic times lie between the years 1 and 9999");
        let day = t.day();
        let suffix = match (day % 10, day) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        format!("{}, {} {day}{suffix}", t.weekday(), t.month())
    }
}

/// Replaces each `{placeholder}` of a template.
fn fill(template: &str, cast: &Cast, rng: &mut StdRng) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').expect("placeholders are closed");
        out.push_str(&cast.value(&rest[open + 1..close], rng));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A customer's number: `555-01xx` after a real area code. `0100` is left
/// to the businesses.
fn fictional_number(rng: &mut StdRng) -> String {
    format!(
        "+1{}55501{:02}",
        pick(rng, AREA_CODES),
        rng.gen_range(10..100)
    )
}

/// `+14155550142` as a transcript writes it: `415-555-0142`.
fn spoken_number(e164: &str) -> String {
    let d = &e164[2..];
    format!("{}-{}-{}", &d[..3], &d[3..6], &d[6..])
}

/// `$1,284.50`, or `$1,284` for whole dollars.
fn dollars(cents: i64) -> String {
    let whole = (cents / 100).to_string();
    let mut out = String::from("$");
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if cents % 100 != 0 {
        out.push_str(&format!(".{:02}", cents % 100));
    }
    out
}

struct Bank {
    company: &'static str,
    /// The business's own number, E.164.
    line: &'static str,
    policy_prefix: &'static str,
    topics: &'static [Topic],
}

/// One reason to call: how the customer raises it, then what follows. A
/// customer's question is answered by the next `Pair` (a `Lookup` aside), so
/// skipping an `Optional` never leaves one open.
struct Topic {
    openers: &'static [&'static str],
    steps: &'static [Step],
}

enum Step {
    /// An agent line and the customer's answer.
    Pair(&'static str, &'static str),
    /// Where the agent may put the customer on hold to look something up.
    Lookup,
    /// Exchanges said together or not at all.
    Optional(&'static [(&'static str, &'static str)]),
}

fn bank(industry: IndustryTemplate) -> &'static Bank {
    match industry {
        IndustryTemplate::Insurance => &INSURANCE,
        IndustryTemplate::RealEstate => &REAL_ESTATE,
        IndustryTemplate::Generic => &GENERIC,
    }
}

const AREA_CODES: &[&str] = &[
    "202", "206", "212", "303", "305", "312", "404", "415", "503", "512", "602", "612", "615",
    "617", "702", "919",
];
const FIRST_NAMES: &[&str] = &[
    "Marlowe",
    "Tansy",
    "Orrin",
    "Dorcas",
    "Ambrose",
    "Philippa",
    "Caspian",
    "Hester",
    "Rufus",
    "Winifred",
    "Bartholomew",
    "Clementine",
    "Ignatius",
    "Prudence",
    "Thaddeus",
    "Odessa",
    "Percival",
    "Juniper",
    "Cornelius",
    "Marigold",
];
const LAST_NAMES: &[&str] = &[
    "Quickfoot",
    "Bellweather",
    "Puddlecombe",
    "Fiddlewick",
    "Thistlewood",
    "Crumbleton",
    "Wobblestone",
    "Mossbottom",
    "Larkwhistle",
    "Applethorn",
    "Quillby",
    "Nettlefold",
    "Pebbleworth",
    "Bramblecote",
    "Tumbleford",
    "Gorsewhistle",
];
const AGENT_NAMES: &[&str] = &["Wren", "Juno", "Sable", "Tamsin", "Quill", "Rowan"];
const STREETS: &[&str] = &[
    "Quince Lantern Way",
    "Marrowbrook Lane",
    "Tumbleweed Court",
    "Juniper Hollow Road",
    "Old Fiddler Street",
    "Sparrowgate Avenue",
    "Pennywhistle Drive",
    "Lantern Moss Circle",
];
const TIMES: &[&str] = &["1:30", "2:00", "2:45", "3:15", "4:00", "10:45", "11:15"];

const INBOUND_GREETINGS: &[&str] = &[
    "Thank you for calling {company}, this is {agent}. How can I help you today?",
    "Good {daypart}, you've reached {company}. My name is {agent}. What can I do for you?",
    "Hi, thanks for calling {company}. This is {agent}, how may I help?",
];
const HELLOS: &[&str] = &["Hi.", "Hi there.", "Hello, yes.", "Oh, hi."];
/// The agent's opening of a call back, and the customer's answer.
const OUTBOUND_GREETINGS: &[(&str, &str)] = &[
    (
        "Hi, this is {agent} calling from {company}. Am I speaking with {first}?",
        "Yes, speaking.",
    ),
    (
        "Good {daypart}, this is {agent} from {company}. Is this {first}?",
        "Yes, this is {first}. Who's calling?",
    ),
];
const RETURNING_CALLS: &[&str] = &[
    "I'm returning your call from earlier today. How can I help?",
    "You left us a message asking for a call back. What can I do for you?",
];
const THANKS_FOR_CALLING_BACK: &[&str] = &[
    "Oh, thanks for calling back.",
    "Right, thank you for getting back to me.",
];
const ANYTHING_ELSE: &[&str] = &[
    "Is there anything else I can help you with today?",
    "Was there anything else you needed?",
    "Is there anything else I can do for you?",
];
const ONE_MORE_THING: &[&str] = &[
    "Actually, yes, one more thing.",
    "Yes, there is something else.",
    "Now that I have you, yes.",
];
/// The agent looking something up, and the customer agreeing to wait.
const HOLDS: &[(&str, &str)] = &[
    ("Let me look that up for you. One moment, please.", "Sure."),
    ("Bear with me while I check that.", "Okay, no problem."),
    (
        "Give me just a second to pull up your account.",
        "Take your time.",
    ),
];
const CONFIRMATIONS: &[(&str, &str)] = &[
    (
        "Just to confirm, the best number to reach you is {phone}, is that right?",
        "Yes, that's the one.",
    ),
    (
        "Just to confirm, the best number to reach you is {phone}, is that right?",
        "Actually, it's better to use my work number, {other_phone}.",
    ),
    (
        "And I have your email as {email}. Is that still current?",
        "Yes, that's correct.",
    ),
    (
        "And I have your email as {email}. Is that still current?",
        "No, I changed it recently. It's {other_email} now.",
    ),
    (
        "Can I note down a backup number, just in case?",
        "Sure, you can use {other_phone}.",
    ),
];
/// Said after any statement, so they are about the call as a whole.
const POSITIVE_REACTIONS: &[&str] = &[
    "By the way, you've been really helpful, thank you.",
    "I have to say, this has been much easier than I expected.",
    "Thanks for being so patient with me, I really appreciate it.",
    "Honestly, this is great service. Thank you.",
];
const WELCOMES: &[&str] = &[
    "Thank you, that's kind of you to say.",
    "Happy to help.",
    "I'm glad to hear that.",
];
const NEGATIVE_REACTIONS: &[&str] = &[
    "I have to say, this whole process has been really frustrating.",
    "Honestly, I've spent way too long trying to get this sorted out.",
    "I'm not happy with how this has been handled so far.",
    "This is the third time I've had to call about this, which is ridiculous.",
    "I expected much better service, to be honest. This is disappointing.",
];
const APOLOGIES: &[&str] = &[
    "I completely understand, and I'm sorry for the trouble.",
    "I hear you, and I apologize. Let's get this sorted out.",
    "I'm sorry, that's not the experience we want you to have.",
];
const HANG_UPS: &[&str] = &[
    "Honestly, I've spent long enough on this call. Forget it, I'll call back when someone can actually help.",
    "No, I'm not waiting any longer. This is going nowhere.",
];
const TRANSFERS: &[&str] = &[
    "I'm going to transfer you to one of our specialists who can look into this further. Please stay on the line.",
    "Let me connect you with a supervisor who can help with this. One moment while I transfer you.",
];
const TRANSFER_ACKS: &[&str] = &["Fine.", "Okay, finally.", "Alright, thank you."];
const INACTIVITY: &[&str] = &[
    "Are you still there? I haven't heard anything for a while, so I'll end the call now. Feel free to call back any time.",
];
const HAPPY_GOODBYES: &[&str] = &[
    "No, that's everything. You've been a big help, thank you!",
    "No, that's all. Thanks so much, this was really easy.",
];
const GOODBYES: &[&str] = &[
    "No, that's everything. Thanks.",
    "No, I think that's all for now.",
];
const GRUDGING_GOODBYES: &[&str] = &[
    "No. I just hope this actually gets sorted out this time.",
    "No, that's it. I'll be checking that this really gets done.",
];
const INBOUND_FAREWELLS: &[&str] = &[
    "You're welcome, {first}. Thank you for calling {company}, and have a great day.",
    "Thanks for calling, {first}. Take care.",
];
const OUTBOUND_FAREWELLS: &[&str] = &[
    "Thank you for your time, {first}. Have a wonderful rest of your day.",
    "Thanks, {first}. Enjoy the rest of your {daypart}.",
];

const INSURANCE: Bank = Bank {
    company: "Larkspur Mutual",
    line: "+12125550100",
    policy_prefix: "LM",
    topics: &[
        Topic {
            openers: &[
                "I got a letter saying my home policy is up for renewal and the premium went up. I'd like to understand why.",
                "My policy is up for renewal next month and I want to go over it before it renews.",
            ],
            steps: &[
                Pair("I can help with that. Could I have your policy number, please?", "Yes, it's {policy}."),
                Lookup,
                Pair("Thank you. I see your policy renews on {date}, and the new annual premium is {amount}.", "That's quite a bit more than last year. What changed?"),
                Pair("Premiums in your area went up about six percent this year, mostly because repair costs have increased.", "Okay, I guess that makes sense, but it's still a lot."),
                Optional(&[
                    ("One option is raising your deductible from five hundred to one thousand dollars.", "Hmm, how much would I actually save?"),
                    ("That works out to a saving of about {small} a month.", "Alright. Let me think about the deductible, but please go ahead with the renewal."),
                ]),
                Optional(&[("Would you like to keep paying by automatic withdrawal on the first of the month?", "Yes, keep it the same as before.")]),
                Pair("Perfect. I'll send the renewal documents to {email}. Is that still the best address?", "Yes, that's right."),
                Pair("Your renewal is confirmed and your coverage continues without any gap.", "Good, thanks. That's one less thing to worry about."),
            ],
        },
        Topic {
            openers: &[
                "I need to file a claim. A pipe burst in my kitchen last night and there's water everywhere.",
                "We had a leak from the upstairs bathroom and the kitchen ceiling is damaged. I need to start a claim.",
            ],
            steps: &[
                Pair("I'm sorry to hear that. First of all, is everyone safe?", "Yes, everyone's fine, thankfully. It's just the mess."),
                Pair("Good. Can you give me your policy number or the phone number on the account?", "The phone number is {phone}."),
                Lookup,
                Pair("Thank you, I found your policy. Can you describe the damage?", "It's mostly the floor and the lower cabinets. The water got under the tiles."),
                Optional(&[
                    ("Have you taken any photos of the damage?", "Yes, I took about a dozen photos this morning."),
                    ("Great. You can upload them through the link I'll send to {email}.", "Okay, I'll do that tonight."),
                ]),
                Pair("An adjuster will contact you within two business days, and most claims like this are settled within three weeks.", "Three weeks? I really can't wait that long without a kitchen."),
                Optional(&[("Your policy includes additional living expenses up to {amount} while the repairs are done.", "Oh, that's good to know. That helps a lot.")]),
                Optional(&[("Your deductible on this claim is five hundred dollars, which comes off the settlement.", "Okay, that's what I expected.")]),
                Pair("Your claim number is {reference}. Please keep it handy for any follow up.", "Got it, {reference}. Thank you."),
            ],
        },
        Topic {
            openers: &[
                "I'm shopping around for car insurance and wanted to get a quote.",
                "I just bought a house and I need a homeowners insurance quote.",
            ],
            steps: &[
                Pair("Happy to help. Can I get your full name?", "Sure, it's {name}."),
                Pair("Thanks, {first}. What's the best email to send the quote to?", "You can use {email}."),
                Pair("And what's the address of the property, or where the car is kept?", "It's {address}."),
                Pair("How many years have you been insured without a claim?", "About eight years, no claims at all."),
                Lookup,
                Pair("That qualifies you for our claims-free discount. Based on what you've told me, the estimate is {amount} a year.", "That's a lot better than what I'm paying now."),
                Optional(&[
                    ("If you bundle home and auto, you'd save another twelve percent.", "Interesting. Can you include that in the quote?"),
                    ("Absolutely, I've added the bundle option to the quote.", "Great, thanks."),
                ]),
                Pair("The quote is valid for thirty days, until {date}.", "Perfect, I'll look it over this week."),
                Optional(&[("Would you like me to schedule a call with a licensed agent to go through it?", "Yes, maybe on {date} in the afternoon.")]),
            ],
        },
        Topic {
            openers: &[
                "I have a question about what my home policy actually covers.",
                "I'm reviewing my home insurance and I'm not sure what's covered and what isn't.",
            ],
            steps: &[
                Pair("Of course. Could you confirm your policy number?", "It's {policy}."),
                Pair("Thank you. What would you like to know about your coverage?", "Does my policy cover water damage from a flood?"),
                Lookup,
                Pair("Standard homeowners policies cover sudden water damage, like a burst pipe, but not flooding from outside.", "Really? Nobody told me that when I signed up. That's pretty disappointing."),
                Pair("Flood coverage is available as a separate add-on, starting at about {monthly} a month.", "Okay, can you send me the details?"),
                Pair("Of course, I'll email them to {email} today.", "Thanks. And is my liability coverage high enough?"),
                Pair("Your personal liability limit is three hundred thousand dollars. Many customers with a home your size choose five hundred thousand.", "What would that cost?"),
                Pair("The difference is about {small} a month.", "That sounds reasonable. Let me think about it and call back."),
                Optional(&[
                    ("Is there anything else about your coverage you'd like to check?", "Yes, does my car insurance work if I drive into Canada next month?"),
                    ("Your auto coverage applies in the United States and Canada, but not further abroad.", "Good to know, that's a relief."),
                ]),
            ],
        },
        Topic {
            openers: &[
                "I want to cancel my policy.",
                "I'd like to cancel my auto policy. I've found a better deal somewhere else.",
            ],
            steps: &[
                Pair("I can help with that. Can I ask what made you decide to leave?", "Mostly the price. The other company is about {small} a month cheaper."),
                Optional(&[("I understand. Before you go, would you like me to check whether you qualify for any discounts?", "No thanks, I've already made up my mind.")]),
                Pair("Okay. When would you like the cancellation to take effect?", "Starting {date}, please."),
                Lookup,
                Pair("Since you paid annually, you'll receive a prorated refund of {amount}.", "How long will the refund take?"),
                Pair("The refund goes back to your original payment method within seven to ten business days.", "Ten business days seems slow, but fine."),
                Pair("I've processed the cancellation. The confirmation number is {reference}.", "Can you send that to my email as well?"),
                Pair("Of course, it'll go to {email} within the hour.", "Thanks."),
            ],
        },
    ],
};

const REAL_ESTATE: Bank = Bank {
    company: "Cobalt Ridge Realty",
    line: "+13125550100",
    policy_prefix: "CR",
    topics: &[
        Topic {
            openers: &[
                "I saw the listing for the three bedroom house on {address} and I'd like to see it.",
                "I'm interested in scheduling a viewing for the two bedroom house on {address}.",
            ],
            steps: &[
                Pair("Great choice, that one has had a lot of interest. Are you working with an agent already?", "No, not yet. This is my first time buying."),
                Pair("No problem at all. We have open viewing slots on {date}. Would the morning or the afternoon suit you better?", "The afternoon would be better, around {time} if possible."),
                Pair("{time} works. Can I get a phone number in case anything changes?", "Sure, it's {phone}."),
                Optional(&[("And an email for the confirmation?", "It's {email}.")]),
                Optional(&[("Will anyone be joining you for the viewing?", "My partner will come along, yes.")]),
                Pair("Parking is available in the driveway, and the agent will meet you at the front door.", "Sounds good. Is there already an offer on it?"),
                Lookup,
                Pair("Not yet, but the seller expects offers by the end of next week.", "Okay, that's tight, but we'll see how the viewing goes."),
                Optional(&[("I'll also send you two similar listings nearby, in case this one goes quickly.", "Yes please, that would be great.")]),
            ],
        },
        Topic {
            openers: &[
                "We'd like to make an offer on the house on {address}.",
                "We saw the house on {address} last weekend and we'd like to put in an offer.",
            ],
            steps: &[
                Pair("Wonderful. What price are you thinking of offering?", "We were thinking {offer}."),
                Lookup,
                Pair("The asking price is {asking}, so that's a little under. Is there any flexibility?", "Maybe a little, but we're already stretching our budget."),
                Optional(&[("Do you have a mortgage pre-approval letter?", "Yes, we got pre-approved last month.")]),
                Optional(&[
                    ("Sellers usually prefer offers with fewer conditions. Would you consider waiving the inspection?", "No, we definitely want an inspection. We've heard too many horror stories."),
                    ("That's completely reasonable, I'll keep it as a condition.", "Thanks, I appreciate that."),
                ]),
                Pair("How much would you put down as a deposit?", "We could do {deposit}."),
                Pair("I'll draft the offer and send it to {email} for your signature today.", "Thank you. How soon will we hear back?"),
                Pair("The seller has forty-eight hours to respond, so you should hear by {date}.", "Okay. I'm honestly a bit nervous about this."),
                Pair("That's normal. I'll call you the minute I hear anything.", "Thank you, I appreciate that."),
            ],
        },
        Topic {
            openers: &[
                "I'd like to get pre-approved for a mortgage before I start looking at houses.",
                "I'm thinking about buying my first home and I want to know how much I could borrow.",
            ],
            steps: &[
                Pair("Happy to help. Is this your first home purchase?", "Yes, it is."),
                Pair("What price range are you looking at?", "Somewhere around {asking}."),
                Pair("And how much are you planning to put down?", "About {deposit}, maybe a little more."),
                Pair("We'll need two recent pay stubs, last year's tax return, and two months of bank statements.", "That's a lot of paperwork. Can I send it all by email?"),
                Pair("You can upload everything securely through the link I'll send to {email}.", "Okay, great."),
                Optional(&[
                    ("Our partner lender reviews it and usually responds within three business days.", "Is there a fee for the pre-approval?"),
                    ("No, the pre-approval itself is free, and it doesn't commit you to anything.", "Oh, that's good. I was worried about that."),
                ]),
                Lookup,
                Pair("Current rates for a thirty year fixed loan are around six and a half percent.", "Wow, that's higher than I expected. That's really discouraging."),
                Optional(&[("Rates change often, and you can lock one in for sixty days once you're approved.", "Okay, that's something at least.")]),
            ],
        },
        Topic {
            openers: &[
                "I have a few questions about the listing on {address}.",
                "I'm calling about the townhouse on {address}. Is it still available?",
            ],
            steps: &[
                Pair("Sure, it's still available. What would you like to know?", "How old is the roof?"),
                Lookup,
                Pair("The roof was replaced about four years ago, and it comes with a transferable warranty.", "Oh nice, that's good to hear."),
                Pair("Anything else I can tell you about it?", "What are the property taxes and the HOA fees?"),
                Lookup,
                Pair("The property taxes were {tax} last year, and the HOA fee is {monthly} a month.", "The HOA fee seems steep. What does it cover?"),
                Pair("It covers landscaping, snow removal, the pool, and exterior maintenance.", "Okay, that makes it a bit more reasonable."),
                Optional(&[
                    ("The sale also includes the washer, the dryer and all the kitchen appliances.", "Is the basement finished? The photos weren't clear."),
                    ("Yes, it was finished three years ago and has a small office.", "Perfect, that's exactly what I need for working from home."),
                ]),
                Pair("I can send the full disclosure packet to {email}.", "Yes, please do."),
            ],
        },
    ],
};

const GENERIC: Bank = Bank {
    company: "Tinkerwell Home Services",
    line: "+14155550100",
    policy_prefix: "TW",
    topics: &[
        Topic {
            openers: &[
                "I'd like to book an appointment for someone to come and look at my heating, please.",
                "I need to reschedule my heating service appointment, something came up at work.",
            ],
            steps: &[
                Pair("Of course. Can I have your name and phone number?", "Sure, it's {name}, and my number is {phone}."),
                Pair("Thank you, {first}. What day works best for you?", "Do you have anything on {date}? Mornings are difficult for me, so ideally the afternoon."),
                Lookup,
                Pair("I have openings at 9:30 and {time} on that day.", "{time} would be perfect, I can be home by then."),
                Optional(&[("Great. Can you tell me a bit about the problem?", "It makes a strange clicking noise when it starts up, and the radiators take ages to warm up.")]),
                Optional(&[
                    ("The visit usually takes about forty-five minutes. There's a {small} deposit, refunded when the technician arrives.", "A deposit? I didn't know about that, nobody mentioned it last time."),
                    ("It's only there to reduce missed appointments, and you get it back in full.", "Okay, that's fine then, as long as it comes back."),
                ]),
                Optional(&[("Will someone be at home to let the technician in?", "Yes, I'll be there, and my neighbor has a spare key just in case.")]),
                Pair("I'll send a confirmation to {email}, plus a text reminder the day before.", "Great, thank you. The text reminder is really useful."),
                Optional(&[("If you need to change it, just reply to the text or call us at least a day ahead.", "Got it, I'll make sure to let you know if anything changes.")]),
            ],
        },
        Topic {
            openers: &[
                "What are your opening hours this week? I want to come by the showroom.",
                "Are you open on the holiday weekend? I couldn't find it on the website.",
            ],
            steps: &[
                Pair("We're open Monday to Friday from eight to six, and Saturdays from nine to two.", "And what about Sundays? That's usually when I have time."),
                Pair("We're closed on Sundays, unfortunately.", "That's a shame, Sunday is really the only day I'm free."),
                Optional(&[("On {date} we close early at three because of the holiday.", "Okay, good to know, I'll make sure to come before then.")]),
                Optional(&[("We also have extended hours until eight on Thursdays.", "Oh, Thursday evening could actually work for me after work.")]),
                Pair("Is there anything specific you were planning to come in for?", "I need to pick up an order, and I wanted to look at replacement filters."),
                Pair("For pickups, you can also use the after-hours locker, which is available any time.", "Oh, that's really convenient. I didn't know that existed."),
                Optional(&[
                    ("You'll get a locker code by text to {phone} when your order is ready.", "Perfect, thanks. How long does the code stay valid?"),
                    ("The code is valid for five days, and we'll send a reminder after three.", "Great, that gives me plenty of time."),
                ]),
            ],
        },
        Topic {
            openers: &[
                "I'm calling about my order. It was supposed to arrive on {past} and it still isn't here.",
                "I wanted to check the status of an order I placed last week, I haven't had any updates.",
            ],
            steps: &[
                Pair("I'm sorry about that. Do you have your order number?", "Yes, just a second, it's {reference}."),
                Lookup,
                Pair("Thank you. I can see the order shipped on {past} and is with the courier.", "Then why hasn't it arrived yet? The tracking page hasn't changed in days."),
                Pair("It looks like it was delayed at the regional depot because of high volume.", "That's really annoying. I needed it for this weekend, we have guests coming."),
                Pair("I can upgrade the delivery to express at no cost.", "Okay, that would help. When would it arrive with express?"),
                Pair("With express, it should be with you by {date}.", "Alright. Can I get tracking updates so I know when to be home?"),
                Pair("Yes, tracking updates will go to {email} and by text to {phone}.", "Good, thank you."),
                Optional(&[
                    ("Would you like the courier to leave it with a neighbor if you're out?", "Yes, or on the porch, it's covered."),
                    ("I've added a note that it can be left on the porch or with a neighbor.", "Great, thanks."),
                ]),
                Optional(&[("I've also added a {small} credit to your account for the inconvenience.", "Oh, that's nice of you. Thank you, I wasn't expecting that.")]),
            ],
        },
        Topic {
            openers: &[
                "I want to make a complaint. I was billed twice for the same visit.",
                "I was charged twice for the same order and nobody has fixed it yet.",
            ],
            steps: &[
                Pair("I'm really sorry to hear that. Can you tell me what happened?", "I was charged {amount} twice on {past}, and I've already called about it once."),
                Pair("I apologize that it wasn't resolved the first time. Can I have the email on your account?", "It's {email}."),
                Lookup,
                Pair("Thank you. I can see both charges. The second one should have been reversed automatically.", "Well, it wasn't. This is ridiculous, it's been over a week."),
                Pair("You're right, and I'm sorry. I'm issuing the refund for the duplicate charge right now.", "How long will that take to actually show up on my card?"),
                Pair("It should appear on your statement within three to five business days.", "Fine. But I expect it to actually happen this time, not just another promise."),
                Optional(&[("I've flagged your account so a supervisor will confirm the refund by {date}.", "Okay. I appreciate you actually doing something about it.")]),
                Optional(&[
                    ("Is there anything else about the service itself that went wrong?", "The technician was late and left a mess in the hallway, to be honest."),
                    ("I'm sorry about that too. I'll pass it on to the team manager so it doesn't happen again.", "Thank you, that's all I wanted, really."),
                ]),
                Pair("Your reference number for this complaint is {reference}.", "Thank you, I've written it down."),
            ],
        },
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{retell, switchboard, vapi};
    use switchboard_core::{AgentId, E164};

    const INDUSTRIES: [IndustryTemplate; 3] = [
        IndustryTemplate::Insurance,
        IndustryTemplate::RealEstate,
        IndustryTemplate::Generic,
    ];
    /// 1 to 31 March 2026.
    const MARCH: (i64, i64) = (1_772_323_200_000, 1_774_915_200_000);

    fn call(industry: IndustryTemplate, seed: u64, index: u64) -> SyntheticCall {
        generate(industry, seed, index, MARCH.0, MARCH.1)
    }

    fn word_count(call: &SyntheticCall) -> usize {
        call.turns.iter().map(|t| t.words.len()).sum()
    }

    #[test]
    fn the_same_seed_gives_the_same_call() {
        for industry in INDUSTRIES {
            for index in 0..20 {
                assert_eq!(call(industry, 7, index), call(industry, 7, index));
                assert_ne!(
                    call(industry, 7, index).turns,
                    call(industry, 8, index).turns
                );
                assert_ne!(
                    call(industry, 7, index).turns,
                    call(industry, 7, index + 1).turns
                );
            }
        }
        assert_eq!(five_minute_call(3), five_minute_call(3));
        assert_ne!(five_minute_call(3).turns, five_minute_call(4).turns);
    }

    #[test]
    fn calls_parse_as_call_json_unchanged() {
        let agent = AgentId::generate().to_string();
        for industry in INDUSTRIES {
            for index in 0..300 {
                let call = call(industry, 1, index);
                let agent_id = (index % 2 == 0).then_some(agent.as_str());
                let valid = switchboard::parse_value(to_call_json(&call, agent_id))
                    .unwrap_or_else(|e| panic!("{}: {e:?}", call.external_id));
                assert_eq!(valid.agent_id.map(|a| a.to_string()).as_deref(), agent_id);
                let f = valid.update.fields;
                assert_eq!(valid.update.external_id, call.external_id);
                assert_eq!(f.direction, Some(call.direction));
                assert_eq!(f.from.as_deref(), Some(call.from.as_str()));
                assert_eq!(f.to.as_deref(), Some(call.to.as_str()));
                assert_eq!(f.started_at, Some(call.started_at_ms));
                assert_eq!(f.ended_at, Some(call.ended_at_ms));
                assert_eq!(f.test, Some(call.test));
                assert_eq!(f.turns_here(), Some(&call.turns[..]));
                assert_eq!(f.cost.as_ref().unwrap().amount_minor, call.cost_cents);
            }
        }
    }

    /// What a provider's parser read back from a generated call's payload:
    /// everything the provider's format carries. A test call is a web call,
    /// without numbers or direction; `words` says whether the format has
    /// word timings.
    fn assert_read_back(call: &SyntheticCall, u: crate::model::CallUpdate, words: bool) {
        assert_eq!(u.external_id, call.external_id);
        let f = u.fields;
        assert_eq!(f.test, Some(call.test));
        let (from, to, direction) = if call.test {
            (None, None, None)
        } else {
            (Some(&call.from), Some(&call.to), Some(call.direction))
        };
        assert_eq!(
            (f.from.as_ref(), f.to.as_ref(), f.direction),
            (from, to, direction)
        );
        assert_eq!(
            (f.started_at, f.ended_at),
            (Some(call.started_at_ms), Some(call.ended_at_ms))
        );
        assert_eq!(f.duration_ms, Some(call.ended_at_ms - call.started_at_ms));
        assert_eq!(f.cost.as_ref().unwrap().amount_minor, call.cost_cents);
        let turns = f.turns_here().unwrap();
        assert_eq!(turns.len(), call.turns.len());
        for (read, sent) in turns.iter().zip(&call.turns) {
            assert_eq!((read.speaker, &read.text), (sent.speaker, &sent.text));
            let expected_words = if words { sent.words.len() } else { 0 };
            assert_eq!(read.words.len(), expected_words);
            // JSON text may move a float by its last bit; Vapi's durations
            // are milliseconds, added back to the start.
            let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
            assert!(close(read.start.unwrap(), sent.start.unwrap()));
            assert!(close(read.end.unwrap(), sent.end.unwrap()));
        }
    }

    #[test]
    fn calls_parse_as_retell_call_ended() {
        for industry in INDUSTRIES {
            for index in 0..300 {
                let call = call(industry, 2, index);
                let body = serde_json::to_vec(&to_retell_call_ended(&call)).unwrap();
                let u = retell::parse(&body)
                    .unwrap_or_else(|e| panic!("{}: {e}", call.external_id))
                    .expect("call_ended is kept");
                assert_read_back(&call, u, true);
            }
        }
    }

    #[test]
    fn calls_parse_as_vapi_end_of_call_report() {
        for industry in INDUSTRIES {
            for index in 0..300 {
                let call = call(industry, 3, index);
                let body = serde_json::to_vec(&to_vapi_end_of_call_report(&call)).unwrap();
                let u = vapi::parse(&body)
                    .unwrap_or_else(|e| panic!("{}: {e}", call.external_id))
                    .expect("end-of-call-report is kept");
                let reason = u.fields.disconnection_reason.clone();
                assert!(reason.is_some_and(|r| r.contains('-')), "in Vapi's words");
                assert_read_back(&call, u, false);
            }
        }
    }

    #[test]
    fn word_timings_run_forward_inside_the_call() {
        let mut spoken_s = 0.0;
        let mut words = 0;
        for industry in INDUSTRIES {
            for index in 0..200 {
                let call = call(industry, 3, index);
                let duration_s = (call.ended_at_ms - call.started_at_ms) as f64 / 1000.0;
                let mut last_start = 0.0;
                for turn in &call.turns {
                    assert!(!turn.words.is_empty());
                    let (start, end) = (turn.start.unwrap(), turn.end.unwrap());
                    assert!(start >= last_start, "turns start in order");
                    last_start = start;
                    assert_eq!(start, turn.words[0].start);
                    assert_eq!(end, turn.words.last().unwrap().end);
                    assert!(end <= duration_s);
                    for w in &turn.words {
                        assert!(w.start < w.end, "{w:?}");
                    }
                    for pair in turn.words.windows(2) {
                        assert!(pair[0].end <= pair[1].start, "{pair:?}");
                    }
                    let text: Vec<&str> = turn.text.split_whitespace().collect();
                    let said: Vec<&str> = turn.words.iter().map(|w| w.word.as_str()).collect();
                    assert_eq!(text, said);
                    spoken_s += end - start;
                    words += turn.words.len();
                }
            }
        }
        let rate = words as f64 / spoken_s;
        assert!((2.2..2.9).contains(&rate), "{rate} words per second");
    }

    #[test]
    fn calls_vary_like_real_ones() {
        let calls: Vec<SyntheticCall> = (0..1000)
            .map(|i| call(INDUSTRIES[i as usize % 3], 4, i))
            .collect();
        let share = |f: &dyn Fn(&SyntheticCall) -> bool| {
            calls.iter().filter(|c| f(c)).count() as f64 / calls.len() as f64
        };
        let test = share(&|c| c.test);
        assert!((0.04..=0.12).contains(&test), "{test} test calls");
        let minutes = |c: &SyntheticCall| (c.ended_at_ms - c.started_at_ms) as f64 / 60_000.0;
        assert!(calls.iter().all(|c| (0.75..9.5).contains(&minutes(c))));
        assert!(share(&|c| minutes(c) < 2.0) > 0.1);
        assert!(share(&|c| minutes(c) > 6.0) > 0.03);
        assert!(share(&|c| c.direction == Direction::Outbound) > 0.1);
        let has = |c: &SyntheticCall, pattern: &dyn Fn(&str) -> bool| {
            c.turns
                .iter()
                .any(|t| t.text.split_whitespace().any(pattern))
        };
        assert!(share(&|c| has(c, &|w| w.contains("@example."))) > 0.3);
        assert!(share(&|c| has(c, &|w| w.starts_with('$'))) > 0.3);
        assert!(share(&|c| has(c, &|w| w.contains("-555-01"))) > 0.2);
        let said = |c: &SyntheticCall, list: &[&str]| {
            c.turns
                .iter()
                .any(|t| list.iter().any(|r| t.text.contains(r)))
        };
        assert!(share(&|c| said(c, NEGATIVE_REACTIONS)) > 0.1);
        assert!(share(&|c| said(c, POSITIVE_REACTIONS)) > 0.1);
        assert!(share(&|c| c.disconnection_reason == "user_hangup") > 0.2);
        assert!(share(&|c| c.disconnection_reason == "agent_hangup") > 0.2);
        let gaps = |c: &SyntheticCall| {
            c.turns
                .windows(2)
                .map(|p| p[1].start.unwrap() - p[0].end.unwrap())
                .collect::<Vec<_>>()
        };
        assert!(share(&|c| gaps(c).iter().any(|&g| g >= 3.0)) > 0.3);
        assert!(share(&|c| gaps(c).iter().any(|&g| g < 0.0)) > 0.2);
    }

    #[test]
    fn calls_stay_in_the_window_and_favour_business_hours() {
        let mut daytime = 0;
        for index in 0..1000 {
            let c = call(IndustryTemplate::Insurance, 5, index);
            assert!(c.started_at_ms >= MARCH.0 && c.ended_at_ms <= MARCH.1);
            if call_volume(c.started_at_ms) == 1.0 {
                daytime += 1;
            }
        }
        // Weekday business hours are under a quarter of the month's time.
        assert!(daytime > 550, "{daytime} of 1000 in business hours");
        let short = generate(IndustryTemplate::Generic, 5, 0, MARCH.0, MARCH.0 + 1_000);
        assert_eq!(short.started_at_ms, MARCH.0);
    }

    #[test]
    fn numbers_are_fictional_e164() {
        for industry in INDUSTRIES {
            for index in 0..300 {
                let c = call(industry, 6, index);
                for number in [&c.from, &c.to] {
                    assert!(E164::parse(number).is_ok(), "{number}");
                    assert_eq!(&number[5..10], "55501", "{number}");
                }
                assert_ne!(c.from, c.to);
            }
        }
    }

    #[test]
    fn five_minute_call_has_the_benchmark_shape() {
        for seed in 0..20 {
            let c = five_minute_call(seed);
            let words = word_count(&c);
            let seconds = (c.ended_at_ms - c.started_at_ms) / 1000;
            assert!((700..=900).contains(&words), "{words} words");
            assert!(
                (50..=70).contains(&c.turns.len()),
                "{} turns",
                c.turns.len()
            );
            assert!((270..=330).contains(&seconds), "{seconds} s");
            assert!(!c.test);
        }
    }

    #[test]
    fn every_template_fills() {
        let mut rng = rng_for(0, 0);
        for industry in INDUSTRIES {
            let bank = bank(industry);
            let cast = Cast::new(&mut rng, bank, MARCH.0);
            let steps = bank.topics.iter().flat_map(|t| {
                let said = t.steps.iter().flat_map(|step| match step {
                    Pair(agent, customer) => vec![*agent, *customer],
                    Lookup => vec![],
                    Optional(pairs) => pairs.iter().flat_map(|(a, c)| [*a, *c]).collect(),
                });
                t.openers.iter().copied().chain(said)
            });
            let pairs = [OUTBOUND_GREETINGS, HOLDS, CONFIRMATIONS]
                .into_iter()
                .flatten()
                .flat_map(|(a, c)| [*a, *c]);
            let lines = [INBOUND_GREETINGS, INBOUND_FAREWELLS, OUTBOUND_FAREWELLS]
                .into_iter()
                .flatten()
                .copied();
            for template in steps.chain(pairs).chain(lines) {
                let text = fill(template, &cast, &mut rng);
                assert!(!text.contains(['{', '}']), "{text}");
            }
        }
    }

    #[test]
    fn every_question_in_a_bank_is_answered() {
        for industry in INDUSTRIES {
            for topic in bank(industry).topics {
                // Whether what was surely said last leaves a question open.
                let mut open = topic.openers.iter().any(|o| o.ends_with('?'));
                for step in topic.steps {
                    match step {
                        Lookup => {}
                        Pair(_, customer) => open = customer.ends_with('?'),
                        Optional(pairs) => {
                            assert!(!open, "{pairs:?} may be skipped after a question");
                            open = pairs.last().unwrap().1.ends_with('?');
                        }
                    }
                }
                assert!(!open, "{:?} ends on a question", topic.openers);
            }
        }
    }

    #[test]
    fn formats_amounts_and_numbers() {
        assert_eq!(dollars(128_450), "$1,284.50");
        assert_eq!(dollars(48_500_000), "$485,000");
        assert_eq!(dollars(1_500), "$15");
        assert_eq!(spoken_number("+14155550142"), "415-555-0142");
    }
}
