//! The invocation deadline, with the margin kept back to serialise and return the response.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time kept back before the deadline: enough to build the JSON, log it and post it to the
/// Runtime API even at 128 MB (≈ 0.07 vCPU).
pub const SAFETY_MARGIN_MS: u64 = 500;

#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    /// `None` = no deadline (a local run, or a context without one).
    stop_at: Option<Instant>,
}

impl Deadline {
    pub fn none() -> Self {
        Self { stop_at: None }
    }

    /// From the Lambda context's deadline (ms since the Unix epoch); 0 means unknown.
    /// `cargo lambda watch` sends the function timeout itself (e.g. 600000) rather than an
    /// epoch time; any value before 2001 cannot be an epoch deadline, so it is read as the ms
    /// remaining, which is what that emulator means by it.
    pub fn from_epoch_ms(deadline_ms: u64) -> Self {
        const EPOCH_MS_2001: u64 = 978_307_200_000;
        if deadline_ms == 0 {
            return Self::none();
        }
        if deadline_ms < EPOCH_MS_2001 {
            return Self::after(Duration::from_millis(deadline_ms));
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let remaining = deadline_ms.saturating_sub(now_ms);
        Self::after(Duration::from_millis(remaining))
    }

    /// A deadline `remaining` from now; work stops [`SAFETY_MARGIN_MS`] before it.
    pub fn after(remaining: Duration) -> Self {
        let usable = remaining.saturating_sub(Duration::from_millis(SAFETY_MARGIN_MS));
        Self {
            stop_at: Some(Instant::now() + usable),
        }
    }

    /// True once work must stop to leave the safety margin.
    pub fn reached(&self) -> bool {
        self.stop_at.is_some_and(|t| Instant::now() >= t)
    }

    /// Time left before work must stop; `None` when there is no deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.stop_at
            .map(|t| t.saturating_duration_since(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_context_deadline_means_none() {
        let d = Deadline::from_epoch_ms(0);
        assert!(!d.reached());
        assert!(d.remaining().is_none());
    }

    #[test]
    fn deadline_inside_margin_is_already_reached() {
        let d = Deadline::after(Duration::from_millis(SAFETY_MARGIN_MS / 2));
        assert!(d.reached());
        let far = Deadline::after(Duration::from_secs(60));
        assert!(!far.reached());
        assert!(
            far.remaining().unwrap()
                > Duration::from_secs(59) - Duration::from_millis(SAFETY_MARGIN_MS)
        );
    }

    #[test]
    fn epoch_deadline_in_the_past_is_reached() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(Deadline::from_epoch_ms(now_ms - 1000).reached());
        let ahead = Deadline::from_epoch_ms(now_ms + 60_000);
        assert!(!ahead.reached());
        assert!(ahead.remaining().unwrap() <= Duration::from_secs(60));
    }

    #[test]
    fn emulator_timeout_values_count_from_now() {
        let d = Deadline::from_epoch_ms(600_000);
        assert!(!d.reached());
        let left = d.remaining().unwrap();
        assert!(
            left > Duration::from_secs(598) && left <= Duration::from_secs(600),
            "{left:?}"
        );
        assert!(Deadline::from_epoch_ms(100).reached());
    }
}
