//! Bulk imports: JSON Lines of call documents, or CSV with one call per row.
//! Each line is validated on its own; a bad line is reported with its
//! number and fields and does not stop the others.

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

pub fn parse(format: Format, data: &[u8]) -> Vec<Line> {
    match format {
        Format::Jsonl => parse_jsonl(data),
        Format::Csv => parse_csv(data),
    }
}

fn parse_jsonl(data: &[u8]) -> Vec<Line> {
    data.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .map(|(i, l)| Line {
            line: i + 1,
            result: switchboard::parse(l),
            raw: l.to_vec(),
        })
        .collect()
}

/// CSV with a header row: each column is the call document's member of
/// that name, as text, except `test` (a yes/no) and `transcript` (one turn
/// per line, `agent: …` or `customer: …`). Documented in docs/call-json.md.
fn parse_csv(data: &[u8]) -> Vec<Line> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(data);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return vec![Line {
                line: 1,
                result: Err(vec![ParseError::new("header", e.to_string())]),
                raw: Vec::new(),
            }]
        }
    };
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Where the row starts, counting lines inside quoted fields too.
        let position = match &record {
            Ok(r) => r.position(),
            Err(e) => e.position(),
        };
        let line = position.map(|p| p.line() as usize).unwrap_or(i + 2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.push(Line {
                    line,
                    result: Err(vec![ParseError::new("row", e.to_string())]),
                    raw: Vec::new(),
                });
                continue;
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
        out.push(Line { line, result, raw });
    }
    out
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
        assert_eq!(ok.update.fields.turns.as_ref().unwrap()[1].text, "Hi there");
        assert_eq!(lines[1].line, 4);
        assert_eq!(lines[1].result.as_ref().unwrap_err()[0].field, "test");
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
