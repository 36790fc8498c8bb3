//! PII redaction of transcript text and of the timed words behind it.
//!
//! The scanners are hand-written over bytes: every pattern is ASCII, and an
//! ASCII byte never occurs inside a multibyte UTF-8 sequence, so spans that
//! start and end on ASCII bytes are always char boundaries and slicing the
//! text cannot panic whatever it contains.
//!
//! Each scanner proposes candidate spans; overlaps are settled by a fixed
//! precedence (validated, specific kinds first), so a Luhn-valid card is
//! never also a phone number and the digits of an IBAN are not a phone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_ingest::Turn;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Phone,
    Email,
    Card,
    Ssn,
    Iban,
    DateOfBirth,
}

impl PiiKind {
    pub const ALL: [PiiKind; 6] = [
        PiiKind::Phone,
        PiiKind::Email,
        PiiKind::Card,
        PiiKind::Ssn,
        PiiKind::Iban,
        PiiKind::DateOfBirth,
    ];

    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Phone => "[PHONE]",
            PiiKind::Email => "[EMAIL]",
            PiiKind::Card => "[CARD]",
            PiiKind::Ssn => "[SSN]",
            PiiKind::Iban => "[IBAN]",
            PiiKind::DateOfBirth => "[DOB]",
        }
    }

    /// Which finding wins when two overlap: the ones confirmed by a checksum
    /// or a strict shape first, the loose phone shapes last.
    fn precedence(self) -> u8 {
        match self {
            PiiKind::Email => 0,
            PiiKind::Iban => 1,
            PiiKind::Card => 2,
            PiiKind::Ssn => 3,
            PiiKind::DateOfBirth => 4,
            PiiKind::Phone => 5,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Redacted text and how many findings of each kind were replaced (only
/// kinds found, in [`PiiKind::ALL`] order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redacted {
    pub text: String,
    pub found: Vec<(PiiKind, usize)>,
}

/// Replaces every finding of `kinds` in `text` with its placeholder.
pub fn redact(text: &str, kinds: &[PiiKind]) -> Redacted {
    let r = redact_spans(text, kinds);
    Redacted {
        text: r.text,
        found: found(&r.counts),
    }
}

/// Redacts each turn's text, and each timed word that falls inside a
/// redacted span becomes that span's placeholder with its timings kept.
/// Returns the turns and the counts over all turns' texts.
pub fn redact_turns(turns: &[Turn], kinds: &[PiiKind]) -> (Vec<Turn>, Vec<(PiiKind, usize)>) {
    let mut total = [0usize; 6];
    let out = turns
        .iter()
        .map(|t| {
            let r = redact_spans(&t.text, kinds);
            for (sum, n) in total.iter_mut().zip(r.counts) {
                *sum += n;
            }
            // Words are located in the original text in order; a word the
            // text does not contain (providers' words and text can differ)
            // is redacted on its own rather than left in the clear.
            let mut cursor = 0;
            let words = t
                .words
                .iter()
                .map(|w| {
                    let mut w = w.clone();
                    if w.word.is_empty() {
                        return w;
                    }
                    match t.text[cursor..].find(w.word.as_str()) {
                        Some(off) => {
                            let (s, e) = (cursor + off, cursor + off + w.word.len());
                            cursor = e;
                            // Later passes' findings come later and enclose
                            // earlier ones: the last overlap is the
                            // placeholder the text ended up with.
                            if let Some(span) =
                                r.spans.iter().rev().find(|sp| sp.start < e && s < sp.end)
                            {
                                w.word = span.kind.placeholder().into();
                            }
                        }
                        None => w.word = redact(&w.word, kinds).text.into(),
                    }
                    w
                })
                .collect();
            Turn {
                speaker: t.speaker,
                text: r.text,
                start: t.start,
                end: t.end,
                words,
            }
        })
        .collect();
    (out, found(&total))
}

/// Where findings of `kinds` are in `text`, in order, without replacing
/// them (one pass: what a reader of the text would point at).
pub fn find(text: &str, kinds: &[PiiKind]) -> Vec<(PiiKind, std::ops::Range<usize>)> {
    scan(text.as_bytes(), kinds)
        .into_iter()
        .map(|s| (s.kind, s.start..s.end))
        .collect()
}

fn found(counts: &[usize; 6]) -> Vec<(PiiKind, usize)> {
    PiiKind::ALL
        .into_iter()
        .filter(|k| counts[k.index()] > 0)
        .map(|k| (k, counts[k.index()]))
        .collect()
}

#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
    kind: PiiKind,
    /// Among overlapping candidates of one kind, lower ranks win before
    /// longer spans: a run of digit groups holds several Luhn-valid windows
    /// by chance, and 16 digits is by far the usual card.
    rank: u8,
}

struct SpanRedaction {
    text: String,
    /// In the original text's coordinates; a later pass's span may enclose
    /// an earlier one.
    spans: Vec<Span>,
    counts: [usize; 6],
}

/// Scans and replaces until nothing is found. One pass can expose a new
/// finding (a card shrinking to one placeholder brings a date into the
/// few-word window after "born"), and repeating makes redaction idempotent.
/// It terminates: every finding holds a digit or an `@`, placeholders none.
fn redact_spans(text: &str, kinds: &[PiiKind]) -> SpanRedaction {
    let mut current = text.to_owned();
    // For each byte of `current`, the range of `text` it stands for, so that
    // later passes' findings map back onto the original words.
    let mut origin: Vec<(usize, usize)> = (0..text.len()).map(|i| (i, i + 1)).collect();
    let mut spans = Vec::new();
    let mut counts = [0usize; 6];
    loop {
        let found = scan(current.as_bytes(), kinds);
        if found.is_empty() {
            break;
        }
        let mut next = String::with_capacity(current.len());
        let mut next_origin = Vec::with_capacity(origin.len());
        let mut last = 0;
        for s in found {
            next.push_str(&current[last..s.start]);
            next_origin.extend_from_slice(&origin[last..s.start]);
            let o = (origin[s.start].0, origin[s.end - 1].1);
            let p = s.kind.placeholder();
            next.push_str(p);
            next_origin.extend(std::iter::repeat_n(o, p.len()));
            spans.push(Span {
                start: o.0,
                end: o.1,
                ..s
            });
            counts[s.kind.index()] += 1;
            last = s.end;
        }
        next.push_str(&current[last..]);
        next_origin.extend_from_slice(&origin[last..]);
        current = next;
        origin = next_origin;
    }
    SpanRedaction {
        text: current,
        spans,
        counts,
    }
}

/// Non-overlapping findings, sorted by start.
fn scan(b: &[u8], kinds: &[PiiKind]) -> Vec<Span> {
    let mut cands = Vec::new();
    if kinds.contains(&PiiKind::Email) {
        emails(b, &mut cands);
    }
    if kinds.contains(&PiiKind::Iban) {
        ibans(b, &mut cands);
    }
    if kinds.contains(&PiiKind::DateOfBirth) {
        dates_of_birth(b, &mut cands);
    }
    if [PiiKind::Phone, PiiKind::Card, PiiKind::Ssn]
        .iter()
        .any(|k| kinds.contains(k))
    {
        digit_runs(b, kinds, &mut cands);
    }
    cands.sort_by_key(|s| {
        (
            s.kind.precedence(),
            s.rank,
            std::cmp::Reverse(s.end - s.start),
            s.start,
        )
    });
    // Accepted spans by start; they never overlap, so the one starting last
    // before a candidate's end is the only one that can overlap it.
    let mut taken: BTreeMap<usize, Span> = BTreeMap::new();
    for c in cands {
        let overlaps = taken
            .range(..c.end)
            .next_back()
            .is_some_and(|(_, t)| t.end > c.start);
        if !overlaps {
            taken.insert(c.start, c);
        }
    }
    taken.into_values().collect()
}

fn alnum_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_alphanumeric)
}

/// Whether the byte before `start` continues a word, so `start` is no word start.
fn alnum_before(b: &[u8], start: usize) -> bool {
    start > 0 && b[start - 1].is_ascii_alphanumeric()
}

fn isolated(b: &[u8], start: usize, end: usize) -> bool {
    !alnum_before(b, start) && !alnum_at(b, end)
}

fn emails(b: &[u8], out: &mut Vec<Span>) {
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    for at in (0..b.len()).filter(|&i| b[i] == b'@') {
        let mut s = at;
        while s > 0 && local(b[s - 1]) {
            s -= 1;
        }
        while s < at && !b[s].is_ascii_alphanumeric() {
            s += 1;
        }
        if s == at {
            continue;
        }
        // Domain labels; it ends after the last label that can be a TLD
        // (alphabetic, two letters or more), so a sentence's full stop or
        // digits glued to the TLD are not taken in.
        let mut e = at + 1;
        let mut labels = 0;
        let mut end = None;
        loop {
            let ls = e;
            while e < b.len() && (b[e].is_ascii_alphanumeric() || b[e] == b'-') {
                e += 1;
            }
            if e == ls {
                break;
            }
            labels += 1;
            if labels >= 2 && e - ls >= 2 && b[ls..e].iter().all(u8::is_ascii_alphabetic) {
                end = Some(e);
            }
            if b.get(e) == Some(&b'.') {
                e += 1;
            } else {
                break;
            }
        }
        if let Some(end) = end {
            out.push(Span {
                start: s,
                end,
                kind: PiiKind::Email,
                rank: 0,
            });
        }
    }
}

fn ibans(b: &[u8], out: &mut Vec<Span>) {
    let iban_char = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    for i in 0..b.len().saturating_sub(3) {
        if !(b[i].is_ascii_uppercase()
            && b[i + 1].is_ascii_uppercase()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit())
            || alnum_before(b, i)
        {
            continue;
        }
        // Compact, or printed in groups of four with single spaces (the
        // last group may be shorter); any group end may be the IBAN's end.
        let mut chars = Vec::with_capacity(34);
        let mut ends = Vec::new();
        let mut j = i;
        loop {
            let gs = j;
            while j < b.len() && iban_char(b[j]) && chars.len() < 34 {
                chars.push(b[j]);
                j += 1;
            }
            if j == gs || alnum_at(b, j) {
                break;
            }
            ends.push((j, chars.len()));
            if j - gs == 4 && b.get(j) == Some(&b' ') && b.get(j + 1).is_some_and(|&c| iban_char(c))
            {
                j += 1;
            } else {
                break;
            }
        }
        if let Some(&(end, _)) = ends
            .iter()
            .rev()
            .find(|&&(_, n)| (15..=34).contains(&n) && iban_mod97(&chars[..n]))
        {
            out.push(Span {
                start: i,
                end,
                kind: PiiKind::Iban,
                rank: 0,
            });
        }
    }
}

/// ISO 13616: the country code and check digits moved to the end, letters
/// as 10..35, the number is 1 modulo 97.
fn iban_mod97(chars: &[u8]) -> bool {
    let (head, tail) = chars.split_at(4);
    let r = tail.iter().chain(head).fold(0u32, |r, &c| {
        if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c - b'A') + 10) % 97
        }
    });
    r == 1
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// Digit groups joined by short separators (`415-555-0123`, `(415) 555 0123`,
/// `4111 1111 1111 1111`), classified as a whole and by windows of groups.
fn digit_runs(b: &[u8], kinds: &[PiiKind], out: &mut Vec<Span>) {
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let mut j = i;
        loop {
            let gs = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            groups.push((gs, j));
            let mut k = j;
            while k < b.len() && k - j < 2 && b" -.()".contains(&b[k]) {
                k += 1;
            }
            if k > j && b.get(k).is_some_and(u8::is_ascii_digit) {
                j = k;
            } else {
                break;
            }
        }
        classify_run(b, &groups, kinds, out);
        i = j;
    }
}

fn classify_run(b: &[u8], groups: &[(usize, usize)], kinds: &[PiiKind], out: &mut Vec<Span>) {
    let n = groups.len();
    let len = |g: usize| groups[g].1 - groups[g].0;
    let gap = |g: usize| &b[groups[g].1..groups[g + 1].0];
    let (start, end) = (groups[0].0, groups[n - 1].1);
    let total: usize = (0..n).map(len).sum();
    let before = start.checked_sub(1).map(|p| b[p]);
    let mut push = |start, end, kind, rank| {
        out.push(Span {
            start,
            end,
            kind,
            rank,
        });
    };

    if kinds.contains(&PiiKind::Phone) {
        // Whole run: E.164 with its `+`, or any 10 to 15 digits in groups.
        if before == Some(b'+') {
            if (8..=15).contains(&total) && isolated(b, start - 1, end) {
                push(start - 1, end, PiiKind::Phone, 0);
            }
        } else if (10..=15).contains(&total) {
            let s = if before == Some(b'(') {
                start - 1
            } else {
                start
            };
            if isolated(b, s, end) {
                push(s, end, PiiKind::Phone, 0);
            }
        }
        // North-American 3-3-4 anywhere in a longer run, e.g. next to a card.
        for g in 0..n.saturating_sub(2) {
            if (len(g), len(g + 1), len(g + 2)) != (3, 3, 4) {
                continue;
            }
            let (first, second) = (gap(g), gap(g + 1));
            let paren = first.starts_with(b")");
            let s = if paren {
                groups[g].0.wrapping_sub(1)
            } else {
                groups[g].0
            };
            let ok_first = matches!(first, b"-" | b"." | b" ")
                || (paren && matches!(first, b")" | b") " | b")-") && b.get(s) == Some(&b'('));
            if ok_first && matches!(second, b"-" | b"." | b" ") && isolated(b, s, groups[g + 2].1) {
                push(s, groups[g + 2].1, PiiKind::Phone, 0);
            }
        }
    }

    if kinds.contains(&PiiKind::Ssn)
        && n == 3
        && (len(0), len(1), len(2)) == (3, 2, 4)
        && gap(0) == b"-"
        && gap(1) == b"-"
        && isolated(b, start, end)
    {
        let area = &b[groups[0].0..groups[0].1];
        let valid = area != b"000"
            && area != b"666"
            && area[0] != b'9'
            && &b[groups[1].0..groups[1].1] != b"00"
            && &b[groups[2].0..groups[2].1] != b"0000";
        if valid {
            push(start, end, PiiKind::Ssn, 0);
        }
    }

    if kinds.contains(&PiiKind::Card) {
        for g in 0..n {
            let mut digits: Vec<u8> = Vec::with_capacity(19);
            for h in g..n {
                if h > g && !(matches!(gap(h - 1), b" " | b"-") && gap(h - 1) == gap(g)) {
                    break;
                }
                digits.extend(b[groups[h].0..groups[h].1].iter().map(|d| d - b'0'));
                if digits.len() > 19 {
                    break;
                }
                if digits.len() >= 13 && luhn(&digits) && isolated(b, groups[g].0, groups[h].1) {
                    push(
                        groups[g].0,
                        groups[h].1,
                        PiiKind::Card,
                        u8::from(digits.len() != 16),
                    );
                }
            }
        }
    }
}

/// Words that make a nearby date a date of birth.
const DOB_TRIGGERS: [&str; 7] = [
    "date of birth",
    "birth date",
    "birthdate",
    "birthday",
    "born",
    "dob",
    "d.o.b",
];
/// How many words after a trigger a date may start, and at most how many
/// bytes: without the cap, `born,born,…` in one long word would rescan the
/// rest of the text for every trigger.
const DOB_WINDOW_WORDS: usize = 6;
const DOB_WINDOW_BYTES: usize = 80;
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn dates_of_birth(b: &[u8], out: &mut Vec<Span>) {
    let lower = b.to_ascii_lowercase();
    for i in 0..b.len() {
        if !matches!(lower[i], b'b' | b'd') || alnum_before(b, i) {
            continue;
        }
        let Some(t) = DOB_TRIGGERS
            .iter()
            .find(|t| lower[i..].starts_with(t.as_bytes()) && !alnum_at(b, i + t.len()))
        else {
            continue;
        };
        let from = i + t.len();
        let mut window_end = from;
        let limit = b.len().min(from + DOB_WINDOW_BYTES);
        for _ in 0..DOB_WINDOW_WORDS {
            while window_end < limit && b[window_end].is_ascii_whitespace() {
                window_end += 1;
            }
            while window_end < limit && !b[window_end].is_ascii_whitespace() {
                window_end += 1;
            }
        }
        let mut q = from;
        while q < window_end {
            if b[q].is_ascii_alphanumeric() && !alnum_before(b, q) {
                if let Some(end) = parse_date(b, &lower, q) {
                    out.push(Span {
                        start: q,
                        end,
                        kind: PiiKind::DateOfBirth,
                        rank: 0,
                    });
                    q = end;
                    continue;
                }
            }
            q += 1;
        }
    }
}

/// A number of 1 to `max` digits at `i`: (value, end, digit count).
fn number(b: &[u8], i: usize, max: usize) -> Option<(u32, usize, usize)> {
    let mut e = i;
    let mut v = 0u32;
    while e < b.len() && b[e].is_ascii_digit() {
        if e - i == max {
            return None;
        }
        v = v * 10 + u32::from(b[e] - b'0');
        e += 1;
    }
    (e > i).then_some((v, e, e - i))
}

fn month(lower: &[u8], i: usize) -> Option<usize> {
    let rest = &lower[i..];
    MONTHS.iter().find_map(|m| {
        if rest.starts_with(m.as_bytes()) && !alnum_at(lower, i + m.len()) {
            Some(i + m.len())
        } else if rest.starts_with(&m.as_bytes()[..3]) && !alnum_at(lower, i + 3) {
            Some(if lower.get(i + 3) == Some(&b'.') {
                i + 4
            } else {
                i + 3
            })
        } else {
            None
        }
    })
}

/// A day of the month with an optional ordinal suffix (`14`, `14th`).
fn day(b: &[u8], lower: &[u8], i: usize) -> Option<usize> {
    let (d, mut e, _) = number(b, i, 2)?;
    if !(1..=31).contains(&d) {
        return None;
    }
    if [b"st", b"nd", b"rd", b"th"]
        .iter()
        .any(|s| lower[e..].starts_with(*s))
    {
        e += 2;
    }
    (!alnum_at(b, e)).then_some(e)
}

fn spaces(b: &[u8], i: usize) -> Option<usize> {
    let mut e = i;
    while b.get(e) == Some(&b' ') {
        e += 1;
    }
    (e > i).then_some(e)
}

/// `, 1985` or ` 1985` after a day or month.
fn year_after(b: &[u8], i: usize) -> Option<usize> {
    let i = if b.get(i) == Some(&b',') { i + 1 } else { i };
    let (_, e, n) = number(b, spaces(b, i)?, 4)?;
    (n == 4 && !alnum_at(b, e)).then_some(e)
}

/// `03/14/1985`, `14.03.85`, `1985-03-14`, `March 14, 1985`, `14 March 1985`:
/// the end of the date starting at `i`.
fn parse_date(b: &[u8], lower: &[u8], i: usize) -> Option<usize> {
    if b[i].is_ascii_digit() {
        if let Some(e) = day(b, lower, i)
            .and_then(|e| spaces(b, e))
            .map(|e| {
                if lower[e..].starts_with(b"of ") {
                    e + 3
                } else {
                    e
                }
            })
            .and_then(|e| month(lower, e))
            .and_then(|e| year_after(b, e))
        {
            return Some(e);
        }
        let (a, e1, la) = number(b, i, 4)?;
        let sep = *b.get(e1).filter(|c| b"/-.".contains(c))?;
        let (m, e2, _) = number(b, e1 + 1, 2)?;
        if b.get(e2) != Some(&sep) {
            return None;
        }
        let (c, e3, lc) = number(b, e2 + 1, 4)?;
        let valid = if la == 4 {
            lc <= 2 && (1..=12).contains(&m) && (1..=31).contains(&c)
        } else {
            la <= 2
                && (lc == 2 || lc == 4)
                && a >= 1
                && m >= 1
                && ((a <= 12 && m <= 31) || (a <= 31 && m <= 12))
        };
        (valid && !alnum_at(b, e3)).then_some(e3)
    } else {
        let e = month(lower, i)?;
        let e = day(b, lower, spaces(b, e)?)?;
        year_after(b, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use switchboard_ingest::{Speaker, Word};

    fn all(text: &str) -> Redacted {
        redact(text, &PiiKind::ALL)
    }

    #[track_caller]
    fn redacts(text: &str, expected: &str, kind: PiiKind) {
        let r = all(text);
        assert_eq!(r.text, expected, "{text}");
        assert_eq!(r.found, vec![(kind, 1)], "{text}");
    }

    #[track_caller]
    fn keeps(text: &str) {
        let r = all(text);
        assert_eq!(r.text, text);
        assert!(r.found.is_empty(), "{text}: {:?}", r.found);
    }

    #[test]
    fn phones() {
        redacts("call +14155550123 now", "call [PHONE] now", PiiKind::Phone);
        redacts("call +1 415 555 0123.", "call [PHONE].", PiiKind::Phone);
        redacts("it's (415) 555-0123", "it's [PHONE]", PiiKind::Phone);
        redacts("415-555-0123, thanks", "[PHONE], thanks", PiiKind::Phone);
        redacts("415.555.0123", "[PHONE]", PiiKind::Phone);
        redacts(
            "ring 020 7946 0018 today",
            "ring [PHONE] today",
            PiiKind::Phone,
        );
        redacts("+44 20 7946 0018", "[PHONE]", PiiKind::Phone);
        keeps("order 12345 shipped, 3.5 kg, room 555-01");
        keeps("ticket A4155550123 is open");
    }

    #[test]
    fn emails_are_redacted_without_trailing_punctuation() {
        redacts(
            "mail jane.doe+calls@example.com.",
            "mail [EMAIL].",
            PiiKind::Email,
        );
        redacts("Ω bob@mail.example.com Ω", "Ω [EMAIL] Ω", PiiKind::Email);
        keeps("meet me @ noon, see a@b or x@localhost");
    }

    #[test]
    fn cards_need_luhn_and_win_over_phones() {
        redacts(
            "card 4111 1111 1111 1111 exp 12/27",
            "card [CARD] exp 12/27",
            PiiKind::Card,
        );
        redacts("4111-1111-1111-1111", "[CARD]", PiiKind::Card);
        redacts("4111111111111111", "[CARD]", PiiKind::Card);
        // 13 digits would be a phone length: Luhn-valid, it is a card.
        redacts("4222222222222", "[CARD]", PiiKind::Card);
        keeps("card 4111 1111 1111 1112 exp");
        keeps("4111 1111-1111 1111");
        let r = all("4111111111111111 or 415-555-0123");
        assert_eq!(r.text, "[CARD] or [PHONE]");
        let r = all("4111 1111 1111 1111 415 555 0123");
        assert_eq!(r.text, "[CARD] [PHONE]");
    }

    #[test]
    fn ssns_exclude_invalid_numbers() {
        redacts("SSN 123-45-6789.", "SSN [SSN].", PiiKind::Ssn);
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            keeps(bad);
        }
        keeps("123-45-678");
    }

    #[test]
    fn ibans_are_checked_mod_97() {
        redacts(
            "IBAN GB82 WEST 1234 5698 7654 32 please",
            "IBAN [IBAN] please",
            PiiKind::Iban,
        );
        redacts("GB82WEST12345698765432", "[IBAN]", PiiKind::Iban);
        redacts("DE89 3704 0044 0532 0130 00.", "[IBAN].", PiiKind::Iban);
        for bad in ["GB83 WEST 1234 5698 7654 32", "GB82WEST12345698765433"] {
            assert!(!all(bad).found.iter().any(|(k, _)| *k == PiiKind::Iban));
            assert!(all(bad).text.starts_with("GB8"));
        }
    }

    #[test]
    fn dates_of_birth_only_in_context() {
        redacts(
            "I was born on 03/14/1985.",
            "I was born on [DOB].",
            PiiKind::DateOfBirth,
        );
        redacts("DOB: 1985-03-14", "DOB: [DOB]", PiiKind::DateOfBirth);
        redacts(
            "my date of birth is March 14, 1985 ok",
            "my date of birth is [DOB] ok",
            PiiKind::DateOfBirth,
        );
        redacts("d.o.b. 14 March 1985", "d.o.b. [DOB]", PiiKind::DateOfBirth);
        redacts(
            "birthday, the 14th of march 1985",
            "birthday, the [DOB]",
            PiiKind::DateOfBirth,
        );
        keeps("the meeting is on 03/14/1985");
        keeps("born and raised in Ohio; the invoice dated March 14, 1985 was paid");
        keeps("born 13/13/1985");
        keeps("reborn on 03/14/1985");
    }

    #[test]
    fn only_requested_kinds_are_redacted() {
        let r = redact("a@example.com 415-555-0123", &[PiiKind::Phone]);
        assert_eq!(r.text, "a@example.com [PHONE]");
        assert_eq!(r.found, vec![(PiiKind::Phone, 1)]);
        let r = all("415-555-0123 and 415.555.0199, jo@example.com");
        assert_eq!(r.found, vec![(PiiKind::Phone, 2), (PiiKind::Email, 1)]);
    }

    fn w(word: &str, start: f64, end: f64) -> Word {
        Word {
            word: word.into(),
            start,
            end,
        }
    }

    #[test]
    fn words_inside_findings_become_placeholders_and_keep_timings() {
        let turn = Turn {
            speaker: Speaker::Customer,
            text: "It's 415 555 0123, or jo@example.com.".into(),
            start: Some(1.0),
            end: Some(4.0),
            words: vec![
                w("It's", 1.0, 1.2),
                w("415", 1.3, 1.6),
                w("555", 1.7, 2.0),
                w("0123,", 2.1, 2.5),
                w("or", 2.6, 2.7),
                w("jo@example.com.", 2.8, 3.9),
                w("4111111111111111", 3.9, 4.0),
            ],
        };
        let (out, counts) = redact_turns(std::slice::from_ref(&turn), &PiiKind::ALL);
        assert_eq!(counts, vec![(PiiKind::Phone, 1), (PiiKind::Email, 1)]);
        let t = &out[0];
        assert_eq!(t.text, "It's [PHONE], or [EMAIL].");
        let words: Vec<&str> = t.words.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(
            words,
            ["It's", "[PHONE]", "[PHONE]", "[PHONE]", "or", "[EMAIL]", "[CARD]"]
        );
        for (a, b) in t.words.iter().zip(&turn.words) {
            assert_eq!((a.start, a.end), (b.start, b.end));
        }
        assert_eq!(
            (t.speaker, t.start, t.end),
            (turn.speaker, turn.start, turn.end)
        );
    }

    #[test]
    fn long_adversarial_inputs_stay_linear() {
        let started = std::time::Instant::now();
        for unit in [
            "born,",
            "1 ",
            "a@",
            "GB82",
            "4111-",
            "born 4111 1111 1111 1111 ",
            "é",
        ] {
            let text = unit.repeat(200_000 / unit.len());
            let once = all(&text);
            assert_eq!(all(&once.text).text, once.text);
        }
        // Generous for unoptimised builds; quadratic behaviour takes minutes.
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    }

    fn pii_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("4111 1111 1111 1111".to_owned()),
            Just("GB82 WEST 1234 5698 7654 32".to_owned()),
            Just("born".to_owned()),
            Just("March 14, 1985".to_owned()),
            Just("a@example.com".to_owned()),
            Just("(415) 555-0123".to_owned()),
            Just("123-45-6789".to_owned()),
            "[0-9 ()+@.,/:-]{1,8}",
            "[A-Za-z]{1,6}",
            "\\PC{1,4}",
        ];
        prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn redaction_never_panics_and_is_idempotent(s in prop_oneof![any::<String>(), pii_like()]) {
            let once = all(&s);
            let twice = all(&once.text);
            prop_assert_eq!(&twice.text, &once.text);
            prop_assert!(twice.found.is_empty());
        }

        #[test]
        fn word_redaction_never_panics(s in pii_like(), cut in prop::collection::vec(0usize..40, 0..6)) {
            let words = cut.iter().map(|&c| {
                let word: String = s.chars().skip(c).take(3).collect();
                w(&word, 0.0, 1.0)
            }).collect();
            let turn = Turn { speaker: Speaker::Agent, text: s.clone(), start: None, end: None, words };
            let (out, _) = redact_turns(&[turn], &PiiKind::ALL);
            prop_assert_eq!(out[0].words.len(), cut.len());
        }
    }
}
