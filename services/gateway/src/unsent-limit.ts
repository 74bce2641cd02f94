import { readFileSync } from 'node:fs';

/**
 * The kernel's bound on the bytes a TCP socket holds that it has not sent yet
 * (net.ipv4.tcp_notsent_lowat, one value per network namespace). A viewer skips frames only
 * once its socket stops taking bytes, and unbounded, a socket takes up to its send buffer,
 * which the kernel grows to 4 MB: to a viewer on a link slower than its camera, that is
 * seconds of video queued behind the newest frame. Bounded, the socket stops taking bytes
 * after about one frame, the viewer skips, and what it gets is recent. docker-compose.yml
 * sets it for the gateways and the load balancer; Node cannot set it per socket.
 * bench:thin measures it (docs/benchmarks.md, Viewers on thin links).
 */
export const UNSENT_LIMIT_SYSCTL = '/proc/sys/net/ipv4/tcp_notsent_lowat';

/** What docker-compose.yml sets and the docs recommend. */
export const RECOMMENDED_UNSENT_LIMIT = 16_384;

/** Above this the limit holds more than a few frames of any camera: as good as unset (the kernel's default is 2^32 - 1). */
const LARGEST_USEFUL_LIMIT = 1024 * 1024;

/** The limit in bytes, or null where the kernel has no such setting (not Linux). */
export function readUnsentLimit(path = UNSENT_LIMIT_SYSCTL): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const digits = text.trim();
  return /^\d+$/.test(digits) ? Number(digits) : null;
}

/** Why the limit should be set, when it is not; undefined when it is fine or cannot be known. */
export function unsentLimitAdvice(limit: number | null): string | undefined {
  if (limit === null || limit <= LARGEST_USEFUL_LIMIT) return undefined;
  return (
    `net.ipv4.tcp_notsent_lowat is ${limit} here: a viewer on a link slower than its camera may get frames seconds old, ` +
    `queued in the kernel; set it to ${RECOMMENDED_UNSENT_LIMIT} in the gateway's network namespace ` +
    `(docker-compose.yml does; sysctl -w net.ipv4.tcp_notsent_lowat=${RECOMMENDED_UNSENT_LIMIT} on a host; docs/operations.md, Viewers on thin links)`
  );
}
