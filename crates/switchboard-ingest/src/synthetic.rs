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
/// Roughly what a closing takes: topics stop this long before the target
/// length so the call ends near it.
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
    // Skewed towards short calls as real call logs are: 1 to 8 minutes,
    // median a little over 3.
    let target_ms = MINUTE_MS + (7.0 * MINUTE_MS as f64 * rng.gen::<f64>().powf(1.6)) as i64;
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

/// A generic inbound phone call of 4.5 to 5.5 minutes, 720 to 880 words
/// and 52 to 68 turns, for benchmarks.
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
                    target_ms: 5 * MINUTE_MS,
                    started_at_ms: BENCHMARK_START_MS,
                    // 800 words and 60 turns' pauses in five minutes: brisk talkers.
                    pace: 1.2,
                },
            )
        })
        .find(|call| {
            let words: usize = call.turns.iter().map(|t| t.words.len()).sum();
            let seconds = (call.ended_at_ms - call.started_at_ms) / 1000;
            (720..=880).contains(&words)
                && (52..=68).contains(&call.turns.len())
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
    let business_line = match call.direction {
        Direction::Inbound => &call.to,
        Direction::Outbound => &call.from,
    };
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
    /// About how long the call should last.
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

    'topics: for (n, topic) in topics.iter().enumerate() {
        if n > 0 {
            if talk.now_ms + CLOSING_MS >= plan.target_ms {
                break;
            }
            let anything_else = talk.pick(ANYTHING_ELSE);
            talk.agent(anything_else);
            let (more, opener) = (talk.pick(ONE_MORE_THING), talk.pick(topic.openers));
            talk.customer(&format!("{more} {opener}"));
        }
        for (step, &(agent, customer)) in topic.steps.iter().enumerate() {
            // The first two steps answer the opener; later ones are optional.
            if step >= 2 {
                if talk.now_ms + CLOSING_MS >= plan.target_ms {
                    break 'topics;
                }
                if talk.rng.gen_bool(0.2) {
                    continue;
                }
            }
            let mut pause = Pause::Usual;
            if step > 0 && talk.rng.gen_bool(0.1) {
                let (hold, ack) = talk.pick(HOLDS);
                talk.agent(hold);
                talk.customer(ack);
                pause = Pause::Hold;
            }
            talk.say(Speaker::Agent, agent, pause);
            talk.customer_reacting(customer);
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

/// What precedes a turn.
#[derive(Clone, Copy)]
enum Pause {
    Usual,
    /// The agent was looking something up.
    Hold,
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
            rng,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        pick(&mut self.rng, items)
    }

    fn agent(&mut self, template: &str) {
        self.say(Speaker::Agent, template, Pause::Usual);
    }

    fn customer(&mut self, template: &str) {
        self.say(Speaker::Customer, template, Pause::Usual);
    }

    /// A customer line, sometimes with how they feel about it added, which
    /// the agent then acknowledges.
    fn customer_reacting(&mut self, template: &str) {
        let (positive, negative) = match self.mood {
            Mood::Pleased => (0.22, 0.02),
            Mood::Neutral => (0.06, 0.06),
            Mood::Frustrated => (0.02, 0.22),
        };
        let roll: f64 = self.rng.gen();
        let (reactions, answers) = if roll < positive {
            (POSITIVE_REACTIONS, WELCOMES)
        } else if roll < positive + negative {
            (NEGATIVE_REACTIONS, APOLOGIES)
        } else {
            self.customer(template);
            return;
        };
        let reaction = self.pick(reactions);
        self.agent_lead_in = Some(self.pick(answers));
        self.customer(&format!("{template} {reaction}"));
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
            // The customer stopped answering.
            let inactivity = self.pick(INACTIVITY);
            self.say(Speaker::Agent, inactivity, Pause::Hold);
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
    fn say(&mut self, speaker: Speaker, template: &str, pause: Pause) {
        let mut text = fill(template, &self.cast, &mut self.rng);
        if speaker == Speaker::Agent {
            if let Some(lead_in) = self.agent_lead_in.take() {
                text = format!("{lead_in} {text}");
            }
        }
        let start = self.turn_start(speaker, pause);
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

    fn turn_start(&mut self, speaker: Speaker, pause: Pause) -> i64 {
        let Some((last_speaker, last_start, last_end)) = self.last else {
            return self.now_ms;
        };
        let rng = &mut self.rng;
        if let Pause::Hold = pause {
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
            word: token.to_owned(),
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
        let asking_cents = rng.gen_range(60..180) * 5_000_00;
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
            offer_cents: asking_cents - rng.gen_range(1..7) * 5_000_00,
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
            "amount" => dollars(rng.gen_range(180..2_400) * 100 + [0, 50, 99][rng.gen_range(0..3)]),
            "monthly" => dollars(rng.gen_range(1_800..14_000)),
            "small" => dollars(rng.gen_range(1..9) * 500),
            "deposit" => dollars(rng.gen_range(20..120) * 500_00),
            "tax" => dollars(rng.gen_range(24..98) * 100_00),
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

/// One reason to call: how the customer raises it, then the exchanges
/// (agent line, customer line) that follow, in order.
struct Topic {
    openers: &'static [&'static str],
    steps: &'static [(&'static str, &'static str)],
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
const POSITIVE_REACTIONS: &[&str] = &[
    "That's great, thank you so much!",
    "Oh wonderful, you've been really helpful.",
    "Perfect, that's exactly what I was hoping for.",
    "That's a relief, honestly. Thank you.",
    "Great, I really appreciate it.",
];
const WELCOMES: &[&str] = &["You're very welcome.", "Happy to help.", "Glad to hear it."];
const NEGATIVE_REACTIONS: &[&str] = &[
    "Honestly, this is really frustrating.",
    "I've been waiting forever and I'm not happy about it.",
    "This is the third time I've had to call about this.",
    "That's not acceptable. I expected much better service.",
    "I'm really disappointed with how this has been handled.",
    "Why is this so complicated? It shouldn't be this hard.",
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
                "I'm calling about renewing my auto policy. It expires on {date}.",
            ],
            steps: &[
                ("I can help with that. Could I have your policy number, please?", "Yes, it's {policy}."),
                ("Thank you. I see your policy renews on {date}, and the new annual premium is {amount}.", "That's quite a bit more than last year. What changed?"),
                ("Premiums in your area went up about six percent this year, mostly because repair costs have increased.", "Okay, I guess that makes sense, but it's still a lot."),
                ("One option is raising your deductible from five hundred to one thousand dollars.", "Hmm, how much would I actually save?"),
                ("That works out to a saving of about {small} a month.", "Alright. Let me think about the deductible, but please go ahead with the renewal."),
                ("Would you like to keep paying by automatic withdrawal on the first of the month?", "Yes, keep it the same as before."),
                ("Perfect. I'll send the renewal documents to {email}. Is that still the best address?", "Yes, that's right."),
                ("Your renewal is confirmed and your coverage continues without any gap.", "Good, thanks. That's one less thing to worry about."),
            ],
        },
        Topic {
            openers: &[
                "I need to file a claim. A pipe burst in my kitchen last night and there's water everywhere.",
                "I was in a minor car accident on {past} and I need to start a claim.",
                "I'm calling to check on a claim I filed on {past}. I haven't heard anything since.",
            ],
            steps: &[
                ("I'm sorry to hear that. First of all, is everyone safe?", "Yes, everyone's fine, thankfully."),
                ("Good. Can you give me your policy number or the phone number on the account?", "The phone number is {phone}."),
                ("Thank you, I found your policy. Can you describe what happened?", "The damage is mostly to the floor and the cabinets, and it happened on {past}."),
                ("Have you taken any photos of the damage?", "Yes, I took about a dozen photos this morning."),
                ("Great. You can upload them through the link I'll send to {email}.", "Okay. How long does the whole process usually take?"),
                ("An adjuster will contact you within two business days, and most claims like this are settled within three weeks.", "Three weeks? I really can't wait that long."),
                ("Your policy includes additional living expenses up to {amount} while the repairs are done.", "Oh, that's good to know. That helps a lot."),
                ("Your claim number is {reference}. Please keep it handy for any follow up.", "Got it, {reference}. Thank you."),
                ("Your deductible on this claim is five hundred dollars, which comes off the settlement.", "Okay, that's what I expected."),
            ],
        },
        Topic {
            openers: &[
                "I'm shopping around for car insurance and wanted to get a quote.",
                "I just bought a house and I need a homeowners insurance quote.",
            ],
            steps: &[
                ("Happy to help. Can I get your full name?", "Sure, it's {name}."),
                ("Thanks, {first}. What's the best email to send the quote to?", "You can use {email}."),
                ("And what's the address where the car is kept, or of the property?", "It's {address}."),
                ("How many years have you been insured without a claim?", "About eight years, no claims at all."),
                ("That qualifies you for our claims-free discount. Based on what you've told me, the estimate is {amount} a year.", "That's a lot better than what I'm paying now."),
                ("If you bundle home and auto, you'd save another twelve percent.", "Interesting. Can you include that in the quote?"),
                ("Absolutely. The quote is valid for thirty days, until {date}.", "Perfect, I'll look it over this week."),
                ("Would you like me to schedule a call with a licensed agent to go through it?", "Yes, maybe on {date} in the afternoon?"),
            ],
        },
        Topic {
            openers: &[
                "I have a question about what my policy actually covers.",
                "I'm going on a trip soon and I want to know whether my coverage applies outside the country.",
            ],
            steps: &[
                ("Of course. Could you confirm your policy number?", "It's {policy}."),
                ("Thank you. What would you like to know about your coverage?", "Does my policy cover water damage from a flood?"),
                ("Standard homeowners policies cover sudden water damage, like a burst pipe, but not flooding from outside.", "Really? Nobody told me that when I signed up. That's pretty disappointing."),
                ("Flood coverage is available as a separate add-on, starting at about {monthly} a month.", "Okay, can you send me the details?"),
                ("Sure. Your personal liability limit is currently three hundred thousand dollars.", "Is that enough? I honestly have no idea."),
                ("Many customers with a home your size choose five hundred thousand. The difference is about {small} a month.", "That sounds reasonable. Let me think about it."),
                ("For travel, your auto coverage applies in the United States and Canada, but not further abroad.", "Good to know, I'll sort out a rental policy then."),
                ("I'll email a coverage summary to {email} so you have it in writing.", "Great, thank you, that's really helpful."),
            ],
        },
        Topic {
            openers: &[
                "I want to cancel my policy.",
                "I'm selling my car and I need to cancel the auto coverage on it.",
            ],
            steps: &[
                ("I can help with that. May I ask why you're cancelling?", "I found a cheaper policy elsewhere, to be honest."),
                ("I understand. Before you go, would you like me to check whether you qualify for any discounts?", "No thanks, I've already made up my mind."),
                ("Okay. When would you like the cancellation to take effect?", "Starting {date}, please."),
                ("Since you paid annually, you'll receive a prorated refund of {amount}.", "How long will the refund take?"),
                ("The refund goes back to your original payment method within seven to ten business days.", "Ten business days seems slow, but fine."),
                ("I've processed the cancellation. The confirmation number is {reference}.", "Can you send that to my email as well?"),
                ("Of course, it'll go to {email} within the hour.", "Thanks."),
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
                "I'm interested in scheduling a viewing for the condo on {address}.",
            ],
            steps: &[
                ("Great choice, that one has had a lot of interest. Are you working with an agent already?", "No, not yet. This is my first time buying."),
                ("No problem at all. We have open viewing slots on {date}. Would the morning or the afternoon suit you better?", "The afternoon would be better, around {time} if possible."),
                ("{time} works. Can I get a phone number in case anything changes?", "Sure, it's {phone}."),
                ("And an email for the confirmation?", "It's {email}."),
                ("Will anyone be joining you for the viewing?", "My partner will come along, yes."),
                ("Parking is available in the driveway, and the agent will meet you at the front door.", "Sounds good. Is there already an offer on it?"),
                ("Not yet, but the seller expects offers by the end of next week.", "Okay, that's tight, but we'll see how the viewing goes."),
                ("I'll also send you two similar listings nearby, in case this one goes quickly.", "Yes please, that would be great."),
            ],
        },
        Topic {
            openers: &[
                "We'd like to make an offer on the house on {address}.",
                "I'm calling to check on the status of our offer. We submitted it on {past}.",
            ],
            steps: &[
                ("Wonderful. What price are you thinking of offering?", "We were thinking {offer}."),
                ("The asking price is {asking}, so that's a little under. Is there any flexibility?", "Maybe a little, but we're already stretching our budget."),
                ("Do you have a mortgage pre-approval letter?", "Yes, we got pre-approved last month."),
                ("Sellers usually prefer offers with fewer conditions. Would you consider waiving the inspection?", "No, we definitely want an inspection. We've heard too many horror stories."),
                ("That's completely reasonable. How much would you put down as a deposit?", "We could do {deposit}."),
                ("I'll draft the offer and send it to {email} for your signature today.", "Thank you. How soon will we hear back?"),
                ("The seller has forty-eight hours to respond, so you should hear by {date}.", "Okay. I'm honestly a bit nervous about this."),
                ("That's normal. I'll call you the minute I hear anything.", "Thank you, I appreciate that."),
            ],
        },
        Topic {
            openers: &[
                "I'd like to get pre-approved for a mortgage before I start looking at houses.",
                "My mortgage pre-approval expires soon and I'm not sure what to do next.",
            ],
            steps: &[
                ("Happy to help. Is this your first home purchase?", "Yes, it is."),
                ("What price range are you looking at?", "Somewhere around {asking}."),
                ("And how much are you planning to put down?", "About {deposit}, maybe a little more."),
                ("We'll need two recent pay stubs, last year's tax return, and two months of bank statements.", "That's a lot of paperwork. Can I send it all by email?"),
                ("You can upload everything securely through the link I'll send to {email}.", "Okay, great."),
                ("Our partner lender reviews it and usually responds within three business days.", "Is there a fee for the pre-approval?"),
                ("No, the pre-approval itself is free, and it doesn't commit you to anything.", "Oh, that's good. I was worried about that."),
                ("Current rates for a thirty year fixed loan are around six and a half percent.", "Wow, that's higher than I expected. That's really discouraging."),
            ],
        },
        Topic {
            openers: &[
                "I have a few questions about the listing on {address}.",
                "I'm calling about the townhouse on {address}. Is it still available?",
            ],
            steps: &[
                ("Sure, it's still available. What would you like to know?", "How old is the roof?"),
                ("The roof was replaced about four years ago, and it comes with a transferable warranty.", "Oh nice, that's good to hear."),
                ("Anything else I can tell you about it?", "What are the property taxes and the HOA fees?"),
                ("The property taxes were {tax} last year, and the HOA fee is {monthly} a month.", "The HOA fee seems steep. What does it cover?"),
                ("It covers landscaping, snow removal, the pool, and exterior maintenance.", "Okay, that makes it a bit more reasonable."),
                ("The sale also includes the washer, the dryer and all the kitchen appliances.", "Is the basement finished? The photos weren't clear."),
                ("Yes, it was finished three years ago and has a small office.", "Perfect, that's exactly what I need for working from home."),
                ("I can send the full disclosure packet to {email}.", "Yes, please do."),
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
                "I need to reschedule my appointment on {date}, something came up at work.",
            ],
            steps: &[
                ("Of course. Can I have your name and phone number?", "Sure, it's {name}, and my number is {phone}."),
                ("Thank you, {first}. What day works best for you?", "Do you have anything on {date}? Mornings are difficult for me, so ideally the afternoon."),
                ("I have openings at 9:30 and {time} on that day.", "{time} would be perfect, I can be home by then."),
                ("Great. What is the visit for?", "It's just the yearly service on the boiler, nothing urgent, but it's making a strange clicking noise."),
                ("It usually takes about forty-five minutes. There's a {small} deposit, refunded when the technician arrives.", "A deposit? I didn't know about that, nobody mentioned it last time."),
                ("It's only there to reduce missed appointments, and you get it back in full.", "Okay, that's fine then, as long as it comes back."),
                ("Will someone be at home to let the technician in?", "Yes, I'll be there, and my neighbor has a spare key just in case."),
                ("I'll send a confirmation to {email}, plus a text reminder the day before.", "Great, thank you. The text reminder is really useful."),
                ("If you need to change it, just reply to the text or call us at least a day ahead.", "Got it, I'll make sure to let you know if anything changes."),
            ],
        },
        Topic {
            openers: &[
                "What are your opening hours this week? I want to come by the showroom.",
                "Are you open on the holiday weekend? I couldn't find it on the website.",
            ],
            steps: &[
                ("We're open Monday to Friday from eight to six, and Saturdays from nine to two.", "And what about Sundays? That's usually when I have time."),
                ("We're closed on Sundays, unfortunately.", "That's a shame, Sunday is really the only day I'm free."),
                ("On {date} we close early at three because of the holiday.", "Okay, good to know, I'll make sure to come before then."),
                ("We also have extended hours until eight on Thursdays.", "Oh, Thursday evening could actually work for me after work."),
                ("Is there anything specific you were planning to come in for?", "I need to pick up an order, and I wanted to look at replacement filters."),
                ("For pickups, you can also use the after-hours locker, which is available any time.", "Oh, that's really convenient. I didn't know that existed."),
                ("You'll get a locker code by text to {phone} when your order is ready.", "Perfect, thanks. How long does the code stay valid?"),
                ("The code is valid for five days, and we'll send a reminder after three.", "Great, that gives me plenty of time."),
            ],
        },
        Topic {
            openers: &[
                "I'm calling about my order. It was supposed to arrive on {past} and it still isn't here.",
                "I wanted to check the status of an order I placed last week, I haven't had any updates.",
            ],
            steps: &[
                ("I'm sorry about that. Do you have your order number?", "Yes, just a second, it's {reference}."),
                ("Thank you. I can see the order shipped on {past} and is with the courier.", "Then why hasn't it arrived yet? The tracking page hasn't changed in days."),
                ("It looks like it was delayed at the regional depot because of high volume.", "That's really annoying. I needed it for this weekend, we have guests coming."),
                ("I can upgrade the delivery to express at no cost.", "Okay, that would help. When would it arrive with express?"),
                ("With express, it should be with you by {date}.", "Alright. Can I get tracking updates so I know when to be home?"),
                ("Yes, tracking updates will go to {email} and by text to {phone}.", "Good, thank you. Can they leave it with a neighbor if I'm out?"),
                ("Yes, I've added a note that it can be left with a neighbor or in a safe place.", "Great, the porch is fine, it's covered."),
                ("I've also added a {small} credit to your account for the inconvenience.", "Oh, that's nice of you. Thank you, I wasn't expecting that."),
            ],
        },
        Topic {
            openers: &[
                "I want to make a complaint about the service I received from your technician.",
                "I was charged twice for the same order and nobody has fixed it yet.",
            ],
            steps: &[
                ("I'm really sorry to hear that. Can you tell me what happened?", "I was charged {amount} twice on {past}, and I've already called about it once."),
                ("I apologize that it wasn't resolved the first time. Can I have the email on your account?", "It's {email}."),
                ("Thank you. I can see both charges. The second one should have been reversed automatically.", "Well, it wasn't. This is ridiculous, it's been over a week."),
                ("You're right, and I'm sorry. I'm issuing the refund for the duplicate charge right now.", "How long will that take to actually show up on my card?"),
                ("It should appear on your statement within three to five business days.", "Fine. But I expect it to actually happen this time, not just another promise."),
                ("I've flagged your account so a supervisor will confirm the refund by {date}.", "Okay. I appreciate you actually doing something about it."),
                ("Is there anything else about the visit itself that went wrong?", "The technician was late and left a mess in the hallway, to be honest."),
                ("I'm sorry about that too. I'll pass it on to the team manager so it doesn't happen again.", "Thank you, that's all I wanted, really."),
                ("Your reference number for this complaint is {reference}.", "Thank you, I've written it down."),
            ],
        },
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{retell, switchboard};
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
                assert_eq!(f.turns.as_ref(), Some(&call.turns));
                assert_eq!(f.cost.unwrap().amount_minor, call.cost_cents);
            }
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
                assert_eq!(f.duration_ms, Some(call.ended_at_ms - call.started_at_ms));
                assert_eq!(f.cost.unwrap().amount_minor, call.cost_cents);
                let turns = f.turns.unwrap();
                assert_eq!(turns.len(), call.turns.len());
                for (read, sent) in turns.iter().zip(&call.turns) {
                    assert_eq!((read.speaker, &read.text), (sent.speaker, &sent.text));
                    assert_eq!(read.words.len(), sent.words.len());
                    // JSON text may move a float by its last bit.
                    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
                    assert!(close(read.start.unwrap(), sent.start.unwrap()));
                    assert!(close(read.end.unwrap(), sent.end.unwrap()));
                }
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
                let openers = t.openers.iter().copied();
                openers.chain(t.steps.iter().flat_map(|(a, c)| [*a, *c]))
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
    fn formats_amounts_and_numbers() {
        assert_eq!(dollars(128_450), "$1,284.50");
        assert_eq!(dollars(48_500_000), "$485,000");
        assert_eq!(dollars(1_500), "$15");
        assert_eq!(spoken_number("+14155550142"), "415-555-0142");
    }
}
#[cfg(test)]
mod tmp_stats {
    use super::*;
    #[test]
    fn stats() {
        for ind in [
            IndustryTemplate::Insurance,
            IndustryTemplate::RealEstate,
            IndustryTemplate::Generic,
        ] {
            let mut mins: Vec<f64> = (0..1000)
                .map(|i| {
                    let c = generate(ind, 9, i, 1_772_323_200_000, 1_774_915_200_000);
                    (c.ended_at_ms - c.started_at_ms) as f64 / 60000.0
                })
                .collect();
            mins.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{ind:?} min {:.2} p10 {:.2} p50 {:.2} p90 {:.2} max {:.2}",
                mins[0], mins[100], mins[500], mins[900], mins[999]
            );
        }
        let v: Vec<(usize, usize, i64)> = (0..300).map(|s| { let c = compose(rng_for(s, 0), Plan { industry: IndustryTemplate::Generic, external_id: "x".into(), test: false, direction: Direction::Inbound, target_ms: 5 * MINUTE_MS, started_at_ms: BENCHMARK_START_MS, pace: 1.2 }); (c.turns.iter().map(|t| t.words.len()).sum(), c.turns.len(), (c.ended_at_ms - c.started_at_ms) / 1000) }).collect();
        println!("five words {:?}..{:?} turns {:?}..{:?} secs {:?}..{:?}", v.iter().map(|x| x.0).min(), v.iter().map(|x| x.0).max(), v.iter().map(|x| x.1).min(), v.iter().map(|x| x.1).max(), v.iter().map(|x| x.2).min(), v.iter().map(|x| x.2).max());
        println!("five bad {} strict-ok {} mean words {} mean turns {}", v.iter().filter(|x| !(700..=900).contains(&x.0) || !(50..=70).contains(&x.1)).count(), v.iter().filter(|x| (720..=880).contains(&x.0) && (52..=68).contains(&x.1) && (270..=330).contains(&x.2)).count(), v.iter().map(|x| x.0).sum::<usize>() / 300, v.iter().map(|x| x.1).sum::<usize>() / 300);
        for (ind, i) in [(IndustryTemplate::RealEstate, 11u64), (IndustryTemplate::RealEstate, 12), (IndustryTemplate::Generic, 13), (IndustryTemplate::Insurance, 14)] {
        let c = generate(ind, 1, i, 1_772_323_200_000, 1_774_915_200_000);
        println!("---- {:?} {:?} test={} {}", ind, c.direction, c.test, rfc3339(c.started_at_ms));
        for t in &c.turns {
            println!(
                "[{:>6.2}-{:>6.2}] {:?}: {}",
                t.start.unwrap(),
                t.end.unwrap(),
                t.speaker,
                t.text
            );
        }
        println!(
            "{} {} {} {} {}",
            c.from,
            c.to,
            c.disconnection_reason,
            c.cost_cents,
            rfc3339(c.started_at_ms)
        );
        }
    }
}
