import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector } from 'undici';
import { DeliveryError } from '../errors.ts';

// SSRF guard for outbound HTTP (webhooks, Slack). A webhook URL is data an operator (or a tenant)
// typed: it must not become a way to reach the metadata service, the cluster network or loopback.
// Node's fetch ignores http.Agent, so the check sits in undici's `connect`: resolve the host (all
// addresses), refuse unless EVERY address is public unicast or allow-listed, then connect to the
// CHECKED address (the TLS servername and Host header keep the original name). No re-resolution
// happens between check and connect, so DNS rebinding cannot slip a private address in.

/** Cloud metadata endpoints: reachable only through an exact-address allow-list entry, never a broad CIDR. */
export const METADATA_ADDRESSES = ['169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '169.254.170.2'];

export interface EgressPolicy {
  cidrs: Array<{ entry: string; range: [ipaddr.IPv4 | ipaddr.IPv6, number] }>;
  hosts: Set<string>;
  exact: Set<string>;
}

const normHost = (h: string) => h.toLowerCase().replace(/\.$/, '').replace(/^\[(.*)\]$/, '$1');

/** "10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8" or a host name ("hooks.internal.example"). */
export function parseAllowList(entries: readonly string[]): EgressPolicy {
  const policy: EgressPolicy = { cidrs: [], hosts: new Set(), exact: new Set() };
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry.includes('/')) {
      const range = ipaddr.parseCIDR(entry); // throws on nonsense: configuration error
      policy.cidrs.push({ entry, range: [ipaddr.process(range[0].toString()), range[1]] as never });
      const bits = range[0].kind() === 'ipv4' ? 32 : 128;
      if (range[1] === bits) policy.exact.add(ipaddr.process(range[0].toString()).toString());
    } else if (ipaddr.isValid(normHost(entry))) {
      const addr = ipaddr.process(normHost(entry));
      policy.exact.add(addr.toString());
      policy.cidrs.push({ entry, range: [addr, addr.kind() === 'ipv4' ? 32 : 128] });
    } else {
      policy.hosts.add(normHost(entry));
    }
  }
  return policy;
}

export interface AddressVerdict {
  address: string;
  allowed: boolean;
  /** ipaddr.js range name: unicast, private, loopback, linkLocal, uniqueLocal, carrierGradeNat, … */
  range: string;
  why: string;
}

/** Public unicast passes; anything else needs an allow-list entry (metadata addresses an exact one). */
export function checkAddress(address: string, policy: EgressPolicy): AddressVerdict {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(address); // IPv4-mapped IPv6 (::ffff:10.0.0.1) becomes IPv4
  } catch {
    return { address, allowed: false, range: 'invalid', why: 'not an IP address' };
  }
  const canonical = addr.toString();
  const range = addr.range();
  // An IPv6 address that carries an IPv4 address (IPv4-compatible, SIIT, NAT64, 6to4, Teredo) reaches
  // that IPv4 host through a translator or the kernel: it is judged by the embedded address first, so
  // [::127.0.0.1] or 64:ff9b::a9fe:a9fe is loopback or metadata, not "public IPv6".
  const embedded = addr.kind() === 'ipv6' ? embeddedIPv4(addr as ipaddr.IPv6) : undefined;
  if (embedded) {
    const inner = checkAddress(embedded.v4.toString(), policy);
    if (!inner.allowed) return { address: canonical, allowed: false, range: inner.range, why: `${embedded.kind} address embedding ${inner.address} (${inner.why})` };
    // IPv4-compatible, SIIT and NAT64 addresses lead to the embedded host and nowhere else (an
    // IPv6-only pod reaches a public webhook through DNS64 + NAT64): judged as that host. 6to4 and
    // Teredo lead to relays: also judged below as IPv6 (refused unless allow-listed).
    if (embedded.kind !== '6to4' && embedded.kind !== 'Teredo') return { ...inner, address: canonical, why: `${embedded.kind} address of ${inner.address} (${inner.why})` };
  }
  if (METADATA_ADDRESSES.some((m) => ipaddr.process(m).toString() === canonical)) {
    return policy.exact.has(canonical)
      ? { address: canonical, allowed: true, range: 'metadata', why: 'allow-listed exactly' }
      : { address: canonical, allowed: false, range: 'metadata', why: 'cloud metadata address' };
  }
  for (const c of policy.cidrs) {
    if (addr.kind() === c.range[0].kind() && addr.match(c.range as never)) return { address: canonical, allowed: true, range, why: `allow-listed by ${c.entry}` };
  }
  if (range === 'unicast') return { address: canonical, allowed: true, range, why: 'public unicast' };
  return { address: canonical, allowed: false, range, why: `${range} address` };
}

/**
 * The IPv4 address inside an IPv6 address of a range that embeds one: IPv4-compatible ::a.b.c.d
 * (deprecated, RFC 4291; :: and ::1 excluded), SIIT ::ffff:0:a.b.c.d (RFC 6145), NAT64
 * 64:ff9b::/96 and 64:ff9b:1::/96 (RFC 6052, RFC 8215; other prefix lengths of 64:ff9b:1::/48 are
 * not recognised and stay refused), 6to4 2002:AABB:CCDD::/48
 * (RFC 3056), Teredo 2001:0::/32 (RFC 4380; the client address, inverted, in the last 32 bits).
 * IPv4-mapped ::ffff:a.b.c.d is already turned into IPv4 by ipaddr.process.
 */
export function embeddedIPv4(addr: ipaddr.IPv6): { v4: ipaddr.IPv4; kind: string } | undefined {
  const w = addr.parts; // eight 16-bit words
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const zero = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  if (zero(0, 6) && (w[6] !== 0 || (w[7] as number) > 1)) return { v4: v4(w[6] as number, w[7] as number), kind: 'IPv4-compatible' };
  if (zero(0, 4) && w[4] === 0xffff && w[5] === 0) return { v4: v4(w[6] as number, w[7] as number), kind: 'SIIT' };
  if (w[0] === 0x64 && w[1] === 0xff9b && (zero(2, 6) || (w[2] === 1 && zero(3, 6)))) return { v4: v4(w[6] as number, w[7] as number), kind: 'NAT64' };
  if (w[0] === 0x2002) return { v4: v4(w[1] as number, w[2] as number), kind: '6to4' };
  if (w[0] === 0x2001 && w[1] === 0) return { v4: v4(~(w[6] as number) & 0xffff, ~(w[7] as number) & 0xffff), kind: 'Teredo' };
  return undefined;
}

/** Names that always lead to this host or to a cloud metadata service, whatever DNS says. */
const LOOPBACK_NAMES = /^(localhost|localhost\.localdomain|ip6-localhost|ip6-loopback)$|\.localhost$/;
const METADATA_NAMES = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

/**
 * What egress will say about a target URL, decided without DNS (`config test` opens no connection):
 * an IP literal is checked as at delivery; loopback and metadata names are refused unless
 * allow-listed; any other name is only known once it resolves (undefined).
 */
export function staticEgressVerdict(url: string, allow: readonly string[]): AddressVerdict | undefined {
  let host: string;
  try {
    host = normHost(new URL(url).hostname);
  } catch {
    return undefined;
  }
  const policy = parseAllowList(allow);
  if (ipaddr.isValid(host)) return checkAddress(host, policy);
  if (policy.hosts.has(host)) return undefined;
  if (LOOPBACK_NAMES.test(host)) return { address: host, allowed: false, range: 'loopback', why: 'loopback name' };
  if (METADATA_NAMES.has(host)) return { address: host, allowed: false, range: 'metadata', why: 'cloud metadata name' };
  return undefined;
}

export type Lookup = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const systemLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** Resolves and checks a host; returns the address to connect to or throws a permanent DeliveryError. */
export async function resolveChecked(hostname: string, policy: EgressPolicy, lookup: Lookup = systemLookup): Promise<string> {
  const host = normHost(hostname);
  const hostAllowed = policy.hosts.has(host);
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host)).map((a) => a.address);
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new DeliveryError('dns_error', `cannot resolve ${host} (${code ?? (err as Error).message})`, { retriable: code !== 'ENOTFOUND', cause: err });
    }
    if (addresses.length === 0) throw new DeliveryError('dns_error', `${host} has no address`, { retriable: true });
  }
  const verdicts = addresses.map((a) => checkAddress(a, policy));
  // An allow-listed host name may resolve anywhere except a metadata address.
  if (hostAllowed) {
    const meta = verdicts.find((v) => v.range === 'metadata' && !v.allowed);
    if (!meta) return verdicts[0]?.address ?? (addresses[0] as string);
  }
  const refused = hostAllowed ? verdicts.find((v) => v.range === 'metadata' && !v.allowed) : verdicts.find((v) => !v.allowed);
  if (refused) {
    throw new DeliveryError(
      'egress_refused',
      `refused to connect to ${host}${host === refused.address ? '' : ` (resolves to ${refused.address})`}: ${refused.why}; list it in notify.egress.allow if this is intended`,
      { retriable: false },
    );
  }
  return (verdicts[0] as AddressVerdict).address;
}

export interface SafeAgentOptions {
  allow: readonly string[];
  /** TCP/TLS connect timeout (ms). */
  connectTimeoutMs?: number;
  /** Time to the response headers and between body chunks (ms). */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  lookup?: Lookup;
  /** The real connector (tests spy on it to prove nothing was sent). */
  baseConnect?: buildConnector.connector;
  connections?: number;
}

/** An undici Agent whose every connection goes through the egress check. Redirects are never followed (undici's default). */
export function createSafeAgent(opts: SafeAgentOptions): Agent {
  const policy = parseAllowList(opts.allow);
  const base = opts.baseConnect ?? buildConnector({ timeout: opts.connectTimeoutMs ?? 10_000 });
  const lookup = opts.lookup ?? systemLookup;
  const connect: buildConnector.connector = (options, callback) => {
    resolveChecked(options.hostname, policy, lookup).then(
      (address) => {
        const name = normHost(options.hostname);
        base({ ...options, hostname: address, servername: options.servername ?? (isIP(name) ? undefined : name) } as buildConnector.Options, callback);
      },
      (err: Error) => callback(err, null),
    );
  };
  return new Agent({
    connect,
    headersTimeout: opts.headersTimeoutMs ?? 10_000,
    bodyTimeout: opts.bodyTimeoutMs ?? 10_000,
    ...(opts.connections ? { connections: opts.connections } : {}),
  });
}
