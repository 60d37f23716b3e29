//! ORM signals against a real server: pre/post save and delete with async receivers, for
//! one model or for all, `created`, receivers that change the instance, and a receiver's
//! error rolling the operation back. Each test uses models of its own, because receivers
//! are process-wide and the tests run in parallel.

use std::sync::{Arc, Mutex};

use hyperdjango_orm::prelude::*;
use hyperdjango_orm::signals::{self, SignalKind};
use hyperdjango_orm::{Error, atomic};

use crate::orm_test;

model! {
    #[table = "sig_articles"]
    #[derive(Debug, Clone)]
    pub struct SigArticle {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub title: String,
        pub slug: String = Field::new().blank(true),
    }
}

model! {
    #[table = "sig_notes"]
    #[derive(Debug, Clone)]
    pub struct SigNote {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub body: String,
    }
}

model! {
    #[table = "sig_any"]
    #[derive(Debug, Clone)]
    pub struct SigAny {
        pub id: Auto<i64> = Field::new().primary_key(),
        pub n: i32,
    }
}

type Log = Arc<Mutex<Vec<String>>>;

fn log_of(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn save_and_delete_send_the_four_signals_in_order() {
    orm_test!([SigArticle], async {
        let log: Log = Arc::default();
        let l = log.clone();
        let pre = signals::pre_save::<SigArticle>(move |a, e| {
            let l = l.clone();
            Box::pin(async move {
                // A pre_save receiver may change the instance before it is written.
                if a.slug.is_empty() {
                    a.slug = a.title.to_lowercase().replace(' ', "-");
                }
                l.lock()
                    .unwrap()
                    .push(format!("pre_save created={} {}", e.created, a.title));
                Ok(())
            })
        });
        let l = log.clone();
        let post = signals::post_save::<SigArticle>(move |a, e| {
            let l = l.clone();
            Box::pin(async move {
                assert!(a.id.is_saved(), "post_save sees the key");
                l.lock().unwrap().push(format!(
                    "post_save created={} fields={:?}",
                    e.created, e.update_fields
                ));
                Ok(())
            })
        });
        let l = log.clone();
        let pre_del = signals::pre_delete::<SigArticle>(move |a, _| {
            let l = l.clone();
            Box::pin(async move {
                l.lock().unwrap().push(format!("pre_delete {}", a.slug));
                Ok(())
            })
        });
        let l = log.clone();
        let post_del = signals::post_delete::<SigArticle>(move |a, _| {
            let l = l.clone();
            Box::pin(async move {
                // The row is gone, the instance still holds its key.
                let left = SigArticle::objects().count().await?;
                l.lock()
                    .unwrap()
                    .push(format!("post_delete saved={} left={left}", a.id.is_saved()));
                Ok(())
            })
        });

        let mut a = SigArticle {
            title: "Hello World".into(),
            ..Default::default()
        };
        a.save().await.unwrap();
        assert_eq!(a.slug, "hello-world");
        let stored = SigArticle::objects()
            .get(SigArticle::id.eq(a.id))
            .await
            .unwrap();
        assert_eq!(
            stored.slug, "hello-world",
            "the receiver's change was saved"
        );
        a.title = "Changed".into();
        a.save().await.unwrap();
        a.save_with(SaveOptions {
            update_fields: Some(vec!["title".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
        // create() goes through save too.
        SigArticle::objects()
            .create(SigArticle {
                title: "Second".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        a.delete().await.unwrap();
        assert_eq!(
            log_of(&log),
            [
                "pre_save created=true Hello World",
                "post_save created=true fields=None",
                "pre_save created=false Changed",
                "post_save created=false fields=None",
                "pre_save created=false Changed",
                "post_save created=false fields=Some([\"title\"])",
                "pre_save created=true Second",
                "post_save created=true fields=None",
                "pre_delete hello-world",
                "post_delete saved=true left=1",
            ]
        );
        // Bulk operations send nothing.
        log.lock().unwrap().clear();
        SigArticle::objects()
            .update([SigArticle::title.set("bulk".to_string())])
            .await
            .unwrap();
        SigArticle::objects().delete().await.unwrap();
        assert!(log_of(&log).is_empty(), "{:?}", log_of(&log));
        // Disconnected receivers are not called.
        for r in [pre, post, pre_del, post_del] {
            assert!(r.disconnect());
        }
        let mut b = SigArticle {
            title: "Quiet".into(),
            ..Default::default()
        };
        b.save().await.unwrap();
        assert!(log_of(&log).is_empty());
        assert_eq!(b.slug, "");
    });
}

#[tokio::test]
async fn a_receivers_error_rolls_the_operation_back() {
    orm_test!([SigNote], async {
        let post = signals::post_save::<SigNote>(|n, _| {
            Box::pin(async move {
                if n.body.contains("forbidden") {
                    return Err(Error::Usage(format!("note {:?} is forbidden", n.body)));
                }
                Ok(())
            })
        });
        let pre_del = signals::pre_delete::<SigNote>(|n, _| {
            Box::pin(async move {
                if n.body.contains("keep") {
                    return Err(Error::Usage("this note is kept".into()));
                }
                Ok(())
            })
        });
        let mut ok = SigNote {
            body: "fine, keep me".into(),
            ..Default::default()
        };
        ok.save().await.unwrap();
        let mut bad = SigNote {
            body: "forbidden words".into(),
            ..Default::default()
        };
        let err = bad.save().await.unwrap_err();
        assert!(err.to_string().contains("is forbidden"), "{err}");
        // The INSERT ran before post_save, and was rolled back with it.
        assert_eq!(SigNote::objects().count().await.unwrap(), 1);
        // An update rolled back too: the stored body is unchanged.
        ok.body = "forbidden now, keep".into();
        assert!(ok.save().await.is_err());
        let stored = SigNote::objects().get(SigNote::id.eq(ok.id)).await.unwrap();
        assert_eq!(stored.body, "fine, keep me");
        // pre_delete refuses: nothing deleted.
        let err = ok.delete().await.unwrap_err();
        assert!(err.to_string().contains("kept"), "{err}");
        assert_eq!(SigNote::objects().count().await.unwrap(), 1);
        // Inside an outer transaction the failed save rolls back to its savepoint only.
        let r: Result<(), Error> = atomic(async {
            let mut first = SigNote {
                body: "first".into(),
                ..Default::default()
            };
            first.save().await?;
            let mut second = SigNote {
                body: "forbidden".into(),
                ..Default::default()
            };
            assert!(second.save().await.is_err());
            Ok(())
        })
        .await;
        r.unwrap();
        let bodies: Vec<String> = SigNote::objects()
            .order_by(["body"])
            .all()
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.body)
            .collect();
        assert_eq!(bodies, ["fine, keep me", "first"]);
        post.disconnect();
        pre_del.disconnect();
    });
}

#[tokio::test]
async fn a_receiver_for_every_model_sees_model_name_key_and_kind() {
    orm_test!([SigAny], async {
        let seen: Arc<Mutex<Vec<(SignalKind, bool, bool)>>> = Arc::default();
        let s = seen.clone();
        // Registered for every model: other tests' saves reach it too, so it filters.
        let any = signals::on_any(move |e| {
            let s = s.clone();
            Box::pin(async move {
                if e.model == "SigAny" {
                    assert_eq!(e.table, "sig_any");
                    s.lock().unwrap().push((e.kind, e.created, e.pk.is_some()));
                }
                Ok(())
            })
        });
        let mut x = SigAny {
            n: 1,
            ..Default::default()
        };
        x.save().await.unwrap();
        x.n = 2;
        x.save().await.unwrap();
        x.delete().await.unwrap();
        assert!(any.disconnect());
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (SignalKind::PreSave, true, false), // the auto key is not set yet
                (SignalKind::PostSave, true, true),
                (SignalKind::PreSave, false, true),
                (SignalKind::PostSave, false, true),
                (SignalKind::PreDelete, false, true),
                (SignalKind::PostDelete, false, true),
            ]
        );
    });
}
