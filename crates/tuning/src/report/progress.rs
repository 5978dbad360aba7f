//! Progress on stderr: a bar redrawn in place on a terminal (steps, loss, learning rate,
//! throughput, ETA), plain lines at each logging step otherwise (logs, CI, pipes).

use std::io::{IsTerminal, Write};

pub struct Progress {
    name: String,
    total: usize,
    live: bool,
}

impl Progress {
    pub fn new(name: &str, total: usize) -> Self {
        Self {
            name: name.to_string(),
            total,
            live: std::io::stderr().is_terminal(),
        }
    }

    /// Redraws the bar (terminal only) after an optimizer step.
    pub fn tick(&self, step: usize, loss: f64, lr: f64, rate: f64, eta: &str) {
        if !self.live {
            return;
        }
        let width = 30;
        let done = (step * width / self.total.max(1)).min(width);
        let bar: String = "#".repeat(done) + &".".repeat(width - done);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{}: [{bar}] {step}/{} loss {loss:.4} lr {lr:.2e} {rate:.1}/s ETA {eta}  ",
            self.name, self.total
        );
        let _ = err.flush();
    }

    /// A line that stays (logging steps, evaluations), clearing the bar first.
    pub fn line(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.live {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{text}");
    }
}
