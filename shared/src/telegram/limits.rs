//! Telegram's sending limits, kept by spacing sends: about one message a second to one chat
//! and about thirty a second overall (Bot FAQ, "Broadcasting to users"). What still gets
//! through as a 429 is handled by the client's `retry_after`.

use std::collections::HashMap;
use std::time::Duration;

use frankenstein::types::ChatId;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct SendLimits {
    per_chat: Duration,
    overall: Duration,
    state: Mutex<State>,
}

struct State {
    next_overall: Instant,
    next_per_chat: HashMap<String, Instant>,
}

impl SendLimits {
    pub fn new(per_chat: Duration, overall: Duration) -> Self {
        Self {
            per_chat,
            overall,
            state: Mutex::new(State {
                next_overall: Instant::now(),
                next_per_chat: HashMap::new(),
            }),
        }
    }

    /// One message a second per chat, thirty a second overall.
    pub fn telegram_defaults() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_millis(34))
    }

    /// Waits for this chat's and the bot's next free slot, and takes it.
    pub async fn wait(&self, chat: &ChatId) {
        let key = match chat {
            ChatId::Integer(n) => n.to_string(),
            ChatId::String(s) => s.clone(),
        };
        let at = {
            let mut s = self.state.lock().await;
            let now = Instant::now();
            let chat_next = s.next_per_chat.get(&key).copied().unwrap_or(now);
            let at = now.max(chat_next).max(s.next_overall);
            s.next_overall = at + self.overall;
            s.next_per_chat.insert(key, at + self.per_chat);
            // Forget chats whose slot has passed, so the map stays small.
            if s.next_per_chat.len() > 10_000 {
                s.next_per_chat.retain(|_, t| *t > now);
            }
            at
        };
        tokio::time::sleep_until(at).await;
    }
}
