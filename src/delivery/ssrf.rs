//! The SSRF guard: `callback_url` comes from clients, so before a callback
//! is sent its host is resolved by our resolver, every address is checked,
//! and the connection is pinned to those vetted addresses (no second lookup,
//! so DNS rebinding cannot swap in an internal address afterwards).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use ipnet::IpNet;
use reqwest::Url;

/// Which addresses a callback may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    /// Networks opened explicitly (`CALLBACK_ALLOWED_NETWORKS`), checked first.
    pub allowed: Vec<IpNet>,
    /// `CALLBACK_ALLOW_HTTP`: plain http for development.
    pub allow_http: bool,
}

impl AddressPolicy {
    /// `Ok` for an address a callback may connect to, else the reason.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        let ip = canonical(ip);
        if self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match special_purpose_range(ip) {
            None => Ok(()),
            Some(range) => Err(format!("{ip} is in a {range} range")),
        }
    }
}

/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`) and NAT64
/// (`64:ff9b::a.b.c.d`) addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let s = v6.segments();
    let embedded = || IpAddr::V4(Ipv4Addr::from(u128::from(v6) as u32));
    if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified() {
        return embedded();
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return embedded();
    }
    ip
}

/// The special-purpose range (IANA registries) an address falls in, if any.
/// Everything here is unreachable from the public internet or is ours.
pub fn special_purpose_range(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => v6_range(v6),
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "unspecified (0.0.0.0/8)",
        (10, ..) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "carrier-grade NAT (100.64.0.0/10)",
        (127, ..) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local / cloud metadata (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) => "documentation (192.0.2.0/24)",
        (192, 88, 99) => "6to4 relay (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (198, 51, 100) => "documentation (198.51.100.0/24)",
        (203, 0, 113) => "documentation (203.0.113.0/24)",
        (224..=239, ..) => "multicast (224.0.0.0/4)",
        (240..=255, ..) => "reserved / broadcast (240.0.0.0/4)",
        _ => return None,
    })
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified (::/128)",
        _ if ip.is_loopback() => "loopback (::1/128)",
        0x0100 if s[1..4] == [0, 0, 0] => "discard (100::/64)",
        0x2001 if s[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x2001 if s[1] < 0x0200 => "IETF protocol assignments incl. Teredo (2001::/23)",
        0x2002 => "6to4 (2002::/16)",
        0x3fff if s[1] < 0x1000 => "documentation (3fff::/20)",
        0xfc00..=0xfdff => "unique local (fc00::/7)",
        0xfe80..=0xfebf => "link-local (fe80::/10)",
        0xfec0..=0xfeff => "site-local (fec0::/10)",
        0xff00..=0xffff => "multicast (ff00::/8)",
        // Only 2000::/3 is global unicast; the rest is unassigned.
        first if !(0x2000..=0x3fff).contains(&first) => "not global unicast (outside 2000::/3)",
        _ => return None,
    })
}

/// Host name lookups, injectable so tests never touch real DNS.
#[async_trait]
pub trait Resolver: Send + Sync + 'static {
    async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The operating system's resolver.
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// A fixed table of host → addresses (tests); unknown hosts do not resolve.
pub struct StaticResolver(pub HashMap<String, Vec<IpAddr>>);

#[async_trait]
impl Resolver for StaticResolver {
    async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        self.0
            .get(host)
            .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "unknown host"))
    }
}

/// A callback target that passed the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VettedTarget {
    pub url: Url,
    /// For a host name: the only addresses the connection may use.
    pub pinned: Option<(String, Vec<SocketAddr>)>,
}

/// Why a target is not vetted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Never to be tried again (scheme, address policy, malformed URL).
    Permanent(String),
    /// The name did not resolve now; a later attempt may succeed.
    Unresolved(String),
}

/// Checks `raw` against the policy, resolving a host name once (within
/// `lookup_timeout`).
pub async fn vet(
    raw: &str,
    policy: &AddressPolicy,
    resolver: &Arc<dyn Resolver>,
    lookup_timeout: std::time::Duration,
) -> Result<VettedTarget, Refusal> {
    let url = Url::parse(raw).map_err(|e| Refusal::Permanent(format!("invalid URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => {
            return Err(Refusal::Permanent(
                "http:// callback URLs are refused; use https:// (CALLBACK_ALLOW_HTTP is off)"
                    .into(),
            ))
        }
        other => {
            return Err(Refusal::Permanent(format!(
                "scheme {other}:// is not allowed"
            )))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::Permanent(
            "credentials in the URL are not allowed".into(),
        ));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    // The URL parser has already normalised octal, hex and integer IPv4
    // spellings (0177.0.0.2, 0x7f.0.0.2, 2130706434) into an address.
    let pinned = match url.host() {
        None => return Err(Refusal::Permanent("the URL has no host".into())),
        Some(url::Host::Ipv4(ip)) => {
            policy.check(IpAddr::V4(ip)).map_err(refused)?;
            None
        }
        Some(url::Host::Ipv6(ip)) => {
            policy.check(IpAddr::V6(ip)).map_err(refused)?;
            None
        }
        Some(url::Host::Domain(host)) => {
            let addresses = tokio::time::timeout(lookup_timeout, resolver.lookup(host, port))
                .await
                .map_err(|_| Refusal::Unresolved(format!("{host} did not resolve in time")))?
                .map_err(|e| Refusal::Unresolved(format!("{host} did not resolve: {e}")))?;
            if addresses.is_empty() {
                return Err(Refusal::Unresolved(format!(
                    "{host} resolved to no address"
                )));
            }
            // One bad address refuses the host: a name that mixes public and
            // internal answers is not one we send customer data to.
            for address in &addresses {
                policy
                    .check(address.ip())
                    .map_err(|reason| refused(format!("{host} resolves to {reason}")))?;
            }
            Some((host.to_owned(), addresses))
        }
    };
    Ok(VettedTarget { url, pinned })
}

fn refused(reason: String) -> Refusal {
    Refusal::Permanent(format!("callback address refused: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_by_default(ip: &str) -> bool {
        AddressPolicy::default().check(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn internal_and_special_ipv4_ranges_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.200",
            "198.18.0.1",
            "192.0.0.8",
            "192.88.99.1",
        ] {
            assert!(refused_by_default(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn internal_and_special_ipv6_ranges_are_refused() {
        for ip in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::1",
            "100::1",
            "3fff::1",
            // IPv4-mapped and -compatible forms of refused IPv4 addresses.
            "::ffff:127.0.0.1",
            "::ffff:127.0.0.2",
            "::ffff:10.0.0.1",
            "::ffff:172.16.0.1",
            "::ffff:192.168.1.1",
            "::ffff:169.254.169.254",
            "::ffff:100.64.0.1",
            "::ffff:224.0.0.1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.0.0.1",
            "::169.254.169.254",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(refused_by_default(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "142.250.74.110",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "11.0.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82a::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!refused_by_default(ip), "{ip} must pass");
        }
    }

    #[test]
    fn allowed_networks_open_chosen_ranges_only() {
        let policy = AddressPolicy {
            allowed: vec!["127.0.0.1/32".parse().unwrap()],
            allow_http: true,
        };
        assert!(policy.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check("127.0.0.2".parse().unwrap()).is_err());
        assert!(policy.check("::ffff:127.0.0.2".parse().unwrap()).is_err());
    }

    const SECOND: std::time::Duration = std::time::Duration::from_secs(1);

    fn resolver(entries: &[(&str, &str)]) -> Arc<dyn Resolver> {
        Arc::new(StaticResolver(
            entries
                .iter()
                .map(|(h, ip)| (h.to_string(), vec![ip.parse().unwrap()]))
                .collect(),
        ))
    }

    #[tokio::test]
    async fn urls_are_vetted_before_any_connection() {
        let policy = AddressPolicy {
            allowed: vec!["127.0.0.1/32".parse().unwrap()],
            allow_http: true,
        };
        let dns = resolver(&[
            ("hooks.example.com", "127.0.0.1"),
            ("rebind.example.com", "127.0.0.2"),
        ]);
        for url in [
            "http://127.0.0.2:9/x",
            "http://[::ffff:127.0.0.2]:9/x",
            "http://0177.0.0.2:9/x",
            "http://0x7f.0.0.2:9/x",
            "http://2130706434:9/x",
            "http://rebind.example.com:9/x",
            "http://user:pw@127.0.0.1:9/x",
            "ftp://127.0.0.1/x",
        ] {
            assert!(
                matches!(
                    vet(url, &policy, &dns, SECOND).await,
                    Err(Refusal::Permanent(_))
                ),
                "{url}"
            );
        }
        let vetted = vet("http://hooks.example.com:8080/cb", &policy, &dns, SECOND)
            .await
            .unwrap();
        assert_eq!(
            vetted.pinned,
            Some((
                "hooks.example.com".into(),
                vec!["127.0.0.1:8080".parse().unwrap()]
            ))
        );
        assert!(matches!(
            vet("http://unknown.example.com/cb", &policy, &dns, SECOND).await,
            Err(Refusal::Unresolved(_))
        ));
        let https_only = AddressPolicy {
            allow_http: false,
            ..policy
        };
        match vet("http://127.0.0.1:9/x", &https_only, &dns, SECOND).await {
            Err(Refusal::Permanent(reason)) => assert!(reason.contains("https"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
