//! Node identity: the [`NodeId`] kept per node name in the state directory, so a restarted node is the same
//! peer (and reclaims its name at once), and the default names of nodes and CLI one-shots.

use std::path::{Path, PathBuf};

use herald_core::NodeId;

/// The state directory: `$XDG_STATE_HOME/herald`, else `~/.local/state/herald`, else a temp dir.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("herald");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/herald"),
        None => std::env::temp_dir().join("herald-state"),
    }
}

/// The id stored for `name` in the default [`state_dir`], created (and stored) on first use. If the state
/// directory is not writable the id is still returned, with a warning: the node then gets a new id at each
/// start.
pub fn node_id_for(name: &str) -> NodeId {
    node_id_in(&state_dir(), name)
}

/// The id stored for `name` in the state directory `dir` (`--state-dir`), as [`node_id_for`] does.
pub fn node_id_in(dir: &Path, name: &str) -> NodeId {
    let path = dir.join("ids").join(file_name(name));
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(id) = text.trim().parse() {
            return id;
        }
        tracing::warn!(path = %path.display(), "unreadable node id file, replacing it");
    }
    let id = random_node_id();
    let stored = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, format!("{id}\n")));
    if let Err(err) = stored {
        tracing::warn!(path = %path.display(), %err, "cannot store the node id; it will change at each start");
    }
    id
}

/// A fresh random id (CLI one-shots, tests).
pub fn random_node_id() -> NodeId {
    NodeId(rand::random())
}

/// This machine's host name, the default node name.
pub fn hostname() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    if name.is_empty() {
        "herald".to_owned()
    } else {
        name
    }
}

/// A generated name for a CLI one-shot: `<hostname>-cli-<4 hex digits>`.
pub fn one_shot_name() -> String {
    format!("{}-cli-{:04x}", hostname(), rand::random::<u16>())
}

/// A file name for a node name: anything outside `[A-Za-z0-9._-]` becomes `_`, plus a short hash of the
/// name so two names never share a file.
fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{safe}-{:08x}", hash as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert!(file_name("../etc/passwd").starts_with(".._etc_passwd-"));
        assert_ne!(file_name("a/b"), file_name("a_b"));
        assert_eq!(file_name("alpha"), file_name("alpha"));
    }
}
