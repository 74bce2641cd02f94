/** Bad configuration stops start-up with a message naming the variable; nothing half-starts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort, spawnProcess } from '@camrelay/stack';

async function run(script: string, env: NodeJS.ProcessEnv) {
  return spawnProcess(process.execPath, [script], { LOG_LEVEL: 'info', PORT: String(await freePort()), ...env });
}

describe('start-up configuration', () => {
  const cases: Array<[string, string, NodeJS.ProcessEnv, RegExp]> = [
    ['gateway', 'services/gateway/dist/main.js', { CAMERAS: 'cam1=webcam:0' }, /CAMERAS=.*unknown source/],
    ['gateway', 'services/gateway/dist/main.js', { CAMERAS: 'a=pattern;a=pattern' }, /CAMERAS=.*appears twice/],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { CAMERAS: 'a=rtsp://user:tiny-secret@cam/x;a=pattern' },
      /CAMERAS="a=rtsp:\/\/\*\*\*@cam\/x;a=pattern": .*appears twice/,
    ],
    ['gateway', 'services/gateway/dist/main.js', { CAMERAS: '../x=pattern' }, /CAMERAS=.*camera id/],
    ['gateway', 'services/gateway/dist/main.js', { JPEG_QUALITY: '101' }, /JPEG_QUALITY="101"/],
    ['gateway', 'services/gateway/dist/main.js', { PORT: 'eighty' }, /PORT="eighty"/],
    ['gateway', 'services/gateway/dist/main.js', { MJPEG_PASSTHROUGH: 'maybe' }, /MJPEG_PASSTHROUGH="maybe": expected on or off/],
    ['gateway', 'services/gateway/dist/main.js', { REDIS_URL: 'http://localhost:6379' }, /REDIS_URL=.*redis:\/\//],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { REDIS_URL: 'redis://127.0.0.1:1' },
      /API_TOKENS=unset: required while AUTH is on \(the default with REDIS_URL\)/,
    ],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { AUTH: 'on' },
      /API_TOKENS=unset: required while AUTH is on: TOKEN or TOKEN=camera1,camera2/,
    ],
    ['gateway', 'services/gateway/dist/main.js', { AUTH: 'maybe' }, /AUTH="maybe": expected on or off/],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { AUTH: 'on', API_TOKENS: 'tiny-secret' },
      /API_TOKENS=\(hidden\): entry 1: expected TOKEN/,
    ],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { AUTH: 'on', API_TOKENS: 'long-enough-secret-1=../etc' },
      /API_TOKENS=\(hidden\): entry 1: camera ids/,
    ],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { URL_SIGNING_KEY: 'tiny-secret' },
      /URL_SIGNING_KEY=\(hidden\): expected at least 32 characters/,
    ],
    ['gateway', 'services/gateway/dist/main.js', { MAX_VIEWERS: '0' }, /MAX_VIEWERS="0": expected a whole number from 1/],
    ['gateway', 'services/gateway/dist/main.js', { TRUST_PROXY: 'yes' }, /TRUST_PROXY="yes": expected true or false/],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { CAMERAS: 'a=pattern:320x240@5;a=rtsp://admin:tiny-secret@127.0.0.1:9/x' },
      /entry 2 \("a=rtsp:\/\/\*\*\*@127\.0\.0\.1:9\/x"\): camera id "a" appears twice/,
    ],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { CAMERAS: 'a=http://cam/video.cgi?user=admin&pwd=tiny-secret;a=pattern' },
      /entry 2 .*appears twice/,
    ],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { FRAME_ANCESTORS: 'javascript:alert(1)' },
      /FRAME_ANCESTORS="javascript:alert\(1\)": expected origins/,
    ],
    ['gateway', 'services/gateway/dist/main.js', { HOST: 'not an address' }, /HOST="not an address": expected an address to listen on/],
    ['gateway', 'services/gateway/dist/main.js', { MAX_SOURCE_SIZE: '8k' }, /MAX_SOURCE_SIZE="8k": expected WIDTHxHEIGHT/],
    ['gateway', 'services/gateway/dist/main.js', { MAX_FRAME_BYTES: '10' }, /MAX_FRAME_BYTES="10": expected a whole number from 1024/],
    ['all-in-one', 'services/all-in-one/dist/main.js', { CAMERAS: 'cam1=webcam:0' }, /CAMERAS=.*unknown source/],
    [
      'all-in-one',
      'services/all-in-one/dist/main.js',
      { AUTH: 'on' },
      /API_TOKENS=unset: required while AUTH is on: TOKEN or TOKEN=camera1,camera2/,
    ],
    ['capture', 'services/capture/dist/main.js', { REDIS_URL: undefined }, /REDIS_URL=unset: required/],
    [
      'capture',
      'services/capture/dist/main.js',
      { REDIS_CLUSTER_NODES: '10.0.0.1' },
      /REDIS_CLUSTER_NODES="10.0.0.1": entry 1: expected host:port/,
    ],
    [
      'capture',
      'services/capture/dist/main.js',
      { REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: '127.0.0.1:2' },
      /REDIS_CLUSTER_NODES="127.0.0.1:2": set REDIS_URL \(one Redis\) or REDIS_CLUSTER_NODES \(a Redis Cluster\), not both/,
    ],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { REDIS_CLUSTER_NODES: 'rediss://:tiny-secret@10.0.0.1:6379,redis://10.0.0.2:6379' },
      /REDIS_CLUSTER_NODES="rediss:\/\/\*\*\*@10.0.0.1:6379,redis:\/\/10.0.0.2:6379": the URL entries differ/,
    ],
    [
      'gateway',
      'services/gateway/dist/main.js',
      { REDIS_CLUSTER_NODES: '10.0.0.1:6379,redis://:tiny-secret@10.0.0.2' },
      /REDIS_CLUSTER_NODES="10.0.0.1:6379,redis:\/\/\*\*\*@10.0.0.2": entry 2: expected host:port/,
    ],
    ['capture', 'services/capture/dist/main.js', { REDIS_URL: 'redis://127.0.0.1:1', CAMERAS: 'x=pattern:10x10@30' }, /CAMERAS=/],
  ];
  for (const [service, script, env, message] of cases) {
    it(`${service} refuses ${JSON.stringify(env)}`, async () => {
      const child = await run(script, env);
      const code = await child.exited;
      assert.equal(code, 2);
      assert.match(child.output.join('\n'), message);
      assert.doesNotMatch(child.output.join('\n'), /tiny-secret|long-enough-secret/, 'secrets never appear in messages');
    });
  }
});
