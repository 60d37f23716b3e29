//! Hostile user data through every ORM entry point that takes it. Values must travel as bind
//! parameters (stored and matched exactly, never executed) and names must be checked against
//! the model (an error naming the model and field, never SQL).

use hyperdjango_orm::prelude::*;

use crate::orm_models::{Product, product};
use crate::orm_test;

/// Strings that break naive SQL building: quotes, comments, statement separators, LIKE
/// wildcards, dollar quoting, placeholders, backslashes, unicode.
const CORPUS: &[&str] = &[
    "'; DROP TABLE quickstart; --",
    "' OR '1'='1",
    "\" OR \"1\"=\"1",
    "1; SELECT pg_sleep(10)",
    "a'||(SELECT current_user)||'",
    "); DELETE FROM x; --",
    "/* comment */ x",
    "--",
    "$1",
    "$$; DROP TABLE y; $$",
    "%",
    "_",
    "%_%",
    "\\",
    "\\%",
    "E'\\x41'",
    "\r\n;",
    "名前 🦀",
];

#[tokio::test]
async fn hostile_values_are_stored_and_matched_exactly() {
    orm_test!([Product], async {
        for (i, &s) in CORPUS.iter().enumerate() {
            let mut p = product(s, &format!("sku-{i}"), 1.0);
            p.sku = format!("{s}|{i}");
            Product::objects().create(p).await.unwrap();
        }
        let total = Product::objects().count().await.unwrap();
        assert_eq!(total as usize, CORPUS.len());
        for &s in CORPUS {
            // exact: the one row, and its value came back byte for byte
            let got = Product::objects().get(Product::name.eq(s)).await.unwrap();
            assert_eq!(got.name, s);
            assert_eq!(
                Product::objects()
                    .filter(Product::name.iexact(s))
                    .count()
                    .await
                    .unwrap(),
                1,
                "iexact {s:?}"
            );
            // LIKE lookups treat %, _ and \ in the user's text literally
            let contains = Product::objects()
                .filter(Product::name.contains(s))
                .all()
                .await
                .unwrap();
            assert!(
                contains.iter().all(|p| p.name.contains(s)),
                "contains {s:?}"
            );
            assert!(contains.iter().any(|p| p.name == s));
            let starts = Product::objects()
                .filter(Product::name.startswith(s))
                .all()
                .await
                .unwrap();
            assert!(
                starts.iter().all(|p| p.name.starts_with(s)),
                "startswith {s:?}"
            );
            let ends = Product::objects()
                .filter(Product::name.endswith(s))
                .all()
                .await
                .unwrap();
            assert!(ends.iter().all(|p| p.name.ends_with(s)), "endswith {s:?}");
            // the string form carries values as parameters too
            let n = Product::objects()
                .filter(q("name__icontains", s).unwrap())
                .all()
                .await
                .unwrap();
            assert!(
                n.iter()
                    .all(|p| p.name.to_lowercase().contains(&s.to_lowercase())),
                "q icontains {s:?}"
            );
            // updates with hostile values write them literally
            let updated = Product::objects()
                .filter(Product::name.eq(s))
                .update(Product::sku.set(format!("{s}!")))
                .await
                .unwrap();
            assert_eq!(updated, 1);
        }
        // nothing was executed: the table and every row are intact
        assert_eq!(
            Product::objects().count().await.unwrap() as usize,
            CORPUS.len()
        );
        for &s in CORPUS {
            let p = Product::objects().get(Product::name.eq(s)).await.unwrap();
            assert_eq!(p.sku, format!("{s}!"));
        }
    });
}

#[tokio::test]
async fn hostile_names_are_refused_naming_the_model_and_field() {
    orm_test!([Product], async {
        Product::objects()
            .create(product("x", "x", 1.0))
            .await
            .unwrap();
        for field in [
            "name; DROP TABLE x",
            "name\" OR \"1\"=\"1",
            "name__icontains; --",
            "name__exact__exact",
            "\"name\"",
            "name) OR (1=1",
            "",
        ] {
            let err = match q(field, "v") {
                Err(e) => e.to_string(),
                Ok(cond) => Product::objects()
                    .filter(cond)
                    .all()
                    .await
                    .unwrap_err()
                    .to_string(),
            };
            assert!(err.contains("Product"), "{field:?}: {err}");
        }
        for order in [
            "name; DROP TABLE x",
            "-name)--",
            "\"price\"",
            "price DESC, (SELECT 1)",
        ] {
            let err = Product::objects()
                .order_by(order)
                .all()
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("Product"), "order_by {order:?}: {err}");
        }
        assert_eq!(Product::objects().count().await.unwrap(), 1);
    });
}

#[tokio::test]
async fn a_nul_byte_in_a_value_is_a_clear_error() {
    orm_test!([Product], async {
        let err = Product::objects()
            .create(product("a\0b", "nul", 1.0))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("NUL"), "{err}");
        let err = Product::objects()
            .filter(Product::name.eq("a\0b"))
            .count()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("NUL"), "{err}");
        assert_eq!(Product::objects().count().await.unwrap(), 0);
    });
}
