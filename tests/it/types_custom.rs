//! Types defined in the database: enums, domains, composites, hstore, pgvector; their lookup
//! and caching per connection.

use std::collections::HashMap;

use hyperdjango_pgwire::pg_enum;
use hyperdjango_pgwire::types::{Composite, HalfVector, Kind, SparseVector, Type, Vector};

use crate::common::*;

pg_enum! {
    /// The test enum.
    pub enum Mood("mood") {
        Sad = "sad",
        Ok = "ok",
        Happy = "happy",
    }
}

#[tokio::test]
async fn enums_as_strings_and_rust_enums() {
    let mut conn = connect().await;
    let schema = own_schema(&mut conn, "enums").await;
    conn.batch_execute(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); \
         CREATE TABLE person (name text, mood mood, moods mood[])",
    )
    .await
    .unwrap();
    // Parameters of enum type are declared unspecified: the server takes the type from the
    // column, and the value travels in binary.
    conn.execute(
        "INSERT INTO person VALUES ($1, $2, NULL)",
        &[&"ann", &Mood::Happy],
    )
    .await
    .unwrap();
    conn.execute(
        "INSERT INTO person VALUES ('bob', $1::mood, NULL)",
        &[&"sad"],
    )
    .await
    .unwrap();
    let rows = conn
        .query("SELECT name, mood FROM person ORDER BY mood", &[])
        .await
        .unwrap();
    let ty = rows[0].columns()[1].type_();
    assert_eq!(ty.name(), Some("mood"));
    assert_eq!(ty.schema(), Some(schema.as_str()));
    assert_eq!(
        ty.kind(),
        &Kind::Enum(vec!["sad".into(), "ok".into(), "happy".into()])
    );
    assert_eq!(rows[0].get::<_, Mood>("mood").unwrap(), Mood::Sad);
    assert_eq!(rows[1].get::<_, &str>("mood").unwrap(), "happy");
    assert_eq!(echo(&mut conn, "mood", &Mood::Ok).await, Mood::Ok);
    // A label the Rust enum lacks is an error naming it.
    conn.batch_execute("ALTER TYPE mood ADD VALUE 'meh'")
        .await
        .unwrap();
    let row = conn
        .query_one("SELECT 'meh'::mood AS m", &[])
        .await
        .unwrap();
    let e = row.get::<_, Mood>("m").unwrap_err().to_string();
    assert!(e.contains("meh") && e.contains("Mood"), "{e}");
    // Arrays of enums: a prepared statement knows the element type.
    let stmt = conn
        .prepare("UPDATE person SET moods = $1 WHERE name = 'ann' RETURNING moods")
        .await
        .unwrap();
    assert_eq!(stmt.params()[0].name(), Some("mood[]"));
    let row = conn
        .query_one(&stmt, &[&vec![Mood::Sad, Mood::Happy]])
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Vec<Mood>>(0).unwrap(),
        [Mood::Sad, Mood::Happy]
    );
    assert_eq!(row.get::<_, Vec<String>>(0).unwrap(), ["sad", "happy"]);
    // Without preparing, the element type is unknown: a clear error, and the connection lives.
    let e = conn
        .query_one("SELECT $1::mood[]", &[&vec![Mood::Sad]])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("prepare"), "{e}");
    // Reading an enum as an integer names both types.
    let e = row.get::<_, i32>(0).unwrap_err().to_string();
    assert!(e.contains("mood[]") && e.contains("i32"), "{e}");
}

#[tokio::test]
async fn domains_decode_as_their_base_type() {
    let mut conn = connect().await;
    own_schema(&mut conn, "domains").await;
    conn.batch_execute(
        "CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%'); \
         CREATE DOMAIN positive AS int4 CHECK (VALUE > 0); \
         CREATE DOMAIN positives AS positive[]; \
         CREATE DOMAIN price AS numeric(10, 2)",
    )
    .await
    .unwrap();
    let row = conn
        .query_one(
            "SELECT 'a@b.c'::email, 5::positive, ARRAY[1, 2]::positives, 9.5::price",
            &[],
        )
        .await
        .unwrap();
    // Result columns of a domain type are described with the base type by the server.
    assert_eq!(row.columns()[0].type_(), &Type::TEXT);
    assert_eq!(row.get::<_, &str>(0).unwrap(), "a@b.c");
    assert_eq!(row.get::<_, i32>(1).unwrap(), 5);
    assert_eq!(row.get::<_, Vec<i32>>(2).unwrap(), [1, 2]);
    assert_eq!(
        row.get::<_, hyperdjango_pgwire::types::Numeric>(3)
            .unwrap()
            .to_string(),
        "9.50"
    );
    let e = row.get::<_, i64>(0).unwrap_err().to_string();
    assert!(e.contains("text") && e.contains("i64"), "{e}");
    let stmt = conn.prepare("SELECT $1::email").await.unwrap();
    let email = &stmt.params()[0];
    assert_eq!(email.name(), Some("email"));
    assert_eq!(email.base(), &Type::TEXT);
    assert_eq!(
        conn.query_one(&stmt, &[&"x@y"])
            .await
            .unwrap()
            .get::<_, &str>(0)
            .unwrap(),
        "x@y"
    );
    assert!(
        conn.query_one(&stmt, &[&"nope"]).await.is_err(),
        "the CHECK runs"
    );
    // Parameters of domain type: the prepared statement's type is the domain, values are its
    // base type's, and the server checks the constraint.
    let stmt = conn.prepare("SELECT $1::positive + 1").await.unwrap();
    assert_eq!(stmt.params()[0].name(), Some("positive"));
    assert_eq!(
        conn.query_one(&stmt, &[&41i32])
            .await
            .unwrap()
            .get::<_, i32>(0)
            .unwrap(),
        42
    );
    assert!(conn.query_one(&stmt, &[&-1i32]).await.is_err());
    assert!(
        conn.query_one(&stmt, &[&"x"])
            .await
            .unwrap_err()
            .to_string()
            .contains("positive")
    );
}

#[tokio::test]
async fn composites_and_records() {
    let mut conn = connect().await;
    own_schema(&mut conn, "composites").await;
    conn.batch_execute(
        "CREATE TYPE mood AS ENUM ('sad', 'happy'); \
         CREATE TYPE inner_t AS (a int4, b text); \
         CREATE TYPE outer_t AS (id int8, inner_v inner_t, tags text[], m mood)",
    )
    .await
    .unwrap();
    let row = conn
        .query_one(
            "SELECT ROW(7, ROW(1, 'x')::inner_t, ARRAY['p', NULL], 'happy')::outer_t, ROW(1, 'two', NULL), \
             ARRAY[ROW(1, 'a')::inner_t, ROW(2, NULL)::inner_t]",
            &[],
        )
        .await
        .unwrap();
    let c: Composite = row.get(0).unwrap();
    assert_eq!(c.field_names(), ["id", "inner_v", "tags", "m"]);
    assert_eq!(c.get::<i64>(0).unwrap(), 7);
    let inner: Composite = c.get_by_name("inner_v").unwrap();
    assert_eq!(
        (inner.get::<i32>(0).unwrap(), inner.get::<&str>(1).unwrap()),
        (1, "x")
    );
    assert_eq!(c.get::<Vec<Option<&str>>>(2).unwrap(), [Some("p"), None]);
    assert_eq!(c.get::<Mood>(3).unwrap(), Mood::Happy);
    assert!(c.get::<&str>(0).unwrap_err().to_string().contains("int8"));
    let rec: Composite = row.get(1).unwrap();
    assert_eq!(rec.type_(), &Type::RECORD);
    assert_eq!(rec.get::<&str>(1).unwrap(), "two");
    assert_eq!(rec.get::<Option<&str>>(2).unwrap(), None);
    let arr: Vec<Composite> = row.get(2).unwrap();
    assert_eq!(arr[1].get::<Option<&str>>(1).unwrap(), None);
    // A table's row type works the same way.
    conn.batch_execute("CREATE TABLE item (id int4, name text); INSERT INTO item VALUES (3, 'z')")
        .await
        .unwrap();
    let row = conn.query_one("SELECT item FROM item", &[]).await.unwrap();
    let item: Composite = row.get(0).unwrap();
    assert_eq!(item.get_by_name::<&str>("name").unwrap(), "z");
}

#[tokio::test]
async fn type_lookups_are_cached_per_connection() {
    let mut conn = connect().await;
    let schema = own_schema(&mut conn, "cache").await;
    conn.batch_execute("CREATE TYPE color AS ENUM ('red', 'green')")
        .await
        .unwrap();
    let row = conn.query_one("SELECT 'red'::color", &[]).await.unwrap();
    assert_eq!(row.columns()[0].type_().name(), Some("color"));
    // Drop the type's name from view: a second lookup would now resolve it differently, but
    // the cached description is used, so the type stays known with no catalog query.
    conn.batch_execute(&format!("ALTER TYPE {schema}.color RENAME TO colour"))
        .await
        .unwrap();
    let row = conn.query_one("SELECT 'green'::colour", &[]).await.unwrap();
    assert_eq!(
        row.columns()[0].type_().name(),
        Some("color"),
        "from the cache"
    );
    assert_eq!(row.get::<_, &str>(0).unwrap(), "green");
    // A new connection looks it up afresh.
    let mut other = connect().await;
    other
        .batch_execute(&format!("SET search_path = {schema}"))
        .await
        .unwrap();
    let row = other
        .query_one("SELECT 'green'::colour", &[])
        .await
        .unwrap();
    assert_eq!(row.columns()[0].type_().name(), Some("colour"));
    // A query with no rows still reports resolved column types through prepare.
    let stmt = other
        .prepare("SELECT NULL::colour WHERE false")
        .await
        .unwrap();
    assert_eq!(stmt.columns()[0].type_().name(), Some("colour"));
}

#[tokio::test]
async fn hstore_maps() {
    let mut conn = connect().await;
    if !extension(&mut conn, "hstore", "hstore_maps").await {
        return;
    }
    let mut map: HashMap<String, Option<String>> = HashMap::new();
    map.insert("a".into(), Some("1".into()));
    map.insert("é key".into(), None);
    map.insert("".into(), Some("".into()));
    assert_eq!(echo(&mut conn, "hstore", &map).await, map);
    let row = conn
        .query_one("SELECT 'x=>1, y=>NULL'::hstore", &[])
        .await
        .unwrap();
    let m: HashMap<String, Option<String>> = row.get(0).unwrap();
    assert_eq!(m.get("x"), Some(&Some("1".to_string())));
    assert_eq!(m.get("y"), Some(&None));
}

#[tokio::test]
async fn pgvector_types() {
    let mut conn = connect().await;
    if !extension(&mut conn, "vector", "pgvector_types").await {
        return;
    }
    let v = Vector(vec![1.0, -2.5, 3.25, f32::MIN_POSITIVE]);
    assert_eq!(echo(&mut conn, "vector", &v).await, v);
    let row = conn
        .query_one(
            "SELECT '[1,2,3]'::vector, $1::vector <-> '[1,2,3]'::vector, '[1,2]'::vector(2)::text",
            &[&Vector(vec![1.0, 2.0, 5.0])],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Vector>(0).unwrap(),
        Vector(vec![1.0, 2.0, 3.0])
    );
    assert_eq!(row.get::<_, f64>(1).unwrap(), 2.0);
    let h = HalfVector(vec![0.5, -1.0, 65504.0, 0.0]);
    assert_eq!(echo(&mut conn, "halfvec", &h).await, h);
    let e = conn
        .query_one("SELECT $1::halfvec", &[&HalfVector(vec![0.1])])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("half precision"), "{e}");
    let rounded = HalfVector::rounded(vec![0.1]);
    assert_eq!(echo(&mut conn, "halfvec", &rounded).await, rounded);
    let s = SparseVector::new(6, vec![0, 4], vec![1.5, -2.0]).unwrap();
    assert_eq!(echo(&mut conn, "sparsevec", &s).await, s);
    let row = conn
        .query_one(
            "SELECT '{1:1.5,5:-2}/6'::sparsevec, $1::sparsevec::text",
            &[&s],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, SparseVector>(0).unwrap(), s);
    assert_eq!(row.get::<_, &str>(1).unwrap(), "{1:1.5,5:-2}/6");
    // Storing and searching through a table, with a prepared statement.
    own_schema(&mut conn, "vec").await;
    conn.batch_execute("CREATE TABLE docs (id int, embedding vector(3))")
        .await
        .unwrap();
    let insert = conn
        .prepare("INSERT INTO docs VALUES ($1, $2)")
        .await
        .unwrap();
    assert_eq!(insert.params()[1].name(), Some("vector"));
    for (i, e) in [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]].into_iter().enumerate() {
        conn.execute(&insert, &[&(i as i32), &Vector(e.to_vec())])
            .await
            .unwrap();
    }
    let row = conn
        .query_one(
            "SELECT id FROM docs ORDER BY embedding <-> $1 LIMIT 1",
            &[&Vector(vec![0.9, 0.1, 0.0])],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0).unwrap(), 1);
    let e = conn
        .query_one("SELECT $1::vector", &[&Vector(vec![f32::NAN])])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("NaN"), "{e}");
}
