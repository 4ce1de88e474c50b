//! `herald keygen [FILE]`: writes a fresh random key (hex, one line), readable only by its owner.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::auth::Key;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key (refuses to overwrite); prints it when omitted.
    file: Option<PathBuf>,
}

pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = Key::generate_hex();
    let Some(path) = args.file else {
        println!("{key}");
        return Ok(ExitCode::SUCCESS);
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{key}")?;
    eprintln!("wrote a new key to {}", path.display());
    Ok(ExitCode::SUCCESS)
}
