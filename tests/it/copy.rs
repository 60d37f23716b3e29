//! COPY in and out: raw CSV, binary rows with every core type and NULLs, the bulk-insert
//! helper, aborts, server errors and abandoned copies.

use hyperdjango_pgwire::{
    BinaryCopyInWriter, BinaryCopyOutReader, Error, SqlState, ToSql, TransactionStatus, Type,
};

use crate::common::*;

async fn count(conn: &mut hyperdjango_pgwire::Connection, table: &str) -> i64 {
    conn.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
        .unwrap()
}

#[tokio::test]
async fn csv_in_and_out_round_trip() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE csv_t (id int4, name text)")
        .await
        .unwrap();
    let mut copy = conn
        .copy_in("COPY csv_t FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    assert!(!copy.is_binary());
    assert_eq!(copy.column_count(), 2);
    copy.write(b"1,\"a, quoted\"\n2,\n").await.unwrap();
    // Many small writes go out in large chunks.
    for i in 3..20_000 {
        copy.write(format!("{i},name {i}\n").as_bytes())
            .await
            .unwrap();
    }
    assert_eq!(copy.finish().await.unwrap(), 19_999);

    let mut out = conn
        .copy_out("COPY (SELECT * FROM csv_t WHERE id <= 2 ORDER BY id) TO STDOUT (FORMAT csv)")
        .await
        .unwrap();
    let mut text = Vec::new();
    while let Some(chunk) = out.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(out.rows_affected(), Some(2));
    assert_eq!(String::from_utf8(text).unwrap(), "1,\"a, quoted\"\n2,\n");
    drop(out);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
}

#[tokio::test]
async fn binary_rows_with_every_core_type_and_nulls() {
    let mut conn = connect().await;
    conn.batch_execute(
        "CREATE TEMP TABLE bin_t (b bool, c \"char\", s int2, i int4, l int8, o oid, f float4, d float8, t text, v varchar, n name, y bytea)",
    )
    .await
    .unwrap();
    let types = [
        Type::BOOL,
        Type::CHAR,
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::OID,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::TEXT,
        Type::VARCHAR,
        Type::NAME,
        Type::BYTEA,
    ];
    let copy = conn
        .copy_in("COPY bin_t FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut w = BinaryCopyInWriter::new(copy, &types);
    let bytes: Vec<u8> = (0..=255).collect();
    w.write(&[
        &true,
        &(b'x' as i8),
        &i16::MIN,
        &i32::MAX,
        &i64::MIN,
        &u32::MAX,
        &f32::NAN,
        &f64::NEG_INFINITY,
        &"héllo",
        &"",
        &"nm",
        &bytes,
    ])
    .await
    .unwrap();
    let none_i32: Option<i32> = None;
    let none_text: Option<&str> = None;
    w.write(&[
        &None::<bool>,
        &None::<i8>,
        &None::<i16>,
        &none_i32,
        &None::<i64>,
        &None::<u32>,
        &None::<f32>,
        &None::<f64>,
        &none_text,
        &none_text,
        &none_text,
        &None::<Vec<u8>>,
    ])
    .await
    .unwrap();
    assert_eq!(w.finish().await.unwrap(), 2);

    let out = conn
        .copy_out("COPY bin_t TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    assert!(out.is_binary());
    let mut reader = BinaryCopyOutReader::new(out, &types);
    let first = reader.next().await.unwrap().unwrap();
    assert!(first.get::<_, bool>(0).unwrap());
    assert_eq!(first.get::<_, i8>(1).unwrap(), b'x' as i8);
    assert_eq!(first.get::<_, i16>(2).unwrap(), i16::MIN);
    assert_eq!(first.get::<_, i32>(3).unwrap(), i32::MAX);
    assert_eq!(first.get::<_, i64>(4).unwrap(), i64::MIN);
    assert_eq!(first.get::<_, u32>(5).unwrap(), u32::MAX);
    assert!(first.get::<_, f32>(6).unwrap().is_nan());
    assert_eq!(first.get::<_, f64>(7).unwrap(), f64::NEG_INFINITY);
    assert_eq!(first.get::<_, &str>(8).unwrap(), "héllo");
    assert_eq!(first.get::<_, &str>("column10").unwrap(), "");
    assert_eq!(first.get::<_, &str>(10).unwrap(), "nm");
    assert_eq!(first.get::<_, &[u8]>(11).unwrap(), &bytes[..]);
    let second = reader.next().await.unwrap().unwrap();
    for i in 0..12 {
        assert_eq!(second.raw(i).unwrap(), None, "column {i} is NULL");
    }
    assert!(reader.next().await.is_none());
}

#[tokio::test]
async fn a_wrong_type_for_a_binary_column_is_refused_before_sending() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE bin_w (l int8)")
        .await
        .unwrap();
    let copy = conn
        .copy_in("COPY bin_w FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut w = BinaryCopyInWriter::new(copy, &[Type::INT8]);
    let err = w.write(&[&1i32]).await.unwrap_err();
    assert!(matches!(err, Error::Param { index: 1, .. }), "{err:?}");
    assert!(
        err.to_string().contains("int8") && err.to_string().contains("i32"),
        "{err}"
    );
    w.write(&[&1i64]).await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 1);
}

#[tokio::test]
async fn bulk_insert_helper_checks_types_and_commits_all_or_nothing() {
    let mut conn = connect().await;
    let table = unique("bulk");
    conn.batch_execute(&format!(
        "CREATE TABLE {table} (id int8 PRIMARY KEY, \"Name\" text, score float8)"
    ))
    .await
    .unwrap();
    let rows: Vec<(i64, String, Option<f64>)> = (0..50_000)
        .map(|i| (i, format!("n{i}"), (i % 2 == 0).then_some(0.5)))
        .collect();
    let n = conn
        .copy_in_rows(
            &table,
            &["id", "Name", "score"],
            rows.iter()
                .map(|(a, b, c)| [a as &(dyn ToSql + Sync), b, c]),
        )
        .await
        .unwrap();
    assert_eq!(n, 50_000);
    assert_eq!(count(&mut conn, &table).await, 50_000);

    // A value of the wrong type in row 3 aborts the whole COPY.
    let wrong = 5i32;
    let ids = [100_000i64, 100_001, 100_002];
    let mut sets: Vec<[&(dyn ToSql + Sync); 1]> =
        ids.iter().map(|i| [i as &(dyn ToSql + Sync)]).collect();
    sets.push([&wrong]);
    let err = conn.copy_in_rows(&table, &["id"], sets).await.unwrap_err();
    assert!(matches!(err, Error::InBatch { index: 3, .. }), "{err:?}");
    assert_eq!(count(&mut conn, &table).await, 50_000);

    // A server-side failure (a duplicate key) also commits nothing.
    let dup = [1i64];
    let err = conn
        .copy_in_rows(
            &table,
            &["id"],
            dup.iter().map(|i| [i as &(dyn ToSql + Sync)]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION));
    assert_eq!(count(&mut conn, &table).await, 50_000);

    let err = conn
        .copy_in_rows(&table, &["nope"], Vec::<[&(dyn ToSql + Sync); 1]>::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no column \"nope\""), "{err}");
    let err = conn
        .copy_in_rows(
            "no_such_table_hd",
            &["id"],
            Vec::<[&(dyn ToSql + Sync); 1]>::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE), "{err}");
    conn.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn abort_and_abandon_copy_nothing_and_keep_the_connection() {
    let mut conn = connect().await;
    let table = unique("abort_copy");
    conn.batch_execute(&format!("CREATE TABLE {table} (id int4)"))
        .await
        .unwrap();
    let mut copy = conn
        .copy_in(&format!("COPY {table} FROM STDIN"))
        .await
        .unwrap();
    copy.write(b"1\n2\n").await.unwrap();
    copy.abort("changed my mind").await.unwrap();
    assert_eq!(count(&mut conn, &table).await, 0);
    {
        let mut copy = conn
            .copy_in(&format!("COPY {table} FROM STDIN"))
            .await
            .unwrap();
        for i in 0..100_000 {
            copy.write(format!("{i}\n").as_bytes()).await.unwrap();
        }
        // Dropped without finish.
    }
    assert!(conn.is_busy());
    assert_eq!(count(&mut conn, &table).await, 0);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    conn.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_data_is_a_server_error_and_the_connection_survives() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE bad_copy (id int4)")
        .await
        .unwrap();
    let mut copy = conn.copy_in("COPY bad_copy FROM STDIN").await.unwrap();
    copy.write(b"1\nnot a number\n3\n").await.unwrap();
    let err = copy.finish().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_TEXT_REPRESENTATION),
        "{err}"
    );
    assert_eq!(count(&mut conn, "bad_copy").await, 0);
}

#[tokio::test]
async fn copy_apis_refuse_other_statements() {
    let mut conn = connect().await;
    conn.batch_execute("CREATE TEMP TABLE other_copy (id int4)")
        .await
        .unwrap();
    let err = conn.copy_in("SELECT 1").await.err().unwrap();
    assert!(err.to_string().contains("COPY ... FROM STDIN"), "{err}");
    let err = conn
        .copy_out("COPY other_copy FROM STDIN")
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("COPY ... TO STDOUT"), "{err}");
    let err = conn
        .copy_in("COPY no_such_table FROM STDIN")
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE));
    assert_eq!(
        conn.query_one("SELECT 4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
            .unwrap(),
        4
    );
}

#[tokio::test]
async fn an_abandoned_copy_out_is_settled() {
    let mut conn = connect().await;
    {
        let mut out = conn
            .copy_out("COPY (SELECT generate_series(1, 5000000)) TO STDOUT")
            .await
            .unwrap();
        out.next().await.unwrap().unwrap();
    }
    let v: i32 = within(
        15,
        "the command after an abandoned COPY TO",
        conn.query_one("SELECT 6", &[]),
    )
    .await
    .unwrap()
    .get(0)
    .unwrap();
    assert_eq!(v, 6);
}
