//! Work the server does for itself while it runs: forgetting what is kept for a while only
//! (expired idempotency keys, old change-feed entries), a bounded batch per writer job.
use std::time::Duration;

use actix_web::web;
use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::api::context::AppState;
use crate::db::DbConnection;

/// Every `every`, for as long as the server runs, runs `job` (given now; a bounded piece of
/// work, answering whether more is left) as writer jobs, one after another while more is
/// left. A failure is logged by its code (`what` names the work) and tried again at the next
/// turn.
pub fn repeat<J>(state: web::Data<AppState>, every: Duration, what: &'static str, job: J)
where
    J: Fn(&mut DbConnection, NaiveDateTime) -> QueryResult<bool> + Clone + Send + 'static,
{
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(every).await;
            let now = state.clock.now();
            loop {
                let job = job.clone();
                let more = state.db.write(move |conn, _| Ok(job(conn, now)?)).await;
                match more {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        tracing::warn!(code = error.code(), work = what, "housekeeping failed");
                        break;
                    }
                }
            }
        }
    });
}
