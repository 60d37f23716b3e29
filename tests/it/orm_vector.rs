//! pgvector fields through the ORM: `vector(N)` columns, HNSW/IVFFlat indexes from the DDL,
//! distance thresholds (typed and string form) and nearest-neighbour ordering, checked
//! against a brute-force computation in Rust. On a server without pgvector (PostgreSQL 15
//! here) the tests that need it print why they skip.

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::{Q, VectorIndex, q};

use crate::common::{Rng, connect, extension};
use crate::orm_test;

model! {
    /// No index: exact results to compare with Rust.
    #[table = "vec_docs"]
    #[derive(Debug, Clone)]
    pub struct VecDoc {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub title: String,
        pub embedding: Vector = Field::new().dimensions(3),
        pub extra: Option<Vector> = Field::new().dimensions(2),
    }
}

model! {
    /// One index per distance.
    #[table = "vec_indexed"]
    #[derive(Debug, Clone)]
    pub struct VecIndexed {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub cos: Vector = Field::new().dimensions(3).hnsw(VectorOps::Cosine),
        pub ip: Vector = Field::new().dimensions(3)
            .vector_index(VectorIndex::hnsw(VectorOps::InnerProduct).m(8).ef_construction(32)),
        pub l2: Vector = Field::new().dimensions(3).ivfflat(VectorOps::L2, 2),
    }
}

/// Installs pgvector, or says why the test skips.
async fn pgvector(test: &str) -> bool {
    let mut conn = connect().await;
    extension(&mut conn, "vector", test).await
}

/// Deterministic vectors in [-1, 1)^3.
fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            (0..3)
                .map(|_| (rng.below(2000) as f32 - 1000.0) / 1000.0)
                .collect()
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}
fn l2(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        .sqrt()
}
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    1.0 - dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

/// The ids (1-based insertion order) sorted by `key` ascending.
fn ranked(data: &[Vec<f32>], key: impl Fn(&[f32]) -> f64) -> Vec<(i64, f64)> {
    let mut v: Vec<(i64, f64)> = data
        .iter()
        .enumerate()
        .map(|(i, e)| (i as i64 + 1, key(e)))
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v
}

fn ids<M: Model>(rows: &[M], id: impl Fn(&M) -> Option<i64>) -> Vec<i64> {
    rows.iter().map(|r| id(r).expect("saved")).collect()
}

/// A threshold halfway between the k-th and (k+1)-th values, so float rounding on either
/// side cannot move a row across it.
fn between(sorted: &[(i64, f64)], k: usize) -> f64 {
    (sorted[k - 1].1 + sorted[k].1) / 2.0
}

/// Asserts that the typed and the string threshold select exactly the rows of `want`.
async fn within(typed: Q<VecDoc>, string: Q<VecDoc>, want: &[(i64, f64)], what: &str) {
    let mut want: Vec<i64> = want.iter().map(|p| p.0).collect();
    want.sort_unstable();
    for (form, cond) in [("typed", typed), ("string", string)] {
        let rows = VecDoc::objects().filter(cond).all().await.unwrap();
        let mut got = ids(&rows, |d| d.id.get());
        got.sort_unstable();
        assert_eq!(got, want, "{form} {what} threshold");
    }
}

#[tokio::test]
async fn orm_vector_nearest_neighbours_and_thresholds_match_brute_force() {
    if !pgvector("orm_vector_nearest_neighbours_and_thresholds_match_brute_force").await {
        return;
    }
    orm_test!([VecDoc], async {
        let data = vectors(60, 7);
        let docs: Vec<VecDoc> = data
            .iter()
            .enumerate()
            .map(|(i, e)| VecDoc {
                title: format!("doc {i}"),
                embedding: Vector(e.clone()),
                ..Default::default()
            })
            .collect();
        VecDoc::objects()
            .bulk_create(docs, BulkOptions::default())
            .await
            .unwrap();
        let query = vec![0.3f32, -0.2, 0.9];
        let qv = Vector(query.clone());
        let id = |d: &VecDoc| d.id.get();

        // Nearest first, for each distance, against Rust.
        let by_cos = ranked(&data, |e| cosine(e, &query));
        let by_l2 = ranked(&data, |e| l2(e, &query));
        let by_ip = ranked(&data, |e| -dot(e, &query));
        let k = 5;
        let top = |r: &[(i64, f64)]| r[..k].iter().map(|p| p.0).collect::<Vec<_>>();
        let got = VecDoc::objects()
            .order_by(VecDoc::embedding.cosine_distance(&qv))
            .limit(k as i64)
            .all()
            .await
            .unwrap();
        assert_eq!(ids(&got, id), top(&by_cos), "cosine order");
        let got = VecDoc::objects()
            .order_by(VecDoc::embedding.l2_distance(&qv))
            .limit(k as i64)
            .all()
            .await
            .unwrap();
        assert_eq!(ids(&got, id), top(&by_l2), "l2 order");
        let got = VecDoc::objects()
            .order_by(VecDoc::embedding.inner_product(&qv).desc())
            .limit(k as i64)
            .all()
            .await
            .unwrap();
        assert_eq!(ids(&got, id), top(&by_ip), "inner product order");

        // Thresholds, typed and string form, the same rows as Rust's.
        for k in [1, 10, 30] {
            let t = between(&by_cos, k);
            let typed = VecDoc::embedding.cosine_within(&qv, t);
            let string = q("embedding__cosine_distance", (qv.clone(), t)).unwrap();
            within(typed, string, &by_cos[..k], "cosine").await;

            let t = between(&by_l2, k);
            let typed = VecDoc::embedding.l2_distance(&qv).lte(t);
            let string = q("embedding__l2_distance", (query.clone(), t)).unwrap();
            within(typed, string, &by_l2[..k], "l2").await;

            // Inner product: a minimum similarity (by_ip holds the negated products).
            let t = -between(&by_ip, k);
            let typed = VecDoc::embedding.inner_product_at_least(&qv, t);
            let string = q("embedding__inner_product", (&qv, t)).unwrap();
            within(typed, string, &by_ip[..k], "inner product").await;
        }

        // The distance as an annotation equals Rust's (pgvector computes in single
        // precision, so compare loosely).
        let nearest = by_cos[0];
        let d: Vec<f64> = VecDoc::objects()
            .filter(VecDoc::id.eq(nearest.0))
            .annotate("d", VecDoc::embedding.cosine_distance(&qv))
            .values_list_flat("d")
            .await
            .unwrap();
        let d = d[0];
        assert!((d - nearest.1).abs() < 1e-5, "{d} vs {}", nearest.1);

        // A NULL vector is never within any distance, and excluding keeps it.
        VecDoc::objects()
            .filter(VecDoc::id.eq(1))
            .update(VecDoc::extra.set(Vector(vec![1.0, 0.0])))
            .await
            .unwrap();
        let e = Vector(vec![1.0, 0.0]);
        let n = VecDoc::objects()
            .filter(VecDoc::extra.l2_within(&e, 0.5))
            .count()
            .await
            .unwrap();
        assert_eq!(n, 1);
        let n = VecDoc::objects()
            .exclude(VecDoc::extra.l2_within(&e, 0.5))
            .count()
            .await
            .unwrap();
        assert_eq!(n, 59, "rows with a NULL vector are kept by exclude");
    });
}

#[tokio::test]
async fn orm_vector_indexes_are_created_and_serve_order_by_distance_limit() {
    if !pgvector("orm_vector_indexes_are_created_and_serve_order_by_distance_limit").await {
        return;
    }
    orm_test!([VecIndexed], async {
        let ddl = hyperdjango_orm::ddl::create_table_sql::<VecIndexed>();
        assert_eq!(
            &ddl[1..],
            [
                r#"CREATE INDEX "vec_indexed_cos_hnsw_idx" ON "vec_indexed" USING hnsw ("cos" vector_cosine_ops)"#,
                r#"CREATE INDEX "vec_indexed_ip_hnsw_idx" ON "vec_indexed" USING hnsw ("ip" vector_ip_ops) WITH (m = 8, ef_construction = 32)"#,
                r#"CREATE INDEX "vec_indexed_l2_ivfflat_idx" ON "vec_indexed" USING ivfflat ("l2" vector_l2_ops) WITH (lists = 2)"#,
            ]
        );
        let data = vectors(200, 11);
        let rows: Vec<VecIndexed> = data
            .iter()
            .map(|e| VecIndexed {
                cos: Vector(e.clone()),
                ip: Vector(e.clone()),
                l2: Vector(e.clone()),
                ..Default::default()
            })
            .collect();
        VecIndexed::objects()
            .bulk_create(rows, BulkOptions::default())
            .await
            .unwrap();
        let query = vec![-0.5f32, 0.25, 0.1];
        let qv = Vector(query.clone());
        let id = |d: &VecIndexed| d.id.get();
        // One session: seq scans off (so a tiny table still uses its index), and an
        // HNSW candidate list larger than the table, so the approximate search is exact.
        hyperdjango_orm::atomic(async {
            hyperdjango_orm::ddl::execute_batch(
                "SET LOCAL enable_seqscan = off; SET LOCAL hnsw.ef_search = 400; SET LOCAL ivfflat.probes = 2",
            )
            .await?;
            let cases = [
                (
                    "vec_indexed_cos_hnsw_idx",
                    VecIndexed::objects().order_by(VecIndexed::cos.cosine_distance(&qv)),
                    ranked(&data, |e| cosine(e, &query)),
                ),
                (
                    "vec_indexed_ip_hnsw_idx",
                    VecIndexed::objects().order_by(VecIndexed::ip.inner_product(&qv).desc()),
                    ranked(&data, |e| -dot(e, &query)),
                ),
                (
                    "vec_indexed_l2_ivfflat_idx",
                    VecIndexed::objects().order_by(VecIndexed::l2.l2_distance(&qv)),
                    ranked(&data, |e| l2(e, &query)),
                ),
            ];
            for (index, qs, want) in cases {
                let qs = qs.limit(7);
                let plan = qs.explain("").await?;
                assert!(
                    plan.contains(&format!("Index Scan using {index}")),
                    "{index} serves ORDER BY distance LIMIT k:\n{plan}"
                );
                let got = qs.all().await?;
                let want: Vec<i64> = want[..7].iter().map(|p| p.0).collect();
                assert_eq!(ids(&got, id), want, "{index}");
            }
            Ok::<_, hyperdjango_orm::Error>(())
        })
        .await
        .unwrap();
    });
}

#[tokio::test]
async fn orm_vector_wrong_dimensions_are_refused_before_the_server() {
    if !pgvector("orm_vector_wrong_dimensions_are_refused_before_the_server").await {
        return;
    }
    orm_test!([VecDoc], async {
        let mut d = VecDoc {
            title: "short".into(),
            embedding: Vector(vec![1.0, 2.0]),
            ..Default::default()
        };
        let e = d.save().await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "VecDoc.embedding: expected a vector of 3 dimensions, got 2"
        );
        assert!(e.code().is_none(), "refused before the server: {e:?}");
        // The optional field is checked too, and NULL passes.
        d.embedding = Vector(vec![1.0, 2.0, 3.0]);
        d.extra = Some(Vector(vec![1.0]));
        let e = d.save().await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "VecDoc.extra: expected a vector of 2 dimensions, got 1"
        );
        let e = VecDoc::objects()
            .bulk_create(vec![d.clone()], BulkOptions::default())
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with("VecDoc.extra: expected"), "{e}");
        let e = d.full_clean().await.unwrap_err().to_string();
        assert!(e.contains("Expected 2 dimensions, not 1."), "{e}");
        d.extra = None;
        d.save().await.unwrap();
        assert_eq!(VecDoc::objects().count().await.unwrap(), 1);
        // A query vector of the wrong length is the server's error, not a panic.
        let e = VecDoc::objects()
            .filter(VecDoc::embedding.cosine_within(Vector(vec![1.0]), 0.5))
            .count()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("different vector dimensions"), "{e}");
    });
}

#[test]
fn orm_vector_lookup_misuse_is_a_clear_error() {
    let v = Vector(vec![1.0, 2.0, 3.0]);
    let e = q::<VecDoc>("title__cosine_distance", (v.clone(), 0.3)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "VecDoc.title__cosine_distance: the cosine_distance lookup needs a pgvector field (title is TEXT)"
    );
    let e = q::<VecDoc>("embedding__cosine_distance", 0.3).unwrap_err();
    assert_eq!(
        e.to_string(),
        "VecDoc.embedding__cosine_distance: the cosine_distance lookup takes a pair (query vector, threshold)"
    );
    let e = q::<VecDoc>("embedding__manhattan", (v, 0.3)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("VecDoc.embedding__manhattan: unknown lookup \"manhattan\""),
        "{e}"
    );
    assert!(
        hyperdjango_orm::ddl::create_table_sql::<VecDoc>()[0]
            .contains(r#""embedding" vector(3) NOT NULL, "extra" vector(2))"#)
    );
}
