//! Client-side pacing to KSeF's API rate limits (digest §15.1–15.2).
//!
//! KSeF counts the calls of a context (per client IP) in groups (`onlineSession`,
//! `invoiceSend`, `invoiceStatus`, `sessionMisc`…; `other` once per operation), each with
//! sliding windows of the last 1 s, 60 s and 3600 s that all apply at once; a call beyond one
//! of them is answered 429 with `Retry-After`, and repeated excess may get the caller blocked.
//! A [`Pacer`] keeps the same windows on the client side: every call of a client that has one
//! ([`KsefClient::with_pacer`]) waits until its group has room in all three windows, so the
//! server never has to refuse it.
//!
//! How a call is counted: it takes a slot when it starts (in flight, it fills its windows
//! and leaves none of them), and is logged with the instant its answer arrived. KSeF counted it
//! somewhere between those two instants, so a window measured from the answer never frees a
//! slot before the server's window does, whatever the network latency; [`SAFETY_MARGIN`] is
//! added for servers that round. A 429 that happens anyway (another program calling in the same
//! context from the same IP) blocks the group for its `Retry-After`.
//!
//! Written here rather than taken from a rate-limiting crate: the well-kept ones (`governor`
//! and the like) implement one token bucket / GCRA rate per limiter, not KSeF's three
//! simultaneous sliding-window logs, and none can schedule ahead ([`Pacer::estimate`]) or take a
//! server's `Retry-After` into account.
//!
//! Cost: a call start and its end each take one uncontended lock and an O(log n) look-up in
//! the group's log (n ≤ the group's largest finite limit); nothing sleeps while the windows
//! have room.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ksef_wire::{EffectiveApiRateLimitValues, EffectiveApiRateLimits, Operation, RateLimitGroup};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client::KsefClient;

/// Added to every window: a slot counts as taken this much longer than KSeF's window lasts.
pub const SAFETY_MARGIN: Duration = Duration::from_millis(50);

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Where a pacer's limits come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitsSource {
    /// `GET /rate-limits` of the context.
    Context,
    /// The documented production values ([`EffectiveApiRateLimits::PRODUCTION`]), used when
    /// KSeF could not be asked.
    Documented,
}

/// Paces the calls of a client to a context's API rate limits (see the module docs). Cheap to
/// clone; clones share the windows.
#[derive(Clone)]
pub struct Pacer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("source", &self.inner.source)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

struct Inner {
    limits: EffectiveApiRateLimits,
    source: LimitsSource,
    counters: Mutex<HashMap<Counter, Log>>,
    /// Woken when a call ends (for calls waiting on calls still in flight).
    answered: Notify,
    /// 429 answers seen.
    throttled: AtomicU64,
    /// Nanoseconds calls spent waiting for room.
    waited_ns: AtomicU64,
}

/// What KSeF counts on: a group, or for `other` the operation itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Counter {
    Group(RateLimitGroup),
    Operation(Operation),
}

impl Counter {
    fn of(op: Operation) -> Self {
        match op.rate_limit_group() {
            RateLimitGroup::Other => Counter::Operation(op),
            g => Counter::Group(g),
        }
    }

    fn group(self) -> RateLimitGroup {
        match self {
            Counter::Group(g) => g,
            Counter::Operation(_) => RateLimitGroup::Other,
        }
    }
}

/// The finite windows of `values`, each lengthened by the margin: `(limit, window)`. A limit
/// of `u32::MAX` is never reached and is left out; a limit of 0 (which would refuse every call)
/// is taken as 1, so a call still goes out and KSeF's answer says what is wrong.
fn windows(values: EffectiveApiRateLimitValues) -> impl Iterator<Item = (usize, Duration)> {
    [
        (values.per_second, SECOND),
        (values.per_minute, MINUTE),
        (values.per_hour, HOUR),
    ]
    .into_iter()
    .filter(|(limit, _)| *limit != u32::MAX)
    .map(|(limit, window)| {
        (
            usize::try_from(limit.max(1)).unwrap_or(usize::MAX),
            window + SAFETY_MARGIN,
        )
    })
}

/// The calls of one counter.
#[derive(Debug, Default)]
struct Log {
    /// When the answers of finished calls arrived, oldest first; only the newest
    /// `largest finite limit` are kept (no window check looks further back).
    done: VecDeque<Instant>,
    /// Calls started and not answered yet.
    in_flight: usize,
    /// No call before this (a 429's `Retry-After`).
    blocked_until: Option<Instant>,
    /// Mean duration of a call (exponentially weighted), for estimates.
    latency: Option<Duration>,
}

/// When the next call of a counter may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    Now,
    At(Instant),
    /// Every slot of a window is held by a call in flight: wait for an answer.
    AfterAnAnswer,
}

impl Log {
    fn room(&self, values: EffectiveApiRateLimitValues, now: Instant) -> Room {
        let mut at = self.blocked_until.filter(|t| *t > now);
        for (limit, window) in windows(values) {
            let first = match now.checked_sub(window) {
                Some(since) => self.done.partition_point(|t| *t <= since),
                None => 0,
            };
            let used = self.done.len() - first + self.in_flight;
            if used < limit {
                continue;
            }
            if self.in_flight >= limit {
                return Room::AfterAnAnswer;
            }
            // The window has room once `used - limit + 1` answers have left it, oldest first.
            let free = self.done[first + (used - limit)] + window;
            at = Some(at.map_or(free, |a| a.max(free)));
        }
        match at {
            Some(t) if t > now => Room::At(t),
            _ => Room::Now,
        }
    }

    fn answered(
        &mut self,
        values: EffectiveApiRateLimitValues,
        now: Instant,
        took: Duration,
        retry_after: Option<Duration>,
    ) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let at = self.done.back().map_or(now, |t| now.max(*t));
        self.done.push_back(at);
        let keep = windows(values).map(|(l, _)| l).max().unwrap_or(0);
        while self.done.len() > keep {
            self.done.pop_front();
        }
        self.latency = Some(match self.latency {
            Some(mean) => mean.mul_f64(0.8) + took.mul_f64(0.2),
            None => took,
        });
        if let Some(wait) = retry_after {
            let until = now + wait + SAFETY_MARGIN;
            self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
        }
    }
}

/// A started call's slot; ends the call when dropped (counted as answered now).
pub(crate) struct Permit {
    inner: Arc<Inner>,
    counter: Counter,
    started: Instant,
    open: bool,
}

impl Permit {
    /// The answer arrived; `retry_after`: it was a 429 asking to wait that long.
    pub(crate) fn answered(mut self, retry_after: Option<Duration>) {
        self.end(retry_after);
    }

    fn end(&mut self, retry_after: Option<Duration>) {
        if !std::mem::replace(&mut self.open, false) {
            return;
        }
        let now = Instant::now();
        if retry_after.is_some() {
            self.inner.throttled.fetch_add(1, Ordering::Relaxed);
        }
        let values = self.inner.limits.group(self.counter.group());
        if let Some(log) = self.inner.lock().get_mut(&self.counter) {
            log.answered(values, now, now - self.started, retry_after);
        }
        self.inner.answered.notify_waiters();
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.end(None);
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<Counter, Log>> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Pacer {
    /// A pacer for these limits (the context's, as `GET /rate-limits` gave them).
    pub fn new(limits: EffectiveApiRateLimits) -> Self {
        Self::with_source(limits, LimitsSource::Context)
    }

    /// A pacer for the documented production limits.
    pub fn documented() -> Self {
        Self::with_source(EffectiveApiRateLimits::PRODUCTION, LimitsSource::Documented)
    }

    fn with_source(limits: EffectiveApiRateLimits, source: LimitsSource) -> Self {
        Pacer {
            inner: Arc::new(Inner {
                limits,
                source,
                counters: Mutex::new(HashMap::new()),
                answered: Notify::new(),
                throttled: AtomicU64::new(0),
                waited_ns: AtomicU64::new(0),
            }),
        }
    }

    /// A pacer for the context of `access_token`: its limits from `GET /rate-limits` (one
    /// call), or the documented production values when that call fails.
    pub async fn for_context(client: &KsefClient, access_token: &str) -> Self {
        match client.rate_limits(access_token).await {
            Ok(limits) => Self::new(limits),
            Err(e) => {
                tracing::warn!(error = %e, "GET /rate-limits failed; pacing to the documented production limits");
                Self::documented()
            }
        }
    }

    /// The limits paced to.
    pub fn limits(&self) -> &EffectiveApiRateLimits {
        &self.inner.limits
    }

    /// Where the limits come from.
    pub fn source(&self) -> LimitsSource {
        self.inner.source
    }

    /// How many 429 answers calls through this pacer got (another program in the context).
    pub fn throttled(&self) -> u64 {
        self.inner.throttled.load(Ordering::Relaxed)
    }

    /// The time calls spent waiting for room, summed.
    pub fn waited(&self) -> Duration {
        Duration::from_nanos(self.inner.waited_ns.load(Ordering::Relaxed))
    }

    /// Waits until a call of `op` may start, and takes its slot.
    pub(crate) async fn acquire(&self, op: Operation) -> Permit {
        let counter = Counter::of(op);
        let values = self.inner.limits.group(counter.group());
        let start = Instant::now();
        let mut slept = false;
        loop {
            let answered = self.inner.answered.notified();
            let room = {
                let mut counters = self.inner.lock();
                let log = counters.entry(counter).or_default();
                let now = Instant::now();
                let room = log.room(values, now);
                if room == Room::Now {
                    log.in_flight += 1;
                    if slept {
                        let waited = now - start;
                        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
                        self.inner.waited_ns.fetch_add(ns, Ordering::Relaxed);
                        tracing::debug!(?op, waited_ms = waited.as_millis() as u64, "paced");
                    }
                    return Permit {
                        inner: self.inner.clone(),
                        counter,
                        started: now,
                        open: true,
                    };
                }
                room
            };
            slept = true;
            match room {
                Room::At(t) => tokio::time::sleep_until(t).await,
                // `answered` was created before the lock was released: no answer is missed.
                _ => answered.await,
            }
        }
    }

    /// How long from now the calls of `runs` would take, made one after the other in this
    /// order (`(group, count)`, e.g. the rest of the invoices, then the session close) at
    /// these limits, from the windows as they are now: the pacer's own schedule, each call
    /// taking the group's mean duration so far (nothing before the first answer).
    pub fn estimate(&self, runs: &[(RateLimitGroup, u64)]) -> Duration {
        let now = Instant::now();
        let counters = self.inner.lock();
        let mut sims: HashMap<RateLimitGroup, Schedule> = HashMap::new();
        let mut t = 0.0;
        for (i, &(group, n)) in runs.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let again = runs[i + 1..].iter().any(|(g, _)| *g == group);
            let sim = sims.entry(group).or_insert_with(|| {
                Schedule::new(
                    self.inner.limits.group(group),
                    counters.get(&Counter::Group(group)),
                    now,
                )
            });
            t = sim.run(t, n, again);
        }
        Duration::from_secs_f64(t.max(0.0))
    }

    /// How often a status of `group` may be polled: the steadiest rate its 1 s and 60 s windows
    /// allow, and with `sustained` (polling for more than a minute) also its hour window.
    pub fn poll_interval(&self, group: RateLimitGroup, sustained: bool) -> Duration {
        windows(self.inner.limits.group(group))
            .filter(|(_, w)| sustained || *w < HOUR)
            .map(|(limit, window)| {
                (window - SAFETY_MARGIN) / u32::try_from(limit).unwrap_or(u32::MAX)
            })
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

/// A simulated continuation of one group's log (seconds relative to now; history ≤ 0).
struct Schedule {
    windows: Vec<(usize, f64)>,
    ends: VecDeque<f64>,
    keep: usize,
    blocked: f64,
    latency: f64,
}

impl Schedule {
    fn new(values: EffectiveApiRateLimitValues, log: Option<&Log>, now: Instant) -> Self {
        let windows: Vec<(usize, f64)> =
            windows(values).map(|(l, w)| (l, w.as_secs_f64())).collect();
        let keep = windows.iter().map(|(l, _)| *l).max().unwrap_or(0);
        let mut ends = VecDeque::new();
        let (mut blocked, mut latency) = (0.0, 0.0);
        if let Some(log) = log {
            ends.extend(
                log.done
                    .iter()
                    .map(|t| -now.saturating_duration_since(*t).as_secs_f64()),
            );
            // Calls in flight are taken as answered now.
            ends.extend(std::iter::repeat_n(0.0, log.in_flight));
            while ends.len() > keep {
                ends.pop_front();
            }
            blocked = log
                .blocked_until
                .map_or(0.0, |b| b.saturating_duration_since(now).as_secs_f64());
            latency = log.latency.map_or(0.0, |l| l.as_secs_f64());
        }
        Schedule {
            windows,
            ends,
            keep,
            blocked,
            latency,
        }
    }

    /// `n` calls one after the other, the first not before `t`; returns when the last ends.
    /// `again`: the group has more calls later (so the simulated answers must be kept).
    fn run(&mut self, t: f64, n: u64, again: bool) -> f64 {
        let mut t = t.max(self.blocked);
        let len = self.ends.len() as u64;
        // No window can fill up: every call starts right after the previous one.
        if self.windows.iter().all(|(l, _)| len + n <= *l as u64) {
            if again {
                let kept = n.min(self.keep as u64);
                for k in (n - kept)..n {
                    self.ends.push_back(t + (k + 1) as f64 * self.latency);
                }
            }
            return t + n as f64 * self.latency;
        }
        for _ in 0..n {
            for &(limit, window) in &self.windows {
                if self.ends.len() >= limit {
                    t = t.max(self.ends[self.ends.len() - limit] + window);
                }
            }
            t += self.latency;
            self.ends.push_back(t);
            if self.ends.len() > self.keep {
                self.ends.pop_front();
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: EffectiveApiRateLimitValues = EffectiveApiRateLimitValues::new(2, 6, 100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Answers at the given offsets of `t0`.
    fn log_with(t0: Instant, answers_ms: &[u64]) -> Log {
        let mut log = Log::default();
        for a in answers_ms {
            log.in_flight += 1;
            log.answered(V, t0 + ms(*a), ms(10), None);
        }
        log
    }

    #[test]
    fn second_and_minute_windows_both_apply() {
        let t0 = Instant::now();
        let log = log_with(t0, &[0, 10]);
        // Two in the last second: room once the first answer is 1 s (+ margin) old.
        assert_eq!(
            log.room(V, t0 + ms(20)),
            Room::At(t0 + SECOND + SAFETY_MARGIN)
        );
        assert_eq!(log.room(V, t0 + ms(1050)), Room::Now);
        let log = log_with(t0, &[0, 10, 1100, 1110, 2200, 2210]);
        // Six in the last minute: the seventh waits for the first to leave the minute.
        assert_eq!(
            log.room(V, t0 + ms(3500)),
            Room::At(t0 + MINUTE + SAFETY_MARGIN)
        );
        assert_eq!(log.room(V, t0 + MINUTE + SAFETY_MARGIN), Room::Now);
    }

    #[test]
    fn calls_in_flight_hold_their_slot() {
        let t0 = Instant::now();
        let mut log = log_with(t0, &[0]);
        log.in_flight = 1;
        // One answered, one in flight: the second window is full until the answered one leaves.
        assert_eq!(
            log.room(V, t0 + ms(5)),
            Room::At(t0 + SECOND + SAFETY_MARGIN)
        );
        log.in_flight = 2;
        assert_eq!(log.room(V, t0 + ms(5)), Room::AfterAnAnswer);
        // Even long after: a call in flight never leaves a window.
        assert_eq!(log.room(V, t0 + HOUR * 2), Room::AfterAnAnswer);
    }

    #[test]
    fn retry_after_blocks_the_counter() {
        let t0 = Instant::now();
        let mut log = Log {
            in_flight: 1,
            ..Log::default()
        };
        log.answered(V, t0, ms(5), Some(Duration::from_secs(7)));
        let until = t0 + Duration::from_secs(7) + SAFETY_MARGIN;
        assert_eq!(log.room(V, t0 + ms(1)), Room::At(until));
        assert_eq!(log.room(V, until), Room::Now);
    }

    #[test]
    fn the_log_keeps_only_what_a_window_can_use() {
        let t0 = Instant::now();
        let answers: Vec<u64> = (0..500).map(|i| i * 10).collect();
        let log = log_with(t0, &answers);
        assert_eq!(log.done.len(), 100, "the hour limit");
        let unlimited = EffectiveApiRateLimitValues::new(u32::MAX, u32::MAX, u32::MAX);
        assert_eq!(
            windows(unlimited).count(),
            0,
            "nothing to check, nothing kept"
        );
    }

    #[test]
    fn estimates_follow_all_three_windows() {
        let limits = EffectiveApiRateLimits::PRODUCTION;
        let p = Pacer::new(limits);
        let secs = |runs: &[(RateLimitGroup, u64)]| p.estimate(runs).as_secs_f64();
        // invoiceSend 10/s, 30/min, 180/h: 30 calls in three bursts of 10 a second apart.
        let m = SAFETY_MARGIN.as_secs_f64();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(close(
            secs(&[(RateLimitGroup::InvoiceSend, 30)]),
            2.0 * (1.0 + m)
        ));
        // The 31st waits for the first to leave the minute.
        assert!(close(secs(&[(RateLimitGroup::InvoiceSend, 31)]), 60.0 + m));
        // 181: the hour.
        assert!(close(
            secs(&[(RateLimitGroup::InvoiceSend, 181)]),
            3600.0 + m
        ));
        // A group's calls in separate runs share its windows: 10 opens, 1 other, 1 more open.
        let runs = [
            (RateLimitGroup::OnlineSession, 10),
            (RateLimitGroup::InvoiceSend, 1),
            (RateLimitGroup::OnlineSession, 1),
        ];
        assert!(close(secs(&runs), 1.0 + m));
    }

    #[tokio::test]
    async fn acquire_is_immediate_while_there_is_room_and_waits_when_not() {
        let mut limits = EffectiveApiRateLimits::PRODUCTION;
        limits.invoice_send = EffectiveApiRateLimitValues::new(2, 1000, 1000);
        let p = Pacer::new(limits);
        let t0 = Instant::now();
        for _ in 0..2 {
            p.acquire(Operation::SendInvoice).await.answered(None);
        }
        assert!(t0.elapsed() < ms(100), "no wait with room");
        p.acquire(Operation::SendInvoice).await.answered(None);
        let took = t0.elapsed();
        assert!(took >= SECOND, "the third of 2/s waited: {took:?}");
        assert!(took < SECOND + ms(500), "{took:?}");
        assert!(p.waited() >= ms(900));
        // Other groups are not held up.
        let t1 = Instant::now();
        p.acquire(Operation::SessionStatus).await.answered(None);
        assert!(t1.elapsed() < ms(100));
    }

    #[tokio::test]
    async fn a_call_waiting_on_calls_in_flight_goes_when_one_is_answered() {
        let mut limits = EffectiveApiRateLimits::PRODUCTION;
        limits.invoice_send = EffectiveApiRateLimitValues::new(1, 1000, 1000);
        let p = Pacer::new(limits);
        let first = p.acquire(Operation::SendInvoice).await;
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move {
                p.acquire(Operation::SendInvoice).await.answered(None);
                Instant::now()
            })
        };
        tokio::time::sleep(ms(300)).await;
        assert!(!waiter.is_finished(), "a slot in flight is held");
        let answered = Instant::now();
        first.answered(None);
        let went = waiter.await.unwrap();
        // …then the window runs from the answer, not from the start.
        assert!(went >= answered + SECOND, "{:?}", went - answered);
    }

    #[test]
    fn poll_interval_follows_the_tightest_window() {
        let mut limits = EffectiveApiRateLimits::PRODUCTION;
        let p = Pacer::new(limits);
        // sessionMisc 10/s, 120/min, 1200/h.
        assert_eq!(p.poll_interval(RateLimitGroup::SessionMisc, false), ms(500));
        assert_eq!(p.poll_interval(RateLimitGroup::SessionMisc, true), ms(3000));
        limits.session_misc = EffectiveApiRateLimitValues::new(2, 6, 60);
        let p = Pacer::new(limits);
        assert_eq!(
            p.poll_interval(RateLimitGroup::SessionMisc, false),
            ms(10_000)
        );
        assert_eq!(
            p.poll_interval(RateLimitGroup::SessionMisc, true),
            ms(60_000)
        );
    }

    /// The cost with limits that never bind: 1 000 calls through the pacer, each with an
    /// estimate of the rest (what the online flow does per invoice).
    #[tokio::test]
    async fn cheap_when_limits_are_high() {
        let high = EffectiveApiRateLimitValues::new(100_000, 1_000_000, 10_000_000);
        let mut limits = EffectiveApiRateLimits::PRODUCTION;
        limits.invoice_send = high;
        limits.online_session = high;
        let p = Pacer::new(limits);
        let t0 = std::time::Instant::now();
        for i in 0..1000u64 {
            p.acquire(Operation::SendInvoice).await.answered(None);
            p.estimate(&[
                (RateLimitGroup::InvoiceSend, 1000 - i),
                (RateLimitGroup::OnlineSession, 1),
            ]);
        }
        let took = t0.elapsed();
        eprintln!("1 000 paced calls with estimates: {took:?}");
        assert_eq!(p.waited(), Duration::ZERO);
        assert!(took < ms(500), "{took:?}");
    }
}
