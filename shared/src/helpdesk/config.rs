//! The Okdesk settings every helpdesk part reads the same way.

use std::time::Duration;

use crate::config::EnvReader;

use super::okdesk::Okdesk;

#[derive(Clone)]
pub struct OkdeskConfig {
    /// `OKDESK_API_URL`: `https://<account>.okdesk.ru/api/v1`.
    pub api_url: String,
    /// `OKDESK_API_TOKEN`.
    pub api_token: String,
    /// `OKDESK_WEB_URL`: where people open issues; by default the API URL without `/api/v1`.
    pub web_url: String,
    /// `OKDESK_INN_PARAMETER`: the code of the company attribute that holds the INN.
    pub inn_parameter: Option<String>,
    /// `OKDESK_TIMEOUT_SECS` (default 10): a slower Okdesk counts as unreachable.
    pub timeout: Duration,
    /// `HELPDESK_ISSUES_PER_HOUR` (default 10): issues one chat may create per clock hour.
    pub issues_per_hour: u32,
}

impl std::fmt::Debug for OkdeskConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OkdeskConfig")
            .field("api_url", &self.api_url)
            .field("web_url", &self.web_url)
            .field("inn_parameter", &self.inn_parameter)
            .finish_non_exhaustive()
    }
}

fn is_http_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

impl OkdeskConfig {
    /// `None` when `OKDESK_API_URL` is unset (no Okdesk in this deployment); a URL without
    /// its token, or a malformed one, is reported as a problem.
    pub fn read(r: &mut EnvReader<'_>) -> Option<Self> {
        let api_url = r.optional("OKDESK_API_URL")?;
        let api_token = r.optional("OKDESK_API_TOKEN");
        if api_token.is_none() {
            r.problem("OKDESK_API_TOKEN is not set, but OKDESK_API_URL is (Okdesk: Settings → API → tokens)");
        }
        if !is_http_url(&api_url) {
            r.problem(format!(
                "OKDESK_API_URL={api_url:?} must be an http(s) URL such as https://<account>.okdesk.ru/api/v1"
            ));
        }
        let api_url = api_url.trim_end_matches('/').to_string();
        let web_url = r
            .optional("OKDESK_WEB_URL")
            .unwrap_or_else(|| api_url.trim_end_matches("/api/v1").to_string())
            .trim_end_matches('/')
            .to_string();
        if !is_http_url(&web_url) {
            r.problem(format!("OKDESK_WEB_URL={web_url:?} must be an http(s) URL"));
        }
        let timeout = Duration::from_secs(r.parse_or("OKDESK_TIMEOUT_SECS", 10u64).max(1));
        let issues_per_hour = r.parse_or("HELPDESK_ISSUES_PER_HOUR", 10u32).max(1);
        Some(Self {
            api_url,
            api_token: api_token.unwrap_or_default(),
            web_url,
            inn_parameter: r.optional("OKDESK_INN_PARAMETER"),
            timeout,
            issues_per_hour,
        })
    }

    pub fn client(&self) -> Result<Okdesk, crate::outbound::ClientError> {
        Okdesk::new(&self.api_url, &self.api_token, self.timeout)
    }

    /// The client on an HTTP client the process already has.
    pub fn client_with(&self, http: reqwest::Client) -> Okdesk {
        Okdesk::with_http(http, &self.api_url, &self.api_token, self.timeout)
    }

    /// The issue's page for people.
    pub fn issue_url(&self, id: i64) -> String {
        format!("{}/issues/{id}", self.web_url)
    }
}
