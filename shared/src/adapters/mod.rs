//! Implementations of the ports: AWS (DynamoDB, SQS, SES, Lambda's event queues, Parameter Store) and embedded (SQLite, outbox).

pub mod aws;
pub mod dynamodb;
mod dynamodb_expr;
mod dynamodb_schema;
pub mod lambda_invoke;
pub mod outbox;
pub mod ses;
pub mod sqlite;
pub mod sqlite_queue;
pub mod sqlite_table;
pub mod sqs;
pub mod ssm;

pub use dynamodb::DynamoTable;
pub use lambda_invoke::InvokedQueues;
pub use outbox::OutboxMailer;
pub use ses::SesMailer;
pub use sqlite::Db;
pub use sqlite_queue::EmbeddedQueue;
pub use sqlite_table::EmbeddedTable;
pub use sqs::SqsQueue;
pub use ssm::SsmParameters;
