//! Requests to addresses a tenant chose (a recording provider's `base_url`):
//! a tenant must not make the server reach what only the server can reach —
//! loopback, the private network, a cloud's metadata address. Names are
//! checked when they resolve, at connect time, so a name that resolves to a
//! public address when the credential is saved and to a private one later
//! is still refused; address literals, which are never resolved, are checked
//! before the request and on every redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is on the public internet: not loopback, private, link-local,
/// shared (carrier-grade NAT), multicast, reserved or documentation space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (RFC 6598), carrier-grade NAT.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments (RFC 6890).
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking (RFC 2544).
        || (a == 198 && (18..20).contains(&b))
        // Reserved for future use.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 address in IPv6 form reaches the IPv4 host.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (RFC 6052): the embedded IPv4 address is the one reached.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        // Documentation (2001:db8::/32).
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // IPv4-compatible (deprecated) and other ::/96 forms.
        || s[..6] == [0; 6])
}

/// A host that may not be reached on a tenant's behalf.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0} is not a public internet address; a tenant's provider must be reachable on the internet"
)]
pub struct NotPublic(pub String);

/// The URL's host when it is an address literal that is not public.
pub fn refused_literal(url: &url::Url) -> Option<NotPublic> {
    let ip = match url.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    (!is_public(ip)).then(|| NotPublic(ip.to_string()))
}

/// Resolves names like the system does, keeping only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() && !found.is_empty() {
                return Err(Box::new(NotPublic(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

const MAX_REDIRECTS: usize = 3;

/// The client for tenant-chosen addresses, and whether they may be private
/// (the setting `providers.allow_private_addresses`: for a provider on the
/// operator's own network, and for tests).
#[derive(Clone)]
pub struct TenantHttp {
    client: reqwest::Client,
    allow_private: bool,
}

impl TenantHttp {
    pub fn new(timeout: Duration, allow_private: bool) -> reqwest::Result<Self> {
        let builder = reqwest::Client::builder().timeout(timeout);
        let client = if allow_private {
            builder.redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        } else {
            builder
                .dns_resolver(Arc::new(PublicOnly))
                .redirect(reqwest::redirect::Policy::custom(|attempt| {
                    if attempt.previous().len() >= MAX_REDIRECTS {
                        attempt.error("too many redirects")
                    } else if let Some(refused) = refused_literal(attempt.url()) {
                        attempt.error(refused)
                    } else {
                        attempt.follow()
                    }
                }))
        }
        .build()?;
        Ok(TenantHttp {
            client,
            allow_private,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Refuses a URL whose host is an address literal that is not public
    /// (names are checked as they resolve).
    pub fn check(&self, url: &url::Url) -> Result<(), NotPublic> {
        match refused_literal(url) {
            Some(refused) if !self.allow_private => Err(refused),
            _ => Ok(()),
        }
    }
}

/// What went wrong with a request, without its URL (which may carry
/// credentials) but saying so when the address was refused.
pub fn describe(e: reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<NotPublic>() {
            return refused.to_string();
        }
        source = cause.source();
    }
    e.without_url().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::7f00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn address_literals_are_refused_names_are_left_to_the_resolver() {
        let refused = |u: &str| refused_literal(&url::Url::parse(u).unwrap()).is_some();
        assert!(refused("http://127.0.0.1:8080/x"));
        assert!(refused("http://[::1]/"));
        assert!(refused("https://user@169.254.169.254/latest/meta-data"));
        assert!(refused("http://2130706433/"), "a decimal IPv4 literal");
        assert!(!refused("https://8.8.8.8/"));
        assert!(!refused("https://recordings.example.com/"));
        assert!(!refused("http://localhost:8080/"), "resolved, then refused");
    }

    #[test]
    fn the_setting_lets_private_literals_through() {
        let url = url::Url::parse("http://10.0.0.5/token").unwrap();
        let strict = TenantHttp::new(Duration::from_secs(5), false).unwrap();
        let open = TenantHttp::new(Duration::from_secs(5), true).unwrap();
        assert_eq!(strict.check(&url).unwrap_err().0, "10.0.0.5");
        assert!(open.check(&url).is_ok());
    }

    #[tokio::test]
    async fn names_that_resolve_only_to_private_addresses_are_refused() {
        let refused = PublicOnly
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        assert!(refused.downcast_ref::<NotPublic>().is_some(), "{refused}");
    }

    #[tokio::test]
    async fn a_refused_connection_says_why() {
        let http = TenantHttp::new(Duration::from_secs(5), false).unwrap();
        let e = http
            .client()
            .get("http://localhost:9/token")
            .send()
            .await
            .expect_err("refused");
        assert_eq!(
            describe(e),
            "localhost is not a public internet address; a tenant's provider must be reachable on the internet"
        );
    }
}
