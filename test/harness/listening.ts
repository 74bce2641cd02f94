import { readFileSync } from 'node:fs';

/**
 * The local addresses on which something listens on `port` (TCP, IPv4 and IPv6), read from
 * the kernel's tables: "127.0.0.1", "0.0.0.0", "::", … Linux only, as these tests are.
 */
export function listeningAddresses(port: number): string[] {
  const addresses: string[] = [];
  for (const [file, decode] of [
    ['/proc/net/tcp', ipv4],
    ['/proc/net/tcp6', ipv6],
  ] as const) {
    for (const line of readFileSync(file, 'utf8').trim().split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      const [address, portHex] = (local ?? '').split(':');
      if (state === '0A' && Number.parseInt(portHex ?? '', 16) === port) addresses.push(decode(address ?? ''));
    }
  }
  return addresses;
}

/** The kernel writes an IPv4 address as one little-endian 32-bit word in hex. */
function ipv4(hex: string): string {
  return [6, 4, 2, 0].map((at) => Number.parseInt(hex.slice(at, at + 2), 16)).join('.');
}

/** An IPv6 address as four little-endian 32-bit words; enough to tell "::" and "::1" apart. */
function ipv6(hex: string): string {
  const words = [0, 8, 16, 24].map((at) =>
    hex
      .slice(at, at + 8)
      .match(/../g)!
      .reverse()
      .join(''),
  );
  const groups = words.flatMap((word) => [word.slice(0, 4), word.slice(4)]).map((group) => Number.parseInt(group, 16).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}
