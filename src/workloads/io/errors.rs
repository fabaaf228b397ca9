//! Names for what went wrong: the service's error code, or the transport failure, short and
//! stable; and the full text, cut to a few hundred characters.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Error messages kept per level are cut here: enough to diagnose, small in the response.
pub const ERROR_MESSAGE_CHARS: usize = 300;

/// A short, stable name for what went wrong: the service's error code, or the transport failure.
pub fn error_code<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match e {
        SdkError::ServiceError(_) => e.code().unwrap_or("UnknownServiceError").to_string(),
        SdkError::TimeoutError(_) => "Timeout".into(),
        SdkError::DispatchFailure(d) if d.is_timeout() => "Timeout".into(),
        SdkError::DispatchFailure(_) => io_error_kind(e).unwrap_or("DispatchFailure").into(),
        SdkError::ResponseError(_) => io_error_kind(e).unwrap_or("ResponseError").into(),
        SdkError::ConstructionFailure(_) => "ConstructionFailure".into(),
        _ => "Unknown".into(),
    }
}

/// The kind of the first I/O error in the chain (`ConnectionRefused`, `ConnectionReset`, …).
fn io_error_kind(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return Some(match io.kind() {
                K::ConnectionRefused => "ConnectionRefused",
                K::ConnectionReset => "ConnectionReset",
                K::ConnectionAborted => "ConnectionAborted",
                K::BrokenPipe => "BrokenPipe",
                K::UnexpectedEof => "UnexpectedEof",
                K::TimedOut => "Timeout",
                _ => "IoError",
            });
        }
        cause = c.source();
    }
    None
}

pub fn cut(s: &str) -> String {
    match s.char_indices().nth(ERROR_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_kinds_are_found_down_the_chain() {
        #[derive(Debug)]
        struct Wrap(std::io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "wrapped")
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Wrap(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(io_error_kind(&refused), Some("ConnectionRefused"));
        let reset = Wrap(std::io::ErrorKind::ConnectionReset.into());
        assert_eq!(io_error_kind(&reset), Some("ConnectionReset"));
        let fmt_err = std::fmt::Error;
        assert_eq!(io_error_kind(&fmt_err), None);
    }

    #[test]
    fn messages_are_cut_on_character_boundaries() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(ERROR_MESSAGE_CHARS + 50);
        let c = cut(&long);
        assert_eq!(c.chars().count(), ERROR_MESSAGE_CHARS + 1);
        assert!(c.ends_with('…'));
    }
}
