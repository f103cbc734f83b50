//! `cargo-static-image`: cargo runs it for `cargo static-image …`; it is `static-image` itself.

fn main() -> std::process::ExitCode {
    static_image::main()
}
