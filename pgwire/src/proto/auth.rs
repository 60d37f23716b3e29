//! Password authentication: the `md5` method and SCRAM-SHA-256(-PLUS), sans-I/O.
//!
//! Nothing here touches a socket or a runtime: every function takes the body
//! of a server message as a byte slice and returns the bytes to send back.
//! The connection code owns the framing (message type byte, length, the
//! `Int32` authentication code) and calls in here when the server asks for a
//! password.
//!
//! # `md5`
//!
//! `AuthenticationMD5Password` carries a 4-byte salt; answer with a
//! `PasswordMessage` holding [`md5_password`] (plus the NUL terminator the
//! wire format wants).
//!
//! # SCRAM-SHA-256
//!
//! The exchange, and where each item of this module fits:
//!
//! ```text
//! server: AuthenticationSASL (10)          list of mechanism names
//! client:   choose_sasl_mechanism(list, have_channel_binding)  -> mechanism name
//!           ScramSha256::new(password, channel_binding)
//!           (check scram.mechanism() == the chosen name)
//! client: SASLInitialResponse               mechanism(), then Int32 len + message()
//! server: AuthenticationSASLContinue (11)   server-first-message
//! client:   scram.update(server_first)?
//! client: SASLResponse                      message()  (now the client-final-message)
//! server: AuthenticationSASLFinal (12)      server-final-message
//! client:   scram.finish(server_final)?     verifies the server's signature
//! server: AuthenticationOk (0)
//! ```
//!
//! The connection code must refuse an `AuthenticationOk` that arrives before
//! [`ScramSha256::finish`] succeeded ([`ScramSha256::is_complete`] tells):
//! otherwise a server that does not know the password could skip the
//! `SASLFinal` step and be trusted anyway.
//!
//! ```
//! use hyperdjango_pgwire::proto::auth::{choose_sasl_mechanism, ChannelBinding, ScramSha256};
//!
//! // AuthenticationSASL body: NUL-terminated names, then an empty name.
//! let mechanism = choose_sasl_mechanism(b"SCRAM-SHA-256\0\0", false)?;
//! assert_eq!(mechanism, "SCRAM-SHA-256");
//!
//! // A fixed nonce, so that this example is reproducible; use `new` in real code.
//! let mut scram = ScramSha256::with_nonce(b"pencil", ChannelBinding::Unsupported, "rOprNGfwEbeRWgbNEkqO");
//! assert_eq!(scram.mechanism(), mechanism);
//! // SASLInitialResponse: mechanism name + client-first-message.
//! assert_eq!(scram.message(), b"n,,n=,r=rOprNGfwEbeRWgbNEkqO");
//!
//! // AuthenticationSASLContinue: server-first-message.
//! scram.update(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")?;
//! // SASLResponse: client-final-message.
//! assert_eq!(
//!     scram.message(),
//!     &b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
//!        p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k="[..]
//! );
//!
//! // AuthenticationSASLFinal: server-final-message, checked against the password.
//! scram.finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=")?;
//! assert!(scram.is_complete()); // only now may AuthenticationOk be accepted
//! # Ok::<(), hyperdjango_pgwire::proto::auth::AuthError>(())
//! ```
//!
//! # Channel binding
//!
//! [`ChannelBinding`] says what the client tells the server about channel
//! binding (the GS2 header), and must agree with the mechanism chosen:
//!
//! | connection                         | server offers `-PLUS` | use                                   | mechanism            |
//! |------------------------------------|-----------------------|---------------------------------------|----------------------|
//! | plain TCP / Unix socket            | (never)               | [`ChannelBinding::Unsupported`]       | `SCRAM-SHA-256`      |
//! | TLS, certificate hash known        | yes                   | [`ChannelBinding::TlsServerEndPoint`] | `SCRAM-SHA-256-PLUS` |
//! | TLS, certificate hash known        | no                    | [`ChannelBinding::Unrequested`]       | `SCRAM-SHA-256`      |
//!
//! Sending `y` ([`ChannelBinding::Unrequested`]) to a server that did offer
//! `-PLUS` makes the server fail the exchange: that is the downgrade
//! protection of RFC 5802, not a bug.
//!
//! # Safety against a hostile server
//!
//! * The server picks the PBKDF2 iteration count; it is capped at
//!   [`DEFAULT_MAX_SCRAM_ITERATIONS`] (see [`ScramSha256::with_max_iterations`])
//!   so a server cannot make the client burn CPU for minutes.
//! * The server signature is compared in constant time.
//! * Every server message is parsed without panicking, whatever its bytes.
//! * Errors never contain the password, and the `Debug` output of
//!   [`ScramSha256`] shows neither the password nor anything derived from it.
//!   The (prepared) password is overwritten with zeros once the proof is
//!   computed and on drop (best effort: without `unsafe`, copies the
//!   allocator or the optimiser made cannot be reached).
//!
//! # SASLprep: what is and is not done
//!
//! PostgreSQL prepares SCRAM passwords with SASLprep (RFC 4013) on the server
//! when a verifier is built from a plain-text password, and a client must
//! prepare the password it types the same way. Full SASLprep needs the
//! Unicode NFKC tables, which this crate does not ship. What
//! [`ScramSha256`] does to the password:
//!
//! 1. Not valid UTF-8: used as raw bytes (PostgreSQL does the same).
//! 2. Pure ASCII: used as is (PostgreSQL's fast path; no step below can change it).
//! 3. Otherwise non-ASCII spaces (RFC 3454 table C.1.2) become U+0020 and
//!    the "commonly mapped to nothing" characters (table B.1, e.g. the soft
//!    hyphen U+00AD and zero-width joiners) are removed.
//! 4. If the result is empty or contains a prohibited character (PostgreSQL's
//!    `prohibited_output_ranges`: tables C.1.2 and C.2.1 to C.9, i.e. control
//!    characters, private use, non-characters, surrogates, tagging and
//!    bidi-control characters, ...), the raw bytes are used instead, as
//!    libpq does.
//!
//! **Not done**: NFKC normalisation, the check for code points unassigned in
//! Unicode 3.2 (table A.1) and the bidirectional check (tables D.1/D.2).
//! Consequences: passwords that are ASCII, or NFC text without compatibility
//! characters (e.g. `"pässwörd"` typed on a usual keyboard, CJK, Cyrillic)
//! are prepared exactly as PostgreSQL prepares them. A password whose NFKC
//! form differs from itself (decomposed accents `e\u{301}`, full-width
//! letters, ligatures such as `ﬁ`, superscripts, ...) will not match a
//! verifier the server built with full SASLprep; neither will a password
//! that mixes a mapped character (step 3) with a character PostgreSQL
//! prohibits but this module does not know about (unassigned in Unicode
//! 3.2, such as most emoji, or a right-to-left/left-to-right mix).

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Errors from the authentication exchange.
///
/// The messages say what was wrong; none of them ever contains the password.
///
/// ```
/// use hyperdjango_pgwire::proto::auth::{AuthError, ChannelBinding, ScramSha256};
///
/// let mut scram = ScramSha256::with_nonce(b"secret", ChannelBinding::Unsupported, "abc");
/// let err = scram.update(b"r=xyz123,s=QSXCR+Q6sek8bf92,i=4096").unwrap_err();
/// assert!(matches!(err, AuthError::MalformedServerMessage { .. }));
/// assert_eq!(
///     err.to_string(),
///     "SCRAM server-first-message: nonce does not start with the client nonce"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The operating system's random number generator failed while making the
    /// SCRAM client nonce. Holds the OS error's description.
    Rng(String),
    /// A server SCRAM message is malformed or breaks the protocol (the nonce
    /// does not extend ours, the salt is not base64, attributes are out of
    /// order, ...).
    MalformedServerMessage {
        /// Which message: `"server-first-message"` or `"server-final-message"`.
        message: &'static str,
        /// What was wrong with it.
        problem: String,
    },
    /// The server asked for more PBKDF2 iterations than the client allows
    /// (see [`ScramSha256::with_max_iterations`]).
    IterationCountTooHigh {
        /// The iteration count the server sent.
        iterations: u64,
        /// The client's limit.
        max: u32,
    },
    /// The server's signature (`v=`) is not the one the password gives: the
    /// server does not know the password, or is not the server it claims to be.
    ServerSignatureMismatch,
    /// The server ended the exchange with an error (`e=` in the
    /// server-final-message). Holds the server's error value, e.g. `"invalid-proof"`.
    ServerError(String),
    /// A [`ScramSha256`] method was called in the wrong state (e.g. `finish`
    /// before `update`, or after the exchange failed). Holds a description.
    OutOfOrder(&'static str),
    /// The server asked for a password (with the named method: `password`, `md5` or a SASL
    /// mechanism) but the configuration has none.
    PasswordRequired {
        /// The authentication method the server asked for.
        method: &'static str,
    },
    /// The server offered no SASL mechanism that this client can use.
    UnsupportedMechanisms {
        /// The mechanism names the server offered (possibly none).
        offered: Vec<String>,
    },
    /// The `AuthenticationSASL` mechanism list is malformed. Holds what is wrong.
    MalformedMechanismList(String),
    /// The server asked for an authentication method that `require_auth` forbids; nothing
    /// was sent.
    MethodNotAllowed {
        /// The method the server asked for (`password`, `md5`, `scram-sha-256`, `none`, ...).
        method: &'static str,
        /// The `require_auth` setting.
        require_auth: String,
    },
    /// `channel_binding=require`, but the server authenticated without channel binding.
    ChannelBindingRequired(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Rng(e) => write!(
                f,
                "could not generate the SCRAM client nonce: the operating system's random number generator failed: {e}"
            ),
            AuthError::MalformedServerMessage { message, problem } => {
                write!(f, "SCRAM {message}: {problem}")
            }
            AuthError::IterationCountTooHigh { iterations, max } => {
                write!(
                    f,
                    "SCRAM iteration count {iterations} exceeds the limit of {max}"
                )
            }
            AuthError::ServerSignatureMismatch => f.write_str(
                "SCRAM server signature does not match: the server does not know the password \
                 (or is not the server you think)",
            ),
            AuthError::ServerError(e) => {
                write!(
                    f,
                    "SCRAM authentication failed: the server reported error {e:?}"
                )?;
                match server_error_hint(e) {
                    Some(hint) => write!(f, " ({hint})"),
                    None => Ok(()),
                }
            }
            AuthError::OutOfOrder(what) => write!(f, "SCRAM exchange out of order: {what}"),
            AuthError::PasswordRequired { method } => write!(
                f,
                "the server asked for a password (method {method}) but none was given: \
                 set it in the URL, the builder or PGPASSWORD"
            ),
            AuthError::UnsupportedMechanisms { offered } => {
                f.write_str("the server offered no SASL authentication mechanism this client supports (offered: ")?;
                if offered.is_empty() {
                    f.write_str("none")?;
                }
                for (i, name) in offered.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name:?}")?;
                }
                f.write_str("; supported: SCRAM-SHA-256, and SCRAM-SHA-256-PLUS over TLS with channel binding)")?;
                if offered.iter().any(|m| m == ScramSha256::MECHANISM_PLUS) {
                    f.write_str(
                        "; SCRAM-SHA-256-PLUS needs channel binding data (the TLS server certificate hash), \
                         which this connection does not have",
                    )?;
                }
                Ok(())
            }
            AuthError::MalformedMechanismList(problem) => {
                write!(f, "malformed AuthenticationSASL mechanism list: {problem}")
            }
            AuthError::MethodNotAllowed {
                method,
                require_auth,
            } => {
                if *method == "none" {
                    write!(
                        f,
                        "the server did not ask the client to authenticate, but require_auth={require_auth} demands it"
                    )
                } else {
                    write!(
                        f,
                        "the server asked for authentication method {method}, which require_auth={require_auth} does not allow (nothing was sent)"
                    )
                }
            }
            AuthError::ChannelBindingRequired(why) => {
                write!(f, "channel_binding=require, but {why}")
            }
        }
    }
}

impl std::error::Error for AuthError {}

/// A human explanation for the standard RFC 5802 `server-error-value`s.
fn server_error_hint(e: &str) -> Option<&'static str> {
    Some(match e {
        "invalid-proof" => "wrong password",
        "unknown-user" => "unknown user",
        "invalid-encoding" => "the server could not decode the client's message",
        "extensions-not-supported" => {
            "the server does not support a SCRAM extension the client used"
        }
        "channel-bindings-dont-match" => {
            "the TLS channel binding does not match: possibly a man-in-the-middle"
        }
        "server-does-support-channel-binding" => {
            "the client said the server lacks channel binding but it has it: possibly a downgrade attack"
        }
        "channel-binding-not-supported" => "the server does not support channel binding",
        "unsupported-channel-binding-type" => {
            "the server does not support this channel binding type"
        }
        "no-resources" => "the server is out of resources",
        _ => return None,
    })
}

/// Server-supplied text for an error message: at most 64 characters, lossy UTF-8.
fn snippet(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// The `md5` method's response: `"md5" + hex(md5(hex(md5(password + user)) + salt))`.
///
/// `user` is the user name sent in the startup message; `salt` comes from
/// `AuthenticationMD5Password`. Send the result in a `PasswordMessage`.
///
/// ```
/// use hyperdjango_pgwire::proto::auth::md5_password;
///
/// let response = md5_password(b"postgres", b"secret", [1, 2, 3, 4]);
/// assert_eq!(response, "md5bb41a296aab6baccb36ff243a562abff");
/// ```
pub fn md5_password(user: &[u8], password: &[u8], salt: [u8; 4]) -> String {
    let mut inner = Md5::new();
    inner.update(password);
    inner.update(user);
    let inner_hex = hex(&inner.finalize());

    let mut outer = Md5::new();
    outer.update(inner_hex.as_bytes());
    outer.update(salt);
    let mut out = String::with_capacity(35);
    out.push_str("md5");
    out.push_str(&hex(&outer.finalize()));
    out
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Channel binding for SCRAM: what the client tells the server in the GS2
/// header, and the data bound into the proof.
///
/// See the [module docs](self#channel-binding) for which one to use.
///
/// ```
/// use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256};
///
/// let plain = ScramSha256::with_nonce(b"pw", ChannelBinding::Unsupported, "nonce");
/// assert_eq!(plain.message(), b"n,,n=,r=nonce");
///
/// let tls_without_plus = ScramSha256::with_nonce(b"pw", ChannelBinding::Unrequested, "nonce");
/// assert_eq!(tls_without_plus.message(), b"y,,n=,r=nonce");
///
/// let cert_hash = vec![0u8; 32]; // hash of the server's TLS certificate (RFC 5929)
/// let plus = ScramSha256::with_nonce(b"pw", ChannelBinding::TlsServerEndPoint(cert_hash), "nonce");
/// assert_eq!(plus.message(), b"p=tls-server-end-point,,n=,r=nonce");
/// assert_eq!(plus.mechanism(), "SCRAM-SHA-256-PLUS");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelBinding {
    /// The client does not support channel binding (no TLS): GS2 header `n,,`.
    Unsupported,
    /// The client supports channel binding but the server did not offer
    /// `SCRAM-SHA-256-PLUS`: GS2 header `y,,`.
    Unrequested,
    /// `tls-server-end-point` (RFC 5929) with the hash of the server's TLS
    /// certificate: GS2 header `p=tls-server-end-point,,`. Requires the
    /// `SCRAM-SHA-256-PLUS` mechanism.
    TlsServerEndPoint(Vec<u8>),
}

impl ChannelBinding {
    fn gs2_header(&self) -> &'static str {
        match self {
            ChannelBinding::Unsupported => "n,,",
            ChannelBinding::Unrequested => "y,,",
            ChannelBinding::TlsServerEndPoint(_) => "p=tls-server-end-point,,",
        }
    }

    fn data(&self) -> &[u8] {
        match self {
            ChannelBinding::TlsServerEndPoint(data) => data,
            ChannelBinding::Unsupported | ChannelBinding::Unrequested => &[],
        }
    }
}

/// Default cap on the server's PBKDF2 iteration count: 600 000, OWASP's
/// figure for PBKDF2-HMAC-SHA256. PostgreSQL's default is 4096.
///
/// A hostile (or misconfigured) server could otherwise ask for billions of
/// iterations and burn the client's CPU.
///
/// ```
/// use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256, DEFAULT_MAX_SCRAM_ITERATIONS};
///
/// assert_eq!(DEFAULT_MAX_SCRAM_ITERATIONS, 600_000);
/// let mut scram = ScramSha256::with_nonce(b"pw", ChannelBinding::Unsupported, "abc");
/// let err = scram.update(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=10000000").unwrap_err();
/// assert_eq!(err.to_string(), "SCRAM iteration count 10000000 exceeds the limit of 600000");
/// ```
pub const DEFAULT_MAX_SCRAM_ITERATIONS: u32 = 600_000;

/// Length in bytes of the random part of the client nonce (before base64).
const NONCE_BYTES: usize = 18;

/// Where a [`ScramSha256`] exchange is.
enum State {
    /// client-first-message built; waiting for the server-first-message.
    ClientFirst,
    /// client-final-message built; waiting for the server-final-message,
    /// which must carry this signature.
    ClientFinal { server_signature: [u8; 32] },
    /// The server proved it knows the password.
    Complete,
    /// An error ended the exchange; every further call fails.
    Failed,
}

/// SCRAM-SHA-256 client (RFC 5802 / RFC 7677) as a state machine.
///
/// Build one with [`new`](Self::new), send [`mechanism`](Self::mechanism) and
/// [`message`](Self::message) in `SASLInitialResponse`, feed the
/// server-first-message to [`update`](Self::update), send
/// [`message`](Self::message) again in `SASLResponse`, and feed the
/// server-final-message to [`finish`](Self::finish). See the
/// [module docs](self) for the whole exchange.
///
/// The user name in the client-first-message is empty (`n=`): PostgreSQL
/// ignores it and uses the one from the startup message, as libpq does.
///
/// `Debug` shows neither the password nor anything derived from it.
///
/// ```
/// use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256};
///
/// let scram = ScramSha256::new(b"correct horse", ChannelBinding::Unsupported)?;
/// assert_eq!(scram.mechanism(), "SCRAM-SHA-256");
/// assert!(scram.message().starts_with(b"n,,n=,r="));
/// assert!(!format!("{scram:?}").contains("correct horse"));
/// # Ok::<(), hyperdjango_pgwire::proto::auth::AuthError>(())
/// ```
pub struct ScramSha256 {
    /// The SASLprep'd password; zeroed once the proof is computed.
    password: Vec<u8>,
    channel_binding: ChannelBinding,
    client_nonce: String,
    client_first_bare: String,
    /// The message to send now.
    message: Vec<u8>,
    max_iterations: u32,
    state: State,
}

impl fmt::Debug for ScramSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::ClientFirst => "awaiting server-first-message",
            State::ClientFinal { .. } => "awaiting server-final-message",
            State::Complete => "complete",
            State::Failed => "failed",
        };
        f.debug_struct("ScramSha256")
            .field("mechanism", &self.mechanism())
            .field("state", &state)
            .field("max_iterations", &self.max_iterations)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Drop for ScramSha256 {
    fn drop(&mut self) {
        wipe(&mut self.password);
    }
}

/// Overwrite with zeros (best effort, see the module docs).
fn wipe(bytes: &mut Vec<u8>) {
    bytes.fill(0);
    std::hint::black_box(&mut *bytes);
    bytes.clear();
}

impl ScramSha256 {
    /// The mechanism name without channel binding.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::ScramSha256;
    /// assert_eq!(ScramSha256::MECHANISM, "SCRAM-SHA-256");
    /// ```
    pub const MECHANISM: &'static str = "SCRAM-SHA-256";

    /// The mechanism name with channel binding.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::ScramSha256;
    /// assert_eq!(ScramSha256::MECHANISM_PLUS, "SCRAM-SHA-256-PLUS");
    /// ```
    pub const MECHANISM_PLUS: &'static str = "SCRAM-SHA-256-PLUS";

    /// Starts an exchange with a random client nonce: 18 bytes from the
    /// operating system's RNG, base64-encoded (24 characters).
    ///
    /// The password is prepared with (partial) SASLprep, see the
    /// [module docs](self#saslprep-what-is-and-is-not-done).
    ///
    /// # Errors
    ///
    /// [`AuthError::Rng`] if the OS random number generator fails.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256};
    ///
    /// let a = ScramSha256::new(b"pw", ChannelBinding::Unsupported)?;
    /// let b = ScramSha256::new(b"pw", ChannelBinding::Unsupported)?;
    /// assert_eq!(a.message().len(), "n,,n=,r=".len() + 24);
    /// assert_ne!(a.message(), b.message()); // fresh nonce each time
    /// # Ok::<(), hyperdjango_pgwire::proto::auth::AuthError>(())
    /// ```
    pub fn new(password: &[u8], channel_binding: ChannelBinding) -> Result<Self, AuthError> {
        let mut raw = [0u8; NONCE_BYTES];
        getrandom::fill(&mut raw).map_err(|e| AuthError::Rng(e.to_string()))?;
        let nonce = BASE64.encode(raw);
        Ok(Self::build(password, channel_binding, &nonce, ""))
    }

    /// Starts an exchange with a fixed client nonce, for tests and test vectors.
    ///
    /// Never use this against a real server: the nonce must be unpredictable.
    /// It must be printable ASCII without `,` (as [`new`](Self::new)'s are);
    /// otherwise the server rejects the client-first-message.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256};
    ///
    /// let scram = ScramSha256::with_nonce(b"pencil", ChannelBinding::Unsupported, "rOprNGfwEbeRWgbNEkqO");
    /// assert_eq!(scram.message(), b"n,,n=,r=rOprNGfwEbeRWgbNEkqO");
    /// ```
    pub fn with_nonce(password: &[u8], channel_binding: ChannelBinding, nonce: &str) -> Self {
        Self::build(password, channel_binding, nonce, "")
    }

    /// Sets the cap on the server's PBKDF2 iteration count (default
    /// [`DEFAULT_MAX_SCRAM_ITERATIONS`]). [`update`](Self::update) fails with
    /// [`AuthError::IterationCountTooHigh`] above it.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::{AuthError, ChannelBinding, ScramSha256};
    ///
    /// let mut scram = ScramSha256::with_nonce(b"pw", ChannelBinding::Unsupported, "abc")
    ///     .with_max_iterations(1000);
    /// let err = scram.update(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096").unwrap_err();
    /// assert_eq!(err, AuthError::IterationCountTooHigh { iterations: 4096, max: 1000 });
    /// ```
    pub fn with_max_iterations(mut self, max: u32) -> Self {
        self.max_iterations = max;
        self
    }

    /// The mechanism name for `SASLInitialResponse`: [`MECHANISM_PLUS`](Self::MECHANISM_PLUS)
    /// with [`ChannelBinding::TlsServerEndPoint`], [`MECHANISM`](Self::MECHANISM) otherwise.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256};
    ///
    /// let scram = ScramSha256::with_nonce(b"pw", ChannelBinding::Unrequested, "abc");
    /// assert_eq!(scram.mechanism(), ScramSha256::MECHANISM);
    /// ```
    pub fn mechanism(&self) -> &'static str {
        match self.channel_binding {
            ChannelBinding::TlsServerEndPoint(_) => Self::MECHANISM_PLUS,
            ChannelBinding::Unsupported | ChannelBinding::Unrequested => Self::MECHANISM,
        }
    }

    /// The message to send now: the client-first-message (for
    /// `SASLInitialResponse`) before [`update`](Self::update), the
    /// client-final-message (for `SASLResponse`) after it.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256};
    ///
    /// let mut scram = ScramSha256::with_nonce(b"pw", ChannelBinding::Unsupported, "abc");
    /// assert_eq!(scram.message(), b"n,,n=,r=abc");
    /// scram.update(b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096")?;
    /// assert!(scram.message().starts_with(b"c=biws,r=abcdef,p="));
    /// # Ok::<(), hyperdjango_pgwire::proto::auth::AuthError>(())
    /// ```
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Whether [`finish`](Self::finish) verified the server's signature.
    /// The connection code must not accept `AuthenticationOk` before this is
    /// `true`.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256};
    ///
    /// let scram = ScramSha256::with_nonce(b"pw", ChannelBinding::Unsupported, "abc");
    /// assert!(!scram.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }

    /// Handles the server-first-message (body of `AuthenticationSASLContinue`)
    /// and computes the client-final-message with the client proof, which
    /// [`message`](Self::message) then returns.
    ///
    /// Checks that the attributes come as `r=`, `s=`, `i=` (then optional
    /// extensions), with no `m=` mandatory extension; that the nonce is
    /// printable, starts with the client nonce and is longer; that the salt
    /// is non-empty base64; and that the iteration count is a number between
    /// 1 and the cap ([`with_max_iterations`](Self::with_max_iterations)).
    ///
    /// # Errors
    ///
    /// [`AuthError::MalformedServerMessage`], [`AuthError::IterationCountTooHigh`],
    /// or [`AuthError::OutOfOrder`] if called twice or after a failure. Any
    /// error ends the exchange.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::{ChannelBinding, ScramSha256};
    ///
    /// let mut scram = ScramSha256::with_nonce(b"pencil", ChannelBinding::Unsupported, "rOprNGfwEbeRWgbNEkqO");
    /// scram.update(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")?;
    /// assert_eq!(
    ///     scram.message(),
    ///     &b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
    ///        p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k="[..]
    /// );
    /// # Ok::<(), hyperdjango_pgwire::proto::auth::AuthError>(())
    /// ```
    pub fn update(&mut self, server_first: &[u8]) -> Result<(), AuthError> {
        match self.state {
            State::ClientFirst => {}
            State::ClientFinal { .. } => {
                return Err(AuthError::OutOfOrder(
                    "update() called twice: the server-first-message was already processed",
                ));
            }
            State::Complete => {
                return Err(AuthError::OutOfOrder(
                    "update() called after the exchange completed",
                ));
            }
            State::Failed => {
                return Err(AuthError::OutOfOrder(
                    "update() called after the exchange failed",
                ));
            }
        }
        let result = self.client_final(server_first);
        wipe(&mut self.password);
        match result {
            Ok((message, server_signature)) => {
                self.message = message;
                self.state = State::ClientFinal { server_signature };
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// Handles the server-final-message (body of `AuthenticationSASLFinal`).
    ///
    /// `v=<signature>` must carry the server signature the password gives
    /// (compared in constant time); `e=<error>` is the server's refusal.
    ///
    /// # Errors
    ///
    /// [`AuthError::ServerSignatureMismatch`], [`AuthError::ServerError`],
    /// [`AuthError::MalformedServerMessage`], or [`AuthError::OutOfOrder`]
    /// if [`update`](Self::update) has not succeeded first, or `finish` was
    /// already called.
    ///
    /// ```
    /// use hyperdjango_pgwire::proto::auth::{AuthError, ChannelBinding, ScramSha256};
    ///
    /// let mut scram = ScramSha256::with_nonce(b"pencil", ChannelBinding::Unsupported, "rOprNGfwEbeRWgbNEkqO");
    /// // Out of order: no server-first-message yet.
    /// assert!(matches!(scram.finish(b"v=AAAA"), Err(AuthError::OutOfOrder(_))));
    ///
    /// let mut scram = ScramSha256::with_nonce(b"pencil", ChannelBinding::Unsupported, "rOprNGfwEbeRWgbNEkqO");
    /// scram.update(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")?;
    /// scram.finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=")?;
    /// assert!(scram.is_complete());
    /// # Ok::<(), hyperdjango_pgwire::proto::auth::AuthError>(())
    /// ```
    pub fn finish(&mut self, server_final: &[u8]) -> Result<(), AuthError> {
        let expected = match &self.state {
            State::ClientFinal { server_signature } => *server_signature,
            State::ClientFirst => {
                return Err(AuthError::OutOfOrder(
                    "finish() called before update(): no server-first-message has been processed",
                ));
            }
            State::Complete => {
                return Err(AuthError::OutOfOrder(
                    "finish() called twice: the exchange already completed",
                ));
            }
            State::Failed => {
                return Err(AuthError::OutOfOrder(
                    "finish() called after the exchange failed",
                ));
            }
        };
        match verify_server_final(server_final, &expected) {
            Ok(()) => {
                self.state = State::Complete;
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// The constructor behind `new` and `with_nonce`; `user` is only non-empty
    /// in tests (the RFC 7677 test vector uses `n=user`).
    fn build(password: &[u8], channel_binding: ChannelBinding, nonce: &str, user: &str) -> Self {
        let password = saslprep(password).into_owned();
        let mut client_first_bare = String::with_capacity(5 + user.len() + nonce.len());
        client_first_bare.push_str("n=");
        for c in user.chars() {
            match c {
                ',' => client_first_bare.push_str("=2C"),
                '=' => client_first_bare.push_str("=3D"),
                c => client_first_bare.push(c),
            }
        }
        client_first_bare.push_str(",r=");
        client_first_bare.push_str(nonce);

        let gs2 = channel_binding.gs2_header();
        let mut message = Vec::with_capacity(gs2.len() + client_first_bare.len());
        message.extend_from_slice(gs2.as_bytes());
        message.extend_from_slice(client_first_bare.as_bytes());

        ScramSha256 {
            password,
            channel_binding,
            client_nonce: nonce.to_owned(),
            client_first_bare,
            message,
            max_iterations: DEFAULT_MAX_SCRAM_ITERATIONS,
            state: State::ClientFirst,
        }
    }

    /// Parses the server-first-message and computes the client-final-message
    /// and the server signature to expect.
    fn client_final(&self, server_first: &[u8]) -> Result<(Vec<u8>, [u8; 32]), AuthError> {
        let parsed = parse_server_first(server_first, &self.client_nonce, self.max_iterations)?;

        // client-final-message-without-proof = c=base64(gs2-header + cbind-data),r=nonce
        let mut cbind_input = self.channel_binding.gs2_header().as_bytes().to_vec();
        cbind_input.extend_from_slice(self.channel_binding.data());
        let mut client_final = String::with_capacity(128);
        client_final.push_str("c=");
        client_final.push_str(&BASE64.encode(&cbind_input));
        client_final.push_str(",r=");
        client_final.push_str(parsed.nonce);

        // AuthMessage = client-first-message-bare "," server-first-message ","
        //               client-final-message-without-proof
        let mut auth_message = Vec::with_capacity(
            self.client_first_bare.len() + server_first.len() + client_final.len() + 2,
        );
        auth_message.extend_from_slice(self.client_first_bare.as_bytes());
        auth_message.push(b',');
        auth_message.extend_from_slice(server_first);
        auth_message.push(b',');
        auth_message.extend_from_slice(client_final.as_bytes());

        let salted_password = hi(&self.password, &parsed.salt, parsed.iterations);
        let client_key = hmac_sha256(&salted_password, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let client_signature = hmac_sha256(&stored_key, &auth_message);
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature) {
            *p ^= s;
        }
        let server_key = hmac_sha256(&salted_password, b"Server Key");
        let server_signature = hmac_sha256(&server_key, &auth_message);

        client_final.push_str(",p=");
        client_final.push_str(&BASE64.encode(proof));
        Ok((client_final.into_bytes(), server_signature))
    }
}

/// The validated parts of a server-first-message.
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

const SERVER_FIRST: &str = "server-first-message";
const SERVER_FINAL: &str = "server-final-message";

fn malformed(message: &'static str, problem: impl Into<String>) -> AuthError {
    AuthError::MalformedServerMessage {
        message,
        problem: problem.into(),
    }
}

/// The value of attribute `name` (`name=value`), or an error naming what was expected.
fn expect_attr<'a>(
    attr: Option<&'a str>,
    name: char,
    what: &str,
    message: &'static str,
) -> Result<&'a str, AuthError> {
    let Some(attr) = attr else {
        return Err(malformed(
            message,
            format!("missing the {what} attribute \"{name}=\""),
        ));
    };
    let mut chars = attr.chars();
    if chars.next() == Some(name) && chars.next() == Some('=') {
        return Ok(&attr[2..]);
    }
    Err(malformed(
        message,
        format!(
            "expected the {what} attribute \"{name}=\", found {:?}",
            attr_name(attr)
        ),
    ))
}

/// The attribute name part of `attr` (up to `=`), for error messages.
fn attr_name(attr: &str) -> String {
    match attr.find('=') {
        Some(i) => snippet(&attr.as_bytes()[..=i]),
        None => snippet(attr.as_bytes()),
    }
}

/// Checks optional trailing `extensions` (RFC 5802: `attr-val *("," attr-val)`
/// with a one-letter attribute name), rejecting the mandatory extension `m=`.
fn check_extensions<'a>(
    rest: impl Iterator<Item = &'a [u8]>,
    message: &'static str,
) -> Result<(), AuthError> {
    for ext in rest {
        match ext {
            [] => return Err(malformed(message, "empty attribute (stray ',')")),
            [b'm', b'=', ..] => {
                return Err(malformed(
                    message,
                    "mandatory extension \"m=\" is not supported",
                ));
            }
            [name, b'=', ..] if name.is_ascii_alphabetic() => {}
            _ => {
                return Err(malformed(
                    message,
                    format!("malformed extension attribute {:?}", snippet(ext)),
                ));
            }
        }
    }
    Ok(())
}

fn parse_server_first<'a>(
    message: &'a [u8],
    client_nonce: &str,
    max_iterations: u32,
) -> Result<ServerFirst<'a>, AuthError> {
    let text =
        std::str::from_utf8(message).map_err(|_| malformed(SERVER_FIRST, "not valid UTF-8"))?;
    if text.is_empty() {
        return Err(malformed(SERVER_FIRST, "empty message"));
    }
    if text.starts_with("m=") {
        return Err(malformed(
            SERVER_FIRST,
            "mandatory extension \"m=\" is not supported",
        ));
    }
    let mut attrs = text.split(',');

    let nonce = expect_attr(attrs.next(), 'r', "nonce", SERVER_FIRST)?;
    if !nonce.starts_with(client_nonce) {
        return Err(malformed(
            SERVER_FIRST,
            "nonce does not start with the client nonce",
        ));
    }
    if nonce.len() == client_nonce.len() {
        return Err(malformed(
            SERVER_FIRST,
            "nonce does not add a server part to the client nonce",
        ));
    }
    // printable = %x21-2B / %x2D-7E (',' was split off already)
    if !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(malformed(
            SERVER_FIRST,
            "nonce contains a non-printable character",
        ));
    }

    let salt_b64 = expect_attr(attrs.next(), 's', "salt", SERVER_FIRST)?;
    if salt_b64.is_empty() {
        return Err(malformed(SERVER_FIRST, "salt is empty"));
    }
    let salt = BASE64
        .decode(salt_b64)
        .map_err(|_| malformed(SERVER_FIRST, "salt is not valid base64"))?;
    if salt.is_empty() {
        return Err(malformed(SERVER_FIRST, "salt is empty"));
    }

    let count = expect_attr(attrs.next(), 'i', "iteration count", SERVER_FIRST)?;
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            SERVER_FIRST,
            format!(
                "iteration count {:?} is not a number",
                snippet(count.as_bytes())
            ),
        ));
    }
    let iterations: u64 = count.parse().map_err(|_| {
        malformed(
            SERVER_FIRST,
            format!(
                "iteration count {} is out of range",
                snippet(count.as_bytes())
            ),
        )
    })?;
    if iterations == 0 {
        return Err(malformed(
            SERVER_FIRST,
            "iteration count must be at least 1",
        ));
    }
    if iterations > u64::from(max_iterations) {
        return Err(AuthError::IterationCountTooHigh {
            iterations,
            max: max_iterations,
        });
    }
    let iterations = u32::try_from(iterations).map_err(|_| AuthError::IterationCountTooHigh {
        iterations,
        max: max_iterations,
    })?;

    check_extensions(attrs.map(str::as_bytes), SERVER_FIRST)?;
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

fn verify_server_final(message: &[u8], expected: &[u8; 32]) -> Result<(), AuthError> {
    let mut attrs = message.split(|&b| b == b',');
    let first = attrs.next().unwrap_or_default();
    if let Some(error) = first.strip_prefix(b"e=") {
        return Err(AuthError::ServerError(snippet(error)));
    }
    let Some(signature_b64) = first.strip_prefix(b"v=") else {
        return Err(malformed(
            SERVER_FINAL,
            format!(
                "expected the server signature \"v=\" or a server error \"e=\", found {:?}",
                snippet(first.get(..2).unwrap_or(first))
            ),
        ));
    };
    let signature = BASE64
        .decode(signature_b64)
        .map_err(|_| malformed(SERVER_FINAL, "server signature is not valid base64"))?;
    check_extensions(attrs, SERVER_FINAL)?;
    if constant_time_eq(&signature, expected) {
        Ok(())
    } else {
        Err(AuthError::ServerSignatureMismatch)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// An HMAC-SHA256 keyed with `key`.
fn keyed_hmac(key: &[u8]) -> HmacSha256 {
    match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length (long ones are hashed first).
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = keyed_hmac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `Hi(str, salt, i)` from RFC 5802: PBKDF2-HMAC-SHA256 with one 32-byte
/// block. The password is keyed into HMAC once and the keyed state cloned
/// for each iteration.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let prf = keyed_hmac(password);
    let mut mac = prf.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut result = u;
    for _ in 1..iterations {
        let mut mac = prf.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (r, x) in result.iter_mut().zip(u) {
            *r ^= x;
        }
    }
    result
}

/// Partial SASLprep (RFC 4013) of a password, as described in the module docs.
fn saslprep(password: &[u8]) -> Cow<'_, [u8]> {
    let Ok(text) = std::str::from_utf8(password) else {
        return Cow::Borrowed(password);
    };
    if text.is_ascii() {
        return Cow::Borrowed(password);
    }
    let mut mapped = String::with_capacity(text.len());
    for c in text.chars() {
        if in_table(c, NON_ASCII_SPACE) {
            mapped.push(' ');
        } else if !in_table(c, MAPPED_TO_NOTHING) {
            mapped.push(c);
        }
    }
    if mapped.is_empty() || mapped.chars().any(|c| in_table(c, PROHIBITED_OUTPUT)) {
        // libpq (and the server) use the raw password when SASLprep fails.
        let mut mapped = mapped.into_bytes();
        wipe(&mut mapped);
        return Cow::Borrowed(password);
    }
    if mapped.as_bytes() == password {
        let mut mapped = mapped.into_bytes();
        wipe(&mut mapped);
        return Cow::Borrowed(password);
    }
    Cow::Owned(mapped.into_bytes())
}

fn in_table(c: char, table: &[(u32, u32)]) -> bool {
    let c = u32::from(c);
    table.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// RFC 3454 table C.1.2: non-ASCII space characters (mapped to U+0020).
const NON_ASCII_SPACE: &[(u32, u32)] = &[
    (0x00A0, 0x00A0),
    (0x1680, 0x1680),
    (0x2000, 0x200B),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
];

/// RFC 3454 table B.1: commonly mapped to nothing.
const MAPPED_TO_NOTHING: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x1806, 0x1806),
    (0x180B, 0x180D),
    (0x200B, 0x200D),
    (0x2060, 0x2060),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
];

/// RFC 3454 tables C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8 and
/// C.9 merged (the same ranges as PostgreSQL's `prohibited_output_ranges`).
const PROHIBITED_OUTPUT: &[(u32, u32)] = &[
    (0x0000, 0x001F),
    (0x007F, 0x00A0),
    (0x0340, 0x0341),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x200F),
    (0x2028, 0x202F),
    (0x205F, 0x2063),
    (0x206A, 0x206F),
    (0x2FF0, 0x2FFB),
    (0x3000, 0x3000),
    (0xD800, 0xF8FF),
    (0xFDD0, 0xFDEF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFF),
    (0x1D173, 0x1D17A),
    (0x1FFFE, 0x1FFFF),
    (0x2FFFE, 0x2FFFF),
    (0x3FFFE, 0x3FFFF),
    (0x4FFFE, 0x4FFFF),
    (0x5FFFE, 0x5FFFF),
    (0x6FFFE, 0x6FFFF),
    (0x7FFFE, 0x7FFFF),
    (0x8FFFE, 0x8FFFF),
    (0x9FFFE, 0x9FFFF),
    (0xAFFFE, 0xAFFFF),
    (0xBFFFE, 0xBFFFF),
    (0xCFFFE, 0xCFFFF),
    (0xDFFFE, 0xDFFFF),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0xEFFFE, 0xEFFFF),
    (0xF0000, 0xFFFFF),
    (0x100000, 0x10FFFF),
];

/// Picks the mechanism to use from `AuthenticationSASL`'s list (the message
/// body after the `Int32` 10: NUL-terminated names, then an empty name).
///
/// Prefers [`ScramSha256::MECHANISM_PLUS`] when the server offers it and
/// `have_channel_binding` is true (TLS with a known server certificate
/// hash), else [`ScramSha256::MECHANISM`].
///
/// # Errors
///
/// [`AuthError::UnsupportedMechanisms`] naming the offered mechanisms when
/// none is usable; [`AuthError::MalformedMechanismList`] for a malformed list.
///
/// ```
/// use hyperdjango_pgwire::proto::auth::{choose_sasl_mechanism, AuthError};
///
/// let list = b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
/// assert_eq!(choose_sasl_mechanism(list, true)?, "SCRAM-SHA-256-PLUS");
/// assert_eq!(choose_sasl_mechanism(list, false)?, "SCRAM-SHA-256");
///
/// let err = choose_sasl_mechanism(b"OAUTHBEARER\0\0", false).unwrap_err();
/// assert_eq!(err, AuthError::UnsupportedMechanisms { offered: vec!["OAUTHBEARER".into()] });
/// # Ok::<(), AuthError>(())
/// ```
pub fn choose_sasl_mechanism(
    list: &[u8],
    have_channel_binding: bool,
) -> Result<&'static str, AuthError> {
    let offered = parse_sasl_mechanisms(list)?;
    let has = |name: &str| offered.contains(&name);
    if have_channel_binding && has(ScramSha256::MECHANISM_PLUS) {
        Ok(ScramSha256::MECHANISM_PLUS)
    } else if has(ScramSha256::MECHANISM) {
        Ok(ScramSha256::MECHANISM)
    } else {
        Err(AuthError::UnsupportedMechanisms {
            offered: offered.into_iter().map(str::to_owned).collect(),
        })
    }
}

/// Parses `AuthenticationSASL`'s body (after the `Int32` 10) into the
/// mechanism names: NUL-terminated names, then an empty name (a lone NUL).
///
/// # Errors
///
/// [`AuthError::MalformedMechanismList`] if a name is not NUL-terminated or
/// not UTF-8, the closing empty name is missing, or bytes follow it.
///
/// ```
/// use hyperdjango_pgwire::proto::auth::parse_sasl_mechanisms;
///
/// let names = parse_sasl_mechanisms(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0")?;
/// assert_eq!(names, ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
/// assert!(parse_sasl_mechanisms(b"SCRAM-SHA-256\0").is_err()); // no closing empty name
/// # Ok::<(), hyperdjango_pgwire::proto::auth::AuthError>(())
/// ```
pub fn parse_sasl_mechanisms(list: &[u8]) -> Result<Vec<&str>, AuthError> {
    let mut names = Vec::new();
    let mut rest = list;
    loop {
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            return Err(AuthError::MalformedMechanismList(if rest.is_empty() {
                "missing the terminating empty name".to_owned()
            } else {
                format!("mechanism name {:?} is not NUL-terminated", snippet(rest))
            }));
        };
        let (name, tail) = (&rest[..nul], &rest[nul + 1..]);
        if name.is_empty() {
            if !tail.is_empty() {
                return Err(AuthError::MalformedMechanismList(format!(
                    "{} bytes after the terminating empty name",
                    tail.len()
                )));
            }
            return Ok(names);
        }
        let name = std::str::from_utf8(name).map_err(|_| {
            AuthError::MalformedMechanismList(format!(
                "mechanism name {:?} is not valid UTF-8",
                snippet(name)
            ))
        })?;
        names.push(name);
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const RFC_SERVER_FIRST: &[u8] =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

    /// Like `with_nonce`, with a user name in the client-first-message (the
    /// RFC 7677 vector uses `n=user`; the public API always sends `n=`).
    fn with_user(password: &[u8], cb: ChannelBinding, nonce: &str, user: &str) -> ScramSha256 {
        ScramSha256::build(password, cb, nonce, user)
    }

    fn rfc_client(password: &[u8]) -> ScramSha256 {
        ScramSha256::with_nonce(password, ChannelBinding::Unsupported, RFC_NONCE)
    }

    fn server_first(nonce_suffix: &str, salt: &str, iterations: &str) -> Vec<u8> {
        format!("r={RFC_NONCE}{nonce_suffix},s={salt},i={iterations}").into_bytes()
    }

    fn malformed_first(err: &AuthError) -> &str {
        match err {
            AuthError::MalformedServerMessage {
                message: SERVER_FIRST,
                problem,
            } => problem,
            other => panic!("expected a malformed server-first-message error, got {other:?}"),
        }
    }

    /// Tiny deterministic PRNG (xorshift64*) for the fuzz-style tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn rfc7677_test_vector() {
        let mut scram = with_user(b"pencil", ChannelBinding::Unsupported, RFC_NONCE, "user");
        assert_eq!(scram.mechanism(), "SCRAM-SHA-256");
        assert_eq!(scram.message(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        scram.update(RFC_SERVER_FIRST).unwrap();
        assert_eq!(
            std::str::from_utf8(scram.message()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(!scram.is_complete());
        scram
            .finish(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(scram.is_complete());
    }

    #[test]
    fn username_is_escaped_in_client_first() {
        let scram = with_user(b"pw", ChannelBinding::Unsupported, "abc", "a,b=c");
        assert_eq!(scram.message(), b"n,,n=a=2Cb=3Dc,r=abc");
    }

    // Expected values for the empty user name (what PostgreSQL gets) were
    // computed independently with Python's hashlib/hmac:
    //   sp = hashlib.pbkdf2_hmac("sha256", b"pencil", b64decode(salt), 4096)
    //   ck = hmac(sp, "Client Key"); sk = sha256(ck)
    //   am = "n=,r=<nonce>," + server_first + ",c=<b64(gs2+cbind)>,r=<server nonce>"
    //   p = ck XOR hmac(sk, am); v = hmac(hmac(sp, "Server Key"), am)
    // (the same script reproduces the RFC 7677 vector with n=user).
    #[test]
    fn empty_username_exchange() {
        let mut scram = rfc_client(b"pencil");
        assert_eq!(scram.message(), b"n,,n=,r=rOprNGfwEbeRWgbNEkqO");
        scram.update(RFC_SERVER_FIRST).unwrap();
        assert_eq!(
            std::str::from_utf8(scram.message()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k="
        );
        scram
            .finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=")
            .unwrap();
        assert!(scram.is_complete());
    }

    #[test]
    fn channel_binding_unrequested_sends_y() {
        let mut scram = ScramSha256::with_nonce(b"pencil", ChannelBinding::Unrequested, RFC_NONCE);
        assert_eq!(scram.mechanism(), ScramSha256::MECHANISM);
        assert_eq!(scram.message(), b"y,,n=,r=rOprNGfwEbeRWgbNEkqO");
        scram.update(RFC_SERVER_FIRST).unwrap();
        assert_eq!(
            std::str::from_utf8(scram.message()).unwrap(),
            "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=VpuC5DGQa5ro9tXE9MnKs69NH1nxnuregZZcclqIGfM="
        );
        scram
            .finish(b"v=FOmOj9BpTGwvnzwBtWQjBaPmVxT9I8IeHBOhcIPu3us=")
            .unwrap();
    }

    #[test]
    fn channel_binding_tls_server_end_point() {
        // cbind-data = bytes 0..32 (stands in for the certificate hash).
        let cb = ChannelBinding::TlsServerEndPoint((0u8..32).collect());
        let mut scram = ScramSha256::with_nonce(b"pencil", cb, RFC_NONCE);
        assert_eq!(scram.mechanism(), ScramSha256::MECHANISM_PLUS);
        assert_eq!(
            scram.message(),
            b"p=tls-server-end-point,,n=,r=rOprNGfwEbeRWgbNEkqO"
        );
        scram.update(RFC_SERVER_FIRST).unwrap();
        assert_eq!(
            std::str::from_utf8(scram.message()).unwrap(),
            "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,\
             r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=Q8h71kjaoMzNI7dPksDrhRE/5mTUObF0fUHVIgBOWQg="
        );
        scram
            .finish(b"v=ykwoqH8mLqO5AQCeuwwf6lsj9f8zyJZT/CcvAbN4Ssc=")
            .unwrap();
    }

    #[test]
    fn md5_known_answer() {
        // Computed with Python:
        //   inner = hashlib.md5(b"secret" + b"postgres").hexdigest()
        //   "md5" + hashlib.md5(inner.encode() + bytes([1, 2, 3, 4])).hexdigest()
        assert_eq!(
            md5_password(b"postgres", b"secret", [1, 2, 3, 4]),
            "md5bb41a296aab6baccb36ff243a562abff"
        );
    }

    #[test]
    fn hi_matches_pbkdf2_hmac_sha256() {
        // hashlib.pbkdf2_hmac("sha256", b"password", b"salt", n).hex()
        assert_eq!(
            hex(&hi(b"password", b"salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        assert_eq!(
            hex(&hi(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn wrong_server_signature() {
        let mut scram = rfc_client(b"pencil");
        scram.update(RFC_SERVER_FIRST).unwrap();
        // The RFC's signature is for n=user, so it is wrong for n=.
        let err = scram
            .finish(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert_eq!(err, AuthError::ServerSignatureMismatch);
        assert_eq!(
            err.to_string(),
            "SCRAM server signature does not match: the server does not know the password \
             (or is not the server you think)"
        );
        assert!(!scram.is_complete());
        // The exchange is over.
        assert!(matches!(
            scram.finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="),
            Err(AuthError::OutOfOrder(_))
        ));
        assert!(!scram.is_complete());
    }

    #[test]
    fn server_signature_of_wrong_length_or_encoding() {
        for bad in [
            &b"v="[..],
            b"v=AAAA",
            b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOgA",
        ] {
            let mut scram = rfc_client(b"pencil");
            scram.update(RFC_SERVER_FIRST).unwrap();
            let err = scram.finish(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    AuthError::ServerSignatureMismatch | AuthError::MalformedServerMessage { .. }
                ),
                "{bad:?}: {err:?}"
            );
        }
        let mut scram = rfc_client(b"pencil");
        scram.update(RFC_SERVER_FIRST).unwrap();
        let err = scram.finish(b"v=not base64!").unwrap_err();
        assert_eq!(
            err.to_string(),
            "SCRAM server-final-message: server signature is not valid base64"
        );
    }

    #[test]
    fn server_final_with_extension_is_accepted() {
        let mut scram = rfc_client(b"pencil");
        scram.update(RFC_SERVER_FIRST).unwrap();
        scram
            .finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=,x=whatever")
            .unwrap();
    }

    #[test]
    fn wrong_password_gives_different_proof_and_signature_mismatch() {
        let mut scram = rfc_client(b"pencil2");
        scram.update(RFC_SERVER_FIRST).unwrap();
        assert!(
            !scram
                .message()
                .ends_with(b"p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k=")
        );
        assert_eq!(
            scram.finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="),
            Err(AuthError::ServerSignatureMismatch)
        );
    }

    #[test]
    fn iteration_cap_exceeded() {
        let mut scram = rfc_client(b"pencil");
        let err = scram
            .update(&server_first("srv", SALT_B64, "10000000"))
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::IterationCountTooHigh {
                iterations: 10_000_000,
                max: 600_000
            }
        );
        assert_eq!(
            err.to_string(),
            "SCRAM iteration count 10000000 exceeds the limit of 600000"
        );
        // The exchange is over.
        assert!(matches!(
            scram.update(RFC_SERVER_FIRST),
            Err(AuthError::OutOfOrder(_))
        ));

        // Beyond u32 and beyond u64.
        let err = rfc_client(b"pencil")
            .update(&server_first("srv", SALT_B64, "5000000000"))
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::IterationCountTooHigh {
                iterations: 5_000_000_000,
                max: 600_000
            }
        );
        let err = rfc_client(b"pencil")
            .update(&server_first("srv", SALT_B64, "99999999999999999999999"))
            .unwrap_err();
        assert!(malformed_first(&err).contains("out of range"), "{err}");

        // The cap is inclusive, and configurable.
        rfc_client(b"pencil")
            .with_max_iterations(4096)
            .update(RFC_SERVER_FIRST)
            .unwrap();
        let err = rfc_client(b"pencil")
            .with_max_iterations(4095)
            .update(RFC_SERVER_FIRST)
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::IterationCountTooHigh {
                iterations: 4096,
                max: 4095
            }
        );
    }

    #[test]
    fn iteration_count_must_be_a_positive_number() {
        for (count, expected) in [
            ("0", "iteration count must be at least 1"),
            ("000", "iteration count must be at least 1"),
            ("", "iteration count \"\" is not a number"),
            ("-1", "iteration count \"-1\" is not a number"),
            ("+5", "iteration count \"+5\" is not a number"),
            ("4096 ", "iteration count \"4096 \" is not a number"),
            ("abc", "iteration count \"abc\" is not a number"),
        ] {
            let err = rfc_client(b"pencil")
                .update(&server_first("srv", SALT_B64, count))
                .unwrap_err();
            assert_eq!(malformed_first(&err), expected, "i={count}");
        }
        // i=1 is weak but legal.
        rfc_client(b"pencil")
            .update(&server_first("srv", SALT_B64, "1"))
            .unwrap();
    }

    #[test]
    fn server_nonce_must_extend_ours() {
        let err = rfc_client(b"pencil")
            .update(b"r=XOprNGfwEbeRWgbNEkqO%hvYDpWUa,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "SCRAM server-first-message: nonce does not start with the client nonce"
        );
        // A prefix of ours is not ours either.
        let err = rfc_client(b"pencil")
            .update(b"r=rOprNG,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap_err();
        assert_eq!(
            malformed_first(&err),
            "nonce does not start with the client nonce"
        );
        // Exactly ours: the server added nothing.
        let err = rfc_client(b"pencil")
            .update(&server_first("", SALT_B64, "4096"))
            .unwrap_err();
        assert_eq!(
            malformed_first(&err),
            "nonce does not add a server part to the client nonce"
        );
        // Non-printable characters.
        for suffix in ["ab cd", "ab\tcd", "ab\u{7f}", "é"] {
            let err = rfc_client(b"pencil")
                .update(&server_first(suffix, SALT_B64, "4096"))
                .unwrap_err();
            assert_eq!(
                malformed_first(&err),
                "nonce contains a non-printable character",
                "{suffix:?}"
            );
        }
    }

    #[test]
    fn salt_must_be_non_empty_base64() {
        let err = rfc_client(b"pencil")
            .update(&server_first("srv", "", "4096"))
            .unwrap_err();
        assert_eq!(malformed_first(&err), "salt is empty");
        for bad in [
            "not base64!",
            "W22ZaJ0SNY7soEsUEjb6gQ",
            "=",
            "W22ZaJ0SNY7soEsUEjb6gQ===",
        ] {
            let err = rfc_client(b"pencil")
                .update(&server_first("srv", bad, "4096"))
                .unwrap_err();
            assert_eq!(malformed_first(&err), "salt is not valid base64", "{bad:?}");
        }
    }

    #[test]
    fn server_first_attribute_order_and_extensions() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty message"),
            (
                b"m=ext,r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "mandatory extension \"m=\" is not supported",
            ),
            (
                b"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOsrv,i=4096",
                "expected the nonce attribute \"r=\", found \"s=\"",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOsrv,i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==",
                "expected the salt attribute \"s=\", found \"i=\"",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOsrv",
                "missing the salt attribute \"s=\"",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==",
                "missing the iteration count attribute \"i=\"",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,",
                "expected the iteration count attribute \"i=\", found \"\"",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
                "empty attribute (stray ',')",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,m=x",
                "mandatory extension \"m=\" is not supported",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,junk",
                "malformed extension attribute \"junk\"",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,1=x",
                "malformed extension attribute \"1=x\"",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOsrv\xff,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "not valid UTF-8",
            ),
            (
                b"R=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "expected the nonce attribute \"r=\", found \"R=\"",
            ),
        ];
        for (message, expected) in cases {
            let err = rfc_client(b"pencil").update(message).unwrap_err();
            assert_eq!(
                malformed_first(&err),
                *expected,
                "{:?}",
                String::from_utf8_lossy(message)
            );
        }
        // Unknown (non-mandatory) extensions after i= are allowed by RFC 5802.
        rfc_client(b"pencil")
            .update(b"r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1,x=y,z=")
            .unwrap();
    }

    #[test]
    fn server_error_e() {
        let mut scram = rfc_client(b"pencil");
        scram.update(RFC_SERVER_FIRST).unwrap();
        let err = scram.finish(b"e=invalid-proof").unwrap_err();
        assert_eq!(err, AuthError::ServerError("invalid-proof".into()));
        assert_eq!(
            err.to_string(),
            "SCRAM authentication failed: the server reported error \"invalid-proof\" (wrong password)"
        );
        assert!(!scram.is_complete());

        let mut scram = rfc_client(b"pencil");
        scram.update(RFC_SERVER_FIRST).unwrap();
        let err = scram.finish(b"e=something-new,x=1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "SCRAM authentication failed: the server reported error \"something-new\""
        );

        // A garbled error value is quoted with escapes, not printed raw.
        let mut scram = rfc_client(b"pencil");
        scram.update(RFC_SERVER_FIRST).unwrap();
        let err = scram.finish(b"e=\x1b[31mred\xff").unwrap_err();
        assert!(err.to_string().contains(r#""\u{1b}[31mred�""#), "{err}");
    }

    #[test]
    fn server_final_must_be_v_or_e() {
        for bad in [
            &b""[..],
            b"x=abc",
            b"V=abc",
            b"v",
            b"3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=",
        ] {
            let mut scram = rfc_client(b"pencil");
            scram.update(RFC_SERVER_FIRST).unwrap();
            let err = scram.finish(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    AuthError::MalformedServerMessage {
                        message: SERVER_FINAL,
                        ..
                    }
                ),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn calls_out_of_order() {
        let mut scram = rfc_client(b"pencil");
        let err = scram
            .finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "SCRAM exchange out of order: finish() called before update(): \
             no server-first-message has been processed"
        );

        let mut scram = rfc_client(b"pencil");
        scram.update(RFC_SERVER_FIRST).unwrap();
        let client_final = scram.message().to_vec();
        assert!(matches!(
            scram.update(RFC_SERVER_FIRST),
            Err(AuthError::OutOfOrder(_))
        ));
        // A rejected second update does not disturb the exchange.
        assert_eq!(scram.message(), client_final);
        scram
            .finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=")
            .unwrap();
        assert!(matches!(
            scram.finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg="),
            Err(AuthError::OutOfOrder(_))
        ));
        assert!(matches!(
            scram.update(RFC_SERVER_FIRST),
            Err(AuthError::OutOfOrder(_))
        ));
        assert!(scram.is_complete());

        // After a failed update, finish is out of order too.
        let mut scram = rfc_client(b"pencil");
        scram.update(b"garbage").unwrap_err();
        let err = scram
            .finish(b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=")
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::OutOfOrder("finish() called after the exchange failed")
        );
    }

    #[test]
    fn new_uses_a_random_printable_nonce() {
        let a = ScramSha256::new(b"pw", ChannelBinding::Unsupported).unwrap();
        let b = ScramSha256::new(b"pw", ChannelBinding::Unsupported).unwrap();
        assert_ne!(a.client_nonce, b.client_nonce);
        assert_eq!(a.client_nonce.len(), 24);
        assert!(
            a.client_nonce
                .bytes()
                .all(|c| (0x21..=0x7e).contains(&c) && c != b',')
        );
        assert_eq!(
            a.message(),
            format!("n,,n=,r={}", a.client_nonce).as_bytes()
        );
    }

    #[test]
    fn mechanism_selection() {
        let both = b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
        assert_eq!(choose_sasl_mechanism(both, true), Ok("SCRAM-SHA-256-PLUS"));
        assert_eq!(choose_sasl_mechanism(both, false), Ok("SCRAM-SHA-256"));
        assert_eq!(
            choose_sasl_mechanism(b"SCRAM-SHA-256\0\0", true),
            Ok("SCRAM-SHA-256")
        );
        assert_eq!(
            choose_sasl_mechanism(b"FOO\0SCRAM-SHA-256\0\0", false),
            Ok("SCRAM-SHA-256")
        );

        // Only -PLUS, but no channel binding data.
        let err = choose_sasl_mechanism(b"SCRAM-SHA-256-PLUS\0\0", false).unwrap_err();
        assert_eq!(
            err,
            AuthError::UnsupportedMechanisms {
                offered: vec!["SCRAM-SHA-256-PLUS".into()]
            }
        );
        assert!(
            err.to_string().contains("offered: \"SCRAM-SHA-256-PLUS\""),
            "{err}"
        );
        assert!(err.to_string().contains("needs channel binding"), "{err}");
        assert_eq!(
            choose_sasl_mechanism(b"SCRAM-SHA-256-PLUS\0\0", true),
            Ok("SCRAM-SHA-256-PLUS")
        );

        let err = choose_sasl_mechanism(b"SCRAM-SHA-1\0OAUTHBEARER\0\0", true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the server offered no SASL authentication mechanism this client supports \
             (offered: \"SCRAM-SHA-1\", \"OAUTHBEARER\"; supported: SCRAM-SHA-256, \
             and SCRAM-SHA-256-PLUS over TLS with channel binding)"
        );
        let err = choose_sasl_mechanism(b"\0", false).unwrap_err();
        assert_eq!(err, AuthError::UnsupportedMechanisms { offered: vec![] });
        assert!(err.to_string().contains("(offered: none;"), "{err}");
        // Names are compared exactly.
        assert!(choose_sasl_mechanism(b"scram-sha-256\0\0", false).is_err());
        assert!(choose_sasl_mechanism(b"SCRAM-SHA-256 \0\0", false).is_err());

        // Malformed lists are errors, not "unsupported".
        for bad in [
            &b""[..],
            b"SCRAM-SHA-256",
            b"SCRAM-SHA-256\0",
            b"SCRAM-SHA-256\0\0x",
        ] {
            assert!(
                matches!(
                    choose_sasl_mechanism(bad, false),
                    Err(AuthError::MalformedMechanismList(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parse_mechanism_lists() {
        assert_eq!(parse_sasl_mechanisms(b"\0").unwrap(), Vec::<&str>::new());
        assert_eq!(parse_sasl_mechanisms(b"A\0B\0\0").unwrap(), ["A", "B"]);
        let cases: &[(&[u8], &str)] = &[
            (b"", "missing the terminating empty name"),
            (b"SCRAM-SHA-256\0", "missing the terminating empty name"),
            (
                b"SCRAM-SHA-256",
                "mechanism name \"SCRAM-SHA-256\" is not NUL-terminated",
            ),
            (b"A\0B", "mechanism name \"B\" is not NUL-terminated"),
            (b"A\0\0\0", "1 bytes after the terminating empty name"),
            (b"A\0\0B\0\0", "3 bytes after the terminating empty name"),
            (
                b"\xff\0\0",
                "mechanism name \"\u{fffd}\" is not valid UTF-8",
            ),
        ];
        for (list, expected) in cases {
            let err = parse_sasl_mechanisms(list).unwrap_err();
            assert_eq!(
                err,
                AuthError::MalformedMechanismList((*expected).into()),
                "{list:?}"
            );
            assert!(
                err.to_string()
                    .starts_with("malformed AuthenticationSASL mechanism list: ")
            );
        }
    }

    #[test]
    fn saslprep_partial() {
        let prep = |s: &[u8]| saslprep(s).into_owned();
        // ASCII (even with control characters) and invalid UTF-8 are left alone.
        assert_eq!(prep(b"pencil"), b"pencil");
        assert_eq!(prep(b"tab\there"), b"tab\there");
        assert_eq!(prep(b""), b"");
        assert_eq!(prep(b"\xff\xfe"), b"\xff\xfe");
        // NFC text without compatibility characters is left alone.
        assert_eq!(prep("pässwörd".as_bytes()), "pässwörd".as_bytes());
        assert_eq!(prep("пароль密码".as_bytes()), "пароль密码".as_bytes());
        // C.1.2 spaces become U+0020; B.1 characters vanish.
        assert_eq!(prep("a\u{a0}b\u{3000}c\u{200b}d".as_bytes()), b"a b c d");
        assert_eq!(
            prep("pa\u{ad}ss\u{200d}wo\u{fe0f}rd\u{feff}".as_bytes()),
            b"password"
        );
        assert_eq!(prep("I\u{ad}X".as_bytes()), b"IX"); // RFC 4013 example
        // Empty after mapping, or prohibited characters: raw bytes.
        assert_eq!(prep("\u{ad}".as_bytes()), "\u{ad}".as_bytes());
        assert_eq!(prep("\u{a0}\u{7}".as_bytes()), "\u{a0}\u{7}".as_bytes()); // C.2.1
        assert_eq!(prep("a\u{a0}\u{85}".as_bytes()), "a\u{a0}\u{85}".as_bytes()); // C.2.2
        assert_eq!(
            prep("a\u{a0}\u{e000}".as_bytes()),
            "a\u{a0}\u{e000}".as_bytes()
        ); // C.3
        assert_eq!(
            prep("a\u{a0}\u{fffe}".as_bytes()),
            "a\u{a0}\u{fffe}".as_bytes()
        ); // C.4
        assert_eq!(
            prep("a\u{a0}\u{200e}".as_bytes()),
            "a\u{a0}\u{200e}".as_bytes()
        ); // C.8
        assert_eq!(
            prep("a\u{a0}\u{e0041}".as_bytes()),
            "a\u{a0}\u{e0041}".as_bytes()
        ); // C.9
        assert!(matches!(saslprep(b"pencil"), Cow::Borrowed(_)));
        assert!(matches!(saslprep("pässwörd".as_bytes()), Cow::Borrowed(_)));
    }

    #[test]
    fn saslprep_is_applied_to_the_proof() {
        let proof_for = |password: &str| {
            let mut scram = rfc_client(password.as_bytes());
            scram.update(RFC_SERVER_FIRST).unwrap();
            scram.message().to_vec()
        };
        let plain = proof_for("pencil");
        assert_eq!(proof_for("pen\u{ad}cil"), plain);
        assert_eq!(proof_for("pen\u{200b}cil"), proof_for("pen cil"));
        assert_eq!(proof_for("pen\u{a0}cil"), proof_for("pen cil"));
        assert_ne!(proof_for("pen\u{a0}cil"), plain);
    }

    #[test]
    fn debug_and_errors_do_not_leak_the_password() {
        const PASSWORD: &str = "hunter2-very-secret";
        let mut scram =
            ScramSha256::with_nonce(PASSWORD.as_bytes(), ChannelBinding::Unsupported, RFC_NONCE);
        let before = format!("{scram:?}");
        assert!(!before.contains(PASSWORD), "{before}");
        assert!(before.contains("<redacted>"));
        scram.update(RFC_SERVER_FIRST).unwrap();
        let after = format!("{scram:?}");
        assert!(!after.contains(PASSWORD), "{after}");
        // Neither the proof (offline-attackable) nor the nonce are shown.
        let proof = &scram.message()[scram.message().len() - 44..];
        assert!(
            !after.contains(std::str::from_utf8(proof).unwrap()),
            "{after}"
        );
        assert!(!after.contains(RFC_NONCE), "{after}");
        assert!(scram.password.is_empty(), "password wiped after update");

        let errors = [
            scram.finish(b"v=AAAA").unwrap_err(),
            ScramSha256::with_nonce(PASSWORD.as_bytes(), ChannelBinding::Unsupported, "x")
                .update(format!("r={PASSWORD},s=,i=1").as_bytes())
                .unwrap_err(),
        ];
        for e in errors {
            assert!(!e.to_string().contains(PASSWORD), "{e}");
            assert!(!format!("{e:?}").contains(PASSWORD), "{e:?}");
        }
    }

    #[test]
    fn long_server_text_is_truncated_in_errors() {
        let long = "x".repeat(10_000);
        let err = rfc_client(b"pencil")
            .update(format!("r={RFC_NONCE}srv,s={SALT_B64},i={long}").as_bytes())
            .unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
        let list = format!("{long}\0{long}");
        let err = parse_sasl_mechanisms(list.as_bytes()).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    /// Garbled, truncated and random server messages produce errors, never panics.
    #[test]
    fn fuzz_server_messages_never_panic() {
        const FIRST_OK: &[u8] =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2";
        const FINAL_OK: &[u8] = b"v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=";
        const ALPHABET: &[u8] =
            b"rsivemxc=,=,,0123456789+/=AZaz%$)\0\xff\xc3\xa9 rOprNGfwEbeRWgbNEkqO";
        let client = || {
            ScramSha256::with_nonce(b"pencil", ChannelBinding::Unsupported, RFC_NONCE)
                .with_max_iterations(8)
        };
        let after_update = || {
            let mut scram = client();
            scram.update(FIRST_OK).unwrap();
            scram
        };

        // Every proper prefix of valid messages.
        for len in 0..FIRST_OK.len() {
            let _ = client().update(&FIRST_OK[..len]);
        }
        for len in 0..FINAL_OK.len() {
            assert!(
                after_update().finish(&FINAL_OK[..len]).is_err(),
                "prefix {len}"
            );
        }
        let list = b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
        for len in 0..list.len() {
            assert!(parse_sasl_mechanisms(&list[..len]).is_err(), "prefix {len}");
            assert!(
                choose_sasl_mechanism(&list[..len], true).is_err(),
                "prefix {len}"
            );
        }

        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..3000 {
            // Random bytes, biased towards the SCRAM alphabet.
            let len = rng.below(96);
            let random: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.below(4) == 0 {
                        rng.next() as u8
                    } else {
                        ALPHABET[rng.below(ALPHABET.len())]
                    }
                })
                .collect();
            // A valid message mutated: bytes replaced, deleted or inserted.
            let mut mutated_first = FIRST_OK.to_vec();
            let mut mutated_final = FINAL_OK.to_vec();
            for m in [&mut mutated_first, &mut mutated_final] {
                for _ in 0..=rng.below(4) {
                    let at = rng.below(m.len() + 1);
                    let byte = if rng.below(2) == 0 {
                        ALPHABET[rng.below(ALPHABET.len())]
                    } else {
                        rng.next() as u8
                    };
                    match rng.below(3) {
                        0 if at < m.len() => m[at] = byte,
                        1 if at < m.len() => {
                            m.remove(at);
                        }
                        _ => m.insert(at, byte),
                    }
                }
            }
            for message in [&random, &mutated_first] {
                let mut scram = client();
                if scram.update(message).is_ok() {
                    let _ = scram.finish(&random);
                    let _ = scram.finish(FINAL_OK);
                }
            }
            for message in [&random, &mutated_final] {
                let mut scram = after_update();
                if scram.finish(message).is_ok() {
                    assert!(
                        message.starts_with(FINAL_OK),
                        "round {round}: accepted a wrong signature {message:?}"
                    );
                }
                let _ = client().finish(message);
            }
            let _ = parse_sasl_mechanisms(&random);
            let _ = choose_sasl_mechanism(&random, round % 2 == 0);
            let _ = md5_password(&random, &random, [0; 4]);
            let _ = saslprep(&random);
        }
    }
}
