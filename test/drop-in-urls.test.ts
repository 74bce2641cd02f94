/**
 * The URLs other streamers taught tools to use: mjpg-streamer's /?action=stream and
 * /?action=snapshot, µStreamer's /stream, /snapshot and /state, and the classic /video_feed.
 * Each serves the first camera the credentials may view, or ?camera=ID, under the same access
 * rules as /cameras/ID/…; tested with the clients that use them: OpenCV, ffmpeg, and the
 * requests Home Assistant's MJPEG camera makes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadOpenCV } from '@camrelay/capture';
import { StreamViewer } from '@camrelay/clients';
import type { Service } from '@camrelay/stack';
import { eventually } from './harness/eventually.js';
import { startRelay } from './harness/relay.js';
import type { Relay } from './harness/relay.js';

const ADMIN = 'admin-token-0123456789abcdef';
const LAB_ONLY = 'lab-token-0123456789abcdef';
/** The two cameras have different sizes, so a picture says which camera it came from. */
const SIZES = { lab: [160, 120], yard: [320, 240] } as const;
const STREAM_URLS = ['/?action=stream', '/stream', '/video_feed'];
const SNAPSHOT_URLS = ['/?action=snapshot', '/snapshot'];

interface ErrorBody {
  error: { code: string; message: string };
}

describe('drop-in URLs of other streamers', () => {
  let relay: Relay;
  let gateway: Service;
  let cv: Awaited<ReturnType<typeof loadOpenCV>>;

  before(async () => {
    cv = await loadOpenCV(process.env);
    relay = await startRelay({
      cameras: 'lab=pattern:160x120@10;yard=pattern:320x240@10',
      gatewayEnv: { API_TOKENS: `${ADMIN}; ${LAB_ONLY}=lab` },
    });
    gateway = relay.gateway;
  });

  after(async () => {
    await relay?.stop();
  });

  const auth = (token: string) => ({ Authorization: `Bearer ${token}` });
  const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${gateway.baseUrl}${path}`, { headers: { ...(token ? auth(token) : {}), ...headers } });
  const sizeOf = (jpeg: Buffer) => {
    const picture = cv.imdecode(jpeg);
    return [picture.cols, picture.rows];
  };
  /** The query of a signed URL for a camera, as /api/cameras/ID/urls hands it out. */
  const signedQuery = async (camera: string) => {
    const { streamUrl } = (await (await get(`/api/cameras/${camera}/urls`, ADMIN)).json()) as { streamUrl: string };
    return streamUrl.slice(streamUrl.indexOf('?') + 1);
  };
  const firstFrameSize = async (path: string, token?: string) => {
    const viewer = new StreamViewer(`${gateway.baseUrl}${path}`, { headers: token ? auth(token) : {} });
    try {
      const [frame] = await viewer.waitForFrames(1);
      assert.match(String(viewer.response?.headers['content-type']), /^multipart\/x-mixed-replace; boundary=/);
      return sizeOf(frame!.jpeg);
    } finally {
      viewer.close();
    }
  };

  it('streams the first camera, or ?camera=ID, at every stream URL', async () => {
    for (const path of STREAM_URLS) {
      assert.deepEqual(await firstFrameSize(path, ADMIN), SIZES.lab, path);
      const yard = `${path}${path.includes('?') ? '&' : '?'}camera=yard`;
      assert.deepEqual(await firstFrameSize(yard, ADMIN), SIZES.yard, yard);
    }
  });

  it('answers a snapshot of the first camera, or ?camera=ID, at every snapshot URL', async () => {
    for (const path of SNAPSHOT_URLS) {
      for (const [query, size] of [
        ['', SIZES.lab],
        ['camera=yard', SIZES.yard],
      ] as const) {
        const url = query ? `${path}${path.includes('?') ? '&' : '?'}${query}` : path;
        const response = await get(url, ADMIN);
        assert.equal(response.status, 200, url);
        assert.equal(response.headers.get('content-type'), 'image/jpeg', url);
        assert.deepEqual(sizeOf(Buffer.from(await response.arrayBuffer())), size, url);
      }
    }
  });

  it('applies the same access rules as the native URLs', async () => {
    for (const path of [...STREAM_URLS, ...SNAPSHOT_URLS, '/state']) {
      const join = path.includes('?') ? '&' : '?';
      const anonymous = await get(path);
      assert.equal(anonymous.status, 401, path);
      assert.equal(((await anonymous.json()) as ErrorBody).error.code, 'unauthorized');
      // A token for one camera: its camera is the first it may view; another is forbidden.
      assert.equal((await get(`${path}${join}camera=yard`, LAB_ONLY)).status, 403, `${path} yard with the lab token`);
      assert.equal((await get(`${path}${join}camera=no-such`, LAB_ONLY)).status, 403, `${path} an unknown camera`);
      assert.equal((await get(`${path}${join}camera=../x`, ADMIN)).status, 400, `${path} a bad camera id`);
    }
    assert.deepEqual(await firstFrameSize('/stream', LAB_ONLY), SIZES.lab);
    // A signed URL names its camera: its query works on a drop-in URL with that camera only.
    const signed = await signedQuery('lab');
    assert.deepEqual(await firstFrameSize(`/?action=stream&camera=lab&${signed}`), SIZES.lab);
    assert.equal((await get(`/snapshot?camera=lab&${signed}`)).status, 200);
    assert.equal((await get(`/snapshot?camera=yard&${signed}`)).status, 403);
  });

  it('serves the viewer page at / without an action, and refuses an unknown action with a 400 naming the allowed ones', async () => {
    const page = await get('/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers.get('content-type')), /^text\/html/);
    const bad = await get('/?action=snap', ADMIN);
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as ErrorBody;
    assert.equal(body.error.code, 'bad_action');
    assert.match(body.error.message, /stream or snapshot/);
  });

  it("answers /state in µStreamer's shape: the source's size, measured rate and liveness, and this gateway's viewers", async () => {
    const viewer = new StreamViewer(`${gateway.baseUrl}/stream?camera=yard`, { headers: auth(ADMIN) });
    try {
      await viewer.waitForFrames(1);
      // Capture measures its rate over a second and announces it: 10 fps, give or take a frame.
      await eventually(async () => {
        const state = (await (await get('/state?camera=yard', ADMIN)).json()) as { result: { source: { captured_fps: number } } };
        assert.ok(Math.abs(state.result.source.captured_fps - 10) <= 1.5, `captured_fps ${state.result.source.captured_fps}`);
        assert.deepEqual(state, {
          ok: true,
          result: {
            source: { resolution: { width: 320, height: 240 }, online: true, captured_fps: state.result.source.captured_fps },
            stream: { clients: 1 },
          },
        });
      }, 5000);
    } finally {
      viewer.close();
    }
    const first = (await (await get('/state', LAB_ONLY)).json()) as { result: { source: { resolution: unknown } } };
    assert.deepEqual(first.result.source.resolution, { width: 160, height: 120 });
  });

  it("serves Home Assistant's MJPEG camera: its stream and still image requests, on signed URLs", async () => {
    // What the integration sends (homeassistant/components/mjpeg): plain GETs through aiohttp,
    // no Authorization header when no username is configured.
    const headers = {
      'User-Agent': 'HomeAssistant/2025.1.0 aiohttp/3.11.11 Python/3.13',
      Accept: '*/*',
      'Accept-Encoding': 'gzip, deflate',
    };
    const signed = await signedQuery('yard');
    const still = await get(`/snapshot?camera=yard&${signed}`, undefined, headers);
    assert.equal(still.status, 200);
    assert.equal(still.headers.get('content-encoding'), null, 'a JPEG is sent as it is');
    assert.deepEqual(sizeOf(Buffer.from(await still.arrayBuffer())), SIZES.yard);
    const viewer = new StreamViewer(`${gateway.baseUrl}/stream?camera=yard&${signed}`, { headers });
    try {
      const frames = await viewer.waitForFrames(3);
      assert.deepEqual(sizeOf(frames[2]!.jpeg), SIZES.yard);
      assert.equal(viewer.response?.headers['content-encoding'], undefined);
    } finally {
      viewer.close();
    }
  });

  it('is read by OpenCV and by ffmpeg, on signed drop-in URLs', async () => {
    const signed = await signedQuery('yard');
    for (const path of [`/?action=stream&camera=yard&${signed}`, `/stream?camera=yard&${signed}`]) {
      const video = new cv.VideoCapture(`${gateway.baseUrl}${path}`);
      try {
        const picture = video.read();
        assert.deepEqual([picture.cols, picture.rows], SIZES.yard, `OpenCV ${path}`);
      } finally {
        video.release();
      }
      const dir = mkdtempSync(join(tmpdir(), 'camrelay-ffmpeg-'));
      try {
        const out = join(dir, 'frame.jpg');
        const run = spawnSync('ffmpeg', ['-v', 'error', '-i', `${gateway.baseUrl}${path}`, '-frames:v', '1', '-y', out], {
          encoding: 'utf8',
          timeout: 30_000,
        });
        assert.equal(run.status, 0, `ffmpeg ${path}: ${run.stderr}`);
        assert.deepEqual(sizeOf(readFileSync(out)), SIZES.yard, `ffmpeg ${path}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
