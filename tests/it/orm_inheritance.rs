//! Abstract and proxy models against a real server: the spec's BaseContent → BlogPost /
//! NewsArticle, multi-level Timestamped → Slugged → Page, and a proxy with its own default
//! queryset over the same table.

use chrono::{DateTime, Utc};
use hyperdjango_orm::prelude::*;
use hyperdjango_orm::{abstract_model, proxy_model};

use crate::orm_test;

abstract_model! {
    /// The spec's BaseContent.
    pub BaseContent {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub title: String,
        pub slug: String = Field::new().unique().index(),
        pub created_at: Option<DateTime<Utc>> = Field::new().auto_now_add(),
    }
}

model! {
    #[table = "ih_blog_posts"]
    #[extends(BaseContent)]
    #[derive(Debug, Clone)]
    pub struct IhBlogPost {
        pub body: String = Field::new().default(String::new()).blank(true),
        pub published: bool = Field::new().default(false),
    }
}

model! {
    #[table = "ih_news_articles"]
    #[extends(BaseContent)]
    #[derive(Debug, Clone)]
    pub struct IhNewsArticle {
        pub summary: String = Field::new().blank(true),
    }
}

abstract_model! {
    pub IhTimestamped {
        pub created_at: Option<DateTime<Utc>> = Field::new().auto_now_add(),
        pub updated_at: Option<DateTime<Utc>> = Field::new().auto_now(),
    }
}

abstract_model! {
    pub IhSlugged extends IhTimestamped {
        pub slug: String = Field::new().unique().index(),
    }
}

model! {
    #[table = "ih_pages"]
    #[extends(IhSlugged)]
    #[derive(Debug, Clone)]
    pub struct IhPage {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub title: String,
    }
}

proxy_model! {
    /// Published posts only (same table).
    #[derive(Debug, Clone)]
    pub struct IhPublishedPost: IhBlogPost = IhBlogPost::objects()
        .filter(IhBlogPost::published.eq(true))
        .order_by(IhBlogPost::title);
}

impl IhPublishedPost {
    fn url(&self) -> String {
        format!("/blog/{}/", self.slug)
    }
}

#[tokio::test]
async fn abstract_fields_are_shared_and_each_child_has_its_own_table() {
    orm_test!([IhBlogPost, IhNewsArticle, IhPage], async {
        let names = |m: &hyperdjango_orm::ModelMeta| -> Vec<&str> {
            m.fields.iter().map(|f| f.name).collect()
        };
        assert_eq!(
            names(IhBlogPost::meta()),
            ["id", "title", "slug", "created_at", "body", "published"]
        );
        assert_eq!(
            names(IhNewsArticle::meta()),
            ["id", "title", "slug", "created_at", "summary"]
        );
        assert_eq!(
            names(IhPage::meta()),
            ["created_at", "updated_at", "slug", "id", "title"]
        );
        let mut post = IhBlogPost {
            title: "Hello".into(),
            slug: "hello".into(),
            ..Default::default()
        };
        post.save().await.unwrap();
        assert!(
            post.created_at.is_some(),
            "the inherited auto_now_add works"
        );
        // Same slug in another child's table: allowed (separate tables) ...
        let mut news = IhNewsArticle {
            title: "Hello news".into(),
            slug: "hello".into(),
            ..Default::default()
        };
        news.save().await.unwrap();
        // ... but not twice in one table: the inherited UNIQUE holds.
        let mut dup = IhBlogPost {
            title: "Again".into(),
            slug: "hello".into(),
            ..Default::default()
        };
        let err = dup.save().await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&hyperdjango_pgwire::SqlState::UNIQUE_VIOLATION),
            "{err}"
        );
        let mut page = IhPage {
            title: "Home".into(),
            slug: "home".into(),
            ..Default::default()
        };
        page.save().await.unwrap();
        assert!(page.created_at.is_some() && page.updated_at.is_some());
        let back = IhPage::objects()
            .get(IhPage::slug.eq("home".to_string()))
            .await
            .unwrap();
        assert_eq!(back.title, "Home");
    });
}

#[tokio::test]
async fn a_proxy_shares_the_table_with_its_own_default_queryset() {
    orm_test!([IhBlogPost], async {
        for (title, published) in [("b draft", false), ("c live", true), ("a live", true)] {
            IhBlogPost::objects()
                .create(IhBlogPost {
                    title: title.into(),
                    slug: title.replace(' ', "-"),
                    published,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        assert_eq!(IhBlogPost::objects().count().await.unwrap(), 3);
        let live = IhPublishedPost::all().await.unwrap();
        let titles: Vec<&str> = live.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["a live", "c live"]);
        assert_eq!(live[0].url(), "/blog/a-live/");
        // Saving through the proxy writes the shared table.
        let mut first = live.into_iter().next().unwrap();
        first.published = false;
        first.save().await.unwrap();
        assert_eq!(IhPublishedPost::objects().count().await.unwrap(), 1);
        assert_eq!(IhBlogPost::objects().count().await.unwrap(), 3);
    });
}
