//! The dashboard's views, one component per file.

pub mod ask;
pub mod connection_bar;
pub mod error_note;
pub mod event_log;
pub mod history;
pub mod messages;
pub mod network;
pub mod overview;
pub mod peers;
pub mod time;
