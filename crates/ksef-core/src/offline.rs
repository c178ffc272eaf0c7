//! KSeF offline modes and the deadlines for sending offline invoices to KSeF (digest §13.1;
//! CIRFMF `tryby-offline.md`, "Zestawienie trybów wystawiania faktur w KSeF").
//!
//! | [`OfflineMode`] | Triggered by | Deadline (last day on which sending is on time) |
//! |---|---|---|
//! | [`Offline24`](OfflineMode::Offline24) | the taxpayer, for any reason (art. 106nda VAT Act) | the next business day after the issue date `P_1` |
//! | [`Unavailability`](OfflineMode::Unavailability) | KSeF unavailability announced by MF (art. 106nh) | the next business day after the unavailability ends |
//! | [`Emergency`](OfflineMode::Emergency) | KSeF failure announced by MF, *tryb awaryjny* (art. 106nf) | the 7th business day after the failure ends |
//!
//! The deadline is a calendar day in Poland: sending on that day is on time, sending on the
//! next day is late ([`is_overdue_on`]; [`is_overdue`] takes an instant and uses the Warsaw
//! calendar day of it). Business days are those of [`crate::business_day`].
//!
//! A failure announced while an invoice's sending window is open moves its deadline to 7
//! business days after that failure ends; in emergency mode a new announcement restarts the
//! count the same way ([`OfflineMode::after_failure`]). A *total* failure (announced in the
//! mass media) lifts the obligation to send at all; it has no deadline and is not modelled.
//!
//! The modes only matter for the deadline: on the wire every offline invoice is sent with
//! `offlineMode: true`, whatever the reason.

use std::fmt;
use std::str::FromStr;

use time::{Date, OffsetDateTime};

use crate::ParseEnumError;
use crate::business_day::{add_business_days, next_business_day_after};
use crate::warsaw;

/// Business days after the end of a KSeF failure within which its invoices must be sent.
pub const EMERGENCY_BUSINESS_DAYS: u32 = 7;

/// The kind of an [`OfflineMode`] without its end date: what a form's select or a database
/// column holds. [`OfflineMode::new`] adds the end date the kind needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OfflineModeKind {
    /// The taxpayer's own choice (*offline24*).
    Offline24,
    /// KSeF unavailability announced by the Ministry of Finance (*niedostępność KSeF*).
    Unavailability,
    /// KSeF failure announced by the Ministry of Finance (*tryb awaryjny*).
    Emergency,
}

impl OfflineModeKind {
    /// Every kind, in declaration order.
    pub const ALL: [OfflineModeKind; 3] = [
        OfflineModeKind::Offline24,
        OfflineModeKind::Unavailability,
        OfflineModeKind::Emergency,
    ];
    const CODES: &'static [&'static str] = &["offline24", "unavailability", "emergency"];

    /// A stable code for storage and forms: `offline24`, `unavailability`, `emergency`
    /// (parsed back by [`FromStr`]).
    pub const fn as_str(self) -> &'static str {
        match self {
            OfflineModeKind::Offline24 => "offline24",
            OfflineModeKind::Unavailability => "unavailability",
            OfflineModeKind::Emergency => "emergency",
        }
    }

    /// The Polish name for the web UI: `offline24`, `niedostępność KSeF`, `tryb awaryjny`.
    pub const fn polish_name(self) -> &'static str {
        match self {
            OfflineModeKind::Offline24 => "offline24",
            OfflineModeKind::Unavailability => "niedostępność KSeF",
            OfflineModeKind::Emergency => "tryb awaryjny",
        }
    }

    /// The English name (also the [`Display`](fmt::Display) form): `offline24`,
    /// `KSeF unavailability`, `emergency mode`.
    pub const fn english_name(self) -> &'static str {
        match self {
            OfflineModeKind::Offline24 => "offline24",
            OfflineModeKind::Unavailability => "KSeF unavailability",
            OfflineModeKind::Emergency => "emergency mode",
        }
    }

    /// The article of the VAT Act (*ustawa o podatku od towarów i usług*) the mode rests on,
    /// in Polish: `art. 106nda`, `art. 106nh`, `art. 106nf`.
    pub const fn legal_basis(self) -> &'static str {
        match self {
            OfflineModeKind::Offline24 => "art. 106nda",
            OfflineModeKind::Unavailability => "art. 106nh",
            OfflineModeKind::Emergency => "art. 106nf",
        }
    }

    /// Whether the mode's deadline depends on the day an announced event ended (true for
    /// [`Unavailability`](Self::Unavailability) and [`Emergency`](Self::Emergency)).
    pub const fn needs_end_date(self) -> bool {
        !matches!(self, OfflineModeKind::Offline24)
    }
}

impl fmt::Display for OfflineModeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.english_name())
    }
}

impl FromStr for OfflineModeKind {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OfflineModeKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| ParseEnumError {
                type_name: "OfflineModeKind",
                value: s.to_owned(),
                expected: Self::CODES,
            })
    }
}

/// Why an invoice is sent to KSeF after being issued, with what its deadline depends on.
///
/// The modes triggered by an announcement carry the (Warsaw calendar) day the announced
/// unavailability or failure ended, so a deadline cannot be computed without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfflineMode {
    /// The taxpayer's choice (*offline24*): due the next business day after the issue date.
    Offline24,
    /// KSeF unavailability announced by MF: due the next business day after it ends.
    Unavailability {
        /// The day the unavailability ended.
        ends: Date,
    },
    /// KSeF failure announced by MF (*tryb awaryjny*): due 7 business days after it ends.
    Emergency {
        /// The day the failure ended.
        ends: Date,
    },
}

/// A mode and an end date that do not fit together ([`OfflineMode::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OfflineModeError {
    /// An unavailability or a failure without the day it ended.
    #[error("{0} needs the day it ended")]
    MissingEnd(OfflineModeKind),
    /// An end date given for offline24, which is not an announced event.
    #[error("offline24 is the taxpayer's choice and has no end date")]
    UnexpectedEnd,
}

/// A deadline that cannot be computed from the given dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    /// The unavailability or failure ended before the invoice was issued, so the invoice was
    /// not issued in that mode.
    #[error("the {kind} ended on {ends}, before the invoice's issue date {issued}")]
    EndsBeforeIssue {
        /// The mode.
        kind: OfflineModeKind,
        /// The issue date (`P_1`).
        issued: Date,
        /// The day the unavailability or failure ended.
        ends: Date,
    },
    /// A failure said to end before it was announced.
    #[error("a KSeF failure announced on {announced} cannot have ended on {ends}")]
    FailureEndsBeforeAnnouncement {
        /// The day the failure was announced.
        announced: Date,
        /// The day it ended.
        ends: Date,
    },
    /// The deadline would lie past 31 December 9999.
    #[error("the deadline lies past the end of the calendar (9999-12-31)")]
    OutOfRange,
}

impl OfflineMode {
    /// The mode of `kind`, with the end date `ends` for the kinds that
    /// [need one](OfflineModeKind::needs_end_date) (and none for offline24).
    pub fn new(kind: OfflineModeKind, ends: Option<Date>) -> Result<Self, OfflineModeError> {
        match (kind, ends) {
            (OfflineModeKind::Offline24, None) => Ok(OfflineMode::Offline24),
            (OfflineModeKind::Offline24, Some(_)) => Err(OfflineModeError::UnexpectedEnd),
            (OfflineModeKind::Unavailability, Some(ends)) => {
                Ok(OfflineMode::Unavailability { ends })
            }
            (OfflineModeKind::Emergency, Some(ends)) => Ok(OfflineMode::Emergency { ends }),
            (kind, None) => Err(OfflineModeError::MissingEnd(kind)),
        }
    }

    /// The kind of the mode, without its end date.
    pub const fn kind(self) -> OfflineModeKind {
        match self {
            OfflineMode::Offline24 => OfflineModeKind::Offline24,
            OfflineMode::Unavailability { .. } => OfflineModeKind::Unavailability,
            OfflineMode::Emergency { .. } => OfflineModeKind::Emergency,
        }
    }

    /// The day the unavailability or failure ended (`None` for offline24).
    pub const fn ends(self) -> Option<Date> {
        match self {
            OfflineMode::Offline24 => None,
            OfflineMode::Unavailability { ends } | OfflineMode::Emergency { ends } => Some(ends),
        }
    }

    /// The Polish name of the mode ([`OfflineModeKind::polish_name`]).
    pub const fn polish_name(self) -> &'static str {
        self.kind().polish_name()
    }

    /// The last day on which an invoice issued on `issued` (its `P_1`) may be sent to KSeF on
    /// time: the next business day after `issued` (offline24), the next business day after
    /// the unavailability ends, or the 7th business day after the failure ends.
    ///
    /// Errors when the unavailability or failure ended before `issued`
    /// ([`DeadlineError::EndsBeforeIssue`]) or the deadline is past 9999-12-31.
    pub fn sending_deadline(self, issued: Date) -> Result<Date, DeadlineError> {
        let deadline = match self {
            OfflineMode::Offline24 => next_business_day_after(issued),
            OfflineMode::Unavailability { ends } | OfflineMode::Emergency { ends }
                if ends < issued =>
            {
                return Err(DeadlineError::EndsBeforeIssue {
                    kind: self.kind(),
                    issued,
                    ends,
                });
            }
            OfflineMode::Unavailability { ends } => next_business_day_after(ends),
            OfflineMode::Emergency { ends } => add_business_days(ends, EMERGENCY_BUSINESS_DAYS),
        };
        deadline.ok_or(DeadlineError::OutOfRange)
    }

    /// The mode of an invoice issued on `issued` in mode `self` after MF announced, on
    /// `announced`, a KSeF failure that ended on `ends`.
    ///
    /// A failure announced while the sending window is open (on or before the current
    /// deadline, and not over before the issue date) moves the deadline to 7 business days
    /// after the failure ends, i.e. the invoice continues as
    /// [`Emergency { ends }`](OfflineMode::Emergency); in emergency mode the count restarts
    /// from the end of the new failure (`tryby-offline.md`, "Termin przesłania faktury do
    /// KSeF przy kolejnych zdarzeniach"). A failure announced after the deadline changes
    /// nothing, and neither does one that would bring the deadline earlier (the rule only
    /// ever moves a deadline later).
    pub fn after_failure(
        self,
        issued: Date,
        announced: Date,
        ends: Date,
    ) -> Result<OfflineMode, DeadlineError> {
        if ends < announced {
            return Err(DeadlineError::FailureEndsBeforeAnnouncement { announced, ends });
        }
        let current = self.sending_deadline(issued)?;
        if announced > current || ends < issued {
            return Ok(self);
        }
        let moved = OfflineMode::Emergency { ends };
        if moved.sending_deadline(issued)? >= current {
            Ok(moved)
        } else {
            Ok(self)
        }
    }
}

impl fmt::Display for OfflineMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind().english_name())
    }
}

/// Whether an invoice due on `deadline` is overdue on the calendar day `today`: the deadline
/// day itself is still on time, so only `deadline < today` is overdue.
pub fn is_overdue_on(deadline: Date, today: Date) -> bool {
    deadline < today
}

/// Whether an invoice due on `deadline` is overdue at the instant `now`, judged by the
/// calendar day in Poland ([`warsaw::to_warsaw`]): `2026-12-28` is still on time at
/// `2026-12-28 22:59:59Z` (23:59:59 in Warsaw) and overdue a second later.
pub fn is_overdue(deadline: Date, now: OffsetDateTime) -> bool {
    is_overdue_on(deadline, warsaw::to_warsaw(now).date())
}

#[cfg(test)]
mod tests;
