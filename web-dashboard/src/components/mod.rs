//! The dashboard's views, one component per file.

pub mod connection_bar;
pub mod peers;
