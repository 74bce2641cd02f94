/**
 * Credentials out of anything printed: camera and Redis URLs appear in configuration errors,
 * logs, the stack's summary and error messages from OpenCV, and a URL's user info or a
 * credential in its query (`?user=admin&pwd=…`, common on IP cameras) must not.
 */

/** Query parameters whose values are credentials, by the names cameras and services use. */
const CREDENTIAL_PARAMETER =
  /([?&](?:pwd|pass|passwd|password|passphrase|token|access_token|auth|authorization|key|apikey|api_key|sig|signature|secret|credentials?)=)[^&#\s;"']*/gi;

/**
 * `text` with every URL's user info and credential query values replaced by "***":
 * rtsp://admin:secret@cam/x → rtsp://***@cam/x, http://cam/v.cgi?user=a&pwd=s → …&pwd=***.
 * In text that is one URL the user info runs to the last "@" (a rejected value may hold a
 * password with a space or a raw "@"); in a list (CAMERAS) or a message, to each URL's own "@".
 */
export function hideCredentials(text: string): string {
  return text
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#\s@]*:[\s\S]*@/i, '$1***@')
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/?#\s;@"']+@/gi, '$1***@')
    .replace(CREDENTIAL_PARAMETER, '$1***');
}
