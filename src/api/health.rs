//! Liveness and readiness, for load balancers and orchestrators. Not audited.
use actix_web::{HttpResponse, get, web};
use diesel::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::context::AppState;
use crate::error::{ApiError, Problem};

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is alive
#[utoipa::path(tag = "health", responses((status = 200, body = Health)))]
#[get("/health")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The longest `/ready` takes to answer.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(900);

/// The service can store an audit row now: a reader answers, and the writer takes the
/// database's write lock and commits (an empty batch), all within a second. 503 when the
/// database is out of reach, stalled, read-only or locked by another session.
#[utoipa::path(tag = "health", responses(
    (status = 200, body = Health),
    (status = 503, body = Problem, content_type = "application/problem+json"),
))]
#[get("/ready")]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let db = &state.db;
    let checks = async {
        db.read(|conn| Ok(diesel::sql_query("SELECT 1").execute(conn)?))
            .await?;
        db.write(|_, _| Ok(())).await
    };
    match actix_web::rt::time::timeout(READY_WITHIN, checks).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(Health { status: "ready" })),
        Ok(Err(error)) => {
            tracing::error!(%error, "readiness check failed");
            Err(ApiError::database_unavailable())
        }
        Err(_) => {
            tracing::error!("readiness check timed out");
            Err(ApiError::database_unavailable())
        }
    }
}
