//! An instance starts only with the keys its database was served with: another data
//! directory or another secret is refused at start, unless the change is declared; the data
//! directory is private.
use crate::helpers::{spawn_app, test_config};

async fn start_with(
    app: &crate::helpers::TestApp,
    configure: impl FnOnce(&mut casebridge::config::Config),
) -> anyhow::Result<casebridge::api::context::AppState> {
    let mut config = test_config(app.data_dir.path().to_owned(), app.database_url.clone());
    configure(&mut config);
    casebridge::startup::state(config).await
}

#[actix_web::test]
async fn another_signing_key_is_refused_at_start() {
    let app = spawn_app().await;

    let error = start_with(&app, |config| {
        config.jwt_secret = Some("another signing secret of the instance".into());
    })
    .await
    .err()
    .expect("refused");

    assert!(
        error
            .to_string()
            .contains("the jwt-secret key is not the one"),
        "{error:#}"
    );
}

#[actix_web::test]
async fn another_disposal_key_is_refused_at_start() {
    let app = spawn_app().await;

    let error = start_with(&app, |config| {
        config.privacy.disposal_key = Some("another disposal key of the instance".into());
    })
    .await
    .err()
    .expect("refused");

    assert!(
        error
            .to_string()
            .contains("the disposal-key key is not the one"),
        "{error:#}"
    );
}

#[actix_web::test]
async fn the_same_keys_start_again() {
    let app = spawn_app().await;
    assert!(start_with(&app, |_| {}).await.is_ok());
}

#[actix_web::test]
async fn a_declared_new_key_is_accepted_and_remembered() {
    let app = spawn_app().await;
    let secret = "a new signing secret, replaced on purpose";

    let accepted = start_with(&app, |config| {
        config.jwt_secret = Some(secret.into());
        config.privacy.accept_new_keys = true;
    })
    .await;
    let again = start_with(&app, |config| config.jwt_secret = Some(secret.into())).await;
    let the_old_one = start_with(&app, |_| {}).await;

    assert!(accepted.is_ok(), "{:#}", accepted.err().unwrap());
    assert!(again.is_ok(), "the new key is remembered");
    assert!(the_old_one.is_err(), "and the old one refused from then on");
}

#[cfg(unix)]
#[actix_web::test]
async fn the_data_directory_is_made_private_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    let dir = app.data_dir.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    start_with(&app, |_| {}).await.unwrap();

    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}
