//! ORM mixins against a real server: Timestamp, SoftDelete, Ownership and Versioned, as
//! `#[mixins(...)]` adds them to a model.

use std::time::Duration;

use hyperdjango_orm::Error;
use hyperdjango_orm::mixins::with_owner;
use hyperdjango_orm::prelude::*;

use crate::orm_test;

model! {
    #[table = "mx_documents"]
    #[mixins(Timestamp, SoftDelete, Ownership, Versioned)]
    #[derive(Debug, Clone)]
    pub struct MxDocument {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub title: String,
        pub body: String = Field::new().blank(true),
    }
}

fn doc(title: &str) -> MxDocument {
    MxDocument {
        title: title.into(),
        ..Default::default()
    }
}

async fn titles(qs: QuerySet<MxDocument>) -> Vec<String> {
    qs.order_by(["title"])
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.title)
        .collect()
}

#[tokio::test]
async fn timestamps_are_set_on_insert_and_on_every_save() {
    orm_test!([MxDocument], async {
        let mut d = doc("a");
        d.save().await.unwrap();
        let created = d.created_at.expect("created_at set");
        let first_update = d.updated_at.expect("updated_at set");
        tokio::time::sleep(Duration::from_millis(5)).await;
        d.body = "changed".into();
        d.save().await.unwrap();
        assert_eq!(d.created_at, Some(created), "created_at stays");
        assert!(d.updated_at.unwrap() > first_update, "updated_at moves");
        let stored = MxDocument::objects()
            .get(MxDocument::id.eq(d.id))
            .await
            .unwrap();
        assert_eq!(stored.created_at, d.created_at);
        assert_eq!(stored.updated_at, d.updated_at);
    });
}

#[tokio::test]
async fn soft_delete_hides_rows_until_restored_and_hard_delete_removes_them() {
    orm_test!([MxDocument], async {
        for t in ["a", "b", "c", "d"] {
            doc(t).save().await.unwrap();
        }
        let mut a = MxDocument::objects()
            .get(MxDocument::title.eq("a".to_string()))
            .await
            .unwrap();
        let (n, per_model) = a.delete().await.unwrap();
        assert_eq!((n, per_model["MxDocument"]), (1, 1));
        assert!(a.deleted_at.is_some(), "the instance holds the mark");
        assert!(a.id.is_saved(), "and keeps its key");
        assert_eq!(titles(MxDocument::objects()).await, ["b", "c", "d"]);
        assert_eq!(MxDocument::objects().count().await.unwrap(), 3);
        assert_eq!(
            titles(MxDocument::objects().unscoped()).await,
            ["a", "b", "c", "d"]
        );
        // A bulk delete marks too, and only what the scope sees.
        let (n, _) = MxDocument::objects()
            .filter(MxDocument::title.eq("b".to_string()))
            .delete()
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(titles(MxDocument::objects()).await, ["c", "d"]);
        // Bulk updates skip soft-deleted rows.
        let n = MxDocument::objects()
            .update(MxDocument::body.set("touched".to_string()))
            .await
            .unwrap();
        assert_eq!(n, 2);
        a.restore().await.unwrap();
        assert!(a.deleted_at.is_none());
        assert_eq!(titles(MxDocument::objects()).await, ["a", "c", "d"]);
        // hard_delete really deletes: the row is gone even unscoped.
        a.hard_delete().await.unwrap();
        assert!(!a.id.is_saved());
        assert_eq!(
            titles(MxDocument::objects().unscoped()).await,
            ["b", "c", "d"]
        );
        let (n, _) = MxDocument::objects()
            .unscoped()
            .filter(MxDocument::title.eq("b".to_string()))
            .hard_delete()
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(MxDocument::objects().unscoped().count().await.unwrap(), 2);
    });
}

#[tokio::test]
async fn ownership_scopes_queries_and_stamps_inserts() {
    orm_test!([MxDocument], async {
        with_owner(1, async {
            doc("ann's plan").save().await.unwrap();
            doc("ann's notes").save().await.unwrap();
        })
        .await;
        with_owner(2, async {
            let mut d = doc("bob's list");
            d.save().await.unwrap();
            assert_eq!(d.owner_id, Some(2));
            // An owner set explicitly is kept.
            let mut shared = doc("for ann, by bob");
            shared.owner_id = Some(1);
            shared.save().await.unwrap();
            assert_eq!(titles(MxDocument::objects()).await, ["bob's list"]);
            // Updates and deletes in the scope touch only the owner's rows.
            let n = MxDocument::objects()
                .update(MxDocument::body.set("bob was here".to_string()))
                .await
                .unwrap();
            assert_eq!(n, 1);
        })
        .await;
        with_owner(1, async {
            assert_eq!(
                titles(MxDocument::objects()).await,
                ["ann's notes", "ann's plan", "for ann, by bob"]
            );
            let touched = MxDocument::objects()
                .filter(MxDocument::body.eq("bob was here".to_string()))
                .count()
                .await
                .unwrap();
            assert_eq!(touched, 0);
        })
        .await;
        // Outside any scope: every owner's rows.
        assert_eq!(MxDocument::objects().count().await.unwrap(), 4);
        let unowned = MxDocument::objects()
            .filter(MxDocument::owner_id.isnull(true))
            .count()
            .await
            .unwrap();
        assert_eq!(unowned, 0);
    });
}

#[tokio::test]
async fn a_stale_versioned_save_is_a_conflict_and_overwrites_nothing() {
    orm_test!([MxDocument], async {
        let mut mine = doc("contract");
        mine.save().await.unwrap();
        assert_eq!(mine.version, 1);
        let mut theirs = MxDocument::objects()
            .get(MxDocument::id.eq(mine.id))
            .await
            .unwrap();
        theirs.body = "their edit".into();
        theirs.save().await.unwrap();
        assert_eq!(theirs.version, 2);

        mine.body = "my edit".into();
        let err = mine.save().await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Conflict {
                    model: "MxDocument",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("version is stale"), "{err}");
        assert_eq!(mine.version, 1, "the instance is not advanced");
        let stored = MxDocument::objects()
            .get(MxDocument::id.eq(mine.id))
            .await
            .unwrap();
        assert_eq!((stored.body.as_str(), stored.version), ("their edit", 2));

        // After a reload the change applies, and the version moves on.
        mine.refresh_from_db().await.unwrap();
        mine.body = "my edit".into();
        mine.save().await.unwrap();
        assert_eq!(mine.version, 3);
        // update_fields is versioned too.
        mine.title = "contract v2".into();
        mine.save_with(SaveOptions {
            update_fields: Some(vec!["title".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(mine.version, 4);
        theirs.title = "stale title".into();
        assert!(matches!(
            theirs
                .save_with(SaveOptions {
                    update_fields: Some(vec!["title".into()]),
                    ..Default::default()
                })
                .await,
            Err(Error::Conflict { .. })
        ));
        let stored = MxDocument::objects()
            .get(MxDocument::id.eq(mine.id))
            .await
            .unwrap();
        assert_eq!(
            (stored.title.as_str(), stored.body.as_str(), stored.version),
            ("contract v2", "my edit", 4)
        );
    });
}
