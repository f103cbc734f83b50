//! What a registry says about authentication: its `WWW-Authenticate` challenge (RFC 7235,
//! distribution's `token.md`) and its token service's answer. Both come from the registry, so
//! both are untrusted text: these functions take it as it came and never panic on it.

use super::Response;

/// How the registry wants to be authenticated, learnt from its challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic`: credentials with every request.
    Basic,
    /// `Bearer`: a token from the token service at `realm`.
    Bearer {
        /// The token service's URL.
        realm: String,
        /// The `service` to ask it for, if named.
        service: Option<String>,
    },
}

/// The scheme a `WWW-Authenticate` value (every such header, joined with `, `) asks for;
/// `Err` says what is wrong with it.
pub fn parse_challenge(header: &str) -> Result<Challenge, String> {
    let challenges = http_auth::parse_challenges(header)
        .map_err(|e| format!("its `WWW-Authenticate: {header}` does not parse: {e}"))?;
    let param = |c: &http_auth::ChallengeRef<'_>, name: &str| {
        c.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_unescaped())
    };
    // Bearer first: a registry offering both prefers tokens.
    if let Some(c) = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
    {
        let realm = param(c, "realm").ok_or("its Bearer challenge names no realm")?;
        return Ok(Challenge::Bearer {
            realm,
            service: param(c, "service"),
        });
    }
    if challenges
        .iter()
        .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
    {
        return Ok(Challenge::Basic);
    }
    Err(format!(
        "it asks for authentication we do not speak (`WWW-Authenticate: {header}`)"
    ))
}

/// The scopes a challenge names, if any (a mount asks for its source's pull scope).
pub fn challenge_scopes(header: &str) -> Vec<String> {
    let Ok(challenges) = http_auth::parse_challenges(header) else {
        return Vec::new();
    };
    challenges
        .iter()
        .flat_map(|c| c.params.iter())
        .filter(|(k, _)| k.eq_ignore_ascii_case("scope"))
        .flat_map(|(_, v)| {
            v.to_unescaped()
                .split(' ')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The token in a token service's answer (`token`, or OAuth2's `access_token`); `Err` says
/// what is wrong with it.
pub fn parse_token(bytes: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(bytes)
        .map_err(|e| format!("sent an answer that is not JSON: {e}"))?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "sent no token".to_string())
}

/// Every `WWW-Authenticate` header of a response, as one list of challenges.
pub(super) fn www_authenticate(response: &Response) -> String {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_is_preferred_and_needs_a_realm() {
        assert_eq!(
            parse_challenge(r#"Basic realm="r", Bearer realm="https://a/token",service="s""#),
            Ok(Challenge::Bearer {
                realm: "https://a/token".into(),
                service: Some("s".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Bearer service="s""#),
            Err("its Bearer challenge names no realm".into())
        );
        assert!(parse_challenge("Bearer realm=\"").is_err());
    }

    #[test]
    fn tokens_come_from_either_field() {
        assert_eq!(parse_token(br#"{"access_token":"t"}"#), Ok("t".into()));
        assert_eq!(parse_token(br#"{"token":""}"#), Err("sent no token".into()));
    }
}
