//! The workloads on hyperdjango-pgwire: statements prepared once per connection, binary
//! parameters and results.
//!
//! What the driver lacks today is marked "(fallback)" in the `compare` table and described by
//! [`note`]:
//!
//! - W2 runs its 100 queries one after another: the pipeline API (`conn.pipeline(..)`) is being
//!   built on main.
//! - W5 "many" and "COPY" run multi-row `INSERT ... VALUES` statements of 1,000 rows:
//!   `execute_many` and binary COPY are being built on main.
//!
//! The code for those APIs is already here behind the `hd-next-api` feature (it does not
//! compile until main has them): enable the feature and drop the fallbacks once they land.
//! `timestamptz` (W3) and `int4[]` (W6) are read through small FromSql impls of this crate
//! ([`Micros`], [`Int4Array`]), as the driver has no such types yet; they do what the peers'
//! built-in decoders do.

use hyperdjango_pgwire::types::{BoxError as HdBoxError, FromSql, Type};
use hyperdjango_pgwire::{Connection, Statement, ToSql};

use crate::{
    MULTI_ROW_CHUNK, Outcome, Result, W2_QUERIES, W3_SQL, W4_SQL, W5_INSERT_SQL, W5Data, W6_SQL,
    Workload, checksum, decode_int4_array, multi_row_insert_sql,
};

/// Whether the hyperdjango variant of `w` is a stand-in for an API that is not there yet.
pub fn is_fallback(w: Workload) -> bool {
    !cfg!(feature = "hd-next-api")
        && matches!(
            w,
            Workload::W2Pipeline | Workload::W5Many | Workload::W5Copy
        )
}

/// How hyperdjango runs `w`, where that needs saying.
pub fn note(w: Workload) -> Option<&'static str> {
    let next = cfg!(feature = "hd-next-api");
    match w {
        Workload::W2Pipeline if !next => {
            Some("no pipeline API yet: 100 prepared queries one after another")
        }
        Workload::W2Pipeline => Some("conn.pipeline(SyncMode::PerQuery), one run()"),
        Workload::W3Fetch => Some(
            "timestamptz read as raw int8 microseconds by a bench-local FromSql \
             (no chrono support merged yet); the peers do the same",
        ),
        Workload::W5Many if !next => Some(
            "no execute_many yet: multi-row INSERT ... VALUES of 1,000 rows (5,000 params), prepared",
        ),
        Workload::W5Many => Some("conn.execute_many in one transaction"),
        Workload::W5Copy if !next => {
            Some("no COPY yet: same multi-row INSERT ... VALUES as 'many'")
        }
        Workload::W5Copy => Some("copy_in + BinaryCopyInWriter"),
        Workload::W6ArraysBytea => {
            Some("int4[] decoded from raw bytes by a bench-local FromSql (no array support yet)")
        }
        _ => None,
    }
}

/// A `timestamptz` as microseconds since 2000-01-01 (its binary format).
pub struct Micros(pub i64);

impl<'a> FromSql<'a> for Micros {
    fn accepts(ty: Type) -> bool {
        ty == Type::TIMESTAMPTZ
    }
    #[inline]
    fn from_sql(_ty: Type, raw: &'a [u8]) -> Result<Self, HdBoxError> {
        Ok(Micros(i64::from_be_bytes(raw.try_into()?)))
    }
}

/// A one-dimensional `int4[]` without NULLs.
pub struct Int4Array(pub Vec<i32>);

impl<'a> FromSql<'a> for Int4Array {
    fn accepts(ty: Type) -> bool {
        ty == Type::INT4_ARRAY
    }
    fn from_sql(_ty: Type, raw: &'a [u8]) -> Result<Self, HdBoxError> {
        decode_int4_array(raw).map(Int4Array)
    }
}

/// One hyperdjango connection and its prepared statements.
pub struct Hd {
    conn: Connection,
    select1: Statement,
    select_int: Statement,
    w3: Statement,
    w4: Statement,
    insert: Statement,
    insert_multi: Statement,
    w6: Statement,
}

impl Hd {
    /// Connects and prepares.
    pub async fn connect(url: &str) -> Result<Hd> {
        let mut conn = Connection::connect_url(url).await?;
        let select1 = conn.prepare("SELECT 1").await?;
        let select_int = conn.prepare("SELECT $1::int4").await?;
        let w3 = conn.prepare(W3_SQL).await?;
        let w4 = conn.prepare(W4_SQL).await?;
        let insert = conn.prepare(W5_INSERT_SQL).await?;
        let insert_multi = conn.prepare(&multi_row_insert_sql(MULTI_ROW_CHUNK)).await?;
        let w6 = conn.prepare(W6_SQL).await?;
        Ok(Hd {
            conn,
            select1,
            select_int,
            w3,
            w4,
            insert,
            insert_multi,
            w6,
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
                let v: i32 = self.conn.query_one(&self.select1, &[]).await?.get(0)?;
                Ok(Outcome {
                    units: 1,
                    checksum: v as u64,
                })
            }
            Workload::W2Pipeline => self.w2().await,
            Workload::W3Fetch => {
                let rows = self.conn.query(&self.w3, &[]).await?;
                let mut sum = 0;
                for row in &rows {
                    let ts: Micros = row.get(5)?;
                    sum = checksum::w3(
                        sum,
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        ts.0,
                    );
                }
                Ok(Outcome {
                    units: rows.len() as u64,
                    checksum: sum,
                })
            }
            Workload::W4PgType => {
                let rows = self.conn.query(&self.w4, &[&-1i32, &true]).await?;
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
                        .execute(&self.insert, &[&r.id, &r.n, &r.s, &r.f, &r.b])
                        .await?;
                }
                self.conn.batch_execute("COMMIT").await?;
                Ok(Outcome {
                    units: n,
                    checksum: n,
                })
            }
            Workload::W5Many => self.w5_many(data).await,
            Workload::W5Copy => self.w5_copy(data).await,
            Workload::W6ArraysBytea => {
                let rows = self.conn.query(&self.w6, &[]).await?;
                let mut sum = 0;
                for row in &rows {
                    let arr: Int4Array = row.get(0)?;
                    let bytes: &[u8] = row.get(1)?;
                    sum = checksum::w6(sum, &arr.0, bytes);
                }
                Ok(Outcome {
                    units: rows.len() as u64,
                    checksum: sum,
                })
            }
        }
    }

    /// Multi-row `INSERT ... VALUES` in chunks of [`MULTI_ROW_CHUNK`] rows, in one
    /// transaction: the stand-in for `execute_many` and COPY.
    #[cfg_attr(feature = "hd-next-api", allow(dead_code))]
    async fn insert_multi_row(&mut self, data: &W5Data) -> Result<Outcome> {
        self.conn.batch_execute("BEGIN").await?;
        let mut n = 0;
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(MULTI_ROW_CHUNK * 5);
        for chunk in data.rows.chunks(MULTI_ROW_CHUNK) {
            params.clear();
            for r in chunk {
                params.extend_from_slice(&[&r.id, &r.n, &r.s, &r.f, &r.b]);
            }
            if chunk.len() == MULTI_ROW_CHUNK {
                n += self.conn.execute(&self.insert_multi, &params).await?;
            } else {
                n += self
                    .conn
                    .execute(multi_row_insert_sql(chunk.len()).as_str(), &params)
                    .await?;
            }
        }
        self.conn.batch_execute("COMMIT").await?;
        Ok(Outcome {
            units: n,
            checksum: n,
        })
    }

    #[cfg(not(feature = "hd-next-api"))]
    async fn w2(&mut self) -> Result<Outcome> {
        let mut sum = 0;
        for i in 0..W2_QUERIES {
            let v: i32 = self.conn.query_one(&self.select_int, &[&i]).await?.get(0)?;
            sum = checksum::add(sum, v as u64);
        }
        Ok(Outcome {
            units: W2_QUERIES as u64,
            checksum: sum,
        })
    }

    #[cfg(not(feature = "hd-next-api"))]
    async fn w5_many(&mut self, data: &W5Data) -> Result<Outcome> {
        self.insert_multi_row(data).await
    }

    #[cfg(not(feature = "hd-next-api"))]
    async fn w5_copy(&mut self, data: &W5Data) -> Result<Outcome> {
        self.insert_multi_row(data).await
    }

    // The real APIs, as announced for main (`hd-next-api`).

    #[cfg(feature = "hd-next-api")]
    async fn w2(&mut self) -> Result<Outcome> {
        use hyperdjango_pgwire::SyncMode;
        let values: Vec<i32> = (0..W2_QUERIES).collect();
        let mut p = self.conn.pipeline(SyncMode::PerQuery);
        for v in &values {
            p.query(&self.select_int, &[v])?;
        }
        let mut sum = 0;
        for result in p.run().await? {
            let v: i32 = result?[0].get(0)?;
            sum = checksum::add(sum, v as u64);
        }
        Ok(Outcome {
            units: W2_QUERIES as u64,
            checksum: sum,
        })
    }

    #[cfg(feature = "hd-next-api")]
    async fn w5_many(&mut self, data: &W5Data) -> Result<Outcome> {
        let params: Vec<[&(dyn ToSql + Sync); 5]> = data
            .rows
            .iter()
            .map(|r| [&r.id as &(dyn ToSql + Sync), &r.n, &r.s, &r.f, &r.b])
            .collect();
        self.conn.batch_execute("BEGIN").await?;
        let n = self
            .conn
            .execute_many(W5_INSERT_SQL, params.iter().map(|p| &p[..]))
            .await?;
        self.conn.batch_execute("COMMIT").await?;
        Ok(Outcome {
            units: n,
            checksum: n,
        })
    }

    #[cfg(feature = "hd-next-api")]
    async fn w5_copy(&mut self, data: &W5Data) -> Result<Outcome> {
        use hyperdjango_pgwire::BinaryCopyInWriter;
        let sink = self.conn.copy_in(crate::W5_COPY_BINARY_SQL).await?;
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
