//! Ranges and multiranges over int4, int8, numeric, timestamp, timestamptz and date.

use std::ops::Bound::{Excluded, Included, Unbounded};

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use hyperdjango_pgwire::types::{Multirange, Numeric, Range};

use crate::common::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[tokio::test]
async fn ranges_round_trip_with_every_bound_kind() {
    let mut conn = connect().await;
    round_trip(
        &mut conn,
        "int4range",
        &[
            Range::Empty,
            Range::new(Included(1i32), Excluded(10)),
            Range::new(Unbounded, Excluded(i32::MIN + 1)),
            Range::new(Included(0), Unbounded),
            Range::new(Unbounded, Unbounded),
        ],
    )
    .await;
    round_trip(
        &mut conn,
        "int8range",
        &[Range::new(Included(i64::MIN), Excluded(i64::MAX))],
    )
    .await;
    let n = |s: &str| s.parse::<Numeric>().unwrap();
    round_trip(
        &mut conn,
        "numrange",
        &[
            Range::new(Excluded(n("-1.5")), Included(n("2.25"))),
            Range::new(Included(n("0")), Unbounded),
        ],
    )
    .await;
    round_trip(
        &mut conn,
        "daterange",
        &[Range::new(Included(d(2024, 1, 1)), Excluded(d(2024, 2, 1)))],
    )
    .await;
    let ts = |h| d(2024, 1, 1).and_hms_opt(h, 0, 0).unwrap();
    round_trip(
        &mut conn,
        "tsrange",
        &[Range::<NaiveDateTime>::new(
            Excluded(ts(1)),
            Included(ts(2)),
        )],
    )
    .await;
    let tz = |h| Utc.with_ymd_and_hms(2024, 1, 1, h, 0, 0).unwrap();
    round_trip(
        &mut conn,
        "tstzrange",
        &[Range::<DateTime<Utc>>::new(Included(tz(1)), Unbounded)],
    )
    .await;
}

#[tokio::test]
async fn the_server_normalises_discrete_ranges() {
    let mut conn = connect().await;
    let row = conn
        .query_one(
            "SELECT '[1,3]'::int4range, '(1,2)'::int4range, 'empty'::daterange, \
             int8range(5, NULL), $1::int4range @> 4",
            &[&Range::new(Included(1i32), Included(5))],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Range<i32>>(0).unwrap(),
        Range::new(Included(1), Excluded(4))
    );
    assert_eq!(row.get::<_, Range<i32>>(1).unwrap(), Range::Empty);
    assert_eq!(row.get::<_, Range<NaiveDate>>(2).unwrap(), Range::Empty);
    assert_eq!(
        row.get::<_, Range<i64>>(3).unwrap(),
        Range::new(Included(5), Unbounded)
    );
    assert!(row.get::<_, bool>(4).unwrap());
    let e = row.get::<_, Range<NaiveDate>>(0).unwrap_err().to_string();
    assert!(e.contains("int4range"), "{e}");
}

#[tokio::test]
async fn multiranges() {
    let mut conn = connect().await;
    let m = Multirange(vec![
        Range::new(Included(1i32), Excluded(3)),
        Range::new(Included(5), Excluded(8)),
    ]);
    round_trip(
        &mut conn,
        "int4multirange",
        &[m.clone(), Multirange(vec![])],
    )
    .await;
    let row = conn
        .query_one(
            "SELECT '{[1,3], [2,6), (10,)}'::int8multirange, \
             datemultirange(daterange('2024-01-01', '2024-01-10'), daterange('2024-02-01', NULL)), \
             $1::int4multirange::text",
            &[&m],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Multirange<i64>>(0).unwrap(),
        Multirange(vec![
            Range::new(Included(1), Excluded(6)),
            Range::new(Included(11), Unbounded)
        ])
    );
    let dm: Multirange<NaiveDate> = row.get(1).unwrap();
    assert_eq!(dm.0[1], Range::new(Included(d(2024, 2, 1)), Unbounded));
    assert_eq!(row.get::<_, &str>(2).unwrap(), "{[1,3),[5,8)}");
    let n = Multirange(vec![Range::new(
        Included("0.5".parse::<Numeric>().unwrap()),
        Unbounded,
    )]);
    round_trip(&mut conn, "nummultirange", &[n]).await;
}
