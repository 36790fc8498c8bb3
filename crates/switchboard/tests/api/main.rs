//! Black-box tests of the real server over HTTP, on SQLite and PostgreSQL.
//! One test binary with modules keeps builds fast on small machines.

mod helpers;

mod audit;
mod auth;
mod isolation;
mod members;
mod platform;
mod rls;
mod bad_input;
mod operations;
mod external_idp;
