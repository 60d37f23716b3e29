//! The hyperdjango connection pool (work in progress: see the project's issue tracker).
//!
//! It will hand out [`hyperdjango_pgwire::Connection`]s with rotation, health checks and
//! fault recovery, tuned through `HYPERDJANGO_*` environment variables.
