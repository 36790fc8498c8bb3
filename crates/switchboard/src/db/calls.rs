//! Calls and the events that describe them. A call row is a projection:
//! [`switchboard_ingest::model::merge`] of its stored events, recomputed in
//! the same transaction as each new event, so redeliveries and any arrival
//! order give one call with the same fields.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row as _;
use switchboard_core::{AgentId, CallId};
use switchboard_ingest::model::{self, CallFields, StoredUpdate, Turns};
use switchboard_ingest::packed::{self, Packed};
use switchboard_ingest::{Source, Stage};

use super::writers::WriterId;
use super::{now_ms, parse_col, Backend, DbResult, TenantTx};

#[derive(Clone, Debug)]
pub struct CallRecord {
    pub id: CallId,
    pub source: Source,
    pub external_id: String,
    pub agent_id: Option<AgentId>,
    pub stage: Stage,
    pub is_test: bool,
    pub fields: CallFields,
    pub audio_key: Option<String>,
    /// `none`, `pending`, `stored` or `failed`.
    pub audio_status: String,
    pub audio_error: Option<String>,
    /// When a failed fetch is tried again, if it is.
    pub audio_retry_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// `details` is empty while a call has had one event (most calls): its
/// fields are then that event's (`only_event`), merged on reading. A
/// webhook thereby writes its transcript to the database once, not twice.
const COLUMNS: &str =
    "id, source, external_id, agent_id, stage, is_test, details, audio_key, audio_status, \
    audio_error, audio_retry_at, created_at, updated_at, \
    CASE WHEN details = '' THEN (SELECT e.update_json FROM call_events e \
        WHERE e.tenant_id = calls.tenant_id AND e.call_id = calls.id) END AS only_event";
/// All but `details`, for when the fields are already in hand.
const COLUMNS_BUT_DETAILS: &str =
    "id, source, external_id, agent_id, stage, is_test, audio_key, audio_status, \
    audio_error, audio_retry_at, created_at, updated_at";

fn decode_err(column: &str, e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.into(),
        source: Box::new(e),
    }
}

fn from_row(row: &AnyRow) -> Result<CallRecord, sqlx::Error> {
    let details: String = row.try_get("details")?;
    let fields = if details.is_empty() {
        let only: Option<String> = row.try_get("only_event")?;
        let update = packed::unpack(only.as_deref().unwrap_or_default())
            .map_err(|e| decode_err("only_event", e))?;
        let only = vec![StoredUpdate {
            update,
            received_at: 0,
            event_key: String::new(),
        }];
        model::merge(only).1
    } else {
        packed::unpack(&details).map_err(|e| decode_err("details", e))?
    };
    from_row_with(row, fields)
}

/// A call from its row and its already known fields (`details`).
fn from_row_with(row: &AnyRow, fields: CallFields) -> Result<CallRecord, sqlx::Error> {
    let source: String = row.try_get("source")?;
    let stage: String = row.try_get("stage")?;
    Ok(CallRecord {
        id: parse_col(&row.try_get::<String, _>("id")?, "id")?,
        source: parse_col(&source, "source")?,
        external_id: row.try_get("external_id")?,
        agent_id: row
            .try_get::<Option<String>, _>("agent_id")?
            .map(|a| parse_col(&a, "agent_id"))
            .transpose()?,
        stage: parse_col(&stage, "stage")?,
        is_test: row.try_get::<i64, _>("is_test")? != 0,
        fields,
        audio_key: row.try_get("audio_key")?,
        audio_status: row.try_get("audio_status")?,
        audio_error: row.try_get("audio_error")?,
        audio_retry_at: row.try_get("audio_retry_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A call's fields merged from its events, with what the row stores of them.
/// Pure: the projection of a call's first event is made by the request
/// handler, in parallel with other requests, before the (serial) writer.
pub struct Projection {
    pub stage: Stage,
    pub fields: CallFields,
    /// Lower-case, for the transcript search. `None` when the transcript
    /// is one kept in a raw document (decision 0026) whose text is not at
    /// hand: then it is the one the row has searched by since that event
    /// was stored, as an event can only take the transcript over from the
    /// others by being added.
    transcript: Option<String>,
    event_count: i64,
}

impl Projection {
    /// The call that `updates` (in any order) describe.
    pub fn of(updates: Vec<StoredUpdate>) -> Self {
        let event_count = updates.len() as i64;
        let (stage, fields) = model::merge(updates);
        let transcript = match &fields.turns {
            None => Some(String::new()),
            Some(Turns::Here(turns)) => Some(model::search_text(turns)),
            Some(Turns::InRawEvent(_)) => None,
        };
        Projection {
            stage,
            transcript,
            event_count,
            fields,
        }
    }

    /// The projection, with `text` as its search text if its transcript is
    /// the one event `event_key` keeps in the raw document.
    pub fn knowing(mut self, event_key: &str, text: Option<&str>) -> Self {
        if let (Some(Turns::InRawEvent(key)), Some(text)) = (&self.fields.turns, text) {
            if key == event_key {
                self.transcript = Some(text.to_owned());
            }
        }
        self
    }

    fn audio_status(&self) -> &'static str {
        if self.fields.recording_url.is_some() {
            "available"
        } else {
            "none"
        }
    }
}

type CallQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds the columns a projection sets, in table order: stage, direction,
/// from_number, to_number, started_at, ended_at, duration_ms, is_test.
trait BindColumns<'q> {
    fn bind_columns(self, p: &'q Projection) -> Self;
}

impl<'q> BindColumns<'q> for CallQuery<'q> {
    fn bind_columns(self, p: &'q Projection) -> Self {
        let f = &p.fields;
        self.bind(p.stage.as_str())
            .bind(f.direction.map(|d| d.as_str()))
            .bind(f.from.as_deref())
            .bind(f.to.as_deref())
            .bind(f.started_at)
            .bind(f.ended_at)
            .bind(f.duration_ms)
            .bind(i64::from(f.test.unwrap_or(false)))
    }
}

/// What [`create_or_lock`] found.
pub enum Upserted {
    /// The event was the call's first: the call is stored as it describes it.
    /// Boxed: a record is half a kilobyte, an existing call's id 16 bytes.
    Created(Box<CallRecord>),
    /// The call existed (now locked for this transaction); the event still
    /// has to be stored and merged.
    Existing(CallId),
    /// The tenant deleted the call, and its source resends on its own
    /// (decision 0019): the event is not stored.
    Deleted(CallId),
}

impl Upserted {
    pub fn call_id(&self) -> CallId {
        match self {
            Upserted::Created(record) => record.id,
            Upserted::Existing(id) | Upserted::Deleted(id) => *id,
        }
    }

    /// What a later event of the same call in the batch finds.
    pub fn for_later_events(&self) -> Upserted {
        match self {
            Upserted::Deleted(id) => Upserted::Deleted(*id),
            other => Upserted::Existing(other.call_id()),
        }
    }
}

/// A call that an event of the batch may create: the call as that event
/// alone describes it, and the event.
pub struct FirstEvent<'a> {
    pub source: Source,
    pub external_id: &'a str,
    pub agent_id: Option<AgentId>,
    pub first: Projection,
    pub event: EventIn<'a>,
}

/// An event as the batch stores it.
#[derive(Clone, Copy)]
pub struct EventIn<'a> {
    pub key: &'a str,
    pub received_at: i64,
    pub update: &'a Packed,
}

const UPSERT_COLUMNS: usize = 16;

/// Of the calls `keys`, the ones the tenant deleted whose source keeps
/// deletions (decision 0019), with the deleted call's id: one query per
/// source.
async fn deleted_among(
    tx: &mut TenantTx,
    keys: &[(Source, &str)],
) -> DbResult<HashMap<(Source, String), CallId>> {
    let mut deleted = HashMap::new();
    let mut sources: Vec<Source> = keys
        .iter()
        .map(|(source, _)| *source)
        .filter(|s| s.keeps_deletions())
        .collect();
    sources.sort_by_key(|s| s.as_str());
    sources.dedup();
    for source in sources {
        let ids: Vec<&str> = keys
            .iter()
            .filter(|(s, _)| *s == source)
            .map(|(_, id)| *id)
            .collect();
        let params: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT source, external_id, call_id FROM deleted_calls \
             WHERE tenant_id = $1 AND source = $2 AND external_id IN ({})",
            params.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(tx.tenant_param())
            .bind(source.as_str());
        for id in ids {
            query = query.bind(id);
        }
        deleted.extend(deleted_calls(query.fetch_all(tx.conn()).await?)?);
    }
    Ok(deleted)
}

/// Rows of `source, external_id, call_id` from `deleted_calls`, by key.
fn deleted_calls(rows: Vec<AnyRow>) -> DbResult<HashMap<(Source, String), CallId>> {
    rows.iter()
        .map(|row| {
            let source: Source = parse_col(&row.try_get::<String, _>("source")?, "source")?;
            let external_id: String = row.try_get("external_id")?;
            let call: CallId = parse_col(&row.try_get::<String, _>("call_id")?, "call_id")?;
            Ok(((source, external_id), call))
        })
        .collect()
}

/// Creates each call `(source, external_id)` as its first event describes
/// it (its fields are then read from the event: see [`COLUMNS`]), with
/// that event and, when it has a transcript, its analysis job; or finds and
/// locks the existing one — answered in the order given. A call the tenant
/// deleted whose source keeps deletions is not created (decision 0019).
/// The keys must be distinct (PostgreSQL refuses to upsert one row twice in
/// a statement). Rows are locked in the order given, so concurrent events
/// of one call merge one after the other, and batches that sort their
/// calls alike cannot deadlock.
///
/// Two statements on PostgreSQL, where each round trip waits for the
/// database's turn on a busy machine: the upsert, then everything that
/// follows from it (decision 0023).
pub async fn create_or_lock_many(
    tx: &mut TenantTx,
    writer: WriterId,
    calls: Vec<FirstEvent<'_>>,
) -> DbResult<Vec<Upserted>> {
    let firsts: Vec<(Source, &str, EventIn<'_>)> = calls
        .iter()
        .map(|c| (c.source, c.external_id, c.event))
        .collect();
    let mut upserted = upsert_many(tx, calls).await?;
    let created: Vec<Created<'_>> = firsts
        .iter()
        .zip(&upserted)
        .filter_map(|((source, external_id, event), answer)| match answer {
            Upserted::Created(record) => Some(Created {
                source: *source,
                external_id,
                call: record.id,
                event: *event,
                analyse: record.fields.has_turns(),
            }),
            _ => None,
        })
        .collect();
    if created.is_empty() {
        return Ok(upserted);
    }
    // Looked up after the upsert, not with it: on PostgreSQL an upsert
    // that met the row of a call being deleted waited for that deletion,
    // and only a statement after it sees the deletion's tombstone.
    let deleted = match tx.backend() {
        Backend::Postgres => store_created_postgres(tx, writer, &created).await?,
        Backend::Sqlite => store_created(tx, writer, &created).await?,
    };
    if deleted.is_empty() {
        return Ok(upserted);
    }
    for ((source, external_id, _), answer) in firsts.into_iter().zip(upserted.iter_mut()) {
        let Some(gone) = deleted.get(&(source, external_id.to_owned())) else {
            continue;
        };
        sqlx::query("DELETE FROM calls WHERE tenant_id = $1 AND id = $2")
            .bind(tx.tenant_param())
            .bind(answer.call_id().to_string())
            .execute(tx.conn())
            .await?;
        *answer = Upserted::Deleted(*gone);
    }
    Ok(upserted)
}

/// A call the upsert created, and its first event.
struct Created<'a> {
    source: Source,
    external_id: &'a str,
    call: CallId,
    event: EventIn<'a>,
    analyse: bool,
}

/// Which of the `created` calls the tenant deleted before (tombstones are
/// kept only for sources that keep deletions), and stores the first event
/// and analysis job of the others: a statement each.
async fn store_created(
    tx: &mut TenantTx,
    writer: WriterId,
    created: &[Created<'_>],
) -> DbResult<HashMap<(Source, String), CallId>> {
    let keys: Vec<(Source, &str)> = created.iter().map(|c| (c.source, c.external_id)).collect();
    let deleted = deleted_among(tx, &keys).await?;
    let kept: Vec<&Created<'_>> = created
        .iter()
        // Nearly always none are: then no key is copied to look it up.
        .filter(|c| {
            deleted.is_empty() || !deleted.contains_key(&(c.source, c.external_id.to_owned()))
        })
        .collect();
    if kept.is_empty() {
        return Ok(deleted);
    }
    let rows: Vec<String> = (0..kept.len())
        .map(|i| {
            let n = 3 + 4 * i;
            format!("($1, ${n}, ${}, ${}, ${}, $2)", n + 1, n + 2, n + 3)
        })
        .collect();
    let sql = format!("{INSERT_EVENTS} VALUES {}", rows.join(", "));
    let mut query = sqlx::query(&sql).bind(tx.tenant_param()).bind(writer.get());
    for c in &kept {
        query = query
            .bind(c.call.to_string())
            .bind(c.event.key)
            .bind(c.event.received_at)
            .bind(c.event.update.as_str());
    }
    query.execute(tx.conn()).await?;
    let to_analyse: Vec<CallId> = kept.iter().filter(|c| c.analyse).map(|c| c.call).collect();
    super::pipeline_jobs::enqueue_many(tx, &to_analyse, now_ms()).await?;
    Ok(deleted)
}

/// [`store_created`] in one statement.
async fn store_created_postgres(
    tx: &mut TenantTx,
    writer: WriterId,
    created: &[Created<'_>],
) -> DbResult<HashMap<(Source, String), CallId>> {
    const PER_ROW: usize = 7;
    let rows: Vec<String> = (0..created.len())
        .map(|i| {
            let p: Vec<String> = (0..PER_ROW)
                .map(|c| format!("${}", 4 + PER_ROW * i + c))
                .collect();
            format!("({})", p.join(", "))
        })
        .collect();
    let (enqueue, again) = super::pipeline_jobs::ENQUEUE;
    let sql = format!(
        "WITH created (call_id, source, external_id, event_key, received_at, update_json, to_analyse) \
            AS (VALUES {}), \
         gone AS (SELECT d.source, d.external_id, d.call_id FROM deleted_calls d \
            JOIN created c ON d.source = c.source AND d.external_id = c.external_id \
            WHERE d.tenant_id = $1), \
         kept AS (SELECT * FROM created c WHERE NOT EXISTS (SELECT 1 FROM gone g \
            WHERE g.source = c.source AND g.external_id = c.external_id)), \
         events AS ({INSERT_EVENTS} SELECT $1, call_id, event_key, received_at, update_json, $2 \
            FROM kept), \
         jobs AS ({enqueue} SELECT $1, call_id, 'queued', 'enrich', 1, 0, $3, NULL, NULL, $3, $3 \
            FROM kept WHERE to_analyse {again}) \
         SELECT source, external_id, call_id FROM gone",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql)
        .bind(tx.tenant_param())
        .bind(writer.get())
        .bind(now_ms());
    for c in created {
        query = query
            .bind(c.call.to_string())
            .bind(c.source.as_str())
            .bind(c.external_id)
            .bind(c.event.key)
            .bind(c.event.received_at)
            .bind(c.event.update.as_str())
            .bind(c.analyse);
    }
    deleted_calls(query.fetch_all(tx.conn()).await?)
}

async fn upsert_many(tx: &mut TenantTx, calls: Vec<FirstEvent<'_>>) -> DbResult<Vec<Upserted>> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let ids: Vec<CallId> = calls.iter().map(|_| CallId::generate()).collect();
    let rows: Vec<String> = (0..calls.len())
        .map(|i| {
            let p: Vec<String> = (0..UPSERT_COLUMNS)
                .map(|c| format!("${}", 2 + UPSERT_COLUMNS * i + c))
                .collect();
            // tenant, id … is_test, '' details, transcript, audio status,
            // created and updated, event count.
            format!(
                "($1, {}, '', {}, {}, {}, {}, {})",
                p[..12].join(", "),
                p[12],
                p[13],
                p[14],
                p[14],
                p[15]
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO calls (tenant_id, id, source, external_id, agent_id, stage, direction, from_number, \
            to_number, started_at, ended_at, duration_ms, is_test, details, transcript_text, audio_status, \
            created_at, updated_at, event_count) \
         VALUES {} \
         ON CONFLICT (tenant_id, source, external_id) DO UPDATE SET updated_at = excluded.updated_at, \
            agent_id = COALESCE(excluded.agent_id, calls.agent_id) \
         RETURNING {COLUMNS_BUT_DETAILS}",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(tx.tenant_param());
    for (call, id) in calls.iter().zip(&ids) {
        query = query
            .bind(id.to_string())
            .bind(call.source.as_str())
            .bind(call.external_id)
            .bind(call.agent_id.map(|a| a.to_string()))
            .bind_columns(&call.first)
            // A first event's own transcript text is always at hand.
            .bind(call.first.transcript.as_deref().unwrap_or_default())
            .bind(call.first.audio_status())
            .bind(now)
            .bind(call.first.event_count);
    }
    let returned = query.fetch_all(tx.conn()).await?;
    // RETURNING's order is SQLite's to choose: match rows by their key.
    let mut by_key = std::collections::HashMap::with_capacity(returned.len());
    for row in &returned {
        let source: String = row.try_get("source")?;
        let external_id: String = row.try_get("external_id")?;
        by_key.insert((source, external_id), row);
    }
    calls
        .into_iter()
        .zip(ids)
        .map(|(call, id)| -> DbResult<Upserted> {
            let row = by_key
                .get(&(call.source.as_str().to_owned(), call.external_id.to_owned()))
                .ok_or_else(|| sqlx::Error::RowNotFound)?;
            let found: CallId = parse_col(&row.try_get::<String, _>("id")?, "id")?;
            Ok(if found == id {
                Upserted::Created(Box::new(from_row_with(row, call.first.fields)?))
            } else {
                Upserted::Existing(found)
            })
        })
        .collect::<DbResult<Vec<_>>>()
}

/// The `id` column of each row.
fn call_ids(rows: &[AnyRow]) -> DbResult<Vec<CallId>> {
    rows.iter()
        .map(|r| Ok(parse_col(&r.try_get::<String, _>("id")?, "id")?))
        .collect()
}

const INSERT_EVENTS: &str =
    "INSERT INTO call_events (tenant_id, call_id, event_key, received_at, update_json, writer)";

/// Stores an event (its update already serialised; the raw payload goes to
/// the object store only); `false` when the same event was stored before.
pub async fn insert_event(
    tx: &mut TenantTx,
    writer: WriterId,
    call: CallId,
    event_key: &str,
    received_at: i64,
    update: &Packed,
) -> DbResult<bool> {
    let done = sqlx::query(
        &format!(
            "{INSERT_EVENTS} VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, call_id, event_key) DO NOTHING"
        ),
    )
    .bind(tx.tenant_param())
    .bind(call.to_string())
    .bind(event_key)
    .bind(received_at)
    .bind(update.as_str())
    .bind(writer.get())
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// An event as known by the call's raw document, and the process that
/// committed it (none for events committed before that was recorded).
pub struct EventOrigin {
    pub event_key: String,
    pub received_at: i64,
    pub writer: Option<WriterId>,
}

impl EventOrigin {
    fn of(row: &AnyRow) -> DbResult<EventOrigin> {
        Ok(EventOrigin {
            event_key: row.try_get("event_key")?,
            received_at: row.try_get("received_at")?,
            writer: row
                .try_get::<Option<i64>, _>("writer")?
                .map(WriterId::from_column),
        })
    }
}

/// A call's stored events, in order, and where each came from.
pub async fn events(
    tx: &mut TenantTx,
    call: CallId,
) -> DbResult<(Vec<StoredUpdate>, Vec<EventOrigin>)> {
    let rows = sqlx::query(
        "SELECT event_key, received_at, update_json, writer FROM call_events \
         WHERE tenant_id = $1 AND call_id = $2 ORDER BY received_at, event_key",
    )
    .bind(tx.tenant_param())
    .bind(call.to_string())
    .fetch_all(tx.conn())
    .await?;
    let mut updates = Vec::with_capacity(rows.len());
    let mut origins = Vec::with_capacity(rows.len());
    for r in &rows {
        let update: String = r.try_get("update_json")?;
        let origin = EventOrigin::of(r)?;
        updates.push(StoredUpdate {
            update: packed::unpack(&update).map_err(|e| decode_err("update_json", e))?,
            received_at: origin.received_at,
            event_key: origin.event_key.clone(),
        });
        origins.push(origin);
    }
    Ok((updates, origins))
}

/// Where each of a call's stored events came from, in the order of
/// [`events`].
pub async fn event_origins(tx: &mut TenantTx, call: CallId) -> DbResult<Vec<EventOrigin>> {
    let rows = sqlx::query(
        "SELECT event_key, received_at, writer FROM call_events WHERE tenant_id = $1 AND call_id = $2 \
         ORDER BY received_at, event_key",
    )
    .bind(tx.tenant_param())
    .bind(call.to_string())
    .fetch_all(tx.conn())
    .await?;
    rows.iter().map(EventOrigin::of).collect()
}

/// Recomputes the call from all its events, stores the projection and
/// returns the call as stored.
pub async fn project(
    tx: &mut TenantTx,
    call: CallId,
    events: Vec<StoredUpdate>,
    (event_key, search_text): (&str, Option<&str>),
) -> DbResult<CallRecord> {
    let projection = Projection::of(events).knowing(event_key, search_text);
    let details = Packed::of(&projection.fields);
    let row = sqlx::query(&format!(
        "UPDATE calls SET stage = $3, direction = $4, from_number = $5, to_number = $6, started_at = $7, \
            ended_at = $8, duration_ms = $9, is_test = $10, details = $11, transcript_text = COALESCE($12, transcript_text), \
            audio_status = CASE WHEN audio_status = 'none' THEN $13 ELSE audio_status END, \
            updated_at = $14, event_count = $15 \
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS_BUT_DETAILS}"
    ))
    .bind(tx.tenant_param())
    .bind(call.to_string())
    .bind_columns(&projection)
    .bind(details.as_str())
    .bind(projection.transcript.as_deref())
    .bind(projection.audio_status())
    .bind(now_ms())
    .bind(projection.event_count)
    .fetch_one(tx.conn())
    .await?;
    Ok(from_row_with(&row, projection.fields)?)
}

/// Filters of the call list; every one optional.
#[derive(Default)]
pub struct CallFilter {
    pub agent: Option<AgentId>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub direction: Option<&'static str>,
    pub test: Option<bool>,
    pub stage: Option<Stage>,
    pub phone: Option<String>,
    /// A lower-case phrase that must appear in the transcript.
    pub text: Option<String>,
}

/// `%`, `_` and `\` taken literally in a LIKE pattern.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Calls newest first, before `before`.
pub async fn list(
    tx: &mut TenantTx,
    filter: &CallFilter,
    before: Option<CallId>,
    limit: i64,
) -> DbResult<Vec<CallRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM calls WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) \
           AND ($3 IS NULL OR agent_id = $3) \
           AND ($4 IS NULL OR COALESCE(started_at, created_at) >= $4) \
           AND ($5 IS NULL OR COALESCE(started_at, created_at) < $5) \
           AND ($6 IS NULL OR direction = $6) \
           AND ($7 IS NULL OR is_test = $7) \
           AND ($8 IS NULL OR stage = $8) \
           AND ($9 IS NULL OR from_number = $9 OR to_number = $9) \
           AND ($10 IS NULL OR transcript_text LIKE $10 ESCAPE '\\') \
         ORDER BY id DESC LIMIT $11"
    ))
    .bind(tx.tenant_param())
    .bind(before.map(|b| b.to_string()))
    .bind(filter.agent.map(|a| a.to_string()))
    .bind(filter.since)
    .bind(filter.until)
    .bind(filter.direction)
    .bind(filter.test.map(i64::from))
    .bind(filter.stage.map(|s| s.as_str()))
    .bind(filter.phone.as_deref())
    .bind(filter.text.as_deref().map(like_escape))
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn get(tx: &mut TenantTx, id: CallId) -> DbResult<Option<CallRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM calls WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// The calls of `ids` that exist, in one round trip (a pipeline batch).
pub async fn get_many(tx: &mut TenantTx, ids: &[CallId]) -> DbResult<Vec<CallRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = (0..ids.len())
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let sql =
        format!("SELECT {COLUMNS} FROM calls WHERE tenant_id = $1 AND id IN ({placeholders})");
    let mut query = sqlx::query(&sql).bind(tx.tenant_param());
    for id in ids {
        query = query.bind(id.to_string());
    }
    let rows = query.fetch_all(tx.conn()).await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Deletes the call, its events, its pipeline job and its analysis (taken
/// out of its rollup); returns what was deleted.
pub async fn delete(tx: &mut TenantTx, id: CallId) -> DbResult<Option<CallRecord>> {
    let Some(call) = get(tx, id).await? else {
        return Ok(None);
    };
    let counted = super::analyses::stored_figures(tx, id).await?;
    // The call's row first: an event being written holds its lock until it
    // commits, and the deletion then takes that event's rows too (taking
    // them first left them behind without their call, or deadlocked with a
    // resend of one).
    for table in [
        "calls WHERE tenant_id = $1 AND id = $2",
        "call_events WHERE tenant_id = $1 AND call_id = $2",
        "pipeline_jobs WHERE tenant_id = $1 AND call_id = $2",
        "call_analyses WHERE tenant_id = $1 AND call_id = $2",
    ] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .bind(tx.tenant_param())
            .bind(id.to_string())
            .execute(tx.conn())
            .await?;
    }
    if call.source.keeps_deletions() {
        sqlx::query(
            "INSERT INTO deleted_calls (tenant_id, source, external_id, call_id, deleted_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, source, external_id) \
             DO UPDATE SET call_id = excluded.call_id, deleted_at = excluded.deleted_at",
        )
        .bind(tx.tenant_param())
        .bind(call.source.as_str())
        .bind(call.external_id.as_str())
        .bind(id.to_string())
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
    }
    if let Some((day, agent, figures)) = counted {
        super::rollups::add(
            tx,
            &day,
            &agent,
            &super::rollups::Rollup::counted(&figures, -1),
        )
        .await?;
        super::flat_days::mark(tx, &day, now_ms()).await?;
    }
    Ok(Some(call))
}

/// Records where the call's audio is, or why it is not there. Stored audio
/// is work for the pipeline (to transcribe, or to analyse again), so it is
/// queued in the same transaction.
pub async fn set_audio(
    tx: &mut TenantTx,
    id: CallId,
    status: &str,
    key: Option<&str>,
    error: Option<&str>,
) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE calls SET audio_status = $3, audio_key = COALESCE($4, audio_key), audio_error = $5, \
            audio_retry_at = NULL, updated_at = $6 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(status)
    .bind(key)
    .bind(error)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    let found = done.rows_affected() > 0;
    if found && status == "stored" {
        super::pipeline_jobs::enqueue(tx, id, now_ms()).await?;
    }
    Ok(found)
}

/// Ids of the calls started (or, without a start, created) at or after
/// `since`, oldest first.
pub async fn ids_since(tx: &mut TenantTx, since: Option<i64>) -> DbResult<Vec<CallId>> {
    let rows = sqlx::query(
        "SELECT id FROM calls WHERE tenant_id = $1 AND ($2 IS NULL OR COALESCE(started_at, created_at) >= $2) \
         ORDER BY id",
    )
    .bind(tx.tenant_param())
    .bind(since)
    .fetch_all(tx.conn())
    .await?;
    call_ids(&rows)
}

/// Records a failed round of fetching the call's recording; the next round
/// is due `retry_after_secs[n]` seconds from now after the (n+1)th failed
/// round, and none after the last.
pub async fn audio_failed(
    tx: &mut TenantTx,
    id: CallId,
    error: &str,
    retry_after_secs: &[u64],
) -> DbResult<()> {
    let now = now_ms();
    let row = sqlx::query(
        "UPDATE calls SET audio_status = 'failed', audio_error = $3, audio_attempts = audio_attempts + 1, \
            updated_at = $4 WHERE tenant_id = $1 AND id = $2 RETURNING audio_attempts",
    )
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(error)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(()) };
    let rounds: i64 = row.try_get("audio_attempts")?;
    let retry_at = usize::try_from(rounds - 1)
        .ok()
        .and_then(|n| retry_after_secs.get(n))
        .map(|secs| now + *secs as i64 * 1000);
    sqlx::query("UPDATE calls SET audio_retry_at = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tx.tenant_param())
        .bind(id.to_string())
        .bind(retry_at)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Puts a claimed retry back, due at `at`, without counting it as a round
/// (it could not start: the pull's lease was taken).
pub async fn postpone_audio_retry(tx: &mut TenantTx, id: CallId, at: i64) -> DbResult<()> {
    sqlx::query(
        "UPDATE calls SET audio_status = 'failed', audio_retry_at = $3, updated_at = $4 \
         WHERE tenant_id = $1 AND id = $2 AND audio_status = 'pending'",
    )
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(at)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Forgets the failed rounds of fetching the call's recording, so the retry
/// schedule starts over.
pub async fn restart_audio_rounds(tx: &mut TenantTx, id: CallId) -> DbResult<()> {
    sqlx::query("UPDATE calls SET audio_attempts = 0 WHERE tenant_id = $1 AND id = $2")
        .bind(tx.tenant_param())
        .bind(id.to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Takes a due retry of the call's recording fetch (marking it `pending`);
/// `false` when it is not due, or another node took it first.
pub async fn claim_audio_retry(tx: &mut TenantTx, id: CallId, now: i64) -> DbResult<bool> {
    let done = sqlx::query(
        "UPDATE calls SET audio_status = 'pending', audio_retry_at = NULL, updated_at = $3 \
         WHERE tenant_id = $1 AND id = $2 AND audio_retry_at IS NOT NULL AND audio_retry_at <= $3",
    )
    .bind(tx.tenant_param())
    .bind(id.to_string())
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Calls whose failed recording fetch is due to be tried again, oldest due
/// first, at most `limit`.
pub async fn due_audio_retries(tx: &mut TenantTx, now: i64, limit: i64) -> DbResult<Vec<CallId>> {
    let rows = sqlx::query(
        "SELECT id FROM calls WHERE tenant_id = $1 AND audio_retry_at IS NOT NULL \
            AND audio_retry_at <= $2 ORDER BY audio_retry_at LIMIT $3",
    )
    .bind(tx.tenant_param())
    .bind(now)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    call_ids(&rows)
}

/// Calls whose recording fetch was started and never finished.
pub async fn pending_audio(tx: &mut TenantTx) -> DbResult<Vec<CallId>> {
    let rows = sqlx::query(
        "SELECT id FROM calls WHERE tenant_id = $1 AND audio_status = 'pending' ORDER BY id",
    )
    .bind(tx.tenant_param())
    .fetch_all(tx.conn())
    .await?;
    call_ids(&rows)
}

/// How many calls the tenant has.
pub async fn count(tx: &mut TenantTx) -> DbResult<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM calls WHERE tenant_id = $1")
        .bind(tx.tenant_param())
        .fetch_one(tx.conn())
        .await?;
    Ok(row.try_get("n")?)
}

/// The external ids of the tenant's calls that start with `prefix`.
pub async fn external_ids_starting_with(
    tx: &mut TenantTx,
    prefix: &str,
) -> DbResult<std::collections::HashSet<String>> {
    // `substr`, not LIKE: a prefix is matched as written, wildcards and all.
    let rows = sqlx::query(
        "SELECT external_id FROM calls WHERE tenant_id = $1 AND substr(external_id, 1, CAST($2 AS INTEGER)) = $3",
    )
    .bind(tx.tenant_param())
    .bind(prefix.chars().count() as i64)
    .bind(prefix)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("external_id"))
        .collect::<Result<_, _>>()?)
}

/// Whether the tenant deleted the call `(source, external_id)` and its
/// source keeps deletions (decision 0019).
pub async fn is_deleted(tx: &mut TenantTx, source: Source, external_id: &str) -> DbResult<bool> {
    Ok(!deleted_among(tx, &[(source, external_id)])
        .await?
        .is_empty())
}

/// The call a source knows by `external_id`.
pub async fn find_external(
    tx: &mut TenantTx,
    source: Source,
    external_id: &str,
) -> DbResult<Option<CallRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM calls WHERE tenant_id = $1 AND source = $2 AND external_id = $3"
    ))
    .bind(tx.tenant_param())
    .bind(source.as_str())
    .bind(external_id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}
