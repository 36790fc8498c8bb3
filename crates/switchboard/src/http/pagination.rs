//! Cursor pagination. A cursor is opaque: the position of the last item
//! plus the resource and tenant it belongs to, MAC'd with the platform cursor
//! key. A cursor that was altered or is not one of ours is a 400 naming
//! `cursor`; a genuine cursor of another tenant or another list is a 404, as
//! if that page did not exist (invariant 4).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::problem::Problem;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// `?limit=&cursor=` as sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 200; 50 when left out.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    r: String,
    t: String,
    p: String,
}

/// A validated page request: how many, and after which position.
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<String>,
}

impl PageRequest {
    /// `scope` is the tenant id (or `platform`); `resource` names the list.
    pub fn parse(
        query: &PageQuery,
        key: &[u8],
        resource: &str,
        scope: &str,
    ) -> Result<Self, Problem> {
        let limit = match &query.limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    Problem::field(
                        "limit",
                        format!("expected a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        let after = query
            .cursor
            .as_deref()
            .map(|c| decode(c, key, resource, scope))
            .transpose()?;
        Ok(Self { limit, after })
    }

    /// The number of rows to fetch: one more than asked, to learn whether a next page exists.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

fn mac(key: &[u8], payload: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(b"cursor\0");
    m.update(payload);
    m
}

pub fn encode(key: &[u8], resource: &str, scope: &str, position: &str) -> String {
    let payload = serde_json::to_vec(&Payload {
        r: resource.into(),
        t: scope.into(),
        p: position.into(),
    })
    .expect("serialises");
    let tag = mac(key, &payload).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

fn decode(cursor: &str, key: &[u8], resource: &str, scope: &str) -> Result<String, Problem> {
    let invalid = || {
        Problem::field(
            "cursor",
            "not a cursor this API issued (use next_cursor unchanged)",
        )
    };
    let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
    mac(key, &payload)
        .verify_slice(&tag)
        .map_err(|_| invalid())?;
    let payload: Payload = serde_json::from_slice(&payload).map_err(|_| invalid())?;
    if payload.r != resource || payload.t != scope {
        return Err(Problem::not_found().detail("no such page"));
    }
    Ok(payload.p)
}

/// One list's paging from request to answer. The cursor's scope (which
/// list, which tenant) is named once, so a handler cannot read cursors of
/// one scope and write cursors of another.
pub struct Listing<'k> {
    key: &'k [u8],
    resource: &'static str,
    scope: String,
    pub request: PageRequest,
}

impl<'k> Listing<'k> {
    /// `scope` is the tenant id (or `platform`).
    pub fn new(
        key: &'k [u8],
        resource: &'static str,
        scope: String,
        limit: Option<String>,
        cursor: Option<String>,
    ) -> Result<Self, Problem> {
        let request = PageRequest::parse(&PageQuery { limit, cursor }, key, resource, &scope)?;
        Ok(Self {
            key,
            resource,
            scope,
            request,
        })
    }

    /// Where the previous page ended, read as `T`. A position that does not
    /// read is a page that does not exist.
    pub fn position<T: std::str::FromStr>(&self) -> Result<Option<T>, Problem> {
        self.request
            .after
            .as_deref()
            .map(|p| p.parse().map_err(|_| Problem::not_found()))
            .transpose()
    }

    /// Rows to fetch: one more than asked.
    pub fn fetch(&self) -> i64 {
        self.request.fetch()
    }

    /// The page of `rows`, its cursor holding `position` of the last row.
    pub fn page<T>(&self, rows: Vec<T>, position: impl Fn(&T) -> String) -> Page<T> {
        Page::from_rows(rows, &self.request, |r| {
            encode(self.key, self.resource, &self.scope, &position(r))
        })
    }
}

/// One page of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `fetch()` rows, cutting the look-ahead row.
    pub fn from_rows(mut rows: Vec<T>, req: &PageRequest, next: impl FnOnce(&T) -> String) -> Self {
        let has_more = rows.len() as i64 > req.limit;
        rows.truncate(req.limit as usize);
        let next_cursor = if has_more {
            rows.last().map(next)
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(limit: Option<&str>, cursor: Option<String>) -> PageQuery {
        PageQuery {
            limit: limit.map(str::to_owned),
            cursor,
        }
    }

    #[test]
    fn cursors_round_trip_within_their_scope() {
        let c = encode(b"k", "members", "ten_a", "usr_1");
        let req =
            PageRequest::parse(&q(Some("10"), Some(c.clone())), b"k", "members", "ten_a").unwrap();
        assert_eq!(req.after.as_deref(), Some("usr_1"));
        assert_eq!(req.limit, 10);
        let other_tenant = PageRequest::parse(&q(None, Some(c.clone())), b"k", "members", "ten_b")
            .err()
            .unwrap();
        assert_eq!(other_tenant.status, axum::http::StatusCode::NOT_FOUND);
        let other_list = PageRequest::parse(&q(None, Some(c)), b"k", "api_keys", "ten_a")
            .err()
            .unwrap();
        assert_eq!(other_list.status, axum::http::StatusCode::NOT_FOUND);
    }

    #[test]
    fn forged_and_malformed_cursors_name_the_field() {
        let c = encode(b"k", "members", "ten_a", "usr_1");
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"r":"members","t":"ten_b","p":"usr_1"}"#);
        let forged = format!("{forged_payload}.{}", c.split_once('.').unwrap().1);
        for bad in [
            forged,
            "garbage".into(),
            "a.b".into(),
            "".into(),
            "%%%.%%%".into(),
            encode(b"other key", "members", "ten_a", "x"),
        ] {
            let p = PageRequest::parse(&q(None, Some(bad.clone())), b"k", "members", "ten_a")
                .err()
                .unwrap();
            assert_eq!(
                p.status,
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "{bad}"
            );
            assert_eq!(p.errors[0].field, "cursor");
        }
    }

    #[test]
    fn limits_are_bounded() {
        for bad in ["0", "201", "-1", "ten", "1.5"] {
            let p = PageRequest::parse(&q(Some(bad), None), b"k", "x", "t")
                .err()
                .unwrap();
            assert_eq!(p.errors[0].field, "limit");
        }
        assert_eq!(
            PageRequest::parse(&q(None, None), b"k", "x", "t")
                .unwrap()
                .limit,
            DEFAULT_LIMIT
        );
    }

    #[test]
    fn pages_cut_the_look_ahead_row() {
        let req = PageRequest {
            limit: 2,
            after: None,
        };
        let page = Page::from_rows(vec![1, 2, 3], &req, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let last = Page::from_rows(vec![1, 2], &req, |n| n.to_string());
        assert!(last.next_cursor.is_none());
    }
}
