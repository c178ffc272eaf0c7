use time::macros::{date, datetime};

use super::*;

#[test]
fn offline24_is_due_the_next_business_day_after_the_issue_date() {
    for (issued, due) in [
        // tryby-offline.md: issued 2025-07-08, due 2025-07-09 (a Tuesday and a Wednesday;
        // the page calls them Wednesday and Thursday, its dates are what counts)
        (date!(2025 - 07 - 08), date!(2025 - 07 - 09)),
        // Friday → Monday; issued on a Saturday → Monday
        (date!(2026 - 03 - 13), date!(2026 - 03 - 16)),
        (date!(2026 - 03 - 14), date!(2026 - 03 - 16)),
        // before the long weekend of May 2026 (1 May Fri, 2–3 May weekend)
        (date!(2026 - 04 - 30), date!(2026 - 05 - 04)),
        // 23 Dec 2026: 24, 25, 26 holidays (Thu–Sat), 27 Sunday
        (date!(2026 - 12 - 23), date!(2026 - 12 - 28)),
        // 2024: 24 December was still a business day
        (date!(2024 - 12 - 23), date!(2024 - 12 - 24)),
        // Easter 2027: Friday 26 March → Tuesday 30 March (29 Easter Monday)
        (date!(2027 - 03 - 26), date!(2027 - 03 - 30)),
    ] {
        assert_eq!(
            OfflineMode::Offline24.sending_deadline(issued),
            Ok(due),
            "{issued}"
        );
    }
}

#[test]
fn unavailability_is_due_the_next_business_day_after_it_ends() {
    let issued = date!(2026 - 04 - 01);
    for (ends, due) in [
        // ends on Good Friday (a business day) → Tuesday after Easter Monday
        (date!(2026 - 04 - 03), date!(2026 - 04 - 07)),
        // ends the day the invoice was issued
        (date!(2026 - 04 - 01), date!(2026 - 04 - 02)),
        // ends Wednesday 23 December → Monday 28 December
        (date!(2026 - 12 - 23), date!(2026 - 12 - 28)),
    ] {
        assert_eq!(
            OfflineMode::Unavailability { ends }.sending_deadline(issued),
            Ok(due),
            "{ends}"
        );
    }
}

#[test]
fn emergency_is_due_seven_business_days_after_the_failure_ends() {
    for (issued, ends, due) in [
        // tryby-offline.md: failure over on Saturday 2025-07-12 → Tuesday 2025-07-22
        (
            date!(2025 - 07 - 08),
            date!(2025 - 07 - 12),
            date!(2025 - 07 - 22),
        ),
        // across Christmas 2026 and New Year + Epiphany 2027:
        // 28, 29, 30, 31 Dec, 4, 5, (6 Jan holiday) 7 Jan
        (
            date!(2026 - 12 - 21),
            date!(2026 - 12 - 23),
            date!(2027 - 01 - 07),
        ),
        // across Easter 2026: 3, (6 Easter Monday) 7, 8, 9, 10, 13, 14 April
        (
            date!(2026 - 04 - 01),
            date!(2026 - 04 - 02),
            date!(2026 - 04 - 14),
        ),
        // across Corpus Christi 2027 (Thu 27 May): 26, 28, 31 May, 1, 2, 3, 4 June
        (
            date!(2027 - 05 - 24),
            date!(2027 - 05 - 25),
            date!(2027 - 06 - 04),
        ),
    ] {
        assert_eq!(
            OfflineMode::Emergency { ends }.sending_deadline(issued),
            Ok(due),
            "{ends}"
        );
    }
    assert_eq!(EMERGENCY_BUSINESS_DAYS, 7);
}

#[test]
fn an_event_that_ended_before_the_issue_date_is_an_error() {
    let issued = date!(2026 - 04 - 10);
    let ends = date!(2026 - 04 - 09);
    for mode in [
        OfflineMode::Unavailability { ends },
        OfflineMode::Emergency { ends },
    ] {
        let err = mode.sending_deadline(issued).unwrap_err();
        assert_eq!(
            err,
            DeadlineError::EndsBeforeIssue {
                kind: mode.kind(),
                issued,
                ends
            }
        );
        assert!(err.to_string().contains("2026-04-09"), "{err}");
    }
}

#[test]
fn deadlines_past_the_end_of_the_calendar() {
    // 9999-12-31 is a Friday, the last day `time` can represent.
    assert_eq!(
        OfflineMode::Offline24.sending_deadline(date!(9999 - 12 - 31)),
        Err(DeadlineError::OutOfRange)
    );
    // Monday 9999-12-20: 21, 22, 23, (24 holiday, weekend) 27, 28, 29, 30
    let ends = date!(9999 - 12 - 20);
    assert_eq!(
        OfflineMode::Emergency { ends }.sending_deadline(ends),
        Ok(date!(9999 - 12 - 30))
    );
    let ends = date!(9999 - 12 - 22);
    assert_eq!(
        OfflineMode::Emergency { ends }.sending_deadline(ends),
        Err(DeadlineError::OutOfRange)
    );
}

#[test]
fn a_failure_during_the_window_moves_the_deadline() {
    // tryby-offline.md, "Przykład: tryb offline24 z ogłoszoną awarią KSeF": issued
    // 2025-07-08 (due 07-09), failure announced 07-09, over 07-12 → due 07-22.
    let issued = date!(2025 - 07 - 08);
    let mode = OfflineMode::Offline24
        .after_failure(issued, date!(2025 - 07 - 09), date!(2025 - 07 - 12))
        .unwrap();
    assert_eq!(
        mode,
        OfflineMode::Emergency {
            ends: date!(2025 - 07 - 12)
        }
    );
    assert_eq!(mode.sending_deadline(issued), Ok(date!(2025 - 07 - 22)));

    // Announced after the deadline: too late, nothing changes.
    assert_eq!(
        OfflineMode::Offline24.after_failure(issued, date!(2025 - 07 - 10), date!(2025 - 07 - 12)),
        Ok(OfflineMode::Offline24)
    );
    // Announced on the issue date, over the same day: 7 business days from that day.
    let mode = OfflineMode::Offline24
        .after_failure(issued, issued, issued)
        .unwrap();
    assert_eq!(mode.sending_deadline(issued), Ok(date!(2025 - 07 - 17)));

    // Unavailability: the window is open until the next business day after its end.
    let unavailable = OfflineMode::Unavailability {
        ends: date!(2026 - 04 - 03),
    };
    let issued = date!(2026 - 04 - 02);
    assert_eq!(
        unavailable.sending_deadline(issued),
        Ok(date!(2026 - 04 - 07))
    );
    let moved = unavailable
        .after_failure(issued, date!(2026 - 04 - 07), date!(2026 - 04 - 08))
        .unwrap();
    assert_eq!(
        moved,
        OfflineMode::Emergency {
            ends: date!(2026 - 04 - 08)
        }
    );
    // 9, 10, 13, 14, 15, 16, 17 April
    assert_eq!(moved.sending_deadline(issued), Ok(date!(2026 - 04 - 17)));
}

#[test]
fn a_new_failure_restarts_the_emergency_count() {
    let issued = date!(2026 - 04 - 01);
    let first = OfflineMode::Emergency {
        ends: date!(2026 - 04 - 02),
    };
    assert_eq!(first.sending_deadline(issued), Ok(date!(2026 - 04 - 14)));
    // Announced on 10 April, over on 13 April: 14, 15, 16, 17, 20, 21, 22 April.
    let second = first
        .after_failure(issued, date!(2026 - 04 - 10), date!(2026 - 04 - 13))
        .unwrap();
    assert_eq!(
        second,
        OfflineMode::Emergency {
            ends: date!(2026 - 04 - 13)
        }
    );
    assert_eq!(second.sending_deadline(issued), Ok(date!(2026 - 04 - 22)));
    // Announced on the deadline day itself: still inside the window.
    let third = second
        .after_failure(issued, date!(2026 - 04 - 22), date!(2026 - 04 - 22))
        .unwrap();
    assert_eq!(third.sending_deadline(issued), Ok(date!(2026 - 05 - 04)));
    // Announced the day after the deadline: nothing changes.
    assert_eq!(
        second.after_failure(issued, date!(2026 - 04 - 23), date!(2026 - 04 - 24)),
        Ok(second)
    );
}

#[test]
fn failures_that_do_not_apply_or_make_no_sense() {
    let issued = date!(2026 - 05 - 11);
    // A failure over before the invoice was issued does not concern it.
    assert_eq!(
        OfflineMode::Offline24.after_failure(issued, date!(2026 - 05 - 04), date!(2026 - 05 - 08)),
        Ok(OfflineMode::Offline24)
    );
    // A short failure inside a long unavailability would bring the deadline earlier:
    // the unavailability's deadline (Monday 1 June) stays.
    let unavailable = OfflineMode::Unavailability {
        ends: date!(2026 - 05 - 29),
    };
    assert_eq!(
        unavailable.sending_deadline(issued),
        Ok(date!(2026 - 06 - 01))
    );
    assert_eq!(
        unavailable.after_failure(issued, date!(2026 - 05 - 12), date!(2026 - 05 - 12)),
        Ok(unavailable)
    );
    // A failure cannot end before it was announced.
    assert_eq!(
        OfflineMode::Offline24.after_failure(issued, date!(2026 - 05 - 12), date!(2026 - 05 - 11)),
        Err(DeadlineError::FailureEndsBeforeAnnouncement {
            announced: date!(2026 - 05 - 12),
            ends: date!(2026 - 05 - 11)
        })
    );
    // An inconsistent mode stays an error.
    let stale = OfflineMode::Emergency {
        ends: date!(2026 - 05 - 01),
    };
    assert!(matches!(
        stale.after_failure(issued, issued, issued),
        Err(DeadlineError::EndsBeforeIssue { .. })
    ));
}

#[test]
fn the_deadline_day_itself_is_on_time() {
    let deadline = date!(2026 - 12 - 28);
    assert!(!is_overdue_on(deadline, date!(2026 - 12 - 23)));
    assert!(!is_overdue_on(deadline, deadline));
    assert!(is_overdue_on(deadline, date!(2026 - 12 - 29)));
    assert!(is_overdue_on(deadline, date!(2027 - 01 - 04)));
}

#[test]
fn overdue_by_the_warsaw_calendar_day() {
    // Winter (CET, +01:00): the deadline day ends at 23:00 UTC.
    let deadline = date!(2026 - 12 - 28);
    assert!(!is_overdue(
        deadline,
        datetime!(2026-12-28 22:59:59.999 UTC)
    ));
    assert!(is_overdue(deadline, datetime!(2026-12-28 23:00 UTC)));
    // Summer (CEST, +02:00): it ends at 22:00 UTC.
    let deadline = date!(2026 - 05 - 04);
    assert!(!is_overdue(deadline, datetime!(2026-05-04 21:59:59 UTC)));
    assert!(is_overdue(deadline, datetime!(2026-05-04 22:00 UTC)));
    // The offset of `now` does not matter, only the instant: 2026-05-04 23:30 in New York
    // is already 5 May in Warsaw, and 5 May 01:00 in Tokyo is still 4 May in Warsaw.
    assert!(is_overdue(deadline, datetime!(2026-05-04 23:30 -04:00)));
    assert!(!is_overdue(deadline, datetime!(2026-05-05 01:00 +09:00)));
}

#[test]
fn modes_from_a_kind_and_an_end_date() {
    let ends = date!(2026 - 04 - 03);
    assert_eq!(
        OfflineMode::new(OfflineModeKind::Offline24, None),
        Ok(OfflineMode::Offline24)
    );
    assert_eq!(
        OfflineMode::new(OfflineModeKind::Unavailability, Some(ends)),
        Ok(OfflineMode::Unavailability { ends })
    );
    assert_eq!(
        OfflineMode::new(OfflineModeKind::Emergency, Some(ends)),
        Ok(OfflineMode::Emergency { ends })
    );
    assert_eq!(
        OfflineMode::new(OfflineModeKind::Offline24, Some(ends)),
        Err(OfflineModeError::UnexpectedEnd)
    );
    for kind in [OfflineModeKind::Unavailability, OfflineModeKind::Emergency] {
        assert!(kind.needs_end_date());
        let err = OfflineMode::new(kind, None).unwrap_err();
        assert_eq!(err, OfflineModeError::MissingEnd(kind));
        assert_eq!(err.to_string(), format!("{kind} needs the day it ended"));
    }
    assert!(!OfflineModeKind::Offline24.needs_end_date());
    // kind() and ends() give back what new() took.
    for kind in OfflineModeKind::ALL {
        let end = kind.needs_end_date().then_some(ends);
        let mode = OfflineMode::new(kind, end).unwrap();
        assert_eq!(mode.kind(), kind);
        assert_eq!(mode.ends(), end);
        assert_eq!(mode.polish_name(), kind.polish_name());
        assert_eq!(mode.to_string(), kind.to_string());
    }
}

#[test]
fn names_and_codes() {
    let table = [
        (
            OfflineModeKind::Offline24,
            "offline24",
            "offline24",
            "offline24",
            "art. 106nda",
        ),
        (
            OfflineModeKind::Unavailability,
            "unavailability",
            "niedostępność KSeF",
            "KSeF unavailability",
            "art. 106nh",
        ),
        (
            OfflineModeKind::Emergency,
            "emergency",
            "tryb awaryjny",
            "emergency mode",
            "art. 106nf",
        ),
    ];
    for (kind, code, polish, english, article) in table {
        assert_eq!(kind.as_str(), code);
        assert_eq!(code.parse::<OfflineModeKind>(), Ok(kind));
        assert_eq!(kind.polish_name(), polish);
        assert_eq!(kind.to_string(), english);
        assert_eq!(kind.legal_basis(), article);
    }
    assert_eq!(
        OfflineModeKind::ALL.map(OfflineModeKind::as_str).as_slice(),
        OfflineModeKind::CODES
    );
    let err = "Offline24".parse::<OfflineModeKind>().unwrap_err();
    assert_eq!(err.type_name, "OfflineModeKind");
    assert_eq!(err.value, "Offline24");
    assert_eq!(err.expected, ["offline24", "unavailability", "emergency"]);
    assert!("".parse::<OfflineModeKind>().is_err());
}
