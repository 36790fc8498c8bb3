//! Call analysis with no IO and no network: everything here is a plain
//! function of a transcript (`switchboard_ingest::Turn`s) and the tenant's
//! settings, so it is fast to test and to benchmark.

pub mod pii;
pub mod qa;
pub mod sentiment;
pub mod talk;
