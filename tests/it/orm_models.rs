//! Shared ORM test models and the per-test database: each test gets its own schema (on the
//! search path of every connection of its own pool, registered under a unique alias), so
//! tests share model declarations and still run in parallel.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use hyperdjango_orm::prelude::*;
use hyperdjango_pool::Pool;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::common::{cluster, unique};

model! {
    /// The spec's Product.
    #[table = "products"]
    #[meta = Meta::new().ordering(["name"]).get_latest_by("created_at").unique_together(["name", "sku"])]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Product {
        pub id: Auto<i32> = Field::new().primary_key(),
        pub name: String = Field::new().max_length(200),
        pub sku: String = Field::new().unique().index(),
        pub price: f64 = Field::new().default(0.0).ge(0.0),
        pub stock: i32 = Field::new().default(0),
        pub description: String = Field::new().default(String::new()).blank(true),
        pub is_active: bool = Field::new().default(true),
        pub weight_kg: Option<f64> = Field::new(),
        pub created_at: Option<DateTime<Utc>> = Field::new().auto_now_add(),
        pub updated_at: Option<DateTime<Utc>> = Field::new().auto_now(),
    }
}

model! {
    /// Every field type and many options.
    #[table = "everything"]
    #[meta = Meta::new()
        .check("small_before_big", "small <= big")
        .index(["code", "small"])
        .verbose_name("thing")
        .clean(|e: &Everything| {
            let mut errs = ValidationErrors::new();
            if e.code == "forbidden" {
                errs.add(hyperdjango_orm::NON_FIELD_ERRORS, "forbidden code");
            }
            if errs.is_empty() { Ok(()) } else { Err(errs) }
        })]
    #[derive(Debug, Clone)]
    pub struct Everything {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub small: i16 = Field::new(),
        pub big: i64 = Field::new().positive(),
        pub ratio: f64 = Field::new().ge(0.0).le(1.0),
        pub flag: bool = Field::new(),
        pub code: String = Field::new().db_column("the_code").min_length(2).max_length(8).regex("^[a-z]+$"),
        pub status: String = Field::new().choices([("d", "Draft"), ("p", "Published")]).default("d".to_string()),
        pub email: String = Field::new().email().blank(true),
        pub url: String = Field::new().url().blank(true),
        pub slug: String = Field::new().slug().blank(true),
        pub ip: String = Field::new().ip_address().blank(true),
        pub even: i32 = Field::new().validator(|v| if v % 2 == 0 { Ok(()) } else { Err(format!("{v} is odd")) }),
        pub tiny: i32 = Field::new().small(),
        pub day: Option<NaiveDate> = Field::new(),
        pub at: Option<DateTime<Utc>> = Field::new(),
        pub amount: Option<Decimal> = Field::new(),
        pub token: Option<Uuid> = Field::new(),
        pub blob: Vec<u8> = Field::new().blank(true),
        pub doc: Option<serde_json::Value> = Field::new(),
        pub secret: String = Field::new().editable(false).help_text("never validated").verbose_name("secret value"),
    }
}

model! {
    #[table = "orders"]
    #[derive(Debug, Clone)]
    pub struct Order {
        pub id: Auto<i32> = Field::new().primary_key(),
        pub product_id: i32 = Field::new().index(),
        pub quantity: i32 = Field::new().default(1).positive(),
        pub total: f64 = Field::new().default(0.0),
    }
}

model! {
    /// A model with a natural (non-auto) primary key.
    #[table = "tags"]
    #[derive(Debug, Clone)]
    pub struct Tag {
        pub name: String = Field::new().primary_key(),
        pub uses: i32 = Field::new().default(0),
    }
}

/// A pool for this test on a schema of its own, registered under a unique alias.
pub async fn test_db() -> String {
    let alias = unique("orm");
    let mut conn = crate::common::connect().await;
    conn.batch_execute(&format!("CREATE SCHEMA {alias}"))
        .await
        .expect("schema");
    let path: Arc<str> = Arc::from(format!("SET search_path = {alias}, public"));
    let pool = Pool::builder()
        .url(cluster().url())
        .max_size(4)
        .after_connect(move |c| {
            let path = path.clone();
            Box::pin(async move { c.batch_execute(&path).await })
        })
        .build()
        .expect("pool");
    hyperdjango_orm::register_database(&alias, pool);
    alias
}

/// Runs `body` on a fresh database (schema) with the given models' tables created.
#[macro_export]
macro_rules! orm_test {
    ([$($m:ty),*], $body:expr) => {{
        let alias = $crate::orm_models::test_db().await;
        hyperdjango_orm::using_database(&alias, async {
            $( hyperdjango_orm::ddl::create_table::<$m>(false).await.expect("create table"); )*
            $body.await
        })
        .await;
        hyperdjango_orm::unregister_database(&alias);
    }};
}

pub fn product(name: &str, sku: &str, price: f64) -> Product {
    Product {
        name: name.into(),
        sku: sku.into(),
        price,
        ..Default::default()
    }
}
