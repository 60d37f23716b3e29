//! The quick-start demo: connects to `HYPER_DATABASE_URL` if it is set, otherwise starts a
//! throwaway PostgreSQL server in a temporary directory (removed when the demo exits), then
//! shows queries with binary parameters, prepared statements and SQLSTATE error handling.
//!
//! Run it with `cargo run --example quickstart`.

use hyperdjango::pgwire::testing::TestCluster;
use hyperdjango::{Connection, SqlState};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the cluster alive until the end of main; dropping it stops and deletes it.
    let (_cluster, url) = match std::env::var("HYPER_DATABASE_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => {
            println!("HYPER_DATABASE_URL is not set: starting a throwaway PostgreSQL server...");
            let cluster = TestCluster::start()?;
            let url = cluster.url();
            (Some(cluster), url)
        }
    };

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
    Ok(())
}
