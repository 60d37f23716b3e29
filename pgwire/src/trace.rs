//! Spans for the [`tracing`](https://docs.rs/tracing) crate, behind the `tracing` feature.
//!
//! Without the feature this module is a zero-sized [`Span`] whose methods are empty and
//! inlined, and the span macro discards its arguments unevaluated: no tracing code, field
//! value or clock read is compiled in. The pool and the ORM create their spans through the
//! same macro, so their `tracing` features only forward to this crate's (the one crate that
//! depends on `tracing`).
//!
//! The spans this crate opens (their fields follow OpenTelemetry's database conventions
//! where one applies):
//!
//! | span | level | fields |
//! | --- | --- | --- |
//! | `hyperdjango.connect` | INFO | `db.system`, `server.address`, `server.port`, `db.namespace`, `db.user`, `tls` (asked for); at the end `tls` (used), `hyperdjango.auth`, `hyperdjango.protocol` |
//! | `hyperdjango.query` | DEBUG | `db.system`, `db.statement` (SQL text) or `db.statement.name` (a prepared statement), `db.query.parameters` (only with [`crate::Config::trace_parameters`]); at the end `db.response.rows` |
//! | `hyperdjango.prepare` | DEBUG | `db.system`, `db.statement` |
//! | `hyperdjango.pipeline` | DEBUG | `db.system`, `db.pipeline.commands`; at the end `db.response.rows` |
//!
//! Every span also records `duration_ms` when it ends, and `error.type` (the SQLSTATE for a
//! server error, else the kind of error) when it failed. The password is never recorded,
//! and neither are parameter values unless asked for; error messages are not recorded
//! either, since a server's error detail may quote a value (`Key (email)=(...)`).

use std::future::Future;

/// A span with the time it started. Not part of the API (the pool and the ORM use it).
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Span {
    #[cfg(feature = "tracing")]
    inner: tracing::Span,
    #[cfg(feature = "tracing")]
    start: std::time::Instant,
}

#[cfg(feature = "tracing")]
impl Span {
    /// Wraps a span the macro made, starting its clock.
    #[inline]
    pub fn new(inner: tracing::Span) -> Span {
        Span {
            inner,
            start: std::time::Instant::now(),
        }
    }

    /// Records a field declared when the span was made.
    #[inline]
    pub fn record<V: tracing::Value>(&self, field: &'static str, value: V) {
        self.inner.record(field, value);
    }

    /// Records a field whose value costs something to compute: `value` runs only when a
    /// subscriber wants the span.
    #[inline]
    pub fn record_with<V: tracing::Value>(&self, field: &'static str, value: impl FnOnce() -> V) {
        if !self.inner.is_disabled() {
            self.inner.record(field, value());
        }
    }

    /// Runs `f` with the span when a subscriber wants it (to record several fields that
    /// cost something to compute).
    #[inline]
    pub fn with(&self, f: impl FnOnce(&Span)) {
        if !self.inner.is_disabled() {
            f(self);
        }
    }

    /// Records `error.type`: a SQLSTATE code or the kind of error.
    #[inline]
    pub fn error(&self, kind: &str) {
        self.inner.record("error.type", kind);
    }

    /// Records `duration_ms`, the time since the span was made.
    #[inline]
    pub fn finish(&self) {
        if !self.inner.is_disabled() {
            let ms = self.start.elapsed().as_secs_f64() * 1000.0;
            self.inner.record("duration_ms", ms);
        }
    }

    /// Runs `future` inside the span (spans opened meanwhile become its children).
    #[inline]
    pub fn instrument<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        tracing::Instrument::instrument(future, self.inner.clone())
    }
}

#[cfg(not(feature = "tracing"))]
impl Span {
    /// The span of a build without the `tracing` feature: nothing.
    #[inline(always)]
    pub fn disabled() -> Span {
        Span {}
    }

    /// Does nothing (no `tracing` feature).
    #[inline(always)]
    pub fn record<V>(&self, _field: &'static str, _value: V) {}

    /// Does nothing; `value` is not called (no `tracing` feature).
    #[inline(always)]
    pub fn record_with<V>(&self, _field: &'static str, _value: impl FnOnce() -> V) {}

    /// Does nothing; `f` is not called (no `tracing` feature).
    #[inline(always)]
    pub fn with(&self, _f: impl FnOnce(&Span)) {}

    /// Does nothing (no `tracing` feature).
    #[inline(always)]
    pub fn error(&self, _kind: &str) {}

    /// Does nothing (no `tracing` feature).
    #[inline(always)]
    pub fn finish(&self) {}

    /// Returns `future` itself (no `tracing` feature).
    #[inline(always)]
    pub fn instrument<F: Future>(&self, future: F) -> F {
        future
    }
}

/// Makes a [`Span`]: `__trace_span!(LEVEL, "name", { field = value, ... }, [later.field, ...])`.
/// The fields in braces are recorded now (at least one); the ones in brackets are declared
/// empty, to be recorded later. `duration_ms` and `error.type` are always declared.
/// Without the `tracing` feature, nothing in the call is evaluated.
#[cfg(feature = "tracing")]
#[doc(hidden)]
#[macro_export]
macro_rules! __trace_span {
    ($level:ident, $name:literal, { $($fields:tt)+ }, [$($($later:ident).+),* $(,)?]) => {
        $crate::trace::Span::new($crate::__private::tracing::span!(
            $crate::__private::tracing::Level::$level,
            $name,
            $($fields)+,
            $($($later).+ = $crate::__private::tracing::field::Empty,)*
            duration_ms = $crate::__private::tracing::field::Empty,
            error.type = $crate::__private::tracing::field::Empty
        ))
    };
}

/// Makes a [`Span`]; without the `tracing` feature, nothing (its arguments are dropped
/// unevaluated).
#[cfg(not(feature = "tracing"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __trace_span {
    ($($anything:tt)*) => {
        $crate::trace::Span::disabled()
    };
}

/// The kind of a driver error, for `error.type`: the SQLSTATE of a server error, else the
/// variant's name.
#[cfg(feature = "tracing")]
pub fn error_kind(e: &crate::Error) -> &str {
    use crate::Error as E;
    if let Some(code) = e.code() {
        return code.code();
    }
    match e {
        E::Db(_) => "db",
        E::Io { .. } => "io",
        E::Protocol(_) => "protocol",
        E::Encode(_) => "encode",
        E::Param { .. } => "param",
        E::Decode { .. } => "decode",
        E::ColumnNotFound(_) => "column_not_found",
        E::ParamCount { .. } => "param_count",
        E::RowCount { .. } => "row_count",
        E::Config(_) => "config",
        E::Auth(_) => "auth",
        E::Closed(_) => "closed",
        E::Tls(_) => "tls",
        E::Timeout(_) => "timeout",
        E::InBatch { .. } => "in_batch",
        E::Skipped(_) => "skipped",
        E::Usage(_) => "usage",
        E::Unsupported(_) => "unsupported",
    }
}

/// Ends a span with the outcome of what it covered: `error.type` on failure, then
/// `duration_ms`.
#[inline]
pub(crate) fn finish<T>(span: &Span, result: &crate::Result<T>) {
    #[cfg(feature = "tracing")]
    if let Err(e) = result {
        span.error(error_kind(e));
    }
    #[cfg(not(feature = "tracing"))]
    let _ = result;
    span.finish();
}

/// Shows parameter values for `db.query.parameters` ([`crate::Config::trace_parameters`]):
/// booleans, integers, floats and OIDs as their values, NULL as `NULL`, and every other
/// value (text, bytea, json, arrays, ...: where secrets and personal data live) redacted to
/// its type, e.g. `$1 = 42, $2 = <redacted text>`.
#[cfg(feature = "tracing")]
pub(crate) fn show_parameters(params: crate::Params<'_>) -> String {
    use crate::types::{FromSql, IsNull, Type};
    use std::fmt::Write;

    fn shown<'a, T: FromSql<'a> + ToString>(ty: &Type, raw: &'a [u8]) -> Option<String> {
        T::from_sql(ty, raw).ok().map(|v| v.to_string())
    }
    let mut out = String::new();
    let mut buf = bytes::BytesMut::new();
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let ty = p.sql_type();
        buf.clear();
        let value = match p.to_sql(&ty, &mut buf) {
            Ok(IsNull::Yes) => Some("NULL".to_string()),
            Ok(IsNull::No) if ty == Type::BOOL => shown::<bool>(&ty, &buf),
            Ok(IsNull::No) if ty == Type::INT2 => shown::<i16>(&ty, &buf),
            Ok(IsNull::No) if ty == Type::INT4 => shown::<i32>(&ty, &buf),
            Ok(IsNull::No) if ty == Type::INT8 => shown::<i64>(&ty, &buf),
            Ok(IsNull::No) if ty == Type::FLOAT4 => shown::<f32>(&ty, &buf),
            Ok(IsNull::No) if ty == Type::FLOAT8 => shown::<f64>(&ty, &buf),
            Ok(IsNull::No) if ty == Type::OID => shown::<u32>(&ty, &buf),
            Ok(IsNull::No) => None,
            Err(_) => None,
        };
        let _ = match value {
            Some(v) => write!(out, "${} = {v}", i + 1),
            None => write!(out, "${} = <redacted {ty}>", i + 1),
        };
    }
    out
}
