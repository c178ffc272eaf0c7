//! A progress bar on stderr for the long invoice operations (send, batch upload, sync), shown
//! only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};

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
            let (name, bytes, done, total) = match p {
                Progress::Preparing { done, total } => ("preparing", false, done, total),
                Progress::Sending { done, total } => ("sending", false, done, total),
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
                    "{msg:>16} [{bar:40}] {pos}/{len} ({elapsed})"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message(name);
                bar.reset_elapsed();
            }
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
