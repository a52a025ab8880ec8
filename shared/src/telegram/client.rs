//! The Bot API over HTTPS: one JSON POST per method, `TELEGRAM_API_BASE` for local or fake
//! servers, and errors that say what to do next (wait, give up on this chat, retry later).

use std::time::Duration;

use frankenstein::ParseMode;
use frankenstein::methods::{
    AnswerCallbackQueryParams, CopyMessageParams, DeleteWebhookParams,
    EditMessageReplyMarkupParams, EditMessageTextParams, GetFileParams, GetUpdatesParams,
    SendMessageParams, SetMyCommandsParams, SetWebhookParams,
};
use frankenstein::response::{ErrorResponse, MessageOrBool, MethodResponse};
use frankenstein::types::{
    AllowedUpdate, BotCommand, ChatId, File, LinkPreviewOptions, Message, MessageId, ReplyMarkup,
    User,
};
use frankenstein::updates::WebhookInfo;

use super::limits::SendLimits;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    /// Flood control: try again after this many seconds.
    #[error("Telegram: too many requests, retry after {0} s")]
    RetryAfter(u32),
    /// The bot may not write to this chat (blocked by the user, kicked, deactivated user):
    /// retrying will not help; the chat is unreachable until the user writes again.
    #[error("Telegram: cannot write to this chat: {0}")]
    Blocked(String),
    /// The request itself was refused (bad chat id, malformed text, wrong token).
    #[error("Telegram: HTTP {code}: {description}")]
    Refused { code: u16, description: String },
    /// Network trouble or a Telegram-side error: a later attempt may succeed.
    #[error("Telegram unavailable: {0}")]
    Unavailable(String),
}

impl TelegramError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TelegramError::RetryAfter(_) | TelegramError::Unavailable(_)
        )
    }
}

impl From<TelegramError> for crate::outbound::DeliveryError {
    fn from(e: TelegramError) -> Self {
        match e {
            TelegramError::RetryAfter(s) => crate::outbound::DeliveryError::Retryable {
                message: e.to_string(),
                retry_after: Some(s),
            },
            TelegramError::Unavailable(_) => {
                crate::outbound::DeliveryError::retryable(e.to_string())
            }
            other => crate::outbound::DeliveryError::fatal(other.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base: String,
    token: String,
    /// A 429 asking for at most this long is waited out here, once; longer waits go back to
    /// the caller (a queue worker postpones the message instead of holding a Lambda).
    max_inline_wait: Duration,
    /// Spacing of sends, when this client sends many (broadcasts, relays).
    limits: Option<std::sync::Arc<SendLimits>>,
    /// Where the 429s and 403s are counted.
    metrics: crate::metrics::Metrics,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never in logs.
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl BotApi {
    pub fn new(http: reqwest::Client, base: &str, token: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            max_inline_wait: Duration::ZERO,
            limits: None,
            metrics: crate::metrics::Metrics::off(),
        }
    }

    /// Counts this client's rate-limited and refused sends.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Spaces this client's sends to stay within Telegram's limits (shared by every clone).
    pub fn with_limits(mut self, limits: std::sync::Arc<SendLimits>) -> Self {
        self.limits = Some(limits);
        self
    }

    async fn before_send(&self, chat: &ChatId) {
        if let Some(l) = &self.limits {
            l.wait(chat).await;
        }
    }

    pub fn with_inline_wait(mut self, wait: Duration) -> Self {
        self.max_inline_wait = wait;
        self
    }

    /// Calls a Bot API method with JSON parameters.
    pub async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<R, TelegramError> {
        match self.call_once(method, params).await {
            Err(TelegramError::RetryAfter(s))
                if Duration::from_secs(u64::from(s)) <= self.max_inline_wait =>
            {
                tokio::time::sleep(Duration::from_secs(u64::from(s))).await;
                self.call_once(method, params).await
            }
            other => other,
        }
    }

    async fn call_once<P: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<R, TelegramError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let unavailable =
            |e: reqwest::Error| TelegramError::Unavailable(e.without_url().to_string());
        let resp = self
            .http
            .post(url)
            .json(params)
            .send()
            .await
            .map_err(unavailable)?;
        let status = resp.status().as_u16();
        // getUpdates' 100 updates fit well within this.
        let body = crate::outbound::read_capped(resp, 8 * 1024 * 1024)
            .await
            .map_err(unavailable)?;
        if (200..300).contains(&status) {
            let ok: MethodResponse<R> = serde_json::from_slice(&body).map_err(|e| {
                TelegramError::Unavailable(format!("unexpected {method} answer: {e}"))
            })?;
            return Ok(ok.result);
        }
        let err: Option<ErrorResponse> = serde_json::from_slice(&body).ok();
        let description = err
            .as_ref()
            .map(|e| e.description.clone())
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        // Whatever answered (a proxy, a local Bot API server) may echo the URL: the token
        // must not travel on in our errors and logs.
        let description = crate::outbound::redact(
            &crate::outbound::clip(&description, 300),
            &crate::credentials::secret_parts(&self.token),
        );
        match status {
            429 => self.metrics.telegram_rate_limited(),
            403 => self.metrics.telegram_blocked(),
            _ => {}
        }
        Err(match status {
            429 => TelegramError::RetryAfter(
                err.and_then(|e| e.parameters)
                    .and_then(|p| p.retry_after)
                    .map(u32::from)
                    .unwrap_or(1),
            ),
            403 => TelegramError::Blocked(description),
            500..=599 => TelegramError::Unavailable(format!("HTTP {status}: {description}")),
            _ => TelegramError::Refused {
                code: status,
                description,
            },
        })
    }

    pub async fn send_message(&self, params: &SendMessageParams) -> Result<Message, TelegramError> {
        self.before_send(&params.chat_id).await;
        self.call("sendMessage", params).await
    }

    /// Copies any message (text, photo, document …) into another chat.
    pub async fn copy_message(
        &self,
        params: &CopyMessageParams,
    ) -> Result<MessageId, TelegramError> {
        self.before_send(&params.chat_id).await;
        self.call("copyMessage", params).await
    }

    pub async fn edit_message_text(
        &self,
        params: &EditMessageTextParams,
    ) -> Result<MessageOrBool, TelegramError> {
        self.call("editMessageText", params).await
    }

    pub async fn edit_message_reply_markup(
        &self,
        params: &EditMessageReplyMarkupParams,
    ) -> Result<MessageOrBool, TelegramError> {
        self.call("editMessageReplyMarkup", params).await
    }

    /// Every callback query must be answered, or the button keeps spinning.
    pub async fn answer_callback_query(
        &self,
        params: &AnswerCallbackQueryParams,
    ) -> Result<bool, TelegramError> {
        self.call("answerCallbackQuery", params).await
    }

    /// Raw updates (JSON), so that kinds this crate version does not know yet still arrive.
    pub async fn get_updates(
        &self,
        params: &GetUpdatesParams,
    ) -> Result<Vec<serde_json::Value>, TelegramError> {
        self.call("getUpdates", params).await
    }

    /// Downloads a file users sent (up to the Bot API's 20 MB): getFile, then the file itself.
    pub async fn download(&self, file_id: &str) -> Result<Vec<u8>, TelegramError> {
        let file: File = self
            .call(
                "getFile",
                &GetFileParams::builder().file_id(file_id).build(),
            )
            .await?;
        let file_path = file.file_path.ok_or_else(|| TelegramError::Refused {
            code: 400,
            description: "the file is too big for a bot to download".into(),
        })?;
        let url = format!("{}/file/bot{}/{file_path}", self.base, self.token);
        let unavailable =
            |e: reqwest::Error| TelegramError::Unavailable(e.without_url().to_string());
        let resp = self.http.get(url).send().await.map_err(unavailable)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(TelegramError::Unavailable(format!(
                "file download: HTTP {status}"
            )));
        }
        // Bots may download files of up to 20 MB.
        crate::outbound::read_capped(resp, 21 * 1024 * 1024)
            .await
            .map_err(unavailable)
    }

    pub async fn get_me(&self) -> Result<User, TelegramError> {
        self.call("getMe", &serde_json::json!({})).await
    }

    /// An HTML message without link previews: the text must already be escaped.
    pub async fn send_html(
        &self,
        chat_id: impl Into<ChatId>,
        html: &str,
    ) -> Result<Message, TelegramError> {
        self.send_html_with(chat_id, html, None).await
    }

    /// Plain text (escaped here), with an optional keyboard.
    pub async fn send_text(
        &self,
        chat_id: impl Into<ChatId>,
        text: &str,
        markup: Option<ReplyMarkup>,
    ) -> Result<Message, TelegramError> {
        self.send_html_with(chat_id, &crate::texts::escape_html(text), markup)
            .await
    }

    /// Every text we send goes through here: one that Telegram's 4096 characters cannot
    /// hold is sent as several messages (see `split`), the keyboard on the last. The first
    /// message is returned: it carries the text's beginning, which replies refer to.
    pub async fn send_html_with(
        &self,
        chat_id: impl Into<ChatId>,
        html: &str,
        mut markup: Option<ReplyMarkup>,
    ) -> Result<Message, TelegramError> {
        let chat_id: ChatId = chat_id.into();
        let parts = super::split::html_parts(html, super::split::LIMIT);
        let count = parts.len();
        let mut first = None;
        for (i, text) in parts.into_iter().enumerate() {
            let params = SendMessageParams::builder()
                .chat_id(chat_id.clone())
                .text(text)
                .parse_mode(ParseMode::Html)
                .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
                .maybe_reply_markup(if i + 1 == count { markup.take() } else { None })
                .build();
            let sent = self.send_message(&params).await?;
            first.get_or_insert(sent);
        }
        first.ok_or_else(|| TelegramError::Refused {
            code: 400,
            description: "message text is empty".into(),
        })
    }
}

impl BotApi {
    /// Points the bot's updates at `url`, with the secret Telegram will send back in
    /// `X-Telegram-Bot-Api-Secret-Token`, for messages and button presses.
    pub async fn set_webhook(
        &self,
        url: &str,
        secret: &str,
        drop_pending: bool,
    ) -> Result<bool, TelegramError> {
        let params = SetWebhookParams::builder()
            .url(url)
            .secret_token(secret)
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .drop_pending_updates(drop_pending)
            .build();
        self.call("setWebhook", &params).await
    }

    pub async fn webhook_info(&self) -> Result<WebhookInfo, TelegramError> {
        self.call("getWebhookInfo", &serde_json::json!({})).await
    }

    /// The commands Telegram lists in the bot's "/" menu, for users of `language_code`
    /// (`None`: everyone without a list of their own).
    pub async fn set_my_commands(
        &self,
        commands: &[(&str, &str)],
        language_code: Option<&str>,
    ) -> Result<bool, TelegramError> {
        let params = SetMyCommandsParams::builder()
            .commands(
                commands
                    .iter()
                    .map(|(command, description)| {
                        BotCommand::builder()
                            .command(*command)
                            .description(*description)
                            .build()
                    })
                    .collect(),
            )
            .maybe_language_code(language_code.map(String::from))
            .build();
        self.call("setMyCommands", &params).await
    }

    pub async fn delete_webhook(&self, drop_pending: bool) -> Result<bool, TelegramError> {
        let params = DeleteWebhookParams::builder()
            .drop_pending_updates(drop_pending)
            .build();
        self.call("deleteWebhook", &params).await
    }
}

/// A chat id as given in configuration or a request: a number, or `@username`.
pub fn chat_id(s: &str) -> ChatId {
    match s.trim().parse::<i64>() {
        Ok(n) => ChatId::Integer(n),
        Err(_) => ChatId::String(s.trim().to_string()),
    }
}
