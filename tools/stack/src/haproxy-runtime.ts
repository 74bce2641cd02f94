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
