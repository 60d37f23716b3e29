//! The hyperdjango ORM (work in progress: see the project's issue tracker).
//!
//! It will provide Django-style models declared with `macro_rules!` and an async QuerySet on
//! top of [`hyperdjango_pgwire`].
