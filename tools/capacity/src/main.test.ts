/** The built command, as `npm run capacity` runs it. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('./main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 30_000 });
const REQUIRED = ['--cameras', '20', '--viewers', '5000', '--fps', '30', '--size', '640x480'];

describe('npm run capacity', () => {
  it('prints the plan for the README example', () => {
    const result = run(...REQUIRED);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^Gateways: 11, bound by network \(NIC\)$/m);
    assert.match(result.stdout, /worst case {3}220 subscriptions/);
    const json = JSON.parse(run(...REQUIRED, '--json').stdout) as { gateways: number; binding: string; inputs: object };
    assert.equal(json.gateways, 11);
    assert.equal(json.binding, 'nic');
    assert.ok('REDIS_SHARD_EGRESS_CEILING' in json.inputs);
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
