//! Scores every line of a file with the VADER port, several times, and
//! prints the best pass's sentences per second (`bench/vader.sh` compares
//! it with the Python reference on the same file, in the same run).
//!
//! `vader_throughput FILE PASSES`

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("a corpus file");
    let passes: usize = args
        .next()
        .map_or(5, |p| p.parse().expect("a number of passes"));
    let text = std::fs::read_to_string(&file).expect("the corpus is readable");
    let lines: Vec<&str> = text.lines().collect();
    let vader = switchboard_analysis::sentiment::analyzer();
    let mut best = f64::MAX;
    let mut checksum = 0.0;
    for _ in 0..passes {
        let t0 = Instant::now();
        for l in &lines {
            checksum += vader.compound(l);
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    println!(
        "sentences={} best_pass_s={best:.4} per_sec={:.0} checksum={checksum:.3}",
        lines.len(),
        lines.len() as f64 / best
    );
}
