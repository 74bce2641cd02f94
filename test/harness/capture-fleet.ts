/**
 * What every deployment form must give a capture fleet (docker-compose.yml, deploy/k8s,
 * `npm run stack`): time to hand its cameras over on SIGTERM before it is killed.
 */

/**
 * Seconds a stopping capture instance may need: it hands its cameras over to the others before
 * it exits, which takes up to ~10 s (renewed leases expire after ~1.5 s; a successor must open
 * each camera), plus a margin for closing the bus and exiting. Compose's default of 10 s and
 * Kubernetes' of 30 s are checked against it.
 */
export const CAPTURE_STOP_GRACE_SECONDS = 15;
