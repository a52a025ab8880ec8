//! A message to support as the site sends it (the form or the widget's JSON), and what makes
//! one acceptable.

use serde::Deserialize;

use super::identity::Claim;
use crate::http::ApiError;

pub const MAX_MESSAGE: usize = 4000;
pub const MAX_SUBJECT: usize = 200;
pub const MAX_NAME: usize = 100;

/// A submitted message, from the form or the API.
#[derive(Debug, Default, Deserialize)]
pub struct Submission {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub user_hash: Option<String>,
    #[serde(default)]
    pub thread_token: Option<String>,
    /// The honeypot: people leave it empty, form-filling bots do not.
    #[serde(default)]
    pub website: Option<String>,
    /// The page's anti-forgery token (the form only), checked against its cookie.
    #[serde(skip)]
    pub csrf: Option<String>,
}

/// What the HTML form posts: no site user, and the thread token travels in a cookie.
#[derive(Debug, Default, Deserialize)]
struct FormFields {
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    website: Option<String>,
    #[serde(default)]
    csrf: Option<String>,
}

impl Submission {
    /// An `application/x-www-form-urlencoded` body of the page's form.
    pub fn from_form(body: &[u8]) -> Result<Self, ApiError> {
        let f: FormFields =
            serde_urlencoded::from_bytes(body).map_err(|e| ApiError::invalid("form", e))?;
        Ok(Self {
            subject: f.subject,
            message: f.message,
            name: f.name,
            email: f.email,
            website: f.website,
            csrf: f.csrf,
            ..Self::default()
        })
    }

    /// A form-filling bot: it filled the hidden field.
    pub fn is_bot(&self) -> bool {
        self.website.as_deref().is_some_and(|w| !w.is_empty())
    }

    /// Who the submission says it is from.
    pub fn claim(&self) -> Claim<'_> {
        Claim {
            user_id: self.user_id.as_deref(),
            user_hash: self.user_hash.as_deref(),
            thread_token: self.thread_token.as_deref(),
        }
    }

    /// The subject, trimmed; none when blank.
    pub fn subject(&self) -> Option<String> {
        self.subject
            .as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
    }

    pub fn validate(&self) -> Result<(), ApiError> {
        let message = self.message.trim();
        if message.is_empty() {
            return Err(ApiError::invalid("message", "is required"));
        }
        if message.chars().count() > MAX_MESSAGE {
            return Err(ApiError::invalid(
                "message",
                format!("at most {MAX_MESSAGE} characters"),
            ));
        }
        if self
            .subject
            .as_deref()
            .is_some_and(|x| x.chars().count() > MAX_SUBJECT)
        {
            return Err(ApiError::invalid(
                "subject",
                format!("at most {MAX_SUBJECT} characters"),
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > MAX_NAME {
            return Err(ApiError::invalid(
                "name",
                "is required (at most 100 characters)",
            ));
        }
        if !crate::ports::mailer::looks_like_address(self.email.trim()) {
            return Err(ApiError::invalid("email", "is not an e-mail address"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_body_is_decoded_and_site_user_fields_are_not_taken_from_it() {
        let s = Submission::from_form(
            b"subject=&message=Where+is+%E2%84%965%3F&name=Olga&email=o%40example.com&user_id=42",
        )
        .unwrap();
        assert_eq!(s.subject.as_deref(), Some(""));
        assert_eq!(s.subject(), None);
        assert_eq!(s.message, "Where is №5?");
        assert_eq!(s.email, "o@example.com");
        assert_eq!(s.user_id, None, "a site user is never a form field");
        assert!(!s.is_bot());
        assert!(s.validate().is_ok());
        let empty = Submission::from_form(b"").unwrap();
        assert_eq!(empty.validate().unwrap_err().status, 422);
    }

    #[test]
    fn limits_and_the_honeypot() {
        let mut s = Submission {
            message: "x".repeat(MAX_MESSAGE + 1),
            name: "A".into(),
            email: "a@example.com".into(),
            ..Submission::default()
        };
        assert!(s.validate().unwrap_err().message.starts_with("message:"));
        s.message = "hi".into();
        s.email = "not-mail".into();
        assert!(s.validate().unwrap_err().message.starts_with("email:"));
        s.website = Some("http://spam.example".into());
        assert!(s.is_bot());
    }
}
