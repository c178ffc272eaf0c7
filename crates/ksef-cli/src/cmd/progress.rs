//! A progress bar on stderr for the long invoice operations (send, batch upload, sync), shown
//! only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ksef_client::invoicing_flows::{Progress, ProgressFn};

/// A progress bar fed by the flows' [`Progress`] reports.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar on stderr if it is a terminal, else a hidden one.
    pub fn new() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        Bar { bar }
    }

    /// The callback for the flows.
    pub fn callback(&self) -> ProgressFn {
        let bar = self.bar.clone();
        let phase: Arc<Mutex<Option<&'static str>>> = Arc::new(Mutex::new(None));
        Arc::new(move |p: Progress| {
            let mut eta = None;
            let (name, bytes, done, total) = match p {
                Progress::Preparing { done, total } => ("preparing", false, done, total),
                Progress::Sending {
                    done,
                    total,
                    eta: left,
                } => {
                    eta = left;
                    ("sending", false, done, total)
                }
                Progress::Uploading { done, total } => ("uploading", true, done, total),
                Progress::Processing { done, total } => ("KSeF processing", false, done, total),
                Progress::Downloading { done, total } => ("downloading", false, done, total),
            };
            let mut current = phase.lock().unwrap_or_else(PoisonError::into_inner);
            if *current != Some(name) {
                *current = Some(name);
                let template = if bytes {
                    "{msg:>16} [{bar:40}] {bytes}/{total_bytes} ({elapsed})"
                } else {
                    // `prefix`: the flow's own estimate of the time left, if any.
                    "{msg:>16} [{bar:40}] {pos}/{len} ({elapsed}){prefix}"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message(name);
                bar.reset_elapsed();
            }
            bar.set_prefix(eta.map_or(String::new(), |left| {
                format!(", about {} left", human_duration(left))
            }));
            bar.set_length(total);
            bar.set_position(done.min(total));
        })
    }

    /// Runs `f` (which prints) with the bar hidden, so rows and bar do not mix.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A duration for people, to the second, in its two largest units: `5 h 3 min`, `4 min 2 s`,
/// `40 s` (seconds rounded up, so a wait is never understated; `0 s` only for zero).
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) if s == 0 => format!("{m} min"),
        (0, _) => format!("{m} min {s} s"),
        _ if m == 0 => format!("{h} h"),
        _ => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_for_people() {
        let s = Duration::from_secs;
        assert_eq!(human_duration(Duration::ZERO), "0 s");
        assert_eq!(human_duration(Duration::from_millis(1)), "1 s");
        assert_eq!(human_duration(s(40)), "40 s");
        assert_eq!(human_duration(s(60)), "1 min");
        assert_eq!(
            human_duration(s(242) + Duration::from_millis(300)),
            "4 min 3 s"
        );
        assert_eq!(human_duration(s(3600)), "1 h");
        assert_eq!(human_duration(s(5 * 3600 + 3 * 60 + 1)), "5 h 3 min");
    }
}
