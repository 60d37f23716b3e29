//! A JSON web service with axum: the pool lives in the application state, handlers query
//! through the ORM, ORM errors become HTTP statuses (`DoesNotExist` → 404, `full_clean`'s
//! validation errors → 422, a unique violation from the server → 409), and Ctrl-C shuts
//! the server down gracefully (requests in flight finish first).
//!
//! ```text
//! GET  /health          the pool's status, after a round trip to the server
//! GET  /products        every product, by name
//! POST /products        {"name": "Widget", "sku": "W-1", "price": 9.5} → 201 and the product
//! GET  /products/{id}   one product, or 404
//! ```
//!
//! Uses `HYPER_DATABASE_URL` if it is set, otherwise a throwaway PostgreSQL server.
//! `cargo run --example web_service` serves on 127.0.0.1:3000 (`PORT` to change it) until
//! Ctrl-C; `cargo run --example web_service -- --smoke` serves on a free port, sends itself a
//! few requests, prints the answers, shuts down and exits.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyperdjango::Pool;
use hyperdjango::orm::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod support;

model! {
    #[table = "web_demo_products"]
    #[derive(Debug, Clone)]
    struct Product {
        id: Auto<i64> = Field::new().primary_key(),
        name: String = Field::new().max_length(200),
        sku: String = Field::new().unique(),
        price: f64 = Field::new().ge(0.0),
    }
}

/// A product as the API shows it. (The model stays free of serde: the JSON shape is the
/// API's business, and can differ from the table's.)
#[derive(Serialize)]
struct ProductOut {
    id: i64,
    name: String,
    sku: String,
    price: f64,
}

impl From<Product> for ProductOut {
    fn from(p: Product) -> ProductOut {
        ProductOut {
            id: p.id.get().unwrap_or_default(),
            name: p.name,
            sku: p.sku,
            price: p.price,
        }
    }
}

/// The body of `POST /products`.
#[derive(Deserialize)]
struct NewProduct {
    name: String,
    sku: String,
    price: f64,
}

/// What every handler can reach. The ORM finds its database by alias (registered in
/// `main`); the pool is here too, for what the ORM doesn't cover (raw SQL, status).
#[derive(Clone)]
struct AppState {
    pool: Pool,
}

/// An ORM error as an HTTP response: `{"error": "..."}` with a fitting status.
struct ApiError(hyperdjango::orm::Error);

impl From<hyperdjango::orm::Error> for ApiError {
    fn from(e: hyperdjango::orm::Error) -> ApiError {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use hyperdjango::orm::Error;
        let status = match &self.0 {
            e if e.is_does_not_exist::<Product>() => StatusCode::NOT_FOUND,
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            e if e.is_unique_violation() => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = serde_json::json!({ "error": self.0.to_string() });
        (status, Json(body)).into_response()
    }
}

async fn list_products() -> Result<Json<Vec<ProductOut>>, ApiError> {
    let products = Product::objects().order_by(Product::name).all().await?;
    Ok(Json(products.into_iter().map(ProductOut::from).collect()))
}

async fn create_product(
    Json(new): Json<NewProduct>,
) -> Result<(StatusCode, Json<ProductOut>), ApiError> {
    let mut product = Product {
        name: new.name,
        sku: new.sku,
        price: new.price,
        ..Default::default()
    };
    // As a Django form would: the field validators (max_length, ge) and the uniqueness
    // checks, every error collected per field, before anything is written.
    product.full_clean().await?;
    // The database still has the last word (two requests may race past the unique check):
    // a unique violation from the INSERT becomes 409.
    product.save().await?;
    Ok((StatusCode::CREATED, Json(product.into())))
}

async fn get_product(Path(id): Path<i64>) -> Result<Json<ProductOut>, ApiError> {
    let product = Product::objects().get(Product::id.eq(id)).await?;
    Ok(Json(product.into()))
}

async fn health(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(hyperdjango::orm::Error::Pool)?;
    let row = conn
        .query_one("SELECT version() AS v", &[])
        .await
        .map_err(hyperdjango::orm::Error::Pool)?;
    let version: String = row.get("v").map_err(hyperdjango::orm::Error::Driver)?;
    drop(conn);
    let status = state.pool.status();
    Ok(Json(serde_json::json!({
        "server": version,
        "pool": { "size": status.size, "idle": status.idle },
    })))
}

fn app(pool: Pool) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/products", get(list_products).post(create_product))
        .route("/products/{id}", get(get_product))
        .with_state(AppState { pool })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let server = support::server()?;
    let pool = support::pool(&server.url)?;
    hyperdjango::orm::register_database("default", pool.clone());
    hyperdjango::orm::ddl::execute_batch("DROP TABLE IF EXISTS web_demo_products").await?;
    hyperdjango::orm::ddl::create_table::<Product>(false).await?;

    let addr = if smoke {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok());
        SocketAddr::from(([127, 0, 0, 1], port.unwrap_or(3000)))
    };
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");

    if smoke {
        // Serve in a task, talk to it, then ask it to stop.
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(
            axum::serve(listener, app(pool))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        let outcome = smoke_test(addr).await;
        let _ = stop.send(());
        serving.await??;
        println!("server stopped");
        outcome?;
        println!("web service smoke test passed");
    } else {
        println!(
            "try: curl -s localhost:{0}/products -H 'content-type: application/json' \
             -d '{{\"name\":\"Widget\",\"sku\":\"W-1\",\"price\":9.5}}'\n     \
             curl -s localhost:{0}/products/1\nCtrl-C stops the server",
            addr.port()
        );
        axum::serve(listener, app(pool))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
                println!("\nCtrl-C: finishing requests in flight, then stopping");
            })
            .await?;
    }
    hyperdjango::orm::ddl::execute_batch("DROP TABLE web_demo_products").await?;
    Ok(())
}

/// Real HTTP requests to the running service, each checked for its status.
async fn smoke_test(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    const WIDGET: &str = r#"{"name":"Widget","sku":"W-1","price":9.5}"#;
    const GADGET: &str = r#"{"name":"Gadget","sku":"G-7","price":24.0}"#;
    const SAME_SKU: &str = r#"{"name":"Gizmo","sku":"W-1","price":1.0}"#;
    const NEGATIVE: &str = r#"{"name":"Refund","sku":"R-1","price":-5.0}"#;
    // (method, path, JSON body, the status expected)
    let requests = [
        ("POST", "/products", WIDGET, 201),
        ("POST", "/products", GADGET, 201),
        ("POST", "/products", SAME_SKU, 422),
        ("POST", "/products", NEGATIVE, 422),
        ("GET", "/products", "", 200),
        ("GET", "/products/1", "", 200),
        ("GET", "/products/999", "", 404),
        ("GET", "/health", "", 200),
    ];
    for (method, path, body, want) in requests {
        let (status, answer) = request(addr, method, path, body).await?;
        println!("{method} {path} -> {status} {answer}");
        if status != want {
            return Err(format!("{method} {path}: expected status {want}, got {status}").into());
        }
    }
    Ok(())
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`, so the answer ends
/// when the server closes), with `body` as JSON unless it is empty: the status code and
/// the body of the answer.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), Box<dyn std::error::Error>> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .ok_or("an answer without a blank line after its head")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("a bad status line: {head:?}"))?;
    Ok((status, body.to_owned()))
}
