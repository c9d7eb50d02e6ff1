//! Pieces of the startup chunks: the address encoding of Redirect and Forwarded IHello
//! (RFC 7016 §2.3.5): one flags byte (`0x80` = IPv6, low two bits = origin), 4 or 16 address
//! bytes, a big-endian u16 port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::codec::Reader;
use crate::error::CodecError;

/// Where an address came from (the low two bits of its flags byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin(pub u8);

impl Origin {
    /// Unknown.
    pub const UNKNOWN: Origin = Origin(0);
    /// Reported by the endpoint itself (local).
    pub const LOCAL: Origin = Origin(1);
    /// Observed by the sender (public).
    pub const OBSERVED: Origin = Origin(2);
    /// A relay.
    pub const RELAY: Origin = Origin(3);
}

/// An address with its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    /// The socket address.
    pub addr: SocketAddr,
    /// Its origin.
    pub origin: Origin,
}

impl Address {
    /// Read one address.
    pub fn decode(r: &mut Reader<'_>) -> Result<Address, CodecError> {
        let flags = r.u8("address flags")?;
        let ip = if flags & 0x80 != 0 {
            let b: [u8; 16] = r.bytes(16, "IPv6 address")?.try_into().expect("16 bytes");
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            let b: [u8; 4] = r.bytes(4, "IPv4 address")?.try_into().expect("4 bytes");
            IpAddr::V4(Ipv4Addr::from(b))
        };
        let port = r.u16("address port")?;
        Ok(Address {
            addr: SocketAddr::new(ip, port),
            origin: Origin(flags & 0x03),
        })
    }

    /// Append this address.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self.addr.ip() {
            IpAddr::V4(ip) => {
                out.push(self.origin.0 & 0x03);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(0x80 | (self.origin.0 & 0x03));
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&self.addr.port().to_be_bytes());
    }
}
