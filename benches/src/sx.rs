//! The workloads on sqlx, as its documentation recommends: `sqlx::query(..)` on a
//! `PgConnection` (prepared once and kept in the connection's statement cache, binary results),
//! `UNNEST` of array parameters for bulk inserts, and `copy_in_raw` for COPY.

use chrono::{DateTime, Utc};
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};

use crate::assoc;
use crate::{
    ORM_FETCH_SQL, ORM_GET_PK, ORM_GET_SQL, Outcome, P1_CONNS, P1_GETS, P1_SQL, P1_TASKS, Result,
    W2_QUERIES, W3_SQL, W4_SQL, W5_INSERT_SQL, W5Data, W6_SQL, Workload, checksum,
};

/// sqlx's bulk insert: one statement over column arrays.
const UNNEST_SQL: &str = "INSERT INTO bench_w5 (id, n, s, f, b) \
    SELECT * FROM UNNEST($1::int4[], $2::int8[], $3::text[], $4::float8[], $5::bool[])";

/// sqlx has no binary COPY writer: its COPY is `copy_in_raw` with bytes the caller formats.
const COPY_TEXT_SQL: &str = "COPY bench_w5 (id, n, s, f, b) FROM STDIN";

/// How sqlx runs `w`, where that needs saying.
pub fn note(w: Workload) -> Option<&'static str> {
    match w {
        Workload::W2Pipeline => {
            Some("no pipelining in sqlx: 100 cached-statement queries one after another")
        }
        Workload::W5Many => Some(
            "INSERT ... SELECT * FROM UNNEST($1::int4[], ..) with 5 array params (sqlx's \
             recommended bulk insert for PostgreSQL), one statement",
        ),
        Workload::W5Copy => Some(
            "copy_in_raw with text-format COPY formatted by the bench (no typed binary writer)",
        ),
        Workload::P1PoolGet => Some(
            "PgPool, max_connections 4, other options at their defaults (test_before_acquire: \
             a ping when a connection is taken from the idle queue); query(..).fetch_one(&pool) \
             per get",
        ),
        Workload::P1PoolCheckout => {
            Some("the same PgPool; pool.acquire() + fetch_one(&mut *conn) per get")
        }
        Workload::OrmFetch | Workload::OrmFetchRaw => {
            Some("raw: sqlx::query(..).fetch_all, Row::try_get per column")
        }
        Workload::OrmPkGet | Workload::OrmPkGetRaw => {
            Some("raw: sqlx::query(SELECT ... WHERE id = $1).fetch_one")
        }
        Workload::OrmAssoc | Workload::OrmAssocRaw => Some(
            "raw: three sqlx::query(..).fetch_all (users; posts WHERE user_id = ANY($1) bound \
             to a Vec<i32>; comments likewise), try_get per column into structs, grouped in \
             hash maps",
        ),
        _ => None,
    }
}

/// One sqlx connection (its statement cache holds the prepared statements), and P1's pool,
/// created on first use.
pub struct Sx {
    conn: PgConnection,
    url: String,
    pool: Option<PgPool>,
}

impl Sx {
    /// Connects.
    pub async fn connect(url: &str) -> Result<Sx> {
        Ok(Sx {
            conn: PgConnection::connect(url).await?,
            url: url.to_string(),
            pool: None,
        })
    }

    /// Empties `bench_w5`.
    pub async fn truncate_w5(&mut self) -> Result<()> {
        sqlx::query("TRUNCATE bench_w5")
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    /// Runs one iteration of `w`.
    pub async fn run(&mut self, w: Workload, data: &W5Data) -> Result<Outcome> {
        if matches!(w, Workload::P1PoolGet | Workload::P1PoolCheckout) {
            return self.p1(w == Workload::P1PoolCheckout).await;
        }
        if matches!(w, Workload::OrmAssoc | Workload::OrmAssocRaw) {
            return self.assoc().await;
        }
        let conn = &mut self.conn;
        match w {
            Workload::W1Select1 => {
                let v: i32 = sqlx::query("SELECT 1")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                Ok(Outcome {
                    units: 1,
                    checksum: v as u64,
                })
            }
            Workload::W2Pipeline => {
                let mut sum = 0;
                for i in 0..W2_QUERIES {
                    let v: i32 = sqlx::query("SELECT $1::int4")
                        .bind(i)
                        .fetch_one(&mut *conn)
                        .await?
                        .try_get(0)?;
                    sum = checksum::add(sum, v as u64);
                }
                Ok(Outcome {
                    units: W2_QUERIES as u64,
                    checksum: sum,
                })
            }
            Workload::W3Fetch => {
                let rows = sqlx::query(W3_SQL).fetch_all(&mut *conn).await?;
                let mut sum = 0;
                for row in &rows {
                    let ts: DateTime<Utc> = row.try_get(5)?;
                    sum = checksum::w3(
                        sum,
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                        ts.timestamp_micros(),
                    );
                }
                Ok(Outcome {
                    units: rows.len() as u64,
                    checksum: sum,
                })
            }
            Workload::W4PgType => {
                let rows = sqlx::query(W4_SQL)
                    .bind(-1i32)
                    .bind(true)
                    .fetch_all(&mut *conn)
                    .await?;
                let mut sum = 0;
                for row in &rows {
                    let oid = |i: usize| -> Result<u32> { Ok(row.try_get::<Oid, _>(i)?.0) };
                    sum = checksum::w4(
                        sum,
                        row.try_get(0)?,
                        [oid(1)?, oid(2)?, oid(9)?, oid(10)?, oid(11)?],
                        row.try_get(3)?,
                        [row.try_get(4)?, row.try_get(6)?, row.try_get(7)?],
                        row.try_get(5)?,
                        row.try_get(8)?,
                    );
                }
                Ok(Outcome {
                    units: 1,
                    checksum: sum,
                })
            }
            Workload::W5OneByOne => {
                let mut tx = conn.begin().await?;
                let mut n = 0;
                for r in &data.rows {
                    n += sqlx::query(W5_INSERT_SQL)
                        .bind(r.id)
                        .bind(r.n)
                        .bind(r.s.as_str())
                        .bind(r.f)
                        .bind(r.b)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(Outcome {
                    units: n,
                    checksum: n,
                })
            }
            Workload::W5Many => {
                let mut tx = conn.begin().await?;
                let n = sqlx::query(UNNEST_SQL)
                    .bind(&data.ids)
                    .bind(&data.ns)
                    .bind(&data.ss)
                    .bind(&data.fs)
                    .bind(&data.bs)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(Outcome {
                    units: n,
                    checksum: n,
                })
            }
            Workload::W5Copy => {
                // Text format; the W5 strings hold no tab, newline or backslash to escape.
                let mut buf = String::with_capacity(data.rows.len() * 48);
                for r in &data.rows {
                    use std::fmt::Write;
                    let b = if r.b { 't' } else { 'f' };
                    writeln!(buf, "{}\t{}\t{}\t{}\t{b}", r.id, r.n, r.s, r.f)?;
                }
                let mut copy = conn.copy_in_raw(COPY_TEXT_SQL).await?;
                copy.send(buf.into_bytes()).await?;
                let n = copy.finish().await?;
                Ok(Outcome {
                    units: n,
                    checksum: n,
                })
            }
            Workload::OrmFetch | Workload::OrmFetchRaw => {
                let rows = sqlx::query(ORM_FETCH_SQL).fetch_all(&mut *conn).await?;
                let mut sum = 0;
                for row in &rows {
                    sum = checksum::orm(
                        sum,
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                    );
                }
                Ok(Outcome {
                    units: rows.len() as u64,
                    checksum: sum,
                })
            }
            Workload::OrmPkGet | Workload::OrmPkGetRaw => {
                let row = sqlx::query(ORM_GET_SQL)
                    .bind(ORM_GET_PK)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(Outcome {
                    units: 1,
                    checksum: checksum::orm(
                        0,
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                    ),
                })
            }
            Workload::W2PipelineAtomic => {
                Err("no pipeline with one Sync for the batch in sqlx".into())
            }
            Workload::P1PoolGet
            | Workload::P1PoolCheckout
            | Workload::OrmAssoc
            | Workload::OrmAssocRaw => unreachable!("handled above"),
            Workload::W6ArraysBytea => {
                let rows = sqlx::query(W6_SQL).fetch_all(&mut *conn).await?;
                let mut sum = 0;
                for row in &rows {
                    let arr: Vec<i32> = row.try_get(0)?;
                    let bytes: &[u8] = row.try_get(1)?;
                    sum = checksum::w6(sum, &arr, bytes);
                }
                Ok(Outcome {
                    units: rows.len() as u64,
                    checksum: sum,
                })
            }
        }
    }
}

impl Sx {
    /// The associations: three queries, each keyed by the previous one's ids.
    async fn assoc(&mut self) -> Result<Outcome> {
        let conn = &mut self.conn;
        let users = assoc::read_rows!(
            sqlx::query(assoc::USERS_SQL).fetch_all(&mut *conn).await?,
            try_get,
            User
        )?;
        let user_ids: Vec<i32> = users.iter().map(|u| u.id).collect();
        let posts = assoc::read_rows!(
            sqlx::query(assoc::POSTS_SQL)
                .bind(&user_ids)
                .fetch_all(&mut *conn)
                .await?,
            try_get,
            Post
        )?;
        let post_ids: Vec<i32> = posts.iter().map(|p| p.id).collect();
        let comments = assoc::read_rows!(
            sqlx::query(assoc::COMMENTS_SQL)
                .bind(&post_ids)
                .fetch_all(&mut *conn)
                .await?,
            try_get,
            Comment
        )?;
        assoc::check(&assoc::assemble(users, posts, comments)?)
    }

    /// P1, with `fetch_one(&pool)` or with an explicit checkout per get.
    async fn p1(&mut self, checkout: bool) -> Result<Outcome> {
        let pool = match &self.pool {
            Some(p) => p.clone(),
            None => {
                let p = PgPoolOptions::new()
                    .max_connections(P1_CONNS as u32)
                    .connect(&self.url)
                    .await?;
                self.pool.insert(p).clone()
            }
        };
        let handles: Vec<_> = (0..P1_TASKS)
            .map(|t| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let mut sum = 0;
                    for k in 0..P1_GETS {
                        let id = crate::p1_id(t, k);
                        let row = if checkout {
                            let mut conn = pool.acquire().await?;
                            sqlx::query(P1_SQL).bind(id).fetch_one(&mut *conn).await?
                        } else {
                            sqlx::query(P1_SQL).bind(id).fetch_one(&pool).await?
                        };
                        sum = checksum::p1(sum, row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    }
                    Ok::<u64, crate::BoxError>(sum)
                })
            })
            .collect();
        crate::p1_join(handles).await
    }
}
