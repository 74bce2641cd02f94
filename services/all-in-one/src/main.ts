/**
 * `npm start`: capture and a gateway in one process, frames handed over in memory. One
 * command, no Redis: the demo, and a single-camera setup on one machine. It opens cameras, so
 * its output passes through the same filter as capture's.
 */
import { runWithRedactedOutput } from '@camrelay/capture';

await runWithRedactedOutput(process.env, () => import('./embedded.js'));
