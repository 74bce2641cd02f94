import assert from 'node:assert/strict';

/** [path, status, error code] */
export type ErrorCase = readonly [string, number, string];

/** Each path answers with its status and a JSON error body: `{"error": {"code", "message"}}`. */
export async function assertJsonErrors(baseUrl: string, cases: readonly ErrorCase[]): Promise<void> {
  for (const [path, status, code] of cases) {
    const response = await fetch(`${baseUrl}${path}`);
    assert.equal(response.status, status, path);
    assert.match(String(response.headers.get('content-type')), /application\/json/, path);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, code, path);
    assert.ok(body.error.message.length > 0, path);
  }
}
