//! Opening a connection: the socket, StartupMessage, authentication, and the parameter and
//! key messages up to the first ReadyForQuery. Also the CancelRequest, which uses a new socket.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixStream};

use super::Connection;
use super::socket::Stream;
use crate::config::{
    AuthMethod, ChannelBindingMode, Config, Host, ProtocolVersion, SslMode, TargetSessionAttrs,
};
use crate::error::{Error, Result};
use crate::proto::auth::{self, ChannelBinding, ScramSha256};
use crate::proto::backend::Message;
use crate::proto::frontend;

impl Connection {
    /// Connects with a [`Config`], trying each host in order until one accepts.
    ///
    /// ```no_run
    /// use hyperdjango_pgwire::{Config, Connection};
    ///
    /// # async fn f() -> hyperdjango_pgwire::Result<()> {
    /// let mut config = Config::new();
    /// config.host("/var/run/postgresql").user("postgres").dbname("postgres");
    /// let conn = Connection::connect(&config).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: &Config) -> Result<Connection> {
        let endpoints = config.endpoints()?;
        let user = config.effective_user()?;
        let dbname = config.effective_dbname()?;
        let want = config.get_target_session_attrs();
        // prefer-standby: a standby if there is one, else any server (libpq's two passes).
        let passes: &[TargetSessionAttrs] = match want {
            TargetSessionAttrs::PreferStandby => {
                &[TargetSessionAttrs::Standby, TargetSessionAttrs::Any]
            }
            _ => std::slice::from_ref(&want),
        };
        let mut last = None;
        for &pass in passes {
            for (host, port) in &endpoints {
                let attempt = async {
                    let mut conn =
                        connect_one(config, host, port.to_owned(), &user, &dbname).await?;
                    match session_kind_mismatch(&mut conn, pass).await? {
                        None => Ok(conn),
                        Some(kind) => {
                            let _ = conn.close().await;
                            Err(Error::Closed(format!(
                                "{} is {kind}, but target_session_attrs={} was asked for",
                                describe(host, *port),
                                attrs_name(want)
                            )))
                        }
                    }
                };
                let result = match config.get_connect_timeout() {
                    Some(limit) => match tokio::time::timeout(limit, attempt).await {
                        Ok(r) => r,
                        Err(_) => Err(Error::Timeout(format!(
                            "connecting to {} took longer than connect_timeout ({} s)",
                            describe(host, *port),
                            limit.as_secs_f64()
                        ))),
                    },
                    None => attempt.await,
                };
                match result {
                    Ok(conn) => return Ok(conn),
                    Err(e) => last = Some(e),
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Closed("no host to connect to".into())))
    }

    /// Connects with a libpq-style URL (`postgres://user:pass@host:port/db?...`) or a
    /// `key=value` string. Settings the string leaves out come from PGHOST, PGPORT, PGUSER,
    /// PGDATABASE, PGPASSWORD and the other PG* variables.
    ///
    /// ```no_run
    /// # async fn f() -> hyperdjango_pgwire::Result<()> {
    /// let conn = hyperdjango_pgwire::Connection::connect_url("postgres://app@db.internal/app?application_name=api").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_url(url: &str) -> Result<Connection> {
        Connection::connect(&Config::from_url(url)?).await
    }

    /// Connects to `HYPER_DATABASE_URL`, or where the PG* variables point when it is unset.
    ///
    /// ```no_run
    /// # async fn f() -> hyperdjango_pgwire::Result<()> {
    /// let conn = hyperdjango_pgwire::Connection::connect_env().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_env() -> Result<Connection> {
        Connection::connect(&Config::from_env()?).await
    }

    /// A token that can cancel this connection's running query from anywhere.
    pub fn cancel_token(&self) -> CancelToken {
        CancelToken {
            target: self.target.clone(),
            connect_timeout: self.cancel_connect_timeout,
            process_id: self.process_id,
            secret_key: self.secret_key.clone(),
            #[cfg(feature = "tls")]
            tls: self.tls_setup.clone(),
        }
    }

    /// Whether the connection is encrypted with TLS.
    ///
    /// ```no_run
    /// # async fn f() -> hyperdjango_pgwire::Result<()> {
    /// let conn = hyperdjango_pgwire::Connection::connect_url("postgres://db/app?sslmode=require").await?;
    /// assert!(conn.is_tls());
    /// # Ok(()) }
    /// ```
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// Whether the login used SCRAM-SHA-256-PLUS, binding the authentication to this TLS
    /// connection (`tls-server-end-point`), so that a man in the middle would have failed it.
    ///
    /// ```no_run
    /// # async fn f() -> hyperdjango_pgwire::Result<()> {
    /// let conn = hyperdjango_pgwire::Connection::connect_url(
    ///     "postgres://app:pw@db/app?sslmode=verify-full&channel_binding=require",
    /// )
    /// .await?;
    /// assert!(conn.channel_binding_used());
    /// # Ok(()) }
    /// ```
    pub fn channel_binding_used(&self) -> bool {
        self.channel_binding_used
    }
}

fn attrs_name(attrs: TargetSessionAttrs) -> &'static str {
    match attrs {
        TargetSessionAttrs::Any => "any",
        TargetSessionAttrs::ReadWrite => "read-write",
        TargetSessionAttrs::ReadOnly => "read-only",
        TargetSessionAttrs::Primary => "primary",
        TargetSessionAttrs::Standby => "standby",
        TargetSessionAttrs::PreferStandby => "prefer-standby",
    }
}

/// Checks a new session against target_session_attrs; returns what the server is when it
/// does not match. PostgreSQL 14+ reports `in_hot_standby` and
/// `default_transaction_read_only` at startup; older servers are asked.
async fn session_kind_mismatch(
    conn: &mut Connection,
    want: TargetSessionAttrs,
) -> Result<Option<&'static str>> {
    let on = |v: Option<&str>| v.map(|v| v == "on");
    match want {
        TargetSessionAttrs::Any => Ok(None),
        TargetSessionAttrs::ReadWrite | TargetSessionAttrs::ReadOnly => {
            let read_only = match on(conn.parameter("default_transaction_read_only")) {
                Some(r) if !on(conn.parameter("in_hot_standby")).unwrap_or(false) => r,
                _ => {
                    let row = conn
                        .query_one(
                            "SELECT current_setting('transaction_read_only') = 'on'",
                            &[],
                        )
                        .await?;
                    row.get::<_, bool>(0)?
                }
            };
            let ok = read_only == (want == TargetSessionAttrs::ReadOnly);
            Ok((!ok).then_some(if read_only { "read-only" } else { "read-write" }))
        }
        TargetSessionAttrs::Primary
        | TargetSessionAttrs::Standby
        | TargetSessionAttrs::PreferStandby => {
            let standby = match on(conn.parameter("in_hot_standby")) {
                Some(s) => s,
                None => conn
                    .query_one("SELECT pg_is_in_recovery()", &[])
                    .await?
                    .get::<_, bool>(0)?,
            };
            let ok = standby == (want != TargetSessionAttrs::Primary);
            Ok((!ok).then_some(if standby { "a standby" } else { "a primary" }))
        }
    }
}

fn describe(host: &Host, port: u16) -> String {
    match host {
        Host::Tcp(h) if h.contains(':') => format!("[{h}]:{port}"),
        Host::Tcp(h) => format!("{h}:{port}"),
        Host::Unix(_) => host
            .socket_file(port)
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    }
}

/// Opens the socket to one endpoint.
async fn open(host: &Host, port: u16) -> Result<Stream> {
    let endpoint = describe(host, port);
    match host {
        Host::Tcp(name) => {
            let stream = TcpStream::connect((name.as_str(), port))
                .await
                .map_err(|e| Error::io(format!("connecting to {endpoint}"), e))?;
            stream
                .set_nodelay(true)
                .map_err(|e| Error::io(format!("setting TCP_NODELAY on {endpoint}"), e))?;
            Ok(Stream::Tcp(stream))
        }
        Host::Unix(_) => {
            let path = host.socket_file(port).unwrap_or_default();
            let stream = UnixStream::connect(&path)
                .await
                .map_err(|e| Error::io(format!("connecting to {endpoint}"), e))?;
            Ok(Stream::Unix(stream))
        }
    }
}

/// Connects to one endpoint with the TLS policy of `sslmode`, falling back as libpq does:
/// `allow` tries without TLS first and with it if the server refuses the login; `prefer` the
/// other way round (and also without TLS when the handshake fails). TLS is never used over a
/// Unix socket, as in libpq: the socket is local, and PostgreSQL does not offer it there.
/// Opens one connection. A server or pooler that refuses a protocol 3.2 StartupMessage
/// outright (PgBouncer before 1.24 answers `08P01 bad packet header` instead of
/// NegotiateProtocolVersion) gets one more attempt at 3.0, when `min_protocol_version`
/// allows 3.0: `max_protocol_version=latest` is then safe behind such a pooler.
async fn connect_one(
    config: &Config,
    host: &Host,
    port: u16,
    user: &str,
    dbname: &str,
) -> Result<Connection> {
    let asked_newer = config.get_max_protocol_version() > ProtocolVersion::V3_0;
    let may_fall_back = config.get_min_protocol_version() == ProtocolVersion::V3_0;
    match open_session(config, host, port, user, dbname).await {
        Err(e) if asked_newer && may_fall_back && refused_startup_version(&e) => {
            let mut fallback = config.clone();
            fallback.max_protocol_version(ProtocolVersion::V3_0);
            open_session(&fallback, host, port, user, dbname).await
        }
        other => other,
    }
}

/// Whether the error is the server rejecting the StartupMessage's protocol version
/// (`08P01` protocol violation, or `0A000` "unsupported frontend protocol").
fn refused_startup_version(e: &Error) -> bool {
    e.code()
        .is_some_and(|c| c.code() == "08P01" || c.code() == "0A000")
}

/// Opens one connection asking for `max_protocol_version`.
async fn open_session(
    config: &Config,
    host: &Host,
    port: u16,
    user: &str,
    dbname: &str,
) -> Result<Connection> {
    let mode = config.get_ssl_mode();
    let tcp_name = match host {
        Host::Tcp(name) => Some(name.as_str()),
        Host::Unix(_) => None,
    };
    let Some(name) = tcp_name.filter(|_| mode != SslMode::Disable) else {
        return Box::pin(start(config, host, port, user, dbname, None)).await;
    };
    #[cfg(not(feature = "tls"))]
    {
        let _ = name;
        match mode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => {
                Box::pin(start(config, host, port, user, dbname, None)).await
            }
            mode => Err(Error::Unsupported(format!(
                "sslmode={} needs TLS, which this build of hyperdjango-pgwire does not have: \
                 enable the feature `tls`",
                mode.name()
            ))),
        }
    }
    #[cfg(feature = "tls")]
    match mode {
        SslMode::Allow => match Box::pin(start(config, host, port, user, dbname, None)).await {
            Err(e) if refused_login(&e) => {
                Box::pin(start(config, host, port, user, dbname, Some(name))).await
            }
            other => other,
        },
        SslMode::Prefer => {
            match Box::pin(start(config, host, port, user, dbname, Some(name))).await {
                Err(e) if refused_login(&e) || matches!(e, Error::Tls(_)) => {
                    Box::pin(start(config, host, port, user, dbname, None)).await
                }
                other => other,
            }
        }
        _ => Box::pin(start(config, host, port, user, dbname, Some(name))).await,
    }
}

/// A login the server refused for the kind of connection (pg_hba.conf: `hostssl`,
/// `hostnossl`, `reject`): worth one more try with the other kind under allow or prefer.
#[cfg(feature = "tls")]
fn refused_login(e: &Error) -> bool {
    e.code() == Some(&crate::sqlstate::SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
}

/// Opens the socket, starts TLS when `tls_host` is given, and logs in. Callers box this
/// future: with the TLS handshake it is large, and it would otherwise be inlined into every
/// future that may connect (a pool's acquire, the ORM's queries), deepening their stacks.
async fn start(
    config: &Config,
    host: &Host,
    port: u16,
    user: &str,
    dbname: &str,
    tls_host: Option<&str>,
) -> Result<Connection> {
    let span = crate::__trace_span!(INFO, "hyperdjango.connect", {
        db.system = "postgresql",
        server.address = %match host {
            Host::Tcp(name) => name.as_str(),
            Host::Unix(_) => "unix socket",
        },
        server.port = port,
        network.transport = match host {
            Host::Tcp(_) => "tcp",
            Host::Unix(_) => "unix",
        },
        db.namespace = dbname,
        db.user = user,
        tls = tls_host.is_some()
    }, [hyperdjango.auth, hyperdjango.protocol]);
    let result = span
        .instrument(start_untraced(config, host, port, user, dbname, tls_host))
        .await;
    #[cfg(feature = "tracing")]
    if let Ok((conn, auth)) = &result {
        span.record("tls", conn.is_tls());
        span.record("hyperdjango.auth", auth.map_or("trust", AuthMethod::name));
        span.record_with("hyperdjango.protocol", || {
            format!("3.{}", conn.protocol_minor)
        });
    }
    crate::trace::finish(&span, &result);
    result.map(|(conn, _)| conn)
}

/// [`start`] without its span; also returns the authentication method the server asked for
/// (`None`: it let the client in without one).
async fn start_untraced(
    config: &Config,
    host: &Host,
    port: u16,
    user: &str,
    dbname: &str,
    tls_host: Option<&str>,
) -> Result<(Connection, Option<AuthMethod>)> {
    #[allow(unused_mut)]
    let mut stream = open(host, port).await?;
    // Cancel requests go to the address this socket reached, not to whatever the host name
    // resolves to next time (round-robin DNS, localhost on two stacks).
    let target = match (&stream, host) {
        (Stream::Tcp(s), _) => s.peer_addr().ok().map(CancelTarget::Tcp),
        (Stream::Unix(_), Host::Unix(_)) => host.socket_file(port).map(CancelTarget::Unix),
        _ => None,
    };
    #[cfg(feature = "tls")]
    let mut tls_setup = None;
    #[cfg(feature = "tls")]
    let mut end_point = None;
    #[cfg(feature = "tls")]
    if let Some(name) = tls_host {
        use super::tls::{Negotiated, TlsSetup, server_end_point};
        stream = match stream {
            Stream::Tcp(tcp) => {
                let setup = TlsSetup::new(config, name)?;
                match setup.negotiate(tcp, &describe(host, port)).await? {
                    Negotiated::Tls(tls) => {
                        end_point = server_end_point(&tls);
                        tls_setup = Some(setup);
                        Stream::Tls(tls)
                    }
                    Negotiated::Plain(tcp) => Stream::Tcp(tcp),
                }
            }
            other => other,
        };
    }
    #[cfg(not(feature = "tls"))]
    let _ = tls_host;
    let mut conn = Connection::new(stream, describe(host, port));
    conn.target = target;
    #[cfg(feature = "tls")]
    {
        conn.tls_setup = tls_setup;
        conn.tls_end_point = end_point;
    }
    conn.cancel_connect_timeout = config.get_connect_timeout();
    conn.set_query_timeout(config.get_query_timeout());
    conn.cache = super::cache::StatementCache::new(
        config.get_statement_cache_size(),
        config.get_prepared_statements(),
    );
    conn.named_statements = config.get_prepared_statements();

    let max = config.get_max_protocol_version();
    let version = ((max.major as i32) << 16) | max.minor as i32;
    let mut params: Vec<(&str, &str)> = vec![
        ("user", user),
        ("database", dbname),
        ("client_encoding", "UTF8"),
    ];
    if let Some(name) = config.get_application_name() {
        params.push(("application_name", name));
    }
    if let Some(options) = config.get_options() {
        params.push(("options", options));
    }
    // The server enforces the query timeout too, so a query still runs out of time when the
    // client cannot reach it to cancel (the client-side timer is in `Connection::fill`).
    let statement_timeout = config
        .get_query_timeout()
        .map(|t| t.as_millis().to_string());
    if let Some(ms) = &statement_timeout {
        params.push(("statement_timeout", ms));
    }
    frontend::startup(version, params, &mut conn.write_buf)?;
    conn.protocol_minor = max.minor;
    conn.flush().await?;

    #[cfg(feature = "tracing")]
    {
        conn.trace_parameters = config.get_trace_parameters();
    }
    let method = authenticate(&mut conn, config, user).await?;
    finish_startup(&mut conn, config).await?;
    Ok((conn, method))
}

/// Answers the server's authentication requests until AuthenticationOk, enforcing
/// `require_auth` (before anything is sent for a method) and `channel_binding`.
async fn authenticate(
    conn: &mut Connection,
    config: &Config,
    user: &str,
) -> Result<Option<AuthMethod>> {
    let mut scram: Option<ScramSha256> = None;
    // The method the server asked for, once it asked.
    let mut method: Option<AuthMethod> = None;
    let binding = config.get_channel_binding();
    loop {
        let message = conn.read_message().await?;
        let asked = match &message {
            Message::AuthenticationCleartextPassword => Some(AuthMethod::Password),
            Message::AuthenticationMd5Password { .. } => Some(AuthMethod::Md5),
            Message::AuthenticationSasl(_) => Some(AuthMethod::ScramSha256),
            Message::AuthenticationGss
            | Message::AuthenticationGssContinue(_)
            | Message::AuthenticationKerberosV5 => Some(AuthMethod::Gss),
            Message::AuthenticationSspi => Some(AuthMethod::Sspi),
            _ => None,
        };
        if let Some(asked) = asked {
            // A server may ask again only in the same method's exchange (GSS continues); a
            // switch from one method to another is a downgrade attempt.
            if method.is_some_and(|m| m != asked)
                || (asked == AuthMethod::ScramSha256 && scram.is_some())
            {
                return Err(conn.fail_protocol(crate::proto::ProtocolError::new(format!(
                    "the server asked for authentication method {} in the middle of another exchange",
                    asked.name()
                ))));
            }
            method = Some(asked);
            check_require_auth(conn, config, asked)?;
            if binding == ChannelBindingMode::Require && asked != AuthMethod::ScramSha256 {
                return Err(conn.fail(Error::Auth(auth::AuthError::ChannelBindingRequired(
                    format!(
                        "the server asked for authentication method {}, which has no channel binding",
                        asked.name()
                    ),
                ))));
            }
        }
        match message {
            Message::AuthenticationOk => {
                // A server that skips SASLFinal could otherwise avoid proving it knows the password.
                if let Some(s) = &scram {
                    if !s.is_complete() {
                        return Err(conn.fail(Error::Auth(auth::AuthError::OutOfOrder(
                            "the server reported success before proving it knows the password (SCRAM final message missing)",
                        ))));
                    }
                }
                if method.is_none() {
                    check_require_auth(conn, config, AuthMethod::None)?;
                }
                if binding == ChannelBindingMode::Require && !conn.channel_binding_used {
                    return Err(conn.fail(Error::Auth(auth::AuthError::ChannelBindingRequired(
                        "the server let the client in without authenticating it (trust or cert in pg_hba.conf), so nothing was bound to the TLS channel".into(),
                    ))));
                }
                return Ok(method);
            }
            Message::AuthenticationCleartextPassword => {
                let password = need_password(conn, config, "password")?;
                frontend::password(&password, &mut conn.write_buf)?;
                conn.flush().await?;
            }
            Message::AuthenticationMd5Password { salt } => {
                let password = need_password(conn, config, "md5")?;
                let hashed = auth::md5_password(user.as_bytes(), &password, salt);
                frontend::password(hashed.as_bytes(), &mut conn.write_buf)?;
                conn.flush().await?;
            }
            Message::AuthenticationSasl(mechanisms) => {
                // The binding data exists only over TLS; `disable` never uses it.
                let data = match binding {
                    ChannelBindingMode::Disable => None,
                    _ => conn.tls_end_point.clone(),
                };
                let mechanism = auth::choose_sasl_mechanism(&mechanisms, data.is_some())
                    .map_err(|e| conn.fail(e.into()))?;
                let plus = mechanism == ScramSha256::MECHANISM_PLUS;
                if binding == ChannelBindingMode::Require && !plus {
                    let why = if !conn.is_tls() {
                        "the connection is not encrypted (the server refused TLS?)"
                    } else if data.is_none() {
                        "the server certificate's signature algorithm gives no tls-server-end-point hash"
                    } else {
                        "the server did not offer SCRAM-SHA-256-PLUS"
                    };
                    return Err(
                        conn.fail(Error::Auth(auth::AuthError::ChannelBindingRequired(
                            why.into(),
                        ))),
                    );
                }
                let cb = match data {
                    Some(data) if plus => ChannelBinding::TlsServerEndPoint(data),
                    // Over TLS, say that the client could bind but the server did not offer it
                    // (a server that did offer it then fails the exchange: a downgrade).
                    _ if conn.is_tls() && binding != ChannelBindingMode::Disable => {
                        ChannelBinding::Unrequested
                    }
                    _ => ChannelBinding::Unsupported,
                };
                let password = need_password(conn, config, "scram-sha-256")?;
                let s = ScramSha256::new(&password, cb)
                    .map_err(|e| conn.fail(e.into()))?
                    .with_max_iterations(config.get_scram_max_iterations());
                frontend::sasl_initial_response(s.mechanism(), s.message(), &mut conn.write_buf)?;
                conn.flush().await?;
                conn.channel_binding_used = plus;
                scram = Some(s);
            }
            Message::AuthenticationSaslContinue(data) => {
                let Some(mut owned) = scram.take() else {
                    return Err(conn.fail_protocol(crate::proto::ProtocolError::new(
                        "SASLContinue without a SASL exchange in progress",
                    )));
                };
                // PBKDF2 (4096 iterations by default, up to scram_max_iterations) is CPU work:
                // run it off the async executor.
                let (back, result) = tokio::task::spawn_blocking(move || {
                    let r = owned.update(&data);
                    (owned, r)
                })
                .await
                .map_err(|e| {
                    conn.fail(Error::Closed(format!("the SCRAM computation failed: {e}")))
                })?;
                if let Err(e) = result {
                    return Err(conn.fail(e.into()));
                }
                let s = scram.insert(back);
                frontend::sasl_response(s.message(), &mut conn.write_buf);
                conn.flush().await?;
            }
            Message::AuthenticationSaslFinal(data) => {
                let Some(s) = scram.as_mut() else {
                    return Err(conn.fail_protocol(crate::proto::ProtocolError::new(
                        "SASLFinal without a SASL exchange in progress",
                    )));
                };
                if let Err(e) = s.finish(&data) {
                    return Err(conn.fail(e.into()));
                }
            }
            Message::AuthenticationKerberosV5 => {
                return Err(unsupported_method(conn, "Kerberos V5"));
            }
            Message::AuthenticationGss | Message::AuthenticationGssContinue(_) => {
                return Err(unsupported_method(conn, "GSSAPI"));
            }
            Message::AuthenticationSspi => return Err(unsupported_method(conn, "SSPI")),
            Message::NegotiateProtocolVersion {
                newest_minor,
                unrecognized,
            } => negotiate(conn, config, newest_minor, &unrecognized)?,
            Message::ErrorResponse(e) => {
                conn.pending_syncs = 0;
                return Err(conn.fail(Error::Db(e)));
            }
            other => return Err(conn.unexpected(&other, "authentication")),
        }
    }
}

/// Refuses a method `require_auth` does not allow, before anything is sent for it.
fn check_require_auth(conn: &mut Connection, config: &Config, method: AuthMethod) -> Result<()> {
    match config.get_require_auth() {
        Some(policy) if !policy.allows(method) => {
            Err(conn.fail(Error::Auth(auth::AuthError::MethodNotAllowed {
                method: method.name(),
                require_auth: policy.to_string(),
            })))
        }
        _ => Ok(()),
    }
}

fn unsupported_method(conn: &mut Connection, method: &str) -> Error {
    conn.fail(Error::Unsupported(format!(
        "the server requires {method} authentication, which hyperdjango does not support (use scram-sha-256, md5 or password in pg_hba.conf)"
    )))
}

fn need_password(conn: &mut Connection, config: &Config, method: &'static str) -> Result<Vec<u8>> {
    match config.get_password() {
        Some(p) => Ok(p.to_vec()),
        None => Err(conn.fail(Error::Auth(auth::AuthError::PasswordRequired { method }))),
    }
}

/// The server speaks an older minor version than asked for (or ignored `_pq_` options).
fn negotiate(
    conn: &mut Connection,
    config: &Config,
    newest_minor: i32,
    unrecognized: &[String],
) -> Result<()> {
    let min = config.get_min_protocol_version();
    let Ok(minor) = u16::try_from(newest_minor) else {
        return Err(conn.fail_protocol(crate::proto::ProtocolError::new(format!(
            "NegotiateProtocolVersion with invalid minor version {newest_minor}"
        ))));
    };
    if minor < min.minor || minor > conn.protocol_minor {
        return Err(conn.fail(Error::Unsupported(format!(
            "the server supports protocol 3.{minor} but min_protocol_version is {min}"
        ))));
    }
    if !unrecognized.is_empty() {
        return Err(conn.fail(Error::Unsupported(format!(
            "the server does not recognise protocol options {unrecognized:?}"
        ))));
    }
    conn.protocol_minor = minor;
    Ok(())
}

/// Reads BackendKeyData and ParameterStatus messages up to the first ReadyForQuery.
async fn finish_startup(conn: &mut Connection, config: &Config) -> Result<()> {
    loop {
        match conn.read_message().await? {
            Message::BackendKeyData {
                process_id,
                secret_key,
            } => {
                let secret_key = secret_key.into_bytes();
                if conn.protocol_minor < 2 && secret_key.len() != 4 {
                    return Err(conn.fail_protocol(crate::proto::ProtocolError::new(format!(
                        "BackendKeyData with a {}-byte key in protocol 3.0 (expected 4)",
                        secret_key.len()
                    ))));
                }
                conn.process_id = process_id;
                conn.secret_key = secret_key;
            }
            Message::NegotiateProtocolVersion {
                newest_minor,
                unrecognized,
            } => negotiate(conn, config, newest_minor, &unrecognized)?,
            Message::ReadyForQuery(status) => {
                conn.tx_status = status;
                conn.startup_notices = None;
                return Ok(());
            }
            Message::ErrorResponse(e) => return Err(conn.fail(Error::Db(e))),
            other => return Err(conn.unexpected(&other, "startup")),
        }
    }
}

/// Cancels the query a connection is running, from any task: it opens a new socket to the
/// same server and sends CancelRequest with the connection's secret key.
///
/// Cancellation is best effort, as in PostgreSQL itself: if the query already finished, the
/// request does nothing. A cancelled query fails with SQLSTATE 57014 (`query_canceled`).
///
/// ```no_run
/// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
/// let token = conn.cancel_token();
/// tokio::spawn(async move { token.cancel().await });
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CancelToken {
    target: Option<CancelTarget>,
    connect_timeout: Option<Duration>,
    process_id: i32,
    secret_key: Bytes,
    /// How the connection started TLS, when it did: the cancel request goes over TLS too.
    #[cfg(feature = "tls")]
    tls: Option<super::tls::TlsSetup>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key is a credential: it lets anyone cancel this backend's queries.
        f.debug_struct("CancelToken")
            .field("target", &self.target)
            .field("tls", &self.uses_tls())
            .field("process_id", &self.process_id)
            .finish_non_exhaustive()
    }
}

impl CancelToken {
    /// Whether the cancel request goes over TLS (it does when the connection did).
    pub fn uses_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Sends the CancelRequest. Returns once the server has read it and closed the socket.
    pub async fn cancel(&self) -> Result<()> {
        let Some(target) = &self.target else {
            return Err(Error::Closed(
                "the connection has no address to send a cancel request to".into(),
            ));
        };
        let mut buf = BytesMut::new();
        frontend::cancel_request(self.process_id, &self.secret_key, &mut buf)?;
        let limit = self.connect_timeout.unwrap_or(CANCEL_CONNECT_TIMEOUT);
        let what = format!("sending a cancel request to {target}");
        let send = async {
            #[allow(unused_mut)]
            let mut stream = match target {
                CancelTarget::Tcp(addr) => Stream::Tcp(
                    TcpStream::connect(addr)
                        .await
                        .map_err(|e| Error::io(what.clone(), e))?,
                ),
                CancelTarget::Unix(path) => Stream::Unix(
                    UnixStream::connect(path)
                        .await
                        .map_err(|e| Error::io(what.clone(), e))?,
                ),
            };
            #[cfg(feature = "tls")]
            if let Some(setup) = &self.tls {
                stream = match stream {
                    Stream::Tcp(tcp) => {
                        match Box::pin(setup.negotiate(tcp, &target.to_string())).await? {
                            super::tls::Negotiated::Tls(tls) => Stream::Tls(tls),
                            super::tls::Negotiated::Plain(tcp) => Stream::Tcp(tcp),
                        }
                    }
                    other => other,
                };
            }
            stream
                .write_all(&buf)
                .await
                .map_err(|e| Error::io(what.clone(), e))?;
            let _ = stream.flush().await;
            // The server closes the socket once it has processed the request.
            let mut sink = [0u8; 1];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await;
            Ok::<_, Error>(())
        };
        match tokio::time::timeout(limit, send).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Timeout(format!(
                "{what} took longer than {} s",
                limit.as_secs_f64()
            ))),
        }
    }
}

/// How long a cancel request may take when no connect_timeout is configured.
const CANCEL_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a connection's cancel requests go: the address its socket reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CancelTarget {
    Tcp(std::net::SocketAddr),
    Unix(std::path::PathBuf),
}

impl std::fmt::Display for CancelTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CancelTarget::Tcp(addr) => write!(f, "{addr}"),
            CancelTarget::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}
