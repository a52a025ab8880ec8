//! `zayavka okdesk check`: what the seed's `test_api.py` did. Each check says whether it
//! passed and why, so a wrong token is told apart from a wrong URL or a missing INN
//! attribute.

use zayavka::helpdesk::config::OkdeskConfig;
use zayavka::helpdesk::inn;
use zayavka::helpdesk::okdesk::OkdeskError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    /// `None`: not run, because an earlier check failed.
    pub passed: Option<bool>,
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, passed: Option<bool>, detail: impl Into<String>) -> Self {
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
    let okdesk = cfg.client();
    let mut out = Vec::new();
    match okdesk.issue_ids().await {
        Ok(ids) => {
            out.push(Check::new(REACHABLE, Some(true), cfg.api_url.clone()));
            out.push(Check::new(TOKEN, Some(true), "yes"));
            out.push(Check::new(
                LIST,
                Some(true),
                format!("{} issues visible", ids.len()),
            ));
        }
        Err(OkdeskError::TokenRejected(status)) => {
            out.push(Check::new(REACHABLE, Some(true), cfg.api_url.clone()));
            out.push(Check::new(
                TOKEN,
                Some(false),
                format!(
                    "HTTP {status}: check OKDESK_API_TOKEN (Okdesk: Settings → API) and its rights"
                ),
            ));
            out.push(Check::new(LIST, None, "skipped"));
        }
        Err(OkdeskError::Refused { status, errors }) => {
            out.push(Check::new(REACHABLE, Some(true), cfg.api_url.clone()));
            out.push(Check::new(TOKEN, Some(true), "yes"));
            out.push(Check::new(
                LIST,
                Some(false),
                format!("HTTP {status}: {errors}"),
            ));
        }
        Err(e @ OkdeskError::Unreachable(_)) => {
            out.push(Check::new(
                REACHABLE,
                Some(false),
                format!(
                    "{e}; check OKDESK_API_URL ({}): it ends in /api/v1",
                    cfg.api_url
                ),
            ));
            out.push(Check::new(TOKEN, None, "skipped"));
            out.push(Check::new(LIST, None, "skipped"));
        }
    }
    let Some(raw) = company_inn else {
        return out;
    };
    if out.iter().any(|c| c.passed == Some(false)) {
        out.push(Check::new(INN, None, "skipped"));
        return out;
    }
    let how = match &cfg.inn_parameter {
        Some(code) => format!("attribute {code}, then search"),
        None => "search only: set OKDESK_INN_PARAMETER to the company attribute code".into(),
    };
    let check = match inn::parse(raw) {
        Err(e) => Check::new(INN, Some(false), format!("{raw}: {e}")),
        Ok(number) => match okdesk
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
        },
    };
    out.push(check);
    out
}
