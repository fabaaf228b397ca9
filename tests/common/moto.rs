//! `moto_server` (the project's .venv) on a free 127.0.0.1 port, ready when it accepts TCP
//! connections, stopped when dropped; with the probe's DynamoDB table made the way the SAM
//! template makes it.

use super::{free_port, tool, wait_for_port, Guard};
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

pub struct Moto {
    pub port: u16,
    pub url: String,
    pub guard: Guard,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let mut cmd = Command::new(tool("moto_server"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let guard = Guard::spawn(cmd, &format!("moto-{port}.log"));
        assert!(
            wait_for_port(port, Duration::from_secs(60)),
            "moto_server did not listen on {port}:\n{}",
            guard.log_text()
        );
        Moto {
            port,
            url: format!("http://127.0.0.1:{port}"),
            guard,
        }
    }

    /// A DynamoDB client for the test's own setup and checks (the probe builds its own).
    pub fn dynamodb(&self) -> Client {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&self.url)
            .build();
        Client::from_conf(conf)
    }

    /// `table` as the SAM template makes it: partition key `pk` (String), on demand.
    pub fn create_table(&self, table: &str) {
        let client = self.dynamodb();
        block_on(async move {
            client
                .create_table()
                .table_name(table)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("pk")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("pk")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .expect("create table");
        });
    }

    /// Every item in `table`, by key (pages followed, at most 10,000 of them).
    pub fn scan(&self, table: &str) -> HashMap<String, HashMap<String, AttributeValue>> {
        let client = self.dynamodb();
        block_on(async move {
            let mut out = HashMap::new();
            let mut start = None;
            for _ in 0..10_000 {
                let page = client
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .expect("scan");
                for item in page.items().iter().cloned() {
                    let key = item["pk"].as_s().expect("pk is a string").clone();
                    out.insert(key, item);
                }
                start = page.last_evaluated_key().cloned();
                if start.is_none() {
                    return out;
                }
            }
            panic!("scan of {table}: more than 10,000 pages");
        })
    }
}

pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
