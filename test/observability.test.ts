/**
 * Seeing the whole deployment: the shipped Prometheus configuration, alert rules and Grafana
 * dashboard (deploy/prometheus, deploy/grafana) against the real parts. redis-server, capture
 * with two test-pattern cameras, two gateways with access control on, Debian's redis exporter
 * (each on its own Redis user, as compose and Kubernetes run them) and Debian's Prometheus, scraping every second with the `npm run stack` configuration
 * rendered from its template with the real ports. Every target must be up, every panel query of
 * the dashboard must return data, every alert rule must load, evaluate and read metrics that
 * exist, and stopping Redis must turn the bus-down and Redis-down alerts on (pending: their
 * `for:` is a minute).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { StreamViewer } from '@camrelay/clients';
import { freePort, isOk, repoRoot, spawnCapture, spawnGateway, spawnProcess, untilAnswers } from '@camrelay/stack';
import type { Running, Service } from '@camrelay/stack';
import { spawnAclRedis, spawnRedisExporter } from './harness/acl-redis.js';
import type { AclRedis, RedisExporter } from './harness/acl-redis.js';
import { eventually } from './harness/eventually.js';

const DEPLOY = join(repoRoot, 'deploy', 'prometheus');
const ALERTS = join(DEPLOY, 'alerts.yml');
const COMPOSE_CONFIG = join(DEPLOY, 'prometheus.yml');
const STACK_TEMPLATE = join(DEPLOY, 'prometheus.stack.yml.template');
const MONITORING_OVERRIDE = join(DEPLOY, 'docker-compose.monitoring.yml');
const DASHBOARD = join(repoRoot, 'deploy', 'grafana', 'camrelay.json');
const DOCS = join(DEPLOY, 'README.md');

/** Debian's packages (scripts/setup.mjs installs them for the tests). */
const TOOLS = { prometheus: 'prometheus', promtool: 'promtool', exporter: 'prometheus-redis-exporter' } as const;
const INSTALL = 'apt-get install -y prometheus prometheus-redis-exporter (npm test installs them when run as root)';

/** One of API_TOKENS, covering every camera: the gateways' /metrics needs it. */
const TOKEN = 'observability-test-token-0123456789';
const CAMERAS = ['lab', 'yard'];

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface ScrapeConfig {
  job_name: string;
  [key: string]: unknown;
}

interface PrometheusConfig {
  global: Record<string, string>;
  rule_files: string[];
  scrape_configs: ScrapeConfig[];
}

interface Panel {
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: Array<{ expr: string; datasource?: { uid?: string } }>;
  panels?: Panel[];
}

interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
}

const alertRules = (): Rule[] =>
  (parse(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((group) => group.rules);

const dashboard = () =>
  JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } };

/** Every panel, the ones inside collapsed rows included. */
const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);

/** A panel query as Prometheus would get it from Grafana: its variables replaced. */
function grafanaQuery(expr: string): string {
  const query = expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}/g, '5s')
    .replace(/\$\{?(gateway|camera)\}?/g, '.*');
  assert.doesNotMatch(query, /\$/, `a variable the test does not know in ${expr}`);
  return query;
}

/**
 * The series a PromQL expression selects: each metric name with its label matchers
 * (`up{job="camrelay-capture"}`), not its functions, keywords, groupings or numbers.
 */
function vectorSelectors(expr: string): string[] {
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
  const selectors = new Set<string>();
  // Strings, ranges and groupings are consumed whole, so that nothing inside them counts.
  const token =
    /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\{[^}]*\})?/g;
  for (const match of expr.matchAll(token)) {
    const [whole, name, matchers] = match;
    if (!name || keywords.has(name.toLowerCase())) continue;
    // A function, or an aggregation with its grouping first: `sum by (job) (…)`.
    if (/^\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(/.test(expr.slice(match.index + whole.length))) continue;
    selectors.add(name + (matchers?.trim() ?? ''));
  }
  return [...selectors];
}

/** `${NAME}` replaced as envsubst would, with every name the template uses given a value. */
function renderStackConfig(values: Record<string, string>): string {
  return readFileSync(STACK_TEMPLATE, 'utf8').replace(/\$\{([A-Z_]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`prometheus.stack.yml.template: no value for \${${name}}`);
    return value;
  });
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: repoRoot, env: { ...process.env, ...env } });
  if (result.error && 'code' in result.error && result.error.code === 'ENOENT') assert.fail(`${command} is not installed: ${INSTALL}`);
  assert.ifError(result.error);
  return result;
}

describe('Prometheus and Grafana against the real parts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'camrelay-observability-'));
  let redis: AclRedis | undefined;
  let capture: Running | undefined;
  let gateways: Service[] = [];
  let exporter: RedisExporter | undefined;
  let prometheus: Running | undefined;
  let api = '';
  let renderedConfig = '';
  const viewers: StreamViewer[] = [];

  /** GET on Prometheus's HTTP API; the `data` of a success. */
  async function query<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const response = await fetch(`${api}${path}?${new URLSearchParams(params).toString()}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    assert.equal(body.status, 'success', `${path} ${JSON.stringify(params)}: ${body.error ?? response.status}`);
    return body.data;
  }
  const instant = (promql: string) => query<{ result: unknown[] }>('/api/v1/query', { query: promql }).then((data) => data.result);

  before(async () => {
    // Missing tools are a failure that says what to install, not a skip.
    for (const tool of Object.values(TOOLS)) run(tool, ['--version']);

    // Redis with the users compose and Kubernetes give it: each process logs in as its own,
    // the exporter as one that reads no key (test/redis-acl.test.ts checks the limits).
    redis = await spawnAclRedis();
    const captureHealth = await freePort();
    capture = await spawnCapture(
      {
        REDIS_URL: redis.url('capture'),
        CAMERAS: CAMERAS.map((id) => `${id}=pattern:160x120@10`).join(';'),
        HEALTH_PORT: String(captureHealth),
      },
      CAMERAS,
    );
    const gatewayEnv = { REDIS_URL: redis.url('gateway'), API_TOKENS: TOKEN, NO_SIGNAL_AFTER: '1' };
    gateways = await Promise.all([spawnGateway(gatewayEnv), spawnGateway(gatewayEnv)]);

    exporter = await spawnRedisExporter(redis, TOOLS.exporter);

    const tokenFile = join(dir, 'metrics-token');
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    renderedConfig = join(dir, 'prometheus.yml');
    const config = parse(
      renderStackConfig({
        GATEWAY_TARGETS: gateways.map((gateway) => `'127.0.0.1:${gateway.port}'`).join(', '),
        CAPTURE_TARGETS: `'127.0.0.1:${captureHealth}'`,
        // No credentials in a target: the exporter has its own, and Prometheus shows targets.
        REDIS_TARGETS: `'redis://127.0.0.1:${redis.port}'`,
        REDIS_EXPORTER: `127.0.0.1:${exporter.port}`,
        METRICS_TOKEN_FILE: tokenFile,
        ALERTS_FILE: ALERTS,
      }),
    ) as PrometheusConfig;
    // What a test can wait for: a scrape and a rule evaluation every second.
    config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
    writeFileSync(renderedConfig, stringify(config));

    const port = await freePort();
    prometheus = spawnProcess(TOOLS.prometheus, [
      `--config.file=${renderedConfig}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ]);
    api = `http://127.0.0.1:${port}`;
    await untilAnswers(prometheus, `${api}/-/ready`, isOk, 30_000);

    // Viewers on both gateways, so that viewer and delivery metrics have something to count.
    const watch = (gateway: Service, camera: string) =>
      new StreamViewer(`${gateway.baseUrl}/cameras/${camera}/stream.mjpg`, {
        keepJpegs: false,
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
    viewers.push(watch(gateways[0]!, 'lab'), watch(gateways[0]!, 'yard'), watch(gateways[1]!, 'lab'));
    await Promise.all(viewers.map((viewer) => viewer.waitForFrames(2, 20_000)));
  });

  after(async () => {
    for (const viewer of viewers) viewer.close();
    for (const child of [prometheus, exporter, ...gateways, capture, redis]) await child?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('promtool accepts the alert rules and the compose and rendered stack configurations', () => {
    const rules = run(TOOLS.promtool, ['check', 'rules', ALERTS]);
    assert.equal(rules.status, 0, `promtool check rules:\n${rules.stdout}${rules.stderr}`);
    // The rendered stack configuration in full: its rule file and token file exist here.
    const stack = run(TOOLS.promtool, ['check', 'config', renderedConfig]);
    assert.equal(stack.status, 0, `promtool check config (stack):\n${stack.stdout}${stack.stderr}`);
    // compose's reads its token from a secret that exists inside the container only.
    const compose = run(TOOLS.promtool, ['check', 'config', '--syntax-only', COMPOSE_CONFIG]);
    assert.equal(compose.status, 0, `promtool check config (compose):\n${compose.stdout}${compose.stderr}`);
  });

  it('gives compose and the stack the same jobs, differing only in how targets are found', () => {
    const compose = parse(readFileSync(COMPOSE_CONFIG, 'utf8')) as PrometheusConfig;
    const stack = parse(readFileSync(renderedConfig, 'utf8')) as PrometheusConfig;
    assert.deepEqual(compose.rule_files, ['alerts.yml'], 'compose mounts this directory: the rules beside the configuration');
    assert.deepEqual(stack.rule_files, [ALERTS]);
    /** A job without its targets, token path and exporter address. */
    const shape = (job: ScrapeConfig) => {
      const copy = structuredClone(job) as Record<string, unknown>;
      delete copy.static_configs;
      delete copy.dns_sd_configs;
      const auth = copy.authorization as Record<string, string> | undefined;
      if (auth) auth.credentials_file = '(file)';
      for (const relabel of (copy.relabel_configs ?? []) as Array<Record<string, string>>)
        if (relabel.target_label === '__address__') relabel.replacement = '(exporter)';
      return copy;
    };
    assert.deepEqual(compose.scrape_configs.map(shape), stack.scrape_configs.map(shape));
    assert.deepEqual(
      compose.scrape_configs.map((job) => job.job_name),
      ['camrelay-gateway', 'camrelay-capture', 'redis'],
    );
  });

  it("finds compose's services where docker-compose.yml and the monitoring override put them", () => {
    // The settings compose refuses to start without, and its defaults for the rest.
    const result = run('docker-compose', ['-f', 'docker-compose.yml', '-f', MONITORING_OVERRIDE, 'config'], {
      API_TOKENS: 'a-token-for-the-test-only',
      REDIS_CAPTURE_PASSWORD: 'capture-password-for-the-test',
      REDIS_GATEWAY_PASSWORD: 'gateway-password-for-the-test',
      REDIS_EXPORTER_PASSWORD: 'exporter-password-for-the-test',
      PORT: '',
    });
    assert.equal(result.status, 0, result.stderr);
    const services = (parse(result.stdout) as { services: Record<string, Record<string, unknown>> }).services;
    const env = (name: string) => (services[name]?.environment ?? {}) as Record<string, string>;
    const expose = (name: string) => ((services[name]?.expose ?? []) as Array<string | number>).map(String);
    const prometheusConfig = parse(readFileSync(COMPOSE_CONFIG, 'utf8')) as PrometheusConfig;
    const job = (name: string) => prometheusConfig.scrape_configs.find((config) => config.job_name === name)!;

    const dns = (job('camrelay-gateway').dns_sd_configs as Array<{ names: string[]; type: string; port: number }>)[0]!;
    assert.deepEqual(dns.names, ['gateway']);
    assert.equal(dns.type, 'A');
    assert.ok(services.gateway, 'a gateway service');
    assert.equal(String(dns.port), env('gateway').PORT);
    assert.ok(expose('gateway').includes(String(dns.port)));

    // Every capture instance of the fleet (any --scale), not one of them at random.
    const captureDns = (job('camrelay-capture').dns_sd_configs as Array<{ names: string[]; type: string; port: number }>)[0]!;
    assert.deepEqual(captureDns.names, ['capture']);
    assert.equal(captureDns.type, 'A');
    assert.ok(services.capture, 'a capture service');
    assert.equal(
      String(captureDns.port),
      /^ENV HEALTH_PORT=(\d+)$/m.exec(readFileSync(join(repoRoot, 'services/capture/Dockerfile'), 'utf8'))?.[1],
    );
    assert.equal(env('capture').HEALTH_HOST, '0.0.0.0', 'capture serves /metrics beyond its own loopback');
    assert.ok(expose('capture').includes(String(captureDns.port)));

    const redisJob = job('redis');
    assert.deepEqual((redisJob.static_configs as Array<{ targets: string[] }>)[0]!.targets, ['redis://redis:6379']);
    assert.ok(services.redis, 'a redis service');
    const exporterAddress = (redisJob.relabel_configs as Array<Record<string, string>>).find((r) => r.target_label === '__address__')!;
    assert.equal(exporterAddress.replacement, 'redis-exporter:9121');
    assert.ok(expose('redis-exporter').includes('9121'));
    // The exporter logs in as the user Redis gives its password to (deploy/redis/users.acl).
    assert.equal(env('redis-exporter').REDIS_USER, 'exporter');
    assert.equal(env('redis-exporter').REDIS_PASSWORD, 'exporter-password-for-the-test');
    assert.equal(env('redis').REDIS_EXPORTER_PASSWORD, 'exporter-password-for-the-test');

    const volumes = (services.prometheus?.volumes ?? []) as Array<string | { source: string; target: string }>;
    const mounts = volumes.map((volume) => (typeof volume === 'string' ? volume : `${volume.source}:${volume.target}`));
    assert.ok(
      mounts.some((mount) => mount.startsWith(`${DEPLOY}:/etc/prometheus`)),
      `deploy/prometheus mounted at /etc/prometheus (${mounts.join(', ')})`,
    );
    const auth = job('camrelay-gateway').authorization as { credentials_file: string };
    const secrets = ((services.prometheus?.secrets ?? []) as Array<string | { source: string }>).map((s) =>
      typeof s === 'string' ? s : s.source,
    );
    assert.deepEqual(
      secrets.map((secret) => `/run/secrets/${secret}`),
      [auth.credentials_file],
    );
  });

  it('scrapes every target: two gateways with the token, capture, and Redis through the exporter', async (t) => {
    type Target = { labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string };
    const targets = await eventually(async () => {
      const { activeTargets } = await query<{ activeTargets: Target[] }>('/api/v1/targets', { state: 'active' });
      assert.deepEqual(activeTargets.map((target) => target.labels.job).sort(), [
        'camrelay-capture',
        'camrelay-gateway',
        'camrelay-gateway',
        'redis',
      ]);
      const down = activeTargets.filter((target) => target.health !== 'up');
      assert.deepEqual(
        down.map((target) => `${target.labels.job} ${target.scrapeUrl}: ${target.health} ${target.lastError}`),
        [],
        'every target up',
      );
      return activeTargets;
    }, 20_000);
    t.diagnostic(targets.map((target) => `${target.labels.job} ${target.labels.instance}`).join('; '));
  });

  it('answers every panel query and variable of the Grafana dashboard with data', async (t) => {
    const { schemaVersion, panels, templating } = dashboard();
    assert.ok(schemaVersion >= 36, `schemaVersion ${schemaVersion}`);
    const datasource = templating.list.find((variable) => variable.type === 'datasource');
    assert.ok(datasource, 'a datasource variable, so that the dashboard imports onto any Prometheus');
    const queries = allPanels(panels).flatMap((panel) => {
      if (panel.type === 'row') return [];
      assert.ok(panel.targets?.length, `panel "${panel.title}" has a query`);
      for (const source of [panel.datasource, ...panel.targets.map((target) => target.datasource)])
        assert.equal(source?.uid, `\${${datasource.name}}`, `panel "${panel.title}" uses the datasource variable`);
      return panel.targets.map((target) => ({ panel: panel.title, expr: target.expr, promql: grafanaQuery(target.expr) }));
    });
    const variables = templating.list.flatMap((variable) => {
      if (variable.type !== 'query') return [];
      const text = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
      const match = /^label_values\((.+),\s*(\w+)\)$/.exec(text);
      assert.ok(match, `variable ${variable.name}: label_values(selector, label), got ${text}`);
      return [{ name: variable.name, selector: match[1]!, label: match[2]! }];
    });

    await eventually(
      async () => {
        const empty: string[] = [];
        for (const { panel, promql } of queries) if ((await instant(promql)).length === 0) empty.push(`"${panel}": ${promql}`);
        for (const { name, selector, label } of variables) {
          const values = await query<string[]>(`/api/v1/label/${label}/values`, { 'match[]': selector });
          if (values.length === 0) empty.push(`variable ${name}: label_values(${selector}, ${label})`);
        }
        assert.deepEqual(empty, [], 'queries without data');
      },
      20_000,
      500,
    );
    t.diagnostic(`${queries.length} panel queries in ${allPanels(panels).length} panels, and ${variables.length} variables, all with data`);
  });

  it('loads every alert rule, evaluates it, and every metric it reads exists', async () => {
    const rules = alertRules();
    const docs = readFileSync(DOCS, 'utf8');
    for (const rule of rules) {
      assert.match(rule.for ?? '', /^\d+[smh]$/, `${rule.alert}: a for:`);
      assert.match(rule.labels?.severity ?? '', /^(warning|critical)$/, `${rule.alert}: severity`);
      for (const annotation of ['summary', 'description', 'runbook_url'])
        assert.ok(rule.annotations?.[annotation], `${rule.alert}: ${annotation} annotation`);
      const anchor = /#(\w+)$/.exec(rule.annotations!.runbook_url!)?.[1];
      assert.ok(
        docs.split('\n').some((line) => line.startsWith('#') && line.replace(/[^a-z0-9]/gi, '').toLowerCase() === anchor),
        `${rule.alert}: runbook_url points at a heading of deploy/prometheus/README.md (#${anchor})`,
      );
    }

    type LoadedRule = { name: string; health: string; lastError?: string; lastEvaluation: string; query: string };
    const loaded = await eventually(async () => {
      const { groups } = await query<{ groups: Array<{ rules: LoadedRule[] }> }>('/api/v1/rules', { type: 'alert' });
      const all = groups.flatMap((group) => group.rules);
      assert.deepEqual(all.map((rule) => rule.name).sort(), rules.map((rule) => rule.alert).sort(), 'every rule of alerts.yml loaded');
      for (const rule of all) {
        assert.ok(!rule.lastEvaluation.startsWith('0001-'), `${rule.name} evaluated`);
        assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`);
      }
      return all;
    });

    // A misspelled metric or job is no error to Prometheus: the rule would just never fire.
    const missing: string[] = [];
    for (const rule of loaded) {
      const selectors = vectorSelectors(rule.query);
      assert.ok(selectors.length > 0, `${rule.name}: no series selected by ${rule.query}`);
      for (const selector of selectors) if ((await instant(`group(${selector})`)).length === 0) missing.push(`${rule.name}: ${selector}`);
    }
    assert.deepEqual(missing, [], 'series the alert rules read that no target exports');
  });

  it('turns the bus-down and Redis-down alerts on when Redis stops', async (t) => {
    const stoppedAt = Date.now();
    await redis!.stop('SIGKILL');
    type Alert = { labels: Record<string, string>; state: string };
    const alerts = await eventually(
      async () => {
        const { alerts: active } = await query<{ alerts: Alert[] }>('/api/v1/alerts');
        const names = (name: string) => active.filter((alert) => alert.labels.alertname === name);
        // Every process on the bus: two gateways and capture.
        assert.equal(names('CamrelayBusDown').length, 3, JSON.stringify(active));
        assert.equal(names('RedisDown').length, 1, JSON.stringify(active));
        return active;
      },
      20_000,
      250,
    );
    t.diagnostic(
      `${Date.now() - stoppedAt} ms after Redis stopped: ${alerts.map((alert) => `${alert.labels.alertname} ${alert.labels.instance ?? ''} ${alert.state}`).join('; ')}`,
    );
    // `for:` holds them pending (a minute) before they fire: a Redis restart recovers within a second.
    for (const alert of alerts) assert.match(alert.state, /^(pending|firing)$/);
  });
});
