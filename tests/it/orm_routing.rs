//! Multi-database routing against a real server: `.using`, `Meta::database`, routers
//! (the built-in primary/replica one and a custom one), their precedence, and UNLOGGED
//! tables. Each "database" is a schema of its own behind a pool of its own, so where a row
//! went is visible. Routers are process-wide: each test routes only its own models.

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::router::{PrimaryReplicaRouter, Router, add_router};
use hyperdjango_orm::{ModelMeta, atomic_using, using_database};

use crate::orm_models::test_db;

model! {
    #[table = "rt_articles"]
    #[derive(Debug, Clone)]
    pub struct RtArticle {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub title: String,
    }
}

model! {
    #[table = "rt_pinned"]
    #[meta = Meta::new().database("rt_pinned_db").unlogged(true)]
    #[derive(Debug, Clone)]
    pub struct RtPinned {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub n: i32,
    }
}

async fn count_in<M: Model>(alias: &str) -> i64 {
    QuerySet::<M>::new().using(alias).count().await.unwrap()
}

#[tokio::test]
async fn primary_replica_router_sends_writes_to_the_primary_and_reads_to_the_replica() {
    let primary = test_db().await;
    let replica = test_db().await;
    for alias in [&primary, &replica] {
        using_database(
            alias,
            hyperdjango_orm::ddl::create_table::<RtArticle>(false),
        )
        .await
        .unwrap();
    }
    let router =
        add_router(PrimaryReplicaRouter::new(&primary, [replica.as_str()]).only(["RtArticle"]));

    let mut a = RtArticle {
        title: "routed".into(),
        ..Default::default()
    };
    a.save().await.unwrap();
    assert_eq!(
        count_in::<RtArticle>(&primary).await,
        1,
        "the write went to the primary"
    );
    assert_eq!(count_in::<RtArticle>(&replica).await, 0);
    // Reads go to the replica (a separate schema here, so it has no rows).
    assert_eq!(RtArticle::objects().count().await.unwrap(), 0);
    // .using wins over the router.
    assert_eq!(
        RtArticle::objects().using(&primary).count().await.unwrap(),
        1
    );
    // Inside a transaction on the primary, reads stay there and see its writes.
    let seen = atomic_using(Some(&primary), async {
        let mut b = RtArticle {
            title: "in tx".into(),
            ..Default::default()
        };
        b.save().await?;
        RtArticle::objects().count().await
    })
    .await
    .unwrap();
    assert_eq!(seen, 2);
    // Updates and deletes through a QuerySet are writes: the primary.
    let n = RtArticle::objects()
        .update(RtArticle::title.set("renamed".to_string()))
        .await
        .unwrap();
    assert_eq!(n, 2);
    a.delete().await.unwrap();
    assert_eq!(count_in::<RtArticle>(&primary).await, 1);
    assert!(router.remove());
    hyperdjango_orm::unregister_database(&primary);
    hyperdjango_orm::unregister_database(&replica);
}

/// Sends everything of RtPinned to a database no one registered: Meta must win over it.
struct Misroute;
impl Router for Misroute {
    fn db_for_read(&self, m: &ModelMeta) -> Option<String> {
        (m.name == "RtPinned").then(|| "nowhere".to_string())
    }
    fn db_for_write(&self, m: &ModelMeta) -> Option<String> {
        self.db_for_read(m)
    }
    fn allow_migrate(&self, db: &str, m: &ModelMeta) -> Option<bool> {
        (m.name == "RtPinned").then_some(db == "rt_pinned_db")
    }
}

#[tokio::test]
async fn meta_database_beats_the_routers_and_the_scope_and_unlogged_tables_are_unlogged() {
    let pinned = test_db().await;
    // Meta::database names a fixed alias: register this test's pool under it.
    hyperdjango_orm::register_database("rt_pinned_db", hyperdjango_orm::database(&pinned).unwrap());
    using_database(
        &pinned,
        hyperdjango_orm::ddl::create_table::<RtPinned>(false),
    )
    .await
    .unwrap();
    let misroute = add_router(Misroute);
    let other = test_db().await;
    using_database(&other, async {
        let mut p = RtPinned {
            n: 7,
            ..Default::default()
        };
        p.save().await.unwrap();
        assert_eq!(RtPinned::objects().count().await.unwrap(), 1);
    })
    .await;
    assert_eq!(count_in::<RtPinned>(&pinned).await, 1);
    assert!(hyperdjango_orm::router::allow_migrate(
        "rt_pinned_db",
        RtPinned::meta()
    ));
    assert!(!hyperdjango_orm::router::allow_migrate(
        "default",
        RtPinned::meta()
    ));
    let persistence: String = hyperdjango_orm::database(&pinned)
        .unwrap()
        .query_one(
            "SELECT relpersistence::text FROM pg_class WHERE oid = 'rt_pinned'::regclass",
            &[],
        )
        .await
        .map(|r| r.get::<_, String>(0).unwrap())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(persistence, "u", "UNLOGGED");
    assert!(misroute.remove());
    hyperdjango_orm::unregister_database("rt_pinned_db");
    hyperdjango_orm::unregister_database(&pinned);
    hyperdjango_orm::unregister_database(&other);
}
