// Issues TURN credentials with every admission (both edges) and tells a relayed ICE tuple
// from a direct one. Built once at start from `turn.*`: the shared secret is read from
// `turn.sharedSecretFile` then and kept in memory only (rotating it needs a restart, with
// coturn's `static-auth-secret` changed at the same time). Credentials and the secret are
// never logged; the logger sees counts and URLs only.

import { readFileSync } from 'node:fs';
import type { Config } from '../config/types.ts';
import { turnIdentity, turnRestCredential } from './credentials.ts';
import { normaliseIp, parseSharedSecret, relayAddressesOf } from './turnConfig.ts';

/** An ICE server as RTCIceServer and LiveKit's ICEServer take it. */
export interface IceServer {
  readonly urls: readonly string[];
  readonly username: string;
  readonly credential: string;
}

/** Which edge a credential was issued for (metric label). */
export type TurnEdge = 'native' | 'livekit';

/** Options of a TurnService. */
export interface TurnServiceOptions {
  readonly urls: readonly string[];
  readonly secret: string;
  readonly credentialLifetimeMs: number;
  readonly relayAddresses: ReadonlySet<string>;
  /** Called once per issued credential (metrics). */
  readonly onIssued?: (edge: TurnEdge) => void;
  /** Clock. Default Date.now. */
  readonly now?: () => number;
}

/** The secret file could not be used; the message names the key and never the content. */
export class TurnConfigError extends Error {
  override readonly name = 'TurnConfigError';
}

/** TURN credentials for admitted participants. */
export class TurnService {
  readonly #options: TurnServiceOptions;
  #onIssued: ((edge: TurnEdge) => void) | undefined;

  /**
   * The service for `config.turn`, or undefined while `turn.urls` is empty (TURN off).
   * @throws {TurnConfigError} when `turn.sharedSecretFile` cannot be read or holds no usable secret.
   */
  static fromConfig(turn: Config['turn'], readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): TurnService | undefined {
    if (turn.urls.length === 0) return undefined;
    let content: string;
    try {
      content = readFile(turn.sharedSecretFile);
    } catch (error) {
      throw new TurnConfigError(`turn.sharedSecretFile: cannot read ${turn.sharedSecretFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const secret = parseSharedSecret(content);
    if (typeof secret !== 'string') throw new TurnConfigError(`turn.sharedSecretFile: ${secret.fault}`);
    return new TurnService({
      urls: turn.urls,
      secret,
      credentialLifetimeMs: turn.credentialLifetimeMs,
      relayAddresses: relayAddressesOf(turn.urls, turn.relayAddresses),
    });
  }

  constructor(options: TurnServiceOptions) {
    this.#options = options;
    this.#onIssued = options.onIssued;
  }

  /** The configured URLs (no secrets). */
  get urls(): readonly string[] {
    return this.#options.urls;
  }

  /** Addresses that mark a relayed tuple. */
  get relayAddresses(): ReadonlySet<string> {
    return this.#options.relayAddresses;
  }

  /** Sets the per-credential callback (metrics), replacing the one given at construction. */
  onIssued(callback: (edge: TurnEdge) => void): void {
    this.#onIssued = callback;
  }

  /** Fresh ICE servers for one participant (one entry carrying every URL). */
  issue(participantId: string, edge: TurnEdge): IceServer[] {
    const { urls, secret, credentialLifetimeMs } = this.#options;
    const now = (this.#options.now ?? Date.now)();
    const { username, credential } = turnRestCredential(secret, turnIdentity(participantId), now, credentialLifetimeMs);
    this.#onIssued?.(edge);
    return [{ urls: [...urls], username, credential }];
  }

  /** Whether a remote ICE address (mediasoup's iceSelectedTuple.remoteIp) is one of our relays. */
  isRelayAddress(ip: string): boolean {
    return this.#options.relayAddresses.has(normaliseIp(ip));
  }
}
