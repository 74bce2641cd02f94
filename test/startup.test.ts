/**
 * Bad configuration stops start-up with a message naming the variable; nothing half-starts.
 * The readers are tried in this process, each case as the service reads it; a few cases run
 * each entry point to see the exit code and the message as a user does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readCaptureConfig, readInProcessCaptureConfig } from '@camrelay/capture';
import { ConfigError } from '@camrelay/config';
import type { Env } from '@camrelay/config';
import { readGatewayConfig } from '@camrelay/gateway';
import { freePort, spawnProcess } from '@camrelay/stack';

/** How each service reads its environment, in the order its entry point does (the first error stops it). */
const readers: Record<string, (env: Env) => unknown> = {
  'gateway on Redis': (env) => readGatewayConfig(env, 'redis'),
  'the all-in-one': (env) => [readGatewayConfig(env, 'embedded'), readInProcessCaptureConfig(env)],
  capture: (env) => readCaptureConfig(env),
};

/** Secrets in the cases below: no message may show them. */
const SECRETS = /tiny-secret|long-enough-secret/;

function refusal(reader: string, env: Env): string {
  try {
    readers[reader]!(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`);
    return error.message;
  }
  assert.fail(`${reader} accepted ${JSON.stringify(env)}`);
}

describe('start-up configuration, read in-process', () => {
  const REDIS = { REDIS_URL: 'redis://127.0.0.1:1', API_TOKENS: 'a-token-long-enough-1' };
  const cases: Array<[string, Env, RegExp]> = [
    ['the all-in-one', { CAMERAS: 'cam1=webcam:0' }, /CAMERAS=.*unknown source/],
    ['the all-in-one', { CAMERAS: 'a=pattern;a=pattern' }, /CAMERAS=.*appears twice/],
    [
      'the all-in-one',
      { CAMERAS: 'a=rtsp://user:tiny-secret@cam/x;a=pattern' },
      /CAMERAS="a=rtsp:\/\/\*\*\*@cam\/x;a=pattern": .*appears twice/,
    ],
    ['the all-in-one', { CAMERAS: '../x=pattern' }, /CAMERAS=.*camera id/],
    ['the all-in-one', { JPEG_QUALITY: '101' }, /JPEG_QUALITY="101"/],
    ['the all-in-one', { PORT: 'eighty' }, /PORT="eighty"/],
    ['the all-in-one', { MJPEG_PASSTHROUGH: 'maybe' }, /MJPEG_PASSTHROUGH="maybe": expected on or off/],
    ['the all-in-one', { AUTH: 'on' }, /API_TOKENS=unset: required while AUTH is on: TOKEN or TOKEN=camera1,camera2/],
    ['the all-in-one', { AUTH: 'maybe' }, /AUTH="maybe": expected on or off/],
    ['the all-in-one', { AUTH: 'on', API_TOKENS: 'tiny-secret' }, /API_TOKENS=\(hidden\): entry 1: expected TOKEN/],
    ['the all-in-one', { AUTH: 'on', API_TOKENS: 'long-enough-secret-1=../etc' }, /API_TOKENS=\(hidden\): entry 1: camera ids/],
    ['the all-in-one', { URL_SIGNING_KEY: 'tiny-secret' }, /URL_SIGNING_KEY=\(hidden\): expected at least 32 characters/],
    ['the all-in-one', { MAX_VIEWERS: '0' }, /MAX_VIEWERS="0": expected a whole number from 1/],
    ['the all-in-one', { TRUST_PROXY: 'yes' }, /TRUST_PROXY="yes": expected true or false/],
    [
      'the all-in-one',
      { CAMERAS: 'a=pattern:320x240@5;a=rtsp://admin:tiny-secret@127.0.0.1:9/x' },
      /entry 2 \("a=rtsp:\/\/\*\*\*@127\.0\.0\.1:9\/x"\): camera id "a" appears twice/,
    ],
    ['the all-in-one', { CAMERAS: 'a=http://cam/video.cgi?user=admin&pwd=tiny-secret;a=pattern' }, /entry 2 .*appears twice/],
    ['the all-in-one', { FRAME_ANCESTORS: 'javascript:alert(1)' }, /FRAME_ANCESTORS="javascript:alert\(1\)": expected origins/],
    ['the all-in-one', { HOST: 'not an address' }, /HOST="not an address": expected an address to listen on/],
    ['the all-in-one', { MAX_SOURCE_SIZE: '8k' }, /MAX_SOURCE_SIZE="8k": expected WIDTHxHEIGHT/],
    ['the all-in-one', { MAX_FRAME_BYTES: '10' }, /MAX_FRAME_BYTES="10": expected a whole number from 1024/],
    // Embedded, the Redis variables are not read: one left in the environment changes nothing.
    [
      'the all-in-one',
      { REDIS_URL: 'http://not-redis', AUTH: 'on' },
      /^invalid configuration:\n {2}API_TOKENS=unset: required while AUTH is on:/,
    ],
    [
      'gateway on Redis',
      {},
      /REDIS_URL=unset: required: .*; for capture and a gateway in one process without Redis, run the all-in-one: `npm start`/,
    ],
    ['gateway on Redis', { REDIS_URL: 'http://localhost:6379' }, /REDIS_URL=.*redis:\/\//],
    [
      'gateway on Redis',
      { REDIS_URL: 'redis://127.0.0.1:1' },
      /API_TOKENS=unset: required while AUTH is on \(the default with REDIS_URL\)/,
    ],
    [
      'gateway on Redis',
      { REDIS_CLUSTER_NODES: 'rediss://:tiny-secret@10.0.0.1:6379,redis://10.0.0.2:6379' },
      /REDIS_CLUSTER_NODES="rediss:\/\/\*\*\*@10.0.0.1:6379,redis:\/\/10.0.0.2:6379": the URL entries differ/,
    ],
    [
      'gateway on Redis',
      { REDIS_CLUSTER_NODES: '10.0.0.1:6379,redis://:tiny-secret@10.0.0.2' },
      /REDIS_CLUSTER_NODES="10.0.0.1:6379,redis:\/\/\*\*\*@10.0.0.2": entry 2: expected host:port/,
    ],
    ['gateway on Redis', { ...REDIS, MAX_FRAME_BYTES: '10' }, /MAX_FRAME_BYTES="10": expected a whole number from 1024/],
    ['capture', {}, /REDIS_URL=unset: required/],
    ['capture', { REDIS_CLUSTER_NODES: '10.0.0.1' }, /REDIS_CLUSTER_NODES="10.0.0.1": entry 1: expected host:port/],
    [
      'capture',
      { REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: '127.0.0.1:2' },
      /REDIS_CLUSTER_NODES="127.0.0.1:2": set REDIS_URL \(one Redis\) or REDIS_CLUSTER_NODES \(a Redis Cluster\), not both/,
    ],
    ['capture', { REDIS_URL: 'redis://127.0.0.1:1', CAMERAS: 'x=pattern:10x10@30' }, /CAMERAS=/],
  ];
  for (const [reader, env, message] of cases) {
    it(`${reader} refuses ${JSON.stringify(env)}`, () => {
      const text = refusal(reader, env);
      assert.match(text, message);
      assert.doesNotMatch(text, SECRETS, 'secrets never appear in messages');
    });
  }
});

describe('start-up configuration, as each entry point stops', () => {
  const cases: Array<[string, string, NodeJS.ProcessEnv, RegExp]> = [
    [
      'the gateway service (its image) without Redis',
      'services/gateway/dist/main.js',
      { REDIS_URL: undefined, REDIS_CLUSTER_NODES: undefined },
      /REDIS_URL=unset: required: .*run the all-in-one: `npm start`/,
    ],
    [
      'npm run gateway without Redis (the all-in-one)',
      'services/all-in-one/dist/gateway.js',
      { REDIS_URL: undefined, CAMERAS: 'a=rtsp://user:tiny-secret@cam/x;a=pattern' },
      /CAMERAS="a=rtsp:\/\/\*\*\*@cam\/x;a=pattern": .*appears twice/,
    ],
    ['npm run gateway on Redis', 'services/all-in-one/dist/gateway.js', { REDIS_URL: 'http://localhost:6379' }, /REDIS_URL=.*redis:\/\//],
    ['npm start', 'services/all-in-one/dist/main.js', { AUTH: 'on' }, /API_TOKENS=unset: required while AUTH is on/],
    ['capture', 'services/capture/dist/main.js', { REDIS_URL: undefined }, /REDIS_URL=unset: required/],
  ];
  for (const [what, script, env, message] of cases) {
    it(`${what}: exit code 2 and the message`, async () => {
      const child = spawnProcess(process.execPath, [script], { LOG_LEVEL: 'info', PORT: String(await freePort()), ...env });
      assert.equal(await child.exited, 2);
      const output = child.output.join('\n');
      assert.match(output, message);
      assert.doesNotMatch(output, SECRETS, 'secrets never appear in messages');
    });
  }
});
