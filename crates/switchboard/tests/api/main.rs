//! Black-box tests of the real server over HTTP, on SQLite and PostgreSQL.
//! One test binary with modules keeps builds fast on small machines.

mod helpers;

mod audit;
mod auth;
mod bad_input;
mod calls_in;
mod crash;
mod demo;
mod external_idp;
mod fake_openai;
mod insight;
mod isolation;
mod members;
mod object_store;
mod operations;
mod platform;
mod recording_pull;
mod rls;
