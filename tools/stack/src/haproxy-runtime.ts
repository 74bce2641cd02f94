import { connect } from 'node:net';

/** One command on HAProxy's runtime API at a unix socket: it answers, then closes the connection. */
export function runtimeCommand(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(path, () => socket.end(`${command}\n`));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** The rows of `show stat` (CSV under a `# ` header), each keyed by its column names. */
export function statRows(stat: string): Array<Record<string, string>> {
  const [header, ...rows] = stat.split('\n').filter(Boolean);
  if (!header) return [];
  const columns = header.replace(/^# /, '').split(',');
  return rows.map((row) => {
    const cells = row.split(',');
    return Object.fromEntries(columns.map((column, i) => [column, cells[i] ?? '']));
  });
}

/**
 * A server row of `show stat` that takes new connections after a passed health check. UP alone
 * is not enough: HAProxy puts a server UP before its first check when it leaves maintenance (a
 * gateway just found through DNS, not yet listening). A check under way shows as "* L7OK".
 */
export function isInRotation(row: Record<string, string>): boolean {
  return row.status === 'UP' && row.check_status?.replace(/^\* /, '') === 'L7OK';
}
