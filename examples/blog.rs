//! Content models as in the spec's "Model Inheritance" section: abstract `Timestamped` →
//! abstract `Slugged` → the concrete `BlogPost` and `NewsArticle` (each with its own
//! table), and the proxy `PublishedPost` over the blog's table with its own default
//! queryset. A `pre_save` signal fills in slugs, another receiver logs every insert, and
//! news articles are retracted with the `SoftDelete` mixin.
//!
//! Uses `HYPER_DATABASE_URL` if it is set, otherwise a throwaway PostgreSQL server.
//! Run it with `cargo run --example blog`.

use chrono::{DateTime, Utc};
use hyperdjango::orm::prelude::*;
use hyperdjango::orm::relations::{ForeignKey, OnDelete};
use hyperdjango::orm::signals::{self, SignalKind};
use hyperdjango::orm::{abstract_model, proxy_model};

mod support;

abstract_model! {
    /// When a row was created and last saved: no table of its own.
    Timestamped {
        created_at: Option<DateTime<Utc>> = Field::new().auto_now_add(),
        updated_at: Option<DateTime<Utc>> = Field::new().auto_now(),
    }
}

abstract_model! {
    /// A URL-friendly name, unique within each concrete model's table.
    Slugged extends Timestamped {
        slug: String = Field::new().unique().index().blank(true),
    }
}

model! {
    #[table = "blog_demo_authors"]
    #[derive(Debug, Clone)]
    struct Author {
        id: Auto<i64> = Field::new().primary_key(),
        name: String,
    }
}

model! {
    /// Inherits created_at, updated_at and slug; adds its own fields.
    #[table = "blog_demo_posts"]
    #[extends(Slugged)]
    #[derive(Debug, Clone)]
    struct BlogPost {
        id: Auto<i64> = Field::new().primary_key(),
        title: String,
        body: String = Field::new().blank(true),
        author: ForeignKey<Author> = Field::new().on_delete(OnDelete::Cascade),
        published: bool = Field::new().default(false),
    }
}

model! {
    /// The same inherited fields in another table; retracting one only hides it.
    #[table = "blog_demo_news"]
    #[extends(Slugged)]
    #[mixins(SoftDelete)]
    #[derive(Debug, Clone)]
    struct NewsArticle {
        id: Auto<i64> = Field::new().primary_key(),
        title: String,
        summary: String = Field::new().blank(true),
        source_url: String = Field::new().blank(true),
    }
}

proxy_model! {
    /// The published posts, newest first: the blog's table seen through another type.
    #[derive(Debug, Clone)]
    struct PublishedPost: BlogPost = BlogPost::objects()
        .filter(BlogPost::published.eq(true))
        .order_by(BlogPost::created_at.desc());
}

impl PublishedPost {
    /// Behaviour only the proxy has.
    fn url(&self) -> String {
        format!("/blog/{}/", self.slug)
    }
}

/// "Hello, World!" → "hello-world".
fn slugify(title: &str) -> String {
    title
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = support::server()?;
    hyperdjango::orm::register_database("default", support::pool(&server.url)?);
    hyperdjango::orm::ddl::execute_batch(
        "DROP TABLE IF EXISTS blog_demo_posts, blog_demo_news, blog_demo_authors",
    )
    .await?;
    hyperdjango::orm::ddl::create_table::<Author>(false).await?;
    hyperdjango::orm::ddl::create_table::<BlogPost>(false).await?;
    hyperdjango::orm::ddl::create_table::<NewsArticle>(false).await?;

    let fields = |m: &hyperdjango::orm::ModelMeta| -> Vec<&str> {
        m.fields.iter().map(|f| f.name).collect()
    };
    println!("BlogPost fields:    {:?}", fields(BlogPost::meta()));
    println!("NewsArticle fields: {:?}", fields(NewsArticle::meta()));

    // Signals: a post saved without a slug gets one from its title (the receiver may
    // change the instance before it is written), and every insert of any model is logged.
    // Receivers stay registered until disconnected.
    let slugs = signals::pre_save::<BlogPost>(|post, _| {
        Box::pin(async move {
            if post.slug.is_empty() {
                post.slug = slugify(&post.title);
            }
            Ok(())
        })
    });
    let audit = signals::on_any(|event| {
        Box::pin(async move {
            if event.kind == SignalKind::PostSave && event.created {
                println!("  [signal] created a {} in {}", event.model, event.table);
            }
            Ok(())
        })
    });

    println!("\nwriting content:");
    let ann = Author::objects()
        .create(Author {
            name: "Ann".into(),
            ..Default::default()
        })
        .await?;
    for (title, published) in [
        ("Hello, World!", true),
        ("Zero-copy rows", true),
        ("Notes for later", false),
    ] {
        let mut post = BlogPost {
            title: title.into(),
            published,
            ..Default::default()
        };
        post.author.set_object(ann.clone())?;
        post.save().await?;
    }
    for (title, slug) in [
        ("Rust 2024 ships", "hello-world"),
        ("PostgreSQL 18", "pg18"),
    ] {
        NewsArticle::objects()
            .create(NewsArticle {
                title: title.into(),
                slug: slug.into(),
                ..Default::default()
            })
            .await?;
    }
    audit.disconnect();

    // The inherited UNIQUE holds per table: "hello-world" is in both tables, but a second
    // post with that slug is refused by the server.
    let mut again = BlogPost {
        title: "Hello world".into(),
        ..Default::default()
    };
    again.author.set_object(ann.clone())?;
    match again.save().await {
        Err(e) if e.is_unique_violation() => {
            println!("\na second post slugged {:?} is refused: {e}", again.slug)
        }
        other => println!("\nunexpected: {other:?}"),
    }

    println!("\nall posts with their authors (one query, select_related):");
    for post in BlogPost::objects()
        .select_related(["author"])
        .order_by(BlogPost::title)
        .all()
        .await?
    {
        println!(
            "  {:<16} /{:<16} by {}  published={}",
            post.title,
            post.slug,
            post.author.get()?.name,
            post.published
        );
    }

    // The proxy: same table, its own default queryset and methods.
    println!("\npublished posts, through the PublishedPost proxy:");
    for post in PublishedPost::all().await? {
        println!("  {} -> {}", post.title, post.url());
    }

    // Publishing the draft: auto_now moves updated_at, created_at stays.
    let mut draft = BlogPost::objects()
        .get(BlogPost::slug.eq("notes-for-later".to_string()))
        .await?;
    let created = draft.created_at;
    draft.published = true;
    draft.save().await?;
    println!(
        "\npublished {:?}: created_at unchanged: {}, updated_at moved: {}",
        draft.title,
        draft.created_at == created,
        draft.updated_at > created
    );
    println!(
        "PublishedPost count: {}, BlogPost count: {}",
        PublishedPost::objects().count().await?,
        BlogPost::objects().count().await?
    );

    // The Django string form works on inherited fields too.
    let n = BlogPost::objects()
        .filter(q("slug__startswith", "hello")?)
        .count()
        .await?;
    println!("posts with slug__startswith=hello: {n}");

    // SoftDelete: delete() marks the row, queries hide it, unscoped() still sees it.
    let mut retracted = NewsArticle::objects()
        .get(NewsArticle::slug.eq("pg18".to_string()))
        .await?;
    retracted.delete().await?;
    println!(
        "\nretracted {:?} (deleted_at set: {}): {} news article(s) visible, {} in the table",
        retracted.title,
        retracted.deleted_at.is_some(),
        NewsArticle::objects().count().await?,
        NewsArticle::objects().unscoped().count().await?
    );

    slugs.disconnect();
    hyperdjango::orm::ddl::execute_batch(
        "DROP TABLE blog_demo_posts, blog_demo_news, blog_demo_authors",
    )
    .await?;
    println!("\nblog example done");
    Ok(())
}
