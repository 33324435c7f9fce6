//! Where a request came from, as the audit row, the session and the per-address rules record
//! it. The TCP peer is the client, unless the peer is one of the configured trusted proxies:
//! then `X-Forwarded-For` is read from the right (each proxy appends the address it received
//! the request from) and the first address that is not a trusted proxy is the client. What a
//! caller writes into the header itself lies to the left of that and is never believed, and
//! only a well-formed IP address is ever returned. `Forwarded` (RFC 7239) and `X-Real-IP` are
//! not read: a proxy that appends to `X-Forwarded-For` passes them on untouched, so they hold
//! whatever the caller sent.
use std::net::{IpAddr, SocketAddr};

use crate::config::TrustedProxies;

/// Entries of `X-Forwarded-For` examined at most, from the right: more proxies than this in
/// front of the service is a misconfiguration, not a deployment.
const MAX_HOPS: usize = 32;

/// The client's address: `peer` unless it is a trusted proxy, else the right-most address in
/// `forwarded_for` (the header's values, in the order received) that is not. When an entry
/// that is not an IP address is reached first, or more than [`MAX_HOPS`] trusted ones, the
/// nearest address known to be real (the last trusted hop) is the answer.
pub fn client_address<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer.map(canonical)?;
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let mut nearest = peer;
    let hops = forwarded_for
        .rev()
        .flat_map(|value| value.rsplit(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty());
    for (index, entry) in hops.enumerate() {
        if index == MAX_HOPS {
            return Some(nearest);
        }
        let Some(address) = parse_entry(entry) else {
            return Some(nearest);
        };
        if !trusted.contains(address) {
            return Some(address);
        }
        nearest = address;
    }
    Some(nearest)
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(address) = entry.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
        .map(canonical)
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.1`) is the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    address.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(networks: &str) -> TrustedProxies {
        networks.parse().unwrap()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn address(peer: &str, headers: &[&str], networks: &str) -> Option<IpAddr> {
        client_address(ip(peer), headers.iter().copied(), &trusted(networks))
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(
            address("203.0.113.9", &["198.51.100.1"], ""),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_even_when_proxies_are_configured() {
        assert_eq!(
            address("203.0.113.9", &["198.51.100.1"], "10.0.0.0/8"),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client() {
        // The caller wrote 198.51.100.1 itself; the proxy appended the address it saw.
        assert_eq!(
            address("10.0.0.2", &["198.51.100.1, 203.0.113.9"], "10.0.0.0/8"),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_hops_are_skipped_across_entries_and_header_lines() {
        assert_eq!(
            address(
                "10.0.0.2",
                &["198.51.100.1, 203.0.113.9", "10.1.1.1", "10.2.2.2"],
                "10.0.0.0/8"
            ),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn an_entry_that_is_not_an_address_stops_the_walk_at_the_last_trusted_hop() {
        assert_eq!(
            address(
                "10.0.0.2",
                &["203.0.113.9, <script>, 10.1.1.1"],
                "10.0.0.0/8"
            ),
            ip("10.1.1.1")
        );
        assert_eq!(
            address("10.0.0.2", &["x".repeat(60_000).as_str()], "10.0.0.0/8"),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_request_from_a_trusted_proxy_without_the_header_is_the_proxys_own() {
        assert_eq!(address("10.0.0.2", &[], "10.0.0.0/8"), ip("10.0.0.2"));
        assert_eq!(address("10.0.0.2", &[" , "], "10.0.0.0/8"), ip("10.0.0.2"));
    }

    #[test]
    fn when_every_hop_is_trusted_the_left_most_is_the_client() {
        assert_eq!(
            address("10.0.0.2", &["10.9.9.9, 10.1.1.1"], "10.0.0.0/8"),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn ports_brackets_and_mapped_ipv4_are_understood() {
        assert_eq!(
            address("10.0.0.2", &["203.0.113.9:4711"], "10.0.0.0/8"),
            ip("203.0.113.9")
        );
        assert_eq!(
            address("10.0.0.2", &["[2001:db8::1]:4711"], "10.0.0.0/8"),
            ip("2001:db8::1")
        );
        assert_eq!(
            address("10.0.0.2", &["[2001:db8::1]"], "10.0.0.0/8"),
            ip("2001:db8::1")
        );
        assert_eq!(
            address("::ffff:10.0.0.2", &["::ffff:203.0.113.9"], "10.0.0.0/8"),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_single_address_is_a_trusted_network_of_one() {
        assert_eq!(
            address("192.0.2.7", &["203.0.113.9"], "192.0.2.7"),
            ip("203.0.113.9")
        );
        assert_eq!(
            address("192.0.2.8", &["203.0.113.9"], "192.0.2.7"),
            ip("192.0.2.8")
        );
    }

    #[test]
    fn a_long_chain_of_trusted_hops_is_not_followed_to_its_end() {
        let hops = vec!["10.1.1.1"; MAX_HOPS + 10].join(", ");
        let header = format!("203.0.113.9, {hops}");
        assert_eq!(
            address("10.0.0.2", &[header.as_str()], "10.0.0.0/8"),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn no_peer_is_no_address() {
        assert_eq!(
            client_address(None, ["203.0.113.9"].into_iter(), &trusted("")),
            None
        );
    }

    #[test]
    fn trusted_proxies_parse_cidrs_and_addresses_and_refuse_anything_else() {
        assert!(trusted("").is_empty());
        assert!(
            trusted(" 10.0.0.0/8 , 2001:db8::/32,192.0.2.7 ")
                .contains("2001:db8::5".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.example".parse::<TrustedProxies>().is_err());
    }
}
