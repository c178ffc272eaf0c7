//! Retry policy for HTTP 429 (digest §15.2) and `Retry-After` parsing.

use std::time::{Duration, SystemTime};

/// How the client reacts to `429 Too Many Requests` and to dropped connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after a 429 (not counting the first attempt).
    pub max_retries_on_429: u32,
    /// Upper bound of the total time slept for one call; a `Retry-After` that would exceed it
    /// ends the call with the 429 error instead.
    pub max_total_wait: Duration,
    /// Wait used when a 429 carries no (readable) `Retry-After`.
    pub default_wait: Duration,
    /// Retry an idempotent `GET` once when the connection was reset/closed under it.
    pub retry_get_on_connection_reset: bool,
}

impl Default for RetryPolicy {
    /// 3 retries, at most 60 s of waiting in total, 1 s without `Retry-After`, GETs retried
    /// once on a reset connection.
    fn default() -> Self {
        RetryPolicy {
            max_retries_on_429: 3,
            max_total_wait: Duration::from_secs(60),
            default_wait: Duration::from_secs(1),
            retry_get_on_connection_reset: true,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries_on_429: 0,
            max_total_wait: Duration::ZERO,
            default_wait: Duration::ZERO,
            retry_get_on_connection_reset: false,
        }
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in
/// the past means "now" (zero).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
