import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RECOMMENDED_UNSENT_LIMIT, readUnsentLimit, unsentLimitAdvice } from './unsent-limit.js';

describe('the unsent-bytes limit (net.ipv4.tcp_notsent_lowat)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unsent-limit-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  it("reads the kernel's value, and null where there is none or it is not a count", () => {
    assert.equal(readUnsentLimit(file('set', '16384\n')), 16384);
    assert.equal(readUnsentLimit(file('unset', '4294967295\n')), 4294967295);
    assert.equal(readUnsentLimit(join(dir, 'absent')), null);
    assert.equal(readUnsentLimit(file('garbage', 'sixteen\n')), null);
    assert.equal(readUnsentLimit(file('empty', '')), null);
  });

  it('advises setting it when it is unbounded, naming the setting and the value, and not when it is set', () => {
    const advice = unsentLimitAdvice(4294967295);
    assert.match(advice ?? '', /net\.ipv4\.tcp_notsent_lowat is 4294967295/);
    assert.match(advice ?? '', new RegExp(`sysctl -w net\\.ipv4\\.tcp_notsent_lowat=${RECOMMENDED_UNSENT_LIMIT}`));
    assert.equal(unsentLimitAdvice(RECOMMENDED_UNSENT_LIMIT), undefined);
    assert.equal(unsentLimitAdvice(131072), undefined);
    assert.equal(unsentLimitAdvice(null), undefined);
  });
});
