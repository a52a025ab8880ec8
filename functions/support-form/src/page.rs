//! The support page: plain HTML that works without JavaScript, is usable with a keyboard and
//! a screen reader, and fits a phone. Every value shown is escaped by the template engine.

use minijinja::{Environment, context};
use zayavka::texts::Lang;

#[derive(Debug, Default, Clone)]
pub struct Values {
    pub subject: String,
    pub message: String,
    pub name: String,
    pub email: String,
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}\
main{max-width:34rem;margin:0 auto;padding:1.5rem 1rem}\
h1{font-size:1.5rem;margin:0 0 .5rem}label{display:block;font-weight:600;margin:1rem 0 .25rem}\
input,textarea{width:100%;box-sizing:border-box;font:inherit;padding:.6rem;border:1px solid #9aa3b2;border-radius:.4rem;background:#fff}\
textarea{min-height:9rem}input:focus,textarea:focus,button:focus,a:focus{outline:3px solid #2f6fed;outline-offset:2px}\
button{margin-top:1.25rem;font:inherit;font-weight:600;padding:.7rem 1.4rem;border:0;border-radius:.4rem;background:#2f6fed;color:#fff;cursor:pointer}\
.hint{font-weight:400;color:#4a5262}.error{background:#fdecec;border:1px solid #d93636;padding:.75rem;border-radius:.4rem}\
.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}\
.bind{display:inline-block;margin-top:.5rem;padding:.7rem 1.2rem;background:#229ed9;color:#fff;border-radius:.4rem;text-decoration:none;font-weight:600}";

const FORM: &str = r#"<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.page_title }}</title><style>{{ style }}</style></head>
<body><main>
<h1>{{ t.page_title }}</h1>
<p>{{ t.page_intro }}</p>
{% if error %}<div class="error" role="alert" id="form-error"><strong>{{ t.page_error }}:</strong> {{ error }}</div>{% endif %}
<form method="post" action="/support" {% if error %}aria-describedby="form-error"{% endif %}>
<input type="hidden" name="csrf" value="{{ csrf }}">
<label for="subject">{{ t.field_subject }} <span class="hint">({{ t.field_subject_hint }})</span></label>
<input id="subject" name="subject" maxlength="200" value="{{ v.subject }}">
<label for="message">{{ t.field_message }}</label>
<textarea id="message" name="message" maxlength="4000" required>{{ v.message }}</textarea>
<label for="name">{{ t.field_name }}</label>
<input id="name" name="name" maxlength="100" autocomplete="name" required value="{{ v.name }}">
<label for="email">{{ t.field_email }}</label>
<input id="email" name="email" type="email" autocomplete="email" required value="{{ v.email }}">
<div class="hp" aria-hidden="true"><label for="website">Website</label><input id="website" name="website" tabindex="-1" autocomplete="off"></div>
<button type="submit">{{ t.page_submit }}</button>
</form>
</main></body></html>
"#;

const SUCCESS: &str = r#"<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.success_title }}</title><style>{{ style }}</style></head>
<body><main>
<h1 id="done">{{ t.success_title }}</h1>
<p role="status">{{ t.success_text }}</p>
{% if bind_url %}<p>{{ t.success_bind }}</p>
<p><a class="bind" id="telegram-binding" href="{{ bind_url }}">{{ t.success_bind_link }}</a></p>{% endif %}
</main></body></html>
"#;

fn render(name: &str, src: &str, ctx: minijinja::Value) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template(name, src)
        .and_then(|_| env.get_template(name))
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "support page template failed");
            String::from(
                "<!doctype html><title>Support</title><p>Support is unavailable right now.</p>",
            )
        })
}

fn texts(lang: Lang) -> minijinja::Value {
    let t = lang.texts();
    minijinja::Value::from_serialize(std::collections::BTreeMap::from([
        ("page_title", t.page_title),
        ("page_intro", t.page_intro),
        ("field_subject", t.field_subject),
        ("field_subject_hint", t.field_subject_hint),
        ("field_message", t.field_message),
        ("field_name", t.field_name),
        ("field_email", t.field_email),
        ("page_submit", t.page_submit),
        ("page_error", t.page_error),
        ("success_title", t.success_title),
        ("success_text", t.success_text),
        ("success_bind", t.success_bind),
        ("success_bind_link", t.success_bind_link),
    ]))
}

fn code(lang: Lang) -> &'static str {
    match lang {
        Lang::Ru => "ru",
        Lang::En => "en",
    }
}

pub fn form(lang: Lang, error: Option<&str>, v: &Values, csrf: &str) -> String {
    let values = std::collections::BTreeMap::from([
        ("subject", v.subject.as_str()),
        ("message", v.message.as_str()),
        ("name", v.name.as_str()),
        ("email", v.email.as_str()),
    ]);
    render(
        "form.html",
        FORM,
        context! { lang => code(lang), t => texts(lang), style => minijinja::Value::from_safe_string(STYLE.into()), error => error, v => values, csrf => csrf },
    )
}

pub fn success(lang: Lang, bind_url: Option<&str>) -> String {
    // The link is built by us from a bot username and a token (letters, digits, _ and -);
    // shown as is, it stays readable in the page source instead of entity-escaped slashes.
    let bind_url = bind_url.map(|u| {
        if u.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":/._?=-".contains(c))
        {
            minijinja::Value::from_safe_string(u.to_string())
        } else {
            minijinja::Value::from(u)
        }
    });
    render(
        "success.html",
        SUCCESS,
        context! { lang => code(lang), t => texts(lang), style => minijinja::Value::from_safe_string(STYLE.into()), bind_url => bind_url },
    )
}
