//! The core types against a real server: round trips of edge values, values the server
//! computed, lossless widening, and the errors for every kind of mismatch.

use std::fmt::Debug;

use hyperdjango_pgwire::types::FromSqlOwned;
use hyperdjango_pgwire::{Connection, Error, SimpleQueryMessage, SqlState, ToSql, Type};

use crate::common::*;

/// Sends `v` as `$1`, has the server cast it to `ty`, and reads it back.
async fn echo<T>(conn: &mut Connection, ty: &str, v: T) -> T
where
    T: ToSql + Sync + FromSqlOwned + Debug,
{
    let sql = format!("SELECT $1::{ty}");
    let row = conn
        .query_one(&sql, &[&v])
        .await
        .unwrap_or_else(|e| panic!("{sql} with {v:?}: {e}"));
    row.get::<_, T>(0)
        .unwrap_or_else(|e| panic!("reading back {sql} with {v:?}: {e}"))
}

/// Round-trips each value, checks it comes back equal, and that `None` comes back as NULL.
async fn round_trip_all<T>(conn: &mut Connection, ty: &str, values: &[T])
where
    T: ToSql + Sync + FromSqlOwned + Debug + PartialEq + Clone,
{
    for v in values {
        assert_eq!(&echo(conn, ty, v.clone()).await, v, "{ty}");
        assert_eq!(
            echo(conn, ty, Some(v.clone())).await.as_ref(),
            Some(v),
            "Some(_) as {ty}"
        );
    }
    assert_eq!(echo(conn, ty, None::<T>).await, None, "NULL as {ty}");
}

/// Reads column `idx` as `T` and expects a decode error; returns it.
fn decode_error<T>(row: &hyperdjango_pgwire::Row, idx: usize) -> (String, usize, String)
where
    T: FromSqlOwned + Debug,
{
    match row.get::<_, T>(idx) {
        Err(Error::Decode {
            column,
            index,
            message,
        }) => (column, index, message),
        other => panic!(
            "expected a decode error reading column {idx} as {}, got {other:?}",
            std::any::type_name::<T>()
        ),
    }
}

#[tokio::test]
async fn integers_round_trip_edge_values() {
    let mut conn = connect().await;
    round_trip_all(&mut conn, "int2", &[i16::MIN, -1, 0, 1, i16::MAX]).await;
    round_trip_all(&mut conn, "int4", &[i32::MIN, -1, 0, 1, i32::MAX]).await;
    round_trip_all(&mut conn, "int8", &[i64::MIN, -1, 0, 1, i64::MAX]).await;
    round_trip_all(&mut conn, "oid", &[0u32, 1, 1259, u32::MAX]).await;
    round_trip_all(
        &mut conn,
        "\"char\"",
        &[i8::MIN, -1, 0, 1, b'a' as i8, b'Z' as i8, i8::MAX],
    )
    .await;
    // The server sees the same numbers: it does arithmetic on them.
    let row = conn
        .query_one(
            "SELECT $1::int8 = -9223372036854775808, $2::int4 - 1, $3::int2 * 1::int2, $4::oid::int8",
            &[&i64::MIN, &i32::MAX, &i16::MIN, &u32::MAX],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0).unwrap());
    assert_eq!(row.get::<_, i32>(1).unwrap(), i32::MAX - 1);
    assert_eq!(row.get::<_, i16>(2).unwrap(), i16::MIN);
    assert_eq!(row.get::<_, i64>(3).unwrap(), 4_294_967_295);
}

#[tokio::test]
async fn floats_round_trip_bit_exact() {
    let mut conn = connect().await;
    let f64s = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::from_bits(1), // the smallest subnormal
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        0.1,
        -1.0 / 3.0,
    ];
    for v in f64s {
        let back = echo(&mut conn, "float8", v).await;
        assert_eq!(
            back.to_bits(),
            v.to_bits(),
            "float8 {v:?} came back as {back:?}"
        );
        let back = echo(&mut conn, "float8", Some(v)).await.unwrap();
        assert_eq!(back.to_bits(), v.to_bits(), "Some({v:?})");
    }
    assert_eq!(echo(&mut conn, "float8", None::<f64>).await, None);
    let f32s = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        0.0,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::MAX,
        f32::MIN,
        0.1,
    ];
    for v in f32s {
        let back = echo(&mut conn, "float4", v).await;
        assert_eq!(
            back.to_bits(),
            v.to_bits(),
            "float4 {v:?} came back as {back:?}"
        );
    }
    assert_eq!(echo(&mut conn, "float4", None::<f32>).await, None);
    // The server understood them: it classifies the special values itself.
    let row = conn
        .query_one(
            "SELECT $1::float8 = 'NaN', $2::float8 = '-Infinity', $3::float8::text, $4::float4 = 'Infinity'",
            &[&f64::NAN, &f64::NEG_INFINITY, &-0.0f64, &f32::INFINITY],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0).unwrap());
    assert!(row.get::<_, bool>(1).unwrap());
    assert_eq!(row.get::<_, &str>(2).unwrap(), "-0");
    assert!(row.get::<_, bool>(3).unwrap());
}

#[tokio::test]
async fn bools_round_trip() {
    let mut conn = connect().await;
    round_trip_all(&mut conn, "bool", &[true, false]).await;
    let row = conn
        .query_one("SELECT NOT $1::bool, $2::bool AND true", &[&true, &true])
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0).unwrap());
    assert!(row.get::<_, bool>(1).unwrap());
}

#[tokio::test]
async fn strings_round_trip_over_every_text_type() {
    let mut conn = connect().await;
    let big: String = "abcdefghijklmnopqrstuvwxyz0123456789é😀"
        .chars()
        .cycle()
        .take(1 << 20)
        .collect();
    let values = [
        String::new(),
        "plain ascii".to_string(),
        "emoji 😀🎉 and flags 🇫🇷🇯🇵".to_string(),
        // e + combining acute accent, then a precomposed é: not normalized by anyone.
        "e\u{301} vs \u{e9}".to_string(),
        "日本語のテキスト".to_string(),
        "quotes ' \" \\ and\ttabs\nnewlines".to_string(),
        big.clone(),
    ];
    round_trip_all(&mut conn, "text", &values).await;
    round_trip_all(&mut conn, "varchar", &values).await;
    // bpchar without a length keeps the value as is (trailing spaces aside).
    round_trip_all(&mut conn, "bpchar", &values[..6]).await;
    // name holds at most 63 bytes.
    round_trip_all(&mut conn, "name", &values[..5]).await;

    // Borrowed &str in and out.
    let row = conn
        .query_one(
            "SELECT $1::text, $2::varchar",
            &[&"borrowed", &values[2].as_str()],
        )
        .await
        .unwrap();
    let (a, b): (&str, &str) = (row.get(0).unwrap(), row.get(1).unwrap());
    assert_eq!((a, b), ("borrowed", values[2].as_str()));

    // The server saw the characters, not just bytes.
    let row = conn
        .query_one(
            "SELECT length($1::text), octet_length($1::text), length($2::text), length($3::text)",
            &[&big, &"e\u{301}", &"🇫🇷"],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0).unwrap(), 1 << 20);
    assert_eq!(row.get::<_, i32>(1).unwrap() as usize, big.len());
    assert_eq!(row.get::<_, i32>(2).unwrap(), 2);
    assert_eq!(row.get::<_, i32>(3).unwrap(), 2);
}

#[tokio::test]
async fn bytea_round_trips_every_byte_value() {
    let mut conn = connect().await;
    let all: Vec<u8> = (0..=255).collect();
    let big: Vec<u8> = (0..(3 << 20)).map(|i| (i * 7 % 251) as u8).collect();
    round_trip_all(
        &mut conn,
        "bytea",
        &[Vec::new(), all.clone(), vec![0], big.clone()],
    )
    .await;

    // &[u8] in, &[u8] out, and the server's view of the bytes.
    let row = conn
        .query_one(
            "SELECT $1::bytea, octet_length($1::bytea), get_byte($1::bytea, 0), get_byte($1::bytea, 255), md5($1::bytea)",
            &[&all.as_slice()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &[u8]>(0).unwrap(), all.as_slice());
    assert_eq!(row.get::<_, i32>(1).unwrap(), 256);
    assert_eq!(row.get::<_, i32>(2).unwrap(), 0);
    assert_eq!(row.get::<_, i32>(3).unwrap(), 255);
    assert_eq!(
        row.get::<_, &str>(4).unwrap(),
        "e2c865db4162bed963bfaa9ef6ac18f0"
    );
    let row = conn
        .query_one("SELECT octet_length($1::bytea)", &[&Vec::<u8>::new()])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0).unwrap(), 0);
    let row = conn
        .query_one("SELECT $1::bytea", &[&None::<&[u8]>])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<&[u8]>>(0).unwrap(), None);
}

#[tokio::test]
async fn nulls_of_every_type_come_back_as_none() {
    let mut conn = connect().await;
    let row = conn
        .query_one(
            "SELECT $1::bool, $2::\"char\", $3::int2, $4::int4, $5::int8, $6::oid, $7::float4, $8::float8, $9::text, $10::bytea",
            &[
                &None::<bool>,
                &None::<i8>,
                &None::<i16>,
                &None::<i32>,
                &None::<i64>,
                &None::<u32>,
                &None::<f32>,
                &None::<f64>,
                &None::<String>,
                &None::<Vec<u8>>,
            ],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<bool>>(0).unwrap(), None);
    assert_eq!(row.get::<_, Option<i8>>(1).unwrap(), None);
    assert_eq!(row.get::<_, Option<i16>>(2).unwrap(), None);
    assert_eq!(row.get::<_, Option<i32>>(3).unwrap(), None);
    assert_eq!(row.get::<_, Option<i64>>(4).unwrap(), None);
    assert_eq!(row.get::<_, Option<u32>>(5).unwrap(), None);
    assert_eq!(row.get::<_, Option<f32>>(6).unwrap(), None);
    assert_eq!(row.get::<_, Option<f64>>(7).unwrap(), None);
    assert_eq!(row.get::<_, Option<String>>(8).unwrap(), None);
    assert_eq!(row.get::<_, Option<&str>>(8).unwrap(), None);
    assert_eq!(row.get::<_, Option<Vec<u8>>>(9).unwrap(), None);
    // The server saw NULLs, and typed them as the casts say.
    let types: Vec<u32> = row.columns().iter().map(|c| c.type_oid()).collect();
    assert_eq!(types, [16, 18, 21, 23, 20, 26, 700, 701, 25, 17]);
    let row = conn
        .query_one(
            "SELECT $1::int4 IS NULL, $2::text IS NULL, $3::bytea IS NULL",
            &[&None::<i32>, &None::<&str>, &None::<&[u8]>],
        )
        .await
        .unwrap();
    for i in 0..3 {
        assert!(row.get::<_, bool>(i).unwrap());
    }
}

#[tokio::test]
async fn values_the_server_computed() {
    let mut conn = connect().await;
    let row = conn
        .query_one(
            "SELECT 2147483647::int8 + 1 AS big, (-32768)::int2 AS small, (-2147483648)::int4 AS min4,
                    (-9223372036854775808)::int8 AS min8, 'abc'::bpchar(5) AS padded, 'x'::name AS nm,
                    'a'::\"char\" AS ch, 1::oid AS one, 'pg_class'::regclass::oid AS pg_class_oid,
                    0.1::float4 AS tenth4, 1::float8 / 3 AS third, 'NaN'::float8 AS nan,
                    '-Infinity'::float4 AS neg_inf, '-0'::float8 AS neg_zero, 1 < 2 AS yes,
                    repeat('ab', 3) AS rep, upper('abc') AS up, decode('00ff10', 'hex') AS bytes,
                    ''::text AS empty, 'xyz'::varchar(2) AS clipped",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>("big").unwrap(), 2_147_483_648);
    assert_eq!(row.get::<_, i16>("small").unwrap(), i16::MIN);
    assert_eq!(row.get::<_, i32>("min4").unwrap(), i32::MIN);
    assert_eq!(row.get::<_, i64>("min8").unwrap(), i64::MIN);
    assert_eq!(row.get::<_, &str>("padded").unwrap(), "abc  ");
    assert_eq!(row.get::<_, String>("nm").unwrap(), "x");
    assert_eq!(row.get::<_, i8>("ch").unwrap(), b'a' as i8);
    assert_eq!(row.get::<_, u32>("one").unwrap(), 1);
    assert_eq!(row.get::<_, u32>("pg_class_oid").unwrap(), 1259);
    assert_eq!(row.get::<_, f32>("tenth4").unwrap(), 0.1f32);
    assert_eq!(row.get::<_, f64>("third").unwrap(), 1.0 / 3.0);
    assert!(row.get::<_, f64>("nan").unwrap().is_nan());
    assert_eq!(row.get::<_, f32>("neg_inf").unwrap(), f32::NEG_INFINITY);
    assert_eq!(
        row.get::<_, f64>("neg_zero").unwrap().to_bits(),
        (-0.0f64).to_bits()
    );
    assert!(row.get::<_, bool>("yes").unwrap());
    assert_eq!(row.get::<_, &str>("rep").unwrap(), "ababab");
    assert_eq!(row.get::<_, &str>("up").unwrap(), "ABC");
    assert_eq!(row.get::<_, Vec<u8>>("bytes").unwrap(), [0x00, 0xff, 0x10]);
    assert_eq!(row.get::<_, &str>("empty").unwrap(), "");
    assert_eq!(row.get::<_, &str>("clipped").unwrap(), "xy");

    let types: Vec<Type> = row
        .columns()
        .iter()
        .map(|c| Type::from_oid(c.type_oid()))
        .collect();
    assert_eq!(types[4], Type::BPCHAR);
    assert_eq!(types[5], Type::NAME);
    assert_eq!(types[6], Type::CHAR);
    assert_eq!(types[7], Type::OID);

    // Computed from parameters.
    let row = conn
        .query_one(
            "SELECT length($1::text), octet_length($2::bytea), $3::int4::int8 * 2, $4::text || '!', ($5::float8 * 2)::float4",
            &[&"é😀x", &vec![1u8, 2, 3], &i32::MAX, &"hi", &1.25f64],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0).unwrap(), 3);
    assert_eq!(row.get::<_, i32>(1).unwrap(), 3);
    assert_eq!(row.get::<_, i64>(2).unwrap(), 2 * i32::MAX as i64);
    assert_eq!(row.get::<_, String>(3).unwrap(), "hi!");
    assert_eq!(row.get::<_, f32>(4).unwrap(), 2.5);

    // name truncates to 63 bytes at a character boundary.
    let long = "é".repeat(40); // 80 bytes
    let row = conn
        .query_one("SELECT $1::name, octet_length($1::name::text)", &[&long])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0).unwrap(), "é".repeat(31));
    assert_eq!(row.get::<_, i32>(1).unwrap(), 62);
}

#[tokio::test]
async fn lossless_widening_is_allowed() {
    let mut conn = connect().await;
    let row = conn
        .query_one(
            "SELECT (-32768)::int2, 32767::int2, (-2147483648)::int4, 0.1::float4, '-Infinity'::float4, 'NaN'::float4",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0).unwrap(), -32768);
    assert_eq!(row.get::<_, i64>(0).unwrap(), -32768);
    assert_eq!(row.get::<_, i64>(1).unwrap(), 32767);
    assert_eq!(row.get::<_, i64>(2).unwrap(), i32::MIN as i64);
    assert_eq!(row.get::<_, f64>(3).unwrap(), 0.1f32 as f64);
    assert_eq!(row.get::<_, f64>(4).unwrap(), f64::NEG_INFINITY);
    assert!(row.get::<_, f64>(5).unwrap().is_nan());
    assert_eq!(row.get::<_, Option<i64>>(0).unwrap(), Some(-32768));
    // From a table's columns too.
    conn.batch_execute(
        "CREATE TEMP TABLE widen (s int2, i int4, r float4); INSERT INTO widen VALUES (-7, 2000000000, 2.5)",
    )
    .await
    .unwrap();
    let row = conn
        .query_one("SELECT s, i, r FROM widen", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>("s").unwrap(), -7);
    assert_eq!(row.get::<_, i32>("s").unwrap(), -7);
    assert_eq!(row.get::<_, i64>("i").unwrap(), 2_000_000_000);
    assert_eq!(row.get::<_, f64>("r").unwrap(), 2.5);
}

#[tokio::test]
async fn wrong_rust_types_are_errors_naming_column_and_both_types() {
    let mut conn = connect().await;
    let row = conn
        .query_one(
            "SELECT 1::int4 AS first, 5000000000::int8 AS big, 'text value'::text AS words,
                    42::int4 AS num, '\\x00ff'::bytea AS blob, 1.5::float8 AS dbl, 7::int4 AS small",
            &[],
        )
        .await
        .unwrap();

    let (column, index, message) = decode_error::<i32>(&row, 1);
    assert_eq!((column.as_str(), index), ("big", 1));
    assert!(
        message.contains("int8") && message.contains("i32"),
        "{message}"
    );
    let e = row.get::<_, i32>("big").unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("column 1 \"big\"") && shown.contains("int8") && shown.contains("i32"),
        "{shown}"
    );
    assert!(!e.is_closed());

    let (column, index, message) = decode_error::<i32>(&row, 2);
    assert_eq!((column.as_str(), index), ("words", 2));
    assert!(
        message.contains("text") && message.contains("i32"),
        "{message}"
    );

    let (column, index, message) = decode_error::<String>(&row, 3);
    assert_eq!((column.as_str(), index), ("num", 3));
    assert!(
        message.contains("int4") && message.contains("String"),
        "{message}"
    );

    match row.get::<_, &str>("blob") {
        Err(Error::Decode {
            column,
            index,
            message,
        }) => {
            assert_eq!((column.as_str(), index), ("blob", 4));
            assert!(
                message.contains("bytea") && message.contains("str"),
                "{message}"
            );
        }
        other => panic!("bytea read as &str: {other:?}"),
    }

    // No narrowing, no float/int confusion.
    let (_, _, message) = decode_error::<f32>(&row, 5);
    assert!(
        message.contains("float8") && message.contains("f32"),
        "{message}"
    );
    let (_, _, message) = decode_error::<i16>(&row, 6);
    assert!(
        message.contains("int4") && message.contains("i16"),
        "{message}"
    );
    let (_, _, message) = decode_error::<i64>(&row, 5);
    assert!(
        message.contains("float8") && message.contains("i64"),
        "{message}"
    );
    let (_, _, message) = decode_error::<bool>(&row, 0);
    assert!(
        message.contains("int4") && message.contains("bool"),
        "{message}"
    );
    let (_, _, message) = decode_error::<Vec<u8>>(&row, 2);
    assert!(message.contains("text"), "{message}");
    // Option<T> checks the type too.
    let (column, _, message) = decode_error::<Option<i32>>(&row, 1);
    assert_eq!(column, "big");
    assert!(message.contains("int8"), "{message}");

    // The same row still decodes correctly afterwards.
    assert_eq!(row.get::<_, i64>("big").unwrap(), 5_000_000_000);
    assert_eq!(row.get::<_, &[u8]>("blob").unwrap(), [0x00, 0xff]);
}

#[tokio::test]
async fn null_into_a_non_option_is_an_error_suggesting_option() {
    let mut conn = connect().await;
    let row = conn
        .query_one(
            "SELECT 1::int4 AS a, NULL::int4 AS maybe, NULL::text AS t",
            &[],
        )
        .await
        .unwrap();
    let (column, index, message) = decode_error::<i32>(&row, 1);
    assert_eq!((column.as_str(), index), ("maybe", 1));
    assert!(message.contains("NULL"), "{message}");
    assert!(message.contains("Option"), "{message}");
    let shown = row.get::<_, i32>("maybe").unwrap_err().to_string();
    assert!(
        shown.contains("maybe") && shown.contains("NULL") && shown.contains("Option"),
        "{shown}"
    );
    let (column, _, message) = decode_error::<String>(&row, 2);
    assert_eq!(column, "t");
    assert!(
        message.contains("NULL") && message.contains("Option"),
        "{message}"
    );
    assert_eq!(row.get::<_, Option<i32>>("maybe").unwrap(), None);
    assert_eq!(row.get::<_, Option<&str>>("t").unwrap(), None);
    assert_eq!(row.get::<_, Option<i32>>("a").unwrap(), Some(1));
}

#[tokio::test]
async fn missing_columns_are_errors_listing_the_columns() {
    let mut conn = connect().await;
    let row = conn
        .query_one("SELECT 1::int4 AS id, 'x'::text AS name", &[])
        .await
        .unwrap();
    for e in [
        row.get::<_, i32>("nope").unwrap_err(),
        row.get::<_, i32>(2).unwrap_err(),
        row.get::<_, i32>("ID").unwrap_err(),
    ] {
        let Error::ColumnNotFound(what) = &e else {
            panic!("expected ColumnNotFound, got {e:?}");
        };
        assert!(what.contains("id, name"), "{what}");
        let shown = e.to_string();
        assert!(shown.contains("id") && shown.contains("name"), "{shown}");
    }
    let shown = row.get::<_, i32>("nope").unwrap_err().to_string();
    assert!(shown.contains("nope"), "{shown}");
    let shown = row.get::<_, i32>(2).unwrap_err().to_string();
    assert!(
        shown.contains('2') && shown.contains("2 columns"),
        "{shown}"
    );
    assert!(row.raw("nope").is_err());
}

#[tokio::test]
async fn parameter_encoding_errors_leave_the_connection_usable() {
    let mut conn = connect().await;

    // A NUL byte in a text parameter.
    let err = conn.query("SELECT $1::text", &[&"a\0b"]).await.unwrap_err();
    let Error::Param { index, message } = &err else {
        panic!("expected Error::Param, got {err:?}");
    };
    assert_eq!(*index, 1);
    assert!(message.contains("NUL"), "{message}");
    assert!(err.to_string().starts_with("parameter $1"), "{err}");
    assert!(!err.is_closed());
    assert_eq!(
        conn.query_one("SELECT $1::text", &[&"ok"])
            .await
            .unwrap()
            .get::<_, String>(0)
            .unwrap(),
        "ok"
    );

    // The second parameter, as a String.
    let err = conn
        .execute(
            "SELECT $1::int4, $2::text",
            &[&1i32, &String::from("tail\0")],
        )
        .await
        .unwrap_err();
    match &err {
        Error::Param { index: 2, message } => assert!(message.contains("NUL"), "{message}"),
        other => panic!("expected Error::Param for $2, got {other:?}"),
    }
    assert_eq!(
        conn.query_one("SELECT 5::int4", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
            .unwrap(),
        5
    );

    // A prepared statement expecting int8, given an i32.
    let stmt = conn.prepare("SELECT $1::int8 + 1").await.unwrap();
    assert_eq!(stmt.params(), [Type::INT8]);
    let err = conn.query_one(&stmt, &[&5i32]).await.unwrap_err();
    let Error::Param { index, message } = &err else {
        panic!("expected Error::Param, got {err:?}");
    };
    assert_eq!(*index, 1);
    assert!(
        message.contains("i32") && message.contains("int8"),
        "{message}"
    );
    assert_eq!(
        conn.query_one(&stmt, &[&5i64])
            .await
            .unwrap()
            .get::<_, i64>(0)
            .unwrap(),
        6
    );

    // The wrong number of parameters for a prepared statement.
    let stmt2 = conn.prepare("SELECT $1::int4 + $2::int4").await.unwrap();
    let err = conn.query_one(&stmt2, &[&1i32]).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::ParamCount {
                expected: 2,
                got: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the statement takes 2 parameters but 1 was given"
    );
    let err = conn
        .query_one(&stmt2, &[&1i32, &2i32, &3i32])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ParamCount {
                expected: 2,
                got: 3
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        conn.query_one(&stmt2, &[&1i32, &2i32])
            .await
            .unwrap()
            .get::<_, i32>(0)
            .unwrap(),
        3
    );

    // Unprepared: the server counts the parameters.
    let err = conn
        .query("SELECT $1::int4, $2::int4", &[&1i32])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::PROTOCOL_VIOLATION), "{err}");
    // A NUL in the query text itself.
    let err = conn.query("SELECT 1\0", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Encode(_)), "{err:?}");

    let row = conn
        .query_one("SELECT $1::int8 * 2, $2::text", &[&21i64, &"fine"])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0).unwrap(), 42);
    assert_eq!(row.get::<_, &str>(1).unwrap(), "fine");
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn a_table_of_every_core_type() {
    let mut conn = connect().await;
    conn.batch_execute(
        "CREATE TEMP TABLE core_types (
             id int4 PRIMARY KEY, b bool, c \"char\", s int2, i int4, l int8, o oid,
             r float4, d float8, t text, v varchar(20), p char(5), n name, y bytea)",
    )
    .await
    .unwrap();
    let all: Vec<u8> = (0..=255).collect();
    // Unprepared: the parameters are declared from the Rust types.
    let n = conn
        .execute(
            "INSERT INTO core_types VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[
                &1i32,
                &true,
                &(b'q' as i8),
                &i16::MIN,
                &i32::MAX,
                &i64::MIN,
                &u32::MAX,
                &f32::NEG_INFINITY,
                &-0.0f64,
                &"text 😀",
                &String::from("varchar é"),
                &"ab",
                &"a_name",
                &all,
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    // Prepared: the server infers every parameter's type from the columns.
    let insert = conn
        .prepare("INSERT INTO core_types VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
        .await
        .unwrap();
    assert_eq!(
        insert.params(),
        [
            Type::INT4,
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
            Type::BPCHAR,
            Type::NAME,
            Type::BYTEA
        ]
    );
    conn.execute(
        &insert,
        &[
            &2i32,
            &false,
            &-1i8,
            &0i16,
            &-1i32,
            &i64::MAX,
            &0u32,
            &f32::MIN_POSITIVE,
            &f64::NAN,
            &"",
            &"v",
            &"abcde",
            &"second",
            &Vec::<u8>::new(),
        ],
    )
    .await
    .unwrap();
    conn.execute(
        &insert,
        &[
            &3i32,
            &None::<bool>,
            &None::<i8>,
            &None::<i16>,
            &None::<i32>,
            &None::<i64>,
            &None::<u32>,
            &None::<f32>,
            &None::<f64>,
            &None::<&str>,
            &None::<String>,
            &None::<&str>,
            &None::<&str>,
            &None::<&[u8]>,
        ],
    )
    .await
    .unwrap();

    let rows = conn
        .query("SELECT * FROM core_types ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let r = &rows[0];
    assert_eq!(r.get::<_, i32>("id").unwrap(), 1);
    assert!(r.get::<_, bool>("b").unwrap());
    assert_eq!(r.get::<_, i8>("c").unwrap(), b'q' as i8);
    assert_eq!(r.get::<_, i16>("s").unwrap(), i16::MIN);
    assert_eq!(r.get::<_, i32>("i").unwrap(), i32::MAX);
    assert_eq!(r.get::<_, i64>("l").unwrap(), i64::MIN);
    assert_eq!(r.get::<_, u32>("o").unwrap(), u32::MAX);
    assert_eq!(r.get::<_, f32>("r").unwrap(), f32::NEG_INFINITY);
    assert_eq!(r.get::<_, f64>("d").unwrap().to_bits(), (-0.0f64).to_bits());
    assert_eq!(r.get::<_, &str>("t").unwrap(), "text 😀");
    assert_eq!(r.get::<_, String>("v").unwrap(), "varchar é");
    assert_eq!(r.get::<_, &str>("p").unwrap(), "ab   ");
    assert_eq!(r.get::<_, &str>("n").unwrap(), "a_name");
    assert_eq!(r.get::<_, &[u8]>("y").unwrap(), all.as_slice());

    let r = &rows[1];
    assert!(!r.get::<_, bool>("b").unwrap());
    assert_eq!(r.get::<_, i8>("c").unwrap(), -1);
    assert_eq!(r.get::<_, i16>("s").unwrap(), 0);
    assert_eq!(r.get::<_, i32>("i").unwrap(), -1);
    assert_eq!(r.get::<_, i64>("l").unwrap(), i64::MAX);
    assert_eq!(r.get::<_, u32>("o").unwrap(), 0);
    assert_eq!(r.get::<_, f32>("r").unwrap(), f32::MIN_POSITIVE);
    assert!(r.get::<_, f64>("d").unwrap().is_nan());
    assert_eq!(r.get::<_, &str>("t").unwrap(), "");
    assert_eq!(r.get::<_, &str>("v").unwrap(), "v");
    assert_eq!(r.get::<_, &str>("p").unwrap(), "abcde");
    assert_eq!(r.get::<_, &str>("n").unwrap(), "second");
    assert_eq!(r.get::<_, Vec<u8>>("y").unwrap(), Vec::<u8>::new());

    let r = &rows[2];
    assert_eq!(r.get::<_, i32>("id").unwrap(), 3);
    assert_eq!(r.get::<_, Option<bool>>("b").unwrap(), None);
    assert_eq!(r.get::<_, Option<i8>>("c").unwrap(), None);
    assert_eq!(r.get::<_, Option<i16>>("s").unwrap(), None);
    assert_eq!(r.get::<_, Option<i32>>("i").unwrap(), None);
    assert_eq!(r.get::<_, Option<i64>>("l").unwrap(), None);
    assert_eq!(r.get::<_, Option<u32>>("o").unwrap(), None);
    assert_eq!(r.get::<_, Option<f32>>("r").unwrap(), None);
    assert_eq!(r.get::<_, Option<f64>>("d").unwrap(), None);
    assert_eq!(r.get::<_, Option<&str>>("t").unwrap(), None);
    assert_eq!(r.get::<_, Option<String>>("v").unwrap(), None);
    assert_eq!(r.get::<_, Option<&str>>("p").unwrap(), None);
    assert_eq!(r.get::<_, Option<&str>>("n").unwrap(), None);
    assert_eq!(r.get::<_, Option<&[u8]>>("y").unwrap(), None);

    // The server agrees on what was stored.
    let row = conn
        .query_one(
            "SELECT count(*) FILTER (WHERE b), sum(s), octet_length(string_agg(y, ''::bytea)), count(*) FILTER (WHERE y IS NULL) FROM core_types",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0).unwrap(), 1);
    assert_eq!(row.get::<_, i64>(1).unwrap(), i16::MIN as i64);
    assert_eq!(row.get::<_, i32>(2).unwrap(), 256);
    assert_eq!(row.get::<_, i64>(3).unwrap(), 1);

    // A value too long for varchar(20): the server refuses it.
    let err = conn
        .execute(
            "UPDATE core_types SET v = $1 WHERE id = 1",
            &[&"x".repeat(21)],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::STRING_DATA_RIGHT_TRUNCATION),
        "{err}"
    );
}

#[tokio::test]
async fn simple_query_returns_text() {
    let mut conn = connect().await;
    let msgs = conn
        .simple_query(
            "SELECT 1 AS one, NULL::int4 AS nothing, 'x y'::text AS words, true AS yes, 1.5::float8 AS f, '\\x01ff'::bytea AS b, ''::text AS empty, 'é😀' AS uni",
        )
        .await
        .unwrap();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    let SimpleQueryMessage::RowDescription(columns) = &msgs[0] else {
        panic!("expected a RowDescription first: {msgs:?}");
    };
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["one", "nothing", "words", "yes", "f", "b", "empty", "uni"]
    );
    let SimpleQueryMessage::Row(row) = &msgs[1] else {
        panic!("expected a row: {msgs:?}");
    };
    assert_eq!(row.len(), 8);
    assert_eq!(row.get(0).unwrap(), Some("1"));
    assert_eq!(row.get("one").unwrap(), Some("1"));
    assert_eq!(row.get(1).unwrap(), None);
    assert_eq!(row.get("words").unwrap(), Some("x y"));
    assert_eq!(row.get("yes").unwrap(), Some("t"));
    assert_eq!(row.get("f").unwrap(), Some("1.5"));
    assert_eq!(row.get("b").unwrap(), Some("\\x01ff"));
    assert_eq!(row.get("empty").unwrap(), Some(""));
    assert_eq!(row.get("uni").unwrap(), Some("é😀"));
    let e = row.get("missing").unwrap_err();
    assert!(matches!(e, Error::ColumnNotFound(_)), "{e:?}");
    assert!(e.to_string().contains("one, nothing, words"), "{e}");
    assert!(matches!(msgs[2], SimpleQueryMessage::CommandComplete(1)));

    // Several statements: each gets its own description, rows and completion.
    let msgs = conn
        .simple_query("SELECT g::text FROM generate_series(1, 2) AS g; SELECT NULL")
        .await
        .unwrap();
    let rows: Vec<Option<String>> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap().map(str::to_owned)),
            _ => None,
        })
        .collect();
    assert_eq!(rows, [Some("1".to_string()), Some("2".to_string()), None]);
    let completions: Vec<u64> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(completions, [2, 1]);
}
