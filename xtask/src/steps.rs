//! Timing a task's steps: each step prints how long it took as it finishes, and the task ends with a table of
//! every step (what passed, what failed, what was skipped), so a slow or failing step is easy to find.

use std::time::{Duration, Instant};

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Passed,
    /// It failed (the task stops there).
    Failed,
    /// It did not run, and why.
    Skipped(String),
}

/// The steps of one task, in order.
#[derive(Debug)]
pub struct Steps {
    task: &'static str,
    started: Instant,
    done: Vec<(String, Duration, Outcome)>,
}

impl Steps {
    /// No steps yet; the task's clock starts now.
    pub fn new(task: &'static str) -> Steps {
        Steps {
            task,
            started: Instant::now(),
            done: Vec::new(),
        }
    }

    /// Runs one step, timing it and saying how it went.
    pub fn run<T>(
        &mut self,
        name: &str,
        step: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let start = Instant::now();
        let result = step();
        let took = start.elapsed();
        let outcome = if result.is_ok() {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        eprintln!(
            "{}: step `{name}` {} in {}",
            self.task,
            if result.is_ok() { "passed" } else { "FAILED" },
            seconds(took)
        );
        self.done.push((name.to_owned(), took, outcome));
        result
    }

    /// Records a step that did not run.
    pub fn skip(&mut self, name: &str, why: &str) {
        eprintln!("{}: step `{name}` skipped: {why}", self.task);
        self.done.push((
            name.to_owned(),
            Duration::ZERO,
            Outcome::Skipped(why.to_owned()),
        ));
    }

    /// The table of every step so far and the task's total time.
    pub fn summary(&self) -> String {
        let width = self
            .done
            .iter()
            .map(|(name, ..)| name.len())
            .max()
            .unwrap_or(0)
            .max(4);
        let mut out = format!("{}: time per step\n", self.task);
        out.push_str(&format!("  {:<width$}  {:>11}  result\n", "step", "time"));
        for (name, took, outcome) in &self.done {
            let result = match outcome {
                Outcome::Passed => "passed".to_owned(),
                Outcome::Failed => "FAILED".to_owned(),
                Outcome::Skipped(why) => format!("skipped ({why})"),
            };
            out.push_str(&format!(
                "  {name:<width$}  {:>11}  {result}\n",
                seconds(*took)
            ));
        }
        out.push_str(&format!(
            "  {:<width$}  {:>11}\n",
            "total",
            seconds(self.started.elapsed())
        ));
        out
    }
}

/// `12.3 s`, `4 min 05 s`.
pub fn seconds(took: Duration) -> String {
    let secs = took.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        let whole = took.as_secs();
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lists_every_step_with_its_time_and_result() {
        let mut steps = Steps::new("test");
        steps.run("fmt", || Ok(())).unwrap();
        assert!(steps
            .run("clippy", || -> anyhow::Result<()> { anyhow::bail!("lint") })
            .is_err());
        steps.skip("fuzz", "no nightly toolchain");
        let table = steps.summary();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "{table}");
        assert!(lines[2].contains("fmt") && lines[2].ends_with("passed"));
        assert!(lines[3].contains("clippy") && lines[3].ends_with("FAILED"));
        assert!(lines[4].contains("skipped (no nightly toolchain)"));
        assert!(lines[5].trim_start().starts_with("total"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(Duration::from_millis(1300)), "1.3 s");
        assert_eq!(seconds(Duration::from_secs(125)), "2 min 05 s");
    }
}
