//! The sans-I/O protocol layer: PostgreSQL's v3 wire protocol as pure functions over byte
//! buffers, with no sockets and no tokio.
//!
//! - [`frontend`] encodes every client message into a `BytesMut`;
//! - [`backend`] splits frames off a read buffer and decodes every server message, zero-copy;
//! - [`auth`] holds the password, MD5 and SCRAM-SHA-256 exchanges as state machines.
//!
//! Because nothing here performs I/O, each piece is tested, and fuzzed, on bytes alone. The
//! connection in [`crate::Connection`] is a thin loop around these functions.

pub mod auth;
pub mod backend;
pub mod frontend;

use std::fmt;

/// The server sent bytes that do not form a valid message.
///
/// The connection that received them is unusable afterwards: its position in the byte stream
/// can no longer be trusted.
///
/// ```
/// let e = hyperdjango_pgwire::proto::ProtocolError::new("bad tag");
/// assert_eq!(e.to_string(), "bad tag");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    message: String,
}

impl ProtocolError {
    /// Creates an error with the given description.
    pub fn new(message: impl Into<String>) -> Self {
        ProtocolError {
            message: message.into(),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProtocolError {}
