//! Many-to-many against a real server: the junction table, add/remove/clear/set/count in one
//! statement each and idempotent, both directions as QuerySets, and a `through` model with
//! extra columns.

use hyperdjango_orm::many_to_many::ManyToMany;
use hyperdjango_orm::prelude::*;
use hyperdjango_orm::relations::ForeignKey;

use crate::orm_test;

model! {
    #[table = "mm_articles"]
    #[derive(Debug, Clone)]
    pub struct MmArticle {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub title: String,
    }
}

model! {
    #[table = "mm_tags"]
    #[derive(Debug, Clone)]
    pub struct MmTag {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub name: String,
    }
}

model! {
    /// Extra columns live on the junction model (the 2005 readers' question).
    #[table = "mm_memberships"]
    #[meta = Meta::new().unique_together(["article", "tag"])]
    #[derive(Debug, Clone)]
    pub struct MmTagging {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub article: ForeignKey<MmArticle>,
        pub tag: ForeignKey<MmTag>,
        pub added_by: String,
    }
}

const TAGS: ManyToMany<MmArticle, MmTag> = ManyToMany::new("mm_articles_tags");
const TAGGINGS: ManyToMany<MmArticle, MmTag> = ManyToMany::through::<MmTagging>();

async fn names(qs: QuerySet<MmTag>) -> Vec<String> {
    qs.order_by(MmTag::name)
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect()
}

async fn setup() -> (MmArticle, MmArticle, Vec<MmTag>) {
    let a = MmArticle::objects()
        .create(MmArticle {
            title: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let b = MmArticle::objects()
        .create(MmArticle {
            title: "b".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut tags = Vec::new();
    for n in ["db", "rust", "sql"] {
        tags.push(
            MmTag::objects()
                .create(MmTag {
                    name: n.into(),
                    ..Default::default()
                })
                .await
                .unwrap(),
        );
    }
    (a, b, tags)
}

#[tokio::test]
async fn manager_methods_are_one_statement_each_and_idempotent() {
    orm_test!([MmArticle, MmTag], async {
        TAGS.create_table().await.unwrap();
        let (a, b, t) = setup().await;
        let (added, queries) =
            hyperdjango_orm::db::count_queries(TAGS.add(&a, &[&t[0], &t[1]])).await;
        assert_eq!((added.unwrap(), queries), (2, 1));
        // Again, with one new: only the new link is created.
        assert_eq!(TAGS.add(&a, &[&t[1], &t[2]]).await.unwrap(), 1);
        assert_eq!(TAGS.count(&a).await.unwrap(), 3);
        assert_eq!(names(TAGS.all(&a).unwrap()).await, ["db", "rust", "sql"]);
        // The QuerySet composes: filter, order, count.
        let n = TAGS
            .all(&a)
            .unwrap()
            .filter(MmTag::name.startswith("r"))
            .count()
            .await
            .unwrap();
        assert_eq!(n, 1);
        TAGS.add(&b, &[&t[1]]).await.unwrap();
        let mut with_rust: Vec<String> = TAGS
            .reverse(&t[1])
            .unwrap()
            .all()
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.title)
            .collect();
        with_rust.sort();
        assert_eq!(with_rust, ["a", "b"]);
        // remove is idempotent.
        assert_eq!(TAGS.remove(&a, &[&t[0]]).await.unwrap(), 1);
        assert_eq!(TAGS.remove(&a, &[&t[0]]).await.unwrap(), 0);
        // set: exactly these, in one statement.
        let (set, queries) =
            hyperdjango_orm::db::count_queries(TAGS.set(&a, &[&t[0], &t[2]])).await;
        set.unwrap();
        assert_eq!(queries, 1);
        assert_eq!(names(TAGS.all(&a).unwrap()).await, ["db", "sql"]);
        assert_eq!(
            TAGS.set(&a, &[&t[0], &t[2]]).await.unwrap(),
            0,
            "already so"
        );
        assert_eq!(TAGS.clear(&a).await.unwrap(), 2);
        assert_eq!(TAGS.count(&a).await.unwrap(), 0);
        assert_eq!(TAGS.count(&b).await.unwrap(), 1, "b is untouched");
        // Deleting a tag removes its links (ON DELETE CASCADE on the junction).
        let mut rust = t[1].clone();
        rust.delete().await.unwrap();
        assert_eq!(TAGS.count(&b).await.unwrap(), 0);
        // An unsaved instance cannot be linked.
        let err = TAGS.add(&MmArticle::default(), &[&t[0]]).await.unwrap_err();
        assert!(err.to_string().contains("unsaved"), "{err}");
    });
}

#[tokio::test]
async fn a_through_model_carries_extra_columns() {
    orm_test!([MmArticle, MmTag, MmTagging], async {
        let (a, _b, t) = setup().await;
        for (tag, who) in [(&t[0], "ann"), (&t[2], "bob")] {
            MmTagging::objects()
                .create(MmTagging {
                    article: ForeignKey::to(a.id.get().unwrap()),
                    tag: ForeignKey::to(tag.id.get().unwrap()),
                    added_by: who.into(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        assert_eq!(names(TAGGINGS.all(&a).unwrap()).await, ["db", "sql"]);
        assert_eq!(TAGGINGS.count(&a).await.unwrap(), 2);
        let by_bob = MmTagging::objects()
            .filter(MmTagging::added_by.eq("bob".to_string()))
            .select_related(["tag"])
            .get_one()
            .await
            .unwrap();
        assert_eq!(by_bob.tag.get().unwrap().name, "sql");
        // The manager does not invent values for the extra columns.
        let err = TAGGINGS.add(&a, &[&t[1]]).await.unwrap_err();
        assert!(
            err.to_string().contains("through the model MmTagging"),
            "{err}"
        );
        assert_eq!(TAGGINGS.remove(&a, &[&t[0]]).await.unwrap(), 1);
        assert_eq!(TAGGINGS.clear(&a).await.unwrap(), 1);
    });
}

#[tokio::test]
async fn prefetch_loads_every_items_links_in_one_query() {
    orm_test!([MmArticle, MmTag, MmTagging], async {
        TAGS.create_table().await.unwrap();
        let (a, b, t) = setup().await;
        let c = MmArticle::objects()
            .create(MmArticle {
                title: "c".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        TAGS.add(&a, &[&t[0], &t[1]]).await.unwrap();
        TAGS.add(&b, &[&t[1], &t[2]]).await.unwrap();
        let articles = vec![a.clone(), b.clone(), c.clone()];
        let (tags, queries) =
            hyperdjango_orm::db::count_queries(TAGS.prefetch::<i64>(&articles)).await;
        let tags = tags.unwrap();
        assert_eq!(queries, 1, "one query for every article's tags");
        let of = |x: &MmArticle| {
            let mut n: Vec<String> = tags
                .for_key(&x.id.get().unwrap())
                .iter()
                .map(|t| t.name.clone())
                .collect();
            n.sort();
            n
        };
        assert_eq!(of(&a), ["db", "rust"]);
        assert_eq!(of(&b), ["rust", "sql"]);
        assert!(of(&c).is_empty());
        // Only the items asked for: b's links are not counted for a.
        let only_a = TAGS
            .prefetch::<i64>(std::slice::from_ref(&a))
            .await
            .unwrap();
        assert_eq!(only_a.for_key(&a.id.get().unwrap()).len(), 2);
        assert!(only_a.for_key(&b.id.get().unwrap()).is_empty());
        // With a QuerySet of one's own (Django's Prefetch): its filter and order apply.
        let r_tags = TAGS
            .prefetch_with::<i64>(
                &articles,
                MmTag::objects()
                    .exclude(MmTag::name.startswith("r"))
                    .order_by(MmTag::name.desc()),
            )
            .await
            .unwrap();
        let names: Vec<&str> = r_tags
            .for_key(&b.id.get().unwrap())
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["sql"]);
        // The reverse direction and a through model work the same way.
        let (articles_of, queries) = hyperdjango_orm::db::count_queries(
            ManyToMany::<MmTag, MmArticle>::new("mm_articles_tags").prefetch::<i64>(&t),
        )
        .await;
        assert_eq!(queries, 1);
        let articles_of = articles_of.unwrap();
        assert_eq!(articles_of.for_key(&t[1].id.get().unwrap()).len(), 2);
        MmTagging::objects()
            .create(MmTagging {
                article: ForeignKey::to(c.id.get().unwrap()),
                tag: ForeignKey::to(t[2].id.get().unwrap()),
                added_by: "ann".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let through = TAGGINGS.prefetch::<i64>(&articles).await.unwrap();
        let names: Vec<&str> = through
            .for_key(&c.id.get().unwrap())
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["sql"]);
        // Nothing to prefetch: no query.
        let (_, queries) = hyperdjango_orm::db::count_queries(TAGS.prefetch::<i64>(&[])).await;
        assert_eq!(queries, 0);
    });
}
