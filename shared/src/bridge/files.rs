//! Links to the files users send, for the system: `<public>/bridge/file/<signed>` where
//! `<signed>` is the file's id, name, type, size and expiry (base64url JSON) and an HMAC of them
//! under a key derived from the bot's token — a secret the system never sees (it does see
//! the reply token, in the reply URL). The link streams the file through us: Telegram's
//! own file URL carries the bot's token and never leaves the deployment.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::config::BridgeConfig;
use super::inbound::FileRef;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// Telegram's file id.
    pub f: String,
    /// Expiry, Unix seconds.
    pub e: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub m: Option<String>,
    /// The size Telegram gave, in bytes: a file over `BRIDGE_FILE_MAX_BYTES` is refused
    /// before Telegram is asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<u64>,
}

impl Signed {
    /// Whether the file is known to be larger than a link may give.
    pub fn too_large(&self, max_bytes: usize) -> bool {
        self.s
            .is_some_and(|s| usize::try_from(s).map_or(true, |s| s > max_bytes))
    }
}

/// Why a link does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not one we made.
    Unknown,
    Expired,
}

fn key(cfg: &BridgeConfig) -> String {
    // Its own purpose, so a file signature can never pass as anything else.
    format!("bridge-file:{}", cfg.bot_token.expose())
}

pub fn link(cfg: &BridgeConfig, base: &str, f: &FileRef, expires_at: i64) -> String {
    let signed = Signed {
        f: f.file_id.clone(),
        e: expires_at,
        n: f.file_name.clone(),
        m: f.mime_type.clone(),
        s: f.size,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&signed).unwrap_or_default());
    let mac = crate::signature::hmac_hex(&key(cfg), payload.as_bytes());
    format!("{base}/bridge/file/{payload}.{mac}")
}

/// The file a link names, if we made it and it is still good at `now`.
pub fn open(cfg: &BridgeConfig, signed: &str, now_secs: i64) -> Result<Signed, LinkError> {
    let (payload, mac) = signed.rsplit_once('.').ok_or(LinkError::Unknown)?;
    let want = crate::signature::hmac_hex(&key(cfg), payload.as_bytes());
    if !crate::http::constant_time_eq(&want, mac) {
        return Err(LinkError::Unknown);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| LinkError::Unknown)?;
    let s: Signed = serde_json::from_slice(&bytes).map_err(|_| LinkError::Unknown)?;
    if s.e < now_secs {
        return Err(LinkError::Expired);
    }
    // A link never lives longer than the setting allows (a minute's slack for clocks).
    if s.e > now_secs + cfg.file_link_secs + 60 {
        return Err(LinkError::Unknown);
    }
    Ok(s)
}
