//! The dashboard's entry point in the browser: installs the panic hook and mounts [`herald_dashboard::App`].

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(herald_dashboard::App);
}
