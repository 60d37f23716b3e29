//! JSONB and array lookups through the ORM on a real server: containment, key existence,
//! key paths (nested objects, arrays inside JSON, missing keys and JSON nulls), array
//! overlap, typed and string forms giving the same rows, misuse errors, and key names that
//! try to inject SQL.

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::{Q, q};
use serde_json::json;

use crate::orm_test;

model! {
    #[table = "js_products"]
    #[derive(Debug, Clone)]
    pub struct JsProduct {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub name: String,
        pub attributes: serde_json::Value = Field::new().default(json!({})),
        pub extra: Option<serde_json::Value>,
        pub tags: Vec<String>,
        pub sizes: Vec<i32>,
        pub stock: i32 = Field::new().default(0),
    }
}

async fn seed() {
    let rows = [
        (
            "laptop",
            json!({"cpu": "M4", "ram_gb": 32, "ports": ["usb-c", "hdmi"], "dims": {"width": 30.5, "depth": 21}}),
            Some(json!({"note": null})),
            vec!["electronics", "computers", "sale"],
            vec![13, 15],
        ),
        (
            "desktop",
            json!({"cpu": "M4 Pro", "ram_gb": 64, "ports": ["usb-c", "thunderbolt"], "dims": {"width": 20, "depth": 20}}),
            None,
            vec!["electronics", "computers"],
            vec![],
        ),
        (
            "phone",
            json!({"cpu": "A18", "ram_gb": 8, "ports": ["usb-c"], "o'reilly": true}),
            Some(json!([1, 2])),
            vec!["electronics", "sale"],
            vec![6],
        ),
        (
            "cable",
            json!({"length_m": 2, "ram_gb": "n/a"}),
            Some(json!("plain")),
            vec![],
            vec![1, 2],
        ),
    ];
    for (name, attributes, extra, tags, sizes) in rows {
        JsProduct::objects()
            .create(JsProduct {
                name: name.into(),
                attributes,
                extra,
                tags: tags.into_iter().map(String::from).collect(),
                sizes,
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

/// The names of the matching products, sorted.
async fn names(q: Q<JsProduct>) -> Vec<String> {
    let mut v: Vec<String> = JsProduct::objects()
        .filter(q)
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    v.sort();
    v
}

/// Asserts the typed and string forms select `want`.
async fn same(
    typed: Q<JsProduct>,
    string: &str,
    value: impl hyperdjango_orm::lookup::IntoLookupValue,
    want: &[&str],
) {
    let string_q = q::<JsProduct>(string, value).unwrap_or_else(|e| panic!("{string}: {e}"));
    assert_eq!(names(typed).await, want, "typed form of {string}");
    assert_eq!(names(string_q).await, want, "{string}");
}

#[tokio::test]
async fn orm_json_containment_keys_and_key_paths() {
    orm_test!([JsProduct], async {
        seed().await;
        let a = JsProduct::attributes;
        // Containment (the spec's attributes__contains={"cpu": "M4"}).
        same(
            a.contains(json!({"cpu": "M4"})),
            "attributes__contains",
            json!({"cpu": "M4"}),
            &["laptop"],
        )
        .await;
        same(
            a.contains(json!({"ports": ["usb-c"]})),
            "attributes__contains",
            json!({"ports": ["usb-c"]}),
            &["desktop", "laptop", "phone"],
        )
        .await;
        same(
            a.contained_by(json!({"length_m": 2, "ram_gb": "n/a", "colour": "red"})),
            "attributes__contained_by",
            json!({"length_m": 2, "ram_gb": "n/a", "colour": "red"}),
            &["cable"],
        )
        .await;
        // Key existence.
        same(
            a.has_key("cpu"),
            "attributes__has_key",
            "cpu",
            &["desktop", "laptop", "phone"],
        )
        .await;
        same(
            a.has_keys(["cpu", "dims"]),
            "attributes__has_keys",
            vec!["cpu", "dims"],
            &["desktop", "laptop"],
        )
        .await;
        same(
            a.has_any_keys(["dims", "length_m"]),
            "attributes__has_any_keys",
            vec!["dims", "length_m"],
            &["cable", "desktop", "laptop"],
        )
        .await;
        same(
            a.has_any_keys(Vec::<String>::new()),
            "attributes__has_any_keys",
            Vec::<String>::new(),
            &[],
        )
        .await;
        // Key paths: JSON values compared with JSON values.
        same(a.key("cpu").eq("M4"), "attributes__cpu", "M4", &["laptop"]).await;
        same(
            a.key("cpu").eq("M4"),
            "attributes__cpu__exact",
            "M4",
            &["laptop"],
        )
        .await;
        same(
            a.key("ram_gb").gt(16),
            "attributes__ram_gb__gt",
            16,
            &["desktop", "laptop"],
        )
        .await;
        same(
            a.key("ram_gb").eq(32),
            "attributes__ram_gb",
            32,
            &["laptop"],
        )
        .await;
        // "32" (a string) is not 32 (a number).
        same(a.key("ram_gb").eq("32"), "attributes__ram_gb", "32", &[]).await;
        same(
            a.key("ram_gb").eq("n/a"),
            "attributes__ram_gb",
            "n/a",
            &["cable"],
        )
        .await;
        same(
            a.key("ram_gb").is_in([8, 64]),
            "attributes__ram_gb__in",
            vec![8, 64],
            &["desktop", "phone"],
        )
        .await;
        // Nested objects and arrays inside JSON.
        same(
            a.key("dims").key("width").lt(25),
            "attributes__dims__width__lt",
            25,
            &["desktop"],
        )
        .await;
        same(
            a.key("dims").key("width").eq(30.5),
            "attributes__dims__width",
            30.5,
            &["laptop"],
        )
        .await;
        same(
            a.key("ports").key(0).eq("usb-c"),
            "attributes__ports__0",
            "usb-c",
            &["desktop", "laptop", "phone"],
        )
        .await;
        same(
            a.key("ports").key(1).eq("hdmi"),
            "attributes__ports__1",
            "hdmi",
            &["laptop"],
        )
        .await;
        same(
            a.key("ports").contains(json!(["thunderbolt"])),
            "attributes__ports__contains",
            vec!["thunderbolt"],
            &["desktop"],
        )
        .await;
        // Text lookups on a key's value (->>).
        same(
            a.key_text("cpu").istartswith("m4"),
            "attributes__cpu__istartswith",
            "m4",
            &["desktop", "laptop"],
        )
        .await;
        same(
            a.key_text("cpu").icontains("PRO"),
            "attributes__cpu__icontains",
            "PRO",
            &["desktop"],
        )
        .await;
        same(
            a.key_text("cpu").regex("^[A-Z][0-9]+$"),
            "attributes__cpu__regex",
            "^[A-Z][0-9]+$",
            &["laptop", "phone"],
        )
        .await;
        // Missing keys: no comparison matches them, isnull does, exclude keeps them.
        same(
            a.key("cpu").isnull(true),
            "attributes__cpu__isnull",
            true,
            &["cable"],
        )
        .await;
        same(
            a.key("dims").key("width").isnull(true),
            "attributes__dims__width__isnull",
            true,
            &["cable", "phone"],
        )
        .await;
        let kept = JsProduct::objects()
            .exclude(q("attributes__cpu", "M4").unwrap())
            .count()
            .await
            .unwrap();
        assert_eq!(kept, 3, "exclude keeps the rows without the key");
        let kept = JsProduct::objects()
            .exclude(a.key("cpu").eq("M4"))
            .count()
            .await
            .unwrap();
        assert_eq!(kept, 3);
        // JSON null (key level) versus SQL NULL (field level).
        let x = JsProduct::extra;
        same(
            x.key("note").eq(serde_json::Value::Null),
            "extra__note",
            None::<String>,
            &["laptop"],
        )
        .await;
        same(x.isnull(true), "extra", None::<String>, &["desktop"]).await;
        same(x.key(0).eq(1), "extra__0", 1, &["phone"]).await;
        same(
            x.contains(json!("plain")),
            "extra__contains",
            "plain",
            &["cable"],
        )
        .await;
        // The whole document compared.
        same(
            a.eq(json!({"length_m": 2, "ram_gb": "n/a"})),
            "attributes",
            json!({"length_m": 2, "ram_gb": "n/a"}),
            &["cable"],
        )
        .await;
        // A key with a quote in its name is found (keys are parameters).
        same(
            a.has_key("o'reilly"),
            "attributes__has_key",
            "o'reilly",
            &["phone"],
        )
        .await;
        same(
            a.key("o'reilly").eq(true),
            "attributes__o'reilly",
            true,
            &["phone"],
        )
        .await;
    });
}

#[tokio::test]
async fn orm_json_array_lookups() {
    orm_test!([JsProduct], async {
        seed().await;
        let t = JsProduct::tags;
        same(
            t.contains(vec!["sale"]),
            "tags__contains",
            vec!["sale"],
            &["laptop", "phone"],
        )
        .await;
        same(
            t.contains(["electronics", "computers"]),
            "tags__contains",
            vec!["electronics", "computers"],
            &["desktop", "laptop"],
        )
        .await;
        same(
            t.contained_by(["electronics", "sale", "toys"]),
            "tags__contained_by",
            vec!["electronics", "sale", "toys"],
            &["cable", "phone"],
        )
        .await;
        same(
            t.overlap(["sale", "toys"]),
            "tags__overlap",
            vec!["sale", "toys"],
            &["laptop", "phone"],
        )
        .await;
        same(
            t.overlap(Vec::<String>::new()),
            "tags__overlap",
            Vec::<String>::new(),
            &[],
        )
        .await;
        same(
            t.contains(Vec::<String>::new()),
            "tags__contains",
            Vec::<String>::new(),
            &["cable", "desktop", "laptop", "phone"],
        )
        .await;
        same(
            t.eq(vec!["electronics".to_string(), "sale".to_string()]),
            "tags",
            vec!["electronics", "sale"],
            &["phone"],
        )
        .await;
        let s = JsProduct::sizes;
        same(
            s.overlap([15, 6]),
            "sizes__overlap",
            vec![15, 6],
            &["laptop", "phone"],
        )
        .await;
        same(
            s.contains(vec![1, 2]),
            "sizes__contains",
            vec![2, 1],
            &["cable"],
        )
        .await;
        same(
            s.contained_by([1, 2, 3, 6]),
            "sizes__contained_by",
            vec![1, 2, 3, 6],
            &["cable", "desktop", "phone"],
        )
        .await;
        // A single value is a one-element array in the string form.
        assert_eq!(
            names(q("tags__contains", "sale").unwrap()).await,
            ["laptop", "phone"]
        );
        // contains on text still means LIKE.
        same(
            JsProduct::name.contains("ap"),
            "name__contains",
            "ap",
            &["laptop"],
        )
        .await;
    });
}

#[tokio::test]
async fn orm_json_key_names_cannot_inject_sql() {
    orm_test!([JsProduct], async {
        seed().await;
        let evil = [
            "cpu') OR TRUE --",
            "cpu' = '\"M4\"' OR 1=1 --",
            "\"; DROP TABLE js_products; --",
            "cpu\\",
            "?|",
            "$1",
        ];
        for key in evil {
            let path = format!("attributes__{key}");
            assert!(names(q(&path, "M4").unwrap()).await.is_empty(), "{path}");
            assert!(
                names(JsProduct::attributes.key(key).eq("M4"))
                    .await
                    .is_empty(),
                "{key}"
            );
            assert!(
                names(JsProduct::attributes.has_key(key)).await.is_empty(),
                "{key}"
            );
            assert!(
                names(q("attributes__has_keys", vec![key, "cpu"]).unwrap())
                    .await
                    .is_empty()
            );
        }
        assert_eq!(
            JsProduct::objects().count().await.unwrap(),
            4,
            "the table is intact"
        );
    });
}

#[test]
fn orm_json_misuse_is_a_clear_error() {
    type Case = (
        &'static str,
        hyperdjango_orm::Result<Q<JsProduct>>,
        &'static str,
    );
    let cases: [Case; 8] = [
        (
            "has_key on an integer",
            q("stock__has_key", "x"),
            "JsProduct.stock__has_key: the has_key lookup needs a JSONB field (stock is INTEGER)",
        ),
        (
            "has_key on an array",
            q("tags__has_key", "x"),
            "JsProduct.tags__has_key: the has_key lookup needs a JSONB field (tags is TEXT[])",
        ),
        (
            "contained_by on text",
            q("name__contained_by", vec!["x"]),
            "JsProduct.name__contained_by: the contained_by lookup needs a JSONB or array field (name is TEXT)",
        ),
        (
            "overlap on JSON",
            q("attributes__overlap", vec!["x"]),
            "JsProduct.attributes__overlap: the overlap lookup needs an array field (attributes is JSONB)",
        ),
        (
            "a key path on text",
            q("name__cpu", "x"),
            "JsProduct.name__cpu: unknown lookup \"cpu\"",
        ),
        (
            "a nested key path on an integer",
            q("stock__cpu__exact", 1),
            "JsProduct.stock__cpu__exact: unknown transform \"cpu\"",
        ),
        (
            "has_key with a number",
            q("attributes__has_key", 3),
            "JsProduct.attributes__has_key: the has_key lookup takes one key (a string)",
        ),
        (
            "has_keys with numbers",
            q("attributes__has_keys", vec![1, 2]),
            "JsProduct.attributes__has_keys: the has_keys lookup takes a list of keys (strings)",
        ),
    ];
    for (what, r, want) in cases {
        let e = r.expect_err(what).to_string();
        assert!(e.starts_with(want), "{what}: {e}");
    }
}
