//! Tenant attributes that are closed sets.

use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? } expecting $expect:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(crate::InvalidValue::new($expect)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Whether a tenant may use the product. Suspended tenants are refused on
    /// every tenant route with a 403 problem.
    TenantStatus { Active => "active", Suspended => "suspended" }
    expecting "one of active, suspended"
);

text_enum!(
    /// The commercial plan; it sets the tenant's rate-limit tier.
    Plan { Trial => "trial", Starter => "starter", Growth => "growth", Enterprise => "enterprise" }
    expecting "one of trial, starter, growth, enterprise"
);

text_enum!(
    /// The industry template a tenant starts from (starter rubrics and wording).
    IndustryTemplate { Generic => "generic", Insurance => "insurance", RealEstate => "real_estate" }
    expecting "one of generic, insurance, real_estate"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for p in [Plan::Trial, Plan::Starter, Plan::Growth, Plan::Enterprise] {
            assert_eq!(p.as_str().parse::<Plan>().unwrap(), p);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        assert!("platinum".parse::<Plan>().is_err());
        assert_eq!(
            "real_estate".parse::<IndustryTemplate>().unwrap(),
            IndustryTemplate::RealEstate
        );
    }
}
