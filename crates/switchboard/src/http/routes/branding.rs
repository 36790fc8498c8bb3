//! `/api/v1/settings/branding`: how the tenant's dashboard looks.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use switchboard_core::HexColor;

use crate::db::tenants::{self, Branding};
use crate::db::{audit, Mode};
use crate::http::extract::{perm, Authorized, JsonBody, RequestIdText, Tenant};
use crate::http::problem::{ApiResult, Problem};
use crate::http::routes::{audit_event, Validator};
use crate::http::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingUpdate {
    /// 1 to 80 characters; null to use the tenant name.
    pub display_name: Option<String>,
    /// An https URL (http only for localhost) of at most 2048 characters.
    pub logo_url: Option<String>,
    /// `#rrggbb`.
    pub primary_color: Option<String>,
    /// `#rrggbb`.
    pub accent_color: Option<String>,
}

fn check_logo(url: &str) -> Result<String, &'static str> {
    let err = "expected an https URL of at most 2048 characters";
    if url.len() > 2048 {
        return Err(err);
    }
    let parsed = url::Url::parse(url).map_err(|_| err)?;
    let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1"));
    match parsed.scheme() {
        "https" => Ok(parsed.to_string()),
        "http" if local => Ok(parsed.to_string()),
        _ => Err(err),
    }
}

pub fn validate(body: BrandingUpdate) -> Result<Branding, Problem> {
    let mut v = Validator::default();
    let display_name = body
        .display_name
        .map(|n| n.trim().to_owned())
        .and_then(|n| {
            v.check(
                "display_name",
                if (1..=80).contains(&n.chars().count()) {
                    Ok(n)
                } else {
                    Err("expected 1 to 80 characters")
                },
            )
        });
    let logo_url = body
        .logo_url
        .and_then(|u| v.check("logo_url", check_logo(&u)));
    let primary_color = body
        .primary_color
        .and_then(|c| v.check("primary_color", HexColor::parse(&c)));
    let accent_color = body
        .accent_color
        .and_then(|c| v.check("accent_color", HexColor::parse(&c)));
    v.finish()?;
    Ok(Branding {
        display_name,
        logo_url,
        primary_color,
        accent_color,
    })
}

#[utoipa::path(get, path = "/api/v1/settings/branding", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = Branding)))]
pub async fn get(State(state): State<AppState>, Tenant(ctx): Tenant) -> ApiResult<Json<Branding>> {
    let mut tx = state.db.tenant(ctx.scope(), Mode::Read).await?;
    let tenant = tenants::own(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(tenant.branding))
}

/// Replaces the branding (fields left out are cleared).
#[utoipa::path(put, path = "/api/v1/settings/branding", tag = "settings", security(("bearer" = [])), request_body = BrandingUpdate,
    responses((status = 200, body = Branding), (status = 422, body = Problem, content_type = "application/problem+json")))]
pub async fn put(
    State(state): State<AppState>,
    auth: Authorized<perm::SettingsManage>,
    RequestIdText(request_id): RequestIdText,
    JsonBody(body): JsonBody<BrandingUpdate>,
) -> ApiResult<Json<Branding>> {
    let branding = validate(body)?;
    let mut tx = state.db.tenant(auth.ctx.scope(), Mode::Write).await?;
    let tenant = tenants::set_branding(&mut tx, &branding).await?;
    let id = tenant.id.to_string();
    audit::append(
        &mut tx,
        audit_event(
            &auth.ctx,
            request_id,
            "branding.updated",
            "tenant",
            id,
            serde_json::to_value(&branding).unwrap_or_default(),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(tenant.branding))
}
