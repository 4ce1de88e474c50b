//! `--answer-with CMD`: answers questions by running a command. The command line is split like a shell would
//! split words (quotes respected) but run without a shell; the question goes to its stdin, its stdout is the
//! answer (one trailing newline trimmed). At most [`MAX_RUNNING`] run at once, each killed at the asker's
//! timeout; a non-zero exit or an answer over [`MAX_ANSWER_LEN`] is a failed answer, with the reason.

use std::process::Stdio;
use std::sync::Arc;

use anyhow::Context;
use herald_core::Payload;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::Semaphore;

use crate::answerer::{AnswerFuture, Answerer, HandlerError, IncomingQuestion};

/// Answer commands running at once; further questions wait for a place within their timeout.
pub const MAX_RUNNING: usize = 4;

/// Largest answer a command may print (what fits in a link frame with room to spare).
pub const MAX_ANSWER_LEN: usize = 1 << 19;

/// Runs a command for each question.
pub struct CommandAnswerer {
    program: String,
    args: Vec<String>,
    slots: Arc<Semaphore>,
}

impl CommandAnswerer {
    /// Parses `command_line` into a program and its arguments.
    pub fn new(command_line: &str) -> anyhow::Result<Self> {
        let mut words = shlex::split(command_line)
            .filter(|w| !w.is_empty())
            .context("--answer-with: unbalanced quotes")?;
        anyhow::ensure!(!words.is_empty(), "--answer-with: empty command");
        let program = words.remove(0);
        Ok(CommandAnswerer {
            program,
            args: words,
            slots: Arc::new(Semaphore::new(MAX_RUNNING)),
        })
    }
}

impl Answerer for CommandAnswerer {
    fn answer(&self, question: IncomingQuestion) -> AnswerFuture {
        let (program, args, slots) = (self.program.clone(), self.args.clone(), self.slots.clone());
        Box::pin(async move {
            // The caller stops this future at the asker's timeout; waiting here counts against it.
            let _slot = slots.acquire_owned().await?;
            run(&program, &args, &question).await
        })
    }
}

async fn run(
    program: &str,
    args: &[String],
    question: &IncomingQuestion,
) -> Result<Payload, HandlerError> {
    let mut child = Command::new(program)
        .args(args)
        .env("HERALD_FROM", &question.from_name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropped at the timeout: the command is killed rather than left running.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = question.payload.as_bytes().to_vec();
    // A command that does not read its stdin must not block us: write in a task, ignore a closed pipe.
    tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        return Err(format!("{program} failed ({}): {first}", output.status).into());
    }
    let mut answer = output.stdout;
    if answer.len() > MAX_ANSWER_LEN {
        return Err(format!(
            "{program} printed {} bytes; answers are limited to {MAX_ANSWER_LEN}",
            answer.len()
        )
        .into());
    }
    if answer.last() == Some(&b'\n') {
        answer.pop();
    }
    Ok(Payload::from(answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn question(text: &str) -> IncomingQuestion {
        IncomingQuestion {
            from: herald_core::NodeId::from_bytes([1; 16]),
            from_name: "asker".into(),
            payload: Payload::from(text),
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn stdout_is_the_answer_and_failures_say_why() {
        let upper = CommandAnswerer::new("tr a-z A-Z").unwrap();
        let answer = upper.answer(question("hello")).await.unwrap();
        assert_eq!(answer.as_text(), Some("HELLO"));
        let quoted = CommandAnswerer::new("sh -c 'echo \"$HERALD_FROM asked\"'").unwrap();
        let answer = quoted.answer(question("x")).await.unwrap();
        assert_eq!(answer.as_text(), Some("asker asked"), "one newline trimmed");
        let failing = CommandAnswerer::new("sh -c 'echo nope >&2; exit 3'").unwrap();
        let err = failing.answer(question("x")).await.unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains('3'), "{err}");
        let missing = CommandAnswerer::new("/nonexistent/answerer").unwrap();
        let err = missing.answer(question("x")).await.unwrap_err().to_string();
        assert!(err.contains("cannot run"), "{err}");
        assert!(CommandAnswerer::new("  ").is_err());
        assert!(CommandAnswerer::new("echo 'unbalanced").is_err());
    }
}
