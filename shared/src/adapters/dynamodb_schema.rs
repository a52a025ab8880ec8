//! Creating the table as the template declares it: pk/sk, the gsi1 index, on-demand
//! billing, and TTL on `ttl` (what `zayavka init-aws` does against moto or an account).

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::dynamodb::{DynamoTable, build_err, classify};
use crate::ports::table::{GSI1, GSI1_PK, GSI1_SK, PK, SK, StoreError, TTL};

fn string_attr(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(build_err)
}

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(build_err)
}

fn gsi1() -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key_element(GSI1_PK, KeyType::Hash)?)
        .key_schema(key_element(GSI1_SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build_err)
}

impl DynamoTable {
    /// Creates the table with its index and turns on expiry; an existing table is kept.
    pub async fn ensure_table(&self) -> Result<bool, StoreError> {
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(string_attr(PK)?)
            .attribute_definitions(string_attr(SK)?)
            .attribute_definitions(string_attr(GSI1_PK)?)
            .attribute_definitions(string_attr(GSI1_SK)?)
            .key_schema(key_element(PK, KeyType::Hash)?)
            .key_schema(key_element(SK, KeyType::Range)?)
            .global_secondary_indexes(gsi1()?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {
                self.enable_ttl().await?;
                Ok(true)
            }
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(false),
            Err(e) => Err(classify("CreateTable", e)),
        }
    }

    async fn enable_ttl(&self) -> Result<(), StoreError> {
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL)
                    .enabled(true)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(|e| classify("UpdateTimeToLive", e))?;
        Ok(())
    }
}
