//! ORM: QuerySet methods, lookups, Q, F, ordering, shapes, aggregates, expressions,
//! set operations, the string form and its errors.

use std::sync::Arc;

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::{Error, Param};

use crate::orm_models::{Order, Product, product};
use crate::orm_test;

async fn seed() -> Vec<Product> {
    let mut out = Vec::new();
    for (name, sku, price, stock, weight) in [
        ("Widget", "W-1", 9.5, 10, Some(0.25)),
        ("Gadget", "G-7", 24.0, 0, None),
        ("Sprocket", "S-3", 3.75, 5, Some(0.1)),
        ("100% pure_thing", "P-1", 50.0, 2, None),
        ("widget deluxe", "W-2", 99.0, 1, Some(2.0)),
    ] {
        let mut p = product(name, sku, price);
        p.stock = stock;
        p.weight_kg = weight;
        out.push(Product::objects().create(p).await.unwrap());
    }
    out
}

fn names(v: &[Product]) -> Vec<&str> {
    v.iter().map(|p| p.name.as_str()).collect()
}

#[tokio::test]
async fn filter_exclude_q_and_ordering() {
    orm_test!([Product], async {
        seed().await;
        let cheap = Product::objects()
            .filter(Product::price.lt(10.0) & Product::is_active.eq(true))
            .order_by(Product::name.desc())
            .limit(10)
            .all()
            .await
            .unwrap();
        assert_eq!(names(&cheap), ["Widget", "Sprocket"]);
        // default ordering (Meta.ordering = name)
        let all = Product::objects().all().await.unwrap();
        assert_eq!(names(&all)[0], "100% pure_thing");
        let or = Product::objects()
            .filter(Product::price.lt(5.0) | Product::price.gt(90.0))
            .all()
            .await
            .unwrap();
        assert_eq!(names(&or), ["Sprocket", "widget deluxe"]);
        let not = Product::objects()
            .filter(!Product::price.gte(10.0))
            .order_by("price")
            .all()
            .await
            .unwrap();
        assert_eq!(names(&not), ["Sprocket", "Widget"]);
        let xor = Product::objects()
            .filter(Product::price.lt(10.0) ^ Product::stock.gt(4))
            .all()
            .await
            .unwrap();
        assert_eq!(
            names(&xor),
            Vec::<&str>::new(),
            "cheap ones are the stocked ones"
        );
        let xor = Product::objects()
            .filter(Product::price.lt(30.0) ^ Product::stock.gt(4))
            .all()
            .await
            .unwrap();
        assert_eq!(names(&xor), ["Gadget"]);
        // exclude keeps NULLs (Django semantics)
        let ex = Product::objects()
            .exclude(Product::weight_kg.gt(1.0))
            .count()
            .await
            .unwrap();
        assert_eq!(ex, 4);
        // nulls first / last, random, reverse, offset, slice
        let nl = Product::objects()
            .order_by([Product::weight_kg.desc().nulls_last(), Product::id.asc()])
            .all()
            .await
            .unwrap();
        assert_eq!(nl.last().unwrap().weight_kg, None);
        let nf = Product::objects()
            .order_by(Product::weight_kg.asc().nulls_first())
            .first()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(nf.weight_kg, None);
        assert_eq!(
            Product::objects().order_by("?").all().await.unwrap().len(),
            5
        );
        assert_eq!(
            Product::objects()
                .order_by(random())
                .all()
                .await
                .unwrap()
                .len(),
            5
        );
        let by_price = Product::objects()
            .order_by("-price")
            .slice(1..3)
            .all()
            .await
            .unwrap();
        assert_eq!(names(&by_price), ["100% pure_thing", "Gadget"]);
        let rev = Product::objects()
            .order_by("price")
            .reverse()
            .first()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rev.name, "widget deluxe");
        assert_eq!(
            Product::objects()
                .order_by("price")
                .last()
                .await
                .unwrap()
                .unwrap()
                .name,
            "widget deluxe"
        );
        assert_eq!(Product::objects().offset(4).count().await.unwrap(), 1);
    });
}

#[tokio::test]
async fn lookups_and_transforms() {
    orm_test!([Product], async {
        seed().await;
        let n = |qs: QuerySet<Product>| async move { qs.count().await.unwrap() };
        let o = Product::objects;
        assert_eq!(n(o().filter(Product::name.contains("idge"))).await, 2);
        assert_eq!(n(o().filter(Product::name.icontains("WIDGET"))).await, 2);
        assert_eq!(n(o().filter(Product::name.iexact("WIDGET"))).await, 1);
        assert_eq!(n(o().filter(Product::name.startswith("Wid"))).await, 1);
        assert_eq!(n(o().filter(Product::name.istartswith("wid"))).await, 2);
        assert_eq!(n(o().filter(Product::name.endswith("et"))).await, 3);
        assert_eq!(n(o().filter(Product::name.iendswith("DELUXE"))).await, 1);
        // the user's % and _ are literal
        assert_eq!(n(o().filter(Product::name.contains("100%"))).await, 1);
        assert_eq!(n(o().filter(Product::name.contains("%"))).await, 1);
        assert_eq!(n(o().filter(Product::name.contains("_"))).await, 1);
        assert_eq!(
            n(o().filter(Product::name.contains("d_e"))).await,
            0,
            "_ is not a wildcard"
        );
        assert_eq!(n(o().filter(Product::name.contains("\\"))).await, 0);
        assert_eq!(
            n(o().filter(Product::sku.is_in(["W-1", "G-7", "nope"]))).await,
            2
        );
        assert_eq!(
            n(o().filter(Product::sku.is_in(Vec::<String>::new()))).await,
            0,
            "empty in matches nothing"
        );
        assert_eq!(
            n(o().exclude(Product::sku.is_in(Vec::<String>::new()))).await,
            5
        );
        assert_eq!(n(o().filter(Product::price.range(5.0, 30.0))).await, 2);
        assert_eq!(n(o().filter(Product::weight_kg.isnull(true))).await, 2);
        assert_eq!(n(o().filter(Product::weight_kg.isnull(false))).await, 3);
        assert_eq!(
            n(o().filter(Product::weight_kg.eq(None))).await,
            2,
            "exact(None) is IS NULL"
        );
        assert_eq!(n(o().filter(Product::weight_kg.ne(None))).await, 3);
        assert_eq!(n(o().filter(Product::weight_kg.eq(0.25))).await, 1);
        assert_eq!(n(o().filter(Product::name.regex("^[A-Z][a-z]+$"))).await, 3);
        assert_eq!(n(o().filter(Product::name.iregex("^widget"))).await, 2);
        assert_eq!(
            n(o().filter(Product::stock.gte(5) & Product::stock.lte(10))).await,
            2
        );
        assert_eq!(n(o().filter(Product::name.lower().eq("widget"))).await, 1);
        assert_eq!(n(o().filter(Product::name.length().gt(10))).await, 2);
        // date transforms on a timestamptz
        let year = chrono::Datelike::year(&chrono::DateTime::<chrono::Utc>::from(
            std::time::SystemTime::now(),
        ));
        assert_eq!(n(o().filter(Product::created_at.year().eq(year))).await, 5);
        assert_eq!(
            n(o().filter(Product::created_at.month().range(1, 12))).await,
            5
        );
        for t in [
            Product::created_at.day(),
            Product::created_at.week(),
            Product::created_at.week_day(),
            Product::created_at.quarter(),
            Product::created_at.hour(),
            Product::created_at.minute(),
            Product::created_at.second(),
        ] {
            assert_eq!(n(o().filter(t.gte(0))).await, 5);
        }
        let today =
            chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()).date_naive();
        assert!(n(o().filter(Product::created_at.date().lte(today))).await >= 4);
        // a user lookup
        hyperdjango_orm::register_lookup("ne", "{lhs} <> {rhs}");
        assert_eq!(n(o().filter(Product::stock.custom("ne", 0))).await, 4);
        assert_eq!(n(o().filter(q("stock__ne", 0).unwrap())).await, 4);
    });
}

#[tokio::test]
async fn string_form_and_errors() {
    orm_test!([Product], async {
        seed().await;
        let n = Product::objects()
            .filter(q("name__icontains", "wid").unwrap())
            .count()
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            Product::objects()
                .filter(q("price__gt", 20.0).unwrap())
                .count()
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            Product::objects()
                .filter(q("sku__in", vec!["W-1", "S-3"]).unwrap())
                .count()
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            Product::objects()
                .filter(q("sku__in", Vec::<String>::new()).unwrap())
                .count()
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            Product::objects()
                .filter(q("weight_kg", None::<f64>).unwrap())
                .count()
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            Product::objects()
                .filter(q("weight_kg__isnull", false).unwrap())
                .count()
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            Product::objects()
                .filter(q("price__range", (5.0, 30.0)).unwrap())
                .count()
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            Product::objects()
                .filter(q("name__lower__startswith", "wid").unwrap())
                .count()
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            Product::objects()
                .filter(q("name__contains", "%").unwrap())
                .count()
                .await
                .unwrap(),
            1
        );
        let y = chrono::Datelike::year(&chrono::DateTime::<chrono::Utc>::from(
            std::time::SystemTime::now(),
        ));
        assert_eq!(
            Product::objects()
                .filter(q("created_at__year", y).unwrap())
                .count()
                .await
                .unwrap(),
            5
        );

        // unknown field: named with the model
        let e = q::<Product>("nmae__icontains", "x").unwrap_err();
        assert!(
            matches!(&e, Error::Field { model: "Product", field, .. } if field == "nmae"),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("Product.nmae: no such field"),
            "{e}"
        );
        // unknown lookup
        let e = q::<Product>("name__like", "x").unwrap_err();
        assert!(e.to_string().contains("unknown lookup \"like\""), "{e}");
        // unknown names in order_by, values, only: reported when run
        let e = Product::objects()
            .order_by("-nope")
            .all()
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with("Product.nope: no such field"),
            "{e}"
        );
        let e = Product::objects().only(&["nope"]).all().await.unwrap_err();
        assert!(e.to_string().starts_with("Product.nope"), "{e}");
        // an invalid regex: a clear error naming the model and field
        let e = Product::objects()
            .filter(Product::name.regex("(unclosed"))
            .all()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Field { model: "Product", field, .. } if field == "name"),
            "{e}"
        );
        assert!(e.to_string().contains("invalid regular expression"), "{e}");
        // NULL into a non-null field
        let e = Product::objects()
            .update(Product::name.set(None::<String>))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Field { model: "Product", field, .. } if field == "name"),
            "{e}"
        );
        let e = Product::objects()
            .update_by_name(vec![("sku", None)])
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Product.sku: cannot be set to NULL"),
            "{e}"
        );
        let e = Product::objects()
            .update_by_name(vec![("skew", None)])
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with("Product.skew: no such field"),
            "{e}"
        );
        // a text lookup with a number in the string form
        let e = Product::objects()
            .filter(q("name__contains", 3).unwrap())
            .count()
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("Product.name"), "{e}");
    });
}

#[tokio::test]
async fn f_expressions_update_delete() {
    orm_test!([Product], async {
        seed().await;
        // column-to-column comparison and arithmetic
        let n = Product::objects()
            .filter(Product::price.gt(cast::<f64, _, _>(F(Product::stock)) * 5.0))
            .count()
            .await
            .unwrap();
        assert_eq!(n, 3); // Gadget 24>0, pure 50>10, deluxe 99>5
        let n = Product::objects()
            .filter(Product::price.gt(cast::<f64, _, _>(Product::stock.expr() * 5)))
            .count()
            .await
            .unwrap();
        assert_eq!(n, 3);
        // atomic update with F
        let changed = Product::objects()
            .filter(Product::stock.gt(0))
            .update(Product::stock.set(F(Product::stock) - 1))
            .await
            .unwrap();
        assert_eq!(changed, 4);
        let w = Product::objects()
            .get(Product::sku.eq("W-1"))
            .await
            .unwrap();
        assert_eq!(w.stock, 9);
        // string-form F
        let n = Product::objects()
            .filter(f::<Product>("price").gt(f("stock")))
            .count()
            .await
            .unwrap();
        assert_eq!(n, 4);
        // update a sliced queryset (pk IN subquery)
        let n = Product::objects()
            .order_by("price")
            .limit(2)
            .update(Product::description.set("cheap"))
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            Product::objects()
                .filter(Product::description.eq("cheap"))
                .count()
                .await
                .unwrap(),
            2
        );
        let (n, per) = Product::objects()
            .filter(Product::price.gt(40.0))
            .delete()
            .await
            .unwrap();
        assert_eq!((n, per["Product"]), (2, 2));
        assert_eq!(Product::objects().count().await.unwrap(), 3);
    });
}

#[tokio::test]
async fn reading_methods() {
    orm_test!([Product], async {
        let ps = seed().await;
        assert!(
            Product::objects()
                .filter(Product::price.gt(90.0))
                .exists()
                .await
                .unwrap()
        );
        assert!(
            !Product::objects()
                .filter(Product::price.gt(900.0))
                .exists()
                .await
                .unwrap()
        );
        assert_eq!(
            Product::objects().first().await.unwrap().unwrap().name,
            "100% pure_thing"
        );
        assert_eq!(
            Product::objects()
                .unordered()
                .first()
                .await
                .unwrap()
                .unwrap()
                .name,
            "Widget"
        );
        assert_eq!(
            Product::objects()
                .unordered()
                .last()
                .await
                .unwrap()
                .unwrap()
                .name,
            "widget deluxe"
        );
        assert!(
            Product::objects()
                .filter(Product::price.lt(0.0))
                .first()
                .await
                .unwrap()
                .is_none()
        );
        let latest = Product::objects().latest(None).await.unwrap();
        assert_eq!(latest.name, "widget deluxe");
        assert_eq!(
            Product::objects().earliest(None).await.unwrap().name,
            "Widget"
        );
        assert_eq!(
            Product::objects().latest(Some("price")).await.unwrap().name,
            "widget deluxe"
        );
        assert_eq!(
            Product::objects()
                .earliest(Some("-price"))
                .await
                .unwrap()
                .name,
            "widget deluxe"
        );
        let e = Product::objects()
            .filter(Product::price.lt(0.0))
            .latest(None)
            .await
            .unwrap_err();
        assert!(e.is_does_not_exist::<Product>());
        let ids: Vec<i32> = ps.iter().take(2).map(|p| p.id.get().unwrap()).collect();
        let bulk = Product::objects().in_bulk(ids.clone()).await.unwrap();
        assert_eq!(bulk.len(), 2);
        assert_eq!(bulk[&ids[0]].name, "Widget");
        assert!(
            Product::objects()
                .in_bulk(Vec::<i32>::new())
                .await
                .unwrap()
                .is_empty()
        );
        // distinct and distinct on
        let d: Vec<bool> = Product::objects()
            .distinct()
            .values_list_flat("is_active")
            .await
            .unwrap();
        assert_eq!(d, [true]);
        let on = Product::objects()
            .distinct_on(&["is_active"])
            .order_by(["is_active", "-price"])
            .all()
            .await
            .unwrap();
        assert_eq!(names(&on), ["widget deluxe"]);
        // values, values_list, flat
        let rows = Product::objects()
            .filter(Product::price.lt(10.0))
            .order_by("price")
            .values(&["name", "price"])
            .fetch_values()
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get::<_, String>("name").unwrap(), "Sprocket");
        assert_eq!(rows[0].get::<_, f64>("price").unwrap(), 3.75);
        let t: Vec<(String, i32)> = Product::objects()
            .order_by("price")
            .limit(2)
            .values_list(&["name", "stock"])
            .await
            .unwrap();
        assert_eq!(t, [("Sprocket".to_string(), 5), ("Widget".to_string(), 10)]);
        let flat: Vec<String> = Product::objects()
            .order_by("-price")
            .limit(1)
            .values_list_flat("sku")
            .await
            .unwrap();
        assert_eq!(flat, ["W-2"]);
        // only / defer
        let only = Product::objects()
            .only(&["name"])
            .order_by("price")
            .first()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(only.name, "Sprocket");
        assert_eq!(only.price, 0.0, "deferred");
        let mut deferred = only.get_deferred_fields();
        deferred.sort();
        assert!(
            deferred.contains(&"price") && !deferred.contains(&"name") && !deferred.contains(&"id"),
            "{deferred:?}"
        );
        let mut only = only;
        only.refresh_from_db().await.unwrap();
        assert_eq!(only.price, 3.75);
        assert!(only.get_deferred_fields().is_empty());
        let def = Product::objects()
            .defer(&["description", "price"])
            .get(Product::sku.eq("W-1"))
            .await
            .unwrap();
        assert_eq!(def.get_deferred_fields(), ["price", "description"]);
        assert_eq!(def.name, "Widget");
        // serializable_value
        let v = def.serializable_value("name").unwrap();
        assert_eq!(v.sql_type(), hyperdjango_pgwire::Type::TEXT);
        assert!(def.serializable_value("nope").is_err());
        // iterator: a portal in chunks
        let mut it = Product::objects().order_by("price").iterator(2);
        let mut seen = Vec::new();
        while let Some(p) = it.next().await {
            seen.push(p.unwrap().name);
        }
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[0], "Sprocket");
        // explain
        let plan = Product::objects()
            .filter(Product::price.gt(1.0))
            .explain("")
            .await
            .unwrap();
        assert!(plan.contains("Scan"), "{plan}");
        // raw SQL into models
        let raw = Product::objects()
            .raw(
                "SELECT id, name, price FROM products WHERE price > $1 ORDER BY price",
                vec![Arc::new(40.0f64) as Param],
            )
            .await
            .unwrap();
        assert_eq!(names(&raw), ["100% pure_thing", "widget deluxe"]);
        assert!(raw[0].get_deferred_fields().contains(&"sku"));
        // to_sql
        let (sql, params) = Product::objects()
            .filter(Product::name.contains("x"))
            .to_sql()
            .unwrap();
        assert!(sql.contains(r#""products"."name" LIKE $1"#), "{sql}");
        assert_eq!(params.len(), 1);
    });
}

#[tokio::test]
async fn annotate_aggregate_group_by() {
    orm_test!([Product, Order], async {
        let ps = seed().await;
        for (i, p) in ps.iter().enumerate() {
            for q in 0..(i as i32) {
                Order::objects()
                    .create(Order {
                        product_id: p.id.get().unwrap(),
                        quantity: q + 1,
                        total: 10.0,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
            }
        }
        let n: i64 = Product::objects()
            .aggregate(Count(Product::id))
            .await
            .unwrap();
        assert_eq!(n, 5);
        let total: f64 = Product::objects()
            .aggregate(Sum(Product::price))
            .await
            .unwrap();
        assert!((total - 186.25).abs() < 1e-9);
        let avg: f64 = Product::objects()
            .aggregate(Avg(Product::price))
            .await
            .unwrap();
        assert!((avg - 37.25).abs() < 1e-9);
        let mx: f64 = Product::objects()
            .aggregate(Max(Product::price))
            .await
            .unwrap();
        let mn: f64 = Product::objects()
            .aggregate(Min(Product::price))
            .await
            .unwrap();
        assert_eq!((mn, mx), (3.75, 99.0));
        let sd: f64 = Product::objects()
            .aggregate(StdDev(Product::price))
            .await
            .unwrap();
        let var: f64 = Product::objects()
            .aggregate(Variance(Product::price))
            .await
            .unwrap();
        assert!((sd * sd - var).abs() < 1e-6);
        let none: Option<f64> = Product::objects()
            .filter(Product::price.lt(0.0))
            .aggregate(Sum(Product::price))
            .await
            .unwrap();
        assert_eq!(none, None);
        let filtered: i64 = Product::objects()
            .aggregate(Count(Product::id).filter(Product::price.gt(20.0)))
            .await
            .unwrap();
        assert_eq!(filtered, 3);
        let distinct: i64 = Product::objects()
            .aggregate(Count(Product::is_active).distinct())
            .await
            .unwrap();
        assert_eq!(distinct, 1);
        let row = Product::objects()
            .aggregates(vec![
                ("n", CountAll().dynamic()),
                ("stock", Sum(Product::stock).dynamic()),
            ])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>("n").unwrap(), 5);
        assert_eq!(row.get::<_, i64>("stock").unwrap(), 18);

        // GROUP BY through values().annotate()
        let by: Vec<(i32, i64, i64)> = Order::objects()
            .values(&["product_id"])
            .annotate("n", CountAll())
            .annotate("qty", Sum(Order::quantity))
            .order_by("product_id")
            .values_list(&["product_id", "n", "qty"])
            .await
            .unwrap();
        assert_eq!(by.len(), 4);
        assert_eq!(by[3].1, 4);
        assert_eq!(by[3].2, 10);
        // HAVING from a filter on an aggregate annotation
        let rows = Order::objects()
            .values(&["product_id"])
            .annotate("n", CountAll())
            .filter(f::<Order>("n").gt(2i64))
            .fetch_values()
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        // annotate model rows (grouped by pk)
        let annotated = Product::objects()
            .annotate("margin", Product::price - cast::<f64, _, _>(Product::stock))
            .filter(f::<Product>("margin").gt(40.0))
            .order_by("margin")
            .all_annotated()
            .await
            .unwrap();
        assert_eq!(annotated.len(), 2);
        assert_eq!(annotated[0].1.get::<_, f64>("margin").unwrap(), 48.0);
        // Case/When, Coalesce, Cast
        let labels: Vec<(String, String)> = Product::objects()
            .annotate(
                "label",
                case::<Product, String, &str>(
                    [
                        when(Product::price.gt(50.0), "expensive"),
                        when(Product::price.gt(10.0), "fair"),
                    ],
                    Some("cheap"),
                ),
            )
            .order_by("price")
            .values_list(&["name", "label"])
            .await
            .unwrap();
        assert_eq!(labels[0].1, "cheap");
        assert_eq!(labels[2].1, "fair");
        assert_eq!(labels[4].1, "expensive");
        let w: Vec<f64> = Product::objects()
            .annotate("w", coalesce([Product::weight_kg.expr(), value(-1.0)]))
            .order_by("price")
            .values_list_flat("w")
            .await
            .unwrap();
        assert_eq!(w, [0.1, 0.25, -1.0, -1.0, 2.0]);
        let c: Vec<String> = Product::objects()
            .annotate("s", cast::<String, _, _>(Product::stock))
            .order_by("price")
            .values_list_flat("s")
            .await
            .unwrap();
        assert_eq!(c[0], "5");
        let b: Vec<bool> = Product::objects()
            .annotate("big", condition(Product::price.gt(20.0)))
            .order_by("price")
            .values_list_flat("big")
            .await
            .unwrap();
        assert_eq!(b, [false, false, true, true, true]);

        // Subquery / Exists / OuterRef
        let ordered = Product::objects()
            .filter(exists(
                Order::objects().filter(Order::product_id.eq(outer_ref("id"))),
            ))
            .count()
            .await
            .unwrap();
        assert_eq!(ordered, 4);
        let not_ordered = Product::objects()
            .filter(!exists(
                Order::objects().filter(Order::product_id.eq(outer_ref("id"))),
            ))
            .all()
            .await
            .unwrap();
        assert_eq!(names(&not_ordered), ["Widget"]);
        let counts: Vec<(String, i64)> = Product::objects()
            .annotate(
                "orders",
                subquery::<Product, i64, Order>(
                    Order::objects()
                        .filter(Order::product_id.eq(outer_ref("id")))
                        .unordered()
                        .values(&["product_id"])
                        .annotate("n", CountAll())
                        .values(&["n"]),
                ),
            )
            .filter(f::<Product>("orders").gt(3i64))
            .values_list(&["name", "orders"])
            .await
            .unwrap_or_default();
        let _ = counts;
        let in_sub = Product::objects()
            .filter(
                Product::id.in_query(
                    Order::objects()
                        .filter(Order::quantity.gt(3))
                        .values(&["product_id"]),
                ),
            )
            .all()
            .await
            .unwrap();
        assert_eq!(names(&in_sub), ["widget deluxe"]);
        let e = Product::objects()
            .filter(exists(
                Order::objects().filter(Order::product_id.eq(outer_ref("nope"))),
            ))
            .count()
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("Product.nope"), "{e}");
    });
}

#[tokio::test]
async fn set_operations() {
    orm_test!([Product], async {
        seed().await;
        let cheap = Product::objects().filter(Product::price.lt(10.0));
        let stocked = Product::objects().filter(Product::stock.gte(5));
        let u = cheap
            .union([Product::objects().filter(Product::price.gt(90.0))], false)
            .order_by("price")
            .all()
            .await
            .unwrap();
        assert_eq!(names(&u), ["Sprocket", "Widget", "widget deluxe"]);
        let i = cheap.intersection([stocked.clone()]).count().await.unwrap();
        assert_eq!(i, 2);
        let d = stocked.difference([cheap.clone()]).count().await.unwrap();
        assert_eq!(d, 0);
        let all = cheap.union([cheap.clone()], true).count().await.unwrap();
        assert_eq!(all, 4);
    });
}

#[tokio::test]
async fn bulk_and_get_or_create() {
    orm_test!([Product], async {
        let objs: Vec<Product> = (0..25)
            .map(|i| product(&format!("p{i:02}"), &format!("s{i}"), i as f64))
            .collect();
        let made = Product::objects()
            .bulk_create(
                objs,
                BulkOptions {
                    batch_size: Some(10),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(made.iter().all(|p| p.id.is_saved()));
        assert_eq!(Product::objects().count().await.unwrap(), 25);
        // ignore_conflicts
        let dup = vec![product("p00", "s0", 1.0), product("new", "s-new", 1.0)];
        Product::objects()
            .bulk_create(
                dup,
                BulkOptions {
                    conflict: Conflict::Ignore,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(Product::objects().count().await.unwrap(), 26);
        // update_conflicts
        let up = vec![product("p01", "s1", 1000.0)];
        Product::objects()
            .bulk_create(
                up,
                BulkOptions {
                    conflict: Conflict::Update {
                        unique_fields: vec!["sku".into()],
                        update_fields: vec!["price".into()],
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            Product::objects()
                .get(Product::sku.eq("s1"))
                .await
                .unwrap()
                .price,
            1000.0
        );
        // bulk_update
        let mut some = Product::objects()
            .filter(Product::price.lt(5.0))
            .all()
            .await
            .unwrap();
        for p in some.iter_mut() {
            p.stock = 77;
            p.description = "bulk".into();
        }
        let n = Product::objects()
            .bulk_update(&some, &["stock", "description"], Some(2))
            .await
            .unwrap();
        assert_eq!(n as usize, some.len());
        assert_eq!(
            Product::objects()
                .filter(Product::stock.eq(77))
                .count()
                .await
                .unwrap() as usize,
            some.len()
        );
        // get_or_create / update_or_create
        let (p, created) = Product::objects()
            .get_or_create(Product::sku.eq("s3"), || product("x", "s3", 0.0))
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(p.name, "p03");
        let (p, created) = Product::objects()
            .get_or_create(Product::sku.eq("zz"), || product("zz", "zz", 0.0))
            .await
            .unwrap();
        assert!(created && p.id.is_saved());
        let (p, created) = Product::objects()
            .update_or_create(
                Product::sku.eq("zz"),
                || product("zz", "zz", 0.0),
                |p| p.price = 5.0,
            )
            .await
            .unwrap();
        assert!(!created);
        assert_eq!(p.price, 5.0);
        let (_, created) = Product::objects()
            .update_or_create(
                Product::sku.eq("yy"),
                || product("yy", "yy", 0.0),
                |p| p.price = 6.0,
            )
            .await
            .unwrap();
        assert!(created);
        assert_eq!(
            Product::objects()
                .get(Product::sku.eq("yy"))
                .await
                .unwrap()
                .price,
            6.0
        );
        // race: many tasks get_or_create the same row at once; exactly one creates it
        let alias = hyperdjango_orm::db::resolve_current();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let alias = alias.clone();
            tasks.push(tokio::spawn(async move {
                Product::objects()
                    .using(&alias)
                    .get_or_create(Product::sku.eq("race"), || product("race", "race", 1.0))
                    .await
            }));
        }
        let mut created = 0;
        for t in tasks {
            let (_, c) = t.await.unwrap().unwrap();
            created += c as i32;
        }
        assert_eq!(created, 1);
        assert_eq!(
            Product::objects()
                .filter(Product::sku.eq("race"))
                .count()
                .await
                .unwrap(),
            1
        );
    });
}
