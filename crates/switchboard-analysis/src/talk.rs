//! Who talked how much, the silences, and who interrupted whom, from word
//! timings (falling back to turn spans, then to an estimate from the text).
//!
//! Provider timings are untrusted: unsorted, overlapping, zero or negative
//! length, NaN or infinite. Invalid intervals are dropped and everything is
//! clamped to start at 0, so any transcript gives finite, consistent numbers.

use serde::Serialize;
use switchboard_ingest::{Speaker, Turn};

/// Silences shorter than this are ordinary pauses, not "non-talk".
pub const DEFAULT_MIN_GAP_S: f64 = 3.0;
/// Conversational speaking rate used to place turns that have no timings.
const ESTIMATED_WORDS_PER_S: f64 = 2.5;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Gap {
    pub start: f64,
    pub end: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interruption {
    pub at: f64,
    pub by: Speaker,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TalkMetrics {
    pub duration_s: f64,
    pub talk_s_agent: f64,
    pub talk_s_customer: f64,
    /// Sum of `non_talk`.
    pub non_talk_s: f64,
    /// Silences of at least the minimum gap, in order.
    pub non_talk: Vec<Gap>,
    /// In order of time.
    pub interruptions: Vec<Interruption>,
    pub interruptions_by_agent: usize,
    pub interruptions_by_customer: usize,
    pub wpm_agent: Option<f64>,
    pub wpm_customer: Option<f64>,
    /// Agent talk over agent plus customer talk.
    pub agent_talk_ratio: Option<f64>,
    /// Some turn had no word timings, so part of this rests on turn spans or
    /// on an estimate from the text.
    pub estimated: bool,
}

/// `call_duration_s` extends the call past the last word (a trailing
/// silence); the call is never shorter than what was heard. An invalid
/// `min_gap_s` (negative, NaN) means [`DEFAULT_MIN_GAP_S`].
pub fn talk_metrics(turns: &[Turn], call_duration_s: Option<f64>, min_gap_s: f64) -> TalkMetrics {
    let min_gap = if min_gap_s.is_finite() && min_gap_s >= 0.0 {
        min_gap_s
    } else {
        DEFAULT_MIN_GAP_S
    };
    let mut estimated = false;
    let mut words = [0usize; 2];
    // Untimed turns are placed one after the other, after everything before.
    let mut cursor = 0.0f64;
    let per_turn: Vec<(Speaker, Vec<(f64, f64)>)> = turns
        .iter()
        .map(|t| {
            let timed: Vec<(f64, f64)> = t
                .words
                .iter()
                .filter_map(|w| interval(w.start, w.end))
                .collect();
            let iv = if !timed.is_empty() {
                words[side(t.speaker)] += timed.len();
                timed
            } else {
                let n = t.text.split_whitespace().count();
                let span = match (t.start, t.end) {
                    (Some(s), Some(e)) => interval(s, e),
                    _ => None,
                };
                let iv =
                    span.or_else(|| interval(cursor, cursor + n as f64 / ESTIMATED_WORDS_PER_S));
                if iv.is_some() {
                    estimated = true;
                    words[side(t.speaker)] += n;
                }
                iv.into_iter().collect()
            };
            for &(_, e) in &iv {
                cursor = cursor.max(e);
            }
            (t.speaker, iv)
        })
        .collect();

    let merged_of = |who: Speaker| {
        union(
            per_turn
                .iter()
                .filter(|(s, _)| *s == who)
                .flat_map(|(_, iv)| iv.iter().copied())
                .collect(),
        )
    };
    let merged = [merged_of(Speaker::Agent), merged_of(Speaker::Customer)];
    let everyone = union(merged.iter().flatten().copied().collect());

    let heard = everyone.last().map_or(0.0, |&(_, e)| e);
    let duration_s = match call_duration_s {
        Some(d) if d.is_finite() && d > heard => d,
        _ => heard,
    };
    // Summing disjoint intervals can round past their span: cap at the call.
    let talk = |m: &[(f64, f64)]| m.iter().map(|&(s, e)| e - s).sum::<f64>().min(duration_s);
    let (talk_s_agent, talk_s_customer) = (talk(&merged[0]), talk(&merged[1]));

    let mut non_talk = Vec::new();
    let mut prev = 0.0;
    for &(s, e) in everyone
        .iter()
        .chain(std::iter::once(&(duration_s, duration_s)))
    {
        if s > prev && s - prev >= min_gap {
            non_talk.push(Gap {
                start: prev,
                end: s,
            });
        }
        prev = e;
    }
    let non_talk_s = non_talk.iter().map(|g| g.end - g.start).sum();

    let mut interruptions: Vec<Interruption> = per_turn
        .iter()
        .filter_map(|(who, iv)| {
            let other = &merged[1 - side(*who)];
            iv.iter()
                .map(|&(s, _)| s)
                .filter(|&s| {
                    // The other speaker's last interval starting before `s`
                    // is still going at `s`.
                    let i = other.partition_point(|&(os, _)| os < s);
                    i > 0 && other[i - 1].1 > s
                })
                .min_by(f64::total_cmp)
                .map(|at| Interruption { at, by: *who })
        })
        .collect();
    interruptions.sort_by(|a, b| a.at.total_cmp(&b.at));
    let by = |who| interruptions.iter().filter(|i| i.by == who).count();

    let wpm = |n: usize, talk_s: f64| (talk_s > 0.0).then(|| n as f64 / (talk_s / 60.0));
    let both = talk_s_agent + talk_s_customer;
    TalkMetrics {
        duration_s,
        talk_s_agent,
        talk_s_customer,
        non_talk_s,
        non_talk,
        interruptions_by_agent: by(Speaker::Agent),
        interruptions_by_customer: by(Speaker::Customer),
        interruptions,
        wpm_agent: wpm(words[0], talk_s_agent),
        wpm_customer: wpm(words[1], talk_s_customer),
        agent_talk_ratio: (both > 0.0).then(|| (talk_s_agent / both).clamp(0.0, 1.0)),
        estimated,
    }
}

fn side(s: Speaker) -> usize {
    match s {
        Speaker::Agent => 0,
        Speaker::Customer => 1,
    }
}

/// A usable interval, clamped to the start of the call; `None` for NaN,
/// infinite, empty or reversed ones.
fn interval(start: f64, end: f64) -> Option<(f64, f64)> {
    // Checked before clamping: `NaN.max(0.0)` is 0.
    if !(start.is_finite() && end.is_finite()) {
        return None;
    }
    let start = start.max(0.0);
    (end > start).then_some((start, end))
}

/// Sorted, disjoint union of intervals.
fn union(mut v: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use switchboard_ingest::Word;

    fn turn(speaker: Speaker, words: &[(&str, f64, f64)]) -> Turn {
        Turn {
            speaker,
            text: words.iter().map(|w| w.0).collect::<Vec<_>>().join(" "),
            start: words.first().map(|w| w.1),
            end: words.last().map(|w| w.2),
            words: words
                .iter()
                .map(|&(word, start, end)| Word {
                    word: word.into(),
                    start,
                    end,
                })
                .collect(),
        }
    }

    #[track_caller]
    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn two_speakers_with_a_silence_and_an_interruption() {
        let turns = [
            turn(
                Speaker::Agent,
                &[
                    ("Hello", 0.0, 0.5),
                    ("thanks", 0.6, 1.0),
                    ("for", 1.0, 1.2),
                    ("calling", 1.2, 2.0),
                ],
            ),
            turn(
                Speaker::Customer,
                &[
                    ("Hi", 2.5, 3.0),
                    ("I", 3.0, 3.2),
                    ("need", 3.2, 3.6),
                    ("help", 3.6, 4.0),
                ],
            ),
            // 4.0 to 8.0: nobody speaks.
            turn(
                Speaker::Agent,
                &[
                    ("Sure", 8.0, 8.5),
                    ("let", 8.5, 8.8),
                    ("me", 8.8, 9.0),
                    ("check", 9.0, 10.0),
                ],
            ),
            // Starts while "check" is still going, and overlaps it.
            turn(
                Speaker::Customer,
                &[("wait", 9.5, 10.2), ("actually", 10.2, 11.0)],
            ),
        ];
        let m = talk_metrics(&turns, Some(12.0), DEFAULT_MIN_GAP_S);
        close(m.duration_s, 12.0);
        close(m.talk_s_agent, 0.5 + 1.4 + 2.0);
        close(m.talk_s_customer, 1.5 + 1.5);
        assert_eq!(
            m.non_talk,
            vec![Gap {
                start: 4.0,
                end: 8.0
            }]
        );
        close(m.non_talk_s, 4.0);
        assert_eq!(
            m.interruptions,
            vec![Interruption {
                at: 9.5,
                by: Speaker::Customer
            }]
        );
        assert_eq!(
            (m.interruptions_by_agent, m.interruptions_by_customer),
            (0, 1)
        );
        close(m.wpm_agent.unwrap(), 8.0 / (3.9 / 60.0));
        close(m.wpm_customer.unwrap(), 6.0 / (3.0 / 60.0));
        close(m.agent_talk_ratio.unwrap(), 3.9 / 6.9);
        assert!(!m.estimated);

        // Unsorted words and bad timings change nothing.
        let mut messy = turns.clone();
        messy[0].words.reverse();
        messy[1].words.push(Word {
            word: "x".into(),
            start: f64::NAN,
            end: 1.0,
        });
        messy[1].words.push(Word {
            word: "y".into(),
            start: 5.0,
            end: 5.0,
        });
        messy[2].words.push(Word {
            word: "z".into(),
            start: 6.0,
            end: f64::INFINITY,
        });
        messy[3].words.push(Word {
            word: "w".into(),
            start: 7.0,
            end: 6.0,
        });
        assert_eq!(talk_metrics(&messy, Some(12.0), DEFAULT_MIN_GAP_S), m);
    }

    #[test]
    fn untimed_turns_are_estimated_from_text_or_turn_span() {
        let text = |speaker, text: &str, span: Option<(f64, f64)>| Turn {
            speaker,
            text: text.into(),
            start: span.map(|s| s.0),
            end: span.map(|s| s.1),
            words: vec![],
        };
        let turns = [
            text(Speaker::Agent, "one two three four five", None),
            text(Speaker::Customer, "a b c d e f g h i j", None),
            text(Speaker::Agent, "six seven", Some((10.0, 11.0))),
        ];
        let m = talk_metrics(&turns, None, DEFAULT_MIN_GAP_S);
        assert!(m.estimated);
        // Agent 0–2 s (5 words at 2.5/s), customer 2–6 s, agent again 10–11 s.
        close(m.duration_s, 11.0);
        close(m.talk_s_agent, 3.0);
        close(m.talk_s_customer, 4.0);
        assert_eq!(
            m.non_talk,
            vec![Gap {
                start: 6.0,
                end: 10.0
            }]
        );
        close(m.wpm_agent.unwrap(), 7.0 / (3.0 / 60.0));
        close(m.wpm_customer.unwrap(), 150.0);
        assert!(m.interruptions.is_empty());
    }

    #[test]
    fn empty_and_one_sided_calls() {
        let m = talk_metrics(&[], None, DEFAULT_MIN_GAP_S);
        assert_eq!(
            (m.duration_s, m.talk_s_agent, m.non_talk_s),
            (0.0, 0.0, 0.0)
        );
        assert!(m.non_talk.is_empty() && m.agent_talk_ratio.is_none() && m.wpm_agent.is_none());
        assert!(!m.estimated);

        let m = talk_metrics(&[], Some(10.0), DEFAULT_MIN_GAP_S);
        assert_eq!(
            m.non_talk,
            vec![Gap {
                start: 0.0,
                end: 10.0
            }]
        );

        let m = talk_metrics(
            &[turn(Speaker::Agent, &[("hi", 5.0, 6.0)])],
            Some(f64::NAN),
            f64::NAN,
        );
        assert_eq!(m.agent_talk_ratio, Some(1.0));
        assert_eq!(m.wpm_customer, None);
        assert_eq!(
            m.non_talk,
            vec![Gap {
                start: 0.0,
                end: 5.0
            }]
        );
    }

    #[test]
    fn interruptions_count_once_per_turn() {
        let turns = [
            turn(Speaker::Agent, &[("long", 0.0, 10.0)]),
            turn(
                Speaker::Customer,
                &[("a", 1.0, 2.0), ("b", 3.0, 4.0), ("c", 5.0, 6.0)],
            ),
            turn(Speaker::Customer, &[("d", 7.0, 8.0)]),
        ];
        let m = talk_metrics(&turns, None, DEFAULT_MIN_GAP_S);
        assert_eq!(m.interruptions_by_customer, 2);
        assert_eq!(m.interruptions[0].at, 1.0);
        assert_eq!(m.interruptions[1].at, 7.0);
    }

    #[test]
    fn ten_thousand_turns() {
        let turns: Vec<Turn> = (0..10_000)
            .map(|i| {
                let t = i as f64 * 2.0;
                let who = if i % 2 == 0 {
                    Speaker::Agent
                } else {
                    Speaker::Customer
                };
                turn(who, &[("word", t, t + 1.0), ("more", t + 1.0, t + 1.9)])
            })
            .collect();
        let m = talk_metrics(&turns, None, DEFAULT_MIN_GAP_S);
        close(m.talk_s_agent, 5_000.0 * 1.9);
        assert!(m.non_talk.is_empty() && m.interruptions.is_empty());
    }

    fn time() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => -5.0..200.0f64,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(1e300),
        ]
    }

    fn turns() -> impl Strategy<Value = Vec<Turn>> {
        let word = (time(), time()).prop_map(|(start, end)| Word {
            word: "w".into(),
            start,
            end,
        });
        let turn = (
            any::<bool>(),
            "[a-z ]{0,20}",
            prop::option::of(time()),
            prop::option::of(time()),
            prop::collection::vec(word, 0..6),
        )
            .prop_map(|(agent, text, start, end, words)| Turn {
                speaker: if agent {
                    Speaker::Agent
                } else {
                    Speaker::Customer
                },
                text,
                start,
                end,
                words,
            });
        prop::collection::vec(turn, 0..30)
    }

    proptest! {
        #[test]
        fn invariants_hold_for_any_timings(
            turns in turns(),
            duration in prop::option::of(time()),
            min_gap in prop_oneof![0.0..10.0f64, Just(f64::NAN), Just(-1.0)],
        ) {
            let m = talk_metrics(&turns, duration, min_gap);
            let min_gap = if min_gap >= 0.0 { min_gap } else { DEFAULT_MIN_GAP_S };
            prop_assert!(m.duration_s.is_finite() && m.duration_s >= 0.0);
            prop_assert!(m.talk_s_agent >= 0.0 && m.talk_s_agent <= m.duration_s);
            prop_assert!(m.talk_s_customer >= 0.0 && m.talk_s_customer <= m.duration_s);
            if let Some(r) = m.agent_talk_ratio {
                prop_assert!((0.0..=1.0).contains(&r));
            }
            let mut prev = 0.0;
            for g in &m.non_talk {
                prop_assert!(g.start >= prev && g.end > g.start && g.end <= m.duration_s);
                prop_assert!(g.end - g.start >= min_gap);
                prev = g.end;
            }
            prop_assert!(m.non_talk_s <= m.duration_s * (1.0 + 1e-12));
            prop_assert!(m.interruptions.windows(2).all(|w| w[0].at <= w[1].at));
            prop_assert_eq!(m.interruptions.len(), m.interruptions_by_agent + m.interruptions_by_customer);
        }
    }
}
