//! The OpenAPI document is built from the same router that serves requests
//! (utoipa-axum), so an API route cannot exist without being documented, and
//! the isolation suite, which walks this document, cannot miss one. The few
//! routes outside the API (the local store's signed object URLs) are listed
//! in `http::UNDOCUMENTED_ROUTES`, which the suite walks too.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::routes::{
    agents, analysis_settings, analytics, api_keys, audit, auth, branding, calls, credentials,
    events, health, me, members, platform, recording_pull, webhooks,
};
use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard API", description = "Multi-tenant AI call operations. Errors are RFC 7807 problems; lists are cursor-paginated; times are RFC 3339 UTC."),
    modifiers(&BearerAuth),
    components(schemas(super::problem::Problem, super::problem::FieldError))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A session access token, a tenant API key (sbk_…), an impersonation token, or a JWT of a configured identity provider"))
                    .build(),
            ),
        );
    }
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(health::openapi))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(me::me))
        .routes(routes!(members::list, members::add))
        .routes(routes!(members::get, members::change_role, members::remove))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::get, api_keys::revoke))
        .routes(routes!(branding::get, branding::put))
        .routes(routes!(audit::list))
        .routes(routes!(platform::list, platform::create))
        .routes(routes!(platform::get))
        .routes(routes!(platform::suspend))
        .routes(routes!(platform::reactivate))
        .routes(routes!(platform::impersonate))
        .routes(routes!(agents::list, agents::create))
        .routes(routes!(agents::get, agents::update, agents::delete))
        .routes(routes!(agents::rotate_token))
        .routes(routes!(agents::rotate_secret))
        .routes(routes!(
            credentials::get,
            credentials::put,
            credentials::delete
        ))
        .routes(routes!(credentials::test))
        .routes(routes!(calls::list, calls::create))
        .routes(routes!(calls::get, calls::delete))
        .routes(routes!(calls::recording))
        .routes(routes!(calls::upload_audio))
        .routes(routes!(calls::fetch_recording))
        .routes(routes!(calls::import))
        .routes(routes!(calls::reanalyse))
        .routes(routes!(
            analysis_settings::get_ai,
            analysis_settings::put_ai
        ))
        .routes(routes!(
            analysis_settings::get_qa,
            analysis_settings::put_qa
        ))
        .routes(routes!(analytics::overview))
        .routes(routes!(analytics::qa))
        .routes(routes!(analytics::agents))
        .routes(routes!(events::stream))
        .routes(routes!(recording_pull::status))
        .routes(routes!(recording_pull::run))
        .routes(routes!(webhooks::receive))
}

pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = api_router().split_for_parts();
    doc
}
