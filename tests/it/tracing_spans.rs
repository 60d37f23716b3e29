//! The `tracing` feature (run with `cargo test --test it --features tracing tracing_spans`): a
//! capturing subscriber, written here by hand, records every span and field, and the tests
//! check the connect, query and pool acquire spans carry what they promise, and that neither
//! a password nor a parameter value (unless asked for) reaches any field.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use hyperdjango_pgwire::testing::TestUser;
use hyperdjango_pgwire::{Config, Connection};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::common::*;

/// One recorded span: its name and every field value, as text.
#[derive(Debug, Clone)]
struct Captured {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<u64>,
}

impl Captured {
    fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    spans: Vec<Captured>,
    /// Entered spans, innermost last (the tests run on one thread).
    stack: Vec<u64>,
    /// Fields of events, which must not leak either.
    events: Vec<HashMap<String, String>>,
}

/// A subscriber that keeps everything it is given.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<State>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut st = self.0.lock().unwrap();
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = match attrs.parent() {
            Some(p) => Some(p.into_u64()),
            None if attrs.is_contextual() => st.stack.last().copied(),
            None => None,
        };
        st.spans.push(Captured {
            name: attrs.metadata().name(),
            fields,
            parent,
        });
        Id::from_u64(st.spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut st = self.0.lock().unwrap();
        let i = span.into_u64() as usize - 1;
        values.record(&mut Fields(&mut st.spans[i].fields));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().events.push(fields);
    }
    fn enter(&self, span: &Id) {
        self.0.lock().unwrap().stack.push(span.into_u64());
    }
    fn exit(&self, span: &Id) {
        let mut st = self.0.lock().unwrap();
        if let Some(i) = st.stack.iter().rposition(|s| *s == span.into_u64()) {
            st.stack.remove(i);
        }
    }
}

impl Capture {
    fn spans(&self, name: &str) -> Vec<Captured> {
        let st = self.0.lock().unwrap();
        st.spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    /// Fails if `secret` appears in any field of any span or event.
    fn assert_nowhere(&self, secret: &str) {
        let st = self.0.lock().unwrap();
        for s in &st.spans {
            for (k, v) in &s.fields {
                assert!(
                    !v.contains(secret),
                    "{secret:?} leaked into {}.{k} = {v}",
                    s.name
                );
            }
        }
        for e in &st.events {
            for (k, v) in e {
                assert!(
                    !v.contains(secret),
                    "{secret:?} leaked into an event's {k} = {v}"
                );
            }
        }
    }
}

/// Runs `f` with the capturing subscriber as this thread's default (the test runtime is
/// single-threaded, so the pool's background tasks run under it too).
async fn capturing<F: std::future::Future<Output = ()>>(f: F) -> Capture {
    let capture = Capture::default();
    let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(capture.clone()));
    f.await;
    capture
}

/// A parameter value no field may show.
const TEXT_PARAM: &str = "text-param-7f3a9c";
/// A number no field may show unless `trace_parameters` is on.
const NUMBER_PARAM: i64 = 987_654_321_123;

#[tokio::test]
async fn connect_and_query_spans_carry_their_fields_but_no_password_or_parameter() {
    let Some(config) = config_for(TestUser::Scram, TestUser::Scram.password()) else {
        skip("tracing: the test roles exist only on the throwaway cluster");
        return;
    };
    let password = TestUser::Scram.password().unwrap();
    let capture = capturing(async {
        let mut conn = Connection::connect(&config).await.expect("connect");
        let row = conn
            .query_one("SELECT $1::text, $2::int8", &[&TEXT_PARAM, &NUMBER_PARAM])
            .await
            .expect("query");
        assert_eq!(row.get::<_, &str>(0).unwrap(), TEXT_PARAM);
        conn.execute(
            "SELECT 1 FROM no_such_table_for_tracing WHERE $1::text <> ''",
            &[&TEXT_PARAM],
        )
        .await
        .unwrap_err();
        let stmt = conn.prepare("SELECT $1::int8 + 1").await.expect("prepare");
        conn.query_one(&stmt, &[&NUMBER_PARAM])
            .await
            .expect("prepared query");
        conn.batch_execute("SELECT 1; SELECT 2")
            .await
            .expect("simple query");
    })
    .await;

    let connects = capture.spans("hyperdjango.connect");
    assert_eq!(connects.len(), 1, "{connects:?}");
    let c = &connects[0];
    assert_eq!(c.get("db.system"), Some("postgresql"));
    assert_eq!(c.get("db.user"), Some(TestUser::Scram.name()));
    assert_eq!(c.get("db.namespace"), Some("postgres"));
    assert_eq!(
        c.get("server.port"),
        Some(cluster().port().unwrap().to_string().as_str())
    );
    assert_eq!(c.get("hyperdjango.auth"), Some("scram-sha-256"));
    assert!(
        c.get("hyperdjango.protocol")
            .is_some_and(|p| p.starts_with("3.")),
        "{c:?}"
    );
    assert_eq!(c.get("tls"), Some("false"));
    assert!(c.get("duration_ms").is_some(), "{c:?}");

    let queries = capture.spans("hyperdjango.query");
    let ok = queries
        .iter()
        .find(|q| q.get("db.statement") == Some("SELECT $1::text, $2::int8"))
        .unwrap_or_else(|| panic!("no span for the query: {queries:?}"));
    assert_eq!(ok.get("db.system"), Some("postgresql"));
    assert_eq!(ok.get("db.response.rows"), Some("1"));
    assert!(
        ok.get("duration_ms").is_some() && ok.get("error.type").is_none(),
        "{ok:?}"
    );
    assert!(ok.get("db.query.parameters").is_none(), "{ok:?}");

    let failed = queries
        .iter()
        .find(|q| {
            q.get("db.statement")
                .is_some_and(|s| s.contains("no_such_table"))
        })
        .unwrap_or_else(|| panic!("no span for the failing query: {queries:?}"));
    assert_eq!(failed.get("error.type"), Some("42P01"), "{failed:?}");

    let prepared = capture.spans("hyperdjango.prepare");
    let name = prepared[0]
        .get("db.statement.name")
        .expect("prepared name")
        .to_string();
    assert!(
        queries
            .iter()
            .any(|q| q.get("db.statement.name") == Some(name.as_str())),
        "{queries:?}"
    );
    assert!(
        queries
            .iter()
            .any(|q| q.get("db.statement") == Some("SELECT 1; SELECT 2")
                && q.get("db.response.rows") == Some("2")),
        "{queries:?}"
    );

    capture.assert_nowhere(password);
    capture.assert_nowhere(TEXT_PARAM);
    capture.assert_nowhere(&NUMBER_PARAM.to_string());
}

#[tokio::test]
async fn trace_parameters_shows_numbers_and_redacts_text() {
    let mut config = Config::parse(&cluster().url()).expect("test URL");
    config.trace_parameters(true);
    let capture = capturing(async {
        let mut conn = Connection::connect(&config).await.expect("connect");
        conn.query_one(
            "SELECT $1::int8, $2::text, $3::bool, $4::text",
            &[&NUMBER_PARAM, &TEXT_PARAM, &true, &None::<&str>],
        )
        .await
        .expect("query");
    })
    .await;
    let queries = capture.spans("hyperdjango.query");
    let q = queries
        .iter()
        .find(|q| {
            q.get("db.statement")
                .is_some_and(|s| s.starts_with("SELECT $1::int8"))
        })
        .unwrap_or_else(|| panic!("no span for the query: {queries:?}"));
    assert_eq!(
        q.get("db.query.parameters"),
        Some("$1 = 987654321123, $2 = <redacted text>, $3 = true, $4 = NULL"),
        "{q:?}"
    );
    capture.assert_nowhere(TEXT_PARAM);
}

#[tokio::test]
async fn pool_acquire_spans_report_the_pool_and_new_connections() {
    let mut config = Config::parse(&cluster().url()).expect("test URL");
    config.application_name(&unique("tracing_pool"));
    let capture = capturing(async {
        let pool = hyperdjango_pool::PoolBuilder::new()
            .env(|_| None)
            .connect_config(config)
            .max_size(3)
            .build()
            .expect("pool");
        let mut conn = pool.acquire().await.expect("first acquire");
        assert!(conn.is_new_connection());
        conn.query("SELECT $1::text", &[&TEXT_PARAM])
            .await
            .expect("query");
        drop(conn);
        let conn = pool.acquire().await.expect("second acquire");
        assert!(!conn.is_new_connection());
    })
    .await;
    let acquires = capture.spans("hyperdjango.pool.acquire");
    assert_eq!(acquires.len(), 2, "{acquires:?}");
    let (first, second) = (&acquires[0], &acquires[1]);
    assert_eq!(first.get("pool.max_size"), Some("3"));
    assert_eq!(first.get("pool.size"), Some("0"));
    assert_eq!(first.get("pool.new_connection"), Some("true"));
    assert!(first.get("duration_ms").is_some(), "{first:?}");
    assert_eq!(second.get("pool.size"), Some("1"));
    assert_eq!(second.get("pool.in_use"), Some("0"));
    assert_eq!(second.get("pool.new_connection"), Some("false"));
    assert_eq!(capture.spans("hyperdjango.connect").len(), 1);
    // The query ran on the pooled connection, outside the acquire spans.
    let query = capture
        .spans("hyperdjango.query")
        .into_iter()
        .find(|q| q.get("db.statement") == Some("SELECT $1::text"))
        .expect("the query's span");
    assert_eq!(query.parent, None);
    capture.assert_nowhere(TEXT_PARAM);
}

#[tokio::test]
async fn each_migration_is_a_span_with_its_statements_inside() {
    use hyperdjango_orm::migrate::{file, runner};
    let mut env = crate::migrate::env("tracing_mg").await;
    let table = unique("tr_mg");
    let files = vec![
        file::parse(
            "0001_initial",
            &format!("-- +up\nCREATE TABLE {table} (id int);\n-- +down\nDROP TABLE {table};\n"),
        )
        .expect("migration 1"),
        file::parse(
            "0002_fill",
            &format!(
                "-- +up\nINSERT INTO {table} VALUES (1);\nINSERT INTO {table} VALUES (2);\n\
                 -- +down\nDELETE FROM {table};\n"
            ),
        )
        .expect("migration 2"),
    ];
    let capture = capturing(async {
        let (mut out, mut progress) = (Vec::new(), Vec::new());
        runner::migrate(
            &mut env.conn,
            &files,
            runner::Target::Latest,
            runner::MigrateOptions::default(),
            &mut out,
            &mut progress,
        )
        .await
        .expect("migrate");
    })
    .await;
    let migrations = capture.spans("hyperdjango.migrate");
    let names: Vec<_> = migrations.iter().map(|m| m.get("migration.name")).collect();
    assert_eq!(
        names,
        [Some("0001_initial"), Some("0002_fill")],
        "{migrations:?}"
    );
    let fill = &migrations[1];
    assert_eq!(fill.get("migration.direction"), Some("up"));
    assert_eq!(fill.get("migration.statements"), Some("2"));
    assert!(fill.get("duration_ms").is_some() && fill.get("error.type").is_none());
    // The span's id is its position among all spans, plus one (see `Capture::new_span`).
    let st = capture.0.lock().unwrap();
    let fill_id = st
        .spans
        .iter()
        .position(|s| s.get("migration.name") == Some("0002_fill"))
        .unwrap() as u64
        + 1;
    let inside: Vec<&str> = st
        .spans
        .iter()
        .filter(|s| s.name == "hyperdjango.query" && s.parent == Some(fill_id))
        .filter_map(|s| s.get("db.statement"))
        .collect();
    assert!(
        inside.contains(&format!("INSERT INTO {table} VALUES (1)").as_str())
            && inside.contains(&format!("INSERT INTO {table} VALUES (2)").as_str()),
        "{inside:?}"
    );
}
