//! LISTEN/NOTIFY: a [`Listener`] on its own connection that hands out notifications, and
//! reconnects and LISTENs again by itself when the connection is lost, telling the caller
//! that notifications may have been missed in between.

use std::time::Duration;

use hyperdjango_pgwire::{Config, Connection, Notification, quote_identifier};

use crate::error::{Error, Result};

/// What [`Listener::recv`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerEvent {
    /// A notification.
    Notification(Notification),
    /// The connection was lost and has been re-established, with every channel LISTENed
    /// again. Notifications sent in between may have been missed: re-read whatever state
    /// they announce.
    Gap {
        /// Why the connection was lost.
        reason: String,
    },
}

/// Receives notifications on its own connection. Use it like a stream:
/// `while let event = listener.recv().await`.
///
/// ```no_run
/// use hyperdjango_pool::{ListenerEvent, Pool};
///
/// # async fn f(pool: &Pool) -> hyperdjango_pool::Result<()> {
/// let mut listener = pool.listener();
/// listener.listen("jobs").await?;
/// loop {
///     match listener.recv().await {
///         ListenerEvent::Notification(n) => println!("job {}", n.payload),
///         ListenerEvent::Gap { reason } => println!("reconnected after {reason}; rescanning jobs"),
///     }
/// }
/// # }
/// ```
pub struct Listener {
    config: Config,
    connect_timeout: Option<Duration>,
    channels: Vec<String>,
    conn: Option<Connection>,
    /// Why the connection was lost, until the next [`ListenerEvent::Gap`] reports it.
    lost: Option<String>,
    retry_delay: Duration,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("channels", &self.channels)
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);

impl Listener {
    /// A listener for the server `config` describes. It connects on the first
    /// [`listen`](Self::listen).
    ///
    /// ```
    /// let config = hyperdjango_pgwire::Config::parse("postgres://app@db/app")?;
    /// let listener = hyperdjango_pool::Listener::new(config);
    /// # Ok::<(), hyperdjango_pgwire::ConfigError>(())
    /// ```
    pub fn new(config: Config) -> Listener {
        Listener {
            config,
            connect_timeout: None,
            channels: Vec::new(),
            conn: None,
            lost: None,
            retry_delay: FIRST_RETRY,
        }
    }

    /// The limit on each connection attempt; zero means none.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pgwire::Config::parse("postgres://app@db/app")?;
    /// let listener = hyperdjango_pool::Listener::new(config).connect_timeout(Duration::from_secs(5));
    /// # Ok::<(), hyperdjango_pgwire::ConfigError>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Listener {
        self.connect_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// The channels LISTENed to.
    ///
    /// ```no_run
    /// # async fn f(listener: &mut hyperdjango_pool::Listener) -> hyperdjango_pool::Result<()> {
    /// listener.listen("jobs").await?;
    /// assert_eq!(listener.channels(), ["jobs"]);
    /// # Ok(()) }
    /// ```
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    /// Whether the listener's connection is up (as far as it knows).
    ///
    /// ```no_run
    /// # async fn f(listener: &mut hyperdjango_pool::Listener) -> hyperdjango_pool::Result<()> {
    /// listener.listen("jobs").await?;
    /// assert!(listener.is_connected());
    /// # Ok(()) }
    /// ```
    pub fn is_connected(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// The backend process id of the current connection, if connected.
    ///
    /// ```no_run
    /// # async fn f(listener: &mut hyperdjango_pool::Listener) -> hyperdjango_pool::Result<()> {
    /// listener.listen("jobs").await?;
    /// println!("listening on backend {:?}", listener.process_id());
    /// # Ok(()) }
    /// ```
    pub fn process_id(&self) -> Option<i32> {
        self.conn.as_ref().map(Connection::process_id)
    }

    async fn connect(&self) -> Result<Connection> {
        let attempt = async {
            let mut conn = Connection::connect(&self.config)
                .await
                .map_err(Error::Connect)?;
            for channel in &self.channels {
                conn.batch_execute(&format!("LISTEN {}", quote_identifier(channel)?))
                    .await?;
            }
            Ok(conn)
        };
        match self.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or(Err(Error::ConnectTimeout(limit))),
            None => attempt.await,
        }
    }

    /// LISTENs to `channel` (any name: it is quoted), connecting first if needed. Errors
    /// if the connection can't be made or the command fails; the channel is then not added.
    ///
    /// ```no_run
    /// # async fn f(listener: &mut hyperdjango_pool::Listener) -> hyperdjango_pool::Result<()> {
    /// listener.listen("orders.created").await?;
    /// # Ok(()) }
    /// ```
    pub async fn listen(&mut self, channel: &str) -> Result<()> {
        let sql = format!("LISTEN {}", quote_identifier(channel)?);
        if !self.is_connected() {
            self.conn = Some(self.connect().await?);
        }
        match self.conn.as_mut() {
            Some(conn) => conn.batch_execute(&sql).await?,
            None => return Err(Error::Closed),
        }
        if !self.channels.iter().any(|c| c == channel) {
            self.channels.push(channel.to_owned());
        }
        Ok(())
    }

    /// Stops listening to `channel`.
    ///
    /// ```no_run
    /// # async fn f(listener: &mut hyperdjango_pool::Listener) -> hyperdjango_pool::Result<()> {
    /// listener.unlisten("jobs").await?;
    /// # Ok(()) }
    /// ```
    pub async fn unlisten(&mut self, channel: &str) -> Result<()> {
        self.channels.retain(|c| c != channel);
        if let Some(conn) = self.conn.as_mut() {
            conn.batch_execute(&format!("UNLISTEN {}", quote_identifier(channel)?))
                .await?;
        }
        Ok(())
    }

    /// The next notification, or a [`ListenerEvent::Gap`] after the connection was lost
    /// and re-established. While the server is unreachable it keeps retrying (50 ms,
    /// doubling to 2 s between attempts), so wrap it in a timeout to notice an outage.
    /// Cancel safe: dropping the future loses nothing.
    ///
    /// ```no_run
    /// # async fn f(listener: &mut hyperdjango_pool::Listener) {
    /// use std::time::Duration;
    /// match tokio::time::timeout(Duration::from_secs(30), listener.recv()).await {
    ///     Ok(event) => println!("{event:?}"),
    ///     Err(_) => println!("nothing for 30 s"),
    /// }
    /// # }
    /// ```
    pub async fn recv(&mut self) -> ListenerEvent {
        loop {
            if !self.is_connected() {
                self.conn = None;
                match self.connect().await {
                    Ok(conn) => {
                        self.conn = Some(conn);
                        self.retry_delay = FIRST_RETRY;
                    }
                    Err(e) => {
                        if self.lost.is_none() {
                            self.lost = Some(e.to_string());
                        }
                        tokio::time::sleep(self.retry_delay).await;
                        self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
                        continue;
                    }
                }
                if let Some(reason) = self.lost.take() {
                    return ListenerEvent::Gap { reason };
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            match conn.wait_for_notification().await {
                Ok(n) => return ListenerEvent::Notification(n),
                Err(e) => {
                    self.lost = Some(e.to_string());
                    self.conn = None;
                }
            }
        }
    }
}
