//! Integration tests against a real PostgreSQL server.
//!
//! One throwaway cluster is started per test process (see `hyperdjango_pgwire::testing`), or
//! `HYPER_TEST_DATABASE_URL` points at an existing server. Tests isolate themselves with
//! temporary tables or uniquely named objects, so they run in parallel.

mod auth;
mod cancel_safety;
mod common;
mod connect;
mod copy;
mod errors;
mod examples;
mod failover;
mod failures;
mod fuzz_seeds;
mod idle;
mod migrate;
mod migrate_inspectdb;
mod orm_cache;
mod orm_crud;
mod orm_fields;
mod orm_files;
mod orm_inheritance;
mod orm_injection;
mod orm_json;
mod orm_m2m;
mod orm_mixins;
mod orm_models;
mod orm_query;
mod orm_relations;
mod orm_routing;
mod orm_signals;
mod orm_tx;
mod orm_vector;
mod pgbouncer;
mod pipeline;
mod pool;
mod pool_faults;
mod pool_pipelined;
mod protocol;
mod query;
mod replicas;
mod review_fixes;
mod secrets;
mod statement_cache;
mod streaming;
mod timeouts;
mod tls;
#[cfg(feature = "tracing")]
mod tracing_spans;
mod types;
mod types_array;
mod types_custom;
mod types_misc;
mod types_numeric;
mod types_props;
mod types_range;
mod types_time;
