//! Herald against the old tools' protocols, across network-namespace hosts: each old program is played by an
//! independent counterpart (`tests/counterparts/`, Python written from `LEGACY-WIRE.md`), and Herald must
//! look to it exactly like its old counterpart did. Needs root; CI runs it inside its own namespace.
//!
//! One module per old tool.

mod dynip;
mod hein;
mod hub;
mod pyconnect;
