//! The trusted-proxy list (`proxy.trusted`, `--trusted-proxy`): IPv4 and IPv6 addresses and
//! CIDR ranges (RFC 4632 §3.1 prefix notation; RFC 4291 §2.3 for IPv6), and the membership test
//! that decides whether a peer may send a proxy header.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Errors in the `proxy.trusted` list (a configuration error at startup).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustedProxyError {
    /// The entry is neither an IP address nor `address/prefix`.
    #[error("proxy.trusted entry {0:?} is not an IP address or a CIDR (address/prefix)")]
    NotAnAddress(String),
    /// The prefix length is not a number or exceeds the address width.
    #[error("proxy.trusted entry {entry:?}: prefix length must be 0..={max}")]
    BadPrefix {
        /// The entry.
        entry: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
}

/// An IP network: an address with the host bits cleared and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    network: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network `addr/prefix` (host bits of `addr` are cleared); `None` if the prefix is
    /// longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let network = match addr {
            IpAddr::V4(a) if prefix <= 32 => Ipv4Addr::from(u32::from(a) & mask32(prefix)).into(),
            IpAddr::V6(a) if prefix <= 128 => {
                Ipv6Addr::from(u128::from(a) & mask128(prefix)).into()
            }
            _ => return None,
        };
        Some(IpNet { network, prefix })
    }

    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as a
    /// dual-stack socket reports IPv4 peers) count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.prefix) == u128::from(n),
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

impl FromStr for IpNet {
    type Err = TrustedProxyError;

    /// `192.0.2.1`, `10.0.0.0/8`, `::1`, `2001:db8::/32` (a bare address is a /32 or /128).
    fn from_str(s: &str) -> Result<IpNet, TrustedProxyError> {
        let entry = s.trim();
        let (addr, prefix) = match entry.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (entry, None),
        };
        let addr = IpAddr::from_str(addr)
            .map_err(|_| TrustedProxyError::NotAnAddress(entry.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => Some(p)
                .filter(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u8>().ok())
                .filter(|p| *p <= max)
                .ok_or_else(|| TrustedProxyError::BadPrefix {
                    entry: entry.to_owned(),
                    max,
                })?,
        };
        IpNet::new(addr, prefix).ok_or(TrustedProxyError::BadPrefix {
            entry: entry.to_owned(),
            max,
        })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The peers allowed to send a proxy header (`proxy.trusted`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parse every entry (addresses or CIDRs, IPv4 or IPv6); the first bad one is an error.
    pub fn parse<I, S>(entries: I) -> Result<TrustedProxies, TrustedProxyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nets = entries
            .into_iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<Vec<IpNet>, _>>()?;
        Ok(TrustedProxies { nets })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The networks.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}
