import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cameraClaimsKey,
  cameraDirectoryKey,
  cameraInfoKey,
  cameraLeaseKey,
  captureFleetKey,
  framesChannel,
  latestFrameKey,
  sharedSecretKey,
} from './names.js';

// deploy/redis/users.acl grants these names by pattern: a changed name is refused in production.
describe('bus names', () => {
  it('puts the camera id in a hash tag', () => {
    assert.equal(framesChannel('cam1'), 'camrelay:{cam1}:frames');
    assert.equal(latestFrameKey('cam1'), 'camrelay:{cam1}:latest');
    assert.equal(cameraInfoKey('cam1'), 'camrelay:{cam1}:info');
    assert.equal(cameraClaimsKey('cam1'), 'camrelay:{cam1}:watched');
    assert.equal(cameraLeaseKey('cam1'), 'camrelay:{cam1}:lease');
  });

  it("names a smaller size's channel and latest frame in the camera's slot", () => {
    assert.equal(framesChannel('cam1@320x240'), 'camrelay:{cam1}:frames:320x240');
    assert.equal(latestFrameKey('cam1@320x240'), 'camrelay:{cam1}:latest:320x240');
  });

  it("names an H.264 feed's channel and pictures apart, within the patterns the ACL grants", () => {
    assert.equal(framesChannel('cam1+h264'), 'camrelay:{cam1}:frames.h264');
    assert.equal(latestFrameKey('cam1+h264'), 'camrelay:{cam1}:latest.h264');
    assert.equal(framesChannel('cam1@320x240+h264'), 'camrelay:{cam1}:frames.h264:320x240');
    assert.equal(latestFrameKey('cam1@320x240+h264'), 'camrelay:{cam1}:latest.h264:320x240');
  });

  it('names what belongs to no camera outside any hash tag', () => {
    assert.equal(cameraDirectoryKey(), 'camrelay:cameras');
    assert.equal(sharedSecretKey('url-signing-key'), 'camrelay:secret:url-signing-key');
    assert.equal(captureFleetKey('north'), 'camrelay:fleet:north');
  });
});
