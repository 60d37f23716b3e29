//! Property tests: random values of each type family round-trip through the real server, in
//! batches (one array per query), and the server's own text form of them agrees with ours
//! where both have one. 64 cases per family keep the suite fast.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Bound;

use hyperdjango_pgwire::Connection;
use hyperdjango_pgwire::types::{BitString, Date, Inet, Interval, Numeric, Range, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uuid::Uuid;

use crate::common::*;

/// Runs `check` over `cases` random values of `strategy` on one connection.
fn run<S, F>(strategy: S, check: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: for<'c> Fn(
        &'c mut Connection,
        S::Value,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), TestCaseError>> + 'c>,
    >,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut conn = rt.block_on(connect());
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let conn = std::cell::RefCell::new(&mut conn);
    runner
        .run(&strategy, |v| rt.block_on(check(&mut conn.borrow_mut(), v)))
        .unwrap();
}

fn numeric_strategy() -> impl Strategy<Value = Numeric> {
    (
        any::<bool>(),
        prop::collection::vec(0u8..10, 0..60),
        prop::collection::vec(0u8..10, 0..60),
    )
        .prop_map(|(neg, int, frac)| {
            let digits = |d: &[u8]| d.iter().map(|d| char::from(b'0' + d)).collect::<String>();
            let s = format!(
                "{}{}.{}",
                if neg { "-" } else { "" },
                digits(&int),
                digits(&frac)
            );
            let s = if int.is_empty() && frac.is_empty() {
                "0".to_string()
            } else {
                s
            };
            s.parse().unwrap()
        })
}

#[test]
fn numeric_values_round_trip_with_the_servers_text() {
    run(
        prop::collection::vec(numeric_strategy(), 1..20),
        |conn, values| {
            Box::pin(async move {
                let rows = conn
                .query("SELECT x, x::text FROM unnest($1::numeric[]) WITH ORDINALITY AS u(x, i) ORDER BY i", &[&values])
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                for (v, r) in values.iter().zip(&rows) {
                    prop_assert_eq!(&r.get::<_, Numeric>(0).unwrap(), v);
                    prop_assert_eq!(r.get::<_, &str>(1).unwrap(), v.to_string());
                }
                Ok(())
            })
        },
    );
}

#[test]
fn integers_floats_text_and_bytes_round_trip() {
    let strategy = (
        prop::collection::vec(any::<i16>(), 0..10),
        prop::collection::vec(any::<i64>(), 0..10),
        prop::collection::vec(any::<f64>(), 0..10),
        prop::collection::vec(any::<String>().prop_map(|s| s.replace('\0', "")), 0..10),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(any::<Option<i32>>(), 0..10),
    );
    run(strategy, |conn, (a, b, c, d, e, f)| {
        Box::pin(async move {
            let row = conn
                .query_one(
                    "SELECT $1::int2[], $2::int8[], $3::float8[], $4::text[], $5::bytea, $6::int4[]",
                    &[&a, &b, &c, &d, &e, &f],
                )
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(row.get::<_, Vec<i16>>(0).unwrap(), a);
            prop_assert_eq!(row.get::<_, Vec<i64>>(1).unwrap(), b);
            let back: Vec<f64> = row.get(2).unwrap();
            prop_assert_eq!(
                back.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
                c.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
            );
            prop_assert_eq!(row.get::<_, Vec<String>>(3).unwrap(), d);
            prop_assert_eq!(row.get::<_, Vec<u8>>(4).unwrap(), e);
            prop_assert_eq!(row.get::<_, Vec<Option<i32>>>(5).unwrap(), f);
            Ok(())
        })
    });
}

#[test]
fn dates_timestamps_and_intervals_round_trip_with_the_servers_text() {
    // PostgreSQL's ranges: dates 4714-11-24 BC to 5874897-12-31, timestamps to 294276 AD.
    let dates = prop::collection::vec((-2_451_545i32..=2_145_031_948).prop_map(Date), 1..10);
    let stamps = prop::collection::vec(
        (-211_813_488_000_000_000i64..9_223_371_331_200_000_000).prop_map(Timestamp),
        1..10,
    );
    let intervals = prop::collection::vec(
        (any::<i32>(), any::<i32>(), any::<i64>()).prop_map(|(months, days, microseconds)| {
            Interval {
                months,
                days,
                microseconds,
            }
        }),
        0..10,
    );
    run(
        (dates, stamps, intervals),
        |conn, (dates, stamps, intervals)| {
            Box::pin(async move {
                conn.batch_execute("SET DateStyle = 'ISO, YMD'")
                    .await
                    .unwrap();
                let rows = conn
                .query("SELECT x, x::text FROM unnest($1::date[]) WITH ORDINALITY AS u(x, i) ORDER BY i", &[&dates])
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                for (v, r) in dates.iter().zip(&rows) {
                    prop_assert_eq!(&r.get::<_, Date>(0).unwrap(), v);
                    prop_assert_eq!(r.get::<_, &str>(1).unwrap(), v.to_string());
                }
                let rows = conn
                .query("SELECT x, x::text FROM unnest($1::timestamp[]) WITH ORDINALITY AS u(x, i) ORDER BY i", &[&stamps])
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                for (v, r) in stamps.iter().zip(&rows) {
                    prop_assert_eq!(&r.get::<_, Timestamp>(0).unwrap(), v);
                    prop_assert_eq!(r.get::<_, &str>(1).unwrap(), v.to_string());
                }
                let back: Vec<Interval> = conn
                    .query_one("SELECT $1::interval[]", &[&intervals])
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                    .get(0)
                    .unwrap();
                prop_assert_eq!(back, intervals);
                Ok(())
            })
        },
    );
}

#[test]
fn uuids_json_inet_and_bits_round_trip() {
    let ip = prop_oneof![
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, p)| Inet::new(IpAddr::V4(Ipv4Addr::from(a)), p).unwrap()),
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, p)| Inet::new(IpAddr::V6(Ipv6Addr::from(a)), p).unwrap()),
    ];
    let json = prop::collection::vec((any::<String>(), any::<i32>(), any::<bool>()), 0..6)
        .prop_map(|kv| {
            let mut m = serde_json::Map::new();
            for (k, n, b) in kv {
                let k = k.replace('\0', "");
                m.insert(k.clone(), serde_json::json!([n, b, k]));
            }
            serde_json::Value::Object(m)
        });
    let strategy = (
        prop::collection::vec(any::<u128>().prop_map(Uuid::from_u128), 0..10),
        json,
        prop::collection::vec(ip, 0..10),
        prop::collection::vec(any::<bool>(), 0..100).prop_map(BitString::from_bools),
    );
    run(strategy, |conn, (uuids, json, ips, bits)| {
        Box::pin(async move {
            let row = conn
                .query_one(
                    "SELECT $1::uuid[], $2::jsonb, $2::json, $3::inet[], $4::varbit",
                    &[&uuids, &json, &ips, &bits],
                )
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(row.get::<_, Vec<Uuid>>(0).unwrap(), uuids);
            prop_assert_eq!(&row.get::<_, serde_json::Value>(1).unwrap(), &json);
            prop_assert_eq!(&row.get::<_, serde_json::Value>(2).unwrap(), &json);
            prop_assert_eq!(row.get::<_, Vec<Inet>>(3).unwrap(), ips);
            prop_assert_eq!(row.get::<_, BitString>(4).unwrap(), bits);
            Ok(())
        })
    });
}

#[test]
fn ranges_agree_with_the_server_on_membership() {
    let bound = |v: i64, kind: u8| match kind {
        0 => Bound::Included(v),
        1 => Bound::Excluded(v),
        _ => Bound::Unbounded,
    };
    let strategy = (
        any::<i32>(),
        any::<i32>(),
        0u8..3,
        0u8..3,
        prop::collection::vec(any::<i32>(), 1..10),
    )
        .prop_map(move |(a, b, ka, kb, probes)| {
            let (lo, hi) = (i64::from(a.min(b)), i64::from(a.max(b)));
            let n = |v: i64| Numeric::from(v);
            let r = Range::new(bound(lo, ka), bound(hi, kb));
            let nr = Range::new(
                match r.clone() {
                    Range::Bounded { lower, .. } => lower.map(n),
                    Range::Empty => Bound::Unbounded,
                },
                match r.clone() {
                    Range::Bounded { upper, .. } => upper.map(n),
                    Range::Empty => Bound::Unbounded,
                },
            );
            (r, nr, probes.into_iter().map(i64::from).collect::<Vec<_>>())
        });
    run(strategy, |conn, (r, nr, probes)| {
        Box::pin(async move {
            let rows = conn
                .query(
                    "SELECT p, $1::int8range @> p, $2::numrange @> p::numeric, $1::int8range, $2::numrange \
                     FROM unnest($3::int8[]) p",
                    &[&r, &nr, &probes],
                )
                .await;
            let rows = match rows {
                Ok(rows) => rows,
                // (x, x) and the like are refused by numrange as lower > upper never happens;
                // an empty numrange like (5,5) is accepted. Any other error is a failure.
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            };
            for row in rows {
                let p: i64 = row.get(0).unwrap();
                let back: Range<i64> = row.get(3).unwrap();
                prop_assert_eq!(row.get::<_, bool>(1).unwrap(), r.contains(&p));
                prop_assert_eq!(back.contains(&p), r.contains(&p));
                let nback: Range<Numeric> = row.get(4).unwrap();
                prop_assert_eq!(
                    row.get::<_, bool>(2).unwrap(),
                    nr.contains(&Numeric::from(p))
                );
                prop_assert_eq!(
                    nback.contains(&Numeric::from(p)),
                    nr.contains(&Numeric::from(p))
                );
            }
            Ok(())
        })
    });
}
