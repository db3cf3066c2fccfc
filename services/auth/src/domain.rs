//! Domain types parsed once at the edge ("parse, don't validate"): once a
//! value of these types exists, it is valid, and nothing deeper checks again.
//!
//! Every limit counts characters as Unicode scalar values, as `API.md` says.

use chrono::{Months, NaiveDate, Utc};
use rand::{TryRngCore, rngs::OsRng};
use totilove_common::Error;

fn chars(s: &str) -> usize {
    s.chars().count()
}

pub(crate) use totilove_common::UserId;

/// 3–32 of `[A-Za-z0-9_.-]`; unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Username(String);

impl Username {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = Error;

    fn try_from(raw: String) -> Result<Self, Error> {
        if !(3..=32).contains(&raw.len()) {
            return Err(Error::invalid("username must be 3 to 32 characters long"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(Error::invalid(
                "username may contain only letters A-Z, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(raw))
    }
}

/// A well-formed address of at most 100 characters; unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Email(String);

impl Email {
    pub(crate) const MAX_CHARS: usize = 100;

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Error;

    fn try_from(raw: String) -> Result<Self, Error> {
        if raw.is_empty() {
            return Err(Error::invalid("email is required"));
        }
        if chars(&raw) > Self::MAX_CHARS {
            return Err(Error::invalid("email must be at most 100 characters long"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid("email must not contain spaces"));
        }
        let malformed = || Error::invalid("email is not a valid address");
        let (local, domain) = raw.split_once('@').ok_or_else(malformed)?;
        let labels_ok = domain.contains('.') && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || domain.contains('@') || !labels_ok {
            return Err(malformed());
        }
        Ok(Self(raw))
    }
}

/// 8–128 characters, kept exactly as typed (spaces count).
pub(crate) struct Password(String);

impl Password {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl TryFrom<String> for Password {
    type Error = Error;

    fn try_from(raw: String) -> Result<Self, Error> {
        if !(8..=128).contains(&chars(&raw)) {
            return Err(Error::invalid("password must be 8 to 128 characters long"));
        }
        Ok(Self(raw))
    }
}

// A password never prints, not even by accident in a log line.
impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// What a login names: a username or an email, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoginName {
    Username(String),
    Email(String),
}

impl LoginName {
    /// The lowercased form: the throttling key when no account matches.
    pub(crate) fn normalized(&self) -> String {
        match self {
            LoginName::Username(s) | LoginName::Email(s) => s.to_lowercase(),
        }
    }
}

impl TryFrom<String> for LoginName {
    type Error = Error;

    fn try_from(raw: String) -> Result<Self, Error> {
        let login = raw.trim();
        if login.is_empty() {
            return Err(Error::invalid("login is required"));
        }
        // No username or email is longer; a longer one cannot match anyone.
        if chars(login) > Email::MAX_CHARS {
            return Err(Error::invalid("login must be at most 100 characters long"));
        }
        // Usernames cannot contain '@', so the two never overlap.
        Ok(if login.contains('@') {
            LoginName::Email(login.to_owned())
        } else {
            LoginName::Username(login.to_owned())
        })
    }
}

/// The password offered at login: any non-empty text of bounded size. It is
/// not held to the registration rules (they may change; old passwords stay valid).
pub(crate) struct OfferedPassword(String);

impl OfferedPassword {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl TryFrom<String> for OfferedPassword {
    type Error = Error;

    fn try_from(raw: String) -> Result<Self, Error> {
        if raw.is_empty() {
            return Err(Error::invalid("password is required"));
        }
        if raw.len() > 1024 {
            return Err(Error::invalid("password is too long"));
        }
        Ok(Self(raw))
    }
}

/// Where a request came from, as the gateway saw it (for the audit trail,
/// the sessions list and per-address throttling). Bounded, never refused:
/// it is the gateway's word, not the client's input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    pub(crate) fn new(ip: &str, user_agent: &str) -> Self {
        let clean = |s: &str, max: usize| -> String {
            s.chars().filter(|c| !c.is_control()).take(max).collect()
        };
        Self {
            ip: clean(ip.trim(), 64),
            user_agent: clean(user_agent, 512),
        }
    }
}

/// The profile fields, each possibly absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Profile {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub birthdate: Option<NaiveDate>,
    pub gender: Option<String>,
    pub location: Option<String>,
    pub avatar_url: Option<String>,
}

/// One field to write: `Some(value)` sets it, `None` clears it.
pub(crate) type Change<T> = Option<Option<T>>;

/// A validated profile update; `None` fields are kept as they are.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ProfileUpdate {
    pub display_name: Change<String>,
    pub bio: Change<String>,
    pub birthdate: Change<NaiveDate>,
    pub gender: Change<String>,
    pub location: Change<String>,
    pub avatar_url: Change<String>,
}

/// A profile update as it arrives: the names of the fields to write, and the
/// values as text (a listed field with no value is cleared).
#[derive(Debug, Default)]
pub(crate) struct ProfileInput {
    pub fields: Vec<String>,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub birthdate: Option<String>,
    pub gender: Option<String>,
    pub location: Option<String>,
    pub avatar_url: Option<String>,
}

impl TryFrom<ProfileInput> for ProfileUpdate {
    type Error = Error;

    fn try_from(input: ProfileInput) -> Result<Self, Error> {
        let mut update = ProfileUpdate::default();
        for field in &input.fields {
            match field.as_str() {
                "display_name" => {
                    update.display_name = Some(text(&input.display_name, field, 50, false)?)
                }
                "bio" => update.bio = Some(text(&input.bio, field, 500, true)?),
                "birthdate" => update.birthdate = Some(birthdate(&input.birthdate)?),
                "gender" => update.gender = Some(text(&input.gender, field, 50, false)?),
                "location" => update.location = Some(text(&input.location, field, 100, false)?),
                "avatar_url" => update.avatar_url = Some(avatar_url(&input.avatar_url)?),
                other => {
                    return Err(Error::invalid(format!(
                        "{} is not a profile field",
                        other.chars().take(50).collect::<String>()
                    )));
                }
            }
        }
        Ok(update)
    }
}

/// A free-text field: trimmed, empty means cleared; line breaks only in long text.
fn text(
    value: &Option<String>,
    field: &str,
    max_chars: usize,
    multiline: bool,
) -> Result<Option<String>, Error> {
    let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if chars(value) > max_chars {
        return Err(Error::invalid(format!(
            "{field} must be at most {max_chars} characters long"
        )));
    }
    let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'));
    if !value.chars().all(allowed) {
        return Err(Error::invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(Some(value.to_owned()))
}

/// `YYYY-MM-DD`, at least 18 years ago.
fn birthdate(value: &Option<String>) -> Result<Option<NaiveDate>, Error> {
    let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let date = shaped
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| Error::invalid("birthdate must be a date written YYYY-MM-DD"))?;
    let adult_until = Utc::now()
        .date_naive()
        .checked_sub_months(Months::new(18 * 12))
        .unwrap_or(NaiveDate::MIN);
    if date > adult_until {
        return Err(Error::invalid("birthdate must be at least 18 years ago"));
    }
    Ok(Some(date))
}

/// An `https://` URL of at most 500 characters with a plain host.
fn avatar_url(value: &Option<String>) -> Result<Option<String>, Error> {
    let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if chars(value) > 500 {
        return Err(Error::invalid(
            "avatar_url must be at most 500 characters long",
        ));
    }
    let invalid = || Error::invalid("avatar_url must be an https:// URL");
    let rest = value
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &value[8..])
        .ok_or_else(invalid)?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    // No spaces, quotes or angle brackets: the URL ends up in HTML attributes.
    let path_ok = !rest
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\'));
    if !host_ok || !path_ok {
        return Err(invalid());
    }
    Ok(Some(value.to_owned()))
}

/// 128 random bits from the OS, as 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionId(String);

impl SessionId {
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; 16];
        if OsRng.try_fill_bytes(&mut bytes).is_err() {
            // The OS generator does not fail on supported systems; should it,
            // the thread generator (a CSPRNG seeded by the OS) is next best.
            rand::Rng::fill(&mut rand::rng(), &mut bytes);
        }
        Self(hex::encode(bytes))
    }

    /// `None` for anything that is not a session id we could have made.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Self(raw.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(fields: &[&str], input: ProfileInput) -> Result<ProfileUpdate, Error> {
        ProfileUpdate::try_from(ProfileInput {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            ..input
        })
    }

    #[test]
    fn emails_need_one_at_a_local_part_and_a_dotted_domain() {
        for ok in ["a@b.co", "first.last+tag@mail.example.org"] {
            assert!(Email::try_from(ok.to_owned()).is_ok(), "{ok}");
        }
        for bad in [
            "", "a@b", "@b.co", "a@@b.co", "a@b@c.co", "a b@c.co", "a@.co", "a@b.", "a@b..co",
        ] {
            assert!(Email::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_login_with_an_at_sign_is_an_email() {
        let login = LoginName::try_from(" Alice@Example.com ".to_owned()).expect("valid");
        assert_eq!(login, LoginName::Email("Alice@Example.com".into()));
        assert_eq!(login.normalized(), "alice@example.com");
    }

    #[test]
    fn unlisted_profile_fields_are_kept_and_listed_empty_ones_cleared() {
        let parsed = update(
            &["bio", "location"],
            ProfileInput {
                display_name: Some("ignored".into()),
                bio: Some("  ".into()),
                location: Some(" Lyon ".into()),
                ..ProfileInput::default()
            },
        )
        .expect("valid");
        assert_eq!(
            parsed,
            ProfileUpdate {
                bio: Some(None),
                location: Some(Some("Lyon".into())),
                ..ProfileUpdate::default()
            }
        );
    }

    #[test]
    fn avatar_urls_must_be_plain_https() {
        let check = |url: &str| {
            update(
                &["avatar_url"],
                ProfileInput {
                    avatar_url: Some(url.into()),
                    ..ProfileInput::default()
                },
            )
        };
        assert!(check("https://cdn.example.com/a.png").is_ok());
        assert!(check("HTTPS://cdn.example.com:8443/a.png?x=1#y").is_ok());
        for bad in [
            "http://cdn.example.com/a.png",
            "https://",
            "https:///a.png",
            "https://user@evil.example/a.png",
            "https://cdn.example.com/a\".png",
            "javascript:alert(1)",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
