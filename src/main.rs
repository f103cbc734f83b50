//! `static-image`: see the library crate for the pipeline.

fn main() -> std::process::ExitCode {
    static_image::main()
}
