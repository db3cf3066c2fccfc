//! Session tokens: HS256 JWTs naming a session. The token only says *which*
//! session; whether that session is still alive is asked of the stores on
//! every validation, so a logout ends a token at once.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use totilove_common::{Error, config::Secret};

use crate::domain::{SessionId, UserId};

/// Clock skew tolerated between the services' clocks.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id, as a string (JWT convention).
    sub: String,
    /// The session id.
    sid: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
}

/// What a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenSubject {
    pub user_id: UserId,
    pub session_id: SessionId,
}

#[derive(Clone)]
pub(crate) struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl Tokens {
    pub(crate) fn new(secret: &Secret, issuer: &str, audience: &str) -> Self {
        // One fixed algorithm: a token claiming another (`none`, RS256 with
        // our key as a "public key") is refused before its signature is read.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    pub(crate) fn issue(
        &self,
        subject: &TokenSubject,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, Error> {
        let claims = Claims {
            sub: subject.user_id.get().to_string(),
            sid: subject.session_id.as_str().to_owned(),
            iat: issued_at.timestamp(),
            exp: expires_at.timestamp(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(Error::internal)
    }

    /// Checks signature, algorithm, `exp`, `iss` and `aud`; any failure is
    /// `unauthorized` (the reason is logged at debug level, never answered).
    pub(crate) fn verify(&self, token: &str) -> Result<TokenSubject, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::debug!(error = %e, "token refused");
                Error::unauthorized()
            })?;
        let user_id = data
            .claims
            .sub
            .parse()
            .ok()
            .and_then(|id| UserId::parse(id, "sub").ok());
        let session_id = SessionId::parse(&data.claims.sid);
        match (user_id, session_id) {
            (Some(user_id), Some(session_id)) => Ok(TokenSubject {
                user_id,
                session_id,
            }),
            _ => Err(Error::unauthorized()),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&Secret::new("k".repeat(32)), "totilove", "web")
    }

    fn subject() -> TokenSubject {
        TokenSubject {
            user_id: UserId::from_stored(7),
            session_id: SessionId::generate(),
        }
    }

    #[test]
    fn an_issued_token_verifies_to_its_subject() {
        let now = Utc::now();
        let token = tokens()
            .issue(&subject(), now, now + Duration::hours(1))
            .expect("signed");
        assert_eq!(
            tokens().verify(&token).expect("valid").user_id,
            UserId::from_stored(7)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let now = Utc::now();
        let token = tokens()
            .issue(
                &subject(),
                now - Duration::hours(2),
                now - Duration::hours(1),
            )
            .expect("signed");
        assert!(tokens().verify(&token).is_err());
    }

    #[test]
    fn a_token_for_another_audience_or_key_is_refused() {
        let now = Utc::now();
        let other_aud = Tokens::new(&Secret::new("k".repeat(32)), "totilove", "other")
            .issue(&subject(), now, now + Duration::hours(1))
            .expect("signed");
        assert!(tokens().verify(&other_aud).is_err());
        let other_key = Tokens::new(&Secret::new("x".repeat(32)), "totilove", "web")
            .issue(&subject(), now, now + Duration::hours(1))
            .expect("signed");
        assert!(tokens().verify(&other_key).is_err());
    }
}
