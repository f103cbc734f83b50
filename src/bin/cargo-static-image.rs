//! `cargo-static-image`: cargo runs it for `cargo static-image …`; it is `static-image` itself.

fn main() -> std::process::ExitCode {
    // Interrupted runs remove their staging files (see `static_image::output::staging`).
    let _ = static_image::staging::install_signal_cleanup();
    static_image::main()
}
