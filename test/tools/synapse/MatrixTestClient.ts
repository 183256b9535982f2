// A deliberately small Matrix client-server API client for integration tests: plain fetch,
// one access token, JSON in and out. It plays the part of a user's client (rooms, state,
// OpenID, MSC4140 delayed events) around the SFU; it is not the SFU's own homeserver client.
import type { DeviceId, MatrixUserId, RoomId } from '../../../src/server/matrix/types.ts';

/** A non-2xx answer from the homeserver, with its Matrix errcode when the body had one. */
export class MatrixHttpError extends Error {
  override readonly name = 'MatrixHttpError';
  readonly status: number;
  readonly errcode: string | undefined;
  readonly body: unknown;

  constructor(method: string, path: string, status: number, body: unknown) {
    const record = isRecord(body) ? body : {};
    const errcode = typeof record['errcode'] === 'string' ? record['errcode'] : undefined;
    const detail = typeof record['error'] === 'string' ? record['error'] : '';
    super(`${method} ${path}: HTTP ${status} ${errcode ?? ''} ${detail}`.replace(/\s+/g, ' ').trim());
    this.status = status;
    this.errcode = errcode;
    this.body = body;
  }
}

/** A client event in the format of `GET /rooms/{roomId}/state` and `/sync`. */
export interface ClientEvent {
  readonly type: string;
  readonly state_key?: string;
  readonly sender: string;
  readonly content: Record<string, unknown>;
  readonly origin_server_ts: number;
  readonly event_id: string;
  readonly [key: string]: unknown;
}

/** The answer of `POST /user/{userId}/openid/request_token`. */
export interface OpenIdToken {
  readonly access_token: string;
  readonly token_type: string;
  readonly matrix_server_name: string;
  readonly expires_in: number;
}

/** Options for {@link MatrixTestClient.createRoom}. */
export interface CreateRoomOptions {
  /** Users to invite at creation. */
  readonly invite?: readonly MatrixUserId[];
  /** Room version, e.g. `org.matrix.msc3757.11` to allow owned `@user_…` state keys. */
  readonly roomVersion?: string;
  /** Merged into the default power levels. */
  readonly powerLevelContentOverride?: Record<string, unknown>;
}

/** Identity and credentials of one logged-in device. */
export interface MatrixTestClientOptions {
  readonly baseUrl: string;
  readonly userId: MatrixUserId;
  readonly deviceId: DeviceId;
  readonly accessToken: string;
  /** Abort each request after this long. Default 10 000 ms. */
  readonly requestTimeoutMs?: number;
}

/** One user's device talking to the client-server API. */
export class MatrixTestClient {
  readonly baseUrl: string;
  readonly userId: MatrixUserId;
  readonly deviceId: DeviceId;
  readonly #accessToken: string;
  readonly #requestTimeoutMs: number;
  #txnCounter = 0;

  constructor(options: MatrixTestClientOptions) {
    this.baseUrl = options.baseUrl;
    this.userId = options.userId;
    this.deviceId = options.deviceId;
    this.#accessToken = options.accessToken;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /**
   * Sends one authenticated request. `path` starts with `/_matrix/...` and must already be
   * percent-encoded (use {@link encodePathSegment} for ids).
   *
   * @throws {MatrixHttpError} on any non-2xx answer.
   */
  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#accessToken}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(new URL(path, this.baseUrl), {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.#requestTimeoutMs),
    });
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    // The query string may hold tokens; keep only the path in messages.
    if (!response.ok) throw new MatrixHttpError(method, path.split('?')[0] ?? path, response.status, parsed);
    return parsed as T;
  }

  /** Creates a private room and returns its id. */
  async createRoom(options: CreateRoomOptions = {}): Promise<RoomId> {
    const body: Record<string, unknown> = { preset: 'private_chat' };
    if (options.invite !== undefined) body['invite'] = options.invite;
    if (options.roomVersion !== undefined) body['room_version'] = options.roomVersion;
    if (options.powerLevelContentOverride !== undefined) {
      body['power_level_content_override'] = options.powerLevelContentOverride;
    }
    const { room_id: roomId } = await this.request<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom', body);
    return roomId as RoomId;
  }

  async invite(roomId: RoomId, userId: MatrixUserId): Promise<void> {
    await this.request('POST', `/_matrix/client/v3/rooms/${encodePathSegment(roomId)}/invite`, { user_id: userId });
  }

  async join(roomId: RoomId): Promise<void> {
    await this.request('POST', `/_matrix/client/v3/join/${encodePathSegment(roomId)}`, {});
  }

  /** Sends a state event and returns its event id. */
  async sendState(roomId: RoomId, type: string, stateKey: string, content: Record<string, unknown>): Promise<string> {
    const { event_id: eventId } = await this.request<{ event_id: string }>(
      'PUT',
      statePath(roomId, type, stateKey),
      content,
    );
    return eventId;
  }

  /** Schedules an MSC4140 delayed state event and returns its `delay_id`. */
  async sendDelayedState(
    roomId: RoomId,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
    delayMs: number,
  ): Promise<string> {
    const { delay_id: delayId } = await this.request<{ delay_id: string }>(
      'PUT',
      `${statePath(roomId, type, stateKey)}?org.matrix.msc4140.delay=${delayMs}`,
      content,
    );
    return delayId;
  }

  /** Sends a timeline event and returns its event id. */
  async sendEvent(roomId: RoomId, type: string, content: Record<string, unknown>): Promise<string> {
    this.#txnCounter += 1;
    const txnId = `t${Date.now()}-${this.#txnCounter}`;
    const { event_id: eventId } = await this.request<{ event_id: string }>(
      'PUT',
      `/_matrix/client/v3/rooms/${encodePathSegment(roomId)}/send/${encodePathSegment(type)}/${txnId}`,
      content,
    );
    return eventId;
  }

  /** Redacts an event (own events: any member; others' events: the redact power level). */
  async redact(roomId: RoomId, eventId: string, reason?: string): Promise<string> {
    this.#txnCounter += 1;
    const txnId = `r${Date.now()}-${this.#txnCounter}`;
    const { event_id: redactionId } = await this.request<{ event_id: string }>(
      'PUT',
      `/_matrix/client/v3/rooms/${encodePathSegment(roomId)}/redact/${encodePathSegment(eventId)}/${txnId}`,
      reason !== undefined ? { reason } : {},
    );
    return redactionId;
  }

  /** All current state events of a room, in client format. */
  async roomState(roomId: RoomId): Promise<ClientEvent[]> {
    return await this.request<ClientEvent[]>('GET', `/_matrix/client/v3/rooms/${encodePathSegment(roomId)}/state`);
  }

  /** The current state event at (type, stateKey), or undefined if there is none. */
  async stateEvent(roomId: RoomId, type: string, stateKey: string): Promise<ClientEvent | undefined> {
    const state = await this.roomState(roomId);
    return state.find((event) => event.type === type && event.state_key === stateKey);
  }

  /** A user's room membership (`join`, `invite`, `leave`, …) as the room state says, or undefined. */
  async membershipOf(roomId: RoomId, userId: string): Promise<string | undefined> {
    const event = await this.stateEvent(roomId, 'm.room.member', userId);
    const membership = (event?.content as { membership?: unknown } | undefined)?.membership;
    return typeof membership === 'string' ? membership : undefined;
  }

  /** Asks the homeserver for an OpenID token that third parties can check via federation userinfo. */
  async requestOpenIdToken(): Promise<OpenIdToken> {
    return await this.request<OpenIdToken>(
      'POST',
      `/_matrix/client/v3/user/${encodePathSegment(this.userId)}/openid/request_token`,
      {},
    );
  }
}

/** Percent-encodes one path segment (room ids, user ids, event types, state keys). */
export function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment);
}

function statePath(roomId: RoomId, type: string, stateKey: string): string {
  return `/_matrix/client/v3/rooms/${encodePathSegment(roomId)}/state/${encodePathSegment(type)}/${encodePathSegment(stateKey)}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
