//! `cargo xtask run`: Herald's main job from a fresh machine: set up, build the dashboard, and serve it on
//! http://127.0.0.1:8080.
//!
//! Until the node's bridge exists (a later issue), the dashboard is served as static files and shows that
//! no bridge answers; then this task will start `herald node --interface 127.0.0.1 --bridge 127.0.0.1:8080`.

use std::net::TcpListener;
use std::path::Path;

pub fn run() -> anyhow::Result<()> {
    crate::setup::run()?;
    crate::web::build()?;
    let addr = std::env::var("HERALD_BRIDGE").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("run: dashboard on http://{addr}/ (Ctrl-C to stop)");
    crate::serve::serve(listener, Path::new("dist"));
    Ok(())
}
