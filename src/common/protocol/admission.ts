// How a client presents its admission JWT on the WebSocket handshake without putting it in
// the URL (reverse proxies log URLs): as an extra offered subprotocol
// `matrix-sfu.jwt.<token>` next to the protocol version. The server never selects it (it
// answers with the version only), so the token is not echoed either. JWS compact tokens are
// base64url parts joined by `.`, all RFC 7230 token characters, so browsers accept them as
// subprotocol names. The `?jwt=` query form stays accepted for older clients.

/** Prefix of the subprotocol that carries the admission JWT. */
export const JWT_SUBPROTOCOL_PREFIX = 'matrix-sfu.jwt.';

/** The subprotocol carrying `jwt`. */
export function jwtSubprotocol(jwt: string): string {
  return JWT_SUBPROTOCOL_PREFIX + jwt;
}

/**
 * The JWT offered in a `Sec-WebSocket-Protocol` header value (comma-separated list), or
 * undefined when none is offered. More than one offered token counts as none.
 */
export function jwtFromSubprotocols(header: string | readonly string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const text = typeof header === 'string' ? header : header.join(',');
  const tokens = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.startsWith(JWT_SUBPROTOCOL_PREFIX))
    .map((item) => item.slice(JWT_SUBPROTOCOL_PREFIX.length));
  return tokens.length === 1 && tokens[0] !== '' ? tokens[0] : undefined;
}
