//! Dates, times, timestamps and intervals, exact and through chrono.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use hyperdjango_pgwire::types::time::Infinite;
use hyperdjango_pgwire::types::{Date, Interval, Time, TimeTz, Timestamp, TimestampTz};

use crate::common::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[tokio::test]
async fn dates_from_4713_bc_to_5874897_ad() {
    let mut conn = connect().await;
    let rows = conn
        .query(
            "SELECT d, d::text FROM unnest(ARRAY['4714-11-24 BC', '0001-01-01 BC', '0001-01-01', \
             '1999-12-31', '2000-01-01', '2000-02-29', '2024-02-29', '5874897-12-31', \
             'infinity', '-infinity']::date[]) d",
            &[],
        )
        .await
        .unwrap();
    let mut exact = Vec::new();
    for r in &rows {
        let d: Date = r.get(0).unwrap();
        assert_eq!(d.to_string(), r.get::<_, &str>(1).unwrap());
        exact.push(d);
    }
    round_trip(&mut conn, "date", &exact).await;
    assert_eq!(exact.last(), Some(&Date::NEG_INFINITY));
    // chrono: 4713 BC is year -4712 and round-trips; 5874897 AD is beyond chrono.
    round_trip(
        &mut conn,
        "date",
        &[date(-4713, 11, 24), date(1, 1, 1), date(2024, 2, 29)],
    )
    .await;
    let e = rows[7].get::<_, NaiveDate>(0).unwrap_err().to_string();
    assert!(e.contains("chrono") && e.contains("range"), "{e}");
    let e = rows[8].get::<_, NaiveDate>(0).unwrap_err().to_string();
    assert!(e.contains("infinite") && e.contains("Infinite"), "{e}");
    assert_eq!(
        rows[8].get::<_, Infinite<NaiveDate>>(0).unwrap(),
        Infinite::Infinity
    );
    round_trip(
        &mut conn,
        "date",
        &[
            Infinite::Infinity,
            Infinite::NegInfinity,
            Infinite::Value(date(1970, 1, 1)),
        ],
    )
    .await;
    // A date before 4713 BC is refused by the server, never wrapped around.
    let too_early = date(-5000, 1, 1);
    assert!(
        conn.query_one("SELECT $1::date", &[&too_early])
            .await
            .is_err()
    );
    assert_eq!(
        conn.query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0)
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn timestamps_to_294276_ad_and_infinity() {
    let mut conn = connect().await;
    let rows = conn
        .query(
            "SELECT t, t::text FROM unnest(ARRAY['4714-11-24 00:00:00 BC', '1999-12-31 23:59:59.999999', \
             '2000-01-01 00:00:00', '2038-01-19 03:14:08.5', '294276-12-31 23:59:59.999999', \
             'infinity', '-infinity']::timestamp[]) t",
            &[],
        )
        .await
        .unwrap();
    let mut exact = Vec::new();
    for r in &rows {
        let t: Timestamp = r.get(0).unwrap();
        assert_eq!(t.to_string(), r.get::<_, &str>(1).unwrap());
        exact.push(t);
    }
    round_trip(&mut conn, "timestamp", &exact).await;
    let e = rows[4].get::<_, NaiveDateTime>(0).unwrap_err().to_string();
    assert!(e.contains("chrono"), "{e}");
    let chrono_values = [
        date(-4713, 11, 24).and_hms_opt(0, 0, 0).unwrap(),
        date(2038, 1, 19)
            .and_hms_micro_opt(3, 14, 8, 500_000)
            .unwrap(),
        date(262_142, 12, 31)
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .unwrap(),
    ];
    round_trip(&mut conn, "timestamp", &chrono_values).await;
    assert_eq!(
        rows[1].get::<_, NaiveDateTime>(0).unwrap(),
        date(1999, 12, 31)
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .unwrap()
    );
    // Nanoseconds would be truncated: an error instead.
    let nanos = date(2020, 1, 1).and_hms_nano_opt(0, 0, 0, 1).unwrap();
    let e = conn
        .query_one("SELECT $1::timestamp", &[&nanos])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("nanoseconds"), "{e}");
    round_trip(
        &mut conn,
        "timestamp",
        &[Infinite::<NaiveDateTime>::Infinity],
    )
    .await;
}

#[tokio::test]
async fn timestamptz_is_utc_whatever_the_session_time_zone() {
    let mut conn = connect().await;
    conn.batch_execute("SET TIME ZONE 'America/New_York'")
        .await
        .unwrap();
    let row = conn
        .query_one(
            "SELECT '2024-03-10 01:30:00-05'::timestamptz, '2024-07-01 12:00:00+02'::timestamptz, \
             '2024-07-01 12:00:00+02'::timestamptz::text",
            &[],
        )
        .await
        .unwrap();
    let a: DateTime<Utc> = row.get(0).unwrap();
    assert_eq!(a, Utc.with_ymd_and_hms(2024, 3, 10, 6, 30, 0).unwrap());
    let b: DateTime<FixedOffset> = row.get(1).unwrap();
    assert_eq!(b, Utc.with_ymd_and_hms(2024, 7, 1, 10, 0, 0).unwrap());
    assert_eq!(row.get::<_, &str>(2).unwrap(), "2024-07-01 06:00:00-04");
    let tokyo = FixedOffset::east_opt(9 * 3600)
        .unwrap()
        .with_ymd_and_hms(2024, 1, 1, 9, 0, 0)
        .unwrap();
    let row = conn
        .query_one(
            "SELECT $1::timestamptz = '2024-01-01 00:00:00+00', $1::timestamptz::text",
            &[&tokyo],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0).unwrap());
    assert_eq!(row.get::<_, &str>(1).unwrap(), "2023-12-31 19:00:00-05");
    round_trip(
        &mut conn,
        "timestamptz",
        &[TimestampTz::INFINITY, TimestampTz(-1), TimestampTz(0)],
    )
    .await;
    round_trip(
        &mut conn,
        "timestamptz",
        &[Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap()],
    )
    .await;
}

#[tokio::test]
async fn times_timetz_and_intervals() {
    let mut conn = connect().await;
    round_trip(
        &mut conn,
        "time",
        &[
            NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
            NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap(),
        ],
    )
    .await;
    let row = conn
        .query_one(
            "SELECT '24:00:00'::time, '12:34:56.789+05:30'::timetz, '00:00:00-11:15:07'::timetz",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Time>(0).unwrap(), Time(86_400_000_000));
    assert!(
        row.get::<_, NaiveTime>(0).is_err(),
        "24:00 has no NaiveTime"
    );
    let tz: TimeTz = row.get(1).unwrap();
    assert_eq!(
        tz,
        TimeTz {
            time: Time(45_296_789_000),
            utc_offset: 19_800
        }
    );
    assert_eq!(tz.to_string(), "12:34:56.789+05:30");
    let west: TimeTz = row.get(2).unwrap();
    assert_eq!(west.utc_offset, -(11 * 3600 + 15 * 60 + 7));
    round_trip(&mut conn, "timetz", &[tz, west]).await;

    let row = conn
        .query_one(
            "SELECT '1 year 2 mons 3 days 04:05:06.000007'::interval, '-1 mon +1 day -1 us'::interval, \
             '2024-03-31'::timestamp + $1::interval",
            &[&Interval { months: 1, days: 0, microseconds: 0 }],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Interval>(0).unwrap(),
        Interval {
            months: 14,
            days: 3,
            microseconds: 14_706_000_007
        }
    );
    assert_eq!(
        row.get::<_, Interval>(1).unwrap(),
        Interval {
            months: -1,
            days: 1,
            microseconds: -1
        }
    );
    // A month is a calendar month: March 31 + 1 month = April 30.
    assert_eq!(
        row.get::<_, NaiveDateTime>(2).unwrap(),
        date(2024, 4, 30).and_hms_opt(0, 0, 0).unwrap()
    );
    round_trip(
        &mut conn,
        "interval",
        &[
            Interval {
                months: i32::MAX,
                days: i32::MIN,
                microseconds: i64::MAX - 1,
            },
            Interval::default(),
        ],
    )
    .await;
}

#[tokio::test]
async fn time_types_are_checked() {
    let mut conn = connect().await;
    let row = conn
        .query_one("SELECT now() AS at, current_date AS day", &[])
        .await
        .unwrap();
    let e = row.get::<_, NaiveDateTime>("at").unwrap_err().to_string();
    assert!(
        e.contains("timestamptz") && e.contains("NaiveDateTime"),
        "{e}"
    );
    let e = row.get::<_, DateTime<Utc>>("day").unwrap_err().to_string();
    assert!(e.contains("date") && e.contains("DateTime"), "{e}");
    let _: DateTime<Utc> = row.get("at").unwrap();
    let _: NaiveDate = row.get("day").unwrap();
}
