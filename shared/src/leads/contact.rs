//! A customer's phone and e-mail in one spelling, so that the same customer is recognised
//! however a form wrote them: the CRM look-ups (amoCRM, Bitrix24) compare through here, and
//! so will any search by phone.

/// A phone number as digits with its country code, e.g. `79990001122`; `None` when the text
/// holds too few or too many digits to be a number.
///
/// Russian numbers come in many spellings that are one number: `+7 999 000-11-22`,
/// `8 (999) 0001122`, `79990001122` and the bare ten digits `9990001122` all give
/// `79990001122` (a leading 8 is the domestic trunk prefix, not a country code). An
/// extension (`доб. 5`, `ext 5`, `#5`) is not part of the number. Other numbers keep their
/// digits as written, which is right when they were written in international form.
pub fn phone(raw: &str) -> Option<String> {
    // The number ends where words begin: "+7 999 000-11-22 доб. 5".
    let number = raw
        .split(|c: char| c.is_alphabetic() || c == '#' || c == ',' || c == ';')
        .next()
        .unwrap_or_default();
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let international = number.trim_start().starts_with('+');
    let canonical = match digits.len() {
        11 if !international && digits.starts_with('8') => format!("7{}", &digits[1..]),
        // Ten digits without a country code: a Russian number (mobile 9xx, or a city code).
        10 if !international => format!("7{digits}"),
        _ => digits,
    };
    // E.164 allows at most 15 digits; fewer than 10 is no reachable number of ours.
    (10..=15).contains(&canonical.len()).then_some(canonical)
}

/// The digits a CRM's text search is given for a phone: the last ten of a Russian number
/// (what every spelling of it contains, `+7…` and `8…` alike), else all of them.
pub fn phone_search_key(canonical: &str) -> &str {
    if is_russian(canonical) {
        &canonical[1..]
    } else {
        canonical
    }
}

/// The spellings of one number a CRM that compares phones by their digits may hold: the
/// international `+7…` and, for a Russian number, the domestic `8…`.
pub fn phone_spellings(canonical: &str) -> Vec<String> {
    let mut out = vec![format!("+{canonical}")];
    if is_russian(canonical) {
        out.push(format!("8{}", &canonical[1..]));
    }
    out
}

fn is_russian(canonical: &str) -> bool {
    canonical.len() == 11 && canonical.starts_with('7')
}

/// An e-mail address trimmed and lower-cased; `None` when it is not one.
///
/// The local part is case-sensitive by the letter of RFC 5321, but no mail service people
/// use treats it so, and a customer who typed `Gleb@` once and `gleb@` later is one person.
pub fn email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !e.contains(char::is_whitespace)).then_some(e)
}

/// Whether two phone spellings are the same number.
pub fn same_phone(a: &str, b: &str) -> bool {
    matches!((phone(a), phone(b)), (Some(x), Some(y)) if x == y)
}

/// Whether two e-mail spellings are the same address.
pub fn same_email(a: &str, b: &str) -> bool {
    matches!((email(a), email(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_spellings_are_one_number() {
        for raw in [
            "+7 999 000-11-22",
            "8 (999) 0001122",
            "79990001122",
            "+79990001122",
            "9990001122",
            "8-999-000-11-22",
            " +7(999)000 11 22 ",
            "+7 999 000-11-22 доб. 5",
            "8 999 000 11 22 ext 12",
        ] {
            assert_eq!(phone(raw).as_deref(), Some("79990001122"), "{raw}");
        }
        assert!(same_phone("+7 999 000-11-22", "8 (999) 0001122"));
        assert!(!same_phone("+7 999 000-11-22", "+7 999 000-11-23"));
    }

    #[test]
    fn other_countries_keep_their_digits() {
        assert_eq!(phone("+44 20 7946 0958").as_deref(), Some("442079460958"));
        // An international 8… is not a trunk prefix.
        assert_eq!(phone("+8 1234 567 890").as_deref(), Some("81234567890"));
        assert_eq!(phone("+1 202 555 0173").as_deref(), Some("12025550173"));
    }

    #[test]
    fn what_is_no_number_is_none() {
        for raw in [
            "",
            "звоните вечером",
            "123-45",
            "+7 999",
            "1234567890123456",
        ] {
            assert_eq!(phone(raw), None, "{raw}");
        }
        assert!(!same_phone("", ""));
    }

    #[test]
    fn search_key_and_spellings() {
        assert_eq!(phone_search_key("79990001122"), "9990001122");
        assert_eq!(phone_search_key("442079460958"), "442079460958");
        assert_eq!(
            phone_spellings("79990001122"),
            vec!["+79990001122".to_string(), "89990001122".to_string()]
        );
        assert_eq!(phone_spellings("442079460958"), vec!["+442079460958"]);
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            email("  Gleb@Example.COM ").as_deref(),
            Some("gleb@example.com")
        );
        assert!(same_email("GLEB@example.com", "gleb@EXAMPLE.com "));
        assert!(!same_email("gleb@example.com", "gleb2@example.com"));
        for raw in ["", "gleb", "@example.com", "gleb@", "gl eb@example.com"] {
            assert_eq!(email(raw), None, "{raw}");
        }
    }
}
