//! Foreign keys against a real server: declaration against the target type, the `_id`
//! column and REFERENCES constraint, fetch/get (never an implicit query), the reverse
//! QuerySet, on_delete actions carried out by PostgreSQL, and a self-referencing tree.

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::relations::{ForeignKey, OnDelete};
use hyperdjango_pgwire::SqlState;

use crate::orm_test;

model! {
    #[table = "rel_customers"]
    #[derive(Debug, Clone)]
    pub struct RelCustomer {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub name: String,
    }
}

model! {
    #[table = "rel_orders"]
    #[derive(Debug, Clone)]
    pub struct RelOrder {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub customer: ForeignKey<RelCustomer> = Field::new().on_delete(OnDelete::Cascade).related_name("orders"),
        pub referrer: Option<ForeignKey<RelCustomer>> = Field::new().on_delete(OnDelete::SetNull),
        pub total: f64 = Field::new().default(0.0),
    }
}

model! {
    #[table = "rel_invoices"]
    #[derive(Debug, Clone)]
    pub struct RelInvoice {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub order: ForeignKey<RelOrder> = Field::new().on_delete(OnDelete::Protect),
    }
}

model! {
    #[table = "rel_categories"]
    #[derive(Debug, Clone)]
    pub struct RelCategory {
        pub id: Auto<i32> = Field::new().primary_key(),
        pub name: String,
        pub parent: Option<ForeignKey<RelCategory, i32>> = Field::new().on_delete(OnDelete::Cascade),
    }
}

async fn customer(name: &str) -> RelCustomer {
    RelCustomer::objects()
        .create(RelCustomer {
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn foreign_keys_store_keys_load_explicitly_and_follow_on_delete() {
    orm_test!([RelCustomer, RelOrder, RelInvoice], async {
        let ann = customer("ann").await;
        let bob = customer("bob").await;
        let mut o1 = RelOrder::default();
        o1.customer.set_object(ann.clone()).unwrap();
        o1.referrer = Some(ForeignKey::to(bob.id.get().unwrap()));
        o1.total = 10.0;
        o1.save().await.unwrap();
        let o2 = RelOrder::objects()
            .create(RelOrder {
                customer: ForeignKey::to(ann.id.get().unwrap()),
                total: 5.0,
                ..Default::default()
            })
            .await
            .unwrap();

        // Loaded rows carry the key only; get() says how to load, fetch() loads.
        let mut back = RelOrder::objects()
            .get(RelOrder::id.eq(o1.id))
            .await
            .unwrap();
        assert_eq!(back.customer.id(), ann.id.get().as_ref());
        let err = back.customer.get().unwrap_err().to_string();
        assert!(
            err.contains("RelCustomer") && err.contains("select_related"),
            "{err}"
        );
        assert_eq!(back.customer.fetch().await.unwrap().name, "ann");
        assert_eq!(back.customer.fetch_into().await.unwrap().name, "ann");
        assert_eq!(back.customer.get().unwrap().name, "ann");

        // Filters by key, typed and in the string form.
        let n = RelOrder::objects()
            .filter(RelOrder::customer.eq(ann.id.get().unwrap()))
            .count()
            .await
            .unwrap();
        assert_eq!(n, 2);
        let n = RelOrder::objects()
            .filter(q("referrer__isnull", true).unwrap())
            .count()
            .await
            .unwrap();
        assert_eq!(n, 1);
        // The reverse side: ann's orders.
        let totals: Vec<f64> = RelOrder::customer
            .related_to(&ann)
            .unwrap()
            .order_by(RelOrder::total)
            .all()
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.total)
            .collect();
        assert_eq!(totals, [5.0, 10.0]);

        // A key to a row that does not exist: the constraint refuses it.
        let err = RelOrder::objects()
            .create(RelOrder {
                customer: ForeignKey::to(999_999),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::FOREIGN_KEY_VIOLATION), "{err}");
        // A missing key on a non-null foreign key: named.
        let err = RelOrder::objects()
            .create(RelOrder::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("RelOrder.customer") && err.contains("NULL"),
            "{err}"
        );

        // PROTECT: an invoice keeps its order (and so its customer) from being deleted.
        let mut invoice = RelInvoice::objects()
            .create(RelInvoice {
                order: ForeignKey::to(o2.id.get().unwrap()),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut ann_again = ann.clone();
        let err = ann_again.delete().await.unwrap_err();
        // PostgreSQL 15 reports a RESTRICT refusal as foreign_key_violation, 18 as
        // restrict_violation: both are Error::Protected, naming the referring table.
        match &err {
            hyperdjango_orm::Error::Protected {
                model,
                referenced_by,
                ..
            } => {
                assert_eq!(*model, "RelCustomer");
                assert_eq!(referenced_by.as_deref(), Some("rel_invoices"));
            }
            other => panic!("expected Protected, got {other:?}"),
        }
        assert!(
            [
                SqlState::FOREIGN_KEY_VIOLATION,
                SqlState::RESTRICT_VIOLATION
            ]
            .iter()
            .any(|c| err.code() == Some(c)),
            "{err}"
        );
        assert!(err.to_string().contains("rel_invoices"), "{err}");
        assert_eq!(RelCustomer::objects().count().await.unwrap(), 2);
        invoice.delete().await.unwrap();
        // SET NULL: deleting bob clears the referrer; CASCADE: deleting ann deletes her orders.
        let mut bob = bob;
        bob.delete().await.unwrap();
        let o1_now = RelOrder::objects()
            .get(RelOrder::id.eq(o1.id))
            .await
            .unwrap();
        assert!(o1_now.referrer.is_none());
        ann_again.delete().await.unwrap();
        assert_eq!(RelOrder::objects().count().await.unwrap(), 0);
    });
}

#[tokio::test]
async fn a_self_referencing_tree() {
    orm_test!([RelCategory], async {
        let root = RelCategory::objects()
            .create(RelCategory {
                name: "root".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut child = RelCategory {
            name: "child".into(),
            ..Default::default()
        };
        let mut parent = ForeignKey::default();
        parent.set_object(root.clone()).unwrap();
        child.parent = Some(parent);
        child.save().await.unwrap();
        let leaf = RelCategory::objects()
            .create(RelCategory {
                name: "leaf".into(),
                parent: Some(ForeignKey::to(child.id.get().unwrap())),
                ..Default::default()
            })
            .await
            .unwrap();
        let up = leaf.parent.as_ref().unwrap().fetch().await.unwrap();
        assert_eq!(up.name, "child");
        let top = up.parent.as_ref().unwrap().fetch().await.unwrap();
        assert_eq!(top.name, "root");
        assert!(top.parent.is_none());
        let children = RelCategory::objects()
            .filter(RelCategory::parent.eq(root.id.get().unwrap()))
            .count()
            .await
            .unwrap();
        assert_eq!(children, 1);
        // CASCADE down the tree.
        let mut root = root;
        root.delete().await.unwrap();
        assert_eq!(RelCategory::objects().count().await.unwrap(), 0);
    });
}

#[tokio::test]
async fn select_related_loads_targets_in_the_same_query_nested_and_nullable() {
    orm_test!([RelCustomer, RelOrder, RelInvoice], async {
        let ann = customer("ann").await;
        let bob = customer("bob").await;
        let with_referrer = RelOrder::objects()
            .create(RelOrder {
                customer: ForeignKey::to(ann.id.get().unwrap()),
                referrer: Some(ForeignKey::to(bob.id.get().unwrap())),
                total: 1.0,
                ..Default::default()
            })
            .await
            .unwrap();
        RelOrder::objects()
            .create(RelOrder {
                customer: ForeignKey::to(bob.id.get().unwrap()),
                total: 2.0,
                ..Default::default()
            })
            .await
            .unwrap();
        let (orders, queries) = hyperdjango_orm::db::count_queries(
            RelOrder::objects()
                .select_related(["customer", "referrer"])
                .order_by(RelOrder::total)
                .all(),
        )
        .await;
        let orders = orders.unwrap();
        assert_eq!(queries, 1, "one query loads the orders and both relations");
        assert_eq!(
            orders.len(),
            2,
            "a LEFT JOIN keeps the order without a referrer"
        );
        assert_eq!(orders[0].customer.get().unwrap().name, "ann");
        let referrer = orders[0].referrer.as_ref().unwrap();
        assert_eq!(referrer.get().unwrap().name, "bob");
        assert_eq!(orders[1].customer.get().unwrap().name, "bob");
        assert!(orders[1].referrer.is_none());
        // Filters and ordering still apply to the main model.
        let only_ann = RelOrder::objects()
            .select_related(["customer"])
            .filter(RelOrder::total.lt(1.5))
            .get_one()
            .await
            .unwrap();
        assert_eq!(only_ann.customer.get().unwrap().name, "ann");

        // Two levels: invoice -> order -> customer, in one query.
        RelInvoice::objects()
            .create(RelInvoice {
                order: ForeignKey::to(with_referrer.id.get().unwrap()),
                ..Default::default()
            })
            .await
            .unwrap();
        let (sql, _) = RelInvoice::objects()
            .select_related(["order__customer"])
            .to_sql()
            .unwrap();
        assert_eq!(sql.matches(" JOIN ").count(), 2, "{sql}");
        let (invoice, queries) = hyperdjango_orm::db::count_queries(
            RelInvoice::objects()
                .select_related(["order__customer", "order__referrer"])
                .get_one(),
        )
        .await;
        assert_eq!(queries, 1);
        let invoice = invoice.unwrap();
        let order = invoice.order.get().unwrap();
        assert_eq!(order.total, 1.0);
        assert_eq!(order.customer.get().unwrap().name, "ann");
        assert_eq!(order.referrer.as_ref().unwrap().get().unwrap().name, "bob");
        // Not asked for: not loaded, and not fetched behind the caller's back.
        let plain = RelInvoice::objects().get_one().await.unwrap();
        assert!(!plain.order.is_loaded());
        // Loading it explicitly is one more query each.
        let (fetched, queries) = hyperdjango_orm::db::count_queries(plain.order.fetch()).await;
        assert_eq!((fetched.unwrap().total, queries), (1.0, 1));
        // A name that is not a foreign key.
        let err = RelOrder::objects()
            .select_related(["total"])
            .all()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("RelOrder.total") && err.contains("foreign key"),
            "{err}"
        );
        let err = RelOrder::objects()
            .select_related(["customer__nope"])
            .all()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("RelCustomer.nope"), "{err}");
    });
}

#[tokio::test]
async fn prefetch_loads_both_sides_for_many_rows_in_one_query_each() {
    orm_test!([RelCustomer, RelOrder], async {
        let mut customers = Vec::new();
        for name in ["ann", "bob", "cy"] {
            customers.push(customer(name).await);
        }
        for (who, total) in [(0, 1.0), (0, 2.0), (1, 3.0), (0, 4.0)] {
            RelOrder::objects()
                .create(RelOrder {
                    customer: ForeignKey::to(customers[who].id.get().unwrap()),
                    total,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        // The reverse side for all customers: one query, however many customers.
        let (orders, queries) =
            hyperdjango_orm::db::count_queries(RelOrder::customer.prefetch(&customers)).await;
        let orders = orders.unwrap();
        assert_eq!(queries, 1);
        let totals = |k: i64| -> Vec<f64> {
            let mut t: Vec<f64> = orders.for_key(&k).iter().map(|o| o.total).collect();
            t.sort_by(f64::total_cmp);
            t
        };
        assert_eq!(totals(customers[0].id.get().unwrap()), [1.0, 2.0, 4.0]);
        assert_eq!(totals(customers[1].id.get().unwrap()), [3.0]);
        assert!(totals(customers[2].id.get().unwrap()).is_empty());
        // With a QuerySet of one's own (Django's Prefetch): its filter and order apply.
        let big = RelOrder::customer
            .prefetch_with(
                &customers,
                RelOrder::objects()
                    .filter(RelOrder::total.gt(1.5))
                    .order_by(RelOrder::total.desc()),
            )
            .await
            .unwrap();
        let ann: Vec<f64> = big
            .for_key(&customers[0].id.get().unwrap())
            .iter()
            .map(|o| o.total)
            .collect();
        assert_eq!(ann, [4.0, 2.0]);
        // The forward side: every order's customer, one query for all of them.
        let mut all = RelOrder::objects().all().await.unwrap();
        let (loaded, queries) =
            hyperdjango_orm::db::count_queries(RelOrder::customer.load(&mut all)).await;
        loaded.unwrap();
        assert_eq!(queries, 1);
        let mut names: Vec<&str> = all
            .iter()
            .map(|o| o.customer.get().unwrap().name.as_str())
            .collect();
        names.sort();
        assert_eq!(names, ["ann", "ann", "ann", "bob"]);
        // Nothing to load: no query.
        let (_, queries) =
            hyperdjango_orm::db::count_queries(RelOrder::customer.prefetch(&[])).await;
        assert_eq!(queries, 0);
    });
}

model! {
    #[table = "rel_places"]
    #[derive(Debug, Clone)]
    pub struct RelPlace {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub name: String,
    }
}

model! {
    /// The 2005 reference's Restaurant: its primary key is also its foreign key to Place.
    #[table = "rel_restaurants"]
    #[derive(Debug, Clone)]
    pub struct RelRestaurant {
        pub place: ForeignKey<RelPlace> = Field::new().primary_key().on_delete(OnDelete::Cascade),
        pub serves_pizza: bool,
    }
}

model! {
    #[table = "rel_profiles"]
    #[derive(Debug, Clone)]
    pub struct RelProfile {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub customer: ForeignKey<RelCustomer> = Field::new().unique(),
        pub theme: String,
    }
}

#[tokio::test]
async fn one_to_one_as_a_unique_key_and_as_a_primary_key() {
    orm_test!([RelCustomer, RelProfile, RelPlace, RelRestaurant], async {
        let ann = customer("ann").await;
        RelProfile::objects()
            .create(RelProfile {
                customer: ForeignKey::to(ann.id.get().unwrap()),
                theme: "dark".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let err = RelProfile::objects()
            .create(RelProfile {
                customer: ForeignKey::to(ann.id.get().unwrap()),
                theme: "light".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::UNIQUE_VIOLATION),
            "one profile per customer"
        );
        let profile = RelProfile::customer
            .related_to(&ann)
            .unwrap()
            .get_one()
            .await
            .unwrap();
        assert_eq!(profile.theme, "dark");

        let place = RelPlace::objects()
            .create(RelPlace {
                name: "Luigi's".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut r = RelRestaurant {
            serves_pizza: true,
            ..Default::default()
        };
        r.place.set_object(place.clone()).unwrap();
        r.save().await.unwrap();
        // Saved again: an UPDATE by the shared key, not a second row.
        r.serves_pizza = false;
        r.save().await.unwrap();
        assert_eq!(RelRestaurant::objects().count().await.unwrap(), 1);
        let back = RelRestaurant::objects()
            .select_related(["place"])
            .get(RelRestaurant::place.eq(place.id.get().unwrap()))
            .await
            .unwrap();
        assert!(!back.serves_pizza);
        assert_eq!(back.place.get().unwrap().name, "Luigi's");
        let mut place = place;
        place.delete().await.unwrap();
        assert_eq!(
            RelRestaurant::objects().count().await.unwrap(),
            0,
            "CASCADE"
        );
    });
}

#[tokio::test]
async fn filters_span_relations_typed_and_in_the_string_form() {
    orm_test!([RelCustomer, RelOrder, RelInvoice], async {
        let ann = customer("ann").await;
        let annabel = customer("annabel").await;
        let bob = customer("bob").await;
        let mut order_ids = Vec::new();
        for (c, total) in [(&ann, 1.0), (&annabel, 2.0), (&bob, 3.0)] {
            let o = RelOrder::objects()
                .create(RelOrder {
                    customer: ForeignKey::to(c.id.get().unwrap()),
                    referrer: (total > 2.5).then(|| ForeignKey::to(ann.id.get().unwrap())),
                    total,
                    ..Default::default()
                })
                .await
                .unwrap();
            order_ids.push(o.id.get().unwrap());
        }
        for id in &order_ids {
            RelInvoice::objects()
                .create(RelInvoice {
                    order: ForeignKey::to(*id),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let totals = |orders: Vec<RelOrder>| -> Vec<f64> {
            let mut t: Vec<f64> = orders.into_iter().map(|o| o.total).collect();
            t.sort_by(f64::total_cmp);
            t
        };
        let by_string = RelOrder::objects()
            .filter(q("customer__name__startswith", "ann").unwrap())
            .all()
            .await
            .unwrap();
        assert_eq!(totals(by_string), [1.0, 2.0]);
        let typed = RelOrder::objects()
            .filter(RelOrder::customer.matching(RelCustomer::name.eq("bob".to_string())))
            .all()
            .await
            .unwrap();
        assert_eq!(totals(typed), [3.0]);
        // Through a nullable key, combined with a filter on the model itself.
        let referred = RelOrder::objects()
            .filter(
                RelOrder::referrer.matching(RelCustomer::name.eq("ann".to_string()))
                    & RelOrder::total.gt(0.0),
            )
            .count()
            .await
            .unwrap();
        assert_eq!(referred, 1);
        // Two relations deep: invoices of orders whose customer is "annabel".
        let n = RelInvoice::objects()
            .filter(q("order__customer__name", "annabel").unwrap())
            .count()
            .await
            .unwrap();
        assert_eq!(n, 1);
        // A lookup on the key itself still works, and a wrong name is an error naming the path.
        let n = RelOrder::objects()
            .filter(
                q(
                    "customer__in",
                    vec![ann.id.get().unwrap(), bob.id.get().unwrap()],
                )
                .unwrap(),
            )
            .count()
            .await
            .unwrap();
        assert_eq!(n, 2);
        let err = q::<RelOrder>("customer__nmae", "ann")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RelOrder.customer__nmae"), "{err}");
    });
}

#[tokio::test]
async fn ordering_and_values_span_relations_typed_and_as_paths() {
    orm_test!([RelCustomer, RelOrder, RelInvoice], async {
        let ann = customer("ann").await;
        let bob = customer("bob").await;
        let cy = customer("cy").await;
        let mut ids = Vec::new();
        for (who, referrer, total) in [
            (&bob, Some(&cy), 1.0),
            (&ann, None, 2.0),
            (&cy, Some(&ann), 3.0),
        ] {
            let o = RelOrder::objects()
                .create(RelOrder {
                    customer: ForeignKey::to(who.id.get().unwrap()),
                    referrer: referrer.map(|r| ForeignKey::to(r.id.get().unwrap())),
                    total,
                    ..Default::default()
                })
                .await
                .unwrap();
            ids.push(o.id.get().unwrap());
            RelInvoice::objects()
                .create(RelInvoice {
                    order: ForeignKey::to(o.id.get().unwrap()),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let totals = |orders: Vec<RelOrder>| orders.iter().map(|o| o.total).collect::<Vec<_>>();
        // By the customer's name, as a path and typed.
        let by_path = RelOrder::objects()
            .order_by("-customer__name")
            .all()
            .await
            .unwrap();
        assert_eq!(totals(by_path), [3.0, 1.0, 2.0]);
        let typed = RelOrder::objects()
            .order_by(RelOrder::customer.related(RelCustomer::name))
            .all()
            .await
            .unwrap();
        assert_eq!(totals(typed), [2.0, 1.0, 3.0]);
        // A nullable relation: NULL sorts last ascending, as PostgreSQL orders NULLs.
        let by_referrer = RelOrder::objects()
            .order_by(["referrer__name", "total"])
            .all()
            .await
            .unwrap();
        assert_eq!(totals(by_referrer), [3.0, 1.0, 2.0]);
        // Two steps: invoices by their order's customer's name, typed and as a path.
        let two_steps = RelInvoice::objects()
            .order_by(RelInvoice::order.related(RelOrder::customer.related(RelCustomer::name)))
            .values_list_flat::<i64>("order")
            .await
            .unwrap();
        assert_eq!(two_steps, [ids[1], ids[0], ids[2]]);
        let path = RelInvoice::objects()
            .order_by("order__customer__name")
            .values_list_flat::<i64>("order")
            .await
            .unwrap();
        assert_eq!(path, two_steps);
        // values() and filters with F-style paths read across the relation too.
        let names: Vec<(f64, String)> = RelOrder::objects()
            .order_by("total")
            .values_list(&["total", "customer__name"])
            .await
            .unwrap();
        assert_eq!(
            names,
            [(1.0, "bob".into()), (2.0, "ann".into()), (3.0, "cy".into())]
        );
        // Mistakes are named.
        let err = RelOrder::objects()
            .order_by("customer__nmae")
            .all()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("RelCustomer.nmae") && err.contains("no such field"),
            "{err}"
        );
        let err = RelOrder::objects()
            .order_by("total__name")
            .all()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("total is not a foreign key"), "{err}");
    });
}

#[tokio::test]
async fn nullable_foreign_keys_prefetch_and_load_skipping_nulls() {
    orm_test!([RelCustomer, RelOrder], async {
        let ann = customer("ann").await;
        let bob = customer("bob").await;
        for referrer in [Some(&ann), Some(&ann), None, Some(&bob)] {
            RelOrder::objects()
                .create(RelOrder {
                    customer: ForeignKey::to(bob.id.get().unwrap()),
                    referrer: referrer.map(|r| ForeignKey::to(r.id.get().unwrap())),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let customers = vec![ann.clone(), bob.clone()];
        let (referred, queries) =
            hyperdjango_orm::db::count_queries(RelOrder::referrer.prefetch(&customers)).await;
        let referred = referred.unwrap();
        assert_eq!(queries, 1);
        assert_eq!(referred.for_key(&ann.id.get().unwrap()).len(), 2);
        assert_eq!(referred.for_key(&bob.id.get().unwrap()).len(), 1);
        let mut orders = RelOrder::objects().order_by("id").all().await.unwrap();
        let (loaded, queries) =
            hyperdjango_orm::db::count_queries(RelOrder::referrer.load(&mut orders)).await;
        loaded.unwrap();
        assert_eq!(queries, 1);
        let names: Vec<Option<String>> = orders
            .iter()
            .map(|o| o.referrer.as_ref().map(|r| r.get().unwrap().name.clone()))
            .collect();
        assert_eq!(
            names,
            [
                Some("ann".into()),
                Some("ann".into()),
                None,
                Some("bob".into())
            ]
        );
    });
}

#[tokio::test]
async fn delete_reports_cascaded_rows_per_model() {
    orm_test!([RelCustomer, RelOrder, RelCategory], async {
        let mut ann = customer("ann").await;
        let bob = customer("bob").await;
        for (who, referrer) in [(&ann, Some(&bob)), (&ann, None), (&bob, Some(&ann))] {
            RelOrder::objects()
                .create(RelOrder {
                    customer: ForeignKey::to(who.id.get().unwrap()),
                    referrer: referrer.map(|r| ForeignKey::to(r.id.get().unwrap())),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        // ann's two orders go with her (CASCADE); bob's order only loses its referrer
        // (SET NULL), which is not a deletion.
        let (total, per_model) = ann.delete().await.unwrap();
        assert_eq!(total, 3);
        assert_eq!(
            per_model.into_iter().collect::<Vec<_>>(),
            [("RelCustomer", 1), ("RelOrder", 2)]
        );
        let left = RelOrder::objects().get_one().await.unwrap();
        assert!(left.referrer.is_none());
        // A self-referencing tree: the whole subtree, counted once.
        let mut parent: Option<i32> = None;
        for name in ["root", "a", "b", "c"] {
            let c = RelCategory::objects()
                .create(RelCategory {
                    name: name.into(),
                    parent: parent.map(ForeignKey::to),
                    ..Default::default()
                })
                .await
                .unwrap();
            parent = c.id.get();
        }
        let (total, per_model) = RelCategory::objects()
            .filter(RelCategory::name.eq("a"))
            .delete()
            .await
            .unwrap();
        assert_eq!(total, 3);
        assert_eq!(per_model.get("RelCategory"), Some(&3));
        // Inside a transaction, counts are for this delete only.
        let counts = hyperdjango_orm::atomic(async {
            RelOrder::objects().delete().await?;
            RelCustomer::objects().delete().await
        })
        .await
        .unwrap();
        assert_eq!(counts.0, 1);
        assert_eq!(counts.1.get("RelCustomer"), Some(&1));
        // Nothing matched: zero, for the model itself.
        let (total, per_model) = RelCustomer::objects().delete().await.unwrap();
        assert_eq!((total, per_model.get("RelCustomer")), (0, Some(&0)));
    });
}

model! {
    #[table = "rel_questions"]
    #[derive(Debug, Clone)]
    pub struct RelQuestion {
        pub id: Auto<i64> = Field::new().primary_key(),
    }
}

model! {
    #[table = "rel_answers"]
    #[meta = Meta::new().order_with_respect_to("question")]
    #[derive(Debug, Clone)]
    pub struct RelAnswer {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub question: ForeignKey<RelQuestion> = Field::new().on_delete(OnDelete::Cascade),
        pub text: String,
        pub _order: i32,
    }
}

model! {
    #[table = "rel_bad_answers"]
    #[meta = Meta::new().order_with_respect_to("text")]
    pub struct RelBadAnswer {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub text: String,
    }
}

#[tokio::test]
async fn order_with_respect_to_keeps_each_parents_rows_in_order() {
    use hyperdjango_orm::ordering::{get_order, next_in_order, previous_in_order, set_order};
    orm_test!([RelQuestion, RelAnswer], async {
        let q1 = RelQuestion::objects()
            .create(RelQuestion::default())
            .await
            .unwrap();
        let q2 = RelQuestion::objects()
            .create(RelQuestion::default())
            .await
            .unwrap();
        let (k1, k2) = (q1.id.get().unwrap(), q2.id.get().unwrap());
        let mut ids = Vec::new();
        for (q, text) in [(k1, "a"), (k2, "x"), (k1, "b"), (k1, "c")] {
            let a = RelAnswer::objects()
                .create(RelAnswer {
                    question: ForeignKey::to(q),
                    text: text.into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            ids.push((a.id.get().unwrap(), a._order));
        }
        // Each parent's list is numbered on its own, in insertion order.
        let positions: Vec<i32> = ids.iter().map(|(_, o)| *o).collect();
        assert_eq!(positions, [0, 0, 1, 2]);
        let order: Vec<i64> = get_order::<RelAnswer, _, _>(k1).await.unwrap();
        assert_eq!(order, [ids[0].0, ids[2].0, ids[3].0]);
        // Reorder; the default ordering follows.
        let wanted = vec![ids[3].0, ids[0].0, ids[2].0];
        set_order::<RelAnswer, _, _>(k1, &wanted).await.unwrap();
        let texts: Vec<String> = RelAnswer::objects()
            .filter(RelAnswer::question.eq(k1))
            .values_list_flat("text")
            .await
            .unwrap();
        assert_eq!(texts, ["c", "a", "b"]);
        let first = RelAnswer::objects()
            .get(RelAnswer::text.eq("c"))
            .await
            .unwrap();
        let second = next_in_order(&first).await.unwrap().unwrap();
        assert_eq!(second.text, "a");
        assert!(previous_in_order(&first).await.unwrap().is_none());
        assert_eq!(previous_in_order(&second).await.unwrap().unwrap().text, "c");
        // A list that misses a row, or names another parent's, changes nothing.
        let err = set_order::<RelAnswer, _, _>(k1, &[ids[0].0, ids[2].0])
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly once"), "{err}");
        let err = set_order::<RelAnswer, _, _>(k1, &[ids[0].0, ids[1].0, ids[2].0, ids[3].0])
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly once"), "{err}");
        let order: Vec<i64> = get_order::<RelAnswer, _, _>(k1).await.unwrap();
        assert_eq!(order, wanted);
        // A mistaken declaration is named.
        let err = RelBadAnswer::objects()
            .count()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a foreign key"), "{err}");
    });
}

model! {
    #[table = "rel_skus"]
    #[derive(Debug, Clone)]
    pub struct RelSku {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub code: String = Field::new().unique(),
        pub name: String,
    }
}

model! {
    /// A foreign key to RelSku's unique `code` instead of its primary key (`to_field`).
    #[table = "rel_lines"]
    #[derive(Debug, Clone)]
    pub struct RelLine {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub sku: ForeignKey<RelSku, String> = Field::new().to_field("code").on_delete(OnDelete::Cascade),
        pub qty: i32,
    }
}

model! {
    #[table = "rel_bad_lines"]
    pub struct RelBadLine {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub sku: ForeignKey<RelSku, String> = Field::new().to_field("nmae"),
    }
}

model! {
    #[table = "rel_bad_lines2"]
    pub struct RelBadLine2 {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub sku: ForeignKey<RelSku, String> = Field::new().to_field("name"),
    }
}

#[tokio::test]
async fn a_foreign_key_to_a_unique_field_other_than_the_primary_key() {
    orm_test!([RelSku, RelLine], async {
        let ddl = hyperdjango_orm::ddl::create_table_sql::<RelLine>();
        assert!(
            ddl[0].contains(r#""sku_id" TEXT NOT NULL REFERENCES "rel_skus" ("code")"#),
            "{}",
            ddl[0]
        );
        let mut skus = Vec::new();
        // Primary keys 1, 2 and codes that are not them, so a lookup by the wrong column
        // finds nothing.
        for (code, name) in [("W-1", "widget"), ("G-7", "gadget")] {
            skus.push(
                RelSku::objects()
                    .create(RelSku {
                        code: code.into(),
                        name: name.into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap(),
            );
        }
        let mut line = RelLine {
            qty: 2,
            ..Default::default()
        };
        line.sku.set_object(skus[1].clone()).unwrap();
        line.save().await.unwrap();
        assert_eq!(
            line.sku.id(),
            Some(&"G-7".to_string()),
            "bound at save: the code"
        );
        RelLine::objects()
            .create(RelLine {
                sku: ForeignKey::to("W-1".into()),
                qty: 5,
                ..Default::default()
            })
            .await
            .unwrap();
        // fetch() of a loaded row looks the target up by its code.
        let loaded = RelLine::objects().get(RelLine::qty.eq(5)).await.unwrap();
        assert_eq!(loaded.sku.fetch().await.unwrap().name, "widget");
        // select_related joins on the code.
        let joined = RelLine::objects()
            .select_related(["sku"])
            .order_by("qty")
            .all()
            .await
            .unwrap();
        let names: Vec<&str> = joined
            .iter()
            .map(|l| l.sku.get().unwrap().name.as_str())
            .collect();
        assert_eq!(names, ["gadget", "widget"]);
        // Filters, ordering and values across the relation.
        let n = RelLine::objects()
            .filter(q("sku__name", "widget").unwrap())
            .count()
            .await
            .unwrap();
        assert_eq!(n, 1);
        let by_name: Vec<i32> = RelLine::objects()
            .order_by("-sku__name")
            .values_list_flat("qty")
            .await
            .unwrap();
        assert_eq!(by_name, [5, 2]);
        // Prefetch both ways, keyed by the code.
        let lines = RelLine::sku.prefetch(&skus).await.unwrap();
        assert_eq!(lines.for_key(&"G-7".to_string())[0].qty, 2);
        let mut all = RelLine::objects().order_by("qty").all().await.unwrap();
        RelLine::sku.load(&mut all).await.unwrap();
        assert_eq!(all[1].sku.get().unwrap().name, "widget");
        let of_widget = RelLine::sku
            .related_to(&skus[0])
            .unwrap()
            .count()
            .await
            .unwrap();
        assert_eq!(of_widget, 1);
        // Mistakes in to_field are named before any query runs.
        let err = RelBadLine::objects().count().await.unwrap_err().to_string();
        assert!(
            err.contains("RelBadLine.sku") && err.contains("nmae"),
            "{err}"
        );
        let err = RelBadLine2::objects()
            .count()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not unique"), "{err}");
    });
}
