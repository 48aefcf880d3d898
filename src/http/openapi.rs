//! The OpenAPI 3.1 document: its root (info, tags, security schemes) here,
//! every path from its handler's `#[utoipa::path]`, collected by the same
//! `OpenApiRouter` that builds the router, so a route cannot exist without
//! its description. `GET /openapi.json` serves it.

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Extension;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::schemas::ApiError;

pub const PATH: &str = "/openapi.json";
pub const SIGNATURE_SCHEME: &str = "webhook_signature";
pub const API_KEY_SCHEME: &str = "api_key";
pub const BEARER_SCHEME: &str = "internal_bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rosetta-webhook",
        description = "Receives AskRosetta's signed classification-complete webhooks, stores them, \
            calls clients back, and answers clients' polls. Every error has the `Error` shape.",
        license(name = "UNLICENSED", identifier = "UNLICENSED")
    ),
    components(schemas(ApiError)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "webhooks", description = "From the classification engine"),
        (name = "jobs", description = "For clients, with their API key"),
        (name = "operations", description = "Probes, metrics, this document"),
        (name = "internal", description = "For a scheduler, with the internal token")
    )
)]
pub struct ApiRoot;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SIGNATURE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Webhook-Signature",
                "Lowercase hex HMAC-SHA256 of the exact request body under WEBHOOK_SECRET, \
                 optionally prefixed `sha256=`.",
            ))),
        );
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "A key of API_KEYS; a client-scoped key reads only its client's jobs.",
            ))),
        );
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("INTERNAL_TOKEN, for POST /internal/deliveries/run."))
                    .build(),
            ),
        );
    }
}

/// The document as served, rendered once when the router is built.
#[derive(Clone)]
pub struct Document(pub Bytes);

#[utoipa::path(
    get,
    path = PATH,
    tag = "operations",
    summary = "This OpenAPI 3.1 document",
    responses((status = 200, description = "The document", content_type = "application/json", body = serde_json::Value))
)]
pub async fn document(Extension(Document(json)): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json)
}
