// ICE servers (TURN relays with short-lived credentials) the server hands a client in its
// join reply: the schema the client parses them with, so a bad or hostile server answer
// becomes a refusal instead of a PeerConnection error deep inside mediasoup-client.

import { arr, obj, str, type Infer } from './schema.ts';

/** At most this many ICE servers and URLs per server are accepted. */
export const MAX_ICE_SERVERS = 4;
export const MAX_ICE_URLS = 8;

/** One ICE server (RTCIceServer with a username and credential, as TURN needs). */
export const iceServerSchema = obj({
  urls: arr(str({ minLength: 5, maxLength: 256, pattern: /^(turns?|stuns?):[^\s]+$/ }), { maxItems: MAX_ICE_URLS }),
  username: str({ maxLength: 512 }),
  credential: str({ maxLength: 512 }),
});

/** The `iceServers` member of the join reply. */
export const iceServersSchema = arr(iceServerSchema, { maxItems: MAX_ICE_SERVERS });

export type IceServerInfo = Infer<typeof iceServerSchema>;
