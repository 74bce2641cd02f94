/** `npm run capture`: open the cameras in CAMERAS and publish their frames to REDIS_URL (or REDIS_CLUSTER_NODES). */
import { runWithRedactedOutput } from './redacted-output.js';

await runWithRedactedOutput(process.env, () => import('./capture-process.js'));
