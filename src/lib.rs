#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth;
#[cfg(feature = "blocking")]
pub mod blocking;
mod body;
mod capture;
mod client;
pub mod cloud_import;
pub mod config;
mod decode;
mod digest;
pub mod download;
#[cfg(feature = "dynamic")]
pub mod dynamic;
mod error;
pub mod frames;
mod generated;
mod hooks;
mod hosts;
#[cfg(feature = "mock")]
pub mod mock;
pub mod network;
pub mod pagination;
mod rate_limit;
pub mod redact;
pub mod resolver;
pub mod retry;
mod routes;
mod runtime;
mod scrub;
pub mod signup;
pub mod upload;
pub mod wait;
// The walk over the document's operations; the mock's only user in the crate
// (`build.rs` and `xtask` include the file too). Each user reads part of it.
#[cfg(feature = "mock")]
#[allow(dead_code)]
mod walker;

pub use client::{Client, ClientBuilder};
pub use error::{ApiError, Error, Result};
pub use generated::{builder, ByteStream, ResponseValue};
pub use rate_limit::RateLimit;
#[doc(hidden)]
pub use runtime::Runtime;
pub use signup::{signup, Signup};

/// The one callback bound of every builder (`on_progress`, `on_poll`):
/// called from the running task, so it is `Send + Sync + 'static`.
pub(crate) type Callback<T> = std::sync::Arc<dyn Fn(&T) + Send + Sync + 'static>;

/// Every request and response model of the API, and its open enums.
pub mod types {
    pub use crate::generated::open_enums::*;
    pub use crate::generated::types::*;
    pub use crate::signup::SignupResponse;
}

/// The generated client type that [`Client`] dereferences to.
pub use generated::Client as GeneratedClient;
