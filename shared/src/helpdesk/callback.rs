//! What an inline button of the helpdesk bot means, and its `callback_data` on the wire.
//! The wire strings are those of buttons already sent (`reg:p`, `new:y`, `ls:l:2`, `st:17`,
//! `cm:17`), so old messages keep working; Telegram allows at most 64 bytes.

/// Telegram's limit on `callback_data`.
pub const MAX_DATA: usize = 64;

/// Who registers: an individual, or an employee of a company (found by INN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterAs {
    Person,
    Company,
}

/// What a page of the client's issues is for: reading them, or choosing one to check the
/// status of or to comment on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMode {
    List,
    Status,
    Comment,
}

impl ListMode {
    fn code(self) -> char {
        match self {
            ListMode::List => 'l',
            ListMode::Status => 's',
            ListMode::Comment => 'c',
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        match code {
            "l" => Some(ListMode::List),
            "s" => Some(ListMode::Status),
            "c" => Some(ListMode::Comment),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// `reg:p` / `reg:c`: how to register.
    Register(RegisterAs),
    /// `new:y` / `new:n`: file the offered draft as an issue, or not.
    Draft { create: bool },
    /// `ls:<mode>:<page>`: another page of the client's issues.
    Page { mode: ListMode, page: usize },
    /// `st:<issue>`: the status.
    Status(i64),
    /// `cm:<issue>`: comment on the issue.
    Comment(i64),
}

impl Callback {
    pub fn encode(&self) -> String {
        match self {
            Callback::Register(RegisterAs::Person) => "reg:p".into(),
            Callback::Register(RegisterAs::Company) => "reg:c".into(),
            Callback::Draft { create: true } => "new:y".into(),
            Callback::Draft { create: false } => "new:n".into(),
            Callback::Page { mode, page } => format!("ls:{}:{page}", mode.code()),
            Callback::Status(id) => format!("st:{id}"),
            Callback::Comment(id) => format!("cm:{id}"),
        }
    }

    /// The button's meaning; `None` for data this bot never sent.
    pub fn parse(data: &str) -> Option<Self> {
        if data.len() > MAX_DATA {
            return None;
        }
        let parts: Vec<&str> = data.split(':').collect();
        Some(match parts.as_slice() {
            ["reg", "p"] => Callback::Register(RegisterAs::Person),
            ["reg", "c"] => Callback::Register(RegisterAs::Company),
            ["new", "y"] => Callback::Draft { create: true },
            ["new", "n"] => Callback::Draft { create: false },
            ["ls", mode, page] => Callback::Page {
                mode: ListMode::from_code(mode)?,
                page: page.parse().ok()?,
            },
            ["st", id] => Callback::Status(id.parse().ok()?),
            ["cm", id] => Callback::Comment(id.parse().ok()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_callback_round_trips_within_telegrams_limit() {
        let all = [
            Callback::Register(RegisterAs::Person),
            Callback::Register(RegisterAs::Company),
            Callback::Draft { create: true },
            Callback::Draft { create: false },
            Callback::Page {
                mode: ListMode::List,
                page: usize::MAX,
            },
            Callback::Page {
                mode: ListMode::Status,
                page: 0,
            },
            Callback::Page {
                mode: ListMode::Comment,
                page: 3,
            },
            Callback::Status(i64::MAX),
            Callback::Comment(i64::MIN),
        ];
        for c in all {
            let data = c.encode();
            assert!(data.len() <= MAX_DATA, "{data}");
            assert_eq!(Callback::parse(&data), Some(c), "{data}");
        }
    }

    /// Buttons already sent carry these strings.
    #[test]
    fn the_wire_strings_are_those_of_buttons_already_sent() {
        let wire = [
            ("reg:p", Callback::Register(RegisterAs::Person)),
            ("reg:c", Callback::Register(RegisterAs::Company)),
            ("new:y", Callback::Draft { create: true }),
            ("new:n", Callback::Draft { create: false }),
            (
                "ls:s:1",
                Callback::Page {
                    mode: ListMode::Status,
                    page: 1,
                },
            ),
            ("st:307", Callback::Status(307)),
            ("cm:301", Callback::Comment(301)),
        ];
        for (data, c) in wire {
            assert_eq!(c.encode(), data);
            assert_eq!(Callback::parse(data), Some(c));
        }
    }

    #[test]
    fn unknown_data_means_nothing() {
        for data in [
            "",
            "reg",
            "reg:x",
            "new:maybe",
            "ls:l",
            "ls:x:1",
            "ls:l:-1",
            "ls:l:1:2",
            "st:",
            "st:abc",
            "cm:1:2",
            "zz:1",
            "st:1 ",
        ] {
            assert_eq!(Callback::parse(data), None, "{data:?}");
        }
        assert_eq!(Callback::parse(&format!("st:{}", "1".repeat(70))), None);
    }
}
