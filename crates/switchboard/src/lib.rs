//! Switchboard: a multi-tenant, white-label platform for AI call operations.
//! See ARCHITECTURE.md for the map of this crate.

pub mod app;
pub mod auth;
pub mod cci;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod events;
pub mod http;
pub mod ingest;
pub mod objects;
pub mod openai;
pub mod outbound;
pub mod pipeline;
pub mod pull;
pub mod recordings;
pub mod secrets;
pub mod tenancy;
