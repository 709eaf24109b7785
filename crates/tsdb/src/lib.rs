//! The Strix storage engine.
#![deny(unsafe_code)]

pub mod chunk;
