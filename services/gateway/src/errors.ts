/** An error a client may see: its status, a stable code for scripts, and a message for people. */
export class HttpError extends Error {
  override readonly name = 'HttpError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export const busUnavailable = () =>
  new HttpError(503, 'bus_unavailable', 'the frame bus is not reachable; retry shortly', { 'Retry-After': '1' });

export const shuttingDown = () => new HttpError(503, 'shutting_down', 'this gateway is shutting down; retry', { 'Retry-After': '1' });
