//! INN (taxpayer number): 10 digits for a legal entity, 12 for a person or sole proprietor,
//! each with its control digits (Federal Tax Service algorithm).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InnError {
    #[error("an INN has only digits")]
    NotDigits,
    #[error("an INN has 10 digits (organisation) or 12 (person), not {0}")]
    Length(usize),
    #[error("the control digit does not match: check the INN for a typo")]
    Checksum,
}

const W10: [u32; 9] = [2, 4, 10, 3, 5, 9, 4, 6, 8];
const W12_1: [u32; 10] = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
const W12_2: [u32; 11] = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];

fn control(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| d * w).sum::<u32>() % 11 % 10
}

/// Checks an INN typed by a person (spaces and dashes allowed) and returns its digits.
pub fn parse(input: &str) -> Result<String, InnError> {
    let cleaned: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if !cleaned.chars().all(|c| c.is_ascii_digit()) || cleaned.is_empty() {
        return Err(InnError::NotDigits);
    }
    let d: Vec<u32> = cleaned.chars().filter_map(|c| c.to_digit(10)).collect();
    let ok = match d.len() {
        10 => control(&d[..9], &W10) == d[9],
        12 => control(&d[..10], &W12_1) == d[10] && control(&d[..11], &W12_2) == d[11],
        n => return Err(InnError::Length(n)),
    };
    if ok {
        Ok(cleaned)
    } else {
        Err(InnError::Checksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_inns_pass_and_typos_are_explained() {
        // Published INNs of well-known organisations and a valid 12-digit pattern.
        assert_eq!(parse("7707083893"), Ok("7707083893".into())); // Sberbank
        assert_eq!(parse("7736207543"), Ok("7736207543".into())); // Yandex
        assert_eq!(parse("500100732259"), Ok("500100732259".into()));
        assert_eq!(parse(" 7707-083-893 "), Ok("7707083893".into()));
        assert_eq!(parse("7707083894"), Err(InnError::Checksum));
        assert_eq!(parse("500100732258"), Err(InnError::Checksum));
        assert_eq!(parse("12345"), Err(InnError::Length(5)));
        assert_eq!(parse("77070838x3"), Err(InnError::NotDigits));
        assert_eq!(parse(""), Err(InnError::NotDigits));
    }
}
