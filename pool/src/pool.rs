//! The pool: its shared state, `acquire` (FIFO-fair, with a timeout), giving connections
//! back, opening them in the background, and closing.
//!
//! # How connections move
//!
//! Every connection is in exactly one place: the idle stack, a caller's
//! [`PooledConnection`], a waiter's channel, or a background task (clean-up after release,
//! or being opened). Whatever holds one outside the idle stack gives it back, or accounts
//! for its loss, when it is dropped, so a cancelled caller or an aborted task can never
//! leak a slot.
//!
//! - `acquire` takes the most recently used idle connection when nobody is queued (warm
//!   caches; the rest can time out). Otherwise it queues behind the other waiters and, if
//!   the pool has room, starts a connect in the background. The first waiter gets the
//!   first connection that becomes free, whether returned by a caller or newly opened, so
//!   waiters are served in order and a waiter that gives up takes nothing with it.
//! - Before a connection is handed out, it is checked: rotation due, a check without a
//!   round trip that the server has not closed it, a ping if it sat idle long, then the
//!   `before_checkout` hook.
//! - Returning never waits (see [`crate::guard`]).
//! - Rotation (`max_queries`, `max_lifetime`) closes the old connection when it is
//!   returned and opens the replacement in the background: no caller pays for the connect.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use hyperdjango_pgwire::Connection;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::config::PoolConfig;
use crate::error::{Error, Result};
use crate::guard::{Fate, PooledConnection};
use crate::hooks::Hooks;
use crate::listener::Listener;
use crate::live::Live;
use crate::metrics::{Counters, Metrics, Status, bump};
use crate::pipelined::Dispatch;

/// A queued `acquire`.
struct Waiter {
    id: u64,
    tx: oneshot::Sender<Result<PooledConnection>>,
}

/// What the lock protects.
pub(crate) struct State {
    /// Idle connections; the most recently returned is last.
    idle: Vec<Live>,
    waiters: VecDeque<Waiter>,
    /// Connections that exist: idle, checked out, in a channel, or being cleaned up.
    open: usize,
    /// Connects in flight.
    opening: usize,
    closed: bool,
    next_waiter: u64,
}

/// What the pool handles, the guards and the background tasks share.
pub(crate) struct Shared {
    pub(crate) config: PoolConfig,
    pub(crate) hooks: Hooks,
    pub(crate) counters: Counters,
    pub(crate) runtime: Handle,
    /// The queue of one-shot pipelined queries ([`Pool::query`] and friends).
    pub(crate) dispatch: Dispatch,
    state: Mutex<State>,
}

/// A connection pool. Cheap to clone: clones share the pool.
///
/// ```no_run
/// use hyperdjango_pool::Pool;
///
/// # async fn f() -> hyperdjango_pool::Result<()> {
/// let pool = Pool::builder().build()?; // HYPER_DATABASE_URL and HYPERDJANGO_* settings
/// let mut conn = pool.acquire().await?;
/// let row = conn.query_one("SELECT $1::int8 * 2", &[&21i64]).await?;
/// assert_eq!(row.get::<_, i64>(0)?, 42);
/// drop(conn); // back to the pool, at once
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pool {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("status", &self.status())
            .field("config", &self.shared.config)
            .finish()
    }
}

/// Removes a waiter from the queue when its `acquire` ends or is dropped. The receiver is
/// dropped after the lock is released, so a connection already sent to it goes back to the
/// pool through its own `Drop`.
struct Ticket {
    id: u64,
    rx: oneshot::Receiver<Result<PooledConnection>>,
    shared: Arc<Shared>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if let Some(i) = st.waiters.iter().position(|w| w.id == self.id) {
            st.waiters.remove(i);
        }
    }
}

/// Accounts for a connect in flight: if the task is dropped before it finishes (runtime
/// shutdown), the slot is given back.
struct Opening {
    shared: Option<Arc<Shared>>,
}

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let mut st = shared.lock();
            st.opening -= 1;
        }
    }
}

impl Shared {
    /// Whether callers of `acquire` are queued.
    pub(crate) fn has_waiters(&self) -> bool {
        !self.lock().waiters.is_empty()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent counters (no code that can panic
        // runs under it), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn status_of(&self, st: &State) -> Status {
        Status {
            max_size: self.config.max_size,
            size: st.open,
            idle: st.idle.len(),
            in_use: st.open - st.idle.len(),
            waiters: st.waiters.len(),
            opening: st.opening,
        }
    }

    /// Gives a clean connection back: to the first waiter, else to the idle stack.
    pub(crate) fn put_back(self: &Arc<Self>, mut live: Live) {
        live.idle_since = Instant::now();
        loop {
            let waiter = {
                let mut st = self.lock();
                if st.closed {
                    st.open -= 1;
                    drop(st);
                    drop(live);
                    return;
                }
                match st.waiters.pop_front() {
                    Some(w) => w,
                    None => {
                        st.idle.push(live);
                        return;
                    }
                }
            };
            let guard = PooledConnection::new(live, self.clone());
            match waiter.tx.send(Ok(guard)) {
                Ok(()) => return,
                // That waiter gave up meanwhile: try the next one.
                Err(returned) => match returned.ok().and_then(|mut g| g.take_live()) {
                    Some(back) => live = back,
                    None => return,
                },
            }
        }
    }

    /// A connection is gone (already dropped by the caller): one slot is free. `replace`
    /// opens a successor in the background at once (rotation); otherwise one is opened only
    /// if waiters need it.
    pub(crate) fn forget(self: &Arc<Self>, replace: bool) {
        let mut st = self.lock();
        st.open -= 1;
        if replace && !st.closed && st.open + st.opening < self.config.max_size {
            st.opening += 1;
            self.spawn_connect();
        }
        self.connect_for_waiters(&mut st);
    }

    /// Drops a connection that can't be used (counted as a broken discard).
    pub(crate) fn discard_broken(self: &Arc<Self>, live: Live) {
        bump(&self.counters.broken_discards);
        drop(live);
        self.forget(false);
    }

    /// Drops a connection that reached its query count or lifetime, and opens its successor.
    pub(crate) fn rotate(self: &Arc<Self>, live: Live) {
        bump(&self.counters.rotations);
        drop(live);
        self.forget(true);
    }

    /// Starts connects while queued waiters outnumber the connects in flight and there is
    /// room.
    fn connect_for_waiters(self: &Arc<Self>, st: &mut State) {
        while !st.closed
            && st.waiters.len() > st.opening
            && st.open + st.opening < self.config.max_size
        {
            st.opening += 1;
            self.spawn_connect();
        }
    }

    /// Opens a connection in the background (the caller has counted it in `opening`). It
    /// goes to the first waiter, or to the idle stack; a failure goes to the first waiter.
    fn spawn_connect(self: &Arc<Self>) {
        let shared = self.clone();
        let slot = Opening {
            shared: Some(self.clone()),
        };
        self.runtime.spawn(async move {
            let mut slot = slot;
            let result = shared.open_live().await;
            // From here on (no more awaits) the accounting is done below.
            slot.shared = None;
            drop(slot);
            match result {
                Ok(live) => {
                    {
                        let mut st = shared.lock();
                        st.opening -= 1;
                        st.open += 1;
                    }
                    shared.put_back(live);
                }
                Err(mut e) => {
                    let mut counted = false;
                    loop {
                        let waiter = {
                            let mut st = shared.lock();
                            if !counted {
                                st.opening -= 1;
                                counted = true;
                            }
                            st.waiters.pop_front()
                        };
                        let Some(w) = waiter else { break };
                        match w.tx.send(Err(e)) {
                            Ok(()) => break,
                            // That waiter gave up meanwhile: the next one gets the error.
                            Err(Err(back)) => e = back,
                            Err(Ok(_)) => break,
                        }
                    }
                    // The other waiters still need connections: each gets its own attempt.
                    let mut st = shared.lock();
                    shared.connect_for_waiters(&mut st);
                }
            }
        });
    }

    /// Opens one connection and runs the `after_connect` hook, within the connect timeout.
    pub(crate) async fn open_live(&self) -> Result<Live> {
        let attempt = async {
            let mut conn = Connection::connect(&self.config.connect)
                .await
                .map_err(Error::Connect)?;
            if let Some(hook) = &self.hooks.after_connect {
                hook(&mut conn).await.map_err(|source| Error::Hook {
                    hook: "after_connect",
                    source,
                })?;
            }
            Ok(conn)
        };
        let result = match self.config.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or(Err(Error::ConnectTimeout(limit))),
            None => attempt.await,
        };
        match result {
            Ok(conn) => {
                bump(&self.counters.connects);
                Ok(Live::new(conn, &self.config))
            }
            Err(e) => {
                bump(&self.counters.connect_failures);
                Err(e)
            }
        }
    }

    /// One pass of maintenance over the idle connections: rotate expired ones, drop dead
    /// ones and those idle too long (above the minimum), then open up to the minimum.
    pub(crate) fn maintain(self: &Arc<Self>) {
        let now = Instant::now();
        let mut gone: Vec<(Live, bool)> = Vec::new(); // (connection, broken)
        let mut rotated = 0;
        {
            let mut st = self.lock();
            if st.closed {
                return;
            }
            let idle = std::mem::take(&mut st.idle);
            let mut keep = Vec::with_capacity(idle.len());
            // Oldest-idle first: those are the ones an idle timeout closes.
            let mut open_after = st.open;
            for mut live in idle {
                if live.expired(&self.config, now) {
                    rotated += 1;
                    open_after -= 1;
                    gone.push((live, false));
                } else if live.conn.check_idle().is_err() {
                    open_after -= 1;
                    gone.push((live, true));
                } else if self
                    .config
                    .idle_timeout
                    .is_some_and(|t| now.duration_since(live.idle_since) >= t)
                    && open_after > self.config.min_idle
                {
                    open_after -= 1;
                    gone.push((live, false));
                } else {
                    keep.push(live);
                }
            }
            st.idle = keep;
            st.open = open_after;
            while st.idle.len() + st.opening < self.config.min_idle
                && st.open + st.opening < self.config.max_size
            {
                st.opening += 1;
                self.spawn_connect();
            }
            self.connect_for_waiters(&mut st);
        }
        for (live, broken) in gone {
            if broken {
                bump(&self.counters.broken_discards);
            }
            drop(live);
        }
        for _ in 0..rotated {
            bump(&self.counters.rotations);
        }
    }
}

/// The maintenance loop. It holds the pool only weakly, so dropping every handle (and
/// guard) ends it.
async fn maintenance(weak: Weak<Shared>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match weak.upgrade() {
            Some(shared) => shared.maintain(),
            None => return,
        }
    }
}

impl Pool {
    /// A [`PoolBuilder`](crate::PoolBuilder): settings from the builder, then the
    /// environment, then the defaults.
    ///
    /// ```no_run
    /// # async fn f() -> hyperdjango_pool::Result<()> {
    /// let pool = hyperdjango_pool::Pool::builder().max_size(8).build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> crate::PoolBuilder {
        crate::PoolBuilder::new()
    }

    /// A pool configured by the environment alone (`HYPER_DATABASE_URL`, `HYPERDJANGO_*`).
    /// Must be called inside a tokio runtime.
    ///
    /// ```no_run
    /// # async fn f() -> hyperdjango_pool::Result<()> {
    /// let pool = hyperdjango_pool::Pool::from_env()?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<Pool> {
        crate::PoolBuilder::new().build()
    }

    pub(crate) fn start(config: PoolConfig, hooks: Hooks, runtime: Handle) -> Pool {
        let interval = config.maintenance_interval;
        let shared = Arc::new(Shared {
            config,
            hooks,
            counters: Counters::default(),
            runtime: runtime.clone(),
            dispatch: Dispatch::default(),
            state: Mutex::new(State {
                idle: Vec::new(),
                waiters: VecDeque::new(),
                open: 0,
                opening: 0,
                closed: false,
                next_waiter: 0,
            }),
        });
        shared.maintain(); // opens min_idle connections
        runtime.spawn(maintenance(Arc::downgrade(&shared), interval));
        Pool { shared }
    }

    /// Checks out a connection: an idle one if any (checked first), else the first one
    /// returned or opened, in FIFO order among waiters. Gives up after the acquire timeout
    /// with [`Error::Exhausted`]: `pool exhausted after N ms (size S, in use S)`. A
    /// connect that fails is reported to the first waiter ([`Error::Connect`],
    /// [`Error::ConnectTimeout`]).
    ///
    /// Dropping the returned [`PooledConnection`] gives the connection back without
    /// waiting. Dropping the `acquire` future gives up the place in the queue, and a
    /// connection already handed to it goes back to the pool.
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let mut conn = pool.acquire().await?;
    /// conn.execute("UPDATE counters SET n = n + 1 WHERE id = $1", &[&1i64]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn acquire(&self) -> Result<PooledConnection> {
        let span = hyperdjango_pgwire::__trace_span!(
            DEBUG,
            "hyperdjango.pool.acquire",
            { db.system = "postgresql" },
            [
                pool.max_size,
                pool.size,
                pool.in_use,
                pool.waiters,
                pool.new_connection
            ]
        );
        span.with(|span| {
            let status = self.status();
            span.record("pool.max_size", status.max_size);
            span.record("pool.size", status.size);
            span.record("pool.in_use", status.in_use);
            span.record("pool.waiters", status.waiters);
        });
        let result = span.instrument(self.acquire_untraced()).await;
        #[cfg(feature = "tracing")]
        match &result {
            Ok(guard) => span.record("pool.new_connection", guard.is_new_connection()),
            Err(e) => span.error(crate::error::kind(e)),
        }
        span.finish();
        result
    }

    /// [`Pool::acquire`] without its span.
    async fn acquire_untraced(&self) -> Result<PooledConnection> {
        let start = Instant::now();
        let deadline = self
            .shared
            .config
            .acquire_timeout
            .and_then(|t| start.checked_add(t));
        loop {
            let mut guard = self.obtain(start, deadline).await?;
            match self.vet(&mut guard).await {
                Ok(()) => {
                    guard.mark_handed_out();
                    self.shared.counters.record_wait(start.elapsed());
                    return Ok(guard);
                }
                Err(None) => continue, // that one was discarded; the guard's drop accounts for it
                Err(Some(e)) => return Err(e),
            }
        }
    }

    /// Gets a connection from the idle stack or the waiter queue, unchecked.
    async fn obtain(&self, start: Instant, deadline: Option<Instant>) -> Result<PooledConnection> {
        let shared = &self.shared;
        let mut ticket = {
            let mut st = shared.lock();
            if st.closed {
                return Err(Error::Closed);
            }
            if st.waiters.is_empty() {
                if let Some(live) = st.idle.pop() {
                    drop(st);
                    return Ok(PooledConnection::new(live, shared.clone()));
                }
            }
            let (tx, rx) = oneshot::channel();
            let id = st.next_waiter;
            st.next_waiter += 1;
            st.waiters.push_back(Waiter { id, tx });
            shared.connect_for_waiters(&mut st);
            Ticket {
                id,
                rx,
                shared: shared.clone(),
            }
        };
        let received = match deadline {
            Some(d) => match tokio::time::timeout_at(d.into(), &mut ticket.rx).await {
                Ok(r) => r,
                Err(_) => {
                    // A connection may have arrived just as the time ran out: take it.
                    if let Ok(r) = ticket.rx.try_recv() {
                        return r;
                    }
                    drop(ticket);
                    bump(&shared.counters.acquire_timeouts);
                    let st = shared.lock();
                    return Err(Error::Exhausted {
                        waited: start.elapsed(),
                        max_size: shared.config.max_size,
                        in_use: st.open - st.idle.len(),
                        opening: st.opening,
                    });
                }
            },
            None => (&mut ticket.rx).await,
        };
        // The sender is only dropped unsent when the pool closes.
        received.unwrap_or(Err(Error::Closed))
    }

    /// Checks a connection before handing it out. `Err(None)`: it was discarded, try
    /// another; `Err(Some(e))`: give up with `e`.
    async fn vet(&self, guard: &mut PooledConnection) -> Result<(), Option<Error>> {
        let config = &self.shared.config;
        let now = Instant::now();
        let Some(live) = guard.live_mut() else {
            return Err(None);
        };
        if live.expired(config, now) {
            guard.set_fate(Fate::Rotate);
            return Err(None);
        }
        if live.conn.check_idle().is_err() {
            guard.set_fate(Fate::Broken);
            return Err(None);
        }
        if config
            .health_check_after
            .is_some_and(|after| now.duration_since(live.idle_since) >= after)
        {
            let limit = config.connect_timeout.unwrap_or(Duration::from_secs(10));
            let ping = tokio::time::timeout(limit, live.conn.simple_query("")).await;
            if !matches!(ping, Ok(Ok(_))) {
                guard.set_fate(Fate::Broken);
                return Err(None);
            }
        }
        if let Some(hook) = &self.shared.hooks.before_checkout {
            let Some(live) = guard.live_mut() else {
                return Err(None);
            };
            if let Err(source) = hook(&mut live.conn).await {
                guard.set_fate(Fate::Broken);
                return Err(Some(Error::Hook {
                    hook: "before_checkout",
                    source,
                }));
            }
        }
        Ok(())
    }

    /// The pool's sizes now.
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) {
    /// let s = pool.status();
    /// assert!(s.idle + s.in_use == s.size && s.size <= s.max_size);
    /// # }
    /// ```
    pub fn status(&self) -> Status {
        let st = self.shared.lock();
        self.shared.status_of(&st)
    }

    /// Counters since the pool started (connects, rotations, broken discards, timeouts,
    /// acquire-wait percentiles) and the current [`Status`].
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) {
    /// let m = pool.metrics();
    /// println!("p99 acquire wait {:?} over {} acquires", m.acquire_wait.p99, m.acquires);
    /// # }
    /// ```
    pub fn metrics(&self) -> Metrics {
        let status = self.status();
        self.shared.counters.snapshot(status)
    }

    /// The resolved settings.
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) {
    /// println!("up to {} connections", pool.config().max_size());
    /// # }
    /// ```
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// Closes the pool: waiters get [`Error::Closed`], idle connections are closed now and
    /// checked-out ones when they are returned; `acquire` fails from now on.
    ///
    /// ```no_run
    /// # async fn f(pool: hyperdjango_pool::Pool) {
    /// pool.close();
    /// assert!(pool.acquire().await.is_err());
    /// # }
    /// ```
    pub fn close(&self) {
        let (idle, waiters) = {
            let mut st = self.shared.lock();
            st.closed = true;
            let idle = std::mem::take(&mut st.idle);
            st.open -= idle.len();
            (idle, std::mem::take(&mut st.waiters))
        };
        drop(idle);
        for w in waiters {
            let _ = w.tx.send(Err(Error::Closed));
        }
    }

    /// Whether [`close`](Self::close) was called.
    ///
    /// ```no_run
    /// # async fn f(pool: hyperdjango_pool::Pool) {
    /// pool.close();
    /// assert!(pool.is_closed());
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// A LISTEN/NOTIFY [`Listener`] on its own connection (not taken from the pool), with
    /// the pool's connection settings and connect timeout.
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// let mut listener = pool.listener();
    /// listener.listen("jobs").await?;
    /// # Ok(()) }
    /// ```
    pub fn listener(&self) -> Listener {
        Listener::new(self.shared.config.connect.clone())
            .connect_timeout(self.shared.config.connect_timeout.unwrap_or(Duration::ZERO))
    }

    /// Sends a notification: `SELECT pg_notify($1, $2)`, channel and payload as bind
    /// parameters.
    ///
    /// ```no_run
    /// # async fn f(pool: &hyperdjango_pool::Pool) -> hyperdjango_pool::Result<()> {
    /// pool.notify("jobs", "42").await?;
    /// # Ok(()) }
    /// ```
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        let mut conn = self.acquire().await?;
        conn.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
            .await
            .map(drop)
    }
}
