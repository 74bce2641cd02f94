#!/usr/bin/env node
/**
 * `npm run capacity -- --cameras C --viewers V --fps F --size WxH`: how many capture instances,
 * gateways and Redis shards a deployment needs. Exit code 2 and one line naming the flag on a bad
 * command line; 1 when no gateway can carry even one viewer.
 */
import { UsageError, HELP, parseCommand } from './args.js';
import { plan } from './model.js';
import { renderJson, renderText } from './report.js';

try {
  const command = parseCommand(process.argv.slice(2));
  if (command.help) process.stdout.write(HELP);
  else {
    const result = plan(command.deployment);
    process.stdout.write(command.json ? renderJson(result) : renderText(result));
    if (!Number.isFinite(result.gateways)) process.exitCode = 1; // no number of gateways is enough
  }
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`capacity: ${error.message}\nRun with --help for the options.\n`);
  process.exitCode = 2;
}
