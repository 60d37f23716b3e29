//! The quick-start demo: connects to `HYPER_DATABASE_URL` if it is set, otherwise starts a
//! throwaway PostgreSQL server in a temporary directory (removed when the demo exits), then
//! shows queries with binary parameters, prepared statements and SQLSTATE error handling,
//! then the ORM on the spec's Product model: create, save, refresh, filter, the string
//! form, DoesNotExist, MultipleObjectsReturned and delete.
//!
//! Run it with `cargo run --example quickstart`.

use chrono::{DateTime, Utc};
use hyperdjango::orm::prelude::*;
use hyperdjango::{Connection, SqlState};

mod support;

model! {
    /// The spec's Product (in its own table, so the demo never touches a real `products`).
    #[table = "quickstart_products"]
    #[meta = Meta::new().ordering(["name"])]
    #[derive(Debug, Clone)]
    struct Product {
        id: Auto<i32> = Field::new().primary_key(),
        name: String = Field::new().max_length(200),
        sku: String = Field::new().unique().index(),
        price: f64 = Field::new().default(0.0).ge(0.0),
        stock: i32 = Field::new().default(0),
        is_active: bool = Field::new().default(true),
        weight_kg: Option<f64>,
        created_at: Option<DateTime<Utc>> = Field::new().auto_now_add(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep `server` alive until the end of main: dropping it stops a throwaway server.
    let server = support::server()?;
    let url = server.url.clone();

    let mut conn = Connection::connect_url(&url).await?;
    println!(
        "connected to PostgreSQL {} (backend pid {})",
        conn.parameter("server_version").unwrap_or("?"),
        conn.process_id()
    );

    conn.batch_execute(
        "CREATE TEMP TABLE products (
             id serial PRIMARY KEY,
             sku text UNIQUE NOT NULL,
             name text NOT NULL,
             price float8 NOT NULL CHECK (price >= 0),
             weight_kg float8
         )",
    )
    .await?;

    // Parameters travel in binary with their types declared: no quoting, no injection.
    let insert = conn
        .prepare("INSERT INTO products (sku, name, price, weight_kg) VALUES ($1, $2, $3, $4)")
        .await?;
    for (sku, name, price, weight) in [
        ("W-1", "Widget", 9.5, Some(0.25)),
        ("G-7", "Gadget", 24.0, None),
        ("S-3", "Sprocket", 3.75, Some(0.1)),
    ] {
        conn.execute(&insert, &[&sku, &name, &price, &weight])
            .await?;
    }

    println!("\nproducts under 10.00:");
    for row in conn
        .query(
            "SELECT sku, name, price, weight_kg FROM products WHERE price < $1 ORDER BY name",
            &[&10.0f64],
        )
        .await?
    {
        let sku: &str = row.get("sku")?;
        let name: &str = row.get("name")?;
        let price: f64 = row.get("price")?;
        let weight: Option<f64> = row.get("weight_kg")?;
        println!(
            "  {sku:<4} {name:<10} {price:>6.2}  {}",
            weight.map_or("-".into(), |w| format!("{w} kg"))
        );
    }

    // Errors are classified by SQLSTATE, never by message text.
    match conn
        .execute(&insert, &[&"W-1", &"Widget again", &1.0f64, &None::<f64>])
        .await
    {
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            let db = e.as_db_error().expect("a server error");
            println!(
                "\nduplicate SKU refused: constraint {:?}, {}",
                db.constraint().unwrap_or("?"),
                db.detail().unwrap_or("")
            );
        }
        other => println!("\nunexpected: {other:?}"),
    }

    // A wrong Rust type is an error that names the column and both types.
    let row = conn
        .query_one("SELECT count(*) AS n FROM products", &[])
        .await?;
    if let Err(e) = row.get::<_, i32>("n") {
        println!("reading count(*) as i32: {e}");
    }
    println!("reading count(*) as i64: {}", row.get::<_, i64>("n")?);

    conn.close().await?;

    orm_demo(&url).await?;
    Ok(())
}

async fn orm_demo(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n--- the ORM ---");
    hyperdjango::orm::register_database("default", support::pool(url)?);
    hyperdjango::orm::ddl::create_table::<Product>(true).await?;

    // create
    let mut widget = Product::objects()
        .create(Product {
            name: "Widget".into(),
            sku: "W-1".into(),
            price: 9.5,
            ..Default::default()
        })
        .await?;
    println!(
        "created {} (id {}, created at {:?})",
        widget.name, widget.id, widget.created_at
    );
    let new = Product {
        name: "Gadget".into(),
        sku: "G-7".into(),
        price: 24.0,
        ..Default::default()
    };
    println!("an unsaved instance has no key: {}", new.id);
    let mut gadget = new;
    gadget.save().await?; // INSERT: the key was unsaved
    Product::objects()
        .bulk_create(
            vec![
                Product {
                    name: "Sprocket".into(),
                    sku: "S-3".into(),
                    price: 3.75,
                    weight_kg: Some(0.1),
                    ..Default::default()
                },
                Product {
                    name: "Sprocket XL".into(),
                    sku: "S-4".into(),
                    price: 3.75,
                    ..Default::default()
                },
            ],
            Default::default(),
        )
        .await?;

    // save: UPDATE, since the instance is saved
    widget.price = 8.0;
    widget.save().await?;

    // refresh: another writer changed the row
    Product::objects()
        .filter(Product::id.eq(widget.id))
        .update(Product::stock.set(F(Product::stock) + 5))
        .await?;
    widget.refresh_from_db().await?;
    println!(
        "after refresh: {} has {} in stock at {:.2}",
        widget.name, widget.stock, widget.price
    );

    // filter with typed handles (a misspelt field or a wrong type does not compile)
    let cheap = Product::objects()
        .filter(Product::price.lt(10.0) & Product::is_active.eq(true))
        .order_by(Product::name.desc())
        .limit(10)
        .all()
        .await?;
    println!(
        "cheap, by name descending: {:?}",
        cheap.iter().map(|p| p.name.as_str()).collect::<Vec<_>>()
    );
    // and the Django string form, checked at run time
    let n = Product::objects()
        .filter(q("name__icontains", "sprock")?)
        .count()
        .await?;
    println!("name__icontains=sprock: {n}");
    match q::<Product>("nmae__icontains", "x") {
        Err(e) => println!("a misspelt field in the string form: {e}"),
        Ok(_) => unreachable!(),
    }
    let (sql, params) = Product::objects()
        .filter(Product::weight_kg.eq(None))
        .to_sql()?;
    println!("to_sql: {sql} ({} parameters)", params.len());

    // DoesNotExist and MultipleObjectsReturned, matched per model
    match Product::objects().get(Product::sku.eq("nope")).await {
        Err(e) if e.is_does_not_exist::<Product>() => println!("DoesNotExist: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    match Product::objects().get(Product::price.eq(3.75)).await {
        Err(e) if e.is_multiple_objects_returned::<Product>() => {
            println!("MultipleObjectsReturned: {e}")
        }
        other => println!("unexpected: {other:?}"),
    }

    // delete
    let (n, per_model) = gadget.delete().await?;
    println!(
        "deleted {n} row(s): {per_model:?}; {} products left",
        Product::objects().count().await?
    );

    hyperdjango::orm::ddl::drop_table::<Product>().await?;
    Ok(())
}
