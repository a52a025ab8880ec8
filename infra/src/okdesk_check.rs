//! `zayavka okdesk check`: what the seed's `test_api.py` did. Each check says whether it
//! passed and why, so a wrong token is told apart from a wrong URL or a missing INN
//! attribute.

use zayavka::helpdesk::config::OkdeskConfig;
use zayavka::helpdesk::inn;
use zayavka::helpdesk::okdesk::{Okdesk, OkdeskError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    /// `None`: not run, because an earlier check failed.
    pub passed: Option<bool>,
    pub detail: String,
}

impl Check {
    pub fn new(name: &'static str, passed: Option<bool>, detail: impl Into<String>) -> Self {
        Self {
            name,
            passed,
            detail: detail.into(),
        }
    }

    pub fn line(&self) -> String {
        let mark = match self.passed {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "–",
        };
        format!("{mark} {}: {}", self.name, self.detail)
    }
}

pub const REACHABLE: &str = "API reachable";
pub const TOKEN: &str = "token accepted";
pub const LIST: &str = "issues can be listed";
pub const INN: &str = "company search by INN";

/// Runs the checks in order; a later one is skipped when it cannot mean anything.
pub async fn run(cfg: &OkdeskConfig, company_inn: Option<&str>) -> Vec<Check> {
    let okdesk = match cfg.client() {
        Ok(okdesk) => okdesk,
        Err(e) => return vec![Check::new(REACHABLE, Some(false), e.to_string())],
    };
    let mut out = connection_checks(cfg, &okdesk).await;
    let Some(raw) = company_inn else {
        return out;
    };
    // A search through an API that is unreachable or refuses the token says nothing
    // about the INN.
    if out.iter().any(|c| c.passed == Some(false)) {
        out.push(Check::new(INN, None, "skipped"));
        return out;
    }
    out.push(inn_check(cfg, &okdesk, raw).await);
    out
}

/// Reachable, token, list: one issue listing answers all three, and how it fails tells
/// which of them it was.
async fn connection_checks(cfg: &OkdeskConfig, okdesk: &Okdesk) -> Vec<Check> {
    let reachable = || Check::new(REACHABLE, Some(true), cfg.api_url.clone());
    let token_ok = || Check::new(TOKEN, Some(true), "yes");
    match okdesk.issue_ids().await {
        Ok(ids) => vec![
            reachable(),
            token_ok(),
            Check::new(LIST, Some(true), format!("{} issues visible", ids.len())),
        ],
        Err(OkdeskError::TokenRejected(status)) => vec![
            reachable(),
            Check::new(
                TOKEN,
                Some(false),
                format!(
                    "HTTP {status}: check OKDESK_API_TOKEN (Okdesk: Settings → API) and its rights"
                ),
            ),
            Check::new(LIST, None, "skipped"),
        ],
        Err(OkdeskError::Refused { status, errors }) => vec![
            reachable(),
            token_ok(),
            Check::new(LIST, Some(false), format!("HTTP {status}: {errors}")),
        ],
        Err(e @ OkdeskError::Unreachable(_)) => vec![
            Check::new(
                REACHABLE,
                Some(false),
                format!(
                    "{e}; check OKDESK_API_URL ({}): it ends in /api/v1",
                    cfg.api_url
                ),
            ),
            Check::new(TOKEN, None, "skipped"),
            Check::new(LIST, None, "skipped"),
        ],
    }
}

/// Looks the company up the way registration will: by the INN attribute when one is
/// configured, then by search.
async fn inn_check(cfg: &OkdeskConfig, okdesk: &Okdesk, raw: &str) -> Check {
    let how = match &cfg.inn_parameter {
        Some(code) => format!("attribute {code}, then search"),
        None => "search only: set OKDESK_INN_PARAMETER to the company attribute code".into(),
    };
    let number = match inn::parse(raw) {
        Ok(number) => number,
        Err(e) => return Check::new(INN, Some(false), format!("{raw}: {e}")),
    };
    match okdesk
        .find_company_by_inn(&number, cfg.inn_parameter.as_deref())
        .await
    {
        Ok(Some(c)) => Check::new(
            INN,
            Some(true),
            format!(
                "{number} → «{}» (#{}) ({how})",
                c.name.unwrap_or_default(),
                c.id
            ),
        ),
        Ok(None) => Check::new(
            INN,
            Some(false),
            format!("{number}: no company found ({how})"),
        ),
        Err(e) => Check::new(INN, Some(false), e.to_string()),
    }
}
