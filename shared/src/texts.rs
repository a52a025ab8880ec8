//! Every user-visible text, one catalogue per language. Russian is the default; English is
//! for Telegram users whose language is not Russian and for admins who choose it.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ru,
    En,
}

impl Lang {
    /// From a Telegram `language_code` or a setting: Russian for `ru…`, English otherwise.
    pub fn from_code(code: Option<&str>) -> Self {
        match code {
            None => Lang::Ru,
            Some(c) if c.to_ascii_lowercase().starts_with("ru") => Lang::Ru,
            Some(_) => Lang::En,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Ru => &RU,
            Lang::En => &EN,
        }
    }
}

pub struct Texts {
    pub new_lead: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub email: &'static str,
    pub comment: &'static str,
    pub source: &'static str,
    pub utm: &'static str,
    pub fields: &'static str,
    pub lead_subject: &'static str,
    pub batch_completed: &'static str,
    pub batch_partial: &'static str,
    pub batch_failed: &'static str,
    pub delivered_to: &'static str,
    pub not_delivered_to: &'static str,
    pub dispatch_failed: &'static str,
    pub lead_word: &'static str,
    pub support_from: &'static str,
    pub support_source_site: &'static str,
    pub support_source_telegram: &'static str,
    pub support_reply_header: &'static str,
    pub support_reply_delivered: &'static str,
    pub support_reply_not_bound: &'static str,
    /// To the admins: the reply goes to the visitor's e-mail.
    pub support_reply_emailed: &'static str,
    pub support_reply_email_failed: &'static str,
    /// SES told us later that the reply did not arrive.
    pub support_reply_bounced: &'static str,
    pub support_email_subject: &'static str,
    pub support_email_continue: &'static str,
    pub support_reply_blocked: &'static str,
    pub support_reply_failed: &'static str,
    pub support_reply_hint: &'static str,
    pub support_bound: &'static str,
    pub support_token_unknown: &'static str,
    pub support_token_expired: &'static str,
    pub support_token_used: &'static str,
    pub support_start: &'static str,
    pub support_not_bound: &'static str,
    pub support_received: &'static str,
    pub support_attachment: &'static str,
    pub page_title: &'static str,
    pub page_intro: &'static str,
    pub field_subject: &'static str,
    pub field_subject_hint: &'static str,
    pub field_message: &'static str,
    pub field_name: &'static str,
    pub field_email: &'static str,
    pub page_submit: &'static str,
    pub page_error: &'static str,
    /// The form was not posted by its own page (or the page is a day old).
    pub page_expired: &'static str,
    pub success_title: &'static str,
    pub success_text: &'static str,
    pub success_bind: &'static str,
    pub success_bind_link: &'static str,
    pub helpdesk: &'static HelpdeskTexts,
}

/// The helpdesk bot's texts; `{name}`-style placeholders are filled with [`fill`].
pub struct HelpdeskTexts {
    pub greeting: &'static str,
    pub kind_person: &'static str,
    pub kind_company: &'static str,
    pub choose_kind: &'static str,
    pub welcome_back: &'static str,
    pub ask_full_name: &'static str,
    pub bad_full_name: &'static str,
    pub ask_inn: &'static str,
    pub inn_not_digits: &'static str,
    pub inn_length: &'static str,
    pub inn_checksum: &'static str,
    pub company_not_found: &'static str,
    pub another_inn: &'static str,
    pub company_found: &'static str,
    pub ask_phone: &'static str,
    pub share_phone: &'static str,
    pub bad_phone: &'static str,
    pub not_own_contact: &'static str,
    /// A typed number that belongs to an existing contact: only the button proves it.
    pub prove_number: &'static str,
    /// The contact found is not in the company the user named; it is not moved.
    pub contact_elsewhere: &'static str,
    pub registered: &'static str,
    pub registered_company: &'static str,
    pub menu_create: &'static str,
    pub menu_list: &'static str,
    pub menu_status: &'static str,
    pub menu_comment: &'static str,
    pub menu_prompt: &'static str,
    pub help: &'static str,
    pub cancelled: &'static str,
    pub need_registration: &'static str,
    pub unknown_command: &'static str,
    pub ask_issue_text: &'static str,
    pub text_only: &'static str,
    pub issue_created: &'static str,
    pub issue_not_created: &'static str,
    /// A redelivered update whose issue Okdesk may already have.
    pub issue_maybe_created: &'static str,
    pub too_many_issues: &'static str,
    pub offer_draft: &'static str,
    pub draft_yes: &'static str,
    pub draft_no: &'static str,
    pub draft_gone: &'static str,
    pub no_issues: &'static str,
    pub list_header: &'static str,
    pub choose_status: &'static str,
    pub choose_comment: &'static str,
    pub prev: &'static str,
    pub next: &'static str,
    pub issue_status: &'static str,
    pub issue_not_yours: &'static str,
    pub ask_comment: &'static str,
    pub comment_added: &'static str,
    pub comment_not_added: &'static str,
    pub okdesk_unreachable: &'static str,
    pub okdesk_token_rejected: &'static str,
    pub okdesk_refused: &'static str,
    pub status_changed: &'static str,
    pub new_comment: &'static str,
    pub staff: &'static str,
    pub attachment_only: &'static str,
    pub attachment_comment: &'static str,
    pub attachment_failed: &'static str,
    /// The bot's command list in Telegram's "/" menu: (command, description).
    pub commands: &'static [(&'static str, &'static str)],
}

pub static RU_HELPDESK: HelpdeskTexts = HelpdeskTexts {
    greeting: "Здравствуйте! Я бот службы поддержки: помогу создать заявку и следить за ней.\n\nДля начала зарегистрируйтесь. Кто вы?",
    kind_person: "👤 Физическое лицо",
    kind_company: "🏢 Юридическое лицо",
    choose_kind: "Выберите вариант кнопкой ниже.",
    welcome_back: "С возвращением, {name}! Выберите действие в меню.",
    ask_full_name: "Введите ФИО полностью, например: Иванов Иван Иванович.\n/cancel — отмена.",
    bad_full_name: "Не похоже на ФИО. Напишите фамилию и имя буквами, например: Иванов Иван.",
    ask_inn: "Введите ИНН компании: 10 цифр у организации или 12 у ИП.\n/cancel — отмена.",
    inn_not_digits: "ИНН состоит только из цифр. Введите его ещё раз.",
    inn_length: "В ИНН 10 цифр (организация) или 12 (ИП), а здесь {n}. Проверьте и введите ещё раз.",
    inn_checksum: "Контрольная цифра ИНН не сходится — похоже на опечатку. Проверьте и введите ещё раз.",
    company_not_found: "Компания с ИНН {inn} не найдена в Okdesk. Проверьте ИНН или зарегистрируйтесь как физическое лицо.",
    another_inn: "🔁 Ввести другой ИНН",
    company_found: "Компания найдена: «{company}».\nТеперь введите ваше ФИО, например: Иванов Иван Иванович.",
    ask_phone: "Отправьте номер телефона кнопкой «📱 Отправить номер» или напишите его, например: +7 999 123-45-67.",
    share_phone: "📱 Отправить номер",
    bad_phone: "Не удалось распознать номер «{phone}». Напишите его с кодом, например: +7 999 123-45-67.",
    not_own_contact: "Это чужой контакт. Отправьте свой номер кнопкой «📱 Отправить номер» или напишите его.",
    prove_number: "Этот номер уже есть у нас. Чтобы подтвердить, что он ваш, нажмите кнопку «📱 Отправить номер» ниже.",
    contact_elsewhere: "Ваш контакт в Okdesk не относится к компании «{company}», а бот его не переносит: заявки будут создаваться от вашего контакта как есть. Чтобы сменить компанию, напишите в поддержку.",
    registered: "Готово, {name}! Регистрация завершена. Теперь можно создавать заявки и следить за ними — выберите действие в меню.",
    registered_company: "Компания: «{company}».",
    menu_create: "📝 Создать заявку",
    menu_list: "📋 Мои заявки",
    menu_status: "🔄 Проверить статус",
    menu_comment: "💬 Добавить комментарий",
    menu_prompt: "Выберите действие в меню ниже.",
    help: "Что я умею:\n📝 Создать заявку — опишите проблему одним сообщением, я создам заявку в Okdesk и пришлю её номер и ссылку.\n📋 Мои заявки — список ваших заявок со статусами.\n🔄 Проверить статус — текущий статус выбранной заявки.\n💬 Добавить комментарий — комментарий к заявке для службы поддержки.\n\nОб изменении статуса и ответах сотрудников я сообщу сам.\n\nКоманды: /menu — меню, /cancel — отменить текущий шаг, /register — зарегистрироваться заново (другой телефон или компания).",
    cancelled: "Отменено.",
    need_registration: "Сначала зарегистрируйтесь: отправьте /start.",
    unknown_command: "Не знаю такой команды. /help — что я умею.",
    ask_issue_text: "Опишите проблему одним сообщением: что случилось, где и когда. Можно приложить фото или файл с подписью. Заголовок заявки я составлю сам.\n/cancel — отмена.",
    text_only: "Пришлите, пожалуйста, текст (или фото/файл с подписью).",
    issue_created: "✅ Заявка #{id} создана: {title}\n{url}",
    issue_not_created: "Заявка не создана. Отправьте описание ещё раз чуть позже.",
    issue_maybe_created: "Связь прервалась, пока создавалась заявка, и она могла уже появиться. Проверьте «📋 Мои заявки», прежде чем отправлять её снова.",
    too_many_issues: "За этот час создано уже много заявок. Попробуйте позже или дополните существующую заявку комментарием.",
    offer_draft: "Создать заявку из этого сообщения?\nЗаголовок: {title}",
    draft_yes: "✅ Создать заявку",
    draft_no: "✖️ Не нужно",
    draft_gone: "Это сообщение уже неактуально. Нажмите «📝 Создать заявку» и опишите проблему.",
    no_issues: "У вас пока нет заявок. Чтобы создать заявку, нажмите «📝 Создать заявку».",
    list_header: "📋 Ваши заявки ({from}–{to} из {total}):",
    choose_status: "Выберите заявку, чтобы узнать её статус:",
    choose_comment: "Выберите заявку для комментария:",
    prev: "◀️ Назад",
    next: "Вперёд ▶️",
    issue_status: "Заявка #{id}: {title}\nСтатус: {status}\n{url}",
    issue_not_yours: "Эта заявка не найдена среди ваших.",
    ask_comment: "Напишите комментарий к заявке #{id} одним сообщением.\n/cancel — отмена.",
    comment_added: "💬 Комментарий добавлен к заявке #{id}.",
    comment_not_added: "Комментарий не добавлен. Отправьте его ещё раз чуть позже.",
    okdesk_unreachable: "Okdesk сейчас недоступен, попробуйте позже.",
    okdesk_token_rejected: "Okdesk отклонил токен API — сообщите администратору.",
    okdesk_refused: "Okdesk не принял запрос — сообщите администратору.",
    status_changed: "Заявка #{id}: {old} → {new}",
    new_comment: "💬 Новый комментарий к заявке #{id} от {author}:",
    staff: "сотрудника поддержки",
    attachment_only: "[вложение — откройте заявку в Okdesk]",
    attachment_comment: "Файл из Telegram",
    attachment_failed: "Файл приложить не удалось — отправьте его ещё раз комментарием к заявке.",
    commands: &[
        (
            "menu",
            "Меню: создать заявку, мои заявки, статус, комментарий",
        ),
        ("help", "Что умеет бот"),
        ("cancel", "Отменить текущий шаг"),
        ("register", "Зарегистрироваться заново"),
    ],
};

pub static EN_HELPDESK: HelpdeskTexts = HelpdeskTexts {
    greeting: "Hello! I am the support desk bot: I help you create requests and follow them.\n\nFirst, please register. Who are you?",
    kind_person: "👤 Individual",
    kind_company: "🏢 Company",
    choose_kind: "Please choose with a button below.",
    welcome_back: "Welcome back, {name}! Choose an action in the menu.",
    ask_full_name: "Please type your full name, e.g. John Smith.\n/cancel to stop.",
    bad_full_name: "That does not look like a name. Please type your name in letters, e.g. John Smith.",
    ask_inn: "Please type the company's INN: 10 digits for an organisation, 12 for a sole proprietor.\n/cancel to stop.",
    inn_not_digits: "An INN has digits only. Please type it again.",
    inn_length: "An INN has 10 digits (organisation) or 12 (sole proprietor), this one has {n}. Please check and type it again.",
    inn_checksum: "The INN's control digit does not match, it looks like a typo. Please check and type it again.",
    company_not_found: "No company with INN {inn} was found in Okdesk. Check the INN or register as an individual.",
    another_inn: "🔁 Enter another INN",
    company_found: "Company found: “{company}”.\nNow please type your full name, e.g. John Smith.",
    ask_phone: "Send your phone number with the “📱 Share my number” button or type it, e.g. +44 20 7946 0958.",
    share_phone: "📱 Share my number",
    bad_phone: "Could not read the number “{phone}”. Please type it with the country code, e.g. +44 20 7946 0958.",
    not_own_contact: "That is someone else's contact. Please share your own number with the button or type it.",
    prove_number: "This number is already known to us. To confirm it is yours, please press “📱 Share my number” below.",
    contact_elsewhere: "Your Okdesk contact does not belong to “{company}”, and the bot does not move it: your issues will be filed from your contact as it is. To change the company, please write to support.",
    registered: "Done, {name}! You are registered. Now you can create requests and follow them: choose an action in the menu.",
    registered_company: "Company: “{company}”.",
    menu_create: "📝 New request",
    menu_list: "📋 My requests",
    menu_status: "🔄 Check status",
    menu_comment: "💬 Add a comment",
    menu_prompt: "Choose an action in the menu below.",
    help: "What I can do:\n📝 New request: describe the problem in one message; I create a request in Okdesk and send you its number and link.\n📋 My requests: your requests with their statuses.\n🔄 Check status: the current status of a request.\n💬 Add a comment: a comment on a request for the support team.\n\nI tell you myself when a status changes or the team answers.\n\nCommands: /menu for the menu, /cancel to stop the current step, /register to register again (another phone or company).",
    cancelled: "Cancelled.",
    need_registration: "Please register first: send /start.",
    unknown_command: "I do not know that command. /help shows what I can do.",
    ask_issue_text: "Describe the problem in one message: what happened, where and when. You may attach a photo or a file with a caption. I will write the title myself.\n/cancel to stop.",
    text_only: "Please send text (or a photo or file with a caption).",
    issue_created: "✅ Request #{id} created: {title}\n{url}",
    issue_not_created: "The request was not created. Please send the description again a little later.",
    issue_maybe_created: "The connection broke while the request was being created, so it may already exist. Please check “📋 My requests” before sending it again.",
    too_many_issues: "Many requests were created this hour already. Please try later, or add a comment to an existing request.",
    offer_draft: "Create a request from this message?\nTitle: {title}",
    draft_yes: "✅ Create the request",
    draft_no: "✖️ No, thanks",
    draft_gone: "That message is no longer pending. Press “📝 New request” and describe the problem.",
    no_issues: "You have no requests yet. To create one, press “📝 New request”.",
    list_header: "📋 Your requests ({from}–{to} of {total}):",
    choose_status: "Choose a request to see its status:",
    choose_comment: "Choose a request to comment on:",
    prev: "◀️ Back",
    next: "Next ▶️",
    issue_status: "Request #{id}: {title}\nStatus: {status}\n{url}",
    issue_not_yours: "This request is not among yours.",
    ask_comment: "Type your comment on request #{id} in one message.\n/cancel to stop.",
    comment_added: "💬 Comment added to request #{id}.",
    comment_not_added: "The comment was not added. Please send it again a little later.",
    okdesk_unreachable: "Okdesk is not reachable right now, please try later.",
    okdesk_token_rejected: "Okdesk rejected the API token: please tell the administrator.",
    okdesk_refused: "Okdesk refused the request: please tell the administrator.",
    status_changed: "Request #{id}: {old} → {new}",
    new_comment: "💬 New comment on request #{id} from {author}:",
    staff: "the support team",
    attachment_only: "[attachment: open the request in Okdesk]",
    attachment_comment: "File from Telegram",
    attachment_failed: "The file could not be attached: please send it again as a comment on the request.",
    commands: &[
        ("menu", "Menu: new request, my requests, status, comment"),
        ("help", "What the bot can do"),
        ("cancel", "Stop the current step"),
        ("register", "Register again"),
    ],
};

pub static RU: Texts = Texts {
    new_lead: "Новая заявка",
    name: "Имя",
    phone: "Телефон",
    email: "E-mail",
    comment: "Комментарий",
    source: "Источник",
    utm: "UTM",
    fields: "Дополнительно",
    lead_subject: "Новая заявка: {lead_name}",
    batch_completed: "Заявка доставлена во все интеграции",
    batch_partial: "Заявка доставлена частично",
    batch_failed: "Заявку не удалось доставить",
    delivered_to: "Доставлено",
    not_delivered_to: "Не доставлено",
    dispatch_failed: "Заявку не удалось поставить в очередь; повтор будет автоматически",
    lead_word: "Заявка",
    support_from: "от",
    support_source_site: "сайт",
    support_source_telegram: "Telegram",
    support_reply_header: "📩 Ответ поддержки:",
    support_reply_delivered: "✅ Ответ доставлен пользователю.",
    support_reply_not_bound: "У пользователя нет привязки к Telegram: ответ сохранён и будет виден в его обращениях на сайте.",
    support_reply_emailed: "✉️ У пользователя нет привязки к Telegram: ответ отправлен на e-mail {email}.",
    support_reply_email_failed: "⚠️ Ответ не удалось отправить на e-mail {email}: {error}. Он сохранён в обращении на сайте.",
    support_email_subject: "Ответ на ваше обращение в поддержку",
    support_reply_bounced: "⚠️ Ответ на e-mail {email} не доставлен ({error}). Он сохранён в обращении на сайте.",
    support_email_continue: "Продолжить переписку в Telegram: {link}",
    support_reply_blocked: "Пользователь заблокировал бота: ответ сохранён и будет виден в его обращениях на сайте.",
    support_reply_failed: "Не удалось доставить ответ сейчас, попробуйте ещё раз позже.",
    support_reply_hint: "Чтобы ответить пользователю, ответьте (Reply) на его сообщение от бота.",
    support_bound: "Готово! Аккаунт на сайте привязан. Пишите сюда — ответ придёт в этот чат.",
    support_token_unknown: "Ссылка не распознана. Откройте ссылку с сайта ещё раз.",
    support_token_expired: "Срок действия ссылки истёк (24 часа). Отправьте обращение на сайте ещё раз, чтобы получить новую.",
    support_token_used: "Эта ссылка уже использована. Если это были не вы, отправьте обращение на сайте, чтобы получить новую.",
    support_start: "Здравствуйте! Это бот поддержки. Чтобы писать нам отсюда, откройте ссылку, которую сайт показал после отправки обращения.",
    support_not_bound: "Сначала привяжите аккаунт: откройте ссылку, которую сайт показал после отправки обращения.",
    support_received: "Сообщение передано в поддержку. Ответ придёт сюда.",
    support_attachment: "[вложение]",
    page_title: "Связаться с поддержкой",
    page_intro: "Опишите вопрос — мы ответим на e-mail или в Telegram.",
    field_subject: "Тема",
    field_subject_hint: "необязательно",
    field_message: "Сообщение",
    field_name: "Имя",
    field_email: "E-mail",
    page_submit: "Отправить",
    page_error: "Проверьте форму",
    page_expired: "форма устарела или отправлена не с этой страницы — проверьте текст и отправьте ещё раз",
    success_title: "Сообщение отправлено",
    success_text: "Спасибо! Поддержка получила ваше сообщение.",
    success_bind: "Хотите получить ответ в Telegram? Откройте бота по ссылке и нажмите «Запустить»:",
    success_bind_link: "Получать ответы в Telegram",
    helpdesk: &RU_HELPDESK,
};

pub static EN: Texts = Texts {
    new_lead: "New lead",
    name: "Name",
    phone: "Phone",
    email: "E-mail",
    comment: "Comment",
    source: "Source",
    utm: "UTM",
    fields: "More",
    lead_subject: "New lead: {lead_name}",
    batch_completed: "Lead delivered to every integration",
    batch_partial: "Lead delivered in part",
    batch_failed: "Lead could not be delivered",
    delivered_to: "Delivered",
    not_delivered_to: "Not delivered",
    dispatch_failed: "Lead could not be queued; it will be retried automatically",
    lead_word: "Lead",
    support_from: "from",
    support_source_site: "site",
    support_source_telegram: "Telegram",
    support_reply_header: "📩 Reply from support:",
    support_reply_delivered: "✅ Reply delivered to the user.",
    support_reply_not_bound: "The user has no Telegram binding: the reply is kept and shows in their thread on the site.",
    support_reply_emailed: "✉️ The user has no Telegram binding: the reply was sent to {email}.",
    support_reply_email_failed: "⚠️ The reply could not be sent to {email}: {error}. It is kept in their thread on the site.",
    support_email_subject: "Reply to your support request",
    support_reply_bounced: "⚠️ The reply to {email} was not delivered ({error}). It is kept in their thread on the site.",
    support_email_continue: "Continue the conversation in Telegram: {link}",
    support_reply_blocked: "The user blocked the bot: the reply is kept and shows in their thread on the site.",
    support_reply_failed: "The reply could not be delivered right now; please try again later.",
    support_reply_hint: "To answer a user, reply to their message from the bot.",
    support_bound: "Done! Your site account is connected. Write here and the answer will come to this chat.",
    support_token_unknown: "This link is not recognised. Please open the link from the site again.",
    support_token_expired: "This link has expired (24 hours). Send your request on the site again to get a new one.",
    support_token_used: "This link was already used. If it was not you, send a request on the site to get a new one.",
    support_start: "Hello! This is the support bot. To write to us from here, open the link the site showed after you sent your request.",
    support_not_bound: "Please connect your account first: open the link the site showed after you sent your request.",
    support_received: "Your message was passed to support. The answer will come here.",
    support_attachment: "[attachment]",
    page_title: "Contact support",
    page_intro: "Describe your question and we will answer by e-mail or in Telegram.",
    field_subject: "Subject",
    field_subject_hint: "optional",
    field_message: "Message",
    field_name: "Name",
    field_email: "E-mail",
    page_submit: "Send",
    page_error: "Please check the form",
    page_expired: "the form has expired or was not sent from this page; please check the text and send it again",
    success_title: "Message sent",
    success_text: "Thank you! Support has your message.",
    success_bind: "Want the answer in Telegram? Open the bot with this link and press Start:",
    success_bind_link: "Get answers in Telegram",
    helpdesk: &EN_HELPDESK,
};

/// Fills `{name}` placeholders of a catalogue text in one pass, so a value that itself
/// contains `{…}` (a user's text) is never expanded.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (close, *v))
        }) {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for Telegram's HTML parse mode (and for HTML e-mail).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_unless_told_otherwise() {
        assert_eq!(Lang::from_code(None), Lang::Ru);
        assert_eq!(Lang::from_code(Some("ru-RU")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("en")), Lang::En);
        assert_eq!(Lang::from_code(Some("uk")), Lang::En);
    }

    #[test]
    fn placeholders_are_filled_once() {
        assert_eq!(
            fill(
                "#{id}: {title} {url}",
                &[("id", "7"), ("title", "{url}"), ("url", "u")]
            ),
            "#7: {url} u"
        );
        assert_eq!(fill("{missing} {", &[]), "{missing} {");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<b>&\"x\"</b>"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"
        );
    }
}
