//! Reports over the store: everything one principal can do and who holds a resource
//! ([`access`]), who may call an action and whether one principal may ([`permissions`]),
//! the risky facts ([`findings`]), and what changed between two syncs ([`diff`]).
//!
//! It owns the questions an access review asks of a synced account. It reads the store
//! alone: it may not sync, call plugins or reach the network, so every report works offline.

#![deny(missing_docs)]

pub mod access;
pub mod diff;
pub mod directory;
mod escalation;
pub mod findings;
pub mod permissions;
