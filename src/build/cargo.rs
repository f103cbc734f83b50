//! What cargo says it built: its JSON messages (`--message-format=json-render-diagnostics`)
//! name each binary target's executable, so the build learns where cargo put every program
//! of one command instead of guessing the target directory.

use std::path::PathBuf;

use cargo_metadata::{Message, TargetKind};

/// The binary target and executable a cargo JSON message reports, if it is such a message.
pub(super) fn executable_of(line: &str) -> Option<(String, PathBuf)> {
    match serde_json::from_str::<Message>(line).ok()? {
        Message::CompilerArtifact(a) if a.target.kind.contains(&TargetKind::Bin) => {
            let path = a.executable?.into_std_path_buf();
            Some((a.target.name.to_string(), path))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_executable_of_each_bin() {
        let message = |name: &str, kind: &str, exe: &str| {
            format!(
                r#"{{"reason":"compiler-artifact","package_id":"path+file:///p#x@0.1.0","manifest_path":"/p/Cargo.toml","target":{{"kind":["{kind}"],"crate_types":["{kind}"],"name":"{name}","src_path":"/p/src/main.rs","edition":"2021","doc":true,"doctest":false,"test":true}},"profile":{{"opt_level":"3","debuginfo":0,"debug_assertions":false,"overflow_checks":false,"test":false}},"features":[],"filenames":["{exe}"],"executable":{exe_json},"fresh":true}}"#,
                exe_json = if exe.is_empty() {
                    "null".to_string()
                } else {
                    format!("\"{exe}\"")
                }
            )
        };
        let ours = message("hello", "bin", "/p/target/x/release/hello");
        assert_eq!(
            executable_of(&ours),
            Some(("hello".into(), PathBuf::from("/p/target/x/release/hello")))
        );
        // A library, a message of another kind, or no JSON: no executable.
        assert_eq!(executable_of(&message("hello", "lib", "")), None);
        assert_eq!(executable_of("not json"), None);
        assert_eq!(
            executable_of(r#"{"reason":"build-finished","success":true}"#),
            None
        );
    }
}
