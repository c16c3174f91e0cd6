//! Credentials: the secret type, the default chain (the `ALIBABA_CLOUD_*` variables, then a
//! profile of the Alibaba Cloud CLI), and STS (AssumeRole, cached and refreshed, chains, and
//! GetCallerIdentity), made by the host.
//!
//! It owns where a credential comes from and how long it lasts. It may not load plugins or
//! open sockets itself: STS requests are signed and sent through [`sts::StsHost`], which
//! the engine implements. It depends on the model alone.

#![deny(missing_docs)]

pub mod chain;
pub mod sts;

pub use chain::*;
