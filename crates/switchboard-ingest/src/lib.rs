//! Everything Switchboard knows about incoming calls that needs no IO:
//! verifying webhook signatures, reading each provider's payloads into one
//! call model, merging the events of a call whatever their order, and
//! parsing bulk imports. The server crate wraps this with storage and HTTP;
//! the fuzz targets and benchmarks link only this crate.

pub mod import;
pub mod model;
pub mod packed;
pub mod providers;
pub mod signature;
pub mod synthetic;

pub use model::{CallUpdate, Direction, ParseError, Source, Speaker, Stage, Turn, Word};
