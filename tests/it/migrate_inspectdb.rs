//! inspectdb round trip: a schema with every supported type (and an enum, arrays, a foreign
//! key, a composite unique key, types with no Rust counterpart) is read back as `model!`
//! code. The output must equal the checked-in `inspectdb_generated.rs` byte for byte, and
//! that file is compiled into this test binary and reads the rows back.
//!
//! Regenerate the file after a deliberate change with
//! `HYPER_REGENERATE_INSPECTDB=1 cargo test --test it migrate_inspectdb`.

use hyperdjango_orm::migrate::cli;

use crate::migrate::with_search_path;

#[path = "inspectdb_generated.rs"]
#[allow(clippy::all)]
mod generated;

const SCHEMA: &str = "
CREATE TYPE insp_mood AS ENUM ('sad', 'ok', 'very happy');
CREATE TABLE insp_owner (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE insp_all (
    id serial PRIMARY KEY,
    owner_id bigint REFERENCES insp_owner (id) ON DELETE SET NULL,
    small smallint NOT NULL DEFAULT 0 CHECK (small >= 0),
    big bigint,
    title varchar(40) NOT NULL,
    body text,
    price numeric(10, 2),
    ratio real,
    score double precision NOT NULL DEFAULT 1.5,
    active boolean NOT NULL DEFAULT true,
    created timestamptz NOT NULL DEFAULT now(),
    local_at timestamp,
    day date,
    at_time time,
    token uuid,
    doc jsonb,
    raw_doc json,
    tags text[],
    nums integer[] NOT NULL DEFAULT '{}',
    mood insp_mood NOT NULL DEFAULT 'ok',
    spot point,
    search tsvector,
    blob bytea,
    addr inet,
    \"type\" text,
    kind text NOT NULL,
    code integer NOT NULL,
    UNIQUE (kind, code)
);
CREATE INDEX insp_all_body_idx ON insp_all (body);
CREATE INDEX insp_all_search ON insp_all USING gin (search);
INSERT INTO insp_owner (name) VALUES ('ann');
INSERT INTO insp_all (owner_id, small, big, title, body, price, ratio, created, local_at, day,
    at_time, token, doc, raw_doc, tags, nums, mood, spot, search, blob, addr, \"type\", kind, code)
VALUES (1, 3, 9000000000, 'first', 'hello', 12.34, 0.5, '2024-05-06 07:08:09+00',
    '2024-05-06 07:08:09', '2024-05-06', '07:08:09', '00000000-0000-0000-0000-00000000002a',
    '{\"a\": 1}', '[1, 2]', '{x,y}', '{1,2,3}', 'very happy', '(1.5,2.5)', 'fat cat',
    '\\x0102', '10.0.0.1', 't', 'k', 1);
INSERT INTO insp_all (title, kind, code) VALUES ('second', 'k', 2);
";

#[tokio::test]
async fn inspectdb_output_compiles_and_reads_the_rows_back() {
    let alias = crate::orm_models::test_db().await;
    let url = with_search_path(&crate::common::cluster().url(), &alias);
    let mut conn = hyperdjango_pgwire::Connection::connect_url(&url)
        .await
        .unwrap();
    conn.batch_execute(SCHEMA).await.unwrap();
    let mut out = Vec::new();
    cli::run_to(
        None,
        vec!["inspectdb".into(), "--database-url".into(), url.clone()],
        &mut out,
        &mut Vec::new(),
    )
    .await
    .unwrap();
    let code = String::from_utf8(out).unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/inspectdb_generated.rs"
    );
    if std::env::var_os("HYPER_REGENERATE_INSPECTDB").is_some() {
        std::fs::write(path, &code).unwrap();
    }
    assert_eq!(
        code,
        include_str!("inspectdb_generated.rs"),
        "inspectdb's output changed: regenerate {path} (see the module docs) and review it"
    );

    hyperdjango_orm::using_database(&alias, async {
        use generated::*;
        use hyperdjango_orm::prelude::*;
        let rows = InspAll::objects()
            .order_by(InspAll::code)
            .all()
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        let a = &rows[0];
        assert_eq!(a.owner.as_ref().and_then(|o| o.id().copied()), Some(1));
        assert_eq!(
            (a.small, a.big, a.title.as_str()),
            (3, Some(9_000_000_000), "first")
        );
        assert_eq!(a.price, Some(rust_decimal::Decimal::new(1234, 2)));
        assert_eq!((a.ratio, a.score, a.active), (Some(0.5), 1.5, true));
        assert_eq!(a.created.to_rfc3339(), "2024-05-06T07:08:09+00:00");
        assert_eq!(a.day.unwrap().to_string(), "2024-05-06");
        assert_eq!(a.at_time.unwrap().to_string(), "07:08:09");
        assert_eq!(a.token.unwrap().as_u128(), 42);
        assert_eq!(a.doc.as_ref().unwrap()["a"], 1);
        assert_eq!(a.raw_doc.as_ref().unwrap()[1], 2);
        assert_eq!(
            a.tags.as_deref(),
            Some(&["x".to_string(), "y".to_string()][..])
        );
        assert_eq!(a.nums, [1, 2, 3]);
        assert_eq!(a.mood, InspMood::VeryHappy);
        // point: two float8s, raw.
        let spot = a.spot.as_ref().unwrap();
        assert_eq!(spot.0.len(), 16);
        assert_eq!(f64::from_be_bytes(spot.0[..8].try_into().unwrap()), 1.5);
        assert!(a.search.is_some());
        assert_eq!(a.blob.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(a.addr.unwrap().to_string(), "10.0.0.1");
        assert_eq!(a.type_.as_deref(), Some("t"));
        let b = &rows[1];
        assert!(b.owner.is_none() && b.body.is_none() && b.spot.is_none());
        assert_eq!((b.small, b.mood, b.nums.len()), (0, InspMood::Ok, 0));
        let owner = InspOwner::objects()
            .get(InspOwner::name.eq("ann".to_string()))
            .await
            .unwrap();
        assert_eq!(owner.id.get(), Some(1));
        // The raw value goes back as it came.
        let mut c = rows[0].clone();
        c.code = 3;
        c.id = Auto::Unsaved;
        c._state = Default::default();
        let saved = InspAll::objects().create(c).await.unwrap();
        let again = InspAll::objects()
            .get(InspAll::id.eq(saved.id.get().unwrap()))
            .await
            .unwrap();
        assert_eq!(again.spot, rows[0].spot);
        assert_eq!(again.mood, InspMood::VeryHappy);
    })
    .await;
    hyperdjango_orm::unregister_database(&alias);
}
