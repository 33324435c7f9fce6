//! Keys a new install generates rather than ships: the token-signing key and the disposal
//! key. Each is the configured value if there is one, else one generated on first use and kept
//! in the data directory with mode 0600.
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// The key named `file_name`: `configured`, else the one kept in `<data_dir>/<file_name>`,
/// generated (64 random bytes) the first time.
pub fn load_or_create(
    configured: Option<&str>,
    data_dir: &Path,
    file_name: &str,
) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(file_name);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return URL_SAFE_NO_PAD
            .decode(text.trim())
            .with_context(|| format!("{} is not a key this service wrote", path.display()));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut secret = vec![0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(URL_SAFE_NO_PAD.encode(&secret).as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a new key");
    Ok(secret)
}
