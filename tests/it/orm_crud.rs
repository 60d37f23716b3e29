//! ORM: model metadata, create/save/delete/refresh, DoesNotExist and MultipleObjectsReturned,
//! DDL with CHECKs.

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::{Error, Model};

use crate::orm_models::{Everything, Product, Tag, product};
use crate::orm_test;

#[tokio::test]
async fn create_save_refresh_delete() {
    orm_test!([Product], async {
        let p = product("Widget", "W-1", 9.5);
        assert!(!p.id.is_saved());
        assert!(p.is_active, "the default");
        let mut p = Product::objects().create(p).await.unwrap();
        assert!(p.id.is_saved());
        assert!(
            p.created_at.is_some() && p.updated_at.is_some(),
            "auto_now_add / auto_now"
        );
        let first_update = p.updated_at;

        p.price = 8.0;
        p.save().await.unwrap();
        assert!(p.updated_at >= first_update);
        let got = Product::objects().get(Product::id.eq(p.id)).await.unwrap();
        assert_eq!(got.price, 8.0);
        assert_eq!(got.name, "Widget");

        // update_fields: only price is written
        Product::objects()
            .filter(Product::id.eq(p.id))
            .update(Product::name.set("Renamed"))
            .await
            .unwrap();
        p.price = 7.0;
        p.save_with(SaveOptions {
            update_fields: Some(vec!["price".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
        p.refresh_from_db().await.unwrap();
        assert_eq!((p.name.as_str(), p.price), ("Renamed", 7.0));

        // refresh a subset
        Product::objects()
            .filter(Product::id.eq(p.id))
            .update([Product::name.set("Again"), Product::stock.set(5)])
            .await
            .unwrap();
        p.refresh_from_db_fields(&["stock"]).await.unwrap();
        assert_eq!((p.name.as_str(), p.stock), ("Renamed", 5));

        // force_update on a missing row fails; force_insert of an existing row fails
        let mut ghost = p.clone();
        ghost.id = Auto::Saved(999_999);
        let e = ghost
            .save_with(SaveOptions {
                force_update: true,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("did not affect any rows"), "{e}");
        let mut dup = p.clone();
        let e = dup
            .save_with(SaveOptions {
                force_insert: true,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(e.is_unique_violation(), "{e}");

        let old_id = p.id;
        let mut stale = p.clone();
        let (n, per) = p.delete().await.unwrap();
        assert_eq!(n, 1);
        assert_eq!(per.get("Product"), Some(&1));
        let e = Product::objects()
            .get(Product::id.eq(old_id))
            .await
            .unwrap_err();
        assert!(e.is_does_not_exist::<Product>());
        assert!(!e.is_does_not_exist::<Tag>());
        assert!(matches!(e, Error::DoesNotExist { model: "Product" }));
        let e = stale.refresh_from_db().await.unwrap_err();
        assert!(e.is_does_not_exist::<Product>(), "{e}");

        let mut unsaved = product("X", "X", 1.0);
        let e = unsaved.delete().await.unwrap_err();
        assert!(e.to_string().contains("can't be deleted"), "{e}");
    });
}

#[tokio::test]
async fn delete_unsets_the_auto_pk_and_a_later_save_inserts_a_new_row() {
    orm_test!([Product], async {
        let mut p = Product::objects()
            .create(product("Gone", "G-1", 2.0))
            .await
            .unwrap();
        let old_id = p.id.get().expect("saved");
        p.delete().await.unwrap();
        // As Django sets pk to None: the instance is unsaved again, not a stale key.
        assert_eq!(p.id, Auto::Unsaved);
        assert!(p._state.adding);
        assert!(p.delete().await.is_err(), "nothing left to delete");

        p.save().await.unwrap();
        let new_id = p.id.get().expect("saved again");
        assert_ne!(new_id, old_id, "a new row, not the old key reused");
        assert_eq!(Product::objects().count().await.unwrap(), 1);
        let got = Product::objects()
            .get(Product::id.eq(new_id))
            .await
            .unwrap();
        assert_eq!((got.name.as_str(), got.sku.as_str()), ("Gone", "G-1"));
        let e = Product::objects()
            .get(Product::id.eq(old_id))
            .await
            .unwrap_err();
        assert!(e.is_does_not_exist::<Product>(), "{e}");
    });
}

#[tokio::test]
async fn multiple_objects_returned() {
    orm_test!([Product], async {
        for (n, s) in [("A", "a"), ("B", "b")] {
            Product::objects().create(product(n, s, 1.0)).await.unwrap();
        }
        let e = Product::objects()
            .get(Product::price.eq(1.0))
            .await
            .unwrap_err();
        assert!(e.is_multiple_objects_returned::<Product>(), "{e}");
        assert!(matches!(
            e,
            Error::MultipleObjectsReturned {
                model: "Product",
                count: 2
            }
        ));
        assert_eq!(
            e.to_string(),
            "get() returned more than one Product -- it returned 2"
        );
    });
}

#[tokio::test]
async fn natural_primary_key() {
    orm_test!([Tag], async {
        let mut t = Tag {
            name: "rust".into(),
            uses: 1,
            ..Default::default()
        };
        t.save().await.unwrap(); // adding: INSERT
        t.uses = 2;
        t.save().await.unwrap(); // UPDATE
        let got = Tag::objects().get(Tag::name.eq("rust")).await.unwrap();
        assert_eq!(got.uses, 2);
        assert_eq!(Tag::objects().count().await.unwrap(), 1);
        // loaded instances update; an unknown key inserts
        let mut other = got.clone();
        other.name = "go".into();
        other.save().await.unwrap();
        assert_eq!(Tag::objects().count().await.unwrap(), 2);
    });
}

#[tokio::test]
async fn every_type_round_trips_and_checks_hold() {
    orm_test!([Everything], async {
        let e = Everything {
            small: 1,
            big: 2,
            ratio: 0.5,
            flag: true,
            code: "abc".into(),
            email: "a@b.org".into(),
            even: 4,
            day: Some(chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
            at: Some("2024-01-02T03:04:05Z".parse().unwrap()),
            amount: Some("12.345".parse().unwrap()),
            token: Some(uuid::Uuid::from_u128(7)),
            blob: vec![0, 1, 2],
            doc: Some(serde_json::json!({"a": [1, 2]})),
            secret: "s".into(),
            ..Default::default()
        };
        e.full_clean().await.unwrap();
        let e = Everything::objects().create(e).await.unwrap();
        let got = Everything::objects()
            .get(Everything::id.eq(e.id))
            .await
            .unwrap();
        assert_eq!(got.code, "abc");
        assert_eq!(got.status, "d");
        assert_eq!(got.amount, e.amount);
        assert_eq!(got.token, e.token);
        assert_eq!(got.blob, vec![0, 1, 2]);
        assert_eq!(got.doc, e.doc);
        assert_eq!(got.day, e.day);
        assert_eq!(got.at, e.at);

        // The validators' CHECK constraints hold in the database too.
        for (what, mut bad) in [
            (
                "ratio",
                Everything {
                    ratio: 2.0,
                    ..e.clone()
                },
            ),
            (
                "code",
                Everything {
                    code: "ABC".into(),
                    ..e.clone()
                },
            ),
            (
                "status",
                Everything {
                    status: "x".into(),
                    ..e.clone()
                },
            ),
            (
                "big",
                Everything {
                    big: -1,
                    ..e.clone()
                },
            ),
            (
                "tiny",
                Everything {
                    tiny: 40000,
                    ..e.clone()
                },
            ),
            (
                "meta check",
                Everything {
                    small: 5,
                    big: 2,
                    ..e.clone()
                },
            ),
        ] {
            bad.id = Auto::Unsaved;
            let err = bad.save().await.unwrap_err();
            assert_eq!(
                err.code(),
                Some(&hyperdjango_pgwire::SqlState::CHECK_VIOLATION),
                "{what}: {err}"
            );
        }
    });
}

#[test]
fn metadata_at_run_time() {
    let m = Product::meta();
    assert_eq!(m.table, "products");
    assert_eq!(m.ordering, ["name"]);
    assert_eq!(m.get_latest_by.as_deref(), Some("created_at"));
    assert_eq!(
        m.unique_together,
        vec![vec!["name".to_string(), "sku".to_string()]]
    );
    let sku = m.field("sku").unwrap();
    assert!(sku.options.unique && sku.options.index);
    let w = m.field("weight_kg").unwrap();
    assert!(w.nullable);
    assert_eq!(m.pk().name, "id");
    assert!(m.pk().auto);
    let e = Everything::meta();
    assert_eq!(e.field("code").unwrap().column, "the_code");
    assert_eq!(e.field("secret").unwrap().verbose_name(), "secret value");
    assert_eq!(
        e.field("secret").unwrap().options.help_text,
        Some("never validated")
    );
    assert_eq!(e.verbose_name, "thing");
    assert_eq!(e.verbose_name_plural, "things");
    assert_eq!(
        e.field("status")
            .unwrap()
            .typed::<String>()
            .unwrap()
            .choice_list()[1]
            .1,
        "Published"
    );
    let ddl = hyperdjango_orm::ddl::create_table_sql::<Everything>();
    assert!(
        ddl[0].contains(r#"CONSTRAINT "small_before_big" CHECK (small <= big)"#),
        "{}",
        ddl[0]
    );
    assert!(
        ddl.iter().any(|s| s.contains(r#"("the_code", "small")"#)),
        "{ddl:?}"
    );
}

#[test]
fn choices_have_display_labels() {
    let mut e = Everything {
        status: "p".into(),
        ..Default::default()
    };
    assert_eq!(
        e.get_display("status").unwrap().as_deref(),
        Some("Published")
    );
    e.status = "zz".into();
    assert_eq!(e.get_display("status").unwrap(), None, "not a choice");
    assert_eq!(e.get_display("code").unwrap(), None, "no choices at all");
    let err = e.get_display("nope").unwrap_err().to_string();
    assert!(
        err.contains("Everything.nope") && err.contains("no such field"),
        "{err}"
    );
}
