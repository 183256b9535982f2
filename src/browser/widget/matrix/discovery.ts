// Which homeserver a sign-in means. The SFU node answers GET /widget/homeserver?server=…
// (src/server/matrix/homeserverDiscovery.ts) for a URL, a bare server name or a user id: it
// does the `.well-known/matrix/client` lookup this page's Content-Security-Policy would block,
// and says whether that policy lets the page connect to the homeserver. A homeserver outside
// it is refused here with an errcode of its own, so the sign-in names the cause instead of
// "could not reach the server". An SFU without the route (older node) leaves a typed URL as is.

import { MatrixRequestError } from '../../client/matrix/matrixCall.ts';

/** errcode of a homeserver the widget's CSP does not allow (explain.ts: `err.login.blocked`). */
export const HOMESERVER_NOT_ALLOWED = 'ORG.MATRIX_SFU.HOMESERVER_NOT_ALLOWED';
/** errcode of input that is none of URL, server name, user id (explain.ts: `err.login.address`). */
export const NOT_A_SERVER = 'M_INVALID_PARAM';

const TIMEOUT_MS = 10_000;
const USER_ID = /^@[^:\s]+:\S+$/;

function isHttpUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

/** Whether `user` is a full user id (`@name:server`), enough to find the homeserver. */
export function isFullUserId(user: string): boolean {
  return USER_ID.test(user.trim());
}

/**
 * The client-API base URL for what the person typed: the server field (URL or server name),
 * or, when it is empty, the server of a full user id.
 * @throws MatrixRequestError with HOMESERVER_NOT_ALLOWED or NOT_A_SERVER.
 */
export async function resolveHomeserver(sfuServiceUrl: string, typedServer: string, user: string, fetchImpl: typeof fetch = fetch): Promise<string> {
  const typed = typedServer.trim().replace(/\/+$/, '');
  const input = typed || (isFullUserId(user) ? user.trim() : '');
  if (!input) throw new MatrixRequestError('homeserver', 400, NOT_A_SERVER);
  let response: Response;
  try {
    response = await fetchImpl(`${sfuServiceUrl.replace(/\/+$/, '')}/widget/homeserver?server=${encodeURIComponent(input)}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    if (isHttpUrl(input)) return input;
    throw error;
  }
  if (response.status === 400) throw new MatrixRequestError('homeserver', 400, NOT_A_SERVER);
  const body = (await response.json().catch(() => undefined)) as { base_url?: unknown; allowed?: unknown } | undefined;
  if (!response.ok || typeof body?.base_url !== 'string' || typeof body.allowed !== 'boolean') {
    if (isHttpUrl(input)) return input;
    throw new MatrixRequestError('homeserver', response.status || 502, undefined);
  }
  if (!body.allowed) throw new MatrixRequestError(`homeserver ${body.base_url}`, 403, HOMESERVER_NOT_ALLOWED);
  return body.base_url;
}
