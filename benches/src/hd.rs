//! The workloads on hyperdjango-pgwire, as its README recommends: SQL text through the
//! per-connection statement cache (`conn.query("...", ..)`: prepared once, then Bind/Execute/Sync
//! only), binary parameters and results, `pipeline` for batches, `execute_many` for one
//! statement over many rows, and `copy_in` + `BinaryCopyInWriter` for COPY.

use chrono::{DateTime, Utc};
use hyperdjango_pgwire::{BinaryCopyInWriter, Connection, SyncMode, ToSql, Type};

use crate::{
    Outcome, Result, W2_QUERIES, W3_SQL, W4_SQL, W5_COPY_BINARY_SQL, W5_INSERT_SQL, W5Data, W6_SQL,
    Workload, checksum,
};

/// Whether the hyperdjango variant of `w` is a stand-in for an API that is not there yet
/// (none is, since the pipeline, execute_many and COPY APIs landed on main).
pub fn is_fallback(_w: Workload) -> bool {
    false
}

/// W2's pipeline mode: one Sync for the batch (the default, as pgbench's pipeline mode
/// sends), or one per query with `HYPERDJANGO_BENCH_W2_SYNC=per-query` (as tokio-postgres's
/// implicit pipelining sends).
fn w2_mode() -> SyncMode {
    match std::env::var("HYPERDJANGO_BENCH_W2_SYNC").as_deref() {
        Ok("per-query") => SyncMode::PerQuery,
        _ => SyncMode::Atomic,
    }
}

/// How hyperdjango runs `w`, where that needs saying.
pub fn note(w: Workload) -> Option<&'static str> {
    match w {
        Workload::W2Pipeline => Some(if w2_mode() == SyncMode::Atomic {
            "conn.pipeline(SyncMode::Atomic): 100 queries and one Sync, as pgbench's pipeline mode (HYPERDJANGO_BENCH_W2_SYNC=per-query for a Sync per query)"
        } else {
            "conn.pipeline(SyncMode::PerQuery): 100 queries, each with its own Sync (HYPERDJANGO_BENCH_W2_SYNC=per-query)"
        }),
        Workload::W5Many => Some("conn.execute_many (one implicit transaction)"),
        Workload::W5Copy => Some("copy_in + BinaryCopyInWriter"),
        _ => None,
    }
}

/// One hyperdjango connection (its statement cache holds the prepared statements).
pub struct Hd {
    conn: Connection,
}

impl Hd {
    /// Connects.
    pub async fn connect(url: &str) -> Result<Hd> {
        Ok(Hd {
            conn: Connection::connect_url(url).await?,
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
            Workload::W2Pipeline => self.w2().await,
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
            Workload::W5Copy => self.w5_copy(data).await,
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

    async fn w2(&mut self) -> Result<Outcome> {
        let values: Vec<i32> = (0..W2_QUERIES).collect();
        let mut p = self.conn.pipeline(w2_mode());
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
