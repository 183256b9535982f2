// Mint and verify the SFU's admission JWT (jose). Claims: iss, aud (this SFU),
// sub (the LiveKit identity `{user}:{device}`), user (Matrix user), device, room,
// membership id, jti, iat/nbf/exp with a lifetime of at most 5 minutes, and the
// LiveKit grant `video: {room, roomJoin, canPublish, canSubscribe}` that Element
// Call reads (it decodes the payload without verifying it). Tokens minted before
// `user` existed carry the Matrix user in `sub`; verify() reads both. Verification pins the algorithm and the kid,
// so `alg: none`, HS256-with-our-public-key and foreign keys all fail.

import { randomUUID } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { AdmissionError } from './errors.ts';
import type { SigningKey } from './JwtKeys.ts';

/** The typed claims of an admission token. */
export interface SfuTokenClaims {
  readonly iss: string;
  readonly aud: string;
  /** Matrix user id. */
  readonly sub: string;
  /** Matrix device id. */
  readonly device: string;
  /** Matrix room id. */
  readonly room: string;
  /** Call membership id (`membershipID` or `{user}:{device}`). */
  readonly membership: string;
  readonly jti: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  /** LiveKit identity (`{user}:{device}`, the participant id). */
  readonly identity: string;
  /** LiveKit grant: may publish (the membership's active focus is this SFU). */
  readonly canPublish: boolean;
  /** LiveKit grant: may subscribe. */
  readonly canSubscribe: boolean;
}

/** The LiveKit grant of a token (`video` claim). Default: publish and subscribe. */
export interface LiveKitGrant {
  readonly canPublish: boolean;
  readonly canSubscribe: boolean;
}

/** Options of SfuTokenService. */
export interface SfuTokenServiceOptions {
  /** Current signing key (also verifies). */
  readonly key: SigningKey;
  /** Issuer and audience: this SFU's public URL. */
  readonly issuer: string;
  readonly audience: string;
  readonly lifetimeMs: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

function stringClaim(payload: JWTPayload, name: string): string {
  const value = payload[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > 512) {
    throw new AdmissionError('jwt_bad_claims', `claim ${name} missing or invalid`);
  }
  return value;
}

/** Mints and verifies admission JWTs. */
export class SfuTokenService {
  readonly #options: SfuTokenServiceOptions;
  readonly #now: () => number;

  constructor(options: SfuTokenServiceOptions) {
    if (options.lifetimeMs > 300_000) throw new TypeError('token lifetime must be at most 5 minutes');
    this.#options = options;
    this.#now = options.now ?? (() => Date.now());
  }

  /** Signs a token for one device's membership in one room. */
  async mint(subject: {
    userId: string;
    deviceId: string;
    roomId: string;
    membershipId: string;
    grant?: LiveKitGrant;
  }): Promise<{ jwt: string; claims: SfuTokenClaims }> {
    const { key, issuer, audience, lifetimeMs } = this.#options;
    const iat = Math.floor(this.#now() / 1000);
    const grant = subject.grant ?? { canPublish: true, canSubscribe: true };
    const identity = `${subject.userId}:${subject.deviceId}`;
    const claims: SfuTokenClaims = {
      iss: issuer,
      aud: audience,
      sub: subject.userId,
      device: subject.deviceId,
      room: subject.roomId,
      membership: subject.membershipId,
      jti: randomUUID(),
      iat,
      nbf: iat,
      exp: iat + Math.floor(lifetimeMs / 1000),
      identity,
      canPublish: grant.canPublish,
      canSubscribe: grant.canSubscribe,
    };
    const jwt = await new SignJWT({
      user: claims.sub,
      device: claims.device,
      room: claims.room,
      membership: claims.membership,
      video: { room: claims.room, roomJoin: true, canPublish: grant.canPublish, canSubscribe: grant.canSubscribe },
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(claims.iss)
      .setAudience(claims.aud)
      .setSubject(identity)
      .setJti(claims.jti)
      .setIssuedAt(claims.iat)
      .setNotBefore(claims.nbf)
      .setExpirationTime(claims.exp)
      .sign(key.privateKey);
    return { jwt, claims };
  }

  /** Verifies signature (pinned algorithm and kid), time window, issuer, audience and claim types. */
  async verify(jwt: string): Promise<SfuTokenClaims> {
    const { key, issuer, audience } = this.#options;
    if (jwt.length > 4096) throw new AdmissionError('jwt_malformed', 'token too long');
    let header;
    try {
      header = decodeProtectedHeader(jwt);
    } catch (error) {
      throw new AdmissionError('jwt_malformed', 'token header cannot be decoded', { cause: error });
    }
    if (header.alg !== key.alg) throw new AdmissionError('jwt_bad_algorithm', `algorithm ${String(header.alg)} refused`);
    if (header.kid !== key.kid) throw new AdmissionError('jwt_unknown_kid', 'unknown key id');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(jwt, key.publicKey, {
        algorithms: [key.alg],
        issuer,
        audience,
        currentDate: new Date(this.#now()),
        requiredClaims: ['iss', 'aud', 'sub', 'jti', 'exp', 'nbf', 'iat'],
      }));
    } catch (error) {
      throw mapJoseError(error);
    }
    const iat = payload.iat!;
    const exp = payload.exp!;
    if (exp - iat > 300) throw new AdmissionError('jwt_bad_claims', 'token lifetime above 5 minutes');
    const device = stringClaim(payload, 'device');
    const subject = stringClaim(payload, 'sub');
    const user = payload['user'] === undefined ? subject : stringClaim(payload, 'user');
    if (payload['user'] !== undefined && subject !== `${user}:${device}`) throw new AdmissionError('jwt_bad_claims', 'sub is not {user}:{device}');
    const video = payload['video'];
    const grant = typeof video === 'object' && video !== null ? (video as Record<string, unknown>) : {};
    return {
      iss: stringClaim(payload, 'iss'),
      aud: audience,
      sub: user,
      identity: `${user}:${device}`,
      canPublish: grant['canPublish'] !== false,
      canSubscribe: grant['canSubscribe'] !== false,
      device,
      room: stringClaim(payload, 'room'),
      membership: stringClaim(payload, 'membership'),
      jti: stringClaim(payload, 'jti'),
      iat,
      nbf: payload.nbf!,
      exp,
    };
  }
}

function mapJoseError(error: unknown): AdmissionError {
  if (error instanceof joseErrors.JWTExpired) return new AdmissionError('jwt_expired', 'token expired', { cause: error });
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' || error.claim === 'iat') {
      return new AdmissionError('jwt_not_yet_valid', `claim ${error.claim} in the future`, { cause: error });
    }
    if (error.claim === 'aud') return new AdmissionError('jwt_wrong_audience', 'wrong audience', { cause: error });
    if (error.claim === 'iss') return new AdmissionError('jwt_wrong_issuer', 'wrong issuer', { cause: error });
    return new AdmissionError('jwt_bad_claims', `claim ${error.claim} invalid (${error.reason})`, { cause: error });
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new AdmissionError('jwt_bad_signature', 'signature invalid', { cause: error });
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return new AdmissionError('jwt_bad_algorithm', 'algorithm not allowed', { cause: error });
  }
  return new AdmissionError('jwt_malformed', 'token invalid', { cause: error });
}
