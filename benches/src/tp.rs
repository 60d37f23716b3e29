//! The workloads on tokio-postgres, as its documentation recommends: `Client::prepare`d
//! statements (binary results), the connection future spawned on the runtime, and its implicit
//! pipelining (several futures in flight on one client) for batches.

use std::pin::pin;

use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use crate::assoc;
use crate::{
    ORM_FETCH_SQL, ORM_GET_PK, ORM_GET_SQL, Outcome, P1_CONNS, P1_GETS, P1_SQL, P1_TASKS, Result,
    W2_QUERIES, W3_SQL, W4_SQL, W5_COPY_BINARY_SQL, W5_INSERT_SQL, W5Data, W6_SQL, Workload,
    checksum,
};

/// How tokio-postgres runs `w`, where that needs saying.
pub fn note(w: Workload) -> Option<&'static str> {
    match w {
        Workload::W2Pipeline => Some("100 concurrent `query` futures on one client (try_join_all)"),
        Workload::W5Many => Some(
            "10,000 concurrent `execute` futures of the prepared INSERT in one transaction \
             (its implicit pipelining; it has no execute_many)",
        ),
        Workload::W5Copy => Some("binary COPY with binary_copy::BinaryCopyInWriter"),
        Workload::P1PoolGet => Some(
            "deadpool-postgres 0.14 over tokio-postgres, max_size 4, RecyclingMethod::Fast (its \
             default); get + prepare_cached + query_one per get",
        ),
        Workload::P1PoolCheckout => Some("as in P1 pool pk get"),
        Workload::OrmFetch | Workload::OrmFetchRaw => {
            Some("raw: the prepared SELECT, Row::try_get per column")
        }
        Workload::OrmPkGet | Workload::OrmPkGetRaw => {
            Some("raw: the prepared SELECT ... WHERE id = $1, query_one")
        }
        Workload::OrmAssoc | Workload::OrmAssocRaw => Some(
            "raw: three prepared queries (users; posts WHERE user_id = ANY($1); comments WHERE \
             post_id = ANY($1)), Row::try_get per column into structs, grouped in hash maps",
        ),
        _ => None,
    }
}

/// One tokio-postgres client and its prepared statements, and P1's deadpool-postgres pool,
/// created on first use.
pub struct Tp {
    client: Client,
    url: String,
    pool: Option<deadpool_postgres::Pool>,
    select1: Statement,
    select_int: Statement,
    w3: Statement,
    w4: Statement,
    insert: Statement,
    w6: Statement,
    orm_fetch: Statement,
    orm_get: Statement,
    assoc_users: Statement,
    assoc_posts: Statement,
    assoc_comments: Statement,
}

impl Tp {
    /// Connects (spawning the connection task) and prepares.
    pub async fn connect(url: &str) -> Result<Tp> {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("tokio-postgres connection error: {e}");
            }
        });
        Ok(Tp {
            select1: client.prepare("SELECT 1").await?,
            select_int: client.prepare("SELECT $1::int4").await?,
            w3: client.prepare(W3_SQL).await?,
            w4: client.prepare(W4_SQL).await?,
            insert: client.prepare(W5_INSERT_SQL).await?,
            w6: client.prepare(W6_SQL).await?,
            orm_fetch: client.prepare(ORM_FETCH_SQL).await?,
            orm_get: client.prepare(ORM_GET_SQL).await?,
            assoc_users: client.prepare(assoc::USERS_SQL).await?,
            assoc_posts: client.prepare(assoc::POSTS_SQL).await?,
            assoc_comments: client.prepare(assoc::COMMENTS_SQL).await?,
            client,
            url: url.to_string(),
            pool: None,
        })
    }

    /// Empties `bench_w5`.
    pub async fn truncate_w5(&mut self) -> Result<()> {
        self.client.batch_execute("TRUNCATE bench_w5").await?;
        Ok(())
    }

    /// Runs one iteration of `w`.
    pub async fn run(&mut self, w: Workload, data: &W5Data) -> Result<Outcome> {
        match w {
            Workload::W1Select1 => {
                let v: i32 = self.client.query_one(&self.select1, &[]).await?.get(0);
                Ok(Outcome {
                    units: 1,
                    checksum: v as u64,
                })
            }
            Workload::W2Pipeline => {
                let values: Vec<i32> = (0..W2_QUERIES).collect();
                let params: Vec<[&(dyn ToSql + Sync); 1]> =
                    values.iter().map(|v| [v as &(dyn ToSql + Sync)]).collect();
                let client = &self.client;
                let stmt = &self.select_int;
                let rows = try_join_all(params.iter().map(|p| client.query_one(stmt, p))).await?;
                let mut sum = 0;
                for row in &rows {
                    let v: i32 = row.try_get(0)?;
                    sum = checksum::add(sum, v as u64);
                }
                Ok(Outcome {
                    units: W2_QUERIES as u64,
                    checksum: sum,
                })
            }
            Workload::W3Fetch => {
                let rows = self.client.query(&self.w3, &[]).await?;
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
                let rows = self.client.query(&self.w4, &[&-1i32, &true]).await?;
                let mut sum = 0;
                for row in &rows {
                    sum = checksum::w4(
                        sum,
                        row.try_get(0)?,
                        [
                            row.try_get(1)?,
                            row.try_get(2)?,
                            row.try_get(9)?,
                            row.try_get(10)?,
                            row.try_get(11)?,
                        ],
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
                let tx = self.client.transaction().await?;
                let mut n = 0;
                for r in &data.rows {
                    n += tx
                        .execute(&self.insert, &[&r.id, &r.n, &r.s, &r.f, &r.b])
                        .await?;
                }
                tx.commit().await?;
                Ok(Outcome {
                    units: n,
                    checksum: n,
                })
            }
            Workload::W5Many => {
                let params: Vec<[&(dyn ToSql + Sync); 5]> = data
                    .rows
                    .iter()
                    .map(|r| [&r.id as &(dyn ToSql + Sync), &r.n, &r.s, &r.f, &r.b])
                    .collect();
                let tx = self.client.transaction().await?;
                let stmt = &self.insert;
                let counts = try_join_all(params.iter().map(|p| tx.execute(stmt, p))).await?;
                tx.commit().await?;
                let n = counts.iter().sum();
                Ok(Outcome {
                    units: n,
                    checksum: n,
                })
            }
            Workload::W5Copy => {
                let sink = self.client.copy_in(W5_COPY_BINARY_SQL).await?;
                let mut writer = pin!(BinaryCopyInWriter::new(
                    sink,
                    &[Type::INT4, Type::INT8, Type::TEXT, Type::FLOAT8, Type::BOOL],
                ));
                for r in &data.rows {
                    writer
                        .as_mut()
                        .write(&[&r.id, &r.n, &r.s, &r.f, &r.b])
                        .await?;
                }
                let n = writer.finish().await?;
                Ok(Outcome {
                    units: n,
                    checksum: n,
                })
            }
            Workload::OrmFetch | Workload::OrmFetchRaw => {
                let rows = self.client.query(&self.orm_fetch, &[]).await?;
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
                let row = self.client.query_one(&self.orm_get, &[&ORM_GET_PK]).await?;
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
                Err("no pipeline with one Sync for the batch in tokio-postgres".into())
            }
            Workload::P1PoolGet | Workload::P1PoolCheckout => self.p1().await,
            Workload::OrmAssoc | Workload::OrmAssocRaw => self.assoc().await,
            Workload::W6ArraysBytea => {
                let rows = self.client.query(&self.w6, &[]).await?;
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

impl Tp {
    /// The associations: three queries, each keyed by the previous one's ids.
    async fn assoc(&mut self) -> Result<Outcome> {
        let users = assoc::read_rows!(
            self.client.query(&self.assoc_users, &[]).await?,
            try_get,
            User
        )?;
        let user_ids: Vec<i32> = users.iter().map(|u| u.id).collect();
        let posts = assoc::read_rows!(
            self.client.query(&self.assoc_posts, &[&user_ids]).await?,
            try_get,
            Post
        )?;
        let post_ids: Vec<i32> = posts.iter().map(|p| p.id).collect();
        let comments = assoc::read_rows!(
            self.client
                .query(&self.assoc_comments, &[&post_ids])
                .await?,
            try_get,
            Comment
        )?;
        assoc::check(&assoc::assemble(users, posts, comments)?)
    }

    async fn p1(&mut self) -> Result<Outcome> {
        let pool = match &self.pool {
            Some(p) => p.clone(),
            None => {
                let config: tokio_postgres::Config = self.url.parse()?;
                let manager = deadpool_postgres::Manager::from_config(
                    config,
                    NoTls,
                    deadpool_postgres::ManagerConfig::default(),
                );
                let p = deadpool_postgres::Pool::builder(manager)
                    .max_size(P1_CONNS)
                    .build()?;
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
                        let client = pool.get().await?;
                        let stmt = client.prepare_cached(P1_SQL).await?;
                        let row = client.query_one(&stmt, &[&id]).await?;
                        drop(client);
                        sum = checksum::p1(sum, row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
                    }
                    Ok::<u64, crate::BoxError>(sum)
                })
            })
            .collect();
        crate::p1_join(handles).await
    }
}
