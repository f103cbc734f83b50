//! Logging in to a registry: the credentials for it, looked for once; the scheme its
//! challenge asks for; the token its token service grants (distribution `token.md`, and the
//! OAuth2 refresh-token grant of `oauth.md` for an identity token); and a refusal worded with
//! where credentials came from or were looked for.

use ureq::http;

use super::{
    Challenge, Client, Deadline, DeadlineKind, MAX_TOKEN_ANSWER, RegistryError, Response, auth,
    encode_query, parse_challenge, parse_token, path_of, www_authenticate,
};

impl Client {
    /// The credentials for this registry, looked for once.
    pub(super) fn credentials(&self) -> Result<&auth::Lookup, RegistryError> {
        if let Some(lookup) = self.credentials.get() {
            return Ok(lookup);
        }
        let lookup = auth::lookup(&self.registry, &self.ui)?;
        Ok(self.credentials.get_or_init(|| lookup))
    }

    /// A refusal; `sent` says whether our credentials went with the request (directly, or to
    /// the token service).
    pub(super) fn denied(&self, status: u16, sent: bool) -> RegistryError {
        let lookup = match self.credentials() {
            Ok(lookup) => lookup,
            Err(e) => return e,
        };
        let creds = lookup.found.as_ref().filter(|_| sent);
        RegistryError::Denied {
            registry: self.registry.clone(),
            status,
            user: creds.map(|c| c.username.clone()),
            from: creds.map(|c| c.from.clone()),
            searched: lookup.searched.clone(),
        }
    }

    /// The scheme a 401 asks for.
    pub(super) fn challenge(&self, response: &Response) -> Result<Challenge, RegistryError> {
        parse_challenge(&www_authenticate(response)).map_err(|detail| RegistryError::Protocol {
            registry: self.registry.clone(),
            detail,
        })
    }

    /// Sets the `Authorization` to use after a challenge: Basic from the credentials, or a
    /// token from the token service for our scopes (and `extra` ones the challenge named).
    pub(super) fn authenticate(
        &self,
        challenge: &Challenge,
        extra: &[String],
    ) -> Result<(), RegistryError> {
        let value = match challenge {
            Challenge::Basic => match &self.credentials()?.found {
                Some(creds) => creds.basic(),
                None => return Err(self.denied(401, false)),
            },
            Challenge::Bearer { realm, service } => {
                let mut scopes = self.scopes.clone();
                for scope in extra {
                    if !scopes.contains(scope) {
                        scopes.push(scope.clone());
                    }
                }
                format!("Bearer {}", self.token(realm, service.as_deref(), &scopes)?)
            }
        };
        *self.authorization.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        Ok(())
    }

    /// Asks the token service for a token (distribution `token.md`; with an identity token,
    /// the OAuth2 refresh-token grant of `oauth.md`).
    pub(super) fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, RegistryError> {
        let fail = |detail: String| RegistryError::Token {
            registry: self.registry.clone(),
            realm: realm.to_string(),
            detail,
        };
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        for scope in scopes {
            query.push(("scope", scope));
        }
        let creds = self.credentials()?.found.as_ref();
        // One attempt, within the request deadline.
        let left = self.deadlines.request;
        let result = match creds.map(|c| &c.secret) {
            Some(auth::Secret::IdentityToken(refresh)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                    ("client_id", "static-image"),
                ];
                form.extend(query.iter().copied());
                let body = encode_query(&form);
                let request = http::Request::post(realm)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .header("Content-Length", body.len().to_string())
                    .body(body)
                    .map_err(|e| fail(format!("cannot be asked: {e}")))?;
                self.run(request, "POST", path_of(realm), false, left)
            }
            _ => {
                let separator = if realm.contains('?') { '&' } else { '?' };
                let url = format!("{realm}{separator}{}", encode_query(&query));
                let mut request = http::Request::get(&url);
                if let Some(creds) = creds {
                    request = request.header("Authorization", creds.basic());
                }
                let request = request
                    .body(())
                    .map_err(|e| fail(format!("cannot be asked: {e}")))?;
                self.run(request, "GET", path_of(realm), false, left)
            }
        };
        let response = result.map_err(|e| {
            match Deadline::of_ureq(&e, &self.deadlines, "GET", &path_of(realm)) {
                Some(mut deadline) => {
                    if deadline.kind == DeadlineKind::Whole {
                        deadline.kind = DeadlineKind::Answer;
                    }
                    deadline.path = realm.to_string();
                    self.deadline(deadline)
                }
                None => fail(format!("cannot be reached: {e}")),
            }
        })?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => return Err(self.denied(401, creds.is_some())),
            status => return Err(fail(format!("answered HTTP {status}"))),
        }
        let bytes = self.read_capped(response, MAX_TOKEN_ANSWER, "a token")?;
        parse_token(&bytes).map_err(fail)
    }
}
