//! The registry client's parsing of what a registry answers (challenges, `Location` and
//! `Content-Type` values, error bodies, token answers, manifests and indexes) on arbitrary
//! bytes: it must refuse, never panic or hang. The input is a header value, a NUL, a body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use static_image::registry::parse_answer;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[..0]),
    };
    parse_answer(&String::from_utf8_lossy(header), body);
    // A body as the header too: a challenge is as long as the registry likes.
    parse_answer(&String::from_utf8_lossy(body), header);
});
