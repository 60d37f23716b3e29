//! Similarity search with pgvector, on the spec's `Document` with a vector field: the
//! nearest documents to a query, their cosine distances, a distance threshold (typed and
//! in the spec's string form), and the HNSW index the DDL creates serving the search.
//!
//! The embeddings are tiny and made by hand (no model): each of the 4 dimensions scores
//! one topic, `[databases, rust, cooking, travel]`. A real application stores a model's
//! 384 or 1536 numbers the same way.
//!
//! Needs a server with the pgvector extension. Without `HYPER_DATABASE_URL` it starts a
//! throwaway server from the PostgreSQL binaries `HYPER_PG_BIN` names; when that server
//! has no pgvector the example says how to run it and exits successfully. Run it with
//! `HYPER_PG_BIN=/opt/hyperdjango-pg18/pgserver/pginstall/bin cargo run --example document_search`
//! (any PostgreSQL `bin/` directory whose installation has pgvector).

use hyperdjango::orm::prelude::*;
use hyperdjango::orm::vector;

mod support;

model! {
    /// The spec's Document; `embedding` is `vector(4)` with an HNSW index for cosine
    /// distance (`vector_cosine_ops`).
    #[table = "search_demo_documents"]
    #[derive(Debug, Clone)]
    struct Document {
        id: Auto<i64> = Field::new().primary_key(),
        title: String,
        content: String = Field::new().blank(true),
        embedding: Vector = Field::new().dimensions(4).hnsw(VectorOps::Cosine),
    }
}

/// The documents and their hand-made embeddings: `[databases, rust, cooking, travel]`.
const DOCUMENTS: [(&str, [f32; 4]); 7] = [
    ("Tuning PostgreSQL indexes", [0.95, 0.05, 0.0, 0.0]),
    ("Async Rust with tokio", [0.05, 0.95, 0.0, 0.0]),
    ("A PostgreSQL driver in Rust", [0.7, 0.7, 0.0, 0.0]),
    ("Sourdough at home", [0.0, 0.0, 0.95, 0.05]),
    ("Street food in Lisbon", [0.0, 0.0, 0.6, 0.8]),
    ("Packing light for a trip", [0.0, 0.05, 0.0, 0.95]),
    ("Benchmarking a database on a train", [0.6, 0.1, 0.0, 0.5]),
];

/// The hint printed when the server has no pgvector.
const PG18: &str = "/opt/hyperdjango-pg18/pgserver/pginstall/bin";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = support::server()?;
    let pool = support::pool(&server.url)?;

    // pgvector is an extension: check that the server has it before using it.
    let mut conn = pool.acquire().await?;
    let version = conn
        .connection()
        .parameter("server_version")
        .unwrap_or("?")
        .to_owned();
    let available = conn
        .query_opt(
            "SELECT 1 FROM pg_available_extensions WHERE name = $1",
            &[&"vector"],
        )
        .await?
        .is_some();
    drop(conn);
    if !available {
        println!(
            "SKIPPED: this PostgreSQL server (version {version}) has no pgvector extension.\n\
             To run this example, start it on a server that has pgvector, e.g.\n  \
             HYPER_PG_BIN={PG18} cargo run --example document_search\n\
             (or point HYPER_DATABASE_URL at a database where `CREATE EXTENSION vector` works)."
        );
        return Ok(());
    }

    hyperdjango::orm::register_database("default", pool);
    vector::enable_pgvector().await?; // CREATE EXTENSION IF NOT EXISTS vector
    hyperdjango::orm::ddl::execute_batch("DROP TABLE IF EXISTS search_demo_documents").await?;
    // The DDL creates the table and its HNSW index.
    for sql in hyperdjango::orm::ddl::create_table_sql::<Document>() {
        println!("{sql}");
    }
    hyperdjango::orm::ddl::create_table::<Document>(false).await?;

    let docs = DOCUMENTS
        .iter()
        .map(|(title, embedding)| Document {
            title: (*title).into(),
            embedding: Vector(embedding.to_vec()),
            ..Default::default()
        })
        .collect();
    Document::objects()
        .bulk_create(docs, BulkOptions::default())
        .await?;
    println!(
        "\nstored {} documents (PostgreSQL {version})",
        DOCUMENTS.len()
    );

    // The query: "PostgreSQL from Rust" scores high on databases and rust.
    let query = Vector(vec![0.6, 0.8, 0.0, 0.0]);
    println!(
        "\nthe 3 nearest to {:?} (cosine distance, smaller is nearer):",
        query.0
    );
    let nearest = Document::objects()
        .annotate("distance", Document::embedding.cosine_distance(&query))
        .order_by(Document::embedding.cosine_distance(&query))
        .limit(3)
        .all_annotated()
        .await?;
    for (doc, row) in &nearest {
        let distance: f64 = row.get("distance")?;
        println!("  {distance:.3}  {}", doc.title);
    }

    // A threshold: every document within a cosine distance of 0.3, typed ...
    let close = Document::objects()
        .filter(Document::embedding.cosine_within(&query, 0.3))
        .order_by(Document::title)
        .values_list_flat::<String>("title")
        .await?;
    println!("\nwithin cosine distance 0.3: {close:?}");
    // ... or in the spec's string form, `embedding__cosine_distance=(vector, max)`.
    let n = Document::objects()
        .filter(q("embedding__cosine_distance", (query.clone(), 0.3))?)
        .count()
        .await?;
    println!("the same with q(\"embedding__cosine_distance\", (query, 0.3)): {n} documents");

    // Another question, another threshold: what is about travel?
    let travel = Vector(vec![0.0, 0.0, 0.0, 1.0]);
    let about_travel = Document::objects()
        .filter(Document::embedding.cosine_within(&travel, 0.5))
        .order_by(Document::embedding.cosine_distance(&travel))
        .values_list_flat::<String>("title")
        .await?;
    println!("about travel (distance <= 0.5), nearest first: {about_travel:?}");

    // The HNSW index serves `ORDER BY distance LIMIT k`. (This table is tiny, so the
    // planner would rather scan it: switch sequential scans off to show the index plan.)
    let plan = hyperdjango::orm::atomic(async {
        hyperdjango::orm::ddl::execute_batch("SET LOCAL enable_seqscan = off").await?;
        Document::objects()
            .order_by(Document::embedding.cosine_distance(&query))
            .limit(3)
            .explain("")
            .await
    })
    .await?;
    if let Some(line) = plan.lines().find(|l| l.contains("Index Scan")) {
        println!("\nplan: {}", line.trim());
    }

    // A vector of the wrong length is refused before it reaches the server.
    let mut wrong = Document {
        title: "Too short".into(),
        embedding: Vector(vec![1.0, 0.0]),
        ..Default::default()
    };
    match wrong.save().await {
        Err(e) => println!("\nsaving a 2-dimensional embedding: {e}"),
        Ok(()) => println!("\nunexpected: a 2-dimensional embedding was saved"),
    }

    hyperdjango::orm::ddl::execute_batch("DROP TABLE search_demo_documents").await?;
    println!("\ndocument search example done");
    Ok(())
}
