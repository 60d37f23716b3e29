//! Records seed inputs for the fuzz targets (`fuzz/`) from the real test server: the binary
//! values of each type family, and the raw bytes a server sends during a varied session (read
//! through a recording proxy). Ignored by default because it writes files:
//!
//! ```sh
//! cargo test --test it fuzz_seeds -- --ignored          # PostgreSQL 15: no pgvector seeds
//! HYPER_PG_BIN=/opt/hyperdjango-pg18/pgserver/pginstall/bin cargo test --test it fuzz_seeds -- --ignored
//! ```
//!
//! Seeds go to `fuzz/seeds/<target>/` (or `$HYPER_FUZZ_SEEDS_DIR/<target>/`), one file per
//! input, named by a hash of the content so that reruns add nothing twice.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hyperdjango_pgwire::Connection;
use hyperdjango_pgwire::testing::TestUser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

fn seeds_dir(target: &str) -> PathBuf {
    let root = std::env::var_os("HYPER_FUZZ_SEEDS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds"));
    let dir = root.join(target);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// FNV-1a, for content-addressed file names.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn write_seed(target: &str, data: &[u8]) {
    let path = seeds_dir(target).join(format!("{:016x}", fnv(data)));
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Writes the binary form of each expression's value as a seed of `target`.
async fn values(conn: &mut Connection, target: &str, exprs: &[&str]) {
    for expr in exprs {
        let sql = format!("SELECT {expr}");
        let row = conn
            .query_one(sql.as_str(), &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        if let Some(raw) = row.raw(0).unwrap() {
            write_seed(target, raw);
        }
    }
}

/// A proxy that forwards one connection to the real server and records what the server sent.
async fn recording_proxy(server_port: u16) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let rec = recorded.clone();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(("127.0.0.1", server_port))
            .await
            .unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let up = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut cr, &mut sw).await;
            let _ = sw.shutdown().await;
        });
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    rec.lock().unwrap().extend_from_slice(&buf[..n]);
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = up.await;
    });
    (port, recorded)
}

/// Splits a recorded server stream into (tag, body) frames.
fn frames(stream: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= 5 {
        let len = i32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if len < 4 || rest.len() < 1 + len {
            break;
        }
        out.push((rest[0], &rest[5..1 + len]));
        rest = &rest[1 + len..];
    }
    out
}

#[tokio::test]
#[ignore = "writes fuzz seed files; run explicitly (see the module docs)"]
async fn fuzz_seeds() {
    let mut conn = connect().await;

    values(
        &mut conn,
        "type_numeric",
        &[
            "0::numeric",
            "1::numeric",
            "-1.5::numeric",
            "'NaN'::numeric",
            "'Infinity'::numeric",
            "'-Infinity'::numeric",
            "123456789012345678901234567890.000000000000000000001::numeric",
            "0.000001::numeric",
            "1e100::numeric",
            "round(pi()::numeric, 30)",
            "12.34::money",
            "'-92233720368547758.08'::money",
        ],
    )
    .await;
    values(
        &mut conn,
        "type_array",
        &[
            "ARRAY[1, 2, NULL, 4]::int4[]",
            "'{}'::int4[]",
            "ARRAY[[1, 2], [3, 4]]::int8[]",
            "'[0:2]={1,2,3}'::int4[]",
            "ARRAY['a', NULL, 'héllo']::text[]",
            "ARRAY[1.5, NULL, 'NaN']::numeric[]",
            "ARRAY[1.5, 'Infinity']::float8[]",
            "ARRAY[true, false, NULL]",
            "ARRAY[[[1]], [[2]]]::int4[]",
        ],
    )
    .await;
    values(
        &mut conn,
        "type_range",
        &[
            "'[1,10)'::int4range",
            "'empty'::int4range",
            "'(,5]'::int8range",
            "'[1.5,)'::numrange",
            "'[2024-01-01 10:00, 2024-01-02)'::tsrange",
            "'[2024-01-01 10:00+00, infinity)'::tstzrange",
            "'[2024-01-01, 2024-02-01)'::daterange",
            "'{[1,3), [5,7)}'::int4multirange",
            "'{}'::int8multirange",
            "'{[2024-01-01 00:00+00, 2024-01-02 00:00+00)}'::tstzmultirange",
        ],
    )
    .await;
    values(
        &mut conn,
        "type_time",
        &[
            "'2024-02-29'::date",
            "'infinity'::date",
            "'-infinity'::date",
            "'4713-01-01 BC'::date",
            "'12:34:56.789'::time",
            "'24:00'::time",
            "'12:34:56+05:30'::timetz",
            "'2024-02-29 12:34:56.789012'::timestamp",
            "'infinity'::timestamp",
            "'294276-12-31 23:59:59'::timestamp",
            "'2024-02-29 12:34:56.789012+00'::timestamptz",
            "'-infinity'::timestamptz",
            "'1 year 2 mons 3 days 04:05:06.789'::interval",
            "'-178000000 years'::interval",
        ],
    )
    .await;
    values(
        &mut conn,
        "type_jsonb",
        &[
            r#"'{"a": 1, "b": [true, null, 2.5e10], "c": "é\u00e9x"}'::jsonb"#,
            "'[]'::jsonb",
            "'null'::jsonb",
            r#"'"text"'::json"#,
            r#"'{"a": {"b": {"c": [1, [2, [3]]]}}}'::json"#,
            "'123456789012345678901234567890'::jsonb",
        ],
    )
    .await;
    if extension(&mut conn, "vector", "fuzz_seeds (type_vector)").await {
        values(
            &mut conn,
            "type_vector",
            &[
                "'[1, -2.5, 3e38]'::vector",
                "'[0]'::vector",
                "'[1, 0.1, -65504]'::halfvec",
                "'{1:1.5, 4:-2}/5'::sparsevec",
                "'{}/3'::sparsevec",
            ],
        )
        .await;
    }

    // URLs and key=value strings of the shapes the test cluster hands out.
    let c = cluster();
    let mut urls = vec![c.url()];
    urls.extend(TestUser::ALL.iter().filter_map(|u| c.url_for(*u)));
    urls.extend(c.socket_url());
    urls.extend([
        "postgresql://bob:pa%40ss@[::1]:5433,db2:5434/app?sslmode=verify-full&sslrootcert=/r.pem&application_name=web&target_session_attrs=read-write".to_string(),
        "host=/tmp,db port=5432,5433 user=bob password='it\\'s' sslmode=require sslnegotiation=direct channel_binding=require require_auth=scram-sha-256".to_string(),
        "postgres:///db?host=%2Fvar%2Frun%2Fpostgresql&connect_timeout=10&options=-c%20x%3Dy".to_string(),
    ]);
    for url in &urls {
        write_seed("url", url.as_bytes());
    }

    // A varied session through the recording proxy: its whole stream seeds backend_messages.
    let (port, recorded) = recording_proxy(c.port().expect("a local cluster")).await;
    let mut config = hyperdjango_pgwire::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user(TestUser::Scram.name())
        .password(TestUser::Scram.password().unwrap())
        .dbname("postgres")
        .ssl_mode(hyperdjango_pgwire::SslMode::Disable);
    let mut s = Connection::connect(&config).await.unwrap();
    s.set_notice_handler(|_| {});
    s.batch_execute(
        "CREATE TEMP TABLE seeds (id int4, name text, v numeric, t timestamptz, a int4[]); \
         INSERT INTO seeds VALUES (1, 'one', 1.5, now(), '{1,2}'), (2, NULL, NULL, NULL, NULL)",
    )
    .await
    .unwrap();
    s.query("SELECT * FROM seeds ORDER BY id", &[])
        .await
        .unwrap();
    s.simple_query("SELECT * FROM seeds; SELECT 1")
        .await
        .unwrap();
    let _ = s.batch_execute("SELECT 1/0").await;
    let _ = s.query("SELECT nope FROM seeds", &[]).await;
    s.batch_execute("DO $$ BEGIN RAISE NOTICE 'a notice'; RAISE WARNING 'a warning'; END $$")
        .await
        .unwrap();
    s.batch_execute("LISTEN seeds_chan; NOTIFY seeds_chan, 'payload'; SET application_name = 'x'")
        .await
        .unwrap();
    {
        let mut out = s
            .copy_out("COPY seeds TO STDOUT (FORMAT binary)")
            .await
            .unwrap();
        while let Some(chunk) = out.next().await {
            chunk.unwrap();
        }
    }
    {
        let mut copy = s.copy_in("COPY seeds (id, name) FROM STDIN").await.unwrap();
        copy.write(b"3\tthree\n").await.unwrap();
        copy.finish().await.unwrap();
    }
    s.close().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let stream = recorded.lock().unwrap().clone();
    assert!(stream.len() > 100, "recorded {} bytes", stream.len());
    write_seed("backend_messages", &stream);
    // Each reply to one client message alone, too: shorter seeds.
    let all = frames(&stream);
    let mut start = 0;
    for (i, (tag, _)) in all.iter().enumerate() {
        if *tag == b'Z' {
            let mut piece = Vec::new();
            for (t, body) in &all[start..=i] {
                piece.push(*t);
                piece.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
                piece.extend_from_slice(body);
            }
            write_seed("backend_messages", &piece);
            start = i + 1;
        }
    }
    // The SCRAM server messages, in scram_server_messages' layout: first, 0xff, final.
    let sasl: Vec<&[u8]> = all
        .iter()
        .filter(|(t, b)| *t == b'R' && b.len() >= 4 && matches!(b[3], 11 | 12))
        .map(|(_, b)| &b[4..])
        .collect();
    if let [first, last] = sasl.as_slice() {
        let mut seed = first.to_vec();
        seed.push(0xff);
        seed.extend_from_slice(last);
        write_seed("scram_server_messages", &seed);
    }
}
