//! Liveness and readiness, for load balancers and orchestrators (both answer GET and HEAD).
//! Not audited.
use std::path::{Path, PathBuf};

use actix_web::{HttpResponse, route, web};
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
#[route("/health", method = "GET", method = "HEAD")]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The longest `/ready` takes to answer.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(900);

/// The service can store an audit row now: a reader answers, and the writer takes the
/// database's write lock and commits (an empty batch), all within a second; and the disks it
/// writes to have `CASEBRIDGE_READY_MIN_FREE_MB` free. 503 when the database is out of reach,
/// stalled, read-only or locked by another session (`database_unavailable`), a SQLite
/// database's file or write-ahead log was replaced, removed or made read-only under the
/// service (`database_file_changed`), or a disk is nearly full (`disk_space_low`).
#[utoipa::path(tag = "health", responses(
    (status = 200, body = Health),
    (status = 503, body = Problem, content_type = "application/problem+json"),
))]
#[route("/ready", method = "GET", method = "HEAD")]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(trouble) = state.db.file_trouble() {
        tracing::error!(
            trouble,
            "readiness check: the database's files changed under the service"
        );
        return Err(ApiError::Unavailable {
            code: "database_file_changed",
            detail: "The database's files changed under this instance; it stores nothing now."
                .into(),
        });
    }
    let wanted = state.config.limits.ready_min_free_mb * MIB;
    for directory in written_directories(&state) {
        match free_bytes(&directory) {
            Ok(free) if free >= wanted => {}
            Ok(free) => {
                tracing::error!(
                    free_mb = free / MIB,
                    wanted_mb = wanted / MIB,
                    "readiness check: a disk the service writes to is nearly full"
                );
                return Err(ApiError::Unavailable {
                    code: "disk_space_low",
                    detail: "A disk this instance writes to is nearly full.".into(),
                });
            }
            Err(error) => {
                tracing::error!(%error, "readiness check: free disk space could not be read");
                return Err(ApiError::database_unavailable());
            }
        }
    }
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

const MIB: u64 = 1024 * 1024;

/// The directories of what the service writes: its data directory (keys), and on SQLite the
/// database's.
fn written_directories(state: &AppState) -> Vec<PathBuf> {
    let database =
        state
            .db
            .file()
            .and_then(Path::parent)
            .map(|parent| match parent.as_os_str().is_empty() {
                true => PathBuf::from("."),
                false => parent.to_owned(),
            });
    std::iter::once(state.config.data_dir.clone())
        .chain(database)
        .collect()
}

/// Bytes an unprivileged process may still write on the disk of `directory`.
fn free_bytes(directory: &Path) -> std::io::Result<u64> {
    let stats = rustix::fs::statvfs(directory)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}
