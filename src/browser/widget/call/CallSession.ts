// One call from joining to leaving, as the UI sees it: publishes the membership, opens the
// camera and microphone while admission and signalling run (in parallel, to shorten the
// time to the first frame), publishes them, and turns everything the SFU and Matrix say into
// tiles (names from Matrix member state, never from the SFU), local state, and notices.
// Leaving closes the media, empties the membership and stops the devices, in that order.

import { TypedEmitter } from '../../../common/lib/TypedEmitter.ts';
import type { ClientLogger } from '../../client/types.ts';
import type { SfuClient } from '../../client/SfuClient.ts';
import type { MediaPath } from '../../client/mediaPath.ts';
import { WidgetError } from '../errors.ts';
import type { MessageKey } from '../i18n/index.ts';
import type { LocalMedia } from './LocalMedia.ts';
import { RemoteParticipants } from './RemoteParticipants.ts';
import { SfuConnection } from './SfuConnection.ts';
import { endsQuietly } from './closePolicy.ts';
import type { CallBackend, ConnectionState, E2eeStatusSource, LocalState, RemoteAudio, TileModel } from './types.ts';

/** Events of CallSession. */
export type CallSessionEvents = {
  /** Tiles, local state or connection state changed. */
  changed: [];
  /** A problem worth telling that does not end the call (a device, screen sharing). */
  notice: [error: WidgetError];
  /** The call is over: `error` undefined after hang-up, else why it ended. */
  ended: [error: WidgetError | undefined];
};

/** Options of CallSession.start(). */
export interface CallSessionOptions {
  readonly backend: CallBackend;
  readonly e2ee: E2eeStatusSource;
  readonly media: LocalMedia;
  readonly logger: ClientLogger;
  /** Progress, for the joining screen. */
  readonly onStatus?: (key: MessageKey) => void;
  /** Aborts joining (hang-up while joining). */
  readonly signal?: AbortSignal;
  /** Microphone and camera on or off at the start (the lobby's choice). Default both on. */
  readonly initial?: { readonly micOn: boolean; readonly camOn: boolean };
}

/** The participant id of a device: `${userId}:${deviceId}` (the SFU's, from the JWT). */
export function participantIdOf(userId: string, deviceId: string): string {
  return `${userId}:${deviceId}`;
}

/** The user id in a participant id (device ids contain no colon). */
export function userIdOf(participantId: string): string {
  const cut = participantId.lastIndexOf(':');
  return cut > 0 && participantId.startsWith('@') ? participantId.slice(0, cut) : participantId;
}

/** A joined call. */
export class CallSession extends TypedEmitter<CallSessionEvents> {
  readonly #options: CallSessionOptions;
  readonly #connection: SfuConnection;
  readonly #remote: RemoteParticipants;
  readonly #selfId: string;
  readonly #cleanups: Array<() => void> = [];
  #state: ConnectionState = 'connected';
  /** The last media path of each transport direction (client `mediaPath` events). */
  readonly #paths = new Map<'send' | 'recv', MediaPath>();
  #micOn = true;
  #camOn = true;

  /**
   * Joins: membership, then (in parallel) devices and the SFU connection, then publishing.
   * On failure the membership is emptied again and the devices stopped.
   * @throws WidgetError of the step that failed.
   */
  static async start(options: CallSessionOptions): Promise<CallSession> {
    const { backend, media, onStatus } = options;
    onStatus?.('status.joiningRoom');
    await backend.joinCall();
    try {
      options.e2ee.start();
      onStatus?.('status.requestingAccess');
      const devices = media.start();
      let session: CallSession | undefined;
      const remote = new RemoteParticipants(() => {
        if (session) session.#changed();
      });
      const connection = await SfuConnection.open({
        backend,
        e2ee: options.e2ee,
        logger: options.logger,
        displayName: () => backend.displayName(backend.userId) ?? backend.userId,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(onStatus ? { onStatus } : {}),
      });
      onStatus?.('status.startingDevices');
      const deviceProblem = await devices;
      session = new CallSession(options, connection, remote);
      await session.#publishDevices();
      if (deviceProblem) queueMicrotask(() => session?.safeEmit('notice', deviceProblem));
      return session;
    } catch (error) {
      media.stopAll();
      options.e2ee.close();
      await backend.leaveCall().catch((leaveError: unknown) => options.logger.warn('leaving after a failed join failed', { error: String(leaveError) }));
      throw error;
    }
  }

  private constructor(options: CallSessionOptions, connection: SfuConnection, remote: RemoteParticipants) {
    super((event, error) => options.logger.warn('listener threw', { event, error: String(error) }));
    this.#options = options;
    this.#connection = connection;
    this.#remote = remote;
    this.#selfId = participantIdOf(options.backend.userId, options.backend.deviceId);
    this.#micOn = options.initial?.micOn ?? true;
    this.#camOn = options.initial?.camOn ?? true;
    const client = connection.client;
    if (client) this.#cleanups.push(remote.attach(client, client.peers), this.#watchMediaPath(client));
    connection.on('joined', (newClient, peers) => {
      this.#paths.clear();
      this.#cleanups.push(remote.attach(newClient, peers), this.#watchMediaPath(newClient));
      this.#changed();
    });
    connection.on('reconnecting', () => this.#setState('reconnecting'));
    connection.on('reconnected', () => this.#setState('connected'));
    connection.on('closed', (error) => void this.#end(error));
    this.#cleanups.push(options.backend.onRoomChanged(() => this.#changed()));
    this.#cleanups.push(options.e2ee.onChange(() => this.#changed()));
    options.media.on('screenEnded', () => void this.#stopSharing());
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /**
   * How media gets through: `relay` (a TURN server relays at least one direction), `failed`
   * (ICE failed: neither directly nor through a relay), `direct`, or undefined before the
   * transports connected.
   */
  get mediaPath(): MediaPath | undefined {
    const paths = [...this.#paths.values()];
    if (paths.includes('failed')) return 'failed';
    if (paths.includes('relay')) return 'relay';
    return paths.length > 0 ? 'direct' : undefined;
  }

  #watchMediaPath(client: SfuClient): () => void {
    const listener = ({ direction, path }: { direction: 'send' | 'recv'; path: MediaPath }): void => {
      this.#paths.set(direction, path);
      this.#changed();
    };
    client.on('mediaPath', listener);
    return () => client.off('mediaPath', listener);
  }

  /** This device's camera, microphone and screen (device lists, choices). */
  get media(): LocalMedia {
    return this.#options.media;
  }

  /** Whether media is end-to-end encrypted. */
  get e2eeEnabled(): boolean {
    return this.#options.e2ee.enabled;
  }

  /** Our own participant id. */
  get selfId(): string {
    return this.#selfId;
  }

  /** What this device sends. */
  get local(): LocalState {
    const media = this.#options.media;
    return {
      hasMicrophone: media.microphone !== undefined,
      hasCamera: media.camera !== undefined,
      micOn: this.#micOn && media.microphone !== undefined,
      camOn: this.#camOn && media.camera !== undefined,
      sharing: media.screen !== undefined,
      canShare: media.canShareScreen,
    };
  }

  /** Tiles: shared screens first, then the others in join order, then ourselves. */
  get tiles(): TileModel[] {
    const { backend, e2ee, media } = this.#options;
    const speaker = this.#remote.speaker;
    const screens: TileModel[] = [];
    const people: TileModel[] = [];
    for (const peer of this.#remote.peers) {
      const name = backend.displayName(userIdOf(peer.participantId)) ?? peer.sfuName;
      const camera = this.#remote.find(peer.participantId, 'camera');
      const microphone = this.#remote.find(peer.participantId, 'microphone');
      const screen = this.#remote.find(peer.participantId, 'screen');
      const badge = e2ee.stateOf(peer.participantId);
      const base = { participantId: peer.participantId, name, isSelf: false, e2ee: badge };
      people.push({ ...base, key: peer.participantId, kind: 'camera', video: camera && !camera.paused ? camera.track : undefined, audioMuted: !microphone || microphone.paused, speaking: speaker === peer.participantId });
      if (screen) screens.push({ ...base, key: `${peer.participantId}#screen`, kind: 'screen', video: screen.paused ? undefined : screen.track, audioMuted: true, speaking: false });
    }
    const selfName = backend.displayName(backend.userId) ?? backend.userId;
    const local = this.local;
    const self = { participantId: this.#selfId, name: selfName, isSelf: true, e2ee: e2ee.enabled ? ('present' as const) : ('off' as const) };
    if (media.screen) screens.push({ ...self, key: `${this.#selfId}#screen`, kind: 'screen', video: media.screen, audioMuted: true, speaking: false });
    people.push({ ...self, key: this.#selfId, kind: 'camera', video: local.camOn ? media.camera : undefined, audioMuted: !local.micOn, speaking: speaker === this.#selfId });
    return [...screens, ...people];
  }

  /** Remote microphones (and screen audio) to play. */
  get audio(): RemoteAudio[] {
    const tracks: RemoteAudio[] = [];
    for (const peer of this.#remote.peers) for (const state of peer.tracks.values()) if (state.kind === 'audio') tracks.push({ consumerId: state.consumerId, track: state.track });
    return tracks;
  }

  /** Turns the microphone on or off (others see the muted icon). */
  async toggleMicrophone(): Promise<void> {
    if (!this.#options.media.microphone) return this.#reopen('audio');
    this.#micOn = !this.#micOn;
    this.#changed();
    await this.#connection.setPaused('microphone', !this.#micOn);
  }

  /** Turns the camera on or off. */
  async toggleCamera(): Promise<void> {
    if (!this.#options.media.camera) return this.#reopen('video');
    this.#camOn = !this.#camOn;
    this.#changed();
    await this.#connection.setPaused('camera', !this.#camOn);
  }

  /** Switches to another microphone or camera; its on/off state is kept. */
  async switchDevice(kind: 'audio' | 'video', deviceId: string): Promise<void> {
    await this.#reopen(kind, deviceId);
  }

  /** Starts or stops sharing the screen. */
  async toggleScreenShare(): Promise<void> {
    const media = this.#options.media;
    if (media.screen) return this.#stopSharing();
    try {
      const track = await media.startScreen();
      if (!track) return;
      this.#changed();
      await this.#connection.setTrack('screen', track);
    } catch (error) {
      media.stopScreen();
      this.#changed();
      this.safeEmit('notice', error instanceof WidgetError ? error : new WidgetError('SCREEN_SHARE_FAILED', 'screen share failed', { cause: error }));
    }
  }

  /** Leaves: media, then membership, then devices. Idempotent. */
  async hangUp(): Promise<void> {
    await this.#end(undefined);
  }

  async #reopen(kind: 'audio' | 'video', deviceId?: string): Promise<void> {
    const source = kind === 'audio' ? 'microphone' : 'camera';
    try {
      const { track, previous } = await this.#options.media.open(kind, deviceId);
      const on = deviceId === undefined ? true : kind === 'audio' ? this.#micOn : this.#camOn;
      if (kind === 'audio') this.#micOn = on;
      else this.#camOn = on;
      await this.#connection.setTrack(source, track, !on);
      previous?.stop();
    } catch (error) {
      this.safeEmit('notice', error instanceof WidgetError ? error : new WidgetError('MEDIA_FAILED', 'device failed', { cause: error }));
    }
    this.#changed();
  }

  async #publishDevices(): Promise<void> {
    const { media } = this.#options;
    // A device the person turned off in the lobby is published paused: turning it on is then a resume.
    if (media.microphone) await this.#connection.setTrack('microphone', media.microphone, !this.#micOn);
    if (media.camera) await this.#connection.setTrack('camera', media.camera, !this.#camOn);
    this.#changed();
  }

  async #stopSharing(): Promise<void> {
    this.#options.media.stopScreen();
    this.#changed();
    await this.#connection.setTrack('screen', undefined);
  }

  async #end(error: WidgetError | undefined): Promise<void> {
    if (this.#state === 'leaving' || this.#state === 'left' || this.#state === 'failed') return;
    this.#setState('leaving');
    const { backend, media, e2ee, logger } = this.#options;
    await this.#connection.close().catch((closeError: unknown) => logger.warn('closing the media failed', { error: String(closeError) }));
    // Replaced (4005): the same device joined again elsewhere and owns the membership now.
    if (!endsQuietly(error)) {
      await backend.leaveCall().catch((leaveError: unknown) => logger.warn('emptying the membership failed', { error: String(leaveError) }));
    }
    media.stopAll();
    e2ee.close();
    for (const cleanup of this.#cleanups.splice(0)) cleanup();
    this.#remote.clear();
    this.#setState(error ? 'failed' : 'left');
    this.safeEmit('ended', error);
  }

  #setState(state: ConnectionState): void {
    this.#state = state;
    this.#changed();
  }

  #changed(): void {
    this.safeEmit('changed');
  }
}
