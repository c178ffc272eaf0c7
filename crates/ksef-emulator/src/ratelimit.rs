//! API rate-limit counters (digest §15.1): the sliding windows and per-context overrides the
//! state holds. Which counter a request counts on, and the middleware, are the `limits`
//! feature's (`limits::rate`).
//!
//! [`rate_limit`] is a middleware on the API routes. It counts requests in sliding windows
//! (last 1 s, 60 s, 3600 s; all three apply) per (context, client IP, group) for requests with
//! a valid access token, grouped as in the table of §15.1 (`other`: one counter per OpenAPI
//! operation, one shared counter for every path or method the API does not define), and per
//! client IP (60 req/s) for the public endpoints and for requests without a valid
//! access token. Pre-signed links (batch part uploads, downloads) are outside the API routes
//! and never limited. An excess answers 429 with `Retry-After: <seconds>` (the time until the
//! exceeded window has room again) and the `TooManyRequestsResponse` body, or
//! `TooManyRequestsProblemDetails` with `X-Error-Format: problem-details`. Rejected requests
//! are not counted.
//!
//! Enforcement is a local choice (digest §15 marks it as such): a local emulator runs in tight
//! test loops, so it is **off by default**. It is on
//! - for every caller when [`crate::EmulatorConfig::rate_limits`] is set (`ksef emulator
//!   --rate-limits`), with the production values;
//! - for one context after `POST /testdata/rate-limits` (its custom values) or
//!   `POST /testdata/rate-limits/production` (the production values) in that context — the
//!   OpenAPI scopes these overrides to the current context, so other contexts are unaffected;
//!   `DELETE /testdata/rate-limits` restores the production values and the configured on/off.
//!
//! Rate-limit overrides and windows live in memory ([`RateLimiter`]); a restart forgets them.
//! Memory is bounded: a window keeps only the hits its finite thresholds need
//! ([`SlidingWindow`]), and at most 100 000 windows exist — beyond that the idle and then the
//! least recently used ones are evicted, in batches (amortised O(1) per request).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ksef_wire::{EffectiveApiRateLimitValues, EffectiveApiRateLimits};

/// Requests per second of a public endpoint, per client IP (digest §15.1).
pub const PUBLIC_PER_SECOND: u32 = 60;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Which limit was exceeded, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// The exceeded threshold.
    pub limit: u32,
    /// The window it applies to (1 s, 60 s or 3600 s).
    pub window: Duration,
    /// Whole seconds until the window has room again (at least 1).
    pub retry_after_secs: u64,
}

impl Exceeded {
    /// The documented detail line, e.g. `Przekroczono limit 20 żądań na minutę. Spróbuj
    /// ponownie po 30 sekundach.`
    pub fn message(&self) -> String {
        let per = match self.window.as_secs() {
            1 => "sekundę",
            60 => "minutę",
            _ => "godzinę",
        };
        format!(
            "Przekroczono limit {} żądań na {per}. Spróbuj ponownie po {} sekundach.",
            self.limit, self.retry_after_secs
        )
    }
}

/// The accepted requests of one counter (oldest first): a sliding-window log checked against
/// the 1 s, 60 s and 3600 s thresholds together.
///
/// Only what the finite thresholds need is kept: hits older than the longest window whose
/// limit is finite are dropped (a threshold of `u32::MAX` is never reached and is not
/// checked), so the log never holds more than that window's limit. Since the hits are in
/// time order, whether a threshold is reached is one look-up: `limit` hits lie within the
/// window exactly when the `limit`-th newest one does.
#[derive(Debug, Default, Clone)]
pub struct SlidingWindow {
    pub(crate) hits: VecDeque<Instant>,
    /// How long hits are kept: the longest window with a finite limit at the last request
    /// (zero when every limit is `u32::MAX`).
    keep: Duration,
    /// The last request seen on this counter, counted or refused (for LRU eviction).
    last_seen: Option<Instant>,
}

impl SlidingWindow {
    /// Counts a request at `now` if all three thresholds allow it; otherwise reports the
    /// exceeded one (the longest wait when several are exceeded) and counts nothing.
    pub fn try_acquire(
        &mut self,
        now: Instant,
        limits: EffectiveApiRateLimitValues,
    ) -> Result<(), Exceeded> {
        self.last_seen = Some(self.last_seen.map_or(now, |t| t.max(now)));
        let thresholds = [
            (limits.per_second, SECOND),
            (limits.per_minute, MINUTE),
            (limits.per_hour, HOUR),
        ];
        self.keep = thresholds
            .iter()
            .filter(|(limit, _)| *limit != u32::MAX)
            .map(|(_, window)| *window)
            .max()
            .unwrap_or(Duration::ZERO);
        self.trim(now);
        let mut worst: Option<Exceeded> = None;
        for (limit, window) in thresholds {
            if let Some(e) = self.exceeded(now, limit, window)
                && worst
                    .as_ref()
                    .is_none_or(|w| e.retry_after_secs > w.retry_after_secs)
            {
                worst = Some(e);
            }
        }
        match worst {
            Some(e) => Err(e),
            None => {
                if !self.keep.is_zero() {
                    // Concurrent requests may take the lock out of `Instant::now()` order:
                    // keep the log sorted (the difference is the lock wait).
                    let at = self.hits.back().map_or(now, |t| now.max(*t));
                    self.hits.push_back(at);
                }
                Ok(())
            }
        }
    }

    /// Drops the hits older than [`Self::keep`] and releases memory a shrunk log no longer
    /// needs.
    fn trim(&mut self, now: Instant) {
        while self
            .hits
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.keep)
        {
            self.hits.pop_front();
        }
        if self.hits.capacity() > 64 && self.hits.len() < self.hits.capacity() / 4 {
            self.hits.shrink_to(self.hits.len() * 2);
        }
    }

    /// `Some` when `limit` requests were already accepted within `window` before `now`
    /// (never for `u32::MAX`). O(1): the log is sorted and holds every hit of `window`.
    fn exceeded(&self, now: Instant, limit: u32, window: Duration) -> Option<Exceeded> {
        if limit == u32::MAX {
            return None;
        }
        // Room again when the oldest hit that keeps the count at `limit` leaves the window
        // (with limit 0: a whole window).
        let wait = if limit == 0 {
            window
        } else {
            let n = usize::try_from(limit).ok()?;
            let oldest = *self.hits.get(self.hits.len().checked_sub(n)?)?;
            let age = now.saturating_duration_since(oldest);
            if age >= window {
                return None;
            }
            window - age
        };
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(Exceeded {
            limit,
            window,
            retry_after_secs: secs.max(1),
        })
    }

    /// No hit within [`Self::keep`]: dropping the counter loses nothing.
    fn is_idle(&self, now: Instant) -> bool {
        self.hits
            .back()
            .is_none_or(|t| now.saturating_duration_since(*t) >= self.keep)
    }
}

/// In-memory rate-limit state of a running emulator: per-context overrides and the windows.
#[derive(Debug)]
pub struct RateLimiter {
    inner: Mutex<RateState>,
    /// At most this many windows are kept (see [`RateState::make_room`]).
    max_windows: usize,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            inner: Mutex::default(),
            max_windows: MAX_WINDOWS,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct RateState {
    /// Context (`Type:value`) → its values; a present entry also switches enforcement on
    /// for that context.
    overrides: HashMap<String, EffectiveApiRateLimits>,
    pub(crate) windows: HashMap<String, SlidingWindow>,
}

/// Windows kept at most; a new counter beyond it first evicts (see [`RateState::make_room`]).
const MAX_WINDOWS: usize = 100_000;

impl RateState {
    /// Brings the windows down to three quarters of `cap`: first the idle ones (they hold
    /// nothing that still counts), then the least recently used. One O(n) pass frees room for
    /// at least `cap / 4` new counters, so the cost per request is amortised O(1).
    fn make_room(&mut self, now: Instant, cap: usize) {
        self.windows.retain(|_, w| !w.is_idle(now));
        let target = cap - cap / 4;
        let excess = self.windows.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut seen: Vec<Option<Instant>> = self.windows.values().map(|w| w.last_seen).collect();
        let (_, cutoff, _) = seen.select_nth_unstable(excess - 1);
        let cutoff = *cutoff;
        let mut left = excess;
        self.windows.retain(|_, w| {
            if left > 0 && w.last_seen <= cutoff {
                left -= 1;
                false
            } else {
                true
            }
        });
    }
}

impl RateLimiter {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, RateState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The effective values of a context (production unless overridden).
    pub fn effective(&self, context: &str) -> EffectiveApiRateLimits {
        self.lock()
            .overrides
            .get(context)
            .copied()
            .unwrap_or(EffectiveApiRateLimits::PRODUCTION)
    }

    /// Sets a context's values and switches enforcement on for it.
    pub fn set_override(&self, context: &str, limits: EffectiveApiRateLimits) {
        self.lock().overrides.insert(context.to_string(), limits);
    }

    /// Restores the production values and the configured on/off for a context.
    pub fn clear_override(&self, context: &str) {
        self.lock().overrides.remove(context);
    }

    /// The values to enforce for a context, `None` when it is not limited.
    pub(crate) fn enforced(
        &self,
        context: &str,
        configured: bool,
    ) -> Option<EffectiveApiRateLimits> {
        let st = self.lock();
        match st.overrides.get(context) {
            Some(l) => Some(*l),
            None if configured => Some(EffectiveApiRateLimits::PRODUCTION),
            None => None,
        }
    }

    /// Counts a request on counter `key` at `now`.
    pub fn acquire(
        &self,
        key: String,
        now: Instant,
        limits: EffectiveApiRateLimitValues,
    ) -> Result<(), Exceeded> {
        let mut st = self.lock();
        if st.windows.len() >= self.max_windows && !st.windows.contains_key(&key) {
            st.make_room(now, self.max_windows);
        }
        st.windows.entry(key).or_default().try_acquire(now, limits)
    }
}

/// The values of public endpoints: 60 per second per client IP, no minute/hour limit.
pub fn public_values() -> EffectiveApiRateLimitValues {
    EffectiveApiRateLimitValues::new(PUBLIC_PER_SECOND, u32::MAX, u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: EffectiveApiRateLimitValues = EffectiveApiRateLimitValues::new(2, 3, 4);

    #[test]
    fn per_second_then_slides() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::default();
        assert!(w.try_acquire(t0, V).is_ok());
        assert!(w.try_acquire(t0 + Duration::from_millis(100), V).is_ok());
        let e = w
            .try_acquire(t0 + Duration::from_millis(200), V)
            .unwrap_err();
        assert_eq!(e.limit, 2);
        assert_eq!(e.window, SECOND);
        // The first hit leaves the 1 s window at t0 + 1 s: 800 ms → rounded up to 1 s.
        assert_eq!(e.retry_after_secs, 1);
        // A rejected request is not counted: at t0 + 1 s one slot is free again.
        assert!(w.try_acquire(t0 + Duration::from_secs(1), V).is_ok());
    }

    #[test]
    fn per_minute_and_per_hour() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::default();
        for i in 0..3 {
            assert!(w.try_acquire(t0 + Duration::from_secs(i * 2), V).is_ok());
        }
        let e = w.try_acquire(t0 + Duration::from_secs(10), V).unwrap_err();
        assert_eq!((e.limit, e.window), (3, MINUTE));
        assert_eq!(e.retry_after_secs, 50);
        assert!(e.message().contains("3 żądań na minutę"), "{}", e.message());
        assert!(e.message().contains("po 50 sekundach"), "{}", e.message());
        // After the minute: the fourth passes, the fifth hits the hourly limit (4).
        assert!(w.try_acquire(t0 + Duration::from_secs(61), V).is_ok());
        let e = w.try_acquire(t0 + Duration::from_secs(130), V).unwrap_err();
        assert_eq!((e.limit, e.window), (4, HOUR));
        assert_eq!(e.retry_after_secs, 3600 - 130);
        // An hour after the first hit there is room again.
        assert!(w.try_acquire(t0 + Duration::from_secs(3600), V).is_ok());
    }

    #[test]
    fn zero_limit_rejects_for_a_whole_window() {
        let mut w = SlidingWindow::default();
        let e = w
            .try_acquire(Instant::now(), EffectiveApiRateLimitValues::new(0, 10, 10))
            .unwrap_err();
        assert_eq!((e.limit, e.retry_after_secs), (0, 1));
    }

    #[test]
    fn limiter_keeps_counters_apart_and_overrides_switch_enforcement() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        let one = EffectiveApiRateLimitValues::new(1, 10, 10);
        assert!(l.acquire("a".into(), t0, one).is_ok());
        assert!(l.acquire("a".into(), t0, one).is_err());
        assert!(l.acquire("b".into(), t0, one).is_ok());
        assert_eq!(l.enforced("Nip:1", false), None);
        assert_eq!(
            l.enforced("Nip:1", true),
            Some(EffectiveApiRateLimits::PRODUCTION)
        );
        let mut custom = EffectiveApiRateLimits::PRODUCTION;
        custom.other = one;
        l.set_override("Nip:1", custom);
        assert_eq!(l.enforced("Nip:1", false), Some(custom));
        assert_eq!(l.effective("Nip:1"), custom);
        assert_eq!(l.enforced("Nip:2", false), None);
        l.clear_override("Nip:1");
        assert_eq!(l.enforced("Nip:1", false), None);
        assert_eq!(l.effective("Nip:1"), EffectiveApiRateLimits::PRODUCTION);
    }

    #[test]
    fn public_log_holds_one_second_only() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        // 60/s for 2 minutes: every request of the allowance, 7 200 in all.
        for i in 0..7_200u64 {
            let at = t0 + Duration::from_micros(i * 1_000_000 / 60);
            assert!(
                l.acquire("public|ip".into(), at, public_values()).is_ok(),
                "#{i}"
            );
            assert!(l.lock().windows["public|ip"].hits.len() <= PUBLIC_PER_SECOND as usize);
        }
        // The 61st within one second is refused.
        let at = t0 + Duration::from_secs(200);
        for _ in 0..60 {
            assert!(l.acquire("public|ip".into(), at, public_values()).is_ok());
        }
        let e = l
            .acquire("public|ip".into(), at, public_values())
            .unwrap_err();
        assert_eq!((e.limit, e.window), (PUBLIC_PER_SECOND, SECOND));
        assert_eq!(l.lock().windows["public|ip"].hits.len(), 60);
    }

    #[test]
    fn log_keeps_the_longest_finite_window_only() {
        let t0 = Instant::now();
        // Minute finite, hour unlimited: hits older than a minute are dropped.
        let v = EffectiveApiRateLimitValues::new(100, 1_000, u32::MAX);
        let mut w = SlidingWindow::default();
        for i in 0..600u64 {
            assert!(
                w.try_acquire(t0 + Duration::from_millis(i * 500), v)
                    .is_ok()
            );
        }
        assert_eq!(w.hits.len(), 120);
        // Only unlimited thresholds: nothing is stored and nothing refused.
        let unlimited = EffectiveApiRateLimitValues::new(u32::MAX, u32::MAX, u32::MAX);
        for _ in 0..1_000 {
            assert!(
                w.try_acquire(t0 + Duration::from_secs(400), unlimited)
                    .is_ok()
            );
        }
        assert!(w.hits.is_empty());
        assert!(w.is_idle(t0 + Duration::from_secs(400)));
    }

    #[test]
    fn counting_stays_exact_after_trimming() {
        // Production `other`: 10/s, 30/min, 120/h.
        let v = EffectiveApiRateLimitValues::new(10, 30, 120);
        let t0 = Instant::now();
        let mut w = SlidingWindow::default();
        let s = |secs: u64, ms: u64| t0 + Duration::from_secs(secs) + Duration::from_millis(ms);
        // Per second: 10 in the first second, the 11th refused.
        for i in 0..10 {
            assert!(w.try_acquire(s(0, i * 10), v).is_ok());
        }
        let e = w.try_acquire(s(0, 500), v).unwrap_err();
        assert_eq!((e.limit, e.window, e.retry_after_secs), (10, SECOND, 1));
        // Per minute: 20 more over the next seconds → 30; the 31st refused until the
        // first second's hits leave the minute.
        for i in 0..20 {
            assert!(w.try_acquire(s(1 + i / 10, (i % 10) * 10), v).is_ok());
        }
        let e = w.try_acquire(s(30, 0), v).unwrap_err();
        assert_eq!((e.limit, e.window, e.retry_after_secs), (30, MINUTE, 30));
        assert!(w.try_acquire(s(59, 999), v).is_err());
        assert!(w.try_acquire(s(60, 0), v).is_ok());
        // Per hour: 30 per minute for the next minutes until 120 in the hour.
        let mut accepted = 31;
        let mut minute = 1;
        while accepted < 120 {
            minute += 1;
            for i in 0..30u64 {
                if accepted == 120 {
                    break;
                }
                assert!(
                    w.try_acquire(s(minute * 60 + i / 10, (i % 10) * 10), v)
                        .is_ok()
                );
                accepted += 1;
            }
        }
        assert_eq!(w.hits.len(), 120);
        let e = w.try_acquire(s(minute * 60 + 30, 0), v).unwrap_err();
        assert_eq!((e.limit, e.window), (120, HOUR));
        assert_eq!(e.retry_after_secs, 3600 - (minute * 60 + 30));
        // An hour after the first hit: room again, and the log stays within the hour.
        assert!(w.try_acquire(s(3600, 0), v).is_ok());
        assert!(w.hits.len() <= 120);
        assert!(w.hits.iter().all(|t| s(3600, 0).duration_since(*t) < HOUR));
    }

    #[test]
    fn window_count_is_capped_with_batched_eviction() {
        let l = RateLimiter {
            max_windows: 1_000,
            ..RateLimiter::default()
        };
        let t0 = Instant::now();
        let v = EffectiveApiRateLimitValues::new(1, 10, 10);
        // A busy counter (1 per hour), used throughout.
        let one = EffectiveApiRateLimitValues::new(1, 1, 1);
        assert!(l.acquire("busy".into(), t0, one).is_ok());
        let mut evictions = 0;
        let mut last = 1;
        for i in 0..10_000u64 {
            let at = t0 + Duration::from_millis(i + 1);
            assert!(l.acquire(format!("ip-{i}"), at, v).is_ok());
            if i % 100 == 0 {
                // Still limited: the recently used counter survives eviction.
                assert!(l.acquire("busy".into(), at, one).is_err(), "#{i}");
            }
            let n = l.lock().windows.len();
            assert!(n <= 1_000, "{n}");
            if n < last {
                evictions += 1;
            }
            last = n;
        }
        // Each eviction frees a quarter of the cap: few passes for 10 000 new counters.
        assert!((30..=40).contains(&evictions), "{evictions}");
    }
}
