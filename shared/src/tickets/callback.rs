//! What a button of the staff bot means, and its `callback_data` (`tk:…`, at most 64 bytes).

use super::config::Postpone;

pub const MAX_DATA: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// `tk:t:<ticket>`: «Взять в работу».
    Take(i64),
    /// `tk:i:<ticket>`: «Подробнее».
    Details(i64),
    /// `tk:p:<ticket>`: «Отложить» — shows the choices.
    PostponeMenu(i64),
    /// `tk:pp:<ticket>:<1h|4h|tm>`: postpone for this long.
    Postpone(i64, Postpone),
    /// `tk:r:<ticket>`: «Продолжить» a postponed ticket.
    Resume(i64),
    /// `tk:c:<ticket>`: «На подтверждение».
    ToConfirmation(i64),
    /// `tk:ok:<ticket>`: the author confirms it is done.
    Confirm(i64),
    /// `tk:rt:<ticket>`: the author returns it to work.
    Return(i64),
    /// `tk:nc:<ticket>`: returned without a comment.
    NoComment(i64),
    /// `tk:cat:<category>`: the category of a new ticket.
    Category(i64),
}

fn postpone_code(p: Postpone) -> &'static str {
    match p {
        Postpone::OneHour => "1h",
        Postpone::FourHours => "4h",
        Postpone::Tomorrow => "tm",
    }
}

impl Callback {
    pub fn encode(&self) -> String {
        match self {
            Callback::Take(id) => format!("tk:t:{id}"),
            Callback::Details(id) => format!("tk:i:{id}"),
            Callback::PostponeMenu(id) => format!("tk:p:{id}"),
            Callback::Postpone(id, p) => format!("tk:pp:{id}:{}", postpone_code(*p)),
            Callback::Resume(id) => format!("tk:r:{id}"),
            Callback::ToConfirmation(id) => format!("tk:c:{id}"),
            Callback::Confirm(id) => format!("tk:ok:{id}"),
            Callback::Return(id) => format!("tk:rt:{id}"),
            Callback::NoComment(id) => format!("tk:nc:{id}"),
            Callback::Category(id) => format!("tk:cat:{id}"),
        }
    }

    /// The button's meaning; `None` for data this bot never sent.
    pub fn parse(data: &str) -> Option<Self> {
        if data.len() > MAX_DATA {
            return None;
        }
        let parts: Vec<&str> = data.split(':').collect();
        let id = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
        Some(match parts.as_slice() {
            ["tk", "t", n] => Callback::Take(id(n)?),
            ["tk", "i", n] => Callback::Details(id(n)?),
            ["tk", "p", n] => Callback::PostponeMenu(id(n)?),
            ["tk", "pp", n, p] => Callback::Postpone(
                id(n)?,
                Postpone::ALL
                    .into_iter()
                    .find(|x| postpone_code(*x) == *p)?,
            ),
            ["tk", "r", n] => Callback::Resume(id(n)?),
            ["tk", "c", n] => Callback::ToConfirmation(id(n)?),
            ["tk", "ok", n] => Callback::Confirm(id(n)?),
            ["tk", "rt", n] => Callback::Return(id(n)?),
            ["tk", "nc", n] => Callback::NoComment(id(n)?),
            ["tk", "cat", n] => Callback::Category(id(n)?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_callback_round_trips_within_telegrams_limit() {
        let big = i64::MAX;
        let all = [
            Callback::Take(big),
            Callback::Details(1),
            Callback::PostponeMenu(2),
            Callback::Postpone(big, Postpone::OneHour),
            Callback::Postpone(3, Postpone::FourHours),
            Callback::Postpone(3, Postpone::Tomorrow),
            Callback::Resume(4),
            Callback::ToConfirmation(5),
            Callback::Confirm(6),
            Callback::Return(7),
            Callback::NoComment(8),
            Callback::Category(big),
        ];
        for c in all {
            let data = c.encode();
            assert!(data.len() <= MAX_DATA, "{data}");
            assert_eq!(Callback::parse(&data), Some(c), "{data}");
        }
        assert_eq!(Callback::Take(12).encode(), "tk:t:12");
    }

    #[test]
    fn unknown_data_means_nothing() {
        for data in [
            "",
            "tk",
            "tk:t",
            "tk:t:",
            "tk:t:x",
            "tk:t:0",
            "tk:t:-3",
            "tk:pp:3",
            "tk:pp:3:2h",
            "tk:zz:1",
            "st:1",
            "tk:t:1:2",
        ] {
            assert_eq!(Callback::parse(data), None, "{data:?}");
        }
    }
}
