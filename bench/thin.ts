/**
 * `npm run bench:thin` (as root: it makes network namespaces and shapes a link with tc): a
 * viewer on a link slower than its camera, as a phone on a thin link is. How old are the frames
 * it gets, and does anyone else notice?
 *
 *   npm run bench:thin [-- --rates 2,4 --seconds 20]
 *
 * The servers run in a network namespace of their own, so that the kernel setting under test
 * (net.ipv4.tcp_notsent_lowat, which docker-compose.yml sets for the gateways and HAProxy) is
 * changed there and nowhere else. The thin viewer runs in a second namespace, joined to the
 * first by a veth pair whose servers' end a token bucket (tbf) holds to --rates Mbit/s, with a
 * queue of up to 400 ms: the link's own buffer, which every case has alike. A second viewer
 * beside the servers, on no shaped link, watches the same camera at the same time.
 *
 * A camera: the test pattern at 640x480@30 (about 58 KB a frame, 14 Mbit/s), served by one
 * gateway, then by the local stack (one gateway behind HAProxy, its configuration as shipped).
 * Writes bench/results/thin.json and thin.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { OPEN_GATEWAY, startStack } from '@camrelay/clients';
import { freePort, repoRoot, spawnCapture, spawnGateway, spawnProcess, spawnRedis } from '@camrelay/stack';
import { writeRows } from './report.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '2,4' },
    seconds: { type: 'string', default: '20' },
    /** What serves the thin viewer: the gateway itself, HAProxy, HAProxy to an HTTP/2 page. */
    paths: { type: 'string', default: 'gateway,haproxy,h2' },
    /** Set when this script runs again inside the servers' namespace. */
    inside: { type: 'boolean', default: false },
  },
});
const rates = values.rates.split(',').map(Number);
if (rates.some((rate) => !(rate > 0))) throw new Error(`--rates: Mbit/s separated by commas, like 2,4; got ${values.rates}`);
const seconds = Number(values.seconds);
const PATHS = ['gateway', 'haproxy', 'h2'] as const;
const paths = values.paths.split(',') as Array<(typeof PATHS)[number]>;
if (!paths.every((path) => PATHS.includes(path))) throw new Error(`--paths: some of ${PATHS.join(',')}; got ${values.paths}`);
/** Tiles of the HTTP/2 page, all of the one camera. */
const TILES = 4;
if (!(seconds >= 10)) throw new Error(`--seconds: at least 10 (5 s are warm-up), got ${values.seconds}`);

/** Names per run, so that two runs (or a run left over) never meet. */
const SERVERS_NS = `camrelay-thin-servers-${process.pid}`;
const VIEWER_NS = `camrelay-thin-viewer-${process.pid}`;
const SERVERS_LINK = 'thin0';
const VIEWER_LINK = 'thin1';
const SERVERS_ADDRESS = '10.231.0.1';
const VIEWER_ADDRESS = '10.231.0.2';
const CAMERA = 'thin';
const UNSENT_LIMIT = '/proc/sys/net/ipv4/tcp_notsent_lowat';
/** The kernel's default: no limit. */
const UNBOUNDED = 4294967295;
const BOUNDED = 16384;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'inherit'] });

if (!values.inside) {
  // The names carry this process's pid; the inner run (another pid) is told the viewer's.
  const viewerNs = VIEWER_NS;
  try {
    ip('netns', 'add', SERVERS_NS);
    ip('netns', 'add', viewerNs);
    ip('link', 'add', SERVERS_LINK, 'netns', SERVERS_NS, 'type', 'veth', 'peer', 'name', VIEWER_LINK, 'netns', viewerNs);
    ip('-n', SERVERS_NS, 'addr', 'add', `${SERVERS_ADDRESS}/24`, 'dev', SERVERS_LINK);
    ip('-n', viewerNs, 'addr', 'add', `${VIEWER_ADDRESS}/24`, 'dev', VIEWER_LINK);
    for (const [ns, link] of [
      [SERVERS_NS, SERVERS_LINK],
      [viewerNs, VIEWER_LINK],
    ] as const) {
      ip('-n', ns, 'link', 'set', link, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    const args = [process.argv[1]!, '--inside', '--rates', values.rates, '--seconds', values.seconds, '--paths', values.paths];
    execFileSync('ip', ['netns', 'exec', SERVERS_NS, process.execPath, ...args], {
      stdio: 'inherit',
      cwd: repoRoot,
      env: { ...process.env, THIN_VIEWER_NS: viewerNs },
    });
  } finally {
    for (const ns of [SERVERS_NS, viewerNs]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // never made: nothing to remove
      }
    }
  }
} else {
  await measureAll(process.env.THIN_VIEWER_NS ?? '');
}

interface Served {
  /** The thin viewer's URL (on the servers' address) for `path`, and a near viewer's (loopback, HTTP/1.1). */
  readonly thinUrl: (path: string) => string;
  readonly nearUrl: (path: string) => string;
  /** What the thin viewer is: an HTTP/1.1 stream, or a page of tiles over HTTP/2. */
  readonly thinArgs: string[];
  stop(): Promise<void>;
}

async function serveDirect(): Promise<Served> {
  const redis = await spawnRedis();
  const capture = await spawnCapture({ REDIS_URL: redis.url, CAMERAS: `${CAMERA}=pattern:640x480@30` }, [CAMERA]);
  // On every address: the thin viewer comes from the other namespace.
  const gateway = await spawnGateway({ REDIS_URL: redis.url, HOST: '0.0.0.0', ...OPEN_GATEWAY });
  const port = Number(new URL(gateway.baseUrl).port);
  return {
    thinUrl: (path) => `http://${SERVERS_ADDRESS}:${port}${path}`,
    nearUrl: (path) => `http://127.0.0.1:${port}${path}`,
    thinArgs: [],
    stop: async () => {
      for (const part of [gateway, capture, redis]) await part.stop();
    },
  };
}

async function serveThroughHaproxy(): Promise<Served> {
  const port = await freePort();
  const stack = await startStack(1, { PORT: String(port), CAMERAS: `${CAMERA}=pattern:640x480@30`, ...OPEN_GATEWAY });
  return {
    thinUrl: (path) => `http://${SERVERS_ADDRESS}:${port}${path}`,
    nearUrl: (path) => `http://127.0.0.1:${port}${path}`,
    thinArgs: [],
    stop: async () => void (await stack.stop('SIGINT')),
  };
}

/** The same, the thin viewer a page of TILES tiles over HTTP/2 (HTTPS, a certificate for the servers' address). */
async function serveHttp2Page(): Promise<Served> {
  const port = await freePort();
  const stack = await startStack(1, {
    PORT: String(port),
    CAMERAS: `${CAMERA}=pattern:640x480@30`,
    TLS_NAMES: `${SERVERS_ADDRESS},127.0.0.1`,
    ...OPEN_GATEWAY,
  });
  const ca = join(repoRoot, 'bench', 'results', 'tmp', 'thin-ca.pem');
  mkdirSync(dirname(ca), { recursive: true });
  writeFileSync(ca, stack.certificate);
  const httpsPort = new URL(stack.httpsUrl).port;
  return {
    thinUrl: (path) => `https://${SERVERS_ADDRESS}:${httpsPort}${path}`,
    nearUrl: (path) => `http://127.0.0.1:${port}${path}`,
    thinArgs: ['--h2', String(TILES), '--ca', ca],
    stop: async () => void (await stack.stop('SIGINT')),
  };
}

interface Watched {
  fps: number;
  mbitPerSecond: number;
  ageMs: { p50: number | null; p95: number | null; max: number | null };
}

/** One viewer (bench/thin-viewer.ts) for --seconds: in the viewer's namespace when given, else beside the servers. */
async function watch(url: string, viewerNs?: string, args: string[] = []): Promise<Watched> {
  const command = [process.execPath, 'bench/dist/thin-viewer.js', '--url', url, '--seconds', String(seconds), ...args];
  const viewer = viewerNs ? spawnProcess('ip', ['netns', 'exec', viewerNs, ...command]) : spawnProcess(command[0]!, command.slice(1));
  await viewer.exited;
  const line = viewer.output.find((l) => l.startsWith('{'));
  if (!line) throw new Error(`the viewer printed no result:\n${viewer.output.join('\n')}`);
  return JSON.parse(line) as Watched;
}

async function measureAll(viewerNs: string): Promise<void> {
  if (!viewerNs) throw new Error('THIN_VIEWER_NS is not set: run npm run bench:thin, not this script');
  const rows: Record<string, string | number>[] = [];
  const f = (n: number | null | undefined, digits = 0) => (n === null || n === undefined ? '-' : n.toFixed(digits));
  const serving = {
    gateway: ['gateway', serveDirect],
    haproxy: ['HAProxy + gateway', serveThroughHaproxy],
    h2: [`HAProxy + gateway, HTTP/2 page of ${TILES} tiles`, serveHttp2Page],
  } as const;
  for (const [path, serve] of paths.map((name) => serving[name])) {
    const served = await serve();
    try {
      for (const limit of [UNBOUNDED, BOUNDED]) {
        writeFileSync(UNSENT_LIMIT, String(limit));
        for (const rate of rates) {
          execFileSync('tc', [
            'qdisc',
            'replace',
            'dev',
            SERVERS_LINK,
            'root',
            'tbf',
            'rate',
            `${rate}mbit`,
            'burst',
            '32kbit',
            'latency',
            '400ms',
          ]);
          const streamPath = `/cameras/${CAMERA}/stream.mjpg`;
          const [thin, near] = await Promise.all([
            watch(served.thinUrl(streamPath), viewerNs, served.thinArgs),
            watch(served.nearUrl(streamPath)),
          ]);
          const row = {
            path,
            tcp_notsent_lowat: limit === UNBOUNDED ? 'unset' : String(limit),
            'link, Mbit/s': rate,
            "thin viewer's fps (a tile's)": f(thin.fps, 1),
            'its Mbit/s': f(thin.mbitPerSecond, 1),
            'its frames age p50 / p95 / max, ms': `${f(thin.ageMs.p50)} / ${f(thin.ageMs.p95)} / ${f(thin.ageMs.max)}`,
            'viewer on no shaped link: fps, age p95 ms': `${f(near.fps, 1)}, ${f(near.ageMs.p95)}`,
          };
          rows.push(row);
          console.log(Object.values(row).join('  '));
        }
      }
    } finally {
      writeFileSync(UNSENT_LIMIT, String(UNBOUNDED));
      await served.stop();
    }
  }
  const table = writeRows(join(repoRoot, 'bench', 'results'), 'thin', rows, { camera: 'pattern:640x480@30', linkQueue: '400 ms', seconds });
  console.log(`\n${table}`);
}
