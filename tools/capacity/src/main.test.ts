/** The built command, as `npm run capacity` runs it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CAMERAS_PER_CAPTURE } from './inputs.js';

const main = fileURLToPath(new URL('./main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 30_000 });
const REQUIRED = ['--cameras', '20', '--viewers', '5000', '--fps', '30', '--size', '640x480'];
/** Capture instances for REQUIRED's 20 cameras at the measured figure. */
const CAPTURES = Math.ceil(20 / CAMERAS_PER_CAPTURE.value);

describe('npm run capacity', () => {
  it('prints the plan for the example of docs/capacity.md', () => {
    const result = run(...REQUIRED);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^Gateways: 11, bound by network \(NIC\)$/m);
    assert.match(result.stdout, /worst case {3}220 subscriptions/);
    assert.match(result.stdout, new RegExp(`^Capture: ${CAPTURES} instances?, up to ${CAMERAS_PER_CAPTURE.value} cameras? on each$`, 'm'));
    assert.match(result.stdout, /as npm run bench:capture measured \(640x480 at 30 fps/);
    assert.doesNotMatch(result.stdout, /note: measured with 640x480/);
    const json = JSON.parse(run(...REQUIRED, '--json').stdout) as {
      gateways: number;
      binding: string;
      captureInstances: number;
      inputs: object;
    };
    assert.equal(json.gateways, 11);
    assert.equal(json.binding, 'nic');
    assert.equal(json.captureInstances, CAPTURES);
    assert.ok('REDIS_SHARD_EGRESS_CEILING' in json.inputs);
    assert.ok('CAMERAS_PER_CAPTURE' in json.inputs);
  });

  it('plans capture instances from --cameras-per-capture, and says when the measured figure is for other cameras', () => {
    const given = run(...REQUIRED, '--cameras-per-capture', '6');
    assert.equal(given.status, 0, given.stderr);
    assert.match(given.stdout, /^Capture: 4 instances, up to 6 cameras on each$/m);
    assert.match(given.stdout, /cameras per instance from --cameras-per-capture/);
    const other = run('--cameras', '20', '--viewers', '5000', '--fps', '15', '--size', '1280x720');
    assert.match(other.stdout, /note: measured with 640x480 cameras at 30 fps; for 1280x720 at 15 fps, measure with npm run bench:capture/);
  });

  it('prints its help', () => {
    const result = run('--help');
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^Usage: npm run capacity -- --cameras C --viewers V --fps F --size WxH/);
  });

  for (const [args, flag] of [
    [['--fps', 'abc'], '--fps'],
    [['--fps', '0'], '--fps'],
    [['--size', '640'], '--size'],
    [['--size', '640x0'], '--size'],
    [['--cameras', '2.5'], '--cameras'],
    [['--viewers', '-3'], '--viewers'],
    [['--nic-gbps', 'fast'], '--nic-gbps'],
    [['--utilization', '150'], '--utilization'],
    [['--jpeg-bytes', '40k'], '--jpeg-bytes'],
    [['--gateway-cores', ''], '--gateway-cores'],
    [['--cameras-per-capture', '0'], '--cameras-per-capture'],
    [['--cameras-per-capture', '1.5'], '--cameras-per-capture'],
    [['--bogus', '1'], '--bogus'],
    [['--fps'], '--fps'],
  ] as const) {
    it(`exits 2 naming ${flag} for ${args.join(' ')}`, () => {
      const result = run(...REQUIRED, ...args);
      assert.equal(result.status, 2, result.stdout);
      assert.equal(result.stdout, '');
      assert.ok(result.stderr.startsWith(`capacity: ${flag}`), result.stderr);
      assert.match(result.stderr, /Run with --help/);
    });
  }

  it('refuses a stray word', () => {
    const result = run(...REQUIRED, 'extra');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /^capacity: unexpected "extra"/);
  });

  it('names a required flag that is missing', () => {
    const result = run('--cameras', '20', '--viewers', '5000', '--fps', '30');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /^capacity: --size is required/);
  });
});
