//! First-start API key: when no key is configured, `exporter up` creates one in a 0600 file and
//! says where it is. The key itself is never printed or logged.

use exporter_settings::secrets::{self, Secret, SecretError};
use exporter_settings::{ApiKeySource, Settings};
use rand::RngCore;

/// What happened to the key file.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// `EXPORTER_API_KEY` is set.
    FromEnvironment,
    /// The file existed already.
    Existing(std::path::PathBuf),
    /// The file was created now.
    Created(std::path::PathBuf),
}

/// A new random key: 32 bytes from the OS generator, hex.
pub fn generate() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(hex::encode(bytes))
}

/// Makes sure the configured key exists, creating the key file if needed.
pub fn ensure_api_key(settings: &Settings) -> Result<KeyStatus, SecretError> {
    match &settings.api_key_source {
        ApiKeySource::Env(_) => Ok(KeyStatus::FromEnvironment),
        ApiKeySource::File(path) if path.exists() => {
            secrets::read_secret_file(path)?;
            Ok(KeyStatus::Existing(path.clone()))
        }
        ApiKeySource::File(path) => {
            secrets::create_secret_file(path, &generate())?;
            Ok(KeyStatus::Created(path.clone()))
        }
    }
}
