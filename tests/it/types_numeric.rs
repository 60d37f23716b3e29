//! numeric (exact and rust_decimal) and money against a real server.

use hyperdjango_pgwire::Error;
use hyperdjango_pgwire::types::{Money, Numeric};
use rust_decimal::Decimal;

use crate::common::*;

fn n(s: &str) -> Numeric {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[tokio::test]
async fn numeric_round_trips_edge_values_exactly() {
    let mut conn = connect().await;
    let thousand = "9".repeat(500) + "." + &"1234567890".repeat(50);
    let values: Vec<Numeric> = [
        "0",
        "-0.5",
        "1",
        "-1",
        "0.0001",
        "9999",
        "10000",
        "12345.678",
        "1.50",
        "0.000",
        "-99999999999999999999999999999999999999.99999999999999999999",
        &thousand,
        &format!("-{thousand}"),
        "NaN",
        "Infinity",
        "-Infinity",
        &format!("0.{}1", "0".repeat(16382)),
        &format!("1{}", "0".repeat(130_000)),
    ]
    .iter()
    .map(|s| n(s))
    .collect();
    for v in &values {
        let row = conn
            .query_one("SELECT $1::numeric, $1::numeric::text", &[v])
            .await
            .unwrap();
        let back: Numeric = row.get(0).unwrap();
        assert_eq!(&back, v);
        // The server read the same number we meant: its own text says so.
        assert_eq!(row.get::<_, &str>(1).unwrap(), v.to_string());
    }
    assert_eq!(thousand.len(), 1001);
}

#[tokio::test]
async fn numeric_values_the_server_computed() {
    let mut conn = connect().await;
    let row = conn
        .query_one(
            "SELECT 1::numeric / 3, 2::numeric ^ 200, (-7.250)::numeric(10,4), \
             0.1::numeric + 0.2, round(2.5::numeric), 'NaN'::numeric, '-inf'::numeric, 0::numeric * -1",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<String> = (0..8)
        .map(|i| row.get::<_, Numeric>(i).unwrap().to_string())
        .collect();
    assert_eq!(got[0], "0.33333333333333333333");
    // The scale of a power's result differs between server versions: compare the digits.
    assert_eq!(
        got[1].split('.').next(),
        Some("1606938044258990275541962092341162602522202993782792835301376")
    );
    assert_eq!(&got[2..], ["-7.2500", "0.3", "3", "NaN", "-Infinity", "0"]);
    // Text the server produces for many values equals our Display of the binary value.
    let rows = conn
        .query(
            "SELECT x, x::text FROM (SELECT (random() * 10 ^ (i % 40 - 20))::numeric(60, 30) * \
             (CASE WHEN i % 2 = 0 THEN -1 ELSE 1 END) AS x FROM generate_series(1, 300) i) s",
            &[],
        )
        .await
        .unwrap();
    for r in rows {
        assert_eq!(
            r.get::<_, Numeric>(0).unwrap().to_string(),
            r.get::<_, &str>(1).unwrap()
        );
    }
}

#[tokio::test]
async fn rust_decimal_round_trips_and_overflow_is_an_error() {
    let mut conn = connect().await;
    let values = [
        Decimal::ZERO,
        Decimal::MAX,
        Decimal::MIN,
        Decimal::new(150, 2),
        Decimal::new(-1, 28),
        Decimal::new(123_456_789, 5),
    ];
    round_trip(&mut conn, "numeric", &values).await;
    let row = conn
        .query_one(
            "SELECT 79228162514264337593543950336::numeric AS too_big, \
             0.00000000000000000000000000001::numeric AS too_precise, 'NaN'::numeric AS nan, \
             1.0000000000000000000000000000000000::numeric AS trailing_zeros",
            &[],
        )
        .await
        .unwrap();
    for col in ["too_big", "too_precise", "nan"] {
        match row.get::<_, Decimal>(col) {
            Err(Error::Decode {
                column, message, ..
            }) => {
                assert_eq!(column, col);
                assert!(message.contains("Decimal"), "{message}");
            }
            other => panic!("{col}: expected a decode error, got {other:?}"),
        }
    }
    assert_eq!(
        row.get::<_, Decimal>("trailing_zeros").unwrap(),
        Decimal::ONE
    );
    // The exact type reads what Decimal cannot.
    assert_eq!(
        row.get::<_, Numeric>("too_big").unwrap().to_string(),
        "79228162514264337593543950336"
    );
}

#[tokio::test]
async fn money_is_exact_cents() {
    let mut conn = connect().await;
    conn.batch_execute("SET lc_monetary = 'C'").await.unwrap();
    round_trip(
        &mut conn,
        "money",
        &[
            Money(0),
            Money(1234),
            Money(-1),
            Money(i64::MAX),
            Money(i64::MIN),
        ],
    )
    .await;
    let row = conn
        .query_one(
            "SELECT 12.34::numeric::money, $1::money + $1::money",
            &[&Money(5)],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Money>(0).unwrap(), Money(1234));
    assert_eq!(row.get::<_, Money>(1).unwrap(), Money(10));
}

#[tokio::test]
async fn numeric_wrong_rust_types_are_errors() {
    let mut conn = connect().await;
    let row = conn
        .query_one("SELECT 1.5::numeric AS price, 2::int8 AS qty", &[])
        .await
        .unwrap();
    let e = row.get::<_, i64>("price").unwrap_err().to_string();
    assert!(
        e.contains("price") && e.contains("numeric") && e.contains("i64"),
        "{e}"
    );
    let e = row.get::<_, Numeric>("qty").unwrap_err().to_string();
    assert!(
        e.contains("qty") && e.contains("int8") && e.contains("Numeric"),
        "{e}"
    );
}
