//! Bulk imports: JSON Lines of call documents, or CSV with one call per row.
//! Each line is validated on its own; a bad line is reported with its
//! number and fields and does not stop the others.

use std::io::{BufRead, BufReader, Read};

use serde_json::{json, Map, Value};

use crate::model::ParseError;
use crate::providers::switchboard::{self, ValidCall};

/// The outcome of one line (1-based, as an editor shows it).
#[derive(Debug)]
pub struct Line {
    pub line: usize,
    pub result: Result<ValidCall, Vec<ParseError>>,
    /// The line as a call document, kept as the raw payload.
    pub raw: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    /// From a content type or file name.
    pub fn detect(hint: &str) -> Option<Format> {
        let h = hint.to_ascii_lowercase();
        if h.contains("csv") {
            Some(Format::Csv)
        } else if h.contains("jsonl") || h.contains("ndjson") || h.contains("json") {
            Some(Format::Jsonl)
        } else {
            None
        }
    }
}

/// The lines of an import, read from `input` only as they are taken: a file
/// of any size is imported in the memory of a few lines. An error reading
/// `input` ends the lines with that error.
pub type Lines<'a> = Box<dyn Iterator<Item = std::io::Result<Line>> + Send + 'a>;

pub fn read<'a>(format: Format, input: impl Read + Send + 'a) -> Lines<'a> {
    let lines: Lines<'a> = match format {
        Format::Jsonl => Box::new(jsonl_lines(BufReader::new(input))),
        Format::Csv => csv_lines(input),
    };
    // A reader may fail again on every later call.
    let mut failed = false;
    Box::new(lines.take_while(move |line| {
        let go_on = !failed;
        failed |= line.is_err();
        go_on
    }))
}

/// Every line of an import held in memory.
pub fn parse(format: Format, data: &[u8]) -> Vec<Line> {
    read(format, data)
        .collect::<std::io::Result<_>>()
        .expect("reading a slice cannot fail")
}

fn jsonl_lines(mut input: impl BufRead) -> impl Iterator<Item = std::io::Result<Line>> {
    let mut number = 0;
    std::iter::from_fn(move || loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return None,
            Ok(_) => number += 1,
            Err(e) => return Some(Err(e)),
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return Some(Ok(Line {
            line: number,
            result: switchboard::parse(&line),
            raw: line,
        }));
    })
}

/// CSV with a header row: each column is the call document's member of
/// that name, as text, except `test` (a yes/no) and `transcript` (one turn
/// per line, `agent: …` or `customer: …`). Documented in docs/call-json.md.
fn csv_lines<'a>(input: impl Read + Send + 'a) -> Lines<'a> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            let line = read_error(e).map(|e| Line {
                line: 1,
                result: Err(vec![ParseError::new("header", e)]),
                raw: Vec::new(),
            });
            return Box::new(std::iter::once(line));
        }
    };
    Box::new(
        reader
            .into_records()
            .enumerate()
            .map(move |(i, record)| csv_line(&headers, i, record)),
    )
}

/// A CSV error that is the input's, or the message of one that is the row's.
fn read_error(e: csv::Error) -> std::io::Result<String> {
    if e.is_io_error() {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => Err(io),
            _ => unreachable!("an I/O error's kind is Io"),
        }
    } else {
        Ok(e.to_string())
    }
}

fn csv_line(
    headers: &csv::StringRecord,
    index: usize,
    record: csv::Result<csv::StringRecord>,
) -> std::io::Result<Line> {
    // Where the row starts, counting lines inside quoted fields too.
    let position = match &record {
        Ok(r) => r.position(),
        Err(e) => e.position(),
    };
    let line = position.map(|p| p.line() as usize).unwrap_or(index + 2);
    let record = match record {
        Ok(r) => r,
        Err(e) => {
            return Ok(Line {
                line,
                result: Err(vec![ParseError::new("row", read_error(e)?)]),
                raw: Vec::new(),
            })
        }
    };
    let mut doc = Map::new();
    let mut errors = Vec::new();
    for (name, value) in headers.iter().zip(record.iter()) {
        if value.is_empty() {
            continue;
        }
        let v = match name {
            "test" => match value {
                "true" | "1" | "yes" => json!(true),
                "false" | "0" | "no" => json!(false),
                _ => {
                    errors.push(ParseError::new("test", "expected true or false"));
                    continue;
                }
            },
            "transcript" => match turns_from_text(value) {
                Ok(turns) => {
                    doc.insert("turns".into(), turns);
                    continue;
                }
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            },
            _ => json!(value),
        };
        doc.insert(name.to_owned(), v);
    }
    let raw = serde_json::to_vec(&Value::Object(doc)).unwrap_or_default();
    let result = if errors.is_empty() {
        switchboard::parse(&raw)
    } else {
        Err(errors)
    };
    Ok(Line { line, result, raw })
}

fn turns_from_text(text: &str) -> Result<Value, ParseError> {
    let mut turns = Vec::new();
    for (i, l) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let (who, said) = l.split_once(':').ok_or_else(|| {
            ParseError::new(
                "transcript",
                format!("turn {}: expected `agent: …` or `customer: …`", i + 1),
            )
        })?;
        let speaker = match who.trim().to_ascii_lowercase().as_str() {
            "agent" => "agent",
            "customer" | "caller" | "user" => "customer",
            _ => {
                return Err(ParseError::new(
                    "transcript",
                    format!("turn {}: the speaker must be agent or customer", i + 1),
                ))
            }
        };
        turns.push(json!({"speaker": speaker, "text": said.trim()}));
    }
    Ok(Value::Array(turns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_reports_bad_lines_by_number() {
        let data = concat!(
            r#"{"external_id":"a","direction":"inbound","from":"+14155550123","to":"+14155550100","started_at":"2026-03-01T10:00:00Z"}"#,
            "\n\n",
            r#"{"external_id":"b","direction":"inbound","from":"nope","to":"+14155550100","started_at":"2026-03-01T10:00:00Z"}"#,
            "\n",
            "{truncated\n"
        );
        let lines = parse(Format::Jsonl, data.as_bytes());
        assert_eq!(lines.len(), 3);
        assert!(lines[0].result.is_ok());
        assert_eq!(lines[1].line, 3);
        assert_eq!(lines[1].result.as_ref().unwrap_err()[0].field, "from");
        assert_eq!(lines[2].line, 4);
        assert_eq!(lines[2].result.as_ref().unwrap_err()[0].field, "body");
    }

    #[test]
    fn csv_rows_become_documents() {
        let data = "external_id,direction,from,to,started_at,test,transcript\n\
            c1,outbound,+14155550123,+14155550100,2026-03-01T10:00:00Z,true,\"agent: Hello\ncustomer: Hi there\"\n\
            c2,inbound,+14155550123,+14155550100,2026-03-01T10:00:00Z,maybe,\n";
        let lines = parse(Format::Csv, data.as_bytes());
        assert_eq!(lines.len(), 2);
        let ok = lines[0].result.as_ref().unwrap();
        assert_eq!(ok.update.fields.test, Some(true));
        assert_eq!(ok.update.fields.turns_here().unwrap()[1].text, "Hi there");
        assert_eq!(lines[1].line, 4);
        assert_eq!(lines[1].result.as_ref().unwrap_err()[0].field, "test");
    }

    /// A reader that hands out `data` a few bytes at a time, then fails.
    struct Trickle<'a> {
        data: &'a [u8],
        fail_at_end: bool,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.data.is_empty() && self.fail_at_end {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = buf.len().min(self.data.len()).min(7);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_read_in_pieces_are_the_lines_parsed_whole() {
        let jsonl = concat!(
            r#"{"external_id":"a","direction":"inbound","from":"+14155550123","to":"+14155550100","started_at":"2026-03-01T10:00:00Z"}"#,
            "\r\n\n{truncated\n",
            r#"{"external_id":"b","direction":"inbound","from":"+14155550123","to":"+14155550100","started_at":"2026-03-01T10:00:00Z"}"#,
        );
        let csv = "external_id,transcript\nc1,\"agent: a\ncustomer: b\"\nc2,x,extra\nc3,\n";
        for (format, data) in [(Format::Jsonl, jsonl), (Format::Csv, csv)] {
            let whole = parse(format, data.as_bytes());
            let trickled: Vec<Line> = read(
                format,
                Trickle {
                    data: data.as_bytes(),
                    fail_at_end: false,
                },
            )
            .collect::<std::io::Result<_>>()
            .unwrap();
            let summary = |lines: &[Line]| -> Vec<(usize, bool, Vec<u8>)> {
                lines
                    .iter()
                    .map(|l| (l.line, l.result.is_ok(), l.raw.clone()))
                    .collect()
            };
            assert_eq!(summary(&trickled), summary(&whole), "{format:?}");
            assert_eq!(whole.len(), 3, "{format:?}");
        }
    }

    #[test]
    fn an_unreadable_input_ends_the_lines_with_its_error() {
        for format in [Format::Jsonl, Format::Csv] {
            let input = Trickle {
                data: b"external_id\nc1\n",
                fail_at_end: true,
            };
            let lines: Vec<_> = read(format, input).collect();
            let last = lines.last().expect("a line");
            assert_eq!(
                last.as_ref().map(|_| ()).unwrap_err().to_string(),
                "the disk went away",
                "{format:?}"
            );
        }
    }

    #[test]
    fn refused_rows_are_reported_where_they_start() {
        // The second row spans two lines; the third has too many fields.
        let data = "external_id,transcript\nc1,\"agent: a\ncustomer: b\"\nc2,x,extra\n";
        let lines = parse(Format::Csv, data.as_bytes());
        assert_eq!(lines[1].line, 4);
        assert_eq!(lines[1].result.as_ref().unwrap_err()[0].field, "row");
    }
}
