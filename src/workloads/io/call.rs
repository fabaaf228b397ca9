//! One PutItem call, timed, its attempts counted, its failure named.

use super::client::ATTEMPTS;
use super::errors::{cut, error_code};
use super::schedule::{InFlight, DEADLINE_ERROR};
use super::{CallSample, PARTITION_KEY, PAYLOAD_ATTRIBUTE, TTL_ATTRIBUTE};
use crate::measure::{Deadline, Stopwatch};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::cell::Cell;
use std::sync::Arc;

/// One PutItem, everything it needs owned so it can run in its own task.
pub(super) struct Call {
    pub client: Client,
    pub table: Arc<str>,
    pub key: String,
    pub payload: Blob,
    pub expires_at: u64,
    pub level: u32,
    pub concurrency: u32,
    pub item: u32,
}

impl Call {
    /// The call's sample, and the error's full text when it failed.
    pub async fn put(
        self,
        clock: Stopwatch,
        deadline: Deadline,
        in_flight: &InFlight,
    ) -> (CallSample, Option<String>) {
        let request = self
            .client
            .put_item()
            .table_name(&*self.table)
            .item(PARTITION_KEY, AttributeValue::S(self.key))
            .item(
                TTL_ATTRIBUTE,
                AttributeValue::N(self.expires_at.to_string()),
            )
            .item(PAYLOAD_ATTRIBUTE, AttributeValue::B(self.payload))
            .item(
                "concurrency",
                AttributeValue::N(self.concurrency.to_string()),
            )
            .item("item", AttributeValue::N(self.item.to_string()));
        in_flight.enter();
        let start_us = clock.elapsed_us();
        let (outcome, attempts) = ATTEMPTS
            .scope(Cell::new(0), async {
                // The deadline bounds every call on top of the SDK's own timeouts, so the
                // invocation returns in time even if a server stops answering mid-call.
                let outcome = match deadline.remaining() {
                    None => Some(request.send().await),
                    Some(left) => tokio::time::timeout(left, request.send()).await.ok(),
                };
                (outcome, ATTEMPTS.with(Cell::get))
            })
            .await;
        let latency_us = clock.elapsed_us().saturating_sub(start_us);
        in_flight.leave();
        let (error, message) = match outcome {
            None => (
                Some(DEADLINE_ERROR.to_string()),
                Some("the invocation deadline came before the call returned".to_string()),
            ),
            Some(Ok(_)) => (None, None),
            Some(Err(e)) => (
                Some(error_code(&e)),
                Some(cut(&DisplayErrorContext(&e).to_string())),
            ),
        };
        let sample = CallSample {
            level: self.level,
            concurrency: self.concurrency,
            item: self.item,
            start_us,
            latency_us,
            attempts,
            error,
        };
        (sample, message)
    }
}
