//! ORM: validation (clean_fields, clean, validate_unique, full_clean), atomic with
//! savepoints and on_commit, the transaction's connection, select_for_update, `using`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyperdjango_orm::{Error, NON_FIELD_ERRORS};

use crate::orm_models::{Everything, Product, product};
use crate::orm_test;

#[tokio::test]
async fn validation_collects_every_error() {
    orm_test!([Product, Everything], async {
        let bad = Everything {
            ratio: 1.5,
            code: "X".into(),
            status: "zz".into(),
            email: "nope".into(),
            url: "nope".into(),
            slug: "a b".into(),
            ip: "1.2.3".into(),
            even: 3,
            tiny: 99999,
            big: -5,
            secret: String::new(), // not editable: not validated
            ..Default::default()
        };
        let e = bad.clean_fields(&[]).unwrap_err();
        for f in [
            "ratio", "code", "status", "email", "url", "slug", "ip", "even", "tiny", "big",
        ] {
            assert!(!e.get(f).is_empty(), "{f}: {e}");
        }
        assert_eq!(e.get("code").len(), 2, "min_length and regex: {e}");
        assert!(e.get("secret").is_empty());
        assert_eq!(e.get("even"), ["3 is odd"]);
        assert!(
            e.to_string()
                .contains("Everything.ratio: Ensure this value is less than or equal to 1."),
            "{e}"
        );
        let e = bad.clean_fields(&["code", "ratio"]).unwrap_err();
        assert!(e.get("code").is_empty() && e.get("ratio").is_empty());

        // the clean hook, with a non-field error
        let hooked = Everything {
            code: "forbidden".into(),
            even: 2,
            ..Default::default()
        };
        match hooked.full_clean().await.unwrap_err() {
            Error::Validation(v) => assert_eq!(v.get(NON_FIELD_ERRORS), ["forbidden code"]),
            e => panic!("{e}"),
        }

        // validate_unique asks the database: unique field and unique_together
        let saved = Product::objects()
            .create(product("Widget", "W-1", 1.0))
            .await
            .unwrap();
        let twin = product("Widget", "W-1", 2.0);
        match twin.full_clean().await.unwrap_err() {
            Error::Validation(v) => {
                assert_eq!(v.get("sku"), ["Product with this sku already exists."]);
                assert_eq!(
                    v.get(NON_FIELD_ERRORS),
                    ["Product with this name and sku already exists."]
                );
            }
            e => panic!("{e}"),
        }
        saved.validate_unique().await.unwrap(); // itself does not count
        saved.full_clean().await.unwrap();
        // a blank required string
        let blank = product("", "W-9", 1.0);
        match blank.full_clean().await.unwrap_err() {
            Error::Validation(v) => assert_eq!(v.get("name"), ["This field cannot be blank."]),
            e => panic!("{e}"),
        }
    });
}

#[tokio::test]
async fn atomic_commits_rolls_back_and_nests() {
    orm_test!([Product], async {
        // commit
        hyperdjango_orm::atomic(async {
            Product::objects().create(product("A", "a", 1.0)).await?;
            assert!(hyperdjango_orm::in_atomic_block());
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
        assert_eq!(Product::objects().count().await.unwrap(), 1);
        // rollback on Err
        let r: Result<(), Error> = hyperdjango_orm::atomic(async {
            Product::objects().create(product("B", "b", 1.0)).await?;
            assert_eq!(
                Product::objects().count().await?,
                2,
                "the transaction sees its own row"
            );
            Err(Error::Usage("boom".into()))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(Product::objects().count().await.unwrap(), 1);
        // nested: the inner savepoint rolls back, the outer commits
        let fired = Arc::new(AtomicUsize::new(0));
        let (f1, f2) = (fired.clone(), fired.clone());
        hyperdjango_orm::atomic(async {
            Product::objects().create(product("C", "c", 1.0)).await?;
            hyperdjango_orm::on_commit(move || {
                f1.fetch_add(1, Ordering::SeqCst);
            })
            .await;
            let inner: Result<(), Error> = hyperdjango_orm::atomic(async {
                Product::objects().create(product("D", "d", 1.0)).await?;
                hyperdjango_orm::on_commit(move || {
                    f2.fetch_add(10, Ordering::SeqCst);
                })
                .await;
                // a failing statement inside the savepoint
                Product::objects().create(product("C", "c", 1.0)).await?;
                Ok(())
            })
            .await;
            assert!(inner.unwrap_err().is_unique_violation());
            // the outer transaction is still usable
            Product::objects().create(product("E", "e", 1.0)).await?;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
        let names: Vec<String> = Product::objects().values_list_flat("name").await.unwrap();
        assert_eq!(names, ["A", "C", "E"]);
        assert_eq!(
            fired.load(Ordering::SeqCst),
            1,
            "only the outer on_commit ran"
        );
        // on_commit outside a transaction runs at once
        let now = Arc::new(AtomicUsize::new(0));
        let n2 = now.clone();
        hyperdjango_orm::on_commit(move || {
            n2.fetch_add(1, Ordering::SeqCst);
        })
        .await;
        assert_eq!(now.load(Ordering::SeqCst), 1);
    });
}

#[tokio::test]
async fn a_dropped_nested_atomic_rolls_back_and_releases_its_savepoint() {
    orm_test!([Product], async {
        let commits = Arc::new(AtomicUsize::new(0));
        let c = commits.clone();
        hyperdjango_orm::atomic(async move {
            Product::objects()
                .create(product("Kept", "K-1", 1.0))
                .await?;
            let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
            let c_inner = c.clone();
            let nested = hyperdjango_orm::atomic(async move {
                Product::objects()
                    .create(product("Dropped", "D-1", 1.0))
                    .await?;
                hyperdjango_orm::on_commit(move || {
                    c_inner.fetch_add(1, Ordering::SeqCst);
                })
                .await;
                let _ = started_tx.send(());
                // Never finishes: the select below drops this future here.
                std::future::pending::<()>().await;
                Ok::<_, Error>(())
            });
            tokio::select! {
                r = nested => panic!("the nested atomic cannot finish: {r:?}"),
                _ = started_rx => {}
            }
            // The next use rolls back to the savepoint first: the dropped body's row is gone,
            // and the transaction is usable.
            assert!(hyperdjango_orm::in_atomic_block());
            let names = Product::objects()
                .order_by(Product::name.asc())
                .values_list_flat::<String>("name")
                .await?;
            assert_eq!(names, ["Kept"]);
            // Nesting works on as before (this is the second savepoint).
            hyperdjango_orm::atomic(async {
                Product::objects()
                    .create(product("Later", "L-1", 1.0))
                    .await?;
                Ok::<_, Error>(())
            })
            .await?;
            // The dropped savepoint was released, not left open: releasing it again fails
            // (inside a third savepoint, which the failure rolls back to).
            let again: Result<_, Error> = hyperdjango_orm::atomic(async {
                Product::objects()
                    .raw_rows("RELEASE SAVEPOINT hd_sp_1")
                    .await
            })
            .await;
            let e = again.expect_err("hd_sp_1 is gone");
            assert!(e.to_string().contains("does not exist"), "{e}");
            let c2 = c.clone();
            hyperdjango_orm::on_commit(move || {
                c2.fetch_add(10, Ordering::SeqCst);
            })
            .await;
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
        // Committed: the outer row and the later savepoint's, not the dropped one's; the
        // dropped body's on_commit callback was forgotten with it.
        let names = Product::objects()
            .order_by(Product::name.asc())
            .values_list_flat::<String>("name")
            .await
            .unwrap();
        assert_eq!(names, ["Kept", "Later"]);
        assert_eq!(commits.load(Ordering::SeqCst), 10);
    });
}

#[tokio::test]
async fn every_call_in_atomic_uses_its_connection() {
    orm_test!([Product], async {
        hyperdjango_orm::atomic(async {
            let pid = |rows: Vec<hyperdjango_orm::Row>| rows[0].get::<_, i32>(0).unwrap();
            let a = pid(Product::objects()
                .raw_rows("SELECT pg_backend_pid()")
                .await?);
            let mut p = Product::objects().create(product("A", "a", 1.0)).await?;
            p.price = 2.0;
            p.save().await?;
            let b = pid(Product::objects()
                .raw_rows("SELECT pg_backend_pid()")
                .await?);
            assert_eq!(a, b);
            let xact = |rows: Vec<hyperdjango_orm::Row>| rows[0].get::<_, i64>(0).unwrap();
            let t1 = xact(Product::objects().raw_rows("SELECT txid_current()").await?);
            let _ = Product::objects()
                .filter(Product::price.gt(0.0))
                .all()
                .await?;
            let t2 = xact(Product::objects().raw_rows("SELECT txid_current()").await?);
            assert_eq!(t1, t2, "one transaction");
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    });
}

#[tokio::test]
async fn select_for_update_locks() {
    orm_test!([Product], async {
        let p = Product::objects()
            .create(product("A", "a", 1.0))
            .await
            .unwrap();
        let alias = hyperdjango_orm::db::resolve_current();
        let (sql, _) = Product::objects()
            .select_for_update_with(true, false, &["self"], false)
            .to_sql()
            .unwrap();
        assert!(sql.ends_with(r#"FOR UPDATE OF "products" NOWAIT"#), "{sql}");
        let (sql, _) = Product::objects()
            .select_for_update_with(false, true, &[], true)
            .to_sql()
            .unwrap();
        assert!(sql.ends_with("FOR NO KEY UPDATE SKIP LOCKED"), "{sql}");
        hyperdjango_orm::atomic(async {
            let locked = Product::objects()
                .select_for_update()
                .get(Product::id.eq(p.id))
                .await?;
            assert_eq!(locked.name, "A");
            // another task (another connection) cannot take the lock with NOWAIT...
            let other = tokio::spawn({
                let alias = alias.clone();
                async move {
                    hyperdjango_orm::using_database(
                        &alias,
                        hyperdjango_orm::atomic(async {
                            Product::objects()
                                .select_for_update_with(true, false, &[], false)
                                .all()
                                .await
                        }),
                    )
                    .await
                }
            })
            .await
            .unwrap();
            assert_eq!(
                other.unwrap_err().code(),
                Some(&hyperdjango_pgwire::SqlState::LOCK_NOT_AVAILABLE)
            );
            // ...and SKIP LOCKED skips the row
            let skipped = tokio::spawn({
                let alias = alias.clone();
                async move {
                    hyperdjango_orm::using_database(
                        &alias,
                        hyperdjango_orm::atomic(async {
                            Product::objects()
                                .select_for_update_with(false, true, &[], false)
                                .all()
                                .await
                        }),
                    )
                    .await
                }
            })
            .await
            .unwrap()
            .unwrap();
            assert!(skipped.is_empty());
            Ok::<_, Error>(())
        })
        .await
        .unwrap();
    });
}

#[tokio::test]
async fn using_picks_the_database() {
    let a = crate::orm_models::test_db().await;
    let b = crate::orm_models::test_db().await;
    for alias in [&a, &b] {
        hyperdjango_orm::using_database(
            alias,
            hyperdjango_orm::ddl::create_table::<Product>(false),
        )
        .await
        .unwrap();
    }
    hyperdjango_orm::using_database(&a, async {
        Product::objects()
            .create(product("in a", "a", 1.0))
            .await
            .unwrap();
        Product::objects()
            .using(&b)
            .create(product("in b", "b", 1.0))
            .await
            .unwrap();
        let mut from_b = Product::objects()
            .using(&b)
            .get(Product::sku.eq("b"))
            .await
            .unwrap();
        assert_eq!(from_b._state.db.as_deref(), Some(b.as_str()));
        from_b.price = 3.0;
        from_b.save().await.unwrap(); // saved where it came from
        assert_eq!(
            Product::objects()
                .using(&b)
                .get(Product::sku.eq("b"))
                .await
                .unwrap()
                .price,
            3.0
        );
        assert_eq!(Product::objects().count().await.unwrap(), 1);
        assert_eq!(
            Product::objects()
                .values_list_flat::<String>("name")
                .await
                .unwrap(),
            ["in a"]
        );
        let e = Product::objects()
            .using("nowhere")
            .count()
            .await
            .unwrap_err();
        assert!(matches!(e, Error::UnknownDatabase(_)), "{e}");
    })
    .await;
    hyperdjango_orm::unregister_database(&a);
    hyperdjango_orm::unregister_database(&b);
}
