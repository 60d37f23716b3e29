//! Hooks: user code that runs on a connection after it connects, before it is handed out,
//! and after it is given back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hyperdjango_pgwire::Connection;

/// The future a hook returns: `Box::pin(async move { ... })`.
pub type HookFuture<'c> = Pin<Box<dyn Future<Output = hyperdjango_pgwire::Result<()>> + Send + 'c>>;

/// A hook: an async function of the connection.
///
/// ```
/// use hyperdjango_pool::Hook;
/// use std::sync::Arc;
///
/// let set_path: Hook = Arc::new(|conn| {
///     Box::pin(async move { conn.batch_execute(r#"SET search_path TO "app""#).await })
/// });
/// ```
pub type Hook = Arc<dyn for<'c> Fn(&'c mut Connection) -> HookFuture<'c> + Send + Sync>;

/// The hooks of a pool.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) after_connect: Option<Hook>,
    pub(crate) before_checkout: Option<Hook>,
    pub(crate) after_checkout: Option<Hook>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("after_connect", &self.after_connect.is_some())
            .field("before_checkout", &self.before_checkout.is_some())
            .field("after_checkout", &self.after_checkout.is_some())
            .finish()
    }
}
