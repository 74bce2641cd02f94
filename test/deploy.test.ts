/**
 * The deployment files stay valid without a Docker engine: the compose file parses with
 * Debian's docker-compose, the committed nginx rendering matches the template, and Debian's
 * nginx accepts the local rendering.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dockerNginxConf, renderNginxConf, repoRoot } from '@camrelay/stack';

describe('deployment files', () => {
  it('docker-compose.yml: redis, capture, 3 gateways without host ports, nginx on 8080', () => {
    const config = execFileSync('docker-compose', ['-f', join(repoRoot, 'docker-compose.yml'), 'config'], {
      encoding: 'utf8',
      env: { ...process.env, PORT: '', API_TOKENS: 'a-token-for-the-test-only' },
    });
    for (const service of ['redis:', 'capture:', 'gateway:', 'lb:']) assert.match(config, new RegExp(`^  ${service}`, 'm'));
    const gateway = /^ {2}gateway:\n((?: {4}.*\n)+)/m.exec(config)?.[1] ?? '';
    assert.match(gateway, /replicas: 3/);
    assert.doesNotMatch(gateway, /ports:/, 'gateways publish no host port, so any number can run');
    const lb = /^ {2}lb:\n((?: {4}.*\n)+)/m.exec(config)?.[1] ?? '';
    assert.match(lb, /published: "?8080"?/);
    assert.match(gateway, /API_TOKENS: a-token-for-the-test-only/);
    assert.match(gateway, /TRUST_PROXY: 'true'|TRUST_PROXY: "true"|TRUST_PROXY: true/);
  });

  it('docker-compose.yml will not start gateways without API_TOKENS, and says so', () => {
    const env = { ...process.env, API_TOKENS: '' };
    const run = spawnSync('docker-compose', ['-f', join(repoRoot, 'docker-compose.yml'), 'config', '-q'], { encoding: 'utf8', env });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /set API_TOKENS/);
  });

  it('deploy/nginx/nginx.docker.conf is the template rendered for docker compose', () => {
    const committed = readFileSync(join(repoRoot, 'deploy', 'nginx', 'nginx.docker.conf'), 'utf8');
    assert.equal(committed, dockerNginxConf(), 'regenerate it: node -e "import(\'@camrelay/stack\').then(m => process.stdout.write(m.dockerNginxConf()))" > deploy/nginx/nginx.docker.conf');
    assert.match(committed, /server gateway:8080 resolve;/);
    assert.match(committed, /resolver 127\.0\.0\.11/);
  });

  it('the local rendering passes nginx -t, with the settings streams need', () => {
    const dir = mkdtempSync(join(tmpdir(), 'camrelay-nginx-'));
    try {
      const conf = renderNginxConf({ kind: 'local', listen: 18080, gatewayPorts: [18081, 18082], prefix: dir });
      for (const setting of ['proxy_buffering off', 'postpone_output 0', 'proxy_http_version 1.1', 'least_conn', 'proxy_read_timeout 1h']) {
        assert.ok(conf.includes(setting), setting);
      }
      writeFileSync(join(dir, 'nginx.conf'), conf);
      execFileSync('nginx', ['-t', '-q', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'pipe' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
