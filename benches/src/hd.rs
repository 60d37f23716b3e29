//! The workloads on hyperdjango-pgwire, as its README recommends: SQL text through the
//! per-connection statement cache (`conn.query("...", ..)`: prepared once, then Bind/Execute/Sync
//! only), binary parameters and results, `pipeline` for batches, `execute_many` for one
//! statement over many rows, and `copy_in` + `BinaryCopyInWriter` for COPY.
//!
//! The ORM workloads go through hyperdjango-orm: a [`BenchItem`] model over `bench_orm`, and
//! [`User`] ← [`Post`] ← [`Comment`] (foreign keys) over the associations tables, on a
//! one-connection pool registered as the database [`ORM_DB`].

use chrono::{DateTime, Utc};
use hyperdjango_pgwire::{BinaryCopyInWriter, Connection, SyncMode, ToSql, Type};
use hyperdjango_pool::Pool;

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::relations::ForeignKey;

use crate::assoc::{self, Node};
use crate::{
    ORM_FETCH_SQL, ORM_GET_PK, ORM_GET_SQL, Outcome, P1_CONNS, P1_GETS, P1_SQL, P1_TASKS, Result,
    W2_QUERIES, W3_SQL, W4_SQL, W5_COPY_BINARY_SQL, W5_INSERT_SQL, W5Data, W6_SQL, Workload,
    checksum,
};

/// The alias the ORM workloads' pool is registered under.
pub const ORM_DB: &str = "bench";

model! {
    /// A row of `bench_orm`, the ORM workloads' model.
    #[table = "bench_orm"]
    pub struct BenchItem {
        /// The serial primary key.
        pub id: Auto<i32> = Field::new().primary_key(),
        /// int8
        pub n: i64,
        /// text
        pub s: String,
        /// float8
        pub f: f64,
        /// bool
        pub b: bool,
    }
}

impl BenchItem {
    /// Folds every field into the checksum.
    fn checksum(&self, acc: u64) -> u64 {
        checksum::orm(
            acc,
            self.id.get().unwrap_or(0),
            self.n,
            &self.s,
            self.f,
            self.b,
        )
    }
}

model! {
    /// A row of `bench_users`: the top of the associations workload.
    #[table = "bench_users"]
    pub struct User {
        /// The serial primary key.
        pub id: Auto<i32> = Field::new().primary_key(),
        /// text
        pub name: String,
        /// text, nullable
        pub hair_color: Option<String>,
    }
}

model! {
    /// A row of `bench_posts`, belonging to a [`User`].
    #[table = "bench_posts"]
    pub struct Post {
        /// The serial primary key.
        pub id: Auto<i32> = Field::new().primary_key(),
        /// `user_id`
        pub user: ForeignKey<User, i32>,
        /// text
        pub title: String,
        /// text, nullable
        pub body: Option<String>,
    }
}

model! {
    /// A row of `bench_comments`, belonging to a [`Post`].
    #[table = "bench_comments"]
    pub struct Comment {
        /// The serial primary key.
        pub id: Auto<i32> = Field::new().primary_key(),
        /// `post_id`
        pub post: ForeignKey<Post, i32>,
        /// text
        pub text: String,
    }
}

/// The primary key of a model loaded from the database.
fn pk(id: &Auto<i32>) -> crate::Result<i32> {
    id.get()
        .ok_or_else(|| "a row without its primary key".into())
}

impl Node for User {
    fn key(&self) -> crate::Result<i32> {
        pk(&self.id)
    }
    fn parent(&self) -> crate::Result<Option<i32>> {
        Ok(None)
    }
    fn fold(&self, acc: u64) -> u64 {
        assoc::fold_user(acc, &self.name, self.hair_color.as_deref())
    }
}

impl Node for Post {
    fn key(&self) -> crate::Result<i32> {
        pk(&self.id)
    }
    fn parent(&self) -> crate::Result<Option<i32>> {
        Ok(self.user.id().copied())
    }
    fn fold(&self, acc: u64) -> u64 {
        assoc::fold_post(acc, &self.title, self.body.as_deref())
    }
}

impl Node for Comment {
    fn key(&self) -> crate::Result<i32> {
        pk(&self.id)
    }
    fn parent(&self) -> crate::Result<Option<i32>> {
        Ok(self.post.id().copied())
    }
    fn fold(&self, acc: u64) -> u64 {
        assoc::fold_comment(acc, &self.text)
    }
}

/// The associations through the ORM, as a Django view would write them: the users, then
/// their posts with one prefetch (`WHERE user_id IN (...)`), then those posts' comments with
/// another, grouped by the ORM; three queries, never one per user or post.
async fn orm_assoc() -> Result<Outcome> {
    let users = User::objects().using(ORM_DB).all().await?;
    let mut posts = Post::user
        .prefetch_with(&users, Post::objects().using(ORM_DB))
        .await?;
    // The comments' prefetch takes the posts as one slice: lay them out user by user.
    let mut all_posts = Vec::with_capacity(users.len() * assoc::POSTS_PER_USER);
    let mut per_user = Vec::with_capacity(users.len());
    for u in &users {
        let mine = posts.take(&pk(&u.id)?);
        per_user.push(mine.len());
        all_posts.extend(mine);
    }
    let mut comments = Comment::post
        .prefetch_with(&all_posts, Comment::objects().using(ORM_DB))
        .await?;
    let mut all_posts = all_posts.into_iter();
    let mut tree: assoc::Tree<User, Post, Comment> = Vec::with_capacity(users.len());
    for (u, n) in users.into_iter().zip(per_user) {
        let mut with_comments = Vec::with_capacity(n);
        for p in all_posts.by_ref().take(n) {
            let c = comments.take(&pk(&p.id)?);
            with_comments.push((p, c));
        }
        tree.push((u, with_comments));
    }
    assoc::check(&tree)
}

/// Whether the hyperdjango variant of `w` is a stand-in for an API that is not there yet
/// (none is, since the pipeline, execute_many and COPY APIs landed on main).
pub fn is_fallback(_w: Workload) -> bool {
    false
}

/// How hyperdjango runs `w`, where that needs saying.
pub fn note(w: Workload) -> Option<&'static str> {
    match w {
        Workload::W2Pipeline => {
            Some("conn.pipeline(SyncMode::PerQuery) with 100 queries, one run()")
        }
        Workload::W2PipelineAtomic => {
            Some("conn.pipeline(SyncMode::Atomic): one Sync for the batch, like the pgbench floor")
        }
        Workload::W5Many => Some("conn.execute_many (one implicit transaction)"),
        Workload::W5Copy => Some("copy_in + BinaryCopyInWriter"),
        Workload::P1PoolGet => Some(
            "hyperdjango_pool::Pool, max_size 4, other settings at their defaults \
             (rotation after 10,000 queries); pool.query_one(SQL text) per get (pipelined \
             across tasks, a Sync per query)",
        ),
        Workload::P1PoolCheckout => {
            Some("the same pool; acquire + query_one(SQL text) per get, one query per round trip")
        }
        Workload::OrmFetch => Some(
            "BenchItem::objects().using(..).all(): a QuerySet into 10k model instances, on a \
             one-connection hyperdjango-pool",
        ),
        Workload::OrmFetchRaw => Some(
            "the raw driver: conn.query(\"SELECT id, n, s, f, b FROM bench_orm\") + row.get per \
             column (the peers run as in ORM fetch 10k)",
        ),
        Workload::OrmPkGetRaw => Some(
            "the raw driver: conn.query_one(\"SELECT id, n, s, f, b FROM bench_orm WHERE id = $1\") \
             (statement cache) + row.get per column (the peers run as in ORM pk get)",
        ),
        Workload::OrmPkGet => Some(
            "BenchItem::objects().using(..).get(BenchItem::id.eq(4242)) (Django's get: LIMIT 21), \
             one-connection pool",
        ),
        Workload::OrmAssoc => Some(
            "models User ← Post ← Comment (ForeignKey): User::objects().all(), \
             Post::user.prefetch_with(&users, ..), Comment::post.prefetch_with(&posts, ..) (each \
             a WHERE fk IN ($1, ..) with one parameter per key), grouped by Prefetched::take; \
             one-connection pool",
        ),
        Workload::OrmAssocRaw => Some(
            "the raw driver: the peers' three queries (= ANY($1) with an int4[]) through \
             conn.query (statement cache), row.get per column, grouped in hash maps",
        ),
        _ => None,
    }
}

/// One hyperdjango connection (its statement cache holds the prepared statements), and P1's
/// pool, created on first use.
pub struct Hd {
    conn: Connection,
    url: String,
    pool: Option<Pool>,
}

impl Hd {
    /// Connects, and registers a one-connection pool on `url` as the ORM database
    /// [`ORM_DB`].
    pub async fn connect(url: &str) -> Result<Hd> {
        let pool = hyperdjango_pool::Pool::builder()
            .url(url)
            .max_size(1)
            .build()?;
        hyperdjango_orm::register_database(ORM_DB, pool);
        Ok(Hd {
            conn: Connection::connect_url(url).await?,
            url: url.to_string(),
            pool: None,
        })
    }

    /// Empties `bench_w5`.
    pub async fn truncate_w5(&mut self) -> Result<()> {
        self.conn.batch_execute("TRUNCATE bench_w5").await?;
        Ok(())
    }

    /// Runs one iteration of `w`.
    pub async fn run(&mut self, w: Workload, data: &W5Data) -> Result<Outcome> {
        match w {
            Workload::W1Select1 => {
                let v: i32 = self.conn.query_one("SELECT 1", &[]).await?.get(0)?;
                Ok(Outcome {
                    units: 1,
                    checksum: v as u64,
                })
            }
            Workload::W2Pipeline => self.w2(SyncMode::PerQuery).await,
            Workload::W2PipelineAtomic => self.w2(SyncMode::Atomic).await,
            Workload::W3Fetch => {
                let rows = self.conn.query(W3_SQL, &[]).await?;
                let mut sum = 0;
                for row in &rows {
                    let ts: DateTime<Utc> = row.get(5)?;
                    sum = checksum::w3(
                        sum,
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        ts.timestamp_micros(),
                    );
                }
                Ok(Outcome {
                    units: rows.len() as u64,
                    checksum: sum,
                })
            }
            Workload::W4PgType => {
                let rows = self.conn.query(W4_SQL, &[&-1i32, &true]).await?;
                let mut sum = 0;
                for row in &rows {
                    sum = checksum::w4(
                        sum,
                        row.get(0)?,
                        [
                            row.get(1)?,
                            row.get(2)?,
                            row.get(9)?,
                            row.get(10)?,
                            row.get(11)?,
                        ],
                        row.get(3)?,
                        [row.get(4)?, row.get(6)?, row.get(7)?],
                        row.get(5)?,
                        row.get(8)?,
                    );
                }
                Ok(Outcome {
                    units: 1,
                    checksum: sum,
                })
            }
            Workload::W5OneByOne => {
                self.conn.batch_execute("BEGIN").await?;
                let mut n = 0;
                for r in &data.rows {
                    n += self
                        .conn
                        .execute(W5_INSERT_SQL, &[&r.id, &r.n, &r.s, &r.f, &r.b])
                        .await?;
                }
                self.conn.batch_execute("COMMIT").await?;
                Ok(Outcome {
                    units: n,
                    checksum: n,
                })
            }
            Workload::W5Many => self.w5_many(data).await,
            Workload::P1PoolGet => self.p1(false).await,
            Workload::P1PoolCheckout => self.p1(true).await,
            Workload::W5Copy => self.w5_copy(data).await,
            Workload::OrmFetch => {
                let items = BenchItem::objects().using(ORM_DB).all().await?;
                let mut sum = 0;
                for item in &items {
                    sum = item.checksum(sum);
                }
                Ok(Outcome {
                    units: items.len() as u64,
                    checksum: sum,
                })
            }
            Workload::OrmFetchRaw => {
                let rows = self.conn.query(ORM_FETCH_SQL, &[]).await?;
                let mut sum = 0;
                for row in &rows {
                    sum = checksum::orm(
                        sum,
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    );
                }
                Ok(Outcome {
                    units: rows.len() as u64,
                    checksum: sum,
                })
            }
            Workload::OrmPkGet => {
                let item = BenchItem::objects()
                    .using(ORM_DB)
                    .get(BenchItem::id.eq(ORM_GET_PK))
                    .await?;
                Ok(Outcome {
                    units: 1,
                    checksum: item.checksum(0),
                })
            }
            Workload::OrmPkGetRaw => {
                let row = self.conn.query_one(ORM_GET_SQL, &[&ORM_GET_PK]).await?;
                Ok(Outcome {
                    units: 1,
                    checksum: checksum::orm(
                        0,
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ),
                })
            }
            Workload::OrmAssoc => orm_assoc().await,
            Workload::OrmAssocRaw => self.assoc_raw().await,
            Workload::W6ArraysBytea => {
                let rows = self.conn.query(W6_SQL, &[]).await?;
                let mut sum = 0;
                for row in &rows {
                    let arr: Vec<i32> = row.get(0)?;
                    let bytes: &[u8] = row.get(1)?;
                    sum = checksum::w6(sum, &arr, bytes);
                }
                Ok(Outcome {
                    units: rows.len() as u64,
                    checksum: sum,
                })
            }
        }
    }

    /// The associations through the raw driver, as the peers run them.
    async fn assoc_raw(&mut self) -> Result<Outcome> {
        let users = assoc::read_rows!(self.conn.query(assoc::USERS_SQL, &[]).await?, get, User)?;
        let user_ids: Vec<i32> = users.iter().map(|u| u.id).collect();
        let posts = assoc::read_rows!(
            self.conn.query(assoc::POSTS_SQL, &[&user_ids]).await?,
            get,
            Post
        )?;
        let post_ids: Vec<i32> = posts.iter().map(|p| p.id).collect();
        let comments = assoc::read_rows!(
            self.conn.query(assoc::COMMENTS_SQL, &[&post_ids]).await?,
            get,
            Comment
        )?;
        assoc::check(&assoc::assemble(users, posts, comments)?)
    }

    async fn w2(&mut self, mode: SyncMode) -> Result<Outcome> {
        let values: Vec<i32> = (0..W2_QUERIES).collect();
        let mut p = self.conn.pipeline(mode);
        for v in &values {
            p.query("SELECT $1::int4", &[v])?;
        }
        let mut sum = 0;
        for result in p.run().await? {
            let v: i32 = result?.rows()[0].get(0)?;
            sum = checksum::add(sum, v as u64);
        }
        Ok(Outcome {
            units: W2_QUERIES as u64,
            checksum: sum,
        })
    }

    /// P1, with pipelined one-shot gets, or with a checkout per get.
    async fn p1(&mut self, checkout: bool) -> Result<Outcome> {
        let pool = match &self.pool {
            Some(p) => p.clone(),
            None => {
                let p = Pool::builder()
                    .url(self.url.as_str())
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
                        let row = if checkout {
                            pool.acquire().await?.query_one(P1_SQL, &[&id]).await?
                        } else {
                            pool.query_one(P1_SQL, &[&id]).await?
                        };
                        sum = checksum::p1(sum, row.get(0)?, row.get(1)?, row.get(2)?);
                    }
                    Ok::<u64, crate::BoxError>(sum)
                })
            })
            .collect();
        crate::p1_join(handles).await
    }

    async fn w5_many(&mut self, data: &W5Data) -> Result<Outcome> {
        let params: Vec<[&(dyn ToSql + Sync); 5]> = data
            .rows
            .iter()
            .map(|r| [&r.id as &(dyn ToSql + Sync), &r.n, &r.s, &r.f, &r.b])
            .collect();
        let n = self.conn.execute_many(W5_INSERT_SQL, &params).await?;
        Ok(Outcome {
            units: n,
            checksum: n,
        })
    }

    async fn w5_copy(&mut self, data: &W5Data) -> Result<Outcome> {
        let sink = self.conn.copy_in(W5_COPY_BINARY_SQL).await?;
        let mut w = BinaryCopyInWriter::new(
            sink,
            &[Type::INT4, Type::INT8, Type::TEXT, Type::FLOAT8, Type::BOOL],
        );
        for r in &data.rows {
            w.write(&[&r.id, &r.n, &r.s, &r.f, &r.b]).await?;
        }
        let n = w.finish().await?;
        Ok(Outcome {
            units: n,
            checksum: n,
        })
    }
}
