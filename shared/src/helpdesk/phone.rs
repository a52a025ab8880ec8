//! Phone numbers as people type them, normalised to E.164 by libphonenumber's rules
//! (`phonenumber` crate), Russia assumed when no country is given, plus the spellings a CRM
//! may have stored the same number under.

use phonenumber::{Mode, country};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a phone number")]
pub struct PhoneError(pub String);

/// `+7 (999) 000-11-22`, `8 999 000 11 22`, `9990001122` → `+79990001122`.
pub fn normalize(input: &str) -> Result<String, PhoneError> {
    let trimmed = input.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    // A Russian trunk prefix 8 before ten digits is +7; the parser wants it spelt so.
    let candidate = if !trimmed.starts_with('+') && digits.len() == 11 && digits.starts_with('8') {
        format!("+7{}", &digits[1..])
    } else {
        trimmed.to_string()
    };
    let parsed = phonenumber::parse(Some(country::Id::RU), &candidate)
        .map_err(|_| PhoneError(input.into()))?;
    if !phonenumber::is_valid(&parsed) {
        return Err(PhoneError(input.into()));
    }
    Ok(parsed.format().mode(Mode::E164).to_string())
}

/// The ways a Russian number is commonly stored, for looking a contact up:
/// `+79990001122`, `79990001122`, `89990001122`, `9990001122`.
pub fn search_variants(e164: &str) -> Vec<String> {
    let mut out = vec![e164.to_string()];
    if let Some(rest) = e164.strip_prefix("+7") {
        out.push(format!("7{rest}"));
        out.push(format!("8{rest}"));
        out.push(rest.to_string());
    } else if let Some(rest) = e164.strip_prefix('+') {
        out.push(rest.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_ways_of_typing_a_russian_number_agree() {
        for typed in [
            "+7 (999) 000-11-22",
            "8 999 000 11 22",
            "9990001122",
            "+79990001122",
            "7-999-000-11-22",
        ] {
            assert_eq!(normalize(typed), Ok("+79990001122".into()), "{typed}");
        }
        assert_eq!(normalize("+44 20 7946 0958"), Ok("+442079460958".into()));
        assert!(normalize("12").is_err());
        assert!(normalize("call me").is_err());
        assert_eq!(
            search_variants("+79990001122"),
            vec!["+79990001122", "79990001122", "89990001122", "9990001122"]
        );
    }
}
