//! Reports about people, for moderation: the report and a copy of the
//! reported messages as they were, kept in PostgreSQL (`reports`,
//! `report_messages`). Reporting does not block; the two are separate acts.
//!
//! Each reporter may file `REPORTS_PER_HOUR` reports per clock hour, counted
//! in Redis so the limit holds across instances. The limit protects the
//! moderators' queue, not the service: while Redis cannot be asked, reports
//! go through (a report is never lost to a cache outage).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::{clients::Pool as RedisPool, interfaces::KeysInterface, types::ExpireOptions};
use totilove_common::Error;

use crate::{audit, domain::UserId, store::Store};

/// The most messages one report may copy.
pub(crate) const MAX_REPORTED_MESSAGES: usize = 50;
/// The most characters (Unicode scalar values) of a report's note.
pub(crate) const MAX_NOTE_CHARS: usize = 1000;
/// The rate limit's fixed window.
const WINDOW: Duration = Duration::from_secs(3600);

/// Why someone is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Spam,
    Harassment,
    Inappropriate,
    Scam,
    Underage,
    Other,
}

impl Reason {
    const ALL: [Reason; 6] = [
        Reason::Spam,
        Reason::Harassment,
        Reason::Inappropriate,
        Reason::Scam,
        Reason::Underage,
        Reason::Other,
    ];

    /// The stored (and API) name; the table's CHECK lists the same names.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Spam => "spam",
            Reason::Harassment => "harassment",
            Reason::Inappropriate => "inappropriate",
            Reason::Scam => "scam",
            Reason::Underage => "underage",
            Reason::Other => "other",
        }
    }
}

impl TryFrom<&str> for Reason {
    type Error = Error;

    fn try_from(raw: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
                Error::invalid(format!("reason must be one of {}", names.join(", ")))
            })
    }
}

/// The reporter's own words: at most 1000 characters, kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Note(String);

impl TryFrom<String> for Note {
    type Error = Error;

    fn try_from(raw: String) -> Result<Self, Error> {
        // Counting stops early, so a huge note costs no more than the limit.
        if raw.chars().nth(MAX_NOTE_CHARS).is_some() {
            return Err(Error::invalid(format!(
                "note must be at most {MAX_NOTE_CHARS} characters"
            )));
        }
        // PostgreSQL text cannot hold U+0000: a clear 400 rather than a 500.
        if raw.contains('\0') {
            return Err(Error::invalid("note must not contain NUL characters"));
        }
        Ok(Self(raw))
    }
}

/// The ids of the reported messages: at most 50, each positive, each once
/// (sorted). Whether they are messages between the two people is for the
/// database to say, in the statement that copies them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReportedMessages(Vec<i64>);

impl TryFrom<Vec<i64>> for ReportedMessages {
    type Error = Error;

    fn try_from(mut ids: Vec<i64>) -> Result<Self, Error> {
        if ids.len() > MAX_REPORTED_MESSAGES {
            return Err(Error::invalid(format!(
                "message_ids may hold at most {MAX_REPORTED_MESSAGES} ids"
            )));
        }
        if ids.iter().any(|&id| id <= 0) {
            return Err(Error::invalid("message_ids must be positive message ids"));
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(Self(ids))
    }
}

/// A report to file, validated.
#[derive(Clone, Debug)]
pub(crate) struct NewReport {
    pub reporter: UserId,
    pub reported: UserId,
    pub reason: Reason,
    pub messages: ReportedMessages,
    pub note: Option<Note>,
}

#[derive(Clone)]
pub(crate) struct Reports {
    store: Store,
    redis: RedisPool,
    per_hour: u32,
}

impl Reports {
    pub(crate) fn new(store: Store, redis: RedisPool, per_hour: u32) -> Self {
        Self {
            store,
            redis,
            per_hour,
        }
    }

    /// Counts a report against its reporter's hour: `rate_limited` (with
    /// the seconds until the hour ends) once over the limit.
    #[tracing::instrument(name = "Count a report against its reporter's limit", skip_all)]
    pub(crate) async fn count(&self, reporter: UserId) -> Result<(), Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let window = now / WINDOW.as_secs();
        let left = WINDOW.as_secs() - now % WINDOW.as_secs();
        let key = format!("ratelimit:report:{}:{window}", reporter.get());
        match self.count_in_redis(&key).await {
            Ok(count) if count > i64::from(self.per_hour) => {
                tracing::info!(reporter = reporter.get(), "report rate limited");
                metrics::counter!("totilove_rate_limited_total", "kind" => "report").increment(1);
                Err(Error::rate_limited(left))
            }
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "Redis unreachable: report not rate limited");
                Ok(())
            }
        }
    }

    /// The count of this window after counting one more report.
    async fn count_in_redis(&self, key: &str) -> Result<i64, fred::error::Error> {
        // A client that is not connected would wait for the command timeout
        // before failing: let the report through at once instead.
        let client = totilove_common::redis::connected(&self.redis)?;
        let pipeline = client.pipeline();
        let () = pipeline.incr(key).await?;
        // The key names its window, so the expiry only clears old keys away.
        let () = pipeline
            .expire(key, WINDOW.as_secs() as i64, Some(ExpireOptions::NX))
            .await?;
        let replies: Vec<i64> = pipeline.all().await?;
        replies.first().copied().ok_or_else(|| {
            fred::error::Error::new(fred::error::ErrorKind::Unknown, "no reply to INCR")
        })
    }

    /// Stores the report and copies its messages, in one statement (so one
    /// transaction): nothing is stored unless every id is a message between
    /// the two people, either way. Answers the report's id.
    #[tracing::instrument(name = "Store a report", skip_all, fields(reporter = r.reporter.get()))]
    pub(crate) async fn store(&self, r: &NewReport) -> Result<i64, Error> {
        // $1 reporter, $2 reported, $3 reason, $4 message ids (distinct), $5 note,
        // $6 the audit event (the report's audit row is written with it).
        // Answers the new report's id, or (no report) the smallest id that is not a
        // message between the two. Data-modifying CTEs run to completion whether or
        // not the final SELECT reads them, all in the statement's one transaction.
        let stored = self
            .store
            .bounded(
                sqlx::query!(
                    "
WITH wanted AS (
    SELECT unnest($4::bigint[]) AS id
), found AS (
    SELECT m.id, m.sender_id, m.receiver_id, m.content, m.created_at
    FROM messages m JOIN wanted USING (id)
    WHERE LEAST(m.sender_id, m.receiver_id) = LEAST($1::bigint, $2::bigint)
      AND GREATEST(m.sender_id, m.receiver_id) = GREATEST($1::bigint, $2::bigint)
), missing AS (
    SELECT min(w.id) AS id FROM wanted w LEFT JOIN found f USING (id) WHERE f.id IS NULL
), report AS (
    INSERT INTO reports (reporter_id, reported_id, reason, note)
    SELECT $1, $2, $3, $5
    WHERE (SELECT id FROM missing) IS NULL
    RETURNING id
), copied AS (
    INSERT INTO report_messages (report_id, message_id, sender_id, receiver_id, content, created_at)
    SELECT report.id, found.id, found.sender_id, found.receiver_id, found.content, found.created_at
    FROM report CROSS JOIN found
), logged AS (
    INSERT INTO system_logs (event, user_id, detail)
    SELECT $6, $1, jsonb_build_object(
        'report_id', report.id, 'reported_id', $2::bigint, 'reason', $3::text,
        'message_ids', to_jsonb($4::bigint[]))
    FROM report
)
SELECT (SELECT id FROM report) AS report_id, (SELECT id FROM missing) AS missing_id",
                    r.reporter.get(),
                    r.reported.get(),
                    r.reason.as_str(),
                    &r.messages.0,
                    r.note.as_ref().map(|n| n.0.as_str()),
                    audit::REPORT,
                )
                .fetch_one(self.store.pool()),
            )
            .await?;
        match (stored.report_id, stored.missing_id) {
            (Some(id), _) => Ok(id),
            (None, Some(id)) => Err(Error::invalid(format!(
                "message_ids: {id} is not a message between you and this person"
            ))),
            (None, None) => Err(Error::internal(anyhow::anyhow!(
                "a report was neither stored nor refused"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_six_reasons_parse() {
        for name in [
            "spam",
            "harassment",
            "inappropriate",
            "scam",
            "underage",
            "other",
        ] {
            assert_eq!(Reason::try_from(name).map(Reason::as_str), Ok(name));
        }
        for bad in ["", "Spam", "abuse", " spam"] {
            let e = Reason::try_from(bad).expect_err("refused");
            assert!(e.message.contains("reason"), "{}", e.message);
        }
    }

    #[test]
    fn a_note_counts_characters_not_bytes() {
        assert!(Note::try_from("😀".repeat(MAX_NOTE_CHARS)).is_ok());
        assert!(Note::try_from("😀".repeat(MAX_NOTE_CHARS + 1)).is_err());
        assert!(Note::try_from("a\0b".to_owned()).is_err());
    }

    #[test]
    fn message_ids_are_at_most_fifty_positive_ids_each_once() {
        assert_eq!(
            ReportedMessages::try_from(vec![3, 1, 3]),
            Ok(ReportedMessages(vec![1, 3]))
        );
        assert!(ReportedMessages::try_from((1..=50).collect::<Vec<_>>()).is_ok());
        assert!(ReportedMessages::try_from((1..=51).collect::<Vec<_>>()).is_err());
        assert!(ReportedMessages::try_from(vec![1, 0]).is_err());
        assert!(ReportedMessages::try_from(vec![-4]).is_err());
    }
}
