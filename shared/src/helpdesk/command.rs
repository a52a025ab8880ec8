//! What a text message asks for before any step is looked at: a slash command, or one of
//! the menu's buttons (whose labels arrive as text).

use crate::texts::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Start,
    /// Registering again: another phone, or joining a company.
    Register,
    Menu,
    Help,
    Cancel,
    Unknown,
}

impl Command {
    /// `None` when the text is not a command; `/start@zayavka_bot payload` is `Start`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if !text.starts_with('/') {
            return None;
        }
        let word = text.split_whitespace().next().unwrap_or_default();
        let word = word.split('@').next().unwrap_or_default();
        Some(match word.to_ascii_lowercase().as_str() {
            "/start" => Command::Start,
            "/register" => Command::Register,
            "/menu" => Command::Menu,
            "/help" => Command::Help,
            "/cancel" => Command::Cancel,
            _ => Command::Unknown,
        })
    }
}

/// The menu's four actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuAction {
    Create,
    List,
    Status,
    Comment,
}

impl MenuAction {
    /// A menu button's text, in either language (a user may switch their app's language).
    pub fn from_label(text: &str) -> Option<Self> {
        let text = text.trim();
        [Lang::Ru, Lang::En].into_iter().find_map(|l| {
            let t = l.texts().helpdesk;
            [
                (t.menu_create, MenuAction::Create),
                (t.menu_list, MenuAction::List),
                (t.menu_status, MenuAction::Status),
                (t.menu_comment, MenuAction::Comment),
            ]
            .into_iter()
            .find(|(label, _)| *label == text)
            .map(|(_, a)| a)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texts::{EN_HELPDESK, RU_HELPDESK};

    #[test]
    fn commands_are_the_first_word_without_the_bots_name() {
        assert_eq!(Command::parse("/start"), Some(Command::Start));
        assert_eq!(
            Command::parse(" /START@zayavka_bot payload"),
            Some(Command::Start)
        );
        assert_eq!(Command::parse("/register"), Some(Command::Register));
        assert_eq!(Command::parse("/menu"), Some(Command::Menu));
        assert_eq!(Command::parse("/help"), Some(Command::Help));
        assert_eq!(Command::parse("/cancel"), Some(Command::Cancel));
        assert_eq!(Command::parse("/what"), Some(Command::Unknown));
        assert_eq!(Command::parse("hello /start"), None);
    }

    #[test]
    fn menu_labels_in_either_language() {
        assert_eq!(
            MenuAction::from_label(RU_HELPDESK.menu_list),
            Some(MenuAction::List)
        );
        assert_eq!(
            MenuAction::from_label(EN_HELPDESK.menu_comment),
            Some(MenuAction::Comment)
        );
        assert_eq!(MenuAction::from_label("something else"), None);
    }
}
