//! Small values parsed once at the edge: after parsing they are known good.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a value was refused, phrased as what was expected so it can be shown
/// next to the field name in a problem response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}")]
pub struct InvalidValue {
    pub expected: &'static str,
}

impl InvalidValue {
    pub fn new(expected: &'static str) -> Self {
        Self { expected }
    }
}

/// A serde error message without the value it quotes: `invalid type:
/// string "sk_live_…", expected a map` becomes `invalid type: string,
/// expected a map`. A problem names the field that was wrong; repeating
/// what was sent would hand back a secret sent in the wrong place, to the
/// response and to every log that keeps responses.
pub fn without_sent_value(message: &str) -> String {
    let quoted_from = |text: &str| {
        [" `", " \""]
            .iter()
            .filter_map(|q| text.find(q))
            .min()
            .unwrap_or(text.len())
    };
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some((sent, expected)) = rest.rsplit_once(", expected ") else {
            continue;
        };
        return match prefix {
            "unknown variant " => format!("unknown variant, expected {expected}"),
            _ => format!(
                "{prefix}{}, expected {expected}",
                &sent[..quoted_from(sent)]
            ),
        };
    }
    message.to_owned()
}

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_value!(
    /// A tenant slug: 3–40 characters of `a-z`, `0-9` and inner hyphens. Used
    /// in URLs of public pages, so it is kept boring on purpose.
    Slug
);

impl Slug {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = (3..=40).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "3 to 40 characters of a-z, 0-9 and single inner hyphens",
            ))
        }
    }
}

string_value!(
    /// An email address, lower-cased so that one mailbox is one account.
    /// Deliberately permissive: one `@`, a non-empty local part, a dotted
    /// domain, no spaces or control characters, at most 254 characters.
    Email
);

impl Email {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let s = s.trim();
        let invalid = || InvalidValue::new("an email address such as ana@example.com");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && label.len() <= 63);
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(s.to_lowercase()))
    }
}

string_value!(
    /// A colour as `#rrggbb`, normalised to lower case.
    HexColor
);

impl HexColor {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok =
            s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(InvalidValue::new("a colour of the form #rrggbb"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_the_value_sent() {
        for (message, shown) in [
            (
                r#"invalid type: string "sk_live_51Hx", expected a map"#,
                "invalid type: string, expected a map",
            ),
            (
                "invalid type: integer `4242`, expected a string at line 1 column 9",
                "invalid type: integer, expected a string at line 1 column 9",
            ),
            (
                "invalid value: string \"a, expected b\", expected a slug",
                "invalid value: string, expected a slug",
            ),
            (
                "unknown variant `hunter2`, expected `retell` or `vapi`",
                "unknown variant, expected `retell` or `vapi`",
            ),
            (
                "invalid type: map, expected a string",
                "invalid type: map, expected a string",
            ),
            ("missing field `api_key`", "missing field `api_key`"),
        ] {
            assert_eq!(without_sent_value(message), shown);
        }
    }

    #[test]
    fn slugs() {
        for good in ["abc", "acme-insurance", "a1-b2-c3", "x".repeat(40).as_str()] {
            assert!(Slug::parse(good).is_ok(), "{good} refused");
        }
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "a--b",
            "ABC",
            "a b c",
            "ünï",
            &"x".repeat(41),
            "a/b/c",
            "",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse(" Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "a@b@c.com",
            "ana@.com",
            "ana@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn colours() {
        assert_eq!(HexColor::parse("#AABBCC").unwrap().as_str(), "#aabbcc");
        for bad in ["aabbcc", "#abc", "#gggggg", "#aabbccdd", ""] {
            assert!(HexColor::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn deserialising_parses() {
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
        assert_eq!(
            serde_json::from_str::<Slug>("\"acme\"").unwrap().as_str(),
            "acme"
        );
    }
}

string_value!(
    /// A phone number in E.164 form: `+`, then 8 to 15 digits, the first not 0.
    E164
);

impl E164 {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let digits = s.strip_prefix('+').unwrap_or("");
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "an E.164 phone number such as +14155550123",
            ))
        }
    }

    /// Reads what providers send (`+1 (415) 555-0123`, `14155550123`) into
    /// E.164 when the digits allow it; `None` for SIP URIs, `anonymous` and the like.
    pub fn normalise(s: &str) -> Option<Self> {
        let trimmed = s.trim();
        if trimmed.chars().any(|c| c.is_ascii_alphabetic() || c == '@') {
            return None;
        }
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        Self::parse(&format!("+{digits}")).ok()
    }
}

#[cfg(test)]
mod e164_tests {
    use super::E164;

    #[test]
    fn parses_only_e164() {
        assert!(E164::parse("+14155550123").is_ok());
        for bad in [
            "14155550123",
            "+0123456789",
            "+1415",
            "+1415555012345678",
            "+1 415 555",
            "",
        ] {
            assert!(E164::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn normalises_provider_spellings() {
        assert_eq!(
            E164::normalise("+1 (415) 555-0123").unwrap().as_str(),
            "+14155550123"
        );
        assert_eq!(
            E164::normalise("14155550123").unwrap().as_str(),
            "+14155550123"
        );
        assert!(E164::normalise("sip:agent@example.com").is_none());
        assert!(E164::normalise("anonymous").is_none());
    }
}
