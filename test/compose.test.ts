/**
 * `docker compose up`, as users run it: docker-compose.yml itself, driven through
 * testcontainers, with the images built from the project's Dockerfiles on base images built
 * here (`npm run docker:images`: Docker Hub is not reachable). Only variables change (base
 * images, the load balancer's port, and its address: 127.0.0.1, so nothing is reachable from
 * the network), and an override names the built images. Started as the README says, `up
 * --scale gateway=3 --scale capture=2`: 150 viewers through HAProxy at 640x480 @ 30; gateways
 * scaled up, down and killed; Redis restarted; the viewer page in Chromium; the camera asleep
 * and woken; a smaller size; a capture instance killed, its cameras taken over by the other;
 * and `down` leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import type { Browser, Request } from 'playwright-core';
import { DockerComposeEnvironment, Wait } from 'testcontainers';
import type { StartedDockerComposeEnvironment } from 'testcontainers';
import { StreamViewer, metricValue } from '@camrelay/clients';
import { loadOpenCV } from '@camrelay/capture';
import { STARTING_JPEGS } from '@camrelay/gateway';
import { freePort, isInRotation, repoRoot, statRows } from '@camrelay/stack';
import { changedPixels, launchChromium, nextPictureLoaded, waitForPicture } from './harness/browser.js';
import { everyCameraHeldOnce, heldCameras, sequenceFault } from './harness/capture-fleet.js';
import {
  composeCommand,
  containerLog,
  docker,
  ensureDockerEngine,
  execIn,
  localBaseImages,
  removeComposeProjects,
  serviceContainers,
  startedAt,
} from './harness/docker.js';
import type { DockerEngine } from './harness/docker.js';
import { eventually } from './harness/eventually.js';
import { handshake, httpsGet } from './harness/https.js';
import type { Answer } from './harness/https.js';

const execFileAsync = promisify(execFile);
/** HAProxy's runtime API inside the lb container, as the compose rendering of its configuration sets it. */
const RUNTIME_API_PORT = Number(
  /stats socket ipv4@127\.0\.0\.1:(\d+)/.exec(readFileSync(join(repoRoot, 'deploy', 'haproxy', 'haproxy.docker.cfg'), 'utf8'))?.[1],
);

const PROJECT = `camrelay-test-${process.pid}`;
const COMPOSE_FILES = ['docker-compose.yml', 'test/compose/docker-compose.test.yml'];
const TOKEN = randomBytes(18).toString('base64url');
const FPS = 30;
const VIEWERS = 150;
const AUTH = { authorization: `Bearer ${TOKEN}` };
const KEPT_VIEWERS = 60;
/** Viewers while a gateway is killed and Redis restarted: what two cores carry with room to spare. */
const QUIET_VIEWERS = 30;
/** How long the viewer page waits for a new picture before it reopens a stream. */
const STALL_MS = 2500;
/** No frame to any stream for this long: the streams were held up together (30 fps: 7 frames). */
const HOLD_UP_MS = 250;

/** Capture instances: a fleet sharing the cameras, as `--scale capture=2` in the README. */
const CAPTURES = 2;
/**
 * The cameras: the one the tests watch, and two small ones so that the fleet has cameras to
 * share (asleep, and so free, until the viewer page or the capture kill test watches them).
 */
const CAMERAS = ['cam', 'cam2', 'cam3'];

/** A stream opened again after its end: when that was, and when its replacement's first frame came (Date.now()). */
interface Reopened {
  replacement: StreamViewer;
  endedAt: number;
  firstFrameAt: number;
}

/** The top-level MP4 boxes in `bytes`, as far as they are whole: type, start and end. */
function topLevelBoxes(bytes: Buffer): Array<{ type: string; start: number; end: number }> {
  const boxes: Array<{ type: string; start: number; end: number }> = [];
  for (let start = 0; start + 8 <= bytes.length;) {
    const size = bytes.readUInt32BE(start);
    const length = size === 1 && start + 16 <= bytes.length ? Number(bytes.readBigUInt64BE(start + 8)) : size;
    if (length < 8 || start + length > bytes.length) break;
    boxes.push({ type: bytes.toString('latin1', start + 4, start + 8), start, end: start + length });
    start += length;
  }
  return boxes;
}

describe('docker compose: redis, a capture fleet, gateways and HAProxy in containers', () => {
  let engine: DockerEngine | undefined;
  let environment: StartedDockerComposeEnvironment | undefined;
  let composeEnv: Record<string, string> = {};
  let lb = '';
  /** The load balancer's plain HTTP port, which redirects to HTTPS. */
  let plain = '';
  /** The certificate it serves: self-signed, made by the tls service at first start. */
  let certificate = '';
  let viewers: StreamViewer[] = [];
  let browser: Browser | undefined;
  const compose = composeCommand();

  const stream = () => new StreamViewer(`${lb}/cameras/cam/stream.mjpg`, { keepJpegs: false, headers: AUTH, ca: certificate });
  const scale = (gateways: number) =>
    execFileAsync(
      compose.command,
      [
        ...compose.prefix,
        '-p',
        PROJECT,
        ...COMPOSE_FILES.flatMap((file) => ['-f', file]),
        'up',
        '-d',
        '--no-build',
        '--no-recreate',
        '--scale',
        `gateway=${gateways}`,
        '--scale',
        `capture=${CAPTURES}`,
      ],
      {
        cwd: repoRoot,
        env: { ...process.env, ...composeEnv },
      },
    );
  /** A gateway container's /metrics, asked inside it (gateways publish no port). */
  const gatewayMetrics = (id: string) =>
    execIn(
      id,
      'node',
      '-e',
      `fetch('http://127.0.0.1:8080/metrics',{headers:{authorization:'Bearer ${TOKEN}'}}).then((r)=>r.text()).then((t)=>process.stdout.write(t))`,
    );
  /** Streams open on each gateway container, from its own /metrics. */
  const viewersPerGateway = async (only: (gateway: { number: number }) => boolean = () => true) => {
    const gateways = (await serviceContainers(PROJECT, 'gateway')).filter(only);
    return Promise.all(
      gateways.map(async (gateway) => {
        const metrics = await gatewayMetrics(gateway.id);
        // Where a viewer's missing frames went: coalesced (the gateway got several at once) or
        // skipped (its socket had not taken the last one).
        const [viewers, coalesced, skipped, received, delivered] = [
          'camrelay_open_streams',
          'camrelay_frames_coalesced_total',
          'camrelay_frames_skipped_total',
          'camrelay_frames_received_total',
          'camrelay_frames_delivered_total',
        ].map((name) => metricValue(metrics, name));
        return { ...gateway, viewers: viewers!, coalesced: coalesced!, skipped: skipped!, received: received!, delivered: delivered! };
      }),
    );
  };
  /**
   * The cameras each capture container holds, from its own /metrics (capture publishes no port:
   * asked inside the container, on the HEALTH_PORT its image sets): the gauge
   * camrelay_capture_camera_held{camera="ID"} is 1 for each camera the instance holds.
   */
  const camerasPerCapture = async () => {
    const captures = await serviceContainers(PROJECT, 'capture');
    const script = `fetch('http://127.0.0.1:'+process.env.HEALTH_PORT+'/metrics').then((r)=>r.text()).then((t)=>process.stdout.write(t))`;
    return Promise.all(
      captures.map(async (capture) => {
        return { ...capture, held: heldCameras(await execIn(capture.id, 'node', '-e', script)) };
      }),
    );
  };
  const holdings = (captures: Array<{ number: number; held: string[] }>) =>
    captures.map((capture) => `capture #${capture.number}: ${capture.held.join(', ') || 'none'}`).join('; ');
  /**
   * The rows of backend `gateways` in HAProxy's runtime API (`show stat`), asked from inside its
   * container (the API listens on 127.0.0.1 there, published nowhere). Not its log: a server
   * found through DNS comes up as "is UP/READY", without the count.
   */
  const gatewaysBackend = async () => {
    const [lb] = await serviceContainers(PROJECT, 'lb');
    const stat = await execIn(lb!.id, 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${RUNTIME_API_PORT} && echo 'show stat' >&3 && cat <&3`);
    const rows = statRows(stat).filter((row) => row.pxname === 'gateways');
    return { backend: rows.find((row) => row.svname === 'BACKEND')!, servers: rows.filter((row) => row.svname !== 'BACKEND') };
  };
  /** When (ms since the epoch) HAProxy has `count` gateways in rotation, each after a passed check. */
  const inRotation = (count: number) =>
    eventually(
      async () => {
        assert.equal((await gatewaysBackend()).servers.filter(isInRotation).length, count, `HAProxy has ${count} gateways in rotation`);
        return Date.now();
      },
      20_000,
      100,
    );

  /**
   * Does what a viewer page does: a stream that ends is opened again at once, and so is one that
   * stalls for STALL_MS, from when `closeStalledFrom` resolves. `collect` returns, for each
   * stream that ended meanwhile, its replacement and the time from end to first frame.
   */
  const reconnectOnEnd = (watched: StreamViewer[], closeStalledFrom: Promise<unknown> = Promise.resolve()) => {
    let watching = true;
    const replaced: Array<Promise<Reopened>> = [];
    /** The streams this closed for stalling: their last frame, and when it came. */
    const stalled: string[] = [];
    // The stall check is needed here: now and then HAProxy keeps a stream open after its
    // gateway was removed (one in 90 in some runs; see docs/scaling.md). Such a stream never resumes.
    // Stalled means behind the others: when every stream pauses (the two cores here busy with
    // stopping containers, or this process itself held up), nothing is wrong with any one.
    let closingStalled = false;
    const closeStalled = () => (closingStalled = true);
    void closeStalledFrom.then(closeStalled, closeStalled);
    const stallCheck = setInterval(() => {
      if (!closingStalled) return;
      const lastFrames = watched
        .filter((viewer) => !viewer.isClosed)
        .map((viewer) => viewer.frames[viewer.frames.length - 1]?.receivedAt ?? 0);
      const freshest = Math.max(...lastFrames);
      for (const viewer of watched) {
        const last = viewer.frames[viewer.frames.length - 1];
        if (!viewer.isClosed && last && freshest - last.receivedAt > STALL_MS) {
          stalled.push(`#${last.sequence} at ${new Date(last.receivedAt).toISOString()}`);
          viewer.close();
        }
      }
    }, 250);
    /** Refused reopenings: the page tries again a second later, and so does this. */
    const refused: string[] = [];
    const reopen = async (endedAt: number): Promise<Reopened> => {
      for (;;) {
        const replacement = stream();
        try {
          const [first] = await replacement.waitForFrames(1, 10_000);
          return { replacement, endedAt, firstFrameAt: first!.receivedAt };
        } catch (error) {
          replacement.close();
          if (Date.now() - endedAt > 10_000) throw error;
          refused.push((error as Error).message);
          await sleep(1000);
        }
      }
    };
    for (const viewer of watched) {
      void viewer.ended.then(() => {
        if (watching) replaced.push(reopen(Date.now()));
      });
    }
    return {
      collect() {
        watching = false;
        clearInterval(stallCheck);
        return Promise.all(replaced);
      },
      stalled,
      refused,
    };
  };

  /**
   * The slowest reopened stream's time from its end to its first frame, less the moments when no
   * stream that was never cut received anything either. On these two cores, with one kept busy,
   * every stream this process reads now and then pauses at once for seconds (4.2 and 5.2 s while
   * compose removed gateways). A trial found where: with 100 streams read here and a short busy
   * process started beside it, all 100 paused for 1.6-2.3 s while a second process reading 10
   * streams from the same load balancer saw no pause over 0.4 s. Such a hold-up is no stream's
   * reconnection.
   */
  const slowestReconnection = (reopened: Reopened[], survivors: StreamViewer[]) => {
    const [from, to] = [Math.min(...reopened.map((r) => r.endedAt)), Math.max(...reopened.map((r) => r.firstFrameAt))];
    const arrivals = survivors
      .flatMap((viewer) => viewer.frames.map((frame) => frame.receivedAt))
      .filter((at) => at >= from - HOLD_UP_MS && at <= to + HOLD_UP_MS)
      .sort((a, b) => a - b);
    const holdUps: Array<[number, number]> = [];
    for (let i = 1; i < arrivals.length; i++)
      if (arrivals[i]! - arrivals[i - 1]! > HOLD_UP_MS) holdUps.push([arrivals[i - 1]!, arrivals[i]!]);
    const reconnections = reopened.map(({ endedAt, firstFrameAt }) => {
      const heldUp = holdUps.reduce((sum, [start, end]) => sum + Math.max(0, Math.min(end, firstFrameAt) - Math.max(start, endedAt)), 0);
      return { all: firstFrameAt - endedAt, net: firstFrameAt - endedAt - heldUp };
    });
    const slowest = reconnections.reduce((worst, r) => (r.net > worst.net ? r : worst), { all: 0, net: 0 });
    return {
      ms: slowest.net,
      description: `slowest ${slowest.net} ms from end to first frame (${slowest.all} ms, less ${slowest.all - slowest.net} ms in which no other stream got a frame either)`,
    };
  };

  /** The end of each gateway's and capture's log: what to read when a test here fails. */
  const serviceLogs = async () => {
    const logs: string[] = [];
    for (const service of ['gateway', 'capture'])
      for (const container of await serviceContainers(PROJECT, service))
        logs.push(`${service} #${container.number}:\n${(await containerLog(container.id)).split('\n').slice(-20).join('\n')}`);
    return logs.join('\n');
  };

  /** How long set-up took, reported by the first test (a hook cannot report). */
  const setUp: string[] = [];

  before(
    async () => {
      engine = await ensureDockerEngine();
      const stale = await removeComposeProjects('camrelay-test-');
      if (stale.length > 0) setUp.push(`removed what earlier runs left: ${stale.join(', ')}`);
      const started = performance.now();
      composeEnv = {
        // The base images, and LB_NOFILE where the engine cannot grant compose's default (these
        // machines: 20000), as the README's closed-network command passes them.
        ...localBaseImages(),
        API_TOKENS: TOKEN,
        // Redis's users (deploy/redis/users.acl): required by docker-compose.yml, like API_TOKENS.
        REDIS_CAPTURE_PASSWORD: randomBytes(24).toString('hex'),
        REDIS_GATEWAY_PASSWORD: randomBytes(24).toString('hex'),
        PORT: String(await freePort()),
        HTTPS_PORT: String(await freePort()),
        HSTS_MAX_AGE: '600',
        LB_ADDRESS: '127.0.0.1',
        CAMERAS: [`cam=pattern:640x480@${FPS}`, ...CAMERAS.slice(1).map((id) => `${id}=pattern:320x240@15`)].join(';'),
        // 32 KB frames. At the default quality (80: 57 KB) 150 streams through HAProxy and
        // Docker's bridge, and this process reading them, are the two cores' limit here: the
        // slowest viewer got 20-33 fps over eight runs, this process alone 46-94 % of a core.
        JPEG_QUALITY: '60',
        // Every viewer here comes from one address; after a kill one gateway carries them all.
        MAX_VIEWERS_PER_ADDRESS: '1000',
        LB_MAX_CONNECTIONS_PER_ADDRESS: '2000',
        // Short, so that the camera falls asleep between tests and the last test sees it wake.
        CAPTURE_IDLE_AFTER: '3',
      };
      lb = `https://127.0.0.1:${composeEnv.HTTPS_PORT}`;
      plain = `http://127.0.0.1:${composeEnv.PORT}`;
      setUp.push(
        `base images ready after ${((performance.now() - started) / 1000).toFixed(0)} s: ${Object.values(composeEnv).slice(0, 3).join(' ')}`,
      );
      environment = await startEnvironment();
      const [balancer] = await serviceContainers(PROJECT, 'lb');
      certificate = await execIn(balancer!.id, 'cat', '/certs/camrelay.pem');
      setUp.push(`images built and every container healthy ${((performance.now() - started) / 1000).toFixed(0)} s after the start`);
    },
    { timeout: 45 * 60_000 },
  );

  /** Up and healthy; if a container is not, the error names it with its last health checks. */
  const startEnvironment = async () => {
    try {
      return await new DockerComposeEnvironment(repoRoot, COMPOSE_FILES)
        .withProjectName(PROJECT)
        .withBuild()
        .withEnvironment(composeEnv)
        // Its reaper is an image from Docker Hub; the after hook takes everything down instead.
        .withAutoCleanup(false)
        .withDefaultWaitStrategy(Wait.forHealthCheck())
        .withStartupTimeout(120_000)
        .withClientOptions({
          ...(compose.standalone ? { executable: { standalone: true, executablePath: 'docker-compose' } } : {}),
          commandOptions: ['--scale', 'gateway=3', '--scale', `capture=${CAPTURES}`],
        })
        .up();
    } catch (error) {
      const ids = (await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`).catch(() => ''))
        .split(/\s+/)
        .filter(Boolean);
      const health = await Promise.all(
        ids.map((id) =>
          docker('inspect', '--format', '{{.Name}} {{.State.Status}} {{json .State.Health}}', id).catch(
            (failure: Error) => `${id}: ${failure.message}`,
          ),
        ),
      );
      throw new Error(`${(error as Error).message}; the containers and their last health checks:\n${health.join('\n')}`, { cause: error });
    }
  };

  after(async () => {
    for (const viewer of viewers) viewer.close();
    await browser?.close();
    try {
      // Without an environment (start-up failed) its containers are still there: by label.
      if (environment) await environment.down({ removeVolumes: true, timeout: 10_000 });
      else if (engine) await removeComposeProjects(PROJECT);
    } finally {
      await engine?.stop();
    }
  });

  it('starts every service healthy (Docker HEALTHCHECK) and as a user other than root', async (t) => {
    for (const line of setUp) t.diagnostic(line);
    const ids = (await docker('ps', '-a', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.ID}}'))
      .trim()
      .split('\n');
    const services: string[] = [];
    for (const id of ids) {
      const [state] = JSON.parse(await docker('inspect', id)) as Array<{
        State: { Health?: { Status: string }; Status: string; ExitCode: number };
        Config: { Labels: Record<string, string>; User: string };
      }>;
      const service = state!.Config.Labels['com.docker.compose.service']!;
      services.push(service);
      if (service === 'tls') {
        // It runs once, before the load balancer, and is done.
        assert.deepEqual(
          [state!.State.Status, state!.State.ExitCode, state!.Config.User],
          ['exited', 0, 'node'],
          'tls ran as node and succeeded',
        );
        continue;
      }
      assert.equal(state!.State.Health?.Status, 'healthy', `${service} is healthy`);
      const uids = (await docker('top', id, '-eo', 'pid,uid'))
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => Number(line.trim().split(/\s+/)[1]));
      assert.ok(uids.length > 0 && uids.every((uid) => uid !== 0), `${service} runs no process as root (uids ${uids.join(', ')})`);
    }
    assert.deepEqual(services.sort(), [...Array<string>(CAPTURES).fill('capture'), 'gateway', 'gateway', 'gateway', 'lb', 'redis', 'tls']);
  });

  it('serves HTTPS with HTTP/2 and a self-signed certificate made at first start; plain HTTP redirects there', async () => {
    const port = Number(composeEnv.HTTPS_PORT);
    assert.deepEqual(await handshake('127.0.0.1', port, { ca: certificate }), { alpn: 'h2', version: 'TLSv1.3' });
    assert.deepEqual(await handshake('127.0.0.1', port, { ca: certificate, offered: ['http/1.1'], maxVersion: 'TLSv1.2' }), {
      alpn: 'http/1.1',
      version: 'TLSv1.2',
    });
    await assert.rejects(handshake('127.0.0.1', port, { ca: certificate, maxVersion: 'TLSv1.1' }), 'TLS 1.1 is refused');
    const cameras = await httpsGet(`${lb}/api/cameras`, { headers: AUTH, ca: certificate });
    assert.equal(cameras.status, 200);
    assert.equal(cameras.headers['strict-transport-security'], 'max-age=600', 'HSTS_MAX_AGE');
    const redirect = await fetch(`${plain}/cameras/cam/stream.mjpg?size=320x240`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), `${lb}/cameras/cam/stream.mjpg?size=320x240`, 'to the HTTPS port, path and query kept');
    assert.equal(redirect.headers.get('strict-transport-security'), null, 'HSTS only over HTTPS');
    assert.equal((await fetch(`${plain}/lbz`)).status, 200, "HAProxy's health URL answers on plain HTTP");
  });

  it('bounds the bytes a viewer socket holds unsent, in every gateway and in HAProxy (tcp_notsent_lowat, for thin links)', async () => {
    // Unbounded, a viewer on a link slower than its camera got frames 7-10 s old through HAProxy
    // (bench:thin): the kernel took megabytes for it, so the gateway never skipped a frame.
    for (const gateway of await serviceContainers(PROJECT, 'gateway')) {
      const limit = metricValue(await gatewayMetrics(gateway.id), 'camrelay_tcp_notsent_lowat_bytes');
      assert.equal(limit, 16384, `gateway #${gateway.number}: camrelay_tcp_notsent_lowat_bytes`);
    }
    const [lb] = await serviceContainers(PROJECT, 'lb');
    assert.equal(
      (await execIn(lb!.id, 'cat', '/proc/sys/net/ipv4/tcp_notsent_lowat')).trim(),
      '16384',
      'HAProxy: net.ipv4.tcp_notsent_lowat',
    );
  });

  it(`spreads ${VIEWERS} viewers over three gateways, each served in order, with ≥ half the frames the median viewer gets`, async (t) => {
    viewers = Array.from({ length: VIEWERS }, stream);
    try {
      await Promise.all(viewers.map((viewer) => viewer.waitForFrames(3, 30_000)));
      const counts = (await viewersPerGateway()).map((gateway) => gateway.viewers);
      t.diagnostic(`viewers per gateway: ${counts.join(', ')}`);
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        VIEWERS,
      );
      for (const count of counts) assert.ok(count >= VIEWERS * 0.2, `every gateway carries ≥ 20 % (${counts.join(', ')})`);
      await measureRates(t);
    } finally {
      // 60 stay for the scaling tests.
      for (const viewer of viewers.splice(KEPT_VIEWERS)) viewer.close();
    }
    await eventually(async () =>
      assert.equal(
        (await viewersPerGateway()).reduce((sum, gateway) => sum + gateway.viewers, 0),
        KEPT_VIEWERS,
      ),
    );
  });

  /**
   * The frames every viewer gets over 8 s, each against the median viewer's in the same window,
   * in order: every viewer is served, none is left behind. The rate itself is the machine's (two
   * cores shared by every container, HAProxy and this process: 20-33 fps over eight idle runs)
   * and is reported, not asserted. With a core kept busy the containers get unequal shares of the
   * other: the slowest viewer got 61 % of the median's frames in one run, so the bound is half.
   */
  const measureRates = async (t: TestContext) => {
    // Past the first two seconds, while 150 streams and freshly started processes settle.
    await Promise.all(viewers.map((viewer) => viewer.waitForFrames(3 + 2 * FPS, 30_000)));
    const marks = viewers.map((viewer) => viewer.frames.length);
    const clientCpu = process.cpuUsage();
    const started = performance.now();
    await sleep(8000); // the measurement window
    // As long as it really lasted: this process, short of CPU, may wake late.
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(clientCpu);
    const windows = viewers.map((viewer, i) => viewer.frames.slice(marks[i]));
    const fps = windows.map((frames) => frames.length / seconds).sort((a, b) => a - b);
    // Of the frames captured meanwhile (X-Sequence rises by one per captured frame), how many
    // came: below 100 % when a gateway short of CPU coalesced a burst, or skipped frames for a
    // viewer whose socket was full while this process was held up.
    const shares = windows
      .map((frames) => frames.length / (frames[frames.length - 1]!.sequence - frames[0]!.sequence + 1))
      .sort((a, b) => a - b);
    t.diagnostic(
      `fps per viewer over ${seconds.toFixed(1)} s: min ${fps[0]!.toFixed(1)}, median ${fps[fps.length >> 1]!.toFixed(1)}; least share of the captured frames ${(shares[0]! * 100).toFixed(1)} %`,
    );
    // Where the slowest viewer's frames went: a low share is frames the gateway skipped for a
    // full socket (held up past the gateway), a high share with long gaps is frames late.
    const slowest = windows.reduce((least, frames) => (frames.length < least.length ? frames : least));
    const gaps = slowest.slice(1).map((frame, i) => frame.receivedAt - slowest[i]!.receivedAt);
    t.diagnostic(
      `slowest viewer: ${slowest.length} frames, X-Sequence ${slowest[0]?.sequence}-${slowest[slowest.length - 1]?.sequence}, longest gap ${Math.max(0, ...gaps)} ms; gateways: ${JSON.stringify(
        (await viewersPerGateway()).map(({ number, viewers, skipped, coalesced, delivered }) => ({
          number,
          viewers,
          skipped,
          coalesced,
          delivered,
        })),
      )}`,
    );
    const frameBytes = Number(viewers[0]!.frames[viewers[0]!.frames.length - 1]!.headers['content-length']);
    t.diagnostic(
      `frames of ${(frameBytes / 1024).toFixed(0)} KB; the viewers (this process) took ${(((user + system) / 1e6 / seconds) * 100).toFixed(0)} % of a core`,
    );
    for (const frames of windows)
      for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.sequence > frames[i - 1]!.sequence, 'X-Sequence rises for every viewer');
    const median = fps[fps.length >> 1]!;
    assert.ok(median > 0, 'frames flowed');
    assert.ok(
      fps[0]! >= median * 0.5,
      `every viewer got ≥ half the median viewer's ${median.toFixed(1)} fps (slowest ${fps[0]!.toFixed(1)})`,
    );
  };

  it('serves every viewer who arrives while gateways are added, sends new viewers to the added ones, and cuts nobody', async (t) => {
    const redispatchedBefore = Number((await gatewaysBackend()).backend.wredis);
    let composeDone = false;
    const scaling = scale(5).finally(() => (composeDone = true));
    scaling.catch(() => undefined); // awaited below
    // Viewers keep arriving while compose adds gateways. HAProxy finds each through Docker's DNS
    // and puts it UP before its first check, before it listens: none of these viewers may be
    // refused for that. Each closes after its first frame: the arrivals, not their streams, are
    // what is tried here.
    const arrivals: Array<Promise<string | undefined>> = [];
    /** Viewers sent while a gateway was UP in HAProxy without a passed check. */
    let sentBeforeCheck = 0;
    const started = Date.now();
    for (;;) {
      const { servers } = await gatewaysBackend();
      const unchecked = servers.some((row) => row.status === 'UP' && !isInRotation(row));
      if (composeDone) await scaling; // compose's own error, if it failed
      if (composeDone && !unchecked && servers.filter(isInRotation).length === 5) break;
      assert.ok(
        Date.now() - started < 60_000,
        `5 gateways in rotation within 60 s of the scale-up (${servers.filter(isInRotation).length})`,
      );
      for (let i = 0; i < 5; i++) {
        const viewer = stream();
        arrivals.push(
          viewer.waitForFrames(1, 10_000).then(
            () => (viewer.close(), undefined),
            (error: Error) => (viewer.close(), error.message),
          ),
        );
      }
      if (unchecked) sentBeforeCheck += 5;
    }
    const rotated = Date.now();
    const refused = (await Promise.all(arrivals)).filter((failure) => failure !== undefined);
    const added = (await serviceContainers(PROJECT, 'gateway')).filter((gateway) => gateway.number > 3);
    assert.equal(added.length, 2);
    const addedAt = Math.max(...(await Promise.all(added.map((gateway) => startedAt(gateway.id)))));
    t.diagnostic(
      `${arrivals.length} viewers arrived while compose added 2 gateways, ${sentBeforeCheck} of them while a gateway was UP in HAProxy before its first check; HAProxy redispatched ${Number((await gatewaysBackend()).backend.wredis) - redispatchedBefore} connections; both in rotation ${((rotated - addedAt) / 1000).toFixed(1)} s after the later one started`,
    );
    assert.deepEqual(
      refused,
      [],
      `every viewer arriving while gateways were added got a frame (${refused.length} of ${arrivals.length} did not)`,
    );
    // With leastconn new viewers go to them while they carry fewer streams than the others.
    const more = Array.from({ length: 40 }, stream);
    await Promise.all(more.map((viewer) => viewer.waitForFrames(1, 10_000)));
    const counts = await viewersPerGateway();
    t.diagnostic(`viewers per gateway: ${counts.map((gateway) => `#${gateway.number} ${gateway.viewers}`).join(', ')}`);
    for (const gateway of counts.filter((g) => g.number > 3))
      assert.ok(gateway.viewers >= 15, `gateway #${gateway.number} took new viewers (${gateway.viewers})`);
    assert.equal(viewers.filter((viewer) => viewer.isClosed).length, 0, 'no stream ended');
    viewers.push(...more);
  });

  it('scaling down to 2 cuts only the removed gateways’ viewers, who reconnect within 3 s', async (t) => {
    const before = await viewersPerGateway();
    const onRemoved = before.filter((gateway) => gateway.number > 2).reduce((sum, gateway) => sum + gateway.viewers, 0);
    const cutAt = Date.now();
    const scaled = scale(2);
    // While compose stops and removes containers, streams through a surviving gateway can pause
    // for seconds on these two cores (seen: 2.4-4.1 s, a whole gateway's viewers at once, while
    // that gateway went on writing every frame to their sockets, none skipped): the hold-up is
    // past the gateway, mostly in this process itself (see slowestReconnection), and the streams
    // resume. One kept open to a removed gateway never does; stalled streams are closed once
    // compose is done.
    const reconnecting = reconnectOnEnd(viewers, scaled);
    // compose stops the removed gateways one after another, each after its SHUTDOWN_DELAY.
    const cut = eventually(
      () =>
        assert.ok(
          viewers.filter((viewer) => viewer.isClosed).length >= onRemoved,
          `${viewers.filter((viewer) => viewer.isClosed).length} of the ${onRemoved} streams on removed gateways ended`,
        ),
      30_000,
      50,
    );
    await Promise.all([cut, scaled]);
    const ended = viewers.filter((viewer) => viewer.isClosed);
    const replaced = await reconnecting.collect();
    // The list the later cases take over, before anything here can fail: replacements left out
    // of it streamed on unseen, and the next cases counted 90 viewers for 30 and a camera that
    // never slept.
    const survivors = viewers.filter((viewer) => !viewer.isClosed);
    viewers = survivors.concat(replaced.map((r) => r.replacement));
    await sleep(1000); // survivors must stay up after the removed gateways are gone
    const endedNow = ended.length + survivors.filter((viewer) => viewer.isClosed).length;
    const longestPause = Math.max(
      ...survivors.flatMap((viewer) => {
        const since = viewer.frames.filter((frame) => frame.receivedAt >= cutAt);
        return since.slice(1).map((frame, i) => frame.receivedAt - since[i]!.receivedAt);
      }),
    );
    if (endedNow !== onRemoved) {
      // What the surviving gateways did meanwhile, to tell why their viewers ended or stalled.
      for (const gateway of await viewersPerGateway()) {
        const was = before.find(({ number }) => number === gateway.number)!;
        const grown = (['received', 'delivered', 'skipped', 'coalesced'] as const).map(
          (field) => `${field} +${gateway[field] - was[field]}`,
        );
        t.diagnostic(`gateway #${gateway.number}: viewers ${was.viewers} -> ${gateway.viewers}, frames ${grown.join(', ')}`);
      }
      t.diagnostic(await serviceLogs());
    }
    assert.equal(
      endedNow,
      onRemoved,
      `no other stream ended (${reconnecting.stalled.length} closed for stalling ${STALL_MS} ms behind the others: ${reconnecting.stalled.join(', ')}; cut at ${new Date(cutAt).toISOString()})`,
    );
    const slowest = slowestReconnection(replaced, survivors);
    t.diagnostic(
      `${ended.length} viewers cut, all streaming again; ${slowest.description}; ${survivors.length} others, longest pause ${longestPause} ms; refused and tried again: ${reconnecting.refused.length ? reconnecting.refused.join(', ') : 'none'}`,
    );
    assert.ok(slowest.ms < 3000, `reconnected within 3 s: ${slowest.description}`);
    const lastFrameAt = Math.max(...survivors.map((viewer) => viewer.frames.at(-1)!.receivedAt));
    assert.deepEqual(
      survivors.filter((viewer) => lastFrameAt - viewer.frames.at(-1)!.receivedAt > 1000).length,
      0,
      'every other stream is live',
    );
    assert.equal((await serviceContainers(PROJECT, 'gateway')).length, 2);
  });

  it('a killed gateway ends only its own viewers’ streams; the others miss at most one frame more than before', async (t) => {
    viewers = viewers.filter((viewer) => !viewer.isClosed); // whatever an earlier failure left
    // With 100 viewers of 57 KB at 30 fps the two cores here are busy enough that the kill and
    // the reconnection burst delayed a survivor's frame past the next (gaps of 1-3 frames).
    for (const viewer of viewers.splice(QUIET_VIEWERS)) viewer.close();
    // Back to the three gateways users start with, so that the killed one's viewers have two
    // to go to (on one, its new streams and the survivors would share a single process).
    await scale(3);
    await inRotation(3);
    await eventually(async () =>
      assert.equal(
        (await viewersPerGateway()).reduce((sum, gateway) => sum + gateway.viewers, 0),
        QUIET_VIEWERS,
      ),
    );
    const gateways = await viewersPerGateway();
    const [victim] = [...gateways].sort((a, b) => b.viewers - a.viewers);
    const reconnecting = reconnectOnEnd(viewers);
    const killedAt = Date.now();
    await docker('kill', victim!.id);
    await eventually(() => assert.equal(viewers.filter((viewer) => viewer.isClosed).length, victim!.viewers), 10_000, 50);
    const replaced = await reconnecting.collect();
    await sleep(1000); // the survivors' window after the kill
    const survivors = viewers.filter((viewer) => !viewer.isClosed);
    assert.equal(survivors.length, viewers.length - victim!.viewers, 'no other stream ended');
    // Frames in a row a survivor missed: after the kill, and, for comparison on the same busy
    // machine, in the 2 s before it.
    const largestGap = (from: number, to: number) => {
      let gap = 0;
      for (const viewer of survivors) {
        const frames = viewer.frames.filter((frame) => frame.receivedAt >= from && frame.receivedAt < to);
        for (let i = 1; i < frames.length; i++) gap = Math.max(gap, frames[i]!.sequence - frames[i - 1]!.sequence - 1);
      }
      return gap;
    };
    const [gapBefore, gapAfter] = [largestGap(killedAt - 2000, killedAt), largestGap(killedAt, Infinity)];
    const slowest = slowestReconnection(replaced, survivors);
    // Kept before any assertion: whatever fails here, the next tests find every stream and close it.
    viewers = survivors.concat(replaced.map((r) => r.replacement));
    const after = await viewersPerGateway(({ number }) => number !== victim!.number);
    const grown = (field: 'coalesced' | 'skipped') =>
      after.reduce((sum, gateway) => sum + gateway[field] - gateways.find((g) => g.number === gateway.number)![field], 0);
    t.diagnostic(
      `${victim!.viewers} viewers cut, ${slowest.description}; largest X-Sequence gap among ${survivors.length} survivors: ${gapAfter}, ${gapBefore} in the 2 s before the kill (meanwhile on the other gateways: ${grown('coalesced')} frames coalesced, ${grown('skipped')} skipped; refused and tried again: ${reconnecting.refused.length ? reconnecting.refused.join(', ') : 'none'})`,
    );
    // One frame more than before the kill, not none: on these two cores the kill itself (Docker
    // tearing down the container and its network) can hold a surviving gateway or Redis up for a
    // frame's time, and the gateway then coalesces the two frames that arrive together (seen in 4
    // runs of 10, 1-3 frames coalesced meanwhile); with a core kept busy the gateways coalesce
    // now and then anyway. A survivor held up by the kill misses many more.
    assert.ok(
      gapAfter <= Math.max(gapBefore, 1) + 1,
      `surviving viewers missed at most one frame in a row more than before the kill (${gapAfter} after, ${gapBefore} before)`,
    );
    assert.ok(slowest.ms < 3000, `reconnected within 3 s: ${slowest.description}`);
  });

  it('a restarted Redis container: every stream live again, no connection dropped', async (t) => {
    viewers = viewers.filter((viewer) => !viewer.isClosed); // whatever an earlier failure left
    const [redis] = await serviceContainers(PROJECT, 'redis');
    const restart = docker('restart', '--time', '1', redis!.id);
    // Back means answering: the moment its clients can reconnect.
    await restart;
    await eventually(
      async () =>
        assert.match(await execIn(redis!.id, 'sh', '-c', 'REDISCLI_AUTH="$REDIS_CAPTURE_PASSWORD" redis-cli --user capture ping'), /PONG/),
      10_000,
      50,
    );
    const backAt = Date.now();
    const marks = viewers.map((viewer) => viewer.frames.length);
    const live = await Promise.all(
      viewers.map(
        async (viewer, i) =>
          (
            await viewer.waitForFrame(
              (frame) => frame.headers['x-no-signal'] === undefined && frame.receivedAt > backAt,
              'a live frame',
              marks[i],
              10_000,
            )
          ).receivedAt - backAt,
      ),
    );
    // How soon is a figure, not the behaviour: the clients retry every second at most
    // (@camrelay/bus's reconnectDelay): 0.1-1.7 s here, and 2.1-3.3 s in 3 of 20 runs at a load
    // average of 10-12. A stream that never comes back fails the wait above.
    const slowest = Math.max(...live);
    t.diagnostic(`every stream live again ${slowest} ms after Redis answered`);
    assert.equal(viewers.filter((viewer) => viewer.isClosed).length, 0, 'no stream ended');
  });

  it('shows a moving picture on the viewer page in Chromium, through the load balancer', async (t) => {
    for (const viewer of viewers) viewer.close();
    viewers = [];
    // Redis was just restarted: the gateways answered /readyz 503 until they were back on it,
    // and HAProxy takes them back at its next check. Until then the page itself would be a 503
    // (seen once: the page loaded 0.5 s after the gateways reconnected, and asked for nothing).
    await eventually(async () => assert.ok((await gatewaysBackend()).servers.some(isInRotation), 'a gateway in rotation'), 20_000, 100);
    browser = await launchChromium({ trust: certificate });
    const page = await browser.newPage();
    // What the page asked for and when (its streams, snapshots and camera lists), for a failure's report.
    const asked: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      asked.push(
        `${new Date().toISOString()} ${url.pathname}${url.searchParams.has('size') ? ` size=${url.searchParams.get('size')}` : ''}`,
      );
    });
    const ended = (how: string) => (request: Request) => {
      const url = new URL(request.url());
      if (url.protocol !== 'blob:') asked.push(`${new Date().toISOString()} ${how} ${url.pathname} ${request.failure()?.errorText ?? ''}`);
    };
    page.on('requestfinished', ended('finished'));
    page.on('requestfailed', ended('failed'));
    try {
      await page.goto(`${lb}/#token=${TOKEN}`);
      await waitForPicture(page, 'cam', 640, 20_000);
      const tile = page.locator('figure[data-id="cam"] img');
      const first = await tile.screenshot();
      // With CAPTURE_IDLE_AFTER=3 the camera may have fallen asleep since the last test's viewers
      // left: the page then shows STARTING (which changes once a second) until the camera is open.
      // Each look follows a new picture's load: under load Chromium shows and paints seconds late.
      await eventually(
        async () => {
          await nextPictureLoaded(tile);
          assert.ok((await changedPixels(first, await tile.screenshot())) > 100, 'the picture moves');
        },
        30_000,
        0,
      );
    } catch (error) {
      // Whether each tile still streams, and whether its picture still loads (a load that never
      // ends freezes a tile whose parts keep coming), against the page's clock.
      const tiles = await page
        .evaluate(() => {
          const doc = (globalThis as unknown as { document: { querySelectorAll(selector: string): Iterable<Element> } }).document;
          interface Element {
            readonly dataset: Record<string, string | undefined>;
            readonly textContent: string | null;
            querySelector(selector: string): { src: string; complete: boolean; naturalWidth: number } | null;
          }
          return [...doc.querySelectorAll('figure')].map((figure) => {
            const img = figure.querySelector('img');
            return `${figure.dataset.id}: stream ${figure.dataset.stream ?? 'none'}, img ${img?.src.slice(0, 5)} complete ${img?.complete} width ${img?.naturalWidth}, caption "${figure.textContent}"`;
          });
        })
        .catch((failure: Error) => [`the page did not answer: ${failure.message}`]);
      t.diagnostic(
        `at ${new Date().toISOString()} the tiles: ${tiles.join('; ')}\nthe page asked for:\n${asked.join('\n')}\n${await serviceLogs()}`,
      );
      throw error;
    } finally {
      // An open page would keep the camera watched, and the next test waits for it to sleep.
      await browser.close();
      browser = undefined;
    }
  });

  it('closes the camera with nobody watching, and opens it for the next viewer: STARTING until its first frame', async (t) => {
    // Nobody has watched since the Chromium test closed its page.
    await eventually(
      async () => {
        const cameras = JSON.parse((await httpsGet(`${lb}/api/cameras`, { headers: AUTH, ca: certificate })).body.toString()) as Array<{
          id: string;
          sleeping: boolean;
        }>;
        assert.equal(cameras.find((camera) => camera.id === 'cam')?.sleeping, true, 'listed as sleeping');
      },
      20_000,
      200,
    );
    const askedAt = Date.now();
    const viewer = new StreamViewer(`${lb}/cameras/cam/stream.mjpg`, { headers: AUTH, ca: certificate }); // its pictures kept
    try {
      const first = await viewer.waitForFrame(
        (frame) => frame.headers['x-no-signal'] === undefined && frame.timestamp * 1000 >= askedAt,
        'a frame captured after the request',
        0,
        15_000,
      );
      t.diagnostic(`first new frame ${first.receivedAt - askedAt} ms after the request, through the load balancer`);
      const before = viewer.frames.slice(0, viewer.frames.indexOf(first));
      assert.ok(before.length >= 1, 'a stand-in picture first');
      assert.ok(
        before.every((frame) => STARTING_JPEGS.some((jpeg) => jpeg.equals(frame.jpeg))),
        'the STARTING picture until the first frame',
      );
    } finally {
      viewer.close();
    }
  });

  it('serves a smaller size through the load balancer, scaled in the capture container', async () => {
    const cv = await loadOpenCV(process.env);
    const viewer = new StreamViewer(`${lb}/cameras/cam/stream.mjpg?size=320x240`, { headers: AUTH, ca: certificate });
    try {
      const frame = await viewer.waitForFrame((part) => part.headers['x-no-signal'] === undefined, 'a frame', 0, 15_000);
      const picture = cv.imdecode(frame.jpeg);
      assert.deepEqual([picture.cols, picture.rows], [320, 240]);
    } finally {
      viewer.close();
    }
    const snapshot = await httpsGet(`${lb}/cameras/cam/snapshot.jpg?size=160x120`, { headers: AUTH, ca: certificate });
    assert.equal(snapshot.status, 200);
    assert.equal(cv.imdecode(snapshot.body).cols, 160);
  });

  it('serves H.264 in fragmented MP4 through the load balancer (FFmpeg in the capture container), which FFmpeg decodes without an error', async (t) => {
    // The first 3 s of the stream (HTTP/1.1, as httpsGet; the stream never ends by itself).
    const answer = await new Promise<Answer>((resolve, reject) => {
      const request = httpsRequest(`${lb}/cameras/cam/stream.mp4`, { headers: AUTH, ca: certificate }, (res) => {
        const chunks: Buffer[] = [];
        const done = () => {
          clearTimeout(reading);
          request.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        };
        const reading = setTimeout(done, 3000);
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', done); // a refusal's short body
        res.on('error', reject); // and the abort of done() itself, after the answer
      });
      request.setTimeout(15_000, () => request.destroy(new Error('no answer within 15 s')));
      request.on('error', reject);
      request.end();
    });
    const dir = mkdtempSync(join(tmpdir(), 'camrelay-compose-h264-'));
    try {
      assert.equal(answer.status, 200, `status (${answer.body.toString('utf8', 0, 300)})`);
      assert.equal(answer.headers['content-type'], 'video/mp4');
      const boxes = topLevelBoxes(answer.body);
      assert.deepEqual(
        boxes.slice(0, 2).map((box) => box.type),
        ['ftyp', 'moov'],
        `the init segment first (boxes: ${boxes
          .slice(0, 6)
          .map((box) => box.type)
          .join(' ')})`,
      );
      // Up to the last whole fragment: the read stopped in the middle of one, and FFmpeg would
      // rightly report a partial file.
      const lastData = boxes.reduce((end, box) => (box.type === 'mdat' ? box.end : end), 0);
      const file = join(dir, 'cam.mp4');
      writeFileSync(file, answer.body.subarray(0, lastData));
      const decoded = await execFileAsync('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-']);
      assert.equal(decoded.stderr, '', 'FFmpeg decodes it without an error');
      const probed = await execFileAsync('ffprobe', [
        ...['-v', 'error', '-count_frames', '-select_streams', 'v:0'],
        ...['-show_entries', 'stream=nb_read_frames,width,height', '-of', 'csv=p=0', file],
      ]);
      const [width, height, frames] = probed.stdout.trim().split(',').map(Number);
      t.diagnostic(
        `${answer.body.length} bytes in 3 s, ${boxes.filter((box) => box.type === 'moof').length} fragments; ffprobe: ${frames} frames of ${width}x${height}`,
      );
      assert.deepEqual([width, height], [640, 480], "the camera's size");
      assert.ok(frames! >= 10, `frames decoded (${frames})`);
    } catch (error) {
      t.diagnostic(await serviceLogs().catch((failure: Error) => `no logs: ${failure.message}`));
      throw error;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a killed capture’s cameras come back through HAProxy within 3 s', async (t) => {
    for (const viewer of viewers) viewer.close();
    viewers = [];
    assert.equal((await serviceContainers(PROJECT, 'capture')).length, CAPTURES, `${CAPTURES} capture containers run`);
    // One viewer per camera, through the load balancer: a watched camera is open (the others
    // sleep after CAPTURE_IDLE_AFTER), and its stream must go on across the failover.
    const watching = CAMERAS.map(
      (id) => new StreamViewer(`${lb}/cameras/${id}/stream.mjpg`, { keepJpegs: false, headers: AUTH, ca: certificate }),
    );
    try {
      await Promise.all(
        watching.map((viewer) => viewer.waitForFrame((frame) => frame.headers['x-no-signal'] === undefined, 'a live frame', 0, 20_000)),
      );
      // Which instance holds which camera: each camera held by exactly one.
      const before = await everyCameraHeldOnce(camerasPerCapture, CAMERAS, holdings);
      const [victim] = [...before].sort((a, b) => b.held.length - a.held.length);
      const marks = watching.map((viewer) => viewer.frames.length);
      const killedAt = Date.now();
      await docker('kill', victim!.id);
      // When it was dead: a frame captured after that came from another instance.
      await docker('wait', victim!.id);
      const diedAt = Date.parse((await docker('inspect', '--format', '{{.State.FinishedAt}}', victim!.id)).trim());
      assert.ok(diedAt >= killedAt - 1000, `the container's end (${new Date(diedAt).toISOString()}) is the kill's`);
      const back = await Promise.all(
        watching.map(
          async (viewer, i) =>
            (
              await viewer.waitForFrame(
                (frame) => frame.headers['x-no-signal'] === undefined && frame.timestamp * 1000 > diedAt,
                'a live frame captured after the kill',
                marks[i],
                15_000,
              )
            ).receivedAt - diedAt,
        ),
      );
      // A second of each stream after the failover, for the sequence check.
      await Promise.all(watching.map((viewer) => viewer.waitForFrames(viewer.frames.length + 15)));
      const after = await camerasPerCapture().catch((error: Error) => `unreadable: ${error.message}`);
      // Gaps on the cameras the killed instance did not hold: they should not notice.
      const untouched = watching.filter((_, i) => !victim!.held.includes(CAMERAS[i]!));
      const largestGap = Math.max(
        0,
        ...untouched.flatMap((viewer) => {
          const live = viewer.liveFrames.filter((frame) => frame.receivedAt >= killedAt);
          return live.slice(1).map((frame, i) => frame.sequence - live[i]!.sequence - 1);
        }),
      );
      t.diagnostic(
        `killed capture #${victim!.number} holding ${victim!.held.join(', ')} (${holdings(before)}); died ${diedAt - killedAt} ms after docker kill was started; live again after ${CAMERAS.map((id, i) => `${id} ${back[i]} ms`).join(', ')} from its death; then ${typeof after === 'string' ? after : holdings(after)}; largest X-Sequence gap on the other cameras: ${largestGap}`,
      );
      assert.deepEqual(
        CAMERAS.filter((_, i) => watching[i]!.isClosed),
        [],
        'no stream ended: the gateways keep them open across the failover',
      );
      for (const [i, ms] of back.entries()) assert.ok(ms < 3000, `${CAMERAS[i]}: live within 3 s of the death (${ms} ms)`);
      // Strictly increasing for a viewer, across the failover too (docs/http-api.md); a NO
      // SIGNAL picture in between repeats the last number (no frame was captured).
      for (const [i, viewer] of watching.entries()) assert.equal(sequenceFault(viewer.frames), undefined, CAMERAS[i]);
    } catch (error) {
      t.diagnostic(await serviceLogs().catch((failure: Error) => `no logs: ${failure.message}`));
      throw error;
    } finally {
      for (const viewer of watching) viewer.close();
    }
  });

  it('down leaves no container, network or volume of the project', async () => {
    await environment!.down({ removeVolumes: true, timeout: 10_000 });
    environment = undefined;
    const label = `label=com.docker.compose.project=${PROJECT}`;
    assert.equal((await docker('ps', '-aq', '--filter', label)).trim(), '');
    assert.equal((await docker('network', 'ls', '-q', '--filter', label)).trim(), '');
    assert.equal((await docker('volume', 'ls', '-q', '--filter', label)).trim(), '');
  });
});
