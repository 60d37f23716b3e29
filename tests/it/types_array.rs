//! Arrays: one and many dimensions, NULL elements, lower bounds, empty arrays.

use chrono::NaiveDate;
use hyperdjango_pgwire::types::{Array, Dimension, Numeric};
use uuid::Uuid;

use crate::common::*;

#[tokio::test]
async fn one_dimensional_arrays_with_nulls_and_empty() {
    let mut conn = connect().await;
    round_trip(
        &mut conn,
        "int4[]",
        &[vec![1i32, i32::MIN, i32::MAX], vec![]],
    )
    .await;
    round_trip(
        &mut conn,
        "int8[]",
        &[vec![Some(1i64), None, Some(-1)], vec![None]],
    )
    .await;
    round_trip(
        &mut conn,
        "text[]",
        &[vec![
            "".to_string(),
            "a,b".into(),
            "{}".into(),
            "\"q\"".into(),
            "NULL".into(),
            "é".into(),
        ]],
    )
    .await;
    round_trip(&mut conn, "float8[]", &[vec![f64::INFINITY, -0.0, 1.5]]).await;
    round_trip(&mut conn, "bool[]", &[vec![true, false]]).await;
    round_trip(&mut conn, "bytea[]", &[vec![vec![0u8, 255], vec![]]]).await;
    round_trip(&mut conn, "uuid[]", &[vec![Uuid::nil(), Uuid::max()]]).await;
    round_trip(
        &mut conn,
        "date[]",
        &[vec![
            Some(NaiveDate::from_ymd_opt(2020, 2, 29).unwrap()),
            None,
        ]],
    )
    .await;
    round_trip(
        &mut conn,
        "numeric[]",
        &[vec!["1.5".parse::<Numeric>().unwrap(), Numeric::NAN]],
    )
    .await;
    round_trip(
        &mut conn,
        "jsonb[]",
        &[vec![serde_json::json!({"a": [1]}), serde_json::json!(null)]],
    )
    .await;
    // &[T] and &str elements.
    let row = conn
        .query_one(
            "SELECT $1::text[], array_length($2::int2[], 1)",
            &[&&["x", "y"][..], &vec![1i16, 2, 3]],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<&str>>(0).unwrap(), ["x", "y"]);
    assert_eq!(row.get::<_, i32>(1).unwrap(), 3);
    // NULL elements into Vec<T> are an error naming the element; Vec<Option<T>> reads them.
    let row = conn
        .query_one("SELECT ARRAY[1, NULL, 3] AS a", &[])
        .await
        .unwrap();
    let e = row.get::<_, Vec<i32>>("a").unwrap_err().to_string();
    assert!(e.contains("\"a\"") || e.contains("a"), "{e}");
    assert!(e.contains("element 2") && e.contains("NULL"), "{e}");
    assert_eq!(
        row.get::<_, Vec<Option<i32>>>("a").unwrap(),
        [Some(1), None, Some(3)]
    );
    // Wrong element type.
    let e = row.get::<_, Vec<bool>>("a").unwrap_err().to_string();
    assert!(e.contains("int4[]"), "{e}");
}

#[tokio::test]
async fn multi_dimensional_arrays_with_lower_bounds() {
    let mut conn = connect().await;
    let row = conn
        .query_one(
            "SELECT '[0:1][1:1][-1:0]={{{1,2}},{{3,NULL}}}'::int[], '{}'::int[], ARRAY[[1,2],[3,4]], \
             array_lower('[5:6]={7,8}'::int[], 1)",
            &[],
        )
        .await
        .unwrap();
    let a: Array<Option<i32>> = row.get(0).unwrap();
    assert_eq!(
        a.dimensions(),
        [
            Dimension {
                len: 2,
                lower_bound: 0
            },
            Dimension {
                len: 1,
                lower_bound: 1
            },
            Dimension {
                len: 2,
                lower_bound: -1
            }
        ]
    );
    assert_eq!(a.elements(), [Some(1), Some(2), Some(3), None]);
    assert_eq!(a.get(&[1, 1, -1]), Some(&Some(3)));
    let empty: Array<i32> = row.get(1).unwrap();
    assert!(empty.dimensions().is_empty() && empty.elements().is_empty());
    let e = row.get::<_, Vec<i32>>(2).unwrap_err().to_string();
    assert!(e.contains("Array"), "{e}");
    // Round trip of a 3-dimensional array with lower bounds through the server.
    let back: Array<Option<i32>> = echo(&mut conn, "int4[]", &a).await;
    assert_eq!(back, a);
    let row = conn
        .query_one("SELECT array_dims($1::int4[]), $1::int4[]::text", &[&a])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0).unwrap(), "[0:1][1:1][-1:0]");
    assert_eq!(
        row.get::<_, &str>(1).unwrap(),
        "[0:1][1:1][-1:0]={{{1,2}},{{3,NULL}}}"
    );
    let texts = Array::new(
        vec![
            Dimension {
                len: 2,
                lower_bound: 1,
            },
            Dimension {
                len: 2,
                lower_bound: 1,
            },
        ],
        vec!["a", "b", "c", "d"]
            .into_iter()
            .map(String::from)
            .collect(),
    )
    .unwrap();
    assert_eq!(echo(&mut conn, "text[]", &texts).await, texts);
}
