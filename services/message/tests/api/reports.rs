//! Reports: stored with a copy of the reported messages, validated, rate
//! limited per reporter across instances, and never a block.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use totilove_common::{Code, Error};
use totilove_proto::message::v1::ReportRequest;

use crate::helpers::{App, Client, another_message_service, audit_trail, code, db};

async fn report(
    client: &Client,
    reporter: i64,
    reported: i64,
    reason: &str,
    message_ids: Vec<i64>,
    note: Option<&str>,
) -> Result<i64, Error> {
    client
        .clone()
        .report(ReportRequest {
            reporter_id: reporter,
            reported_id: reported,
            reason: reason.into(),
            message_ids,
            note: note.map(str::to_owned),
        })
        .await
        .map(|r| r.into_inner().report_id)
        .map_err(Error::from)
}

type StoredReport = (i64, i64, String, Option<String>);
type CopiedMessage = (i64, i64, i64, String, DateTime<Utc>);

async fn stored_report(conn: &mut PgConnection, id: i64) -> StoredReport {
    let r = sqlx::query!(
        "SELECT reporter_id, reported_id, reason, note FROM reports WHERE id = $1",
        id
    )
    .fetch_one(conn)
    .await
    .expect("the report is stored");
    (r.reporter_id, r.reported_id, r.reason, r.note)
}

async fn copies(conn: &mut PgConnection, id: i64) -> Vec<CopiedMessage> {
    sqlx::query!(
        "SELECT message_id, sender_id, receiver_id, content, created_at
         FROM report_messages WHERE report_id = $1 ORDER BY message_id",
        id
    )
    .fetch_all(conn)
    .await
    .expect("the copies are readable")
    .into_iter()
    .map(|c| {
        (
            c.message_id,
            c.sender_id,
            c.receiver_id,
            c.content,
            c.created_at,
        )
    })
    .collect()
}

async fn count_reports(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM reports"#)
        .fetch_one(conn)
        .await
        .expect("reports are countable")
}

#[tokio::test]
async fn a_report_is_stored_with_a_copy_of_the_reported_messages_either_way() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);
    let rude = app.sent(alice, bob, "you are 😡 <b>awful</b>").await;
    let reply = app.sent(bob, alice, "please stop").await;
    let unreported = app.sent(alice, bob, "sorry").await;

    let id = report(
        &app.client,
        bob,
        alice,
        "harassment",
        vec![reply.id, rude.id, rude.id],
        Some("she keeps going ✋"),
    )
    .await
    .expect("the report is filed");

    assert!(id > 0);
    let mut conn = db(&app).await;
    assert_eq!(
        stored_report(&mut conn, id).await,
        (
            bob,
            alice,
            "harassment".into(),
            Some("she keeps going ✋".into())
        )
    );
    let copied = copies(&mut conn, id).await;
    let expected: Vec<CopiedMessage> = [&rude, &reply]
        .into_iter()
        .map(|m| {
            let at = m.created_at.expect("a time");
            (
                m.id,
                m.sender_id,
                m.receiver_id,
                m.content.clone(),
                DateTime::from_timestamp(at.seconds, at.nanos as u32).expect("a valid time"),
            )
        })
        .collect();
    assert_eq!(copied, expected);
    assert!(copied.iter().all(|c| c.0 != unreported.id));

    // The audit trail says who reported whom, when, why and what.
    let trail = audit_trail(&app).await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    let (event, reporter, detail) = &trail[0];
    assert_eq!((event.as_str(), *reporter), ("report", bob));
    assert_eq!(detail["report_id"], id);
    assert_eq!(detail["reported_id"], alice);
    assert_eq!(detail["reason"], "harassment");
    let mut audited: Vec<i64> = serde_json::from_value(detail["message_ids"].clone()).expect("ids");
    audited.sort_unstable();
    let mut reported = vec![rude.id, reply.id];
    reported.sort_unstable();
    assert_eq!(audited, reported);
}

#[tokio::test]
async fn a_report_needs_no_messages_and_no_note() {
    let app = App::start().await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);

    let first = report(&app.client, alice, bob, "spam", vec![], None).await;
    let second = report(&app.client, alice, bob, "other", vec![], Some("")).await;

    let (first, second) = (first.expect("filed"), second.expect("filed"));
    assert!(second > first);
    let mut conn = db(&app).await;
    assert_eq!(
        stored_report(&mut conn, first).await,
        (alice, bob, "spam".into(), None)
    );
    assert!(copies(&mut conn, first).await.is_empty());
    assert_eq!(
        stored_report(&mut conn, second).await.3,
        Some(String::new())
    );
}

#[tokio::test]
async fn every_invalid_report_is_refused_naming_the_field_and_stores_nothing() {
    let app = App::start().await;
    let (alice, bob, carol) = (
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
    );
    let ours = app.sent(alice, bob, "between us").await.id;
    let theirs = app.sent(alice, carol, "not yours to report").await.id;
    let note_ok = "n".repeat(1000);
    let cases = [
        (bob, "spam", vec![], None, "id"),
        (alice, "Spam", vec![], None, "reason"),
        (alice, "", vec![], None, "reason"),
        (alice, "spam", vec![], Some("😀".repeat(1001)), "note"),
        (alice, "spam", vec![], Some("a\0b".into()), "note"),
        (alice, "spam", (1..=51).collect(), None, "message_ids"),
        (alice, "spam", vec![ours, 0], None, "message_ids"),
        (
            alice,
            "spam",
            vec![ours, theirs],
            Some(note_ok),
            "message_ids",
        ),
        (alice, "spam", vec![ours, i64::MAX], None, "message_ids"),
    ];
    for (reported, reason, ids, note, field) in cases {
        let answer = report(&app.client, bob, reported, reason, ids, note.as_deref()).await;
        let (code, message) = code(answer);
        assert_eq!(code, Code::InvalidRequest, "{field}: {message}");
        assert!(message.contains(field), "names {field}: {message}");
    }
    assert_eq!(count_reports(&mut db(&app).await).await, 0);
    assert!(audit_trail(&app).await.is_empty());

    // 1000 characters and 50 ids are within the limits.
    let fifty = vec![ours; 50];
    let note = "😀".repeat(1000);
    assert!(
        report(&app.client, bob, alice, "scam", fifty, Some(&note))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn reporting_someone_unknown_is_not_found() {
    let app = App::start().await;
    let alice = app.person("alice").await;

    let answer = report(&app.client, alice, i64::MAX, "spam", vec![], None).await;

    assert_eq!(code(answer).0, Code::NotFound);
    assert_eq!(count_reports(&mut db(&app).await).await, 0);
}

#[tokio::test]
async fn reports_over_the_hourly_limit_are_rate_limited_on_every_instance() {
    let app = App::start_with(&[("REPORTS_PER_HOUR", "2")]).await;
    let other_instance = another_message_service(&app, &[]).await;
    let (alice, bob, carol) = (
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
    );
    for reported in [bob, carol] {
        report(&app.client, alice, reported, "spam", vec![], None)
            .await
            .expect("within the limit");
    }

    for client in [&app.client, &other_instance] {
        let refused = report(client, alice, bob, "spam", vec![], None)
            .await
            .expect_err("over the limit");
        assert_eq!(refused.code, Code::RateLimited, "{refused:?}");
        let retry_after = refused.retry_after.expect("a retry-after");
        assert!((1..=3600).contains(&retry_after), "{retry_after}");
    }
    // The limit is the reporter's: others report as usual.
    assert!(
        report(&app.client, bob, alice, "spam", vec![], None)
            .await
            .is_ok()
    );
    assert_eq!(count_reports(&mut db(&app).await).await, 3);
}

#[tokio::test]
async fn reports_go_through_while_redis_is_down() {
    let mut app = App::start_with(&[("REPORTS_PER_HOUR", "1")]).await;
    let (alice, bob) = (app.person("alice").await, app.person("bob").await);

    app.system.redis.stop().await;
    for _ in 0..2 {
        report(&app.client, alice, bob, "scam", vec![], None)
            .await
            .expect("not limited without Redis");
    }

    assert_eq!(count_reports(&mut db(&app).await).await, 2);
}

#[tokio::test]
async fn reporting_does_not_block_and_works_across_a_block() {
    let app = App::start().await;
    let (alice, bob, carol) = (
        app.person("alice").await,
        app.person("bob").await,
        app.person("carol").await,
    );
    let first = app.sent(alice, bob, "hey").await.id;

    report(&app.client, bob, alice, "inappropriate", vec![first], None)
        .await
        .expect("filed");

    app.sent(alice, bob, "still talking").await;
    app.sent(bob, alice, "and me").await;
    // Someone blocked (either way) can still be reported, messages and all.
    let hidden = app.sent(carol, bob, "before the block").await.id;
    app.block(bob, carol).await;
    assert!(
        report(&app.client, bob, carol, "underage", vec![hidden], None)
            .await
            .is_ok()
    );
    assert!(
        report(&app.client, carol, bob, "other", vec![hidden], None)
            .await
            .is_ok()
    );
}
