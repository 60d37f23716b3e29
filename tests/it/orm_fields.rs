//! Custom and built-in "spec" fields against a real server: arrays (ArrayField), JSON
//! (JSONField), Money (MoneyField) and a user-defined CustomField, round trips and errors.

use hyperdjango_orm::custom_field::Money;
use hyperdjango_orm::prelude::*;
use hyperdjango_orm::{CustomField, Error, custom_field};
use hyperdjango_pgwire::types::Json;
use rust_decimal::Decimal;

use crate::orm_test;

/// A temperature kept in Celsius, stored as integer tenths of a degree.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Celsius(pub f64);

impl CustomField for Celsius {
    type Db = i32;
    fn db_type() -> &'static str {
        "INTEGER"
    }
    fn to_db_value(&self) -> Result<i32, String> {
        if self.0 < -273.15 {
            return Err(format!("{} °C is below absolute zero", self.0));
        }
        Ok((self.0 * 10.0).round() as i32)
    }
    fn from_db_value(v: i32) -> Result<Self, String> {
        if v < -2732 {
            return Err(format!("{v} tenths of a degree is below absolute zero"));
        }
        Ok(Celsius(f64::from(v) / 10.0))
    }
}
custom_field!(Celsius);

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Specs {
    pub cpu: String,
    pub ram_gb: u32,
    pub ports: Vec<String>,
}

model! {
    #[table = "cf_products"]
    #[derive(Debug, Clone)]
    pub struct CfProduct {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub name: String,
        pub tags: Vec<String>,
        pub scores: Vec<i32> = Field::new().blank(true),
        pub history: Option<Vec<f64>>,
        pub attributes: serde_json::Value = Field::new().default(serde_json::json!({})),
        pub specs: Json<Specs>,
        pub price: Money,
        pub storage_temp: Celsius,
        pub max_temp: Option<Celsius>,
    }
}

#[tokio::test]
async fn spec_fields_round_trip_and_refuse_bad_values_clearly() {
    orm_test!([CfProduct], async {
        let ddl = hyperdjango_orm::ddl::create_table_sql::<CfProduct>()[0].clone();
        for col in [
            r#""tags" TEXT[] NOT NULL"#,
            r#""scores" INTEGER[] NOT NULL"#,
            r#""history" DOUBLE PRECISION[],"#,
            r#""attributes" JSONB NOT NULL"#,
            r#""price" NUMERIC(12, 2) NOT NULL"#,
            r#""storage_temp" INTEGER NOT NULL"#,
        ] {
            assert!(ddl.contains(col), "{col} in {ddl}");
        }
        let mut p = CfProduct::objects()
            .create(CfProduct {
                name: "Laptop".into(),
                tags: vec![
                    "electronics".into(),
                    "sale".into(),
                    "ünïcode, \"quoted\"".into(),
                ],
                scores: vec![3, -1, 0],
                history: Some(vec![1.5, f64::INFINITY]),
                attributes: serde_json::json!({"cpu": "M4", "ram_gb": 32}),
                specs: Json(Specs {
                    cpu: "M4".into(),
                    ram_gb: 32,
                    ports: vec!["usb-c".into(), "hdmi".into()],
                }),
                price: Money(Decimal::new(199_995, 3)), // 199.995 -> 200.00
                storage_temp: Celsius(-18.04),
                max_temp: None,
                ..Default::default()
            })
            .await
            .unwrap();
        let back = CfProduct::objects()
            .get(CfProduct::id.eq(p.id))
            .await
            .unwrap();
        assert_eq!(back.tags, p.tags);
        assert_eq!(back.scores, [3, -1, 0]);
        assert_eq!(back.history, Some(vec![1.5, f64::INFINITY]));
        assert_eq!(back.attributes["cpu"], "M4");
        assert_eq!(back.specs.0, p.specs.0);
        assert_eq!(
            back.price,
            Money(Decimal::new(20_000, 2)),
            "rounded to cents"
        );
        assert_eq!(back.storage_temp, Celsius(-18.0));
        assert_eq!(back.max_temp, None);
        // Arrays are compared whole in lookups.
        let n = CfProduct::objects()
            .filter(CfProduct::scores.eq(vec![3, -1, 0]))
            .count()
            .await
            .unwrap();
        assert_eq!(n, 1);

        // A value to_db_value refuses: an error naming the Rust type, nothing written.
        p.storage_temp = Celsius(-300.0);
        let err = p.save().await.unwrap_err().to_string();
        assert!(
            err.contains("Celsius::to_db_value") && err.contains("absolute zero"),
            "{err}"
        );
        // Money that does not fit NUMERIC(12, 2).
        p.storage_temp = Celsius(4.0);
        p.price = Money(Decimal::new(99_999_999_999, 0));
        let err = p.save().await.unwrap_err().to_string();
        assert!(err.contains("does not fit NUMERIC(12, 2)"), "{err}");
        // A stored value from_db_value refuses: a decoding error naming the column.
        CfProduct::objects()
            .update(CfProduct::name.set("x".to_string()))
            .await
            .unwrap();
        hyperdjango_orm::ddl::execute_batch("UPDATE cf_products SET storage_temp = -5000")
            .await
            .unwrap();
        let err = CfProduct::objects()
            .get(CfProduct::id.eq(p.id))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("storage_temp") && err.contains("below absolute zero"),
            "{err}"
        );
    });
}

model! {
    /// The 2005 reference's unique_for_date / unique_for_month.
    #[table = "uf_posts"]
    #[derive(Debug, Clone)]
    pub struct UfPost {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub title: String = Field::new().unique_for_date("pub_date"),
        pub slug: String = Field::new().unique_for_month("pub_date"),
        pub pub_date: chrono::DateTime<chrono::Utc>,
    }
}

#[tokio::test]
async fn unique_for_date_and_month_are_validated() {
    orm_test!([UfPost], async {
        let at = |d: u32| {
            chrono::DateTime::parse_from_rfc3339(&format!("2026-03-{d:02}T10:00:00Z"))
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let mut first = UfPost {
            title: "Hello".into(),
            slug: "hello".into(),
            pub_date: at(5),
            ..Default::default()
        };
        first.full_clean().await.unwrap();
        first.save().await.unwrap();
        // Same title the same day, same slug the same month: both refused, per field.
        let clash = UfPost {
            title: "Hello".into(),
            slug: "hello".into(),
            pub_date: at(5),
            ..Default::default()
        };
        let err = clash.full_clean().await.unwrap_err();
        let Error::Validation(v) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(v.get("title"), ["Title must be unique for Pub date date."]);
        assert_eq!(v.get("slug"), ["Slug must be unique for Pub date month."]);
        // Another day of the same month: only the slug clashes.
        let next_day = UfPost {
            title: "Hello".into(),
            slug: "hello".into(),
            pub_date: at(6),
            ..Default::default()
        };
        let err = next_day.full_clean().await.unwrap_err().to_string();
        assert!(err.contains("slug") && !err.contains("title"), "{err}");
        // The saved row does not clash with itself.
        first.full_clean().await.unwrap();
    });
}
