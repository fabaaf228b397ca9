//! The errors a caller can see, each with a stable `errorType` (Power Tuning users list these in
//! `allowedExceptions`; scripts match on them). Renaming one is a breaking change.

use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ErrorType {
    /// The event is not a valid request: bad JSON, unknown workload or field, value out of range.
    InvalidPayload,
    /// The request would need more memory (or time) than the function has.
    OverBudget,
    /// The function lacks configuration a workload needs (e.g. `TABLE_NAME` for io).
    NotConfigured,
    /// A bug in the probe (a worker panicked). Never expected; please report it.
    Internal,
}

impl ErrorType {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorType::InvalidPayload => "InvalidPayload",
            ErrorType::OverBudget => "OverBudget",
            ErrorType::NotConfigured => "NotConfigured",
            ErrorType::Internal => "Internal",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeError {
    pub error_type: ErrorType,
    pub message: String,
}

impl ProbeError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            error_type: ErrorType::InvalidPayload,
            message: message.into(),
        }
    }

    pub fn over_budget(message: impl Into<String>) -> Self {
        Self {
            error_type: ErrorType::OverBudget,
            message: message.into(),
        }
    }

    pub fn not_configured(message: impl Into<String>) -> Self {
        Self {
            error_type: ErrorType::NotConfigured,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            error_type: ErrorType::Internal,
            message: message.into(),
        }
    }

    /// The body Lambda returns for a function error, as `run` prints it too.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "errorType": self.error_type.as_str(),
            "errorMessage": self.message,
        })
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type.as_str(), self.message)
    }
}

impl std::error::Error for ProbeError {}

impl From<ProbeError> for lambda_runtime::Diagnostic {
    fn from(e: ProbeError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type.as_str().to_string(),
            error_message: e.message,
        }
    }
}
