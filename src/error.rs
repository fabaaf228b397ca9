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
    pub const ALL: [ErrorType; 4] = [
        ErrorType::InvalidPayload,
        ErrorType::OverBudget,
        ErrorType::NotConfigured,
        ErrorType::Internal,
    ];

    /// The probe's error type spelled `name`, if it is one.
    pub fn parse(name: &str) -> Option<ErrorType> {
        ErrorType::ALL.into_iter().find(|t| t.as_str() == name)
    }

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
            message: bounded(message.into()),
        }
    }

    pub fn over_budget(message: impl Into<String>) -> Self {
        Self {
            error_type: ErrorType::OverBudget,
            message: bounded(message.into()),
        }
    }

    pub fn not_configured(message: impl Into<String>) -> Self {
        Self {
            error_type: ErrorType::NotConfigured,
            message: bounded(message.into()),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            error_type: ErrorType::Internal,
            message: bounded(message.into()),
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

/// Longest error message, in bytes. Messages echo what they refuse (a workload name, a field, a
/// value), and a payload may be 6 MB: the echo must not send it all back (or into the log).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Keeps a message's start (which field) and end (the allowed values, which serde puts last) and
/// says how much of the middle went.
fn bounded(message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let keep = (MAX_MESSAGE_BYTES - 40) / 2;
    let mut head = keep;
    while !message.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = message.len() - keep;
    while !message.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}…[{} bytes cut]…{}",
        &message[..head],
        tail - head,
        &message[tail..]
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_keep_both_ends() {
        let short = ProbeError::invalid("pbkdf2: `iterations` = 0 is out of range");
        assert_eq!(short.message, "pbkdf2: `iterations` = 0 is out of range");
        // Two-byte characters everywhere: the cut must land on character boundaries.
        let long = format!(
            "unknown workload \"{}\"; must be one of env",
            "é".repeat(3 << 20)
        );
        let e = ProbeError::invalid(long);
        assert!(e.message.len() <= MAX_MESSAGE_BYTES, "{}", e.message.len());
        assert!(e.message.starts_with("unknown workload \"éé"));
        assert!(
            e.message.ends_with("\"; must be one of env"),
            "{}",
            e.message
        );
        assert!(e.message.contains("bytes cut]"));
    }
}
