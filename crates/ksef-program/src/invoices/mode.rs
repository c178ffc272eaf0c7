//! The send-mode decision of [`send`](super::send): online or batch.
//!
//! An online session sends invoice by invoice, each call counted against the context's
//! `invoiceSend` rate limits (digest §15.1: PRD 10/s, 30/min, 180/h, all three at once), so a
//! large set takes hours; a batch session takes up to 10 000 invoices in one upload. Without a
//! forced mode, [`choose_mode`] estimates the online send at the context's limits (the
//! [`Pacer`]'s own schedule: session opens and closes, every send) and picks batch above a
//! threshold ([`DEFAULT_ONLINE_LIMIT`], 5 minutes) when every form may go in a batch.

use std::time::Duration;

use ksef_client::{LimitsSource, Pacer};
use ksef_wire::{EffectiveApiRateLimitValues, EffectiveApiRateLimits, RateLimitGroup};

use super::{FormCode, form_name};

/// The longest online send [`SendMode::Auto`] accepts before it switches to batch.
pub const DEFAULT_ONLINE_LIMIT: Duration = Duration::from_secs(5 * 60);

/// How [`send`](super::send) chooses the session kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendMode {
    /// Online, unless that would take longer than the threshold at the context's rate limits
    /// and every form may go in a batch.
    #[default]
    Auto,
    /// Online, however long it takes (`--online`).
    Online,
    /// Batch (`--batch`).
    Batch,
}

/// The kind of session chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Online,
    Batch,
}

/// Why [`choose_mode`] chose as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeReason {
    /// The caller forced the mode.
    Forced,
    /// The online send fits the threshold.
    FitsOnline,
    /// The online send would take longer than the threshold: batch instead.
    TooSlowOnline,
    /// The online send would take longer than the threshold, but this form cannot go in a
    /// batch session (KSeF takes it only online).
    NotBatchable { form: &'static str },
}

/// The decision, with what it was based on (for the front ends to explain it).
#[derive(Debug, Clone, PartialEq)]
pub struct ModeDecision {
    pub kind: SessionKind,
    pub reason: ModeReason,
    /// Invoices to send.
    pub invoices: usize,
    /// How long sending them online would take at the limits (sessions opened and closed,
    /// every invoice sent; KSeF's processing afterwards not included).
    pub online_estimate: Duration,
    /// The threshold compared with.
    pub threshold: Duration,
    /// The context's `invoiceSend` limits.
    pub invoice_send: EffectiveApiRateLimitValues,
    /// Where the limits come from.
    pub limits_source: LimitsSource,
}

impl ModeDecision {
    /// A batch session.
    pub fn batch(&self) -> bool {
        self.kind == SessionKind::Batch
    }

    /// The online estimate is above the threshold (online was chosen anyway, or not).
    pub fn online_is_slow(&self) -> bool {
        self.online_estimate > self.threshold
    }
}

/// How long online sessions of these sizes (invoices each), one after the other, take at
/// `limits`: per session one `onlineSession` call to open, the `invoiceSend` calls, one to
/// close — the pacer's schedule with all three windows of each group, from idle windows.
pub fn online_estimate(limits: &EffectiveApiRateLimits, sessions: &[usize]) -> Duration {
    let runs: Vec<(RateLimitGroup, u64)> = sessions
        .iter()
        .flat_map(|&n| {
            [
                (RateLimitGroup::OnlineSession, 1),
                (RateLimitGroup::InvoiceSend, n as u64),
                (RateLimitGroup::OnlineSession, 1),
            ]
        })
        .collect();
    Pacer::new(*limits).estimate(&runs)
}

/// The sizes of the online sessions `send` opens for `forms` (one form per file): one group
/// per form, cut into sessions of at most `per_session`.
fn session_sizes(forms: &[FormCode], per_session: usize) -> Vec<usize> {
    let mut groups: Vec<(FormCode, usize)> = Vec::new();
    for f in forms {
        match groups.iter_mut().find(|(g, _)| g == f) {
            Some((_, n)) => *n += 1,
            None => groups.push((*f, 1)),
        }
    }
    let per_session = per_session.max(1);
    groups
        .into_iter()
        .flat_map(|(_, n)| {
            let full = n / per_session;
            std::iter::repeat_n(per_session, full)
                .chain((n % per_session > 0).then_some(n % per_session))
        })
        .collect()
}

/// Online or batch for files of `forms` (one entry per file) at the context's rate `limits`:
/// the forced mode if any; else online when its estimate is within `threshold`, batch when it is
/// above and every form may go in a batch session, online otherwise (the form is named).
pub fn choose_mode(
    mode: SendMode,
    limits: &EffectiveApiRateLimits,
    limits_source: LimitsSource,
    forms: &[FormCode],
    per_session: usize,
    threshold: Duration,
) -> ModeDecision {
    let online_estimate = online_estimate(limits, &session_sizes(forms, per_session));
    let slow = online_estimate > threshold;
    let not_batchable = forms.iter().find(|f| !f.allowed_in_batch());
    let (kind, reason) = match (mode, slow, not_batchable) {
        (SendMode::Online, ..) => (SessionKind::Online, ModeReason::Forced),
        (SendMode::Batch, ..) => (SessionKind::Batch, ModeReason::Forced),
        (SendMode::Auto, false, _) => (SessionKind::Online, ModeReason::FitsOnline),
        (SendMode::Auto, true, None) => (SessionKind::Batch, ModeReason::TooSlowOnline),
        (SendMode::Auto, true, Some(f)) => (
            SessionKind::Online,
            ModeReason::NotBatchable {
                form: form_name(*f),
            },
        ),
    };
    ModeDecision {
        kind,
        reason,
        invoices: forms.len(),
        online_estimate,
        threshold,
        invoice_send: limits.invoice_send,
        limits_source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRD: EffectiveApiRateLimits = EffectiveApiRateLimits::PRODUCTION;
    const MARGIN: f64 = ksef_client::SAFETY_MARGIN.as_secs_f64();

    fn fa3(n: usize) -> Vec<FormCode> {
        vec![FormCode::Fa3; n]
    }

    fn auto(forms: &[FormCode], limits: &EffectiveApiRateLimits) -> ModeDecision {
        choose_mode(
            SendMode::Auto,
            limits,
            LimitsSource::Context,
            forms,
            10_000,
            DEFAULT_ONLINE_LIMIT,
        )
    }

    fn close(a: Duration, secs: f64) -> bool {
        (a.as_secs_f64() - secs).abs() < 1e-3
    }

    /// PRD invoiceSend 10/s, 30/min, 180/h: sends go in bursts of 10 a second, 30 a minute.
    /// 150 invoices: the 121st–150th start 4 minutes after the first (the minute window), in
    /// three bursts 1 s apart → about 4 min 2 s: online. The 151st would wait for the 5th
    /// minute → above 5 minutes: batch.
    #[test]
    fn prd_limits_150_invoices_fit_five_minutes_151_do_not() {
        let d = auto(&fa3(150), &PRD);
        assert_eq!(
            (d.kind, d.reason),
            (SessionKind::Online, ModeReason::FitsOnline)
        );
        // Four minute-windows (each + margin) and two second-windows; the open and close
        // (onlineSession 10/s) add nothing.
        assert!(
            close(
                d.online_estimate,
                4.0 * (60.0 + MARGIN) + 2.0 * (1.0 + MARGIN)
            ),
            "{:?}",
            d.online_estimate
        );
        let d = auto(&fa3(151), &PRD);
        assert_eq!(
            (d.kind, d.reason),
            (SessionKind::Batch, ModeReason::TooSlowOnline)
        );
        assert!(
            close(d.online_estimate, 5.0 * (60.0 + MARGIN)),
            "{:?}",
            d.online_estimate
        );
        assert_eq!(d.invoice_send, PRD.invoice_send);
        assert_eq!(d.invoices, 151);
    }

    /// The hour window: 180 fit an hour (the 180th ≈ 5 min in), the 181st waits for the first
    /// to leave the hour; 1 000 invoices ≈ 5 h 3 min (the 1 000th is the 100th of the sixth hour).
    #[test]
    fn prd_hour_window() {
        let d = auto(&fa3(181), &PRD);
        assert!(
            close(d.online_estimate, 3600.0 + MARGIN),
            "{:?}",
            d.online_estimate
        );
        let d = auto(&fa3(1000), &PRD);
        let h = 3600.0 + MARGIN;
        let m = 60.0 + MARGIN;
        assert!(
            close(d.online_estimate, 5.0 * h + 3.0 * m),
            "{:?}",
            d.online_estimate
        );
        assert!(d.batch());
    }

    /// The emulator test's limits: invoiceSend 2/s, 6/min. 8 invoices: the 7th waits for the
    /// minute → about a minute, online. 40: 6 minutes and more → batch.
    #[test]
    fn tight_limits() {
        let mut l = PRD;
        l.invoice_send = EffectiveApiRateLimitValues::new(2, 6, 100);
        l.online_session = EffectiveApiRateLimitValues::new(2, 10, 60);
        let d = auto(&fa3(8), &l);
        assert!(!d.batch());
        assert!(
            close(d.online_estimate, 60.0 + MARGIN),
            "{:?}",
            d.online_estimate
        );
        let d = auto(&fa3(40), &l);
        assert!(d.batch(), "{d:?}");
        assert!(d.online_estimate > Duration::from_secs(6 * 60));
        // Forced modes win.
        let forced = choose_mode(
            SendMode::Online,
            &l,
            LimitsSource::Context,
            &fa3(40),
            10_000,
            DEFAULT_ONLINE_LIMIT,
        );
        assert_eq!(
            (forced.kind, forced.reason),
            (SessionKind::Online, ModeReason::Forced)
        );
        assert!(forced.online_is_slow());
        let forced = choose_mode(
            SendMode::Batch,
            &l,
            LimitsSource::Context,
            &fa3(1),
            10_000,
            DEFAULT_ONLINE_LIMIT,
        );
        assert_eq!(
            (forced.kind, forced.reason),
            (SessionKind::Batch, ModeReason::Forced)
        );
    }

    /// Sessions count: every online session opens and closes (onlineSession PRD 30/min), and
    /// forms go in sessions of their own.
    #[test]
    fn session_opens_and_closes_count() {
        let mut l = EffectiveApiRateLimits::PRODUCTION;
        l.invoice_send = EffectiveApiRateLimitValues::new(1000, 100_000, 1_000_000);
        // 40 one-invoice sessions: 80 onlineSession calls, 30 a minute → two minute-waits.
        let d = choose_mode(
            SendMode::Auto,
            &l,
            LimitsSource::Context,
            &fa3(40),
            1,
            DEFAULT_ONLINE_LIMIT,
        );
        let m = 60.0 + MARGIN;
        assert!(
            close(d.online_estimate, 2.0 * m + 1.0 + MARGIN),
            "{:?}",
            d.online_estimate
        );
        assert_eq!(session_sizes(&fa3(7), 3), [3, 3, 1]);
        let mixed = [FormCode::Fa3, FormCode::Fa2, FormCode::Fa3];
        assert_eq!(session_sizes(&mixed, 10), [2, 1]);
    }

    /// A form KSeF takes only online stays online, and the decision names it.
    #[test]
    fn a_form_not_allowed_in_batch_stays_online() {
        let mut forms = fa3(500);
        forms.push(FormCode::Pef3);
        let d = auto(&forms, &PRD);
        assert_eq!(d.kind, SessionKind::Online);
        assert_eq!(d.reason, ModeReason::NotBatchable { form: "PEF (3)" });
        assert!(d.online_is_slow());
    }
}
