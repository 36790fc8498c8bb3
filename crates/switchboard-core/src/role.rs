//! Roles a member holds in a tenant, and the permissions each role grants.
//! The matrix lives here, in one table, so that the API, the docs and the
//! tests all read the same truth.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! permissions {
    ($($variant:ident => $text:literal),+ $(,)?) => {
        /// One thing a principal may do inside a tenant.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
        pub enum Permission { $($variant),+ }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $text),+ }
            }
        }

        impl FromStr for Permission {
            type Err = crate::InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Permission::$variant),)+
                    _ => Err(crate::InvalidValue::new("a known permission such as calls:view_all")),
                }
            }
        }
    };
}

permissions! {
    CallsViewAll => "calls:view_all",
    CallsViewOwn => "calls:view_own",
    CallsExport => "calls:export",
    CallsIngest => "calls:ingest",
    CallsDelete => "calls:delete",
    QaEdit => "qa:edit",
    LeadsViewAll => "leads:view_all",
    LeadsViewAssigned => "leads:view_assigned",
    LeadsApprove => "leads:approve",
    LeadsEdit => "leads:edit",
    LeadsDelete => "leads:delete",
    LeadsExport => "leads:export",
    WorkflowsViewAll => "workflows:view_all",
    WorkflowsCancel => "workflows:cancel",
    SettingsManage => "settings:manage",
    SettingsBilling => "settings:billing",
    AnalyticsViewAll => "analytics:view_all",
    AnalyticsViewOwn => "analytics:view_own",
    UsersManage => "users:manage",
    AuditView => "audit:view",
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// A member's role in one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Manager,
    Member,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Manager,
        Role::Member,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    /// The permission matrix. Owners and admins hold every permission; what
    /// sets owners apart (granting or taking away ownership) is a rule on
    /// memberships, not a permission.
    pub fn permissions(self) -> PermissionSet {
        use Permission::*;
        match self {
            Role::Owner | Role::Admin => PermissionSet::all(),
            Role::Manager => PermissionSet::from_iter([
                CallsViewAll,
                CallsExport,
                QaEdit,
                LeadsViewAll,
                LeadsApprove,
                LeadsEdit,
                LeadsExport,
                WorkflowsViewAll,
                WorkflowsCancel,
                AnalyticsViewAll,
            ]),
            Role::Member => PermissionSet::from_iter([
                CallsViewOwn,
                LeadsViewAssigned,
                LeadsApprove,
                AnalyticsViewOwn,
            ]),
            Role::Viewer => PermissionSet::from_iter([
                CallsViewAll,
                LeadsViewAll,
                WorkflowsViewAll,
                AnalyticsViewAll,
            ]),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = crate::InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| crate::InvalidValue::new("one of owner, admin, manager, member, viewer"))
    }
}

/// A set of permissions as a bit set: cheap to copy, intersect and test on
/// every request.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct PermissionSet(u64);

impl PermissionSet {
    pub fn all() -> Self {
        Self::from_iter(Permission::ALL.iter().copied())
    }

    pub fn empty() -> Self {
        Self(0)
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u64) != 0
    }

    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, p| bits | (1 << p as u64)))
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Permission::as_str))
            .finish()
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_text_round_trips() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), *p);
        }
        assert!("calls:delete_everything".parse::<Permission>().is_err());
    }

    #[test]
    fn roles_are_ordered_by_reach() {
        let chain = [Role::Admin, Role::Manager];
        for w in chain.windows(2) {
            assert!(w[1].permissions().is_subset_of(w[0].permissions()));
        }
        assert!(!Role::Viewer.permissions().contains(Permission::UsersManage));
        assert!(!Role::Manager
            .permissions()
            .contains(Permission::SettingsManage));
        assert!(!Role::Member
            .permissions()
            .contains(Permission::CallsViewAll));
        assert!(Role::Member
            .permissions()
            .contains(Permission::CallsViewOwn));
        assert_eq!(Role::Owner.permissions(), PermissionSet::all());
    }

    #[test]
    fn sets_intersect() {
        let a = PermissionSet::from_iter([Permission::CallsViewAll, Permission::QaEdit]);
        let b = PermissionSet::from_iter([Permission::QaEdit, Permission::UsersManage]);
        assert_eq!(
            a.intersect(b),
            PermissionSet::from_iter([Permission::QaEdit])
        );
        assert!(PermissionSet::empty().is_subset_of(a));
    }

    #[test]
    fn all_permissions_fit_the_bit_set() {
        assert!(Permission::ALL.len() <= 64);
        assert_eq!(PermissionSet::all().iter().count(), Permission::ALL.len());
    }
}
