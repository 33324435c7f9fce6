//! The data key file, `<data dir>/data-keys`, and the keys of `CASEBRIDGE_DATA_KEY`.
//!
//! ```text
//! # casebridge data keys: ...
//! 3f9a0c1d2e4b5a69 q2Fv...
//! ```
//!
//! One key a line as `<key id> <base64url key>`, oldest first: the last line is the current
//! key, which seals new values; the others open values sealed before a rotation. The file has
//! mode 0600. It is created atomically (written aside, then linked into place only if no file
//! is there yet), so that instances starting together over one data directory agree on one
//! key. A rotation holds a lock file for its whole run, adds a line and replaces the file
//! whole (written aside, synced, renamed), so a reader sees the old file or the new one, never
//! part of one.
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::{KEY_BYTES, KeyBytes, key_id};

pub const FILE_NAME: &str = "data-keys";
const LOCK_NAME: &str = "data-keys.lock";
const HEADER: &str = "\
# casebridge data keys: `<key id> <key>` a line, oldest first; the last one seals new values.
# Without this file the sealed columns of the database cannot be read: back it up, apart from
# the database backups. Changed only by `casebridge keys rotate-data-key`.
";

/// The key file as it was read: a change means that a rotation replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(metadata: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode,
        }
    }
}

pub fn stamp(path: &Path) -> std::io::Result<Stamp> {
    std::fs::metadata(path).map(|metadata| Stamp::of(&metadata))
}

/// The keys of the file at `path`, oldest first, and its stamp (taken from the file that was
/// read, so a replacement during the read shows as a change later).
pub fn read(path: &Path) -> anyhow::Result<(Vec<KeyBytes>, Stamp)> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let metadata = file.metadata()?;
    warn_if_readable_by_others(path, &metadata);
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let problem = |what: &str| anyhow::anyhow!("{} line {}: {what}", path.display(), index + 1);
        let (id, encoded) = line
            .split_once(' ')
            .ok_or_else(|| problem("expected `<key id> <key>`"))?;
        let key = decode_key(encoded.trim())
            .ok_or_else(|| problem("the key is not 32 bytes of base64"))?;
        if key_id(&key) != id {
            return Err(problem("the key id does not match the key"));
        }
        keys.push(key);
    }
    anyhow::ensure!(!keys.is_empty(), "{} holds no key", path.display());
    Ok((keys, Stamp::of(&metadata)))
}

/// The key file of `data_dir`, created with one new key if there is none.
pub fn create_if_absent(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join(FILE_NAME);
    if path.exists() {
        return Ok(path);
    }
    crate::config::create_private_dir(data_dir)?;
    let key = new_key();
    let aside = write_aside(data_dir, &[key])?;
    // Linked into place only if no file is there: an instance that lost the race uses the
    // winner's key rather than replacing it.
    let linked = std::fs::hard_link(&aside, &path);
    std::fs::remove_file(&aside).with_context(|| format!("removing {}", aside.display()))?;
    match linked {
        Ok(()) => {
            sync_dir(data_dir)?;
            tracing::info!(path = %path.display(), key_id = %key_id(&key), "generated a new data key");
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(error).with_context(|| format!("creating {}", path.display()));
        }
    }
    Ok(path)
}

/// Adds a new key at the end of the file at `path` (it becomes the current key), under the
/// rotation lock of its directory.
pub fn add_key(path: &Path, _held: &RotationLock) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no directory", path.display()))?;
    let (mut keys, _) = read(path)?;
    let key = new_key();
    keys.push(key);
    let aside = write_aside(dir, &keys)?;
    std::fs::rename(&aside, path).with_context(|| format!("replacing {}", path.display()))?;
    sync_dir(dir)?;
    tracing::info!(path = %path.display(), key_id = %key_id(&key), "added a data key");
    Ok(())
}

/// The keys of `CASEBRIDGE_DATA_KEY`: comma-separated, each 32 bytes in base64 (standard or
/// URL-safe, padded or not), oldest first like the key file: the last one seals new values.
/// Errors say which key is wrong, never what it is.
pub fn parse_configured(text: &str) -> anyhow::Result<Vec<KeyBytes>> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let count = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| {
            decode_key(part).ok_or_else(|| {
                anyhow::anyhow!(
                    "CASEBRIDGE_DATA_KEY: key {} of {count} is not 32 bytes of base64",
                    index + 1
                )
            })
        })
        .collect()
}

fn decode_key(text: &str) -> Option<KeyBytes> {
    let url_safe: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(url_safe).ok()?.try_into().ok()
}

fn new_key() -> KeyBytes {
    let mut key = [0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

/// Writes the key file's contents for `keys` to a new file beside it (mode 0600, synced), and
/// answers its path.
fn write_aside(dir: &Path, keys: &[KeyBytes]) -> anyhow::Result<PathBuf> {
    let mut text = HEADER.to_owned();
    for key in keys {
        text.push_str(&format!(
            "{} {}\n",
            key_id(key),
            URL_SAFE_NO_PAD.encode(key)
        ));
    }
    let mut suffix = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut suffix);
    let path = dir.join(format!("{FILE_NAME}.{}.new", hex::encode(suffix)));
    let mut file = private_file(&path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(path)
}

/// A new file readable and writable by the service's user alone.
fn private_file(path: &Path) -> anyhow::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// Makes a rename or link in `dir` durable: without it a crash could lose a key that already
/// sealed values.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

fn warn_if_readable_by_others(path: &Path, metadata: &std::fs::Metadata) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the data key file is readable by other users: restrict it to mode 0600");
        }
    }
}

/// One rotation at a time, for its whole run: two adding a key at once could each replace the
/// file with their own addition (values sealed under the lost key would never open again),
/// and two re-sealing under different keys would undo each other's work.
pub struct RotationLock(PathBuf);

impl RotationLock {
    /// Takes the lock of the key file in `dir`; refused while another rotation holds it.
    pub fn take(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(LOCK_NAME);
        match private_file(&path) {
            Ok(_) => Ok(RotationLock(path)),
            Err(_) if path.exists() => anyhow::bail!(
                "another rotation holds {} (if none is running, one was interrupted: remove the file)",
                path.display()
            ),
            Err(error) => Err(error),
        }
    }
}

impl Drop for RotationLock {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.0) {
            tracing::error!(path = %self.0.display(), %error, "cannot remove the rotation lock");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_created_once_private_and_names_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = create_if_absent(dir.path()).unwrap();
        let (keys, _) = read(&path).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(create_if_absent(dir.path()).unwrap(), path);
        assert_eq!(read(&path).unwrap().0, keys, "never replaced once there");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!("{} ", key_id(&keys[0]))));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn adding_a_key_keeps_the_others_and_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = create_if_absent(dir.path()).unwrap();
        let (before, stamp_before) = read(&path).unwrap();
        add_key(&path, &RotationLock::take(dir.path()).unwrap()).unwrap();
        let (after, stamp_after) = read(&path).unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(after[0], before[0]);
        assert_ne!(stamp_before, stamp_after);
    }

    #[test]
    fn a_held_lock_refuses_a_second_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = create_if_absent(dir.path()).unwrap();
        let held = RotationLock::take(dir.path()).unwrap();
        let error = RotationLock::take(dir.path()).err().unwrap().to_string();
        assert!(error.contains("another rotation"), "{error}");
        drop(held);
        assert!(
            RotationLock::take(dir.path()).is_ok(),
            "released when dropped"
        );
        assert_eq!(read(&path).unwrap().0.len(), 1);
    }

    #[test]
    fn a_key_line_that_does_not_match_its_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let key = [7u8; KEY_BYTES];
        std::fs::write(
            &path,
            format!("0000000000000000 {}\n", URL_SAFE_NO_PAD.encode(key)),
        )
        .unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
        assert!(!error.contains(&URL_SAFE_NO_PAD.encode(key)));
    }

    #[test]
    fn configured_keys_must_each_be_32_bytes_and_are_never_quoted() {
        let good = base64::engine::general_purpose::STANDARD.encode([3u8; KEY_BYTES]);
        assert_eq!(parse_configured(&good).unwrap(), vec![[3u8; KEY_BYTES]]);
        let short = URL_SAFE_NO_PAD.encode([4u8; 16]);
        let error = parse_configured(&format!("{good},{short}"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("key 2 of 2"), "{error}");
        assert!(!error.contains(&short));
        assert!(parse_configured("").is_err());
    }
}
