//! The VADER port against the reference Python vaderSentiment 3.3.2: on a
//! corpus of synthetic call turns and hand-written edge sentences, at least
//! 99 % of compound scores must be within 0.01 of Python's.
//!
//! Needs python3 with `vaderSentiment` (`pip install vaderSentiment==3.3.2`).
//! Without it the test prints `SKIPPED (vaderSentiment not installed)` and
//! passes, except when the `CI` environment variable is set: then it fails.
//! Set `VADER_CORPUS_OUT=path` to keep the corpus.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use switchboard_analysis::sentiment::compound;
use switchboard_core::IndustryTemplate;
use switchboard_ingest::synthetic::generate;

const CALLS_PER_INDUSTRY: u64 = 200;
const TOLERANCE: f64 = 0.01;
const REQUIRED: f64 = 0.99;

fn synthetic_sentences() -> BTreeSet<String> {
    let start = 1_772_463_600_000; // 2 March 2026
    let end = start + 30 * 86_400_000;
    let mut out = BTreeSet::new();
    for industry in [
        IndustryTemplate::Generic,
        IndustryTemplate::Insurance,
        IndustryTemplate::RealEstate,
    ] {
        for index in 0..CALLS_PER_INDUSTRY {
            for turn in generate(industry, 7, index, start, end).turns {
                out.insert(turn.text);
            }
        }
    }
    out
}

fn edge_sentences() -> Vec<String> {
    let mut out: Vec<String> = [
        "",
        "   ",
        "ok",
        "OK",
        "no",
        "No.",
        "No problem at all.",
        "No, that's fine.",
        "no no no",
        "That is not good.",
        "That isn't bad at all.",
        "It was never so good.",
        "It was never this bad.",
        "Without doubt the best service.",
        "Without a doubt, great help.",
        "I don't think this is a good idea.",
        "I can't say I'm happy.",
        "I'm not unhappy.",
        "Nothing was wrong.",
        "Nobody helped me, nothing worked, never again.",
        "At least it works.",
        "It is the least helpful agent.",
        "At very least you tried.",
        "The agent was nice but the wait was terrible.",
        "The wait was terrible but the agent was nice.",
        "Good, good, good but bad, bad, bad.",
        "Great but great.",
        "But it is good.",
        "It is good but",
        "good but good but bad",
        "I am SO ANGRY right now",
        "I AM SO ANGRY RIGHT NOW",
        "This is GREAT",
        "THIS IS GREAT",
        "This is VERY good",
        "This is very GOOD!!!",
        "Thank you!",
        "Thank you!!",
        "Thank you!!!!!!!",
        "Really?",
        "Really??",
        "Really????",
        "What?! No way!!",
        "Is that a good idea??",
        "Thanks :)",
        "Thanks :-)",
        "Not happy :(",
        "That's hilarious :D",
        "<3",
        "I love it ❤️",
        "Great job 👍",
        "I'm so angry 😡😡",
        "😀",
        "happy😀sad",
        "It was kind of good.",
        "It was kind of bad.",
        "Kind of awful, sort of fine.",
        "It's kinda ok",
        "It was sort of helpful",
        "It is somewhat better",
        "It is slightly annoying",
        "It is barely acceptable",
        "It is extremely helpful",
        "It is incredibly frustrating",
        "It is absolutely wonderful",
        "It is hardly ideal",
        "Just enough help",
        "That was the shit",
        "The bomb, really",
        "Yeah right, great service.",
        "That cake is to die for",
        "It was the kiss of death for the deal",
        "I waited at the bus stop",
        "My beating heart",
        "Badass work",
        "You are not the best but not the worst",
        "I'm not sure, maybe, I guess it's fine?",
        "Sorry, I'm afraid we can't do that.",
        "Unfortunately the claim was denied.",
        "We apologize for the inconvenience.",
        "Perfect, that's exactly what I needed, thank you so much!",
        "This is the worst experience I've ever had!!!",
        "I want to cancel my policy immediately.",
        "Could you please help me with my claim?",
        "Your call is important to us.",
        "I'm so frustrated, I've called three times already.",
        "You've been very helpful, I really appreciate it.",
        "Hmm.",
        "Uh-uh, not interested.",
        "Nope, not good.",
        "I'd rather not.",
        "It wasn't the best, it wasn't the worst.",
        "Don't worry, it's fine.",
        "No worries!",
        "not bad",
        "NOT BAD",
        "Not BAD",
        "Ok fine whatever",
        "I am very very very happy",
        "I am very, very happy",
        "It's not really that great",
        "It's really not that great",
        "Never again",
        "I have never been happier",
        "I could not be happier",
        "Best. Service. Ever.",
        "...great...",
        "\"great\"",
        "(great)",
        "'ok'",
        "--good--",
        "a",
        "I",
        "x y z",
        "1234 5678",
        "Call me at 555-0123.",
        "My email is jane@example.com, thanks!",
        "ÉNORME problème",
        "Très bien, merci",
        "naïve café résumé",
        "tab\tseparated\twords good",
        "line\u{1c}separator good",
        "non\u{a0}breaking good",
        "GREAT, GOOD, NICE, fine",
        "good GOOD Good gOOd",
        "The price isn't great but the coverage is excellent and the agent was wonderful.",
        "I was not disappointed",
        "I was not at all disappointed",
        "It is not without problems",
        "Hardly anyone was rude",
        "Less bad than expected",
        "More good news",
        "Most helpful call ever!",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    // Combinations of the rules: negations, boosters, dampeners, caps,
    // "but", punctuation and emoticons.
    let cores = [
        "good",
        "bad",
        "helpful",
        "terrible",
        "happy",
        "angry",
        "fine",
        "awful",
        "great",
        "disappointed",
    ];
    let modifiers = [
        "",
        "very ",
        "not ",
        "not very ",
        "kind of ",
        "really ",
        "never ",
        "hardly ",
        "EXTREMELY ",
        "no ",
        "isn't ",
        "so ",
        "least ",
    ];
    let tails = [
        "",
        ".",
        "!",
        "!!!",
        "?",
        "??",
        " :)",
        " :(",
        " 😀",
        " but the wait was long",
        " but the agent was great",
        " but not great",
    ];
    for (ci, core) in cores.iter().enumerate() {
        for (mi, m) in modifiers.iter().enumerate() {
            for (ti, tail) in tails.iter().enumerate() {
                // A spread, not the full product: a few hundred sentences.
                if (ci + 2 * mi + 3 * ti) % 5 != 0 {
                    continue;
                }
                let c = if (ci + mi + ti) % 7 == 0 {
                    core.to_uppercase()
                } else {
                    core.to_string()
                };
                out.push(format!("The service was {m}{c}{tail}"));
            }
        }
    }
    out
}

/// Prints past libtest's capture (which takes `println!` and `eprintln!`
/// of passing tests), so the figure and a skip show in `cargo test`.
fn shout(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Python's compound for each line, or `None` when vaderSentiment is missing.
fn python_scores(lines: &[String]) -> Option<Vec<f64>> {
    let dir = std::env::temp_dir().join(format!("vader-reference-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.txt");
    std::fs::write(&corpus, lines.join("\n") + "\n").unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vader_reference.py");
    let output = Command::new("python3").arg(&script).arg(&corpus).output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = output.ok()?;
    if output.status.code() == Some(3) {
        return None;
    }
    assert!(
        output.status.success(),
        "vader_reference.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let scores: Vec<f64> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(scores.len(), lines.len(), "one score per line");
    Some(scores)
}

#[test]
fn agrees_with_python_vader() {
    let mut lines: Vec<String> = synthetic_sentences().into_iter().collect();
    let synthetic = lines.len();
    lines.extend(edge_sentences());
    // One sentence a line: the corpus has no line breaks of its own.
    for l in &mut lines {
        *l = l.replace(['\n', '\r'], " ");
    }
    if let Ok(path) = std::env::var("VADER_CORPUS_OUT") {
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    let Some(reference) = python_scores(&lines) else {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("vaderSentiment is not installed, and CI is set: install it (pip install vaderSentiment==3.3.2)");
        }
        shout("SKIPPED (vaderSentiment not installed)");
        return;
    };

    let mut within = 0;
    let mut worst: Vec<(f64, &str, f64, f64)> = Vec::new();
    for (line, &py) in lines.iter().zip(&reference) {
        let ours = compound(line);
        let diff = (ours - py).abs();
        if diff <= TOLERANCE {
            within += 1;
        } else {
            worst.push((diff, line, ours, py));
        }
    }
    let share = within as f64 / lines.len() as f64;
    shout(&format!(
        "VADER agreement: {within} of {} sentences ({synthetic} synthetic, {} edge) within {TOLERANCE}: {:.2} %",
        lines.len(),
        lines.len() - synthetic,
        share * 100.0
    ));
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (diff, line, ours, py) in worst.iter().take(20) {
        shout(&format!(
            "  off by {diff:.4}: ours {ours:.4}, python {py:.4}: {line:?}"
        ));
    }
    assert!(
        share >= REQUIRED,
        "only {:.2} % within {TOLERANCE} of Python",
        share * 100.0
    );
}
