//! The query timeout: a query that runs too long is cancelled on the server through the
//! connection's cancel token, and the caller gets a timeout error while the connection
//! stays usable.
//!
//! After the deadline the pool sends a CancelRequest (from a separate task, over a new
//! socket) and keeps reading the query's replies, for at most the grace period. The
//! connection is kept only if both the query ended and the server confirmed the cancel
//! request (it closes the cancel socket once it has signalled the backend): a cancel that
//! arrived late could otherwise interrupt the next query on that backend. Otherwise (a
//! server that does not answer at all, as under SIGSTOP) the connection is discarded.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use hyperdjango_pgwire::{CancelToken, SqlState};
use tokio::runtime::Handle;

/// How a query under a timeout ended.
pub(crate) enum Outcome<T> {
    /// It finished (successfully or not) and the connection is in a known state.
    Done(hyperdjango_pgwire::Result<T>),
    /// It was cancelled after the deadline; the connection is usable.
    Cancelled,
    /// It did not end within the grace period, or the cancel was not confirmed: the
    /// connection must be discarded.
    Stuck,
}

/// Runs `query` with a deadline of `limit`, cancelling it on the server when it passes.
pub(crate) async fn run<T>(
    query: impl Future<Output = hyperdjango_pgwire::Result<T>>,
    limit: Duration,
    grace: Duration,
    token: CancelToken,
    runtime: &Handle,
) -> Outcome<T> {
    let mut query = pin!(query);
    if let Ok(result) = tokio::time::timeout(limit, query.as_mut()).await {
        return Outcome::Done(result);
    }
    let cancel = runtime.spawn(async move { token.cancel().await });
    let deadline = tokio::time::Instant::now() + grace;
    let finished = tokio::time::timeout_at(deadline, query.as_mut()).await;
    let confirmed = matches!(
        tokio::time::timeout_at(deadline, cancel).await,
        Ok(Ok(Ok(())))
    );
    match finished {
        Err(_) => Outcome::Stuck,
        Ok(_) if !confirmed => Outcome::Stuck,
        Ok(Err(e)) if e.code() == Some(&SqlState::QUERY_CANCELED) => Outcome::Cancelled,
        // It ended on its own just as the cancel went out (the backend was idle when the
        // signal came, which it ignores).
        Ok(result) => Outcome::Done(result),
    }
}
