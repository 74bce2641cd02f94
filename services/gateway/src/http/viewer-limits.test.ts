import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ViewerLimits } from './viewer-limits.js';

describe('ViewerLimits', () => {
  it('counts viewers per address and in all, refuses beyond either, and frees a place once per viewer', () => {
    const limits = new ViewerLimits(3, 2);
    const a1 = limits.admit('a');
    limits.admit('a');
    assert.throws(() => limits.admit('a'), { status: 503, code: 'too_many_viewers_from_address' });
    const b1 = limits.admit('b');
    assert.throws(() => limits.admit('c'), { status: 503, code: 'too_many_viewers' });
    assert.equal(limits.refused, 2);

    a1();
    a1(); // a second call (close after error) frees nothing more
    assert.equal(limits.viewers, 2);
    limits.admit('a');
    assert.throws(() => limits.admit('d'), { code: 'too_many_viewers' });
    b1();
    limits.admit('c');
    assert.equal(limits.viewers, 3);
  });
});
