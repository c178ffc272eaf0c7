//! The permanent-storage clock (digest §12.4): monotonic `permanentStorageDate`s and HWMs even
//! when the wall clock steps back. Held by [`crate::state::AppState`]; the session engine
//! assigns times with it, retrieval reports the HWM.

/// How far ahead of the last HWM reported the persisted ceiling is set (see [`StorageClock`]):
/// a longer lease means fewer writes, a shorter one less of a jump after a quick restart.
pub(crate) const HWM_LEASE_MS: i64 = 1_000;
/// `settings.name` of the persisted HWM ceiling.
pub(crate) const HWM_CEILING_SETTING: &str = "permanent_storage_hwm_ceiling_ms";

/// The permanent-storage clock behind `permanentStorageDate` and `permanentStorageHwmDate`
/// (digest §12.4), monotonic even when the wall clock steps back.
///
/// * A commit's permanent-storage time is `max(now, acquisition + 1, last permanent + 1,
///   last HWM + 1)`, so it is later than every HWM already reported.
/// * The HWM is `max(now − 1, last HWM, last permanent)`: never lower than one already
///   reported, and (read under [`AppState::storage_writer`], when no commit is in flight)
///   every invoice up to it is already visible.
/// * Across restarts: before an HWM above the persisted ceiling is reported, the ceiling is
///   raised to HWM + `HWM_LEASE_MS` in `settings`; the next start takes the ceiling as the
///   last HWM and `MAX(permanent_storage_ms)` as the last permanent time, so an HWM reported
///   before a restart still bounds the times assigned after it.
#[derive(Debug, Default, Clone)]
pub struct StorageClock {
    pub(crate) last_permanent_ms: i64,
    pub(crate) last_hwm_ms: i64,
    pub(crate) persisted_ceiling_ms: i64,
}

impl StorageClock {
    /// The state kept by a previous process (at start, before serving).
    pub async fn load(pool: &sqlx::SqlitePool) -> Result<Self, sqlx::Error> {
        let max_permanent: Option<i64> =
            sqlx::query_scalar("SELECT MAX(permanent_storage_ms) FROM invoices")
                .fetch_one(pool)
                .await?;
        let ceiling: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(HWM_CEILING_SETTING)
                .fetch_optional(pool)
                .await?;
        let ceiling = ceiling
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        Ok(Self::new(max_permanent.unwrap_or(0), ceiling))
    }

    /// A clock whose last permanent-storage time and last HWM (the persisted ceiling) are given.
    pub fn new(last_permanent_ms: i64, ceiling_ms: i64) -> Self {
        Self {
            last_permanent_ms,
            last_hwm_ms: ceiling_ms,
            persisted_ceiling_ms: ceiling_ms,
        }
    }

    /// Assigns the permanent-storage time of a commit happening at `now_ms`.
    pub fn next_permanent(&mut self, now_ms: i64, acquisition_ms: i64) -> i64 {
        let t = now_ms
            .max(acquisition_ms.saturating_add(1))
            .max(self.last_permanent_ms.saturating_add(1))
            .max(self.last_hwm_ms.saturating_add(1));
        self.last_permanent_ms = t;
        t
    }

    /// The HWM that may be reported at `now_ms` (not yet recorded; see [`Self::reported`]).
    pub fn hwm_at(&self, now_ms: i64) -> i64 {
        now_ms
            .saturating_sub(1)
            .max(self.last_hwm_ms)
            .max(self.last_permanent_ms)
    }

    /// Records an HWM as reported: later permanent-storage times are above it.
    pub fn reported(&mut self, hwm_ms: i64) {
        self.last_hwm_ms = self.last_hwm_ms.max(hwm_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::StorageClock;

    #[test]
    fn permanent_times_stay_above_the_hwm_when_the_clock_steps_back() {
        let mut c = StorageClock::new(0, 0);
        assert_eq!(c.next_permanent(1_000, 999), 1_000);
        let h = c.hwm_at(5_000);
        assert_eq!(h, 4_999);
        c.reported(h);
        // The clock steps 3 s back: times continue above the HWM, the HWM does not go back.
        let t = c.next_permanent(2_000, 1_999);
        assert_eq!(t, 5_000);
        assert!(c.hwm_at(2_001) >= t);
        c.reported(c.hwm_at(2_001));
        assert_eq!(c.next_permanent(2_002, 2_001), 5_001);
        // Once the clock has caught up, it is the clock again.
        assert_eq!(c.next_permanent(9_000, 8_000), 9_000);
        // Strictly after the acquisition even when the clock has not moved.
        assert_eq!(c.next_permanent(9_000, 9_000), 9_001);
    }

    #[test]
    fn a_restart_starts_above_the_persisted_ceiling() {
        // Stored invoices up to 4 000, an HWM ceiling of 6 000, the clock now at 3 000.
        let mut c = StorageClock::new(4_000, 6_000);
        assert_eq!(c.hwm_at(3_000), 6_000);
        assert_eq!(c.next_permanent(3_000, 2_999), 6_001);
    }
}
