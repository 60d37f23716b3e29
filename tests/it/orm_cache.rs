//! The query cache against a real server: hits cost no query, every kind of ORM write to a
//! table a cached query read invalidates it (cascades, joins and subqueries included),
//! transactions bypass it and invalidate again at COMMIT, and the TTL expires entries.

use std::time::Duration;

use hyperdjango_orm::db::count_queries;
use hyperdjango_orm::many_to_many::ManyToMany;
use hyperdjango_orm::prelude::*;
use hyperdjango_orm::relations::{ForeignKey, OnDelete};

use crate::orm_test;

model! {
    #[table = "cache_shops"]
    #[meta = Meta::new().cache_ttl(Duration::from_secs(300))]
    #[derive(Debug, Clone)]
    pub struct CacheShop {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub name: String,
    }
}

model! {
    #[table = "cache_items"]
    #[meta = Meta::new().cache_ttl(Duration::from_secs(300))]
    #[derive(Debug, Clone)]
    pub struct CacheItem {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub shop: ForeignKey<CacheShop> = Field::new().on_delete(OnDelete::Cascade),
        pub price: i32,
    }
}

model! {
    /// No Meta TTL: cached only when a query asks.
    #[table = "cache_notes"]
    #[derive(Debug, Clone)]
    pub struct CacheNote {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub text: String,
    }
}

/// Generations are kept per table name (a write through any alias invalidates reads through
/// every alias: a replica serves the primary's rows), so the tests of this module, whose
/// tables share names across their test databases, take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NOTES: ManyToMany<CacheShop, CacheNote> = ManyToMany::new("cache_shops_notes");

/// `fut`'s output and whether it was answered without a query.
async fn hit<T>(fut: impl std::future::Future<Output = T>) -> (T, bool) {
    let (out, queries) = count_queries(fut).await;
    (out, queries == 0)
}

async fn shop(name: &str) -> CacheShop {
    CacheShop::objects()
        .create(CacheShop {
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn item(shop: &CacheShop, price: i32) -> CacheItem {
    CacheItem::objects()
        .create(CacheItem {
            shop: ForeignKey::to(shop.id.get().unwrap()),
            price,
            ..Default::default()
        })
        .await
        .unwrap()
}

fn prices(items: &[CacheItem]) -> Vec<i32> {
    let mut p: Vec<i32> = items.iter().map(|i| i.price).collect();
    p.sort();
    p
}

#[tokio::test]
async fn every_orm_write_invalidates_what_read_its_table() {
    let _turn = SERIAL.lock().await;
    orm_test!([CacheShop, CacheItem], async {
        let a = shop("a").await;
        item(&a, 1).await;
        let all = || async { CacheItem::objects().all().await };
        let (first, was_hit) = hit(all()).await;
        assert!(!was_hit);
        assert_eq!(prices(&first.unwrap()), [1]);
        let (again, was_hit) = hit(all()).await;
        assert!(was_hit, "the second identical read is a hit");
        assert_eq!(prices(&again.unwrap()), [1]);
        // count/exists/values are cached too, keyed by their own SQL and parameters.
        let n = || async {
            CacheItem::objects()
                .filter(CacheItem::price.gte(1))
                .count()
                .await
        };
        assert!(!hit(n()).await.1);
        assert!(hit(n()).await.1);
        let other = async {
            CacheItem::objects()
                .filter(CacheItem::price.gte(2))
                .count()
                .await
        };
        assert!(!hit(other).await.1, "other parameters, other entry");

        // save (insert)
        let mut it = item(&a, 2).await;
        let (after, was_hit) = hit(all()).await;
        assert!(!was_hit);
        assert_eq!(prices(&after.unwrap()), [1, 2]);
        assert_eq!(n().await.unwrap(), 2);
        // save (update)
        it.price = 3;
        it.save().await.unwrap();
        assert_eq!(prices(&all().await.unwrap()), [1, 3]);
        // QuerySet::update
        CacheItem::objects()
            .filter(CacheItem::price.eq(3))
            .update(CacheItem::price.set(4))
            .await
            .unwrap();
        assert_eq!(prices(&all().await.unwrap()), [1, 4]);
        // bulk_create (no signals, still invalidates)
        let new = vec![CacheItem {
            shop: ForeignKey::to(a.id.get().unwrap()),
            price: 5,
            ..Default::default()
        }];
        CacheItem::objects()
            .bulk_create(new, Default::default())
            .await
            .unwrap();
        assert_eq!(prices(&all().await.unwrap()), [1, 4, 5]);
        // bulk_update
        let mut rows = all().await.unwrap();
        for r in &mut rows {
            r.price *= 10;
        }
        CacheItem::objects()
            .bulk_update(&rows, &["price"], None)
            .await
            .unwrap();
        assert_eq!(prices(&all().await.unwrap()), [10, 40, 50]);
        // delete (instance and QuerySet)
        it.delete().await.unwrap();
        assert_eq!(prices(&all().await.unwrap()), [10, 50]);
        CacheItem::objects()
            .filter(CacheItem::price.eq(50))
            .delete()
            .await
            .unwrap();
        assert_eq!(prices(&all().await.unwrap()), [10]);
        // A cascade from another table: deleting the shop removes its items.
        let mut a = a;
        assert!(hit(all()).await.1);
        a.delete().await.unwrap();
        assert!(all().await.unwrap().is_empty());
        // A write the ORM did not make is invisible until invalidated by hand.
        let b = shop("b").await;
        item(&b, 7).await;
        assert_eq!(prices(&all().await.unwrap()), [7]);
        CacheItem::objects()
            .raw_rows("UPDATE cache_items SET price = 8")
            .await
            .unwrap();
        assert_eq!(
            prices(&all().await.unwrap()),
            [7],
            "stale until invalidate()"
        );
        hyperdjango_orm::cache::invalidate("cache_items");
        assert_eq!(prices(&all().await.unwrap()), [8]);
    });
}

#[tokio::test]
async fn joins_subqueries_and_paths_are_invalidated_by_their_other_tables() {
    let _turn = SERIAL.lock().await;
    orm_test!([CacheShop, CacheItem], async {
        let a = shop("a").await;
        item(&a, 1).await;
        // select_related joins cache_shops.
        let joined = || async {
            let rows = CacheItem::objects()
                .select_related(["shop"])
                .all()
                .await
                .unwrap();
            rows[0].shop.get().unwrap().name.clone()
        };
        assert_eq!(joined().await, "a");
        assert!(hit(joined()).await.1);
        // A filter across the relation is a subquery on cache_shops.
        let across = || async {
            CacheItem::objects()
                .filter(q("shop__name", "a").unwrap())
                .count()
                .await
                .unwrap()
        };
        assert_eq!(across().await, 1);
        assert!(hit(across()).await.1);
        // Ordering along a path reads cache_shops too.
        let ordered = || async {
            CacheItem::objects()
                .order_by("shop__name")
                .values_list_flat::<i32>("price")
                .await
        };
        assert_eq!(ordered().await.unwrap(), [1]);
        assert!(hit(ordered()).await.1);
        // Renaming the shop (a write to cache_shops only) invalidates all three.
        let mut a = a;
        a.name = "b".into();
        a.save().await.unwrap();
        let (name, was_hit) = hit(joined()).await;
        assert!(!was_hit);
        assert_eq!(name, "b");
        let (n, was_hit) = hit(across()).await;
        assert!(!was_hit);
        assert_eq!(n, 0);
        assert!(!hit(ordered()).await.1);
        // Raw SQL reads tables nobody can name: never cached.
        let raw = || async {
            CacheItem::objects()
                .filter(Q::raw("price > %s", vec![std::sync::Arc::new(0i32)]))
                .count()
                .await
        };
        assert_eq!(raw().await.unwrap(), 1);
        assert!(!hit(raw()).await.1);
        // no_cache() always asks.
        for _ in 0..2 {
            let fresh = async { CacheItem::objects().no_cache().count().await };
            assert!(!hit(fresh).await.1);
        }
    });
}

#[tokio::test]
async fn transactions_bypass_the_cache_and_commit_invalidates_again() {
    let _turn = SERIAL.lock().await;
    orm_test!([CacheShop, CacheItem], async {
        let a = shop("a").await;
        item(&a, 1).await;
        let all = || async { CacheItem::objects().all().await };
        all().await.unwrap();
        assert!(hit(all()).await.1);
        let alias = hyperdjango_orm::db::resolve_current();
        hyperdjango_orm::atomic(async {
            // Reads in the transaction go to the server (they must see its own writes).
            assert!(!hit(all()).await.1);
            item(&a, 2).await;
            assert_eq!(prices(&all().await?), [1, 2]);
            // Another task (outside the transaction) still sees the committed rows and may
            // cache them...
            let alias = alias.clone();
            let outside = tokio::spawn(async move {
                hyperdjango_orm::using_database(&alias, async {
                    let rows = CacheItem::objects().all().await.unwrap();
                    prices(&rows)
                })
                .await
            })
            .await
            .unwrap();
            assert_eq!(outside, [1]);
            Ok::<_, hyperdjango_orm::Error>(())
        })
        .await
        .unwrap();
        // ...but COMMIT drops that entry.
        let (rows, was_hit) = hit(all()).await;
        assert!(!was_hit);
        assert_eq!(prices(&rows.unwrap()), [1, 2]);
        // A rolled-back write leaves the cached (committed) result valid to use.
        let r = hyperdjango_orm::atomic(async {
            item(&a, 3).await;
            Err::<(), _>(hyperdjango_orm::Error::Usage("roll back".into()))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(prices(&all().await.unwrap()), [1, 2]);
    });
}

#[tokio::test]
async fn per_query_ttl_expiry_and_many_to_many_writes() {
    let _turn = SERIAL.lock().await;
    orm_test!([CacheShop, CacheNote], async {
        NOTES.create_table().await.unwrap();
        let a = shop("a").await;
        let note = CacheNote::objects()
            .create(CacheNote {
                text: "n".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        // A model without Meta TTL is cached only when the query asks for it.
        let plain = || async { CacheNote::objects().count().await };
        plain().await.unwrap();
        assert!(!hit(plain()).await.1);
        let short = || async {
            CacheNote::objects()
                .cache(Duration::from_millis(200))
                .count()
                .await
        };
        short().await.unwrap();
        assert!(hit(short()).await.1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!hit(short()).await.1, "expired after its TTL");
        // Many-to-many reads are invalidated by add/remove/clear/set.
        let linked = || async {
            NOTES
                .all(&a)
                .unwrap()
                .cache(Duration::from_secs(300))
                .count()
                .await
                .unwrap()
        };
        assert_eq!(linked().await, 0);
        assert!(hit(linked()).await.1);
        NOTES.add(&a, &[&note]).await.unwrap();
        assert_eq!(linked().await, 1);
        NOTES.clear(&a).await.unwrap();
        assert_eq!(linked().await, 0);
        let s = hyperdjango_orm::cache::stats();
        assert!(s.hits >= 2 && s.stores >= 3, "{s:?}");
    });
}
