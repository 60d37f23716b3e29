//! `order_with_respect_to`: rows kept in an order within their parent (Django's
//! `get_<model>_order`, `set_<model>_order`, `get_next_in_order`, `get_previous_in_order`).
//!
//! A model declares `Meta::new().order_with_respect_to("question")` and an integer field
//! `_order`. Saving a new row puts it at the end of its parent's list (`_order` = one more
//! than the largest so far, read in the same call; two rows inserted concurrently for one
//! parent may share a position, as in Django). `_order` is the model's default ordering.
//!
//! ```no_run
//! use hyperdjango_orm::prelude::*;
//! use hyperdjango_orm::relations::ForeignKey;
//! model! { #[table = "questions"] pub struct Question { pub id: Auto<i64> = Field::new().primary_key() } }
//! model! {
//!     #[table = "answers"]
//!     #[meta = Meta::new().order_with_respect_to("question")]
//!     pub struct Answer {
//!         pub id: Auto<i64> = Field::new().primary_key(),
//!         pub question: ForeignKey<Question>,
//!         pub _order: i32,
//!     }
//! }
//! # async fn f() -> hyperdjango_orm::Result<()> {
//! let ids: Vec<i64> = hyperdjango_orm::ordering::get_order::<Answer, _, _>(7i64).await?;
//! let reversed: Vec<i64> = ids.iter().rev().copied().collect();
//! hyperdjango_orm::ordering::set_order::<Answer, _, _>(7i64, &reversed).await?;
//! let first = Answer::objects().filter(Answer::question.eq(7)).first().await?;
//! if let Some(a) = first {
//!     let _second = hyperdjango_orm::ordering::next_in_order(&a).await?;
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;

use hyperdjango_pgwire::types::FromSqlOwned;

use crate::compiler::quote;
use crate::error::{Error, Result};
use crate::expr::Param;
use crate::field::SqlValue;
use crate::lookup::{LookupValue, q};
use crate::model::{Model, ModelMeta};
use crate::query::QuerySet;

/// The foreign key and `_order` fields of `meta`, or an error naming the model.
fn fields(meta: &'static ModelMeta) -> Result<(usize, usize)> {
    meta.order_with_respect_to
        .ok_or_else(|| Error::Usage(format!("{} has no Meta::order_with_respect_to", meta.name)))
}

/// Before inserting `m`: sets its `_order` to the end of its parent's list (nothing for a
/// model without `order_with_respect_to`).
pub(crate) async fn place_last<M: Model>(m: &mut M, alias: &Arc<str>) -> Result<()> {
    let meta = M::meta();
    let Some((fk, order)) = meta.order_with_respect_to else {
        return Ok(());
    };
    let parent = m.__field_param(fk).ok_or_else(|| {
        Error::field(meta.name, meta.fields[fk].name, "the parent key is not set")
    })?;
    let col = quote(meta.fields[order].column);
    let sql = format!(
        "SELECT (COALESCE(MAX({col}) + 1, 0))::{} FROM {} WHERE {} IS NOT DISTINCT FROM $1",
        meta.fields[order].sql_type,
        meta.qtable(),
        quote(meta.fields[fk].column)
    );
    let mut conn = crate::db::connection(alias).await?;
    let row = conn
        .get()
        .query_one(sql.as_str(), &[parent.as_ref()])
        .await?;
    drop(conn);
    m.__set_field(order, &row, 0)
}

/// The primary keys of `parent`'s rows of `M`, in their order (Django's
/// `question.get_answer_order()`).
pub async fn get_order<M, P, K>(parent: P) -> Result<Vec<K>>
where
    M: Model,
    P: SqlValue,
    K: FromSqlOwned,
{
    let meta = M::meta();
    let (fk, order) = fields(meta)?;
    QuerySet::<M>::new()
        .filter(q(meta.fields[fk].name, LookupValue::One(Arc::new(parent)))?)
        .order_by([meta.fields[order].name, meta.pk().name])
        .values_list_flat(meta.pk().name)
        .await
}

/// Puts `parent`'s rows of `M` in the order of `keys` (Django's
/// `question.set_answer_order([...])`), in one statement. `keys` must list each of the
/// parent's rows exactly once; otherwise nothing changes and the error says why.
pub async fn set_order<M, P, K>(parent: P, keys: &[K]) -> Result<()>
where
    M: Model,
    P: SqlValue,
    K: SqlValue + PartialEq,
{
    let meta = M::meta();
    let (fk, order) = fields(meta)?;
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].contains(k) {
            return Err(Error::Usage(format!(
                "{}: set_order got the same key twice",
                meta.name
            )));
        }
    }
    let (t, pk, fkc, oc) = (
        meta.qtable(),
        quote(meta.pk().column),
        quote(meta.fields[fk].column),
        quote(meta.fields[order].column),
    );
    let sql = format!(
        "WITH wanted AS (SELECT k, n FROM unnest($2::{}[]) WITH ORDINALITY AS o(k, n)), \
         moved AS (UPDATE {t} SET {oc} = wanted.n - 1 FROM wanted \
         WHERE {t}.{pk} = wanted.k AND {t}.{fkc} = $1 RETURNING 1) \
         SELECT (SELECT count(*) FROM moved), \
         (SELECT count(*) FROM {t} WHERE {fkc} = $1)",
        crate::query::write::cast_type(meta.pk().sql_type)
    );
    let expected = i64::try_from(keys.len()).unwrap_or(i64::MAX);
    let parent: Param = Arc::new(parent);
    let keys: Param = Arc::new(keys.to_vec());
    let alias = crate::router::write_alias(meta).unwrap_or_else(|| crate::db::resolve(None));
    crate::transaction::atomic_using(Some(&alias), async {
        let mut conn = crate::db::connection(&alias).await?;
        let row = conn
            .get()
            .query_one(sql.as_str(), &[parent.as_ref(), keys.as_ref()])
            .await?;
        drop(conn);
        let moved: i64 = row.get(0)?;
        let total: i64 = row.get(1)?;
        crate::cache::note_write(&alias, &[meta.table]).await;
        if moved != total || moved != expected {
            return Err(Error::Usage(format!(
                "{}: set_order needs every row of the parent exactly once ({} given, {} of them the parent's, the parent has {})",
                meta.name, expected, moved, total
            )));
        }
        Ok(())
    })
    .await
}

/// The row after `obj` in its parent's order (Django's `get_next_in_order`).
pub async fn next_in_order<M: Model>(obj: &M) -> Result<Option<M>> {
    neighbour(obj, true).await
}

/// The row before `obj` in its parent's order (Django's `get_previous_in_order`).
pub async fn previous_in_order<M: Model>(obj: &M) -> Result<Option<M>> {
    neighbour(obj, false).await
}

async fn neighbour<M: Model>(obj: &M, next: bool) -> Result<Option<M>> {
    let meta = M::meta();
    let (fk, order) = fields(meta)?;
    let unset = |what: usize| {
        Error::field(
            meta.name,
            meta.fields[what].name,
            "is not set on this instance",
        )
    };
    let parent = obj.__field_param(fk).ok_or_else(|| unset(fk))?;
    let position = obj.__field_param(order).ok_or_else(|| unset(order))?;
    let name = meta.fields[order].name;
    let (cmp, sort) = if next {
        ("gt", name.to_string())
    } else {
        ("lt", format!("-{name}"))
    };
    QuerySet::<M>::new()
        .filter(q(meta.fields[fk].name, LookupValue::One(parent))?)
        .filter(q(&format!("{name}__{cmp}"), LookupValue::One(position))?)
        .order_by([sort.as_str()])
        .first()
        .await
}
