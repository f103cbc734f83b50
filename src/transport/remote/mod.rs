//! `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`: an image in a registry, pulled ([`pull`]) and
//! pushed ([`push`]) through the distribution protocol client in [`crate::registry`].

pub mod pull;
pub mod push;
