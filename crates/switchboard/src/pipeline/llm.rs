//! What the pipeline asks an LLM and how it reads the answers: the prompts
//! are built from the *redacted* transcript only, and an answer that is not
//! the JSON asked for is an error (the stage is retried), never a guess.

use serde_json::Value;
use switchboard_analysis::ai_config::AiConfig;
use switchboard_analysis::qa::{self, Answer, CriterionKind, QaConfig};
use switchboard_analysis::summary::{Method, Summary};
use switchboard_analysis::CallAnalysis;
use switchboard_ingest::{Speaker, Turn};

use crate::openai::{Endpoint, EndpointError, Usage};

/// Turns as numbered lines, so answers can point at them.
pub fn transcript(turns: &[Turn]) -> String {
    let mut out = String::new();
    for (i, t) in turns.iter().enumerate() {
        let who = match t.speaker {
            Speaker::Agent => "Agent",
            Speaker::Customer => "Customer",
        };
        out.push_str(&format!("[{i}] {who}: {}\n", t.text.trim()));
    }
    out
}

pub fn summary_prompt(ai: &AiConfig) -> String {
    let mut p = String::from(
        "You summarise recorded customer calls for the business that took them. \
         Reply with one JSON object: {\"summary\": string, \"next_steps\": [string]}. \
         next_steps lists the concrete actions agreed or promised in the call, in order; \
         an empty list when there are none. Placeholders such as [PHONE] stand for \
         redacted details: keep them as they are.",
    );
    p.push_str(&format!(" Write in the language tagged {}.", ai.language));
    if let Some(i) = &ai.summary.instructions {
        p.push_str("\nSummary instructions: ");
        p.push_str(i);
    }
    if let Some(i) = &ai.next_steps.instructions {
        p.push_str("\nNext steps instructions: ");
        p.push_str(i);
    }
    p
}

pub fn parse_summary(v: &Value) -> Result<Summary, EndpointError> {
    let bad = |m: &str| EndpointError::Answer(m.to_owned());
    let text = v["summary"]
        .as_str()
        .ok_or_else(|| bad("summary must be a string"))?;
    let steps = v["next_steps"]
        .as_array()
        .ok_or_else(|| bad("next_steps must be a list"))?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bad("next_steps must hold strings"))?;
    Ok(Summary {
        method: Method::Llm,
        text: text.trim().to_owned(),
        next_steps: steps,
    })
}

/// The rubric's questions, or `None` when it has none.
pub fn questions_prompt(rubric: &QaConfig) -> Option<String> {
    let questions: Vec<String> = rubric
        .criteria
        .iter()
        .filter_map(|c| match &c.kind {
            CriterionKind::Question { question } => Some(format!("- {}: {question}", c.id)),
            CriterionKind::Rule(_) => None,
        })
        .collect();
    if questions.is_empty() {
        return None;
    }
    Some(format!(
        "You review a recorded customer call against quality questions. Answer each \
         question with yes or no from what was said. Reply with one JSON object: \
         {{\"answers\": [{{\"id\": string, \"answer\": \"yes\" | \"no\", \"turns\": [number]}}]}}, \
         where turns are the numbers of the lines the answer rests on.\nQuestions:\n{}",
        questions.join("\n")
    ))
}

pub fn parse_answers(v: &Value) -> Result<Vec<Answer>, EndpointError> {
    let bad = |m: &str| EndpointError::Answer(m.to_owned());
    v["answers"]
        .as_array()
        .ok_or_else(|| bad("answers must be a list"))?
        .iter()
        .map(|a| {
            let id = a["id"].as_str().ok_or_else(|| bad("an answer has no id"))?;
            let yes = match a["answer"].as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("yes") => true,
                Some("no") => false,
                _ => return Err(bad("an answer is neither yes nor no")),
            };
            let turns = a["turns"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_u64)
                        .map(|n| n as usize)
                        .collect()
                })
                .unwrap_or_default();
            Ok(Answer {
                id: id.to_owned(),
                yes,
                turns,
            })
        })
        .collect()
}

/// Replaces the extractive summary and answers the rubric's questions with
/// the LLM; returns the tokens used.
pub async fn enrich(
    endpoint: &Endpoint,
    ai: &AiConfig,
    rubric: &QaConfig,
    analysis: &mut CallAnalysis,
) -> Result<Usage, EndpointError> {
    let mut usage = Usage::default();
    if analysis.turns.iter().all(|t| t.text.trim().is_empty()) {
        return Ok(usage);
    }
    let text = transcript(&analysis.turns);
    let (answer, used) = endpoint.chat_json(&summary_prompt(ai), &text).await?;
    usage.add(used);
    analysis.summary = parse_summary(&answer)?;
    if let (Some(prompt), Some(result)) = (questions_prompt(rubric), analysis.qa.as_mut()) {
        let (answer, used) = endpoint.chat_json(&prompt, &text).await?;
        usage.add(used);
        qa::answer_questions(
            result,
            rubric,
            &parse_answers(&answer)?,
            analysis.turns.len(),
        );
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_read_strictly() {
        let a = parse_answers(&json!({"answers": [
            {"id": "empathy", "answer": "Yes", "turns": [1, 3]},
            {"id": "solved", "answer": "no"}]}))
        .unwrap();
        assert_eq!(a[0].id, "empathy");
        assert!(a[0].yes);
        assert_eq!(a[0].turns, vec![1, 3]);
        assert!(!a[1].yes);
        for bad in [
            json!({}),
            json!({"answers": [{"answer": "yes"}]}),
            json!({"answers": [{"id": "x", "answer": "maybe"}]}),
        ] {
            assert!(parse_answers(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn summaries_are_read_strictly() {
        let s = parse_summary(&json!({"summary": " A claim. ", "next_steps": ["Send the form"]}))
            .unwrap();
        assert_eq!(s.method, Method::Llm);
        assert_eq!(s.text, "A claim.");
        assert!(parse_summary(&json!({"summary": "x", "next_steps": "call"})).is_err());
        assert!(parse_summary(&json!({"next_steps": []})).is_err());
    }

    #[test]
    fn prompts_carry_the_tenants_instructions_and_numbered_turns() {
        let mut ai = AiConfig::default();
        ai.summary.instructions = Some("Two sentences for an adjuster.".into());
        assert!(summary_prompt(&ai).contains("Two sentences for an adjuster."));
        let turns = [Turn {
            speaker: Speaker::Customer,
            text: "My card is [CARD].".into(),
            start: None,
            end: None,
            words: vec![],
        }];
        assert_eq!(transcript(&turns), "[0] Customer: My card is [CARD].\n");
        let rubric = qa::parse_config(
            br#"{"pass_mark": 1, "criteria": [{"id": "kind", "name": "Kind", "weight": 1, "type": "question", "question": "Was the agent kind?"}]}"#,
        )
        .unwrap();
        assert!(questions_prompt(&rubric)
            .unwrap()
            .contains("- kind: Was the agent kind?"));
    }
}
