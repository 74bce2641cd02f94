/**
 * HTTPS and HTTP/2 at the load balancer, as `npm run stack` starts it by default (Debian's
 * HAProxy 2.6, the template docker compose's is rendered from): plain HTTP redirects to HTTPS,
 * browsers get HTTP/2 and the gateways HTTP/1.1; a wall of twelve cameras in Chromium streams
 * every tile over HTTP/2, where HTTP/1.1 leaves it four.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { OPEN_GATEWAY, StreamViewer, fetchMetrics, metricValue, startStack } from '@camrelay/clients';
import type { RunningStack } from '@camrelay/clients';
import { freePort, runtimeCommand, spawnProcess, statRows } from '@camrelay/stack';
import { changedPixels, launchChromium, nextPictureLoaded } from './harness/browser.js';
import { eventually } from './harness/eventually.js';
import { handshake, httpsGet } from './harness/https.js';
import { openSlowPage } from './harness/slow-page.js';
import type { SlowPage } from './harness/slow-page.js';

const CAMERAS = Array.from({ length: 12 }, (_, i) => `wall${i + 1}`);
/** Connections one address may hold: a wall over HTTP/2 needs one. */
const CAP = 30;

describe('HTTPS with HTTP/2 at the load balancer', () => {
  let stack: RunningStack;
  let port: number;
  const browsers: Browser[] = [];

  before(async () => {
    port = await freePort();
    stack = await startStack(2, {
      PORT: String(port),
      // The first camera is large and fast, for the slow page: what a socket holds fills in
      // seconds (this host bounds no socket's unsent bytes), and the gateway then skips.
      CAMERAS: CAMERAS.map((id, i) => `${id}=pattern:${i === 0 ? '640x480@30' : '320x240@10'}`).join(';'),
      ...OPEN_GATEWAY,
      LB_PLAIN_HTTP: 'redirect',
      HSTS_MAX_AGE: '600',
      LB_MAX_CONNECTIONS_PER_ADDRESS: String(CAP),
    });
  });

  after(async () => {
    for (const browser of browsers) await browser.close();
    await stack?.stop('SIGINT');
  });

  const httpsPort = () => Number(new URL(stack.httpsUrl).port);
  /** Streams open on the gateways, from their /metrics. */
  const openStreams = async () =>
    (
      await Promise.all(stack.gateways.map(async (gateway) => metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_open_streams')))
    ).reduce((a, b) => a + b, 0);
  /** Client connections HAProxy holds now (its viewers frontend's current sessions). */
  const clientConnections = async () => {
    const socket = /runtime API (\S+)/.exec(stack.output.join('\n'))![1]!;
    const frontend = statRows(await runtimeCommand(socket, 'show stat')).find(
      (row) => row.pxname === 'viewers' && row.svname === 'FRONTEND',
    );
    return Number(frontend!.scur);
  };

  it('redirects plain HTTP to HTTPS, path and query kept, but answers its health URL there', async () => {
    const redirect = await fetch(`http://127.0.0.1:${port}/cameras/wall1/stream.mjpg?size=160x120`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), `https://127.0.0.1:${httpsPort()}/cameras/wall1/stream.mjpg?size=160x120`);
    assert.equal(redirect.headers.get('strict-transport-security'), null, 'HSTS only over HTTPS');
    // A host asked for by its IPv6 address keeps its brackets; only the port changes.
    const ipv6 = await new Promise<IncomingMessage>((resolve, reject) =>
      get({ host: '127.0.0.1', port, path: '/', headers: { host: `[::1]:${port}` } }, resolve).on('error', reject),
    );
    ipv6.resume();
    assert.equal(ipv6.headers.location, `https://[::1]:${httpsPort()}/`);
    assert.equal((await fetch(`http://127.0.0.1:${port}/lbz`)).status, 200);
  });

  it('speaks HTTP/2 or HTTP/1.1 over TLS 1.2 or 1.3 with the certificate it made, and refuses TLS 1.1', async () => {
    const ca = stack.certificate;
    assert.deepEqual(await handshake('127.0.0.1', httpsPort(), { ca }), { alpn: 'h2', version: 'TLSv1.3' });
    assert.deepEqual(await handshake('localhost', httpsPort(), { ca, offered: ['http/1.1'], maxVersion: 'TLSv1.2' }), {
      alpn: 'http/1.1',
      version: 'TLSv1.2',
    });
    await assert.rejects(handshake('127.0.0.1', httpsPort(), { ca, maxVersion: 'TLSv1.1' }));
    const cameras = await httpsGet(`${stack.httpsUrl}/api/cameras`, { ca });
    assert.equal(cameras.status, 200);
    assert.equal(cameras.headers['strict-transport-security'], 'max-age=600', 'HSTS_MAX_AGE');
    const viewer = new StreamViewer(`https://127.0.0.1:${httpsPort()}/cameras/wall1/stream.mjpg`, { ca, keepJpegs: false });
    try {
      await viewer.waitForFrames(3, 10_000);
    } finally {
      viewer.close();
    }
  });

  it('holds the connections per address over HTTPS as over HTTP', async () => {
    const ca = stack.certificate;
    const url = `https://127.0.0.1:${httpsPort()}/cameras/wall1/stream.mjpg`;
    const held = Array.from({ length: CAP }, () => new StreamViewer(url, { ca, keepJpegs: false, localAddress: '127.0.0.5' }));
    try {
      await Promise.all(held.map((viewer) => viewer.waitForFrames(1, 10_000)));
      const past = new StreamViewer(url, { ca, keepJpegs: false, localAddress: '127.0.0.5' });
      await assert.rejects(past.waitForFrames(1, 10_000), /HTTP 503: .*too_many_connections/);
    } finally {
      held.forEach((viewer) => viewer.close());
    }
  });

  it('a page reading slowly over HTTP/2: the gateways skip frames for it; other viewers keep theirs, and HAProxy holds little for it', async (t) => {
    const ca = stack.certificate;
    const big = `/cameras/${CAMERAS[0]}/stream.mjpg`;
    const others = [big, big, `/cameras/${CAMERAS[1]}/stream.mjpg`].map(
      (path) => new StreamViewer(`https://127.0.0.1:${httpsPort()}${path}`, { ca, keepJpegs: false }),
    );
    const haproxyPid = Number(/haproxy\s+pid (\d+)/.exec(stack.output.join('\n'))?.[1]);
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${haproxyPid}/status`, 'latin1'))?.[1]) * 1024;
    const skipped = async () =>
      (
        await Promise.all(
          stack.gateways.map(async (gateway) => metricValue(await fetchMetrics(gateway.baseUrl), 'camrelay_frames_skipped_total')),
        )
      ).reduce((a, b) => a + b, 0);
    let page: SlowPage | undefined;
    try {
      await Promise.all(others.map((viewer) => viewer.waitForFrames(2, 10_000)));
      const [rssBefore, skippedBefore, marks] = [rss(), await skipped(), others.map((viewer) => viewer.frames.length)];
      // Four tiles of the large camera (about 1.5 MB/s each), read at 200 KB/s in all.
      page = await openSlowPage(httpsPort(), [big, big, big, big], { ca, bytesPerSecond: 200_000 });
      const slow = page;
      // Frames are dropped for the slow page, not queued for it: the gateways skip.
      const skippedForIt = await eventually(
        async () => {
          const count = (await skipped()) - skippedBefore;
          assert.ok(count >= 4 * 30, `the gateways skipped ${count} frames`);
          return count;
        },
        30_000,
        250,
      );
      const grown = (rss() - rssBefore) / 2 ** 20;
      // The other viewers over the same time: each got nearly every frame captured meanwhile.
      const shares = others.map((viewer, i) => {
        const frames = viewer.frames.slice(marks[i]);
        return frames.length / (frames.at(-1)!.sequence - viewer.frames[marks[i]! - 1]!.sequence);
      });
      const latest = slow.tiles.map((tile) => tile.parts.at(-1));
      t.diagnostic(
        `slow page: ${slow.tiles.map((tile) => `${tile.status}: ${tile.parts.length}`).join(', ')} parts a tile, the latest ${latest.map((part) => (part ? `${part.receivedAt - Math.round(part.timestamp * 1000)} ms` : 'none')).join(', ')} old (this host bounds no socket's unsent bytes); the gateways skipped ${skippedForIt} frames; HAProxy's RSS grew ${grown.toFixed(1)} MB; the other viewers got ${shares.map((share) => `${(share * 100).toFixed(0)} %`).join(', ')} of the frames`,
      );
      const refusals = slow.tiles.flatMap((tile) => tile.refused);
      if (refusals.length > 0) t.diagnostic(`refused and tried again a second later: ${refusals.join('; ')}`);
      assert.deepEqual(
        slow.tiles.flatMap((tile) => (tile.malformed === undefined ? [] : [tile.malformed])),
        [],
        'every stream is the multipart it announced',
      );
      assert.ok(
        slow.tiles.every((tile) => tile.status === 200 && tile.parts.length > 0),
        'every tile of the slow page streams',
      );
      for (const share of shares) assert.ok(share >= 0.9, `every other viewer got ≥ 90 % of the frames (${(share * 100).toFixed(0)} %)`);
      // Unbounded, it would hold what the camera sent the page meanwhile: megabytes a second.
      assert.ok(grown < 4, `HAProxy's memory grew ${grown.toFixed(1)} MB`);
    } finally {
      page?.close();
      others.forEach((viewer) => viewer.close());
    }
  });

  /** The tiles that stream now (the page marks them), and the pictures all twelve show. */
  const streamedUrls = (page: Page) =>
    page.$$eval('figure[data-stream]', (figures) =>
      figures.map((figure) => (figure as unknown as { dataset: { stream: string } }).dataset.stream),
    );
  const openWall = async (browser: Browser) => {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(stack.httpsUrl);
    // The protocol the page itself came over, as the page's script reads it.
    const protocol = await page.evaluate(
      () =>
        (
          globalThis as unknown as { performance: { getEntriesByType(type: string): Array<{ nextHopProtocol: string }> } }
        ).performance.getEntriesByType('navigation')[0]!.nextHopProtocol,
    );
    // Every tile loads pictures one after another (a stream's parts, or snapshots each second),
    // and they move.
    const tiles = CAMERAS.map((id) => page.locator(`figure[data-id="${id}"] img`));
    await Promise.all(tiles.map((tile) => nextPictureLoaded(tile)));
    const first = await Promise.all(tiles.map((tile) => tile.screenshot()));
    await eventually(
      async () => {
        const changed = await Promise.all(tiles.map(async (tile, i) => changedPixels(first[i]!, await tile.screenshot())));
        assert.ok(
          changed.every((pixels) => pixels > 100),
          `pixels changed per tile: ${changed.join(', ')}`,
        );
      },
      10_000,
      250,
    );
    return { page, protocol };
  };

  it('streams every tile of a wall of twelve in Chromium over HTTP/2, on one connection; four over HTTP/1.1', async (t) => {
    const browser = await launchChromium({ trust: stack.certificate });
    browsers.push(browser);
    const { page, protocol } = await openWall(browser);
    assert.equal(protocol, 'h2');
    await eventually(async () => assert.equal((await streamedUrls(page)).length, CAMERAS.length, 'every tile streams'));
    await eventually(async () => assert.equal(await openStreams(), CAMERAS.length, 'the gateways serve twelve streams'));
    const connections = await clientConnections();
    t.diagnostic(`twelve streams over HTTP/2: ${connections} client connection(s) at HAProxy`);
    assert.equal(connections, 1, 'one connection carries them all');
    await page.close();
    await eventually(async () => assert.equal(await openStreams(), 0, 'a closed page holds no stream'));

    const http1 = await launchChromium({ trust: stack.certificate, http1: true });
    browsers.push(http1);
    const { page: older, protocol: olderProtocol } = await openWall(http1);
    assert.equal(olderProtocol, 'http/1.1');
    await eventually(async () => assert.equal((await streamedUrls(older)).length, 4, 'four tiles stream, the others show snapshots'));
    await eventually(async () => assert.equal(await openStreams(), 4));
    await older.close();
  });
});

describe('the load balancer’s TLS variables', () => {
  it('stop `npm run stack` before it starts anything, with a message naming the variable', async () => {
    for (const [variable, value, message] of [
      [
        'TLS_NAMES',
        'cams.example.org,not a name',
        /^stack: TLS_NAMES="cams\.example\.org,not a name": "not a name" is not a host name or IP address/,
      ],
      ['LB_PLAIN_HTTP', 'https', /^stack: LB_PLAIN_HTTP must be redirect or serve, got "https"/],
      ['HSTS_MAX_AGE', '1y', /^stack: HSTS_MAX_AGE must be a whole number from 0 to/],
      ['HTTPS_PORT', '8080', /^stack: HTTPS_PORT must be a whole number from 1 to 65535, not PORT's, got "8080"/],
    ] as const) {
      const stack = spawnProcess(process.execPath, ['tools/stack/dist/main.js', '--gateways', '1'], { PORT: '8080', [variable]: value });
      assert.equal(await stack.exited, 2, variable);
      assert.match(stack.output.join('\n'), message);
    }
  });
});
