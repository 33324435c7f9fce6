//! Encryption at rest ("sealing") of the values a copy of the database must not reveal:
//! Medicare numbers, tax file numbers and TOTP secrets, and every stored copy of them (the
//! value a correction request asks for, the statement kept after a refused correction).
//!
//! Each value is sealed on its own with XChaCha20-Poly1305 under the current data key and a
//! random 192-bit nonce (random nonces of that size never repeat in practice), and stored as
//! `enc1:<key id>:<base64url(nonce || ciphertext and tag)>`: the format, the key that sealed
//! it, the sealed bytes. The associated data names the column and the row, so a value copied
//! into another column or another row does not open. Opening refuses everything else too: a
//! plaintext value, a key the keyring does not hold, bytes that do not authenticate.
//!
//! The keys are a [`Keyring`] per service instance, never a process-wide global (the tests
//! run many instances in one process, each with its own data directory). They come from
//! `CASEBRIDGE_DATA_KEY` or from the data directory's key file ([`keyfile`]), which a
//! rotation (`casebridge keys rotate-data-key`) extends while the service runs: the keyring
//! reads the file again when it changes, so a running instance seals under the new key and
//! opens values under any key in the file. Nothing here knows the database; `db::sealed`
//! re-seals stored values in batches.
pub mod keyfile;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use diesel::backend::Backend;
use diesel::deserialize::{FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{Output, ToSql};
use diesel::sql_types::Text;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The length of a data key: XChaCha20-Poly1305 takes 256 bits.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;
/// The first part of every stored value; a later format gets a new name.
const FORMAT: &str = "enc1";
/// Hex digits of a key id: 64 bits of a hash of the key, enough to tell keys apart.
const KEY_ID_LENGTH: usize = 16;

/// A data key's raw bytes.
pub type KeyBytes = [u8; KEY_BYTES];

/// A column whose every value is stored sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SealedColumn {
    ClientMedicareNumber,
    ClientTaxFileNumber,
    UserTotpSecret,
    /// The value a correction request asks for: it may be a Medicare or tax file number.
    CorrectionRequestedValue,
    /// A client's statement about a field whose correction was refused: it may quote one.
    ClientStatement,
    /// A change's response kept for a retry with the same Idempotency-Key: it may hold a
    /// client's file, or a secret shown once.
    IdempotentResponse,
    /// The values before and after a change of a client's file: they may hold any of its
    /// identifiers.
    ChangeHistory,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 7] = [
        SealedColumn::ClientMedicareNumber,
        SealedColumn::ClientTaxFileNumber,
        SealedColumn::UserTotpSecret,
        SealedColumn::CorrectionRequestedValue,
        SealedColumn::ClientStatement,
        SealedColumn::IdempotentResponse,
        SealedColumn::ChangeHistory,
    ];

    /// `table.column`, as errors, logs and the rotation report name it.
    pub fn name(self) -> &'static str {
        match self {
            SealedColumn::ClientMedicareNumber => "clients.medicare_number",
            SealedColumn::ClientTaxFileNumber => "clients.tax_file_number",
            SealedColumn::UserTotpSecret => "users.totp_secret",
            SealedColumn::CorrectionRequestedValue => "correction_requests.requested_value",
            SealedColumn::ClientStatement => "client_statements.statement",
            SealedColumn::IdempotentResponse => "idempotency_keys.response_body",
            SealedColumn::ChangeHistory => "change_history.changes",
        }
    }

    /// What a sealed value is bound to: this column of the row `row_id`.
    fn associated_data(self, row_id: &str) -> Vec<u8> {
        format!("casebridge sealed value\0{}\0{row_id}", self.name()).into_bytes()
    }
}

impl fmt::Display for SealedColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value as a sealed column stores it. Only [`Keyring::seal`] makes one from plaintext, and
/// only [`Keyring::open`] gives plaintext back, so a row type whose field is `Sealed` cannot
/// be given plaintext by mistake.
#[derive(Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Sealed(String);

impl Sealed {
    /// A value read from a sealed column by a query that does not go through a row type (the
    /// re-sealing batches); it is checked when it is opened.
    pub fn from_stored(stored: String) -> Self {
        Sealed(stored)
    }

    pub fn as_stored(&self) -> &str {
        &self.0
    }

    /// The id of the key this value was sealed under, if it is in the sealed form.
    pub fn key_id(&self) -> Option<&str> {
        parse(&self.0).map(|(key_id, _)| key_id)
    }

    /// Whether `stored` is in the sealed form (else it is plaintext from before sealing).
    pub fn is_sealed_form(stored: &str) -> bool {
        parse(stored).is_some()
    }

    /// The start every value sealed under `key_id` has, for a `LIKE` pattern.
    pub fn prefix_of_key(key_id: &str) -> String {
        format!("{FORMAT}:{key_id}:")
    }

    /// The start every sealed value has, whatever its key.
    pub fn prefix() -> String {
        format!("{FORMAT}:")
    }

    /// The length of [`Sealed::prefix_of_key`], for reading the key id out in SQL.
    pub const KEYED_PREFIX_LENGTH: usize = FORMAT.len() + 1 + KEY_ID_LENGTH + 1;

    /// The key id in a prefix [`Sealed::prefix_of_key`] made (as SQL reads it out).
    pub fn key_id_of_prefix(prefix: &str) -> Option<&str> {
        let key_id = prefix
            .strip_prefix(FORMAT)?
            .strip_prefix(':')?
            .strip_suffix(':')?;
        is_key_id(key_id).then_some(key_id)
    }
}

/// Which key sealed the value and a short digest of what is stored, never the stored bytes:
/// enough for a test to see that a row changed (`{:?}` of a row before and after).
impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest = hex::encode(&Sha256::digest(self.0.as_bytes())[..4]);
        match self.key_id() {
            Some(key_id) => write!(f, "Sealed({FORMAT}:{key_id}:#{digest})"),
            None => write!(f, "Sealed(<not in the sealed form>#{digest})"),
        }
    }
}

impl<DB> ToSql<Text, DB> for Sealed
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> diesel::serialize::Result {
        <str as ToSql<Text, DB>>::to_sql(self.0.as_str(), out)
    }
}

impl<DB> FromSql<Text, DB> for Sealed
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        String::from_sql(bytes).map(Sealed)
    }
}

/// The key id and the sealed bytes of a value in the sealed form.
fn cursor_associated_data(list: &str) -> Vec<u8> {
    format!("casebridge page cursor\0{list}").into_bytes()
}

fn parse(stored: &str) -> Option<(&str, Vec<u8>)> {
    let rest = stored.strip_prefix(FORMAT)?.strip_prefix(':')?;
    let (key_id, payload) = rest.split_once(':')?;
    if !is_key_id(key_id) {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    (bytes.len() >= NONCE_BYTES + TAG_BYTES).then_some((key_id, bytes))
}

fn is_key_id(text: &str) -> bool {
    text.len() == KEY_ID_LENGTH
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A key's id: a hash of the key, so that every instance given the same key (in the key file
/// or `CASEBRIDGE_DATA_KEY`) names it alike, and a copied key file cannot name a key wrongly.
pub fn key_id(key: &KeyBytes) -> String {
    let digest = Sha256::new()
        .chain_update(b"casebridge data key id\0")
        .chain_update(key)
        .finalize();
    hex::encode(&digest[..KEY_ID_LENGTH / 2])
}

struct DataKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The keys in force, oldest first: the last one seals.
struct KeySet {
    keys: Vec<DataKey>,
    /// The key file as it was when read, to notice that it changed.
    stamp: Option<keyfile::Stamp>,
}

impl KeySet {
    fn new(keys: &[KeyBytes], stamp: Option<keyfile::Stamp>) -> anyhow::Result<Self> {
        anyhow::ensure!(!keys.is_empty(), "no data key");
        Ok(Self {
            keys: keys
                .iter()
                .map(|key| DataKey {
                    id: key_id(key),
                    cipher: XChaCha20Poly1305::new(key.into()),
                })
                .collect(),
            stamp,
        })
    }

    fn current(&self) -> &DataKey {
        self.keys.last().expect("a key set is never empty")
    }

    fn find(&self, id: &str) -> Option<&DataKey> {
        self.keys.iter().find(|key| key.id == id)
    }
}

/// Where a keyring's keys come from.
#[derive(Debug, Clone)]
enum Origin {
    /// `CASEBRIDGE_DATA_KEY`: fixed for the life of the process.
    Configured,
    /// The data directory's key file, read again when it changes.
    File(std::path::PathBuf),
}

/// The data keys of one service instance.
pub struct Keyring {
    origin: Origin,
    keys: ArcSwap<KeySet>,
}

/// Names the keys, never their bytes.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("origin", &self.origin)
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl Keyring {
    /// The keys of `CASEBRIDGE_DATA_KEY` when it is set (see [`keyfile::parse_configured`]),
    /// else those of the data directory's key file, which is created with one new key the
    /// first time.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Arc<Self>> {
        let keyring = match configured {
            Some(text) => Keyring {
                origin: Origin::Configured,
                keys: ArcSwap::from_pointee(KeySet::new(&keyfile::parse_configured(text)?, None)?),
            },
            None => {
                let path = keyfile::create_if_absent(data_dir)?;
                let (keys, stamp) = keyfile::read(&path)?;
                Keyring {
                    keys: ArcSwap::from_pointee(KeySet::new(&keys, Some(stamp))?),
                    origin: Origin::File(path),
                }
            }
        };
        Ok(Arc::new(keyring))
    }

    /// The keys the configuration names: [`Keyring::load`] of `CASEBRIDGE_DATA_KEY` and the
    /// data directory.
    pub fn of(config: &crate::config::Config) -> anyhow::Result<Arc<Self>> {
        Self::load(config.privacy.data_key.as_deref(), &config.data_dir)
    }

    /// Whether the keys come from `CASEBRIDGE_DATA_KEY` (and so cannot be rotated here).
    pub fn is_configured(&self) -> bool {
        matches!(self.origin, Origin::Configured)
    }

    /// The id of the key that seals new values.
    pub fn current_id(&self) -> String {
        self.refresh();
        self.keys.load().current().id.clone()
    }

    /// The ids of every key held, oldest first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.load().keys.iter().map(|k| k.id.clone()).collect()
    }

    /// Seals `plaintext` as the value of `column` in the row `row_id`, under the current key.
    pub fn seal(
        &self,
        column: SealedColumn,
        row_id: &str,
        plaintext: &str,
    ) -> anyhow::Result<Sealed> {
        self.seal_bound(column, &column.associated_data(row_id), plaintext)
    }

    /// Seals `plaintext` bound to `associated_data`; `what` names it in errors.
    fn seal_bound(
        &self,
        what: impl fmt::Display,
        associated_data: &[u8],
        plaintext: &str,
    ) -> anyhow::Result<Sealed> {
        // A rotation may have added a key since the file was read: seal under it at once, so
        // that the rotation's last pass finds nothing new under the old key.
        self.refresh();
        let keys = self.keys.load();
        let key = keys.current();
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = key
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: associated_data,
                },
            )
            .map_err(|_| anyhow::anyhow!("{what}: the value could not be sealed"))?;
        let mut bytes = Vec::with_capacity(NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(Sealed(format!(
            "{FORMAT}:{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    pub fn seal_optional(
        &self,
        column: SealedColumn,
        row_id: &str,
        plaintext: Option<&str>,
    ) -> anyhow::Result<Option<Sealed>> {
        plaintext
            .map(|plaintext| self.seal(column, row_id, plaintext))
            .transpose()
    }

    /// The plaintext of `sealed`, the value of `column` in the row `row_id`. An error (which
    /// names the column and the key, never the value) when the value is not in the sealed
    /// form, was sealed under a key the keyring does not hold, or does not authenticate: it
    /// was altered, or belongs to another row or column.
    pub fn open(
        &self,
        column: SealedColumn,
        row_id: &str,
        sealed: &Sealed,
    ) -> anyhow::Result<String> {
        self.open_bound(column, &column.associated_data(row_id), sealed)
    }

    /// The plaintext of `sealed`, bound to `associated_data`; `what` names it in errors.
    fn open_bound(
        &self,
        what: impl fmt::Display,
        associated_data: &[u8],
        sealed: &Sealed,
    ) -> anyhow::Result<String> {
        let (key_id, bytes) = parse(&sealed.0)
            .with_context(|| format!("{what}: the stored value is not in the sealed form"))?;
        let mut keys = self.keys.load_full();
        if keys.find(key_id).is_none() {
            // Sealed under a key that a rotation added since the file was read.
            self.reload();
            keys = self.keys.load_full();
        }
        let key = keys.find(key_id).with_context(|| {
            format!("{what}: the value is sealed under data key {key_id}, which this service does not hold")
        })?;
        let (nonce, sealed_bytes) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split at the nonce's length");
        let plaintext = key
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed_bytes,
                    aad: associated_data,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "{what}: the value sealed under data key {key_id} does not authenticate \
                     (altered, or moved from another row or column)"
                )
            })?;
        String::from_utf8(plaintext)
            .map_err(|_| anyhow::anyhow!("{what}: the opened value is not text"))
    }

    /// A list's page cursor that holds the id of a row the caller may not see (where the
    /// page stopped looking), sealed so that the cursor does not give the id away. Bound to
    /// the list: it opens in no other.
    pub fn seal_cursor(&self, list: &str, id: &str) -> anyhow::Result<String> {
        let sealed = self.seal_bound("page cursor", &cursor_associated_data(list), id)?;
        Ok(sealed.0)
    }

    /// The id a [`Keyring::seal_cursor`] cursor of `list` holds.
    pub fn open_cursor(&self, list: &str, cursor: &str) -> anyhow::Result<String> {
        let sealed = Sealed(cursor.to_owned());
        self.open_bound("page cursor", &cursor_associated_data(list), &sealed)
    }

    pub fn open_optional(
        &self,
        column: SealedColumn,
        row_id: &str,
        sealed: Option<&Sealed>,
    ) -> anyhow::Result<Option<String>> {
        sealed
            .map(|sealed| self.open(column, row_id, sealed))
            .transpose()
    }

    /// The key file's rotation lock, held for a rotation's whole run. Keys given in
    /// `CASEBRIDGE_DATA_KEY` are rotated by changing the variable instead.
    pub fn lock_rotation(&self) -> anyhow::Result<keyfile::RotationLock> {
        let path = self.key_file()?;
        keyfile::RotationLock::take(path.parent().unwrap_or(Path::new(".")))
    }

    /// Adds a new key to the key file, which becomes the current key, and answers its id.
    pub fn add_key(&self, lock: &keyfile::RotationLock) -> anyhow::Result<String> {
        keyfile::add_key(self.key_file()?, lock)?;
        self.reload();
        Ok(self.keys.load().current().id.clone())
    }

    fn key_file(&self) -> anyhow::Result<&Path> {
        match &self.origin {
            Origin::File(path) => Ok(path),
            Origin::Configured => anyhow::bail!(
                "the data keys come from CASEBRIDGE_DATA_KEY: add the new key at its end instead"
            ),
        }
    }

    /// Reads the key file again if it changed since it was read.
    fn refresh(&self) {
        let Origin::File(path) = &self.origin else {
            return;
        };
        match keyfile::stamp(path) {
            Ok(stamp) if Some(stamp) == self.keys.load().stamp => {}
            Ok(_) => self.reload(),
            Err(error) => tracing::error!(
                path = %path.display(), %error,
                "cannot look at the data key file; keeping the keys already read"
            ),
        }
    }

    /// Reads the key file again. A file that cannot be read now (an operator's mistake) leaves
    /// the keys already read in force, so the service keeps answering; the error is logged.
    fn reload(&self) {
        let Origin::File(path) = &self.origin else {
            return;
        };
        let loaded = keyfile::read(path).and_then(|(keys, stamp)| KeySet::new(&keys, Some(stamp)));
        match loaded {
            Ok(set) => {
                let known = self.key_ids();
                let added: Vec<&str> = set
                    .keys
                    .iter()
                    .map(|key| key.id.as_str())
                    .filter(|id| !known.iter().any(|known| known == id))
                    .collect();
                if !added.is_empty() {
                    tracing::info!(key_ids = ?added, current = %set.current().id, "data keys reloaded");
                }
                self.keys.store(Arc::new(set));
            }
            Err(error) => tracing::error!(
                path = %path.display(), error = format!("{error:#}"),
                "cannot read the data key file; keeping the keys already read"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEDICARE: &str = "2123456701";

    fn keyring() -> (tempfile::TempDir, Arc<Keyring>) {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::load(None, dir.path()).unwrap();
        (dir, keyring)
    }

    #[test]
    fn a_sealed_value_opens_for_its_own_column_and_row_only() {
        let (_dir, keys) = keyring();
        let sealed = keys
            .seal(SealedColumn::ClientMedicareNumber, "row-1", MEDICARE)
            .unwrap();
        assert!(!sealed.as_stored().contains(MEDICARE));
        assert_eq!(
            keys.open(SealedColumn::ClientMedicareNumber, "row-1", &sealed)
                .unwrap(),
            MEDICARE
        );
        let moved_row = keys
            .open(SealedColumn::ClientMedicareNumber, "row-2", &sealed)
            .unwrap_err();
        assert!(moved_row.to_string().contains("does not authenticate"));
        assert!(
            keys.open(SealedColumn::ClientTaxFileNumber, "row-1", &sealed)
                .is_err(),
            "a value moved to another column does not open"
        );
    }

    #[test]
    fn a_page_cursor_hides_its_id_and_opens_in_its_own_list_only() {
        let (_dir, keys) = keyring();
        let id = "01a18f41-8c01-71ea-abd8-650342dce553";
        let cursor = keys.seal_cursor("cases", id).unwrap();
        assert!(!cursor.contains(id));
        assert_eq!(keys.open_cursor("cases", &cursor).unwrap(), id);
        assert!(keys.open_cursor("clients", &cursor).is_err());
        assert!(
            keys.open_cursor("cases", id).is_err(),
            "a plain id is not a sealed cursor"
        );
        let sealed_value = keys
            .seal(SealedColumn::ClientStatement, "cases", id)
            .unwrap();
        assert!(
            keys.open_cursor("cases", sealed_value.as_stored()).is_err(),
            "a sealed column value is not a cursor"
        );
    }

    #[test]
    fn the_stored_form_names_format_and_key_and_differs_each_time() {
        let (_dir, keys) = keyring();
        let first = keys
            .seal(SealedColumn::UserTotpSecret, "u", "JBSWY3DPEHPK3PXP")
            .unwrap();
        let second = keys
            .seal(SealedColumn::UserTotpSecret, "u", "JBSWY3DPEHPK3PXP")
            .unwrap();
        assert_ne!(first, second, "a random nonce per value");
        assert_ne!(format!("{first:?}"), format!("{second:?}"));
        assert!(!format!("{first:?}").contains(first.as_stored()));
        let current = keys.current_id();
        assert_eq!(first.key_id(), Some(current.as_str()));
        assert!(
            first
                .as_stored()
                .starts_with(&Sealed::prefix_of_key(&current))
        );
        assert_eq!(
            Sealed::prefix_of_key(&current).len(),
            Sealed::KEYED_PREFIX_LENGTH
        );
        assert_eq!(
            Sealed::key_id_of_prefix(&Sealed::prefix_of_key(&current)),
            Some(current.as_str())
        );
        assert!(Sealed::is_sealed_form(first.as_stored()));
    }

    #[test]
    fn plaintext_altered_bytes_and_unknown_keys_do_not_open() {
        let (_dir, keys) = keyring();
        let column = SealedColumn::ClientTaxFileNumber;
        let plaintext = Sealed::from_stored("123456782".into());
        assert!(!Sealed::is_sealed_form("123456782"));
        let error = keys.open(column, "r", &plaintext).unwrap_err().to_string();
        assert!(error.contains("not in the sealed form"));
        assert!(!error.contains("123456782"), "errors never quote the value");

        let sealed = keys.seal(column, "r", "123456782").unwrap();
        let stored = sealed.as_stored();
        let (head, payload) = stored.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        let altered = Sealed::from_stored(format!("{head}:{}", URL_SAFE_NO_PAD.encode(&bytes)));
        assert!(keys.open(column, "r", &altered).is_err());

        let (_other_dir, other_keys) = keyring();
        let error = other_keys
            .open(column, "r", &sealed)
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not hold"), "{error}");
    }

    #[test]
    fn a_rotation_seals_under_the_new_key_and_still_opens_the_old() {
        let (dir, service) = keyring();
        let column = SealedColumn::ClientMedicareNumber;
        let before = service.seal(column, "r", MEDICARE).unwrap();
        let old_id = service.current_id();
        // The rotation command: another keyring over the same data directory.
        let rotation = Keyring::load(None, dir.path()).unwrap();
        let new_id = rotation
            .add_key(&rotation.lock_rotation().unwrap())
            .unwrap();
        assert_ne!(new_id, old_id);
        let after_rotation = rotation.seal(column, "r", MEDICARE).unwrap();
        // The running service notices the new key when it seals and when it opens.
        assert_eq!(
            service.open(column, "r", &after_rotation).unwrap(),
            MEDICARE
        );
        assert_eq!(
            service.seal(column, "r", MEDICARE).unwrap().key_id(),
            Some(new_id.as_str())
        );
        assert_eq!(rotation.open(column, "r", &before).unwrap(), MEDICARE);
        assert_eq!(service.key_ids(), vec![old_id, new_id]);
    }

    #[test]
    fn configured_keys_are_used_as_given_and_the_last_seals() {
        let old = [1u8; KEY_BYTES];
        let new = [2u8; KEY_BYTES];
        let text = format!(
            "{}, {}",
            base64::engine::general_purpose::STANDARD.encode(old),
            URL_SAFE_NO_PAD.encode(new)
        );
        let dir = tempfile::tempdir().unwrap();
        let keys = Keyring::load(Some(&text), dir.path()).unwrap();
        assert!(keys.is_configured());
        assert_eq!(keys.key_ids(), vec![key_id(&old), key_id(&new)]);
        assert_eq!(keys.current_id(), key_id(&new));
        assert!(
            !dir.path().join(keyfile::FILE_NAME).exists(),
            "no key file when the keys are configured"
        );
        assert!(keys.lock_rotation().is_err());
    }
}
