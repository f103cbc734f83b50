//! `static-image`: see the library crate for the pipeline.

fn main() -> std::process::ExitCode {
    // Without it an interrupted run would leave its staging files beside the outputs.
    if let Err(e) = static_image::staging::install_signal_cleanup() {
        eprintln!(
            "warning: cannot handle SIGINT/SIGTERM, so an interrupted run may leave hidden `.*.tmp-*` files: {e}"
        );
    }
    static_image::main()
}
