//! Every connection the service opens gets the settings its backend needs.
use casebridge::db::DbConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::helpers::spawn_app_with;

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

fn setting(conn: &mut DbConnection, query: &str) -> String {
    diesel::sql_query(query)
        .get_result::<Setting>(conn)
        .unwrap()
        .value
}

#[actix_web::test]
async fn readers_and_writers_get_their_backends_settings() {
    let app = spawn_app_with(|config| {
        config.limits.db_lock_timeout_ms = 700;
        config.limits.db_statement_timeout = 12;
    })
    .await;
    for mut conn in [app.db.read_conn().unwrap(), app.db.write_conn().unwrap()] {
        match &mut *conn {
            // Short statements are never JIT-compiled (see `db::PostgresSettings`).
            DbConnection::Postgres(_) => {
                assert_eq!(
                    setting(&mut conn, "SELECT current_setting('jit') AS value"),
                    "off"
                );
                // Every wait on the server bounded (see `db::PostgresSettings`).
                assert_eq!(
                    setting(&mut conn, "SELECT current_setting('lock_timeout') AS value"),
                    "700ms"
                );
                assert_eq!(
                    setting(
                        &mut conn,
                        "SELECT current_setting('statement_timeout') AS value"
                    ),
                    "12s"
                );
            }
            DbConnection::Sqlite(_) => {
                assert_eq!(
                    setting(
                        &mut conn,
                        "SELECT journal_mode AS value FROM pragma_journal_mode"
                    ),
                    "wal"
                );
                assert_eq!(
                    setting(
                        &mut conn,
                        "SELECT CAST(foreign_keys AS TEXT) AS value FROM pragma_foreign_keys"
                    ),
                    "1"
                );
                assert_eq!(
                    setting(
                        &mut conn,
                        "SELECT CAST(timeout AS TEXT) AS value FROM pragma_busy_timeout"
                    ),
                    "700"
                );
            }
        }
    }
}
