//! E-mail: the `new_lead` template, text and HTML parts, through the mailer port.

use minijinja::Environment;

use crate::leads::Lead;
use crate::leads::notify::lead_fields;
use crate::outbound::DeliveryError;
use crate::ports::{Email, Mailer};
use crate::texts::Lang;

const NEW_LEAD_TEXT: &str =
    "{{ title }} #{{ lead_id }}\n{% for f in fields %}{{ f.0 }}: {{ f.1 }}\n{% endfor %}";
const NEW_LEAD_HTML: &str = "<h2>{{ title }} #{{ lead_id }}</h2>\n<table>\n{% for f in fields %}<tr><th align=\"left\">{{ f.0 }}</th><td>{{ f.1 }}</td></tr>\n{% endfor %}</table>\n";

/// Replaces `{lead_name}`, `{lead_phone}`, `{lead_email}`, `{lead_id}` and `{lead_source}`
/// in a subject line (the placeholders the seed's users already write).
pub fn fill_placeholders(template: &str, lead_id: &str, lead: &Lead) -> String {
    fn opt(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or_default()
    }
    let name = lead.display_name();
    // One pass: a lead's own text that looks like a placeholder stays as it is.
    crate::texts::fill(
        template,
        &[
            ("lead_name", &name),
            ("lead_phone", opt(&lead.phone)),
            ("lead_email", opt(&lead.email)),
            ("lead_source", opt(&lead.source)),
            ("lead_id", lead_id),
        ],
    )
    // A subject is one line: a lead's name with a line break in it would make the e-mail
    // invalid (and the integration fail for good), so breaks and other controls become
    // spaces.
    .chars()
    .map(|c| if c.is_control() { ' ' } else { c })
    .collect::<String>()
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ")
}

pub fn render(
    lead_id: &str,
    lead: &Lead,
    subject: Option<&str>,
    lang: Lang,
) -> Result<(String, String, String), DeliveryError> {
    let t = lang.texts();
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    let add = |env: &mut Environment<'_>, name: &'static str, src: &'static str| {
        env.add_template(name, src)
            .map_err(|e| DeliveryError::fatal(format!("template {name}: {e}")))
    };
    add(&mut env, "new_lead.txt", NEW_LEAD_TEXT)?;
    add(&mut env, "new_lead.html", NEW_LEAD_HTML)?;
    let ctx = minijinja::context! {
        title => t.new_lead,
        lead_id => lead_id,
        fields => lead_fields(lead, lang),
    };
    let render = |name: &str| {
        env.get_template(name)
            .and_then(|tpl| tpl.render(&ctx))
            .map_err(|e| DeliveryError::fatal(format!("template {name}: {e}")))
    };
    let subject = fill_placeholders(subject.unwrap_or(t.lead_subject), lead_id, lead);
    Ok((subject, render("new_lead.txt")?, render("new_lead.html")?))
}

pub async fn send(
    mailer: &dyn Mailer,
    from: &str,
    to: &[String],
    lead_id: &str,
    lead: &Lead,
    subject: Option<&str>,
) -> Result<String, DeliveryError> {
    let (subject, text, html) = render(lead_id, lead, subject, Lang::Ru)?;
    mailer
        .send(&Email {
            tags: Vec::new(),
            from: from.to_string(),
            to: to.to_vec(),
            subject,
            text,
            html: Some(html),
        })
        .await
        .map_err(DeliveryError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_stays_one_line_whatever_the_lead_says() {
        let lead = Lead {
            name: Some("Анна\r\nBcc: all@example.com\tИвановна".into()),
            ..Lead::default()
        };
        assert_eq!(
            fill_placeholders("Заявка: {lead_name}", "L-1", &lead),
            "Заявка: Анна Bcc: all@example.com Ивановна"
        );
    }
}
