//! Where a call to a URL someone else chose may go.
//!
//! A lead's webhook, Bitrix24 and amoCRM targets come from the request, so a caller could
//! point them at the instance metadata service, the Lambda Runtime API on 127.0.0.1 or a
//! host inside the VPC. Two checks stop that, both of them needed:
//! - [`check`] on the URL: https only, and an IP literal must be a public address (reqwest
//!   never asks the resolver about a literal);
//! - [`GuardedResolver`] on every name as it is resolved for the connection: only public
//!   addresses are returned, so a name that resolves to a private one — even one that
//!   changes its answer between our check and the connect (DNS rebinding) — gets nowhere.
//!
//! `OUTBOUND_ALLOW_HOSTS` (comma-separated `host` or `host:port`) is the only exemption: for
//! a fake on 127.0.0.1 in tests, or an on-premise system the operator means to reach. It is
//! unset by default everywhere, `zayavka serve` included. Plain http is allowed only to
//! those hosts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

use crate::config::EnvReader;

pub const ALLOW_VAR: &str = "OUTBOUND_ALLOW_HOSTS";

/// Why a destination is refused. Shown to whoever chose the URL, so it names the rule, not
/// what is behind the address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("must use https")]
    NotHttps,
    #[error("has no host")]
    NoHost,
    #[error("points to an internal address ({0}); only public addresses can be called")]
    InternalAddress(IpAddr),
    #[error("{0} resolves only to internal addresses; only public addresses can be called")]
    InternalName(String),
    #[error("{host} is allowed only on port {allowed}, not {port}")]
    Port {
        host: String,
        port: u16,
        allowed: u16,
    },
}

/// One `OUTBOUND_ALLOW_HOSTS` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    /// Lower-case; an IPv6 literal without its brackets.
    host: String,
    port: Option<u16>,
}

/// The hosts exempt from the public-address rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowHosts {
    entries: Vec<Allowed>,
}

impl AllowHosts {
    /// Nothing exempt: what every deployment starts with.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn read(env: &mut EnvReader<'_>) -> Self {
        let Some(raw) = env.optional(ALLOW_VAR) else {
            return Self::none();
        };
        match Self::parse(&raw) {
            Ok(allow) => allow,
            Err(e) => {
                env.problem(format!("{ALLOW_VAR}: {e}"));
                Self::none()
            }
        }
    }

    /// `host` or `host:port` entries, comma-separated; `[v6]` or `[v6]:port` for IPv6.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            entries.push(parse_entry(item)?);
        }
        Ok(Self { entries })
    }

    /// Whether any entry names this host (whatever its port).
    fn names(&self, host: &str) -> bool {
        self.entries.iter().any(|e| e.host == host)
    }

    /// `Some(Ok)` when the host is exempt on this port, `Some(Err)` when it is exempt on
    /// another port only, `None` when it is not listed.
    fn exempts(&self, host: &str, port: u16) -> Option<Result<(), Refusal>> {
        let mut listed = self.entries.iter().filter(|e| e.host == host).peekable();
        let first_port = listed.peek()?.port;
        if listed.any(|e| e.port.is_none_or(|p| p == port)) {
            return Some(Ok(()));
        }
        Some(Err(Refusal::Port {
            host: host.to_string(),
            port,
            allowed: first_port.unwrap_or(port),
        }))
    }
}

fn parse_entry(item: &str) -> Result<Allowed, String> {
    let bad = || format!("{item:?} is not a host or host:port");
    let (host, port) = if let Some(rest) = item.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(bad)?;
        v6.parse::<Ipv6Addr>().map_err(|_| bad())?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(bad)?),
        };
        (v6.to_string(), port)
    } else {
        match item.rsplit_once(':') {
            // More than one colon and no brackets: a bare IPv6 address.
            Some((h, _)) if h.contains(':') => {
                item.parse::<Ipv6Addr>().map_err(|_| bad())?;
                (item.to_string(), None)
            }
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (item.to_string(), None),
        }
    };
    let port = port
        .map(|p| p.parse::<u16>().map_err(|_| bad()))
        .transpose()?;
    let valid_name = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !valid_name {
        return Err(bad());
    }
    Ok(Allowed {
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// Whether an address is one a caller-chosen URL must not reach: loopback, private,
/// link-local, CGNAT, multicast, broadcast, unspecified and the other special-purpose
/// ranges of both families (IPv4 inside IPv6 is judged as IPv4).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (CGNAT), 100.64.0.0/10.
        || (a == 100 && (64..=127).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4.
        || a >= 240
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let s = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks) and NAT64
    // (64:ff9b::/96) carry an IPv4 address in their last 32 bits.
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let v4_compatible = s[..6].iter().all(|&x| x == 0) && !ip.is_loopback();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0);
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ((v4_compatible || nat64) && internal_v4(embedded))
        // Unique local fc00::/7, link-local fe80::/10, old site-local fec0::/10.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // Documentation 2001:db8::/32.
        || (s[0] == 0x2001 && s[1] == 0x0db8)
}

/// The URL-level half of the rule (the resolver is the other): scheme, IP literals, ports.
pub fn check(allow: &AllowHosts, url: &Url) -> Result<(), Refusal> {
    let host = match url.host() {
        None => return Err(Refusal::NoHost),
        Some(Host::Domain("")) => return Err(Refusal::NoHost),
        Some(Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
    };
    let port = url.port_or_known_default().unwrap_or(0);
    if let Some(exempt) = allow.exempts(&host, port) {
        return exempt;
    }
    if url.scheme() != "https" {
        return Err(Refusal::NotHttps);
    }
    match url.host() {
        Some(Host::Ipv4(ip)) if internal_v4(ip) => Err(Refusal::InternalAddress(ip.into())),
        Some(Host::Ipv6(ip)) if internal_v6(ip) => Err(Refusal::InternalAddress(ip.into())),
        // Names that are loopback by definition (RFC 6761), refused before any lookup.
        _ if host == "localhost" || host.ends_with(".localhost") => {
            Err(Refusal::InternalName(host))
        }
        _ => Ok(()),
    }
}

/// Resolves names for the client of caller-chosen URLs, keeping only public addresses
/// (every address of an exempt host).
pub struct GuardedResolver {
    allow: Arc<AllowHosts>,
}

impl GuardedResolver {
    pub fn new(allow: Arc<AllowHosts>) -> Self {
        Self { allow }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let exempt = allow.names(&host);
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| exempt || !is_internal(a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(Box::new(Refusal::InternalName(host)) as _);
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// The refusal behind a failed request, if that is why it failed.
pub fn refusal_of<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<Refusal>() {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn internal_addresses_of_both_families() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip} should be internal");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "93.184.216.34",
            "2606:4700::1111",
            "2a00:1450:4010::8a",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} should be public");
        }
    }

    #[test]
    fn urls_need_https_and_a_public_literal() {
        let none = AllowHosts::none();
        assert_eq!(check(&none, &url("https://example.com/hook")), Ok(()));
        assert_eq!(check(&none, &url("https://8.8.8.8/")), Ok(()));
        assert_eq!(
            check(&none, &url("http://example.com/")),
            Err(Refusal::NotHttps)
        );
        assert_eq!(
            check(&none, &url("https://api.LOCALHOST./")),
            Err(Refusal::InternalName("api.localhost".into()))
        );
        assert_eq!(
            check(&none, &url("http://127.0.0.1:9001/2018-06-01/runtime")),
            Err(Refusal::NotHttps)
        );
        for bad in [
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.5/admin?x=/rest/",
            "https://[::1]/",
            "https://[fd00::1]:8443/",
            "https://[::ffff:127.0.0.1]/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://127.1/",
        ] {
            assert!(
                matches!(check(&none, &url(bad)), Err(Refusal::InternalAddress(_))),
                "{bad} should be refused, got {:?}",
                check(&none, &url(bad))
            );
        }
    }

    #[test]
    fn allowed_hosts_are_the_only_exemption() {
        let allow = AllowHosts::parse("127.0.0.1:8080, fake.local ,[::1]:9000").unwrap();
        assert_eq!(check(&allow, &url("http://127.0.0.1:8080/x")), Ok(()));
        assert_eq!(
            check(&allow, &url("http://127.0.0.1:9001/x")),
            Err(Refusal::Port {
                host: "127.0.0.1".into(),
                port: 9001,
                allowed: 8080
            })
        );
        assert_eq!(check(&allow, &url("http://FAKE.local:1234/")), Ok(()));
        assert_eq!(check(&allow, &url("http://[::1]:9000/")), Ok(()));
        assert!(check(&allow, &url("http://[::1]:9001/")).is_err());
        assert_eq!(
            check(&allow, &url("http://10.0.0.1/")),
            Err(Refusal::NotHttps)
        );
        for bad in ["a b", "host:port", "[::1", "[zz]:1", "h:99999", ":80"] {
            assert!(AllowHosts::parse(bad).is_err(), "{bad} should not parse");
        }
        assert_eq!(AllowHosts::parse(" , ").unwrap(), AllowHosts::none());
        assert!(AllowHosts::parse("::1").unwrap().names("::1"));
    }

    #[tokio::test]
    async fn the_resolver_keeps_only_public_addresses() {
        let guarded = GuardedResolver::new(Arc::new(AllowHosts::none()));
        let name: Name = "localhost".parse().unwrap();
        let err = match guarded.resolve(name).await {
            Ok(addrs) => panic!("localhost resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert_eq!(
            refusal_of(err.as_ref()),
            Some(&Refusal::InternalName("localhost".into()))
        );
        let exempt = GuardedResolver::new(Arc::new(AllowHosts::parse("localhost:1").unwrap()));
        let addrs: Vec<_> = exempt
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
