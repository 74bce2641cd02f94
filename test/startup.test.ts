/** Bad configuration stops start-up with a message naming the variable; nothing half-starts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort, startProcess } from './harness/processes.js';

async function run(script: string, env: NodeJS.ProcessEnv) {
  return startProcess(process.execPath, [script], { LOG_LEVEL: 'info', PORT: String(await freePort()), ...env });
}

describe('start-up configuration', () => {
  const cases: Array<[string, string, NodeJS.ProcessEnv, RegExp]> = [
    ['gateway', 'services/embedded/dist/main.js', { CAMERAS: 'cam1=webcam:0' }, /CAMERAS=.*unknown source/],
    ['gateway', 'services/embedded/dist/main.js', { CAMERAS: 'a=pattern;a=pattern' }, /CAMERAS=.*appears twice/],
    ['gateway', 'services/embedded/dist/main.js', { CAMERAS: '../x=pattern' }, /CAMERAS=.*camera id/],
    ['gateway', 'services/embedded/dist/main.js', { JPEG_QUALITY: '101' }, /JPEG_QUALITY="101"/],
    ['gateway', 'services/embedded/dist/main.js', { PORT: 'eighty' }, /PORT="eighty"/],
    ['gateway', 'services/embedded/dist/main.js', { REDIS_URL: 'http://localhost:6379' }, /REDIS_URL=.*redis:\/\//],
    ['capture', 'services/capture/dist/main.js', { REDIS_URL: undefined }, /REDIS_URL=unset: required/],
    ['capture', 'services/capture/dist/main.js', { REDIS_URL: 'redis://127.0.0.1:1', CAMERAS: 'x=pattern:10x10@30' }, /CAMERAS=/],
  ];
  for (const [service, script, env, message] of cases) {
    it(`${service} refuses ${JSON.stringify(env)}`, async () => {
      const child = await run(script, env);
      const code = await child.exited;
      assert.equal(code, 2);
      assert.match(child.output.join('\n'), message);
    });
  }
});
