//! [`PoolBuilder`]: every setting, each overriding its environment variable.

use std::sync::Arc;
use std::time::Duration;

use hyperdjango_pgwire::Connection;

use crate::config::{ConnectSource, Overrides, PoolConfig};
use crate::error::{Error, Result};
use crate::hooks::{HookFuture, Hooks};
use crate::pool::Pool;

type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Builds a [`Pool`]. Settings not given here come from the `HYPERDJANGO_*` environment
/// variables (see [`config`](crate::config) for the table), then from the defaults.
///
/// ```no_run
/// use std::time::Duration;
/// use hyperdjango_pool::Pool;
///
/// # async fn f() -> hyperdjango_pool::Result<()> {
/// let pool = Pool::builder()
///     .url("postgres://app@db.internal/app")
///     .max_size(16)
///     .acquire_timeout(Duration::from_secs(2))
///     .query_timeout(Duration::from_secs(5))
///     .after_connect(|conn| Box::pin(async move {
///         conn.batch_execute(r#"SET search_path TO "app""#).await
///     }))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PoolBuilder {
    overrides: Overrides,
    hooks: Hooks,
    env: EnvLookup,
}

impl std::fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder::new()
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl PoolBuilder {
    /// A builder that reads the process environment for whatever it is not told.
    ///
    /// ```
    /// let builder = hyperdjango_pool::PoolBuilder::new();
    /// ```
    pub fn new() -> PoolBuilder {
        PoolBuilder {
            overrides: Overrides::default(),
            hooks: Hooks::default(),
            env: Arc::new(process_env),
        }
    }

    /// Replaces the environment lookup (by default the process environment), for tests
    /// and for configuration that comes from elsewhere. `|_| None` ignores the environment.
    ///
    /// ```
    /// let env = |name: &str| (name == "HYPERDJANGO_POOL_SIZE").then(|| "3".to_string());
    /// let config = hyperdjango_pool::PoolBuilder::new().env(env).config()?;
    /// assert_eq!(config.max_size(), 3);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Arc::new(lookup);
        self
    }

    /// The server, as a libpq URL or `key=value` string (instead of `HYPER_DATABASE_URL`).
    /// Settings it leaves out still come from the `PG*` variables. A bad URL is reported by
    /// [`build`](Self::build).
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().url("postgres://bob@db/app").config()?;
    /// assert_eq!(config.connect().get_user(), Some("bob"));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.overrides.connect = Some(ConnectSource::Url(url.into()));
        self
    }

    /// The server, as a driver [`Config`](hyperdjango_pgwire::Config), used as it is.
    ///
    /// ```
    /// let mut pg = hyperdjango_pgwire::Config::new();
    /// pg.host("db").user("bob").dbname("app");
    /// let config = hyperdjango_pool::PoolBuilder::new().connect_config(pg).config()?;
    /// assert_eq!(config.connect().get_dbname(), Some("app"));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn connect_config(mut self, config: hyperdjango_pgwire::Config) -> Self {
        self.overrides.connect = Some(ConnectSource::Config(Box::new(config)));
        self
    }

    /// The maximum number of connections (`HYPERDJANGO_POOL_SIZE`); 0 means CPU cores × 2.
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().max_size(4).config()?;
    /// assert_eq!(config.max_size(), 4);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn max_size(mut self, n: usize) -> Self {
        self.overrides.max_size = Some(n);
        self
    }

    /// Rotate a connection after this many queries (`HYPERDJANGO_POOL_MAX_QUERIES`); 0 never.
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().max_queries(0).config()?;
    /// assert_eq!(config.max_queries(), None);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn max_queries(mut self, n: u64) -> Self {
        self.overrides.max_queries = Some(n);
        self
    }

    /// Rotate a connection after about this long (`HYPERDJANGO_POOL_MAX_LIFETIME`), less up
    /// to 10 % at random; zero means never.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new()
    ///     .max_lifetime(Duration::from_secs(600))
    ///     .config()?;
    /// assert_eq!(config.max_lifetime(), Some(Duration::from_secs(600)));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.overrides.max_lifetime = Some(lifetime);
        self
    }

    /// The per-connection statement cache capacity (`HYPERDJANGO_STATEMENT_CACHE_SIZE`).
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().statement_cache_size(32).config()?;
    /// assert_eq!(config.statement_cache_size(), 32);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn statement_cache_size(mut self, n: usize) -> Self {
        self.overrides.statement_cache_size = Some(n);
        self
    }

    /// Whether to use prepared statements (`HYPERDJANGO_PREPARED_STATEMENTS`).
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().prepared_statements(false).config()?;
    /// assert!(!config.prepared_statements());
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn prepared_statements(mut self, on: bool) -> Self {
        self.overrides.prepared_statements = Some(on);
        self
    }

    /// Whether query spans (feature `tracing`) record parameter values: see
    /// [`Config::trace_parameters`](hyperdjango_pgwire::Config::trace_parameters) for what is
    /// shown and what stays redacted. Off by default; set only in code.
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().trace_parameters(true).config()?;
    /// assert!(config.connect().get_trace_parameters());
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn trace_parameters(mut self, on: bool) -> Self {
        self.overrides.trace_parameters = Some(on);
        self
    }

    /// The limit on opening a connection, hook included (`HYPERDJANGO_CONNECT_TIMEOUT`);
    /// zero means none.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new()
    ///     .connect_timeout(Duration::from_millis(500))
    ///     .config()?;
    /// assert_eq!(config.connect_timeout(), Some(Duration::from_millis(500)));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.connect_timeout = Some(timeout);
        self
    }

    /// How long a command on a pooled connection may run before the driver cancels it on
    /// the server (`HYPERDJANGO_QUERY_TIMEOUT`); zero means no limit. The connection stays
    /// usable; the guard's methods report [`Error::QueryTimeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new()
    ///     .query_timeout(Duration::from_secs(5))
    ///     .config()?;
    /// assert_eq!(config.query_timeout(), Some(Duration::from_secs(5)));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.query_timeout = Some(timeout);
        self
    }

    /// How long [`Pool::acquire`] waits (`HYPERDJANGO_POOL_ACQUIRE_TIMEOUT`); zero means for
    /// ever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new()
    ///     .acquire_timeout(Duration::from_millis(200))
    ///     .config()?;
    /// assert_eq!(config.acquire_timeout(), Some(Duration::from_millis(200)));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.acquire_timeout = Some(timeout);
        self
    }

    /// Idle connections to keep open (`HYPERDJANGO_POOL_MIN_IDLE`); at most the pool size.
    ///
    /// ```
    /// let err = hyperdjango_pool::PoolBuilder::new().max_size(2).min_idle(3).config();
    /// assert!(err.is_err());
    /// ```
    pub fn min_idle(mut self, n: usize) -> Self {
        self.overrides.min_idle = Some(n);
        self
    }

    /// Close connections idle this long, down to the minimum (`HYPERDJANGO_POOL_IDLE_TIMEOUT`);
    /// zero means never.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new().idle_timeout(Duration::ZERO).config()?;
    /// assert_eq!(config.idle_timeout(), None);
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.idle_timeout = Some(timeout);
        self
    }

    /// Ping a connection idle at least this long before handing it out
    /// (`HYPERDJANGO_POOL_HEALTH_CHECK_AFTER`); zero means never ping.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new()
    ///     .health_check_after(Duration::from_secs(5))
    ///     .config()?;
    /// assert_eq!(config.health_check_after(), Some(Duration::from_secs(5)));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn health_check_after(mut self, idle: Duration) -> Self {
        self.overrides.health_check_after = Some(idle);
        self
    }

    /// Reset session state when a connection is returned: close cursors, `RESET ALL`,
    /// `UNLISTEN *`, release advisory locks, drop temporary tables and sequence state, then
    /// run the `after_connect` hook again (its `SET`s were reset). Unlike `DISCARD ALL`, it
    /// keeps prepared statements, so the statement cache stays valid. Off by default.
    ///
    /// ```
    /// let config = hyperdjango_pool::PoolBuilder::new().reset_session(true).config()?;
    /// assert!(config.reset_session());
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn reset_session(mut self, on: bool) -> Self {
        self.overrides.reset_session = Some(on);
        self
    }

    /// How long the background clean-up of a returned connection may take before the
    /// connection is discarded instead (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new()
    ///     .release_timeout(Duration::from_secs(2))
    ///     .config()?;
    /// assert_eq!(config.release_timeout(), Duration::from_secs(2));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn release_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.release_timeout = Some(timeout);
        self
    }

    /// How often the background task looks at idle connections (default 1 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = hyperdjango_pool::PoolBuilder::new()
    ///     .maintenance_interval(Duration::from_millis(100))
    ///     .config()?;
    /// assert_eq!(config.maintenance_interval(), Duration::from_millis(100));
    /// # Ok::<(), hyperdjango_pool::Error>(())
    /// ```
    pub fn maintenance_interval(mut self, interval: Duration) -> Self {
        self.overrides.maintenance_interval = Some(interval);
        self
    }

    /// Runs on every new connection before it is used (for example `SET search_path`).
    /// It counts against the connect timeout; if it fails, the connection is closed and
    /// the error is reported as [`Error::Hook`].
    ///
    /// ```
    /// let builder = hyperdjango_pool::PoolBuilder::new().after_connect(|conn| {
    ///     Box::pin(async move { conn.batch_execute("SET TIME ZONE 'UTC'").await })
    /// });
    /// ```
    pub fn after_connect<F>(mut self, hook: F) -> Self
    where
        F: for<'c> Fn(&'c mut Connection) -> HookFuture<'c> + Send + Sync + 'static,
    {
        self.hooks.after_connect = Some(Arc::new(hook));
        self
    }

    /// Runs on a connection just before [`Pool::acquire`] hands it out. If it fails, the
    /// connection is discarded and `acquire` returns [`Error::Hook`].
    ///
    /// ```
    /// let builder = hyperdjango_pool::PoolBuilder::new().before_checkout(|conn| {
    ///     Box::pin(async move { conn.batch_execute("SET statement_timeout = '30s'").await })
    /// });
    /// ```
    pub fn before_checkout<F>(mut self, hook: F) -> Self
    where
        F: for<'c> Fn(&'c mut Connection) -> HookFuture<'c> + Send + Sync + 'static,
    {
        self.hooks.before_checkout = Some(Arc::new(hook));
        self
    }

    /// Runs on a connection after its user gave it back, in the background, before it
    /// becomes idle again (the caller never waits for it). If it fails, the connection is
    /// discarded.
    ///
    /// ```
    /// let builder = hyperdjango_pool::PoolBuilder::new().after_checkout(|conn| {
    ///     Box::pin(async move { conn.batch_execute("RESET statement_timeout").await })
    /// });
    /// ```
    pub fn after_checkout<F>(mut self, hook: F) -> Self
    where
        F: for<'c> Fn(&'c mut Connection) -> HookFuture<'c> + Send + Sync + 'static,
    {
        self.hooks.after_checkout = Some(Arc::new(hook));
        self
    }

    /// Resolves the settings without starting anything: a startup check of the environment.
    ///
    /// ```
    /// let env = |name: &str| (name == "HYPERDJANGO_POOL_SIZE").then(|| "abc".to_string());
    /// let err = hyperdjango_pool::PoolBuilder::new().env(env).config().unwrap_err();
    /// assert!(err.to_string().contains(r#"HYPERDJANGO_POOL_SIZE="abc""#));
    /// ```
    pub fn config(&self) -> Result<PoolConfig> {
        Ok(PoolConfig::resolve(&self.overrides, &*self.env)?)
    }

    /// Resolves the settings and starts the pool. No connection is opened here (but for
    /// `min_idle`, in the background): the first [`Pool::acquire`] connects. Must be called
    /// inside a tokio runtime, which runs the pool's background tasks.
    ///
    /// ```no_run
    /// # async fn f() -> hyperdjango_pool::Result<()> {
    /// let pool = hyperdjango_pool::Pool::builder().build()?; // HYPER_DATABASE_URL, HYPERDJANGO_*
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<Pool> {
        let config = self.config()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Config(crate::config::ConfigError::new(
                "PoolBuilder::build must be called inside a tokio runtime",
            ))
        })?;
        Ok(Pool::start(config, self.hooks, runtime))
    }
}
