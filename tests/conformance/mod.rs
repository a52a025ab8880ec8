mod mailer;
mod queue;
mod table;
