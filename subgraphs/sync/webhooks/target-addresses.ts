// Which IP addresses a webhook may connect to. Only global unicast passes. WEBHOOK_ALLOW_PRIVATE_TARGETS relaxes
// exactly the ranges an on-premises receiver can live in (loopback, RFC 1918, unique local, carrier-grade NAT);
// everything else stays refused whatever the setting: link-local and cloud metadata endpoints hand out
// credentials, and the IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are ways
// to spell an address past a filter, never a receiver's real address.
import ipaddr from 'ipaddr.js';

type IP = ipaddr.IPv4 | ipaddr.IPv6;

// Instance metadata and credential endpoints. Most lie in link-local 169.254.0.0/16 (refused anyway) and are
// listed so the refusal names them; the rest sit in ranges the setting would otherwise allow, or in public space.
export const CLOUD_METADATA_ADDRESSES = [
  '169.254.169.254', // AWS EC2, GCP (metadata.google.internal), Azure, Oracle, OpenStack, DigitalOcean, Hetzner, IBM
  '169.254.170.2', // AWS ECS task metadata and credentials
  '169.254.170.23', // AWS EKS Pod Identity agent
  '169.254.0.23', // Tencent Cloud (metadata.tencentyun.com)
  '169.254.42.42', // Scaleway
  '192.0.0.192', // Oracle Cloud (legacy)
  '100.100.100.200', // Alibaba Cloud
  '168.63.129.16', // Azure WireServer (host platform, public space)
  'fd00:ec2::254', // AWS EC2, IPv6
  'fd00:ec2::23', // AWS EKS Pod Identity agent, IPv6
  'fd20:ce::254', // GCP, IPv6
  'fd00:42::42', // Scaleway, IPv6
];
const METADATA = new Set(CLOUD_METADATA_ADDRESSES.map((a) => ipaddr.parse(a).toNormalizedString()));

const last4 = (b: number[]) => b.slice(12, 16);

// IPv6 forms carrying an IPv4 address, and where it sits. ::/96 also holds :: and ::1, judged by range() first.
const EMBEDDING: { name: string; prefix: [ipaddr.IPv6, number]; ipv4: (bytes: number[]) => number[] }[] = [
  { name: 'an IPv4-mapped', prefix: ipaddr.IPv6.parseCIDR('::ffff:0:0/96'), ipv4: last4 },
  { name: 'an IPv4-translated', prefix: ipaddr.IPv6.parseCIDR('::ffff:0:0:0/96'), ipv4: last4 },
  { name: 'an IPv4-compatible', prefix: ipaddr.IPv6.parseCIDR('::/96'), ipv4: last4 },
  { name: 'a NAT64', prefix: ipaddr.IPv6.parseCIDR('64:ff9b::/96'), ipv4: last4 },
  // Local-use NAT64 lets the operator pick the prefix length; the common /96 layout is assumed for the message.
  { name: 'a NAT64', prefix: ipaddr.IPv6.parseCIDR('64:ff9b:1::/48'), ipv4: last4 },
  { name: 'a 6to4', prefix: ipaddr.IPv6.parseCIDR('2002::/16'), ipv4: (b) => b.slice(2, 6) },
  // Teredo stores the client's IPv4 address with every bit inverted.
  { name: 'a Teredo', prefix: ipaddr.IPv6.parseCIDR('2001::/32'), ipv4: (b) => last4(b).map((x) => x ^ 0xff) },
];

// IANA's global unicast space for IPv6; ipaddr.js calls anything outside its special ranges 'unicast'.
const GLOBAL_IPV6 = ipaddr.IPv6.parseCIDR('2000::/3');

// What WEBHOOK_ALLOW_PRIVATE_TARGETS lets through (development, on-premises receivers).
const PRIVATE_RANGES = new Set(['loopback', 'private', 'uniqueLocal', 'carrierGradeNat']);

const LABELS: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  uniqueLocal: 'a private (unique local) address',
  carrierGradeNat: 'a carrier-grade NAT address',
  linkLocal: 'a link-local address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
  reserved: 'a reserved address',
};

/** The IPv4 address an IPv6 address carries, with the name of its form, or null for plain IPv6. */
export function embeddedIPv4(ip: ipaddr.IPv6): { form: string; ipv4: ipaddr.IPv4 } | null {
  const range = ip.range();
  if (range === 'unspecified' || range === 'loopback') return null;
  const hit = EMBEDDING.find((e) => ip.match(e.prefix));
  return hit ? { form: hit.name, ipv4: ipaddr.fromByteArray(hit.ipv4(ip.toByteArray())) as ipaddr.IPv4 } : null;
}

/**
 * Why an address may not be a webhook target ("a loopback address", …), or null if it may. IPv6 forms that embed
 * an IPv4 address are always refused, and the reason judges the IPv4 address they carry as well.
 */
export function forbiddenReason(address: string, allowPrivate: boolean): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  const ip: IP = ipaddr.parse(address);
  if (METADATA.has(ip.toNormalizedString())) return 'a cloud metadata address';
  if (ip.kind() === 'ipv6') {
    const embedded = embeddedIPv4(ip as ipaddr.IPv6);
    if (embedded) {
      const v4 = embedded.ipv4.toString();
      const inner = forbiddenReason(v4, false);
      return `${embedded.form} IPv6 address of ${v4}${inner ? ` (${inner})` : ''}`;
    }
  }
  const range = ip.range();
  if (range === 'unicast') return ip.kind() === 'ipv6' && !(ip as ipaddr.IPv6).match(GLOBAL_IPV6) ? 'a reserved address (outside 2000::/3)' : null;
  if (allowPrivate && PRIVATE_RANGES.has(range)) return null;
  return LABELS[range] ?? `a reserved (${range}) address`;
}

/** Says whether WEBHOOK_ALLOW_PRIVATE_TARGETS would let a refused address through, so operators know the knob. */
export function refusalHint(address: string): string {
  return forbiddenReason(address, true) ? 'refused even with WEBHOOK_ALLOW_PRIVATE_TARGETS=true' : 'allowed only with WEBHOOK_ALLOW_PRIVATE_TARGETS=true';
}
