//! Relations, as in the spec: Order → Customer and Product with `select_related`, and
//! Article ↔ Tag (many-to-many) with one-query prefetching. Uses `HYPER_DATABASE_URL` if
//! it is set, otherwise a throwaway PostgreSQL server removed when the demo exits. Every
//! step prints how many queries it cost (`db::count_queries`).
//!
//! Run it with `cargo run --example relations`.

use hyperdjango::Pool;
use hyperdjango::orm::db::count_queries;
use hyperdjango::orm::many_to_many::ManyToMany;
use hyperdjango::orm::prelude::*;
use hyperdjango::orm::relations::{ForeignKey, OnDelete};
use hyperdjango::pgwire::testing::TestCluster;

model! {
    #[table = "rel_demo_customers"]
    #[derive(Debug, Clone)]
    struct Customer {
        id: Auto<i64> = Field::new().primary_key(),
        name: String,
    }
}

model! {
    #[table = "rel_demo_products"]
    #[derive(Debug, Clone)]
    struct Product {
        id: Auto<i64> = Field::new().primary_key(),
        name: String,
        price: f64,
    }
}

model! {
    #[table = "rel_demo_orders"]
    #[derive(Debug, Clone)]
    struct Order {
        id: Auto<i64> = Field::new().primary_key(),
        customer: ForeignKey<Customer> = Field::new().on_delete(OnDelete::Cascade),
        product: ForeignKey<Product> = Field::new().on_delete(OnDelete::Protect),
        quantity: i32 = Field::new().default(1),
    }
}

model! {
    #[table = "rel_demo_articles"]
    #[derive(Debug, Clone)]
    struct Article {
        id: Auto<i64> = Field::new().primary_key(),
        title: String,
    }
}

model! {
    #[table = "rel_demo_tags"]
    #[derive(Debug, Clone)]
    struct Tag {
        id: Auto<i64> = Field::new().primary_key(),
        name: String,
    }
}

/// Article ↔ Tag through the junction table `rel_demo_articles_tags`.
const TAGS: ManyToMany<Article, Tag> = ManyToMany::new("rel_demo_articles_tags");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_cluster, url) = match std::env::var("HYPER_DATABASE_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => {
            println!("HYPER_DATABASE_URL is not set: starting a throwaway PostgreSQL server...");
            let cluster = TestCluster::start()?;
            let url = cluster.url();
            (Some(cluster), url)
        }
    };
    let pool = Pool::builder()
        .url(&url)
        .max_size(4)
        // The demo drops its tables first (IF EXISTS): keep PostgreSQL's notices quiet.
        .after_connect(|conn| {
            Box::pin(async move {
                conn.batch_execute("SET client_min_messages = warning")
                    .await
            })
        })
        .build()?;
    hyperdjango::orm::register_database("default", pool);
    hyperdjango::orm::ddl::execute_batch(
        "DROP TABLE IF EXISTS rel_demo_articles_tags, rel_demo_orders CASCADE",
    )
    .await?;
    hyperdjango::orm::ddl::create_table::<Customer>(true).await?;
    hyperdjango::orm::ddl::create_table::<Product>(true).await?;
    hyperdjango::orm::ddl::create_table::<Order>(true).await?;
    hyperdjango::orm::ddl::create_table::<Article>(true).await?;
    hyperdjango::orm::ddl::create_table::<Tag>(true).await?;
    TAGS.create_table().await?;

    // Orders of two customers.
    let mut customers = Vec::new();
    for name in ["Ann", "Bob"] {
        customers.push(
            Customer::objects()
                .create(Customer {
                    name: name.into(),
                    ..Default::default()
                })
                .await?,
        );
    }
    let widget = Product::objects()
        .create(Product {
            name: "Widget".into(),
            price: 9.5,
            ..Default::default()
        })
        .await?;
    for (who, quantity) in [(0, 2), (1, 1), (0, 5)] {
        let mut order = Order {
            quantity,
            ..Default::default()
        };
        order.customer.set_object(customers[who].clone())?;
        order.product.set_object(widget.clone())?;
        order.save().await?;
    }

    println!("\nOrder → Customer and Product, with select_related:");
    let (orders, queries) = count_queries(
        Order::objects()
            .select_related(["customer", "product"])
            .order_by(Order::id)
            .all(),
    )
    .await;
    for o in orders? {
        println!(
            "  order {}: {} × {} for {}",
            o.id,
            o.quantity,
            o.product.get()?.name,
            o.customer.get()?.name
        );
    }
    println!("  ({queries} query)");

    println!("\nThe reverse side, every customer's orders in one query (prefetch):");
    let (orders, queries) = count_queries(Order::customer.prefetch(&customers)).await;
    let orders = orders?;
    for c in &customers {
        let quantities: Vec<i32> = orders
            .for_key(&c.id.get().unwrap())
            .iter()
            .map(|o| o.quantity)
            .collect();
        println!("  {}: quantities {quantities:?}", c.name);
    }
    println!("  ({queries} query)");

    println!("\nFilters across the relation: orders of customers named \"Ann\":");
    let n = Order::objects()
        .filter(q("customer__name", "Ann")?)
        .count()
        .await?;
    println!("  {n} orders");

    // Article ↔ Tag.
    let mut articles = Vec::new();
    for title in ["Rust and PostgreSQL", "Pipelining"] {
        articles.push(
            Article::objects()
                .create(Article {
                    title: title.into(),
                    ..Default::default()
                })
                .await?,
        );
    }
    let mut tags = Vec::new();
    for name in ["rust", "postgres", "performance"] {
        tags.push(
            Tag::objects()
                .create(Tag {
                    name: name.into(),
                    ..Default::default()
                })
                .await?,
        );
    }
    TAGS.add(&articles[0], &[&tags[0], &tags[1]]).await?;
    TAGS.add(&articles[1], &[&tags[1], &tags[2]]).await?;
    TAGS.add(&articles[1], &[&tags[1]]).await?; // idempotent: already linked

    println!("\nArticle ↔ Tag (many-to-many), every article's tags prefetched:");
    let (tags_of, queries) =
        count_queries(TAGS.prefetch_with::<i64>(&articles, Tag::objects().order_by(Tag::name)))
            .await;
    let tags_of = tags_of?;
    for a in &articles {
        let names: Vec<&str> = tags_of
            .for_key(&a.id.get().unwrap())
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        println!("  {}: {names:?}", a.title);
    }
    println!("  ({queries} query for {} articles)", articles.len());
    let with_postgres = TAGS.reverse(&tags[1])?.count().await?;
    println!("  articles tagged postgres: {with_postgres}");
    TAGS.set(&articles[0], &[&tags[0]]).await?;
    println!(
        "  after set(rust): {} tag(s) on the first article",
        TAGS.count(&articles[0]).await?
    );

    // PROTECT: a product with orders cannot be deleted.
    let mut widget = widget;
    match widget.delete().await {
        Err(e) => println!("\ndeleting the widget was refused: {e}"),
        Ok(_) => println!("\nunexpected: the widget was deleted"),
    }
    Ok(())
}
