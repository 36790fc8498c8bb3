//! The address a request comes from, for the per-address limits. Behind a
//! load balancer or reverse proxy every connection comes from the proxy, so
//! all clients would share one budget; the proxies named in
//! `http.trusted_proxies` are believed about the client in
//! `X-Forwarded-For`, and no one else is (anyone can send the header).

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Where a request comes from, as [`client_addr`] decides; in every
/// request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// `peer` when it is not a trusted proxy. Otherwise the nearest address in
/// `X-Forwarded-For` (read from the right: each proxy appends the address
/// it was reached from) that is not a trusted proxy either; when every one
/// is, or an entry does not parse, the last one believed.
pub fn client_addr(trusted: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    // A server bound to `[::]` sees IPv4 peers as `::ffff:a.b.c.d`.
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut believed = peer;
    for entry in forwarded.iter().rev() {
        let Some(ip) = forwarded_ip(entry.trim()) else {
            break;
        };
        believed = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    believed
}

/// An address as proxies write it: bare, or with a port (`a.b.c.d:port`,
/// `[v6]:port`), as some load balancers do.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .ok()?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let cases: &[(&str, &[&str], &str)] = &[
            // Not a proxy: its header is anyone's to forge.
            ("203.0.113.9", &["198.51.100.1"], "203.0.113.9"),
            // The proxy's client.
            ("10.0.0.2", &["198.51.100.1"], "198.51.100.1"),
            ("::1", &["2001:db8::7"], "2001:db8::7"),
            // The nearest untrusted entry, not a forged one further left.
            (
                "10.0.0.2",
                &["192.0.2.66, 198.51.100.1, 10.0.0.3"],
                "198.51.100.1",
            ),
            (
                "10.0.0.2",
                &["192.0.2.66", "198.51.100.1", "10.0.0.3"],
                "198.51.100.1",
            ),
            // No header, or nothing readable: the proxy, or the last believed.
            ("10.0.0.2", &[], "10.0.0.2"),
            ("10.0.0.2", &["unknown, 10.0.0.3"], "10.0.0.3"),
            ("10.0.0.2", &["198.51.100.1:4711"], "198.51.100.1"),
            ("10.0.0.2", &["[2001:db8::7]:4711"], "2001:db8::7"),
            (
                "10.0.0.2",
                &["10.0.0.3, ::ffff:198.51.100.1"],
                "198.51.100.1",
            ),
            // A server bound to [::] sees its IPv4 proxy this way.
            ("::ffff:10.0.0.2", &["198.51.100.1"], "198.51.100.1"),
            // Only proxies: the one furthest from us.
            ("10.0.0.2", &["10.0.0.4, 10.0.0.3"], "10.0.0.4"),
        ];
        for (peer, forwarded, expected) in cases {
            assert_eq!(
                client_addr(&trusted, ip(peer), &headers(forwarded)),
                ip(expected),
                "{peer} {forwarded:?}"
            );
        }
    }

    #[test]
    fn nothing_is_believed_without_trusted_proxies() {
        assert_eq!(
            client_addr(&[], ip("10.0.0.2"), &headers(&["198.51.100.1"])),
            ip("10.0.0.2")
        );
    }
}
