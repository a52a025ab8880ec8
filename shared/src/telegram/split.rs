//! Telegram takes at most 4096 characters of text per message (counted after the HTML is
//! parsed, in UTF-16 code units) and refuses a longer one with 400, which is final. A long
//! lead comment or support message must still reach its chat: the HTML is split into parts
//! that each fit, at a line break where one is near, never inside a tag or an entity, with
//! the open tags closed at the end of a part and opened again at the start of the next.
//! Past [`MAX_PARTS`] the rest is cut, and the last part says so.

/// Telegram's limit on a message's text.
pub const LIMIT: usize = 4096;
/// More than this many messages for one text would flood the chat; the rest is cut.
pub const MAX_PARTS: usize = 10;
/// Ends the last part when the text was cut.
pub const CUT_MARKER: &str = "\n…✂️";

/// A piece of HTML: a tag, an entity, or one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Open,
    Close,
    /// Shown as one character (`&lt;`) or as itself.
    Text,
}

struct Piece<'a> {
    raw: &'a str,
    kind: Kind,
    /// Its length as Telegram counts it (UTF-16 code units once parsed).
    shown: usize,
    newline: bool,
    /// A space or tab: a word ends before it.
    space: bool,
    /// `.`, `!`, `?` or `…`: a sentence may end here.
    stop: bool,
}

fn pieces(html: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        let (len, kind, shown) = match c {
            '<' => match rest.find('>') {
                Some(end) => {
                    let kind = if rest[1..].starts_with('/') {
                        Kind::Close
                    } else {
                        Kind::Open
                    };
                    (end + 1, kind, 0)
                }
                None => (1, Kind::Text, 1),
            },
            '&' => match rest.find(';') {
                // An entity is short; a lone `&` is just a character.
                Some(end) if end <= 10 => (end + 1, Kind::Text, 1),
                _ => (1, Kind::Text, 1),
            },
            c => (c.len_utf8(), Kind::Text, c.len_utf16()),
        };
        out.push(Piece {
            raw: &rest[..len],
            kind,
            shown,
            newline: c == '\n',
            space: kind == Kind::Text && (c == ' ' || c == '\t'),
            stop: kind == Kind::Text && matches!(c, '.' | '!' | '?' | '…'),
        });
        rest = &rest[len..];
    }
    out
}

/// The tag's name: `b` of `<b>` and `</b>`, `a` of `<a href="…">`.
fn tag_name(raw: &str) -> &str {
    let inner = raw.trim_start_matches('<').trim_start_matches('/');
    let end = inner
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(inner.len());
    &inner[..end]
}

/// The tags open after `pieces[..upto]`, outermost first.
fn open_tags<'a>(pieces: &[Piece<'a>], upto: usize) -> Vec<&'a str> {
    let mut stack: Vec<&str> = Vec::new();
    for p in &pieces[..upto] {
        match p.kind {
            Kind::Open => stack.push(p.raw),
            Kind::Close => {
                let name = tag_name(p.raw);
                if let Some(at) = stack.iter().rposition(|t| tag_name(t) == name) {
                    stack.truncate(at);
                }
            }
            Kind::Text => {}
        }
    }
    stack
}

fn part(pieces: &[Piece<'_>], start: usize, end: usize, marker: bool) -> String {
    let mut out: String = open_tags(pieces, start).concat();
    for p in &pieces[start..end] {
        out.push_str(p.raw);
    }
    for tag in open_tags(pieces, end).iter().rev() {
        out.push_str("</");
        out.push_str(tag_name(tag));
        out.push('>');
    }
    if marker {
        out.push_str(CUT_MARKER);
    }
    out
}

/// Splits `html` into parts of at most `limit` shown characters each (one part when it
/// fits), at most [`MAX_PARTS`] of them.
pub fn html_parts(html: &str, limit: usize) -> Vec<String> {
    let pieces = pieces(html);
    let total: usize = pieces.iter().map(|p| p.shown).sum();
    if total <= limit {
        return vec![html.to_string()];
    }
    let marker_len: usize = CUT_MARKER.encode_utf16().count();
    let mut parts = Vec::new();
    let mut start = 0;
    while start < pieces.len() {
        let last = parts.len() + 1 == MAX_PARTS;
        let budget = if last { limit - marker_len } else { limit };
        let mut shown = 0;
        let mut end = start;
        // The last place of each kind to cut at, best first: a paragraph's end, a line's, a
        // sentence's, a word's.
        let mut best: [Option<usize>; 4] = [None; 4];
        while end < pieces.len() && shown + pieces[end].shown <= budget {
            shown += pieces[end].shown;
            let p = &pieces[end];
            let before = end.checked_sub(1).map(|i| &pieces[i]);
            if p.newline {
                if before.is_some_and(|b| b.newline) {
                    best[0] = Some(end + 1);
                }
                best[1] = Some(end + 1);
            }
            if p.space {
                if before.is_some_and(|b| b.stop) {
                    best[2] = Some(end + 1);
                }
                best[3] = Some(end + 1);
            }
            end += 1;
        }
        if end == pieces.len() {
            parts.push(part(&pieces, start, end, false));
            break;
        }
        if last {
            parts.push(part(&pieces, start, end, true));
            break;
        }
        // The best place in the part's second half; else any word's end; never mid-word
        // unless the part is one word.
        let half = (end - start) / 2;
        let cut = best
            .iter()
            .flatten()
            .copied()
            .find(|b| b - start > half)
            .or(best[3].filter(|b| *b > start))
            .unwrap_or(end);
        parts.push(part(&pieces, start, cut, false));
        start = cut;
    }
    parts
}

/// How Telegram counts a message's text: its HTML parsed, in UTF-16 code units.
pub fn shown_len(html: &str) -> usize {
    pieces(html).iter().map(|p| p.shown).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text as shown, counted independently: tags dropped, the four entities we write
    /// decoded, UTF-16 code units.
    fn shown(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    }

    fn units(s: &str) -> usize {
        s.encode_utf16().count()
    }

    #[test]
    fn text_that_fits_is_sent_as_it_is() {
        for n in [1, 4095, 4096] {
            let text = "a".repeat(n);
            assert_eq!(html_parts(&text, LIMIT), vec![text.clone()], "{n}");
        }
        // Tags and entities do not count against the limit.
        let html = format!("<b>{}</b>&amp;", "я".repeat(4095));
        assert_eq!(html_parts(&html, LIMIT), vec![html.clone()]);
    }

    #[test]
    fn long_text_is_split_into_parts_that_fit_and_lose_nothing() {
        for text in [
            "a".repeat(4097),
            "Заявка ".repeat(1500),
            "😀".repeat(3000), // two UTF-16 units each
            format!("{}\n{}", "x".repeat(3000), "y".repeat(3000)),
        ] {
            let parts = html_parts(&text, LIMIT);
            assert!(parts.len() > 1, "{} chars", text.chars().count());
            for p in &parts {
                assert!(units(&shown(p)) <= LIMIT, "{} units", units(&shown(p)));
            }
            assert_eq!(parts.concat(), text);
        }
        // At the line break when there is one in the second half.
        let text = format!("{}\n{}", "x".repeat(3000), "y".repeat(3000));
        assert_eq!(
            html_parts(&text, LIMIT)[0],
            format!("{}\n", "x".repeat(3000))
        );
    }

    #[test]
    fn tags_are_closed_and_reopened_and_entities_never_cut() {
        let body = "&lt;Ё&gt; ".repeat(2500);
        let html = format!("<b>#42</b> от <i>Глеб</i>\n<b>{body}</b>");
        let parts = html_parts(&html, LIMIT);
        assert_eq!(parts.len(), 3);
        for p in &parts {
            assert!(units(&shown(p)) <= LIMIT);
            assert_eq!(p.matches("<b>").count(), p.matches("</b>").count(), "{p}");
            assert!(!p.ends_with('&') && !p.contains("&l<") && !p.contains("&g<"));
        }
        assert!(parts[1].starts_with("<b>&lt;Ё&gt;"), "{}", &parts[1][..20]);
        let joined: String = parts.iter().map(|p| shown(p)).collect();
        assert_eq!(joined, shown(&html));
    }

    #[test]
    fn a_long_paragraph_is_split_after_a_sentence_never_inside_a_word() {
        let sentence = "Это предложение о заявке номер сорок два, и в нём нет переносов строк. ";
        let text = sentence.repeat(120);
        let parts = html_parts(&text, LIMIT);
        assert!(parts.len() > 1);
        for p in &parts[..parts.len() - 1] {
            assert!(
                p.ends_with(". "),
                "cut after a sentence: {:?}",
                &p[p.len() - 20..]
            );
            assert!(units(&shown(p)) <= LIMIT);
        }
        assert_eq!(parts.concat(), text, "nothing lost");
        // One sentence longer than a message: cut between words.
        let words = "слово ".repeat(1500);
        for p in html_parts(&words, LIMIT).iter().rev().skip(1) {
            assert!(p.ends_with(' '), "between words");
        }
    }

    #[test]
    fn a_text_beyond_ten_parts_is_cut_with_a_marker() {
        let text = "b".repeat(10 * LIMIT + 500);
        let parts = html_parts(&text, LIMIT);
        assert_eq!(parts.len(), MAX_PARTS);
        let last = parts.last().unwrap();
        assert!(last.ends_with(CUT_MARKER));
        assert!(units(&shown(last)) <= LIMIT);
    }
}
