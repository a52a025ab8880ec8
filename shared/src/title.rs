//! A title from the message that describes an issue or a ticket: the first sentence or line, cut at a
//! word boundary near 80 characters.

pub const TITLE_MAX: usize = 80;

pub fn derive(text: &str) -> String {
    let text = text.trim();
    let first_line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    // The first sentence: up to the first . ! ? followed by a space (or the end).
    let chars: Vec<char> = first_line.chars().collect();
    let mut end = chars.len();
    for (i, c) in chars.iter().enumerate() {
        if matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace()) {
            end = i + 1;
            break;
        }
    }
    let sentence: String = chars[..end].iter().collect();
    let sentence = sentence.trim_end_matches('.').trim().to_string();
    if sentence.chars().count() <= TITLE_MAX {
        return sentence;
    }
    let cut: String = sentence.chars().take(TITLE_MAX - 1).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(i) if i > TITLE_MAX / 2 => cut[..i].to_string(),
        _ => cut,
    };
    format!("{}…", at_word.trim_end_matches([',', ';', ':', '-', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_sentence_or_line_cut_at_a_word() {
        assert_eq!(
            derive("Не работает принтер. Очень срочно!"),
            "Не работает принтер"
        );
        assert_eq!(
            derive("\n  Сломался кондиционер\nв переговорной на 3 этаже"),
            "Сломался кондиционер"
        );
        assert_eq!(
            derive("Почему не приходит счёт? Ждём с понедельника"),
            "Почему не приходит счёт?"
        );
        assert_eq!(
            derive("версия 1.2.3 не ставится"),
            "версия 1.2.3 не ставится"
        );
        let long = "Просьба проверить настройки почтового сервера, потому что письма клиентам уходят с задержкой в несколько часов";
        let t = derive(long);
        assert!(t.chars().count() <= TITLE_MAX, "{t}");
        assert!(
            t.ends_with('…') && t.starts_with("Просьба проверить"),
            "{t}"
        );
        assert!(!t.trim_end_matches('…').ends_with(' '), "{t}");
        assert_eq!(derive("   "), "");
    }
}
