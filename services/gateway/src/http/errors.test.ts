/**
 * The error mapping: what a failed request answers. Unit cases for toHttpError, then the same
 * mapping through a gateway started in this process on the in-memory bus and real sockets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { MemoryBus } from '@camrelay/bus';
import type { CameraInfo } from '@camrelay/bus';
import { HttpError, toHttpError } from './errors.js';
import type { HttpErrorCode } from './errors.js';
import { startGateway } from '../gateway.js';
import type { RunningGateway } from '../gateway.js';

describe('toHttpError', () => {
  it('passes our HttpErrors through as they are', () => {
    const error = new HttpError(404, 'unknown_camera', 'no camera "x"');
    assert.equal(toHttpError(error), error);
    assert.equal(error.name, 'HttpError');
    assert.equal(error.code, 'unknown_camera');
  });

  it('maps the exposed 4xx http-errors of Koa and the router to bad_request, with their message', () => {
    const mapped = toHttpError(Object.assign(new Error('Failed to decode param'), { status: 400, expose: true }));
    assert.deepEqual([mapped?.status, mapped?.code, mapped?.message], [400, 'bad_request', 'Failed to decode param']);
  });

  it('maps 501 to not_implemented', () => {
    const mapped = toHttpError(Object.assign(new Error('Not Implemented'), { status: 501, expose: false }));
    assert.deepEqual([mapped?.status, mapped?.code], [501, 'not_implemented']);
  });

  it('answers null (a 500 and a log line) for everything else', () => {
    for (const error of [
      new TypeError('boom'),
      Object.assign(new Error('hidden'), { status: 400, expose: false }),
      { status: 500, expose: true },
      null,
      undefined,
      'text',
    ]) {
      assert.equal(toHttpError(error), null, JSON.stringify(error));
    }
  });
});

/** A bus whose camera list fails, as Redis does when it is unreachable. */
class BrokenListBus extends MemoryBus {
  override listCameras(): Promise<CameraInfo[]> {
    return Promise.reject(new Error('secret-host:6379 refused the connection'));
  }
}

describe('error answers of a running gateway', () => {
  let gateway: RunningGateway;
  let base: string;

  before(async () => {
    gateway = await startGateway({ port: 0, host: '127.0.0.1', bus: new BrokenListBus(), log: pino({ level: 'silent' }) });
    base = `http://127.0.0.1:${gateway.port}`;
  });
  after(() => gateway.close());

  const cases: Array<[string, string, number, HttpErrorCode]> = [
    ['GET', '/no/such/route', 404, 'not_found'],
    ['POST', '/healthz', 405, 'method_not_allowed'],
    ['GET', '/cameras/not%20an%20id/stream.mjpg', 400, 'bad_camera_id'],
    ['GET', '/cameras/cam/stream.mjpg?fps=0', 400, 'bad_fps'],
    ['GET', '/api/cameras', 503, 'bus_unavailable'],
  ];
  for (const [method, path, status, code] of cases) {
    it(`${method} ${path} → ${status} ${code}, as JSON`, async () => {
      const response = await fetch(base + path, { method });
      assert.equal(response.status, status);
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
      assert.equal(body.error?.code, code);
      assert.equal(typeof body.error?.message, 'string');
    });
  }

  it("tells the client to retry a failing bus, and nothing of the bus's own error", async () => {
    const response = await fetch(`${base}/api/cameras`);
    assert.equal(response.headers.get('retry-after'), '1');
    assert.doesNotMatch(await response.text(), /secret-host/);
  });
});
