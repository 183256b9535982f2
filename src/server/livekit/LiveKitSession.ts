// One LiveKit signalling connection (/rtc, two PeerConnections) driving one
// ParticipantHandle. Every frame is decoded (wire.ts) or counted as a fault;
// every request and every handle event runs in this session's queue, so SDP
// negotiation never interleaves. The publisher PC is primary: the client offers
// (data channels first, then each track after AddTrack → TrackPublished) and we
// answer on a send transport (PublisherLink); the subscriber PC gets our offers
// (SubscriberLink). Remote participants reach the client as ParticipantUpdates
// before their tracks' offers, so livekit-client knows the owner of every track.
// A socket that drops without a leave is held for a grace period (SignalChannel): the
// participant stays in its conference and a `reconnect=1` connect resumes it (resume()).
// Simulcast publishers hear which layers anyone needs (Dynacast).
// Nothing here throws into ws; the node never crashes on a client's input.

import type { WebSocket } from 'ws';
import { AsyncQueue } from '../../common/lib/AsyncQueue.ts';
import { errorMessage } from '../../common/lib/errors.ts';
import type { Logger } from '../../common/lib/logger.ts';
import type { ConferenceRegistry } from '../conference/ConferenceRegistry.ts';
import type { ParticipantHandle } from '../conference/ParticipantHandle.ts';
import type { ConsumerInfo } from '../conference/types.ts';
import type { RtpCapabilities } from '../media/types.ts';
import {
  ClientConfigSetting,
  ClientConfiguration,
  DisconnectReason,
  ICEServer,
  JoinResponse,
  LeaveRequest,
  LeaveRequest_Action,
  Pong,
  ReconnectResponse,
  Room,
  ServerInfo,
  ServerInfo_Edition,
  SessionDescription,
  UpdateTrackSettings,
} from '@livekit/protocol';
import type { LiveKitTicket } from './LiveKitAdmission.ts';
import { SubscriberLink } from './SubscriberLink.ts';
import { PublisherLink } from './PublisherLink.ts';
import { DataEndpoint, type DataRelay } from './DataRelay.ts';
import { Dynacast } from './Dynacast.ts';
import { SignalChannel } from './SignalChannel.ts';
import { RemoteParticipants } from './RemoteParticipants.ts';
import { LEAVE_FOR, MAX_QUEUED_REQUESTS, preferredSpatialLayer, spatialLayerCount, type LiveKitSessionSettings } from './policy.ts';
import type { TrackDirectory } from './TrackDirectory.ts';
import {
  ParticipantInfo_State,
  SERVER_PROTOCOL,
  SERVER_VERSION,
  decodeRequest,
  nextParticipantVersion,
  participantInfo,
  participantSid,
  roomSid,
  type ParticipantView,
  type Request,
} from './wire.ts';
import type { SignalResponse } from '@livekit/protocol';
import { RateLimiter } from '../signalling/RateLimiter.ts';

/** Options of a LiveKitSession. */
export interface LiveKitSessionOptions {
  readonly socket: WebSocket;
  readonly ticket: LiveKitTicket;
  readonly registry: ConferenceRegistry;
  readonly directory: TrackDirectory;
  readonly settings: LiveKitSessionSettings;
  readonly logger: Logger;
  readonly onClosed: (session: LiveKitSession) => void;
  /** A socket dropped without a leave ended in a resume, or in a leave when the grace ran out. */
  readonly onResume?: (outcome: 'resumed' | 'expired') => void;
  /** Relays data packets between the LiveKit participants of a conference (DataRelay.ts). */
  readonly dataRelay?: DataRelay;
}

/** One LiveKit client connection. */
export class LiveKitSession {
  readonly #options: LiveKitSessionOptions;
  readonly #channel: SignalChannel;
  readonly #dynacast: Dynacast;
  #ticket: LiveKitTicket;
  readonly #log: Logger;
  /** What the client is told about the others (views, speaker, connection quality). */
  readonly #others: RemoteParticipants;
  readonly #queue = new AsyncQueue('livekit-session');
  /** Filled from the router's capabilities inside the join task (the core reads it only when consuming). */
  readonly #capabilities: RtpCapabilities = { codecs: [], headerExtensions: [] };
  #self: ParticipantView | undefined;
  #handle: ParticipantHandle | undefined;
  #subscriber: SubscriberLink | undefined;
  #data: DataEndpoint | undefined;
  #publisher: PublisherLink | undefined;
  #faults = 0;
  #goneForGood = false;
  #closed = false;
  #timers: NodeJS.Timeout[] = [];
  #unwatch: (() => void) | undefined;
  readonly #rate: RateLimiter;

  constructor(options: LiveKitSessionOptions) {
    this.#options = options;
    this.#ticket = options.ticket;
    this.#log = options.logger.child({ component: 'livekit', participantId: options.ticket.participantId });
    this.#rate = new RateLimiter(options.settings.ratePerSecond, options.settings.rateBurst);
    this.#channel = new SignalChannel({
      socket: options.socket,
      pingIntervalS: options.settings.pingIntervalS,
      pingTimeoutS: options.settings.pingTimeoutS,
      logger: this.#log,
      onFrame: (data, isBinary) => this.#onFrame(data, isBinary),
      onDropped: () => this.#dropped(),
      onGraceExpired: () => {
        this.#log.info('livekit resume grace expired; leaving');
        this.#options.onResume?.('expired');
        this.#goneForGood = true;
        this.#close(1000, 'resume grace expired');
      },
    });
    this.#others = new RemoteParticipants({
      conferenceId: options.ticket.conferenceId,
      selfId: options.ticket.participantId,
      selfSid: () => this.#self?.sid,
      directory: options.directory,
      send: (message) => this.#respond(message),
      attached: () => this.#channel.attached,
      consumerIdOfTrack: (trackSid) => this.#subscriber?.consumerOfTrack(trackSid)?.consumerId,
    });
    this.#dynacast = new Dynacast({
      pauseMs: options.settings.dynacastPauseMs,
      send: (update) => this.#respond({ case: 'subscribedQualityUpdate', value: update }),
      logger: this.#log,
    });
    this.#queue.push(() => this.#start()).catch((error: unknown) => {
      this.#log.warn('livekit join failed', { error: errorMessage(error) });
      this.#leave({ reason: DisconnectReason.JOIN_FAILURE, action: LeaveRequest_Action.DISCONNECT }, 'join failed');
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The admission ticket of the current connection (a resume brings a new one). */
  get ticket(): LiveKitTicket {
    return this.#ticket;
  }

  /**
   * The member left this call for good: it sent `leave`, or its socket dropped and the
   * resume grace ran out. False for every other end (eviction, replacement, a reconnect the
   * server asked for, faults), after which the member's membership must stay as it is.
   */
  get goneForGood(): boolean {
    return this.#goneForGood;
  }

  /** The participant sid clients know this session by (`sid` of a resume). */
  get sid(): string | undefined {
    return this.#self?.sid;
  }

  /** Ends the session from outside (eviction, shutdown): LeaveRequest, then close. */
  end(reason: DisconnectReason, action: LeaveRequest_Action = LeaveRequest_Action.DISCONNECT, closeReason = 'ended'): void {
    this.#leave({ reason, action }, closeReason);
  }

  async #start(): Promise<void> {
    const { ticket, registry, settings } = this.#options;
    const handle = await registry.join(
      ticket.conferenceId,
      { participantId: ticket.participantId, displayName: ticket.name, rtpCapabilities: this.#capabilities, autoSubscribe: true, edge: 'livekit' },
      (h) => {
        Object.assign(this.#capabilities, structuredClone(h.rtpCapabilities()));
        this.#listen(h);
      },
    );
    if (this.#closed) {
      handle.close('disconnected');
      return;
    }
    this.#handle = handle;
    this.#self = {
      sid: participantSid(ticket.conferenceId, ticket.participantId),
      identity: ticket.identity,
      name: ticket.name,
      joinedAtMs: Date.now(),
      version: nextParticipantVersion(),
      state: ParticipantInfo_State.ACTIVE,
      tracks: new Map(),
      canPublish: ticket.canPublish,
    };
    if (this.#options.dataRelay) {
      this.#data = new DataEndpoint({
        relay: this.#options.dataRelay,
        conferenceId: handle.conferenceId,
        sender: { identity: handle.id, sid: this.#self.sid },
        canPublish: this.#self.canPublish,
        onFault: (why) => this.#fault('data channel message refused', why),
        logger: this.#log,
      });
    }
    const self = this.#self;
    this.#publisher = new PublisherLink({
      handle,
      participantId: ticket.participantId,
      canPublish: () => this.#ticket.canPublish,
      directory: this.#options.directory,
      dynacast: this.#dynacast,
      data: this.#data,
      ownTracks: () => self.tracks,
      respond: (message) => this.#respond(message),
      fault: (what, error) => this.#fault(what, error),
      log: this.#log,
    });
    for (const peer of handle.peers) this.#others.viewOf(peer);
    this.#respond({
      case: 'join',
      value: new JoinResponse({
        room: new Room({ sid: roomSid(ticket.conferenceId), name: ticket.roomName, numParticipants: handle.peers.length + 1 }),
        participant: participantInfo(this.#self),
        otherParticipants: this.#others.infos(),
        serverVersion: SERVER_VERSION,
        serverInfo: new ServerInfo({ edition: ServerInfo_Edition.Standard, version: SERVER_VERSION, protocol: SERVER_PROTOCOL, nodeId: 'matrix-sfu' }),
        iceServers: (settings.iceServers?.(ticket.participantId) ?? []).map((s) => new ICEServer({ urls: [...s.urls], username: s.username, credential: s.credential })),
        subscriberPrimary: false,
        // A dropped signalling socket is resumed (resume()) unless the grace period is 0.
        clientConfiguration: this.#clientConfiguration(),
        pingInterval: settings.pingIntervalS,
        pingTimeout: settings.pingTimeoutS,
      }),
    });
    if (ticket.watch) {
      this.#unwatch = ticket.watch((reason) => {
        this.#log.info('livekit session evicted', { reason });
        this.#leave({ reason: DisconnectReason.PARTICIPANT_REMOVED, action: LeaveRequest_Action.DISCONNECT }, `evicted: ${reason}`, true);
      });
    }
    this.#subscriber = new SubscriberLink(
      handle,
      ({ sdp, id, midToTrackId }) => this.#respond({ case: 'offer', value: new SessionDescription({ type: 'offer', sdp, id, midToTrackId }) }),
      this.#log,
    );
    this.#subscriber.attach(await handle.createTransport({ direction: 'recv' }));
    this.#startTimers();
  }

  #clientConfiguration(): ClientConfiguration {
    return new ClientConfiguration({ resumeConnection: this.#options.settings.resumeGraceMs > 0 ? ClientConfigSetting.ENABLED : ClientConfigSetting.DISABLED });
  }

  #refreshToken(): Promise<void> {
    return (this.#ticket.refresh?.() ?? Promise.resolve(undefined))
      .then((token) => {
        if (token !== undefined) this.#respond({ case: 'refreshToken', value: token });
      })
      .catch((error: unknown) => this.#log.warn('token refresh failed', { error: errorMessage(error) }));
  }

  #startTimers(): void {
    const { settings, ticket } = this.#options;
    if (ticket.refresh && settings.refreshIntervalMs > 0) {
      const refresh = () => void this.#refreshToken();
      refresh();
      const timer = setInterval(refresh, settings.refreshIntervalMs);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  #listen(handle: ParticipantHandle): void {
    handle.on('peerJoined', (peer) => this.#task('peerJoined', () => this.#others.update(this.#others.viewOf(peer))));
    handle.on('peerLeft', (participantId) => this.#task('peerLeft', () => this.#others.left(participantId)));
    handle.on('consumerCreated', (consumer) => this.#task('consumerCreated', () => this.#consumerCreated(consumer)));
    handle.on('consumerClosed', (consumerId) =>
      this.#task('consumerClosed', () => {
        const consumer = this.#subscriber?.remove(consumerId);
        if (!consumer) return;
        this.#options.directory.forget(consumer.producerId);
        this.#others.trackClosed(consumer.participantId, consumer.producerId);
      }),
    );
    handle.on('consumerPaused', (consumerId) => this.#task('consumerPaused', () => this.#others.muted(consumerId, true)));
    handle.on('consumerResumed', (consumerId) => this.#task('consumerResumed', () => this.#others.muted(consumerId, false)));
    handle.on('activeSpeaker', (participantId) => this.#task('activeSpeaker', () => this.#others.activeSpeaker(participantId)));
    handle.on('consumerScore', (consumerId, _score, producerScore) => this.#task('consumerScore', () => this.#others.connectionQuality(consumerId, producerScore)));
    handle.on('producerDemand', (producerId, demand) => this.#dynacast.demand(producerId, demand));
    handle.on('mediaReset', () =>
      this.#leave({ reason: DisconnectReason.MIGRATION, action: LeaveRequest_Action.RECONNECT }, 'media reset: reconnect'),
    );
    handle.on('close', (reason) => {
      if (reason === 'left' || reason === 'disconnected' || reason === 'evicted') return;
      this.#leave(LEAVE_FOR[reason], reason);
    });
  }

  #consumerCreated(consumer: ConsumerInfo): void {
    const view = this.#others.viewOf({ participantId: consumer.participantId, displayName: consumer.participantId, publications: [] });
    const info = this.#options.directory.infoFor({
      producerId: consumer.producerId,
      participantId: consumer.participantId,
      kind: consumer.kind,
      source: consumer.source,
      paused: consumer.producerPaused,
      mimeType: consumer.rtpParameters.codecs[0]?.mimeType,
      encrypted: consumer.encrypted,
    });
    info.muted = consumer.producerPaused;
    view.tracks.set(consumer.producerId, info);
    this.#others.update(view);
    this.#subscriber?.add(consumer, `${view.sid}|${info.sid}`, info.sid);
  }

  #onFrame(data: Buffer, isBinary: boolean): void {
    if (this.#closed) return;
    let request: Request;
    try {
      request = decodeRequest(data, isBinary, this.#options.settings.maxFrameBytes);
    } catch (error) {
      this.#fault('frame refused', error);
      return;
    }
    if (request.case === 'ping' || request.case === 'pingReq') {
      // Answered at once, outside the queue: a long negotiation must not look like a dead link.
      this.#channel.touch();
      if (request.case === 'ping') this.#respond({ case: 'pong', value: request.value });
      else this.#respond({ case: 'pongResp', value: new Pong({ lastPingTimestamp: request.value.timestamp, timestamp: BigInt(Date.now()) }) });
      return;
    }
    if (!this.#rate.take()) {
      this.#fault('request over the rate limit, dropped', undefined);
      return;
    }
    if (this.#queue.pending >= MAX_QUEUED_REQUESTS) {
      this.#fault('too many queued requests, dropped', undefined);
      return;
    }
    this.#task(request.case, () => this.#handle_(request));
  }

  async #handle_(request: Request): Promise<void> {
    const handle = this.#handle;
    if (!handle) return;
    switch (request.case) {
      case 'offer':
        return this.#publisher?.offer(request.value);
      case 'answer':
        return this.#subscriber?.answered(request.value.sdp, request.value.id);
      case 'trickle':
        // ICE-lite: our candidates are in our SDP; the client's are found by connectivity checks.
        return;
      case 'addTrack':
        return this.#publisher?.addTrack(request.value);
      case 'mute':
        return this.#publisher?.mute(request.value.sid, request.value.muted);
      case 'trackSetting':
        return this.#trackSettings(handle, request.value);
      case 'subscription':
        for (const trackSid of request.value.trackSids) {
          const consumer = this.#subscriber?.consumerOfTrack(trackSid);
          if (consumer) await (request.value.subscribe ? handle.resumeConsumer(consumer.consumerId) : handle.pauseConsumer(consumer.consumerId));
        }
        return;
      case 'leave':
        await handle.leave();
        this.#goneForGood = true;
        this.#close(1000, 'client left');
        return;
      default:
        this.#log.debug('livekit request ignored', { request: request.case });
    }
  }

  /**
   * UpdateTrackSettings (adaptive stream, setVideoQuality): `disabled` pauses the consumer;
   * otherwise it resumes, and a simulcast consumer gets the preferred spatial layer for the
   * requested size (the smallest layer at least as wide as the element, from the publisher's
   * announced layers) or for `quality` (LOW = lowest, MEDIUM = middle, HIGH = highest).
   */
  async #trackSettings(handle: ParticipantHandle, settings: UpdateTrackSettings): Promise<void> {
    for (const trackSid of settings.trackSids.slice(0, 64)) {
      const consumer = this.#subscriber?.consumerOfTrack(trackSid);
      if (!consumer) continue;
      if (settings.disabled) {
        await handle.pauseConsumer(consumer.consumerId);
        continue;
      }
      await handle.resumeConsumer(consumer.consumerId);
      if (consumer.type !== 'simulcast') continue;
      const spatialLayers = spatialLayerCount(consumer.rtpParameters.encodings?.[0]?.scalabilityMode);
      const info = this.#options.directory.infoFor({
        producerId: consumer.producerId,
        participantId: consumer.participantId,
        kind: consumer.kind,
        source: consumer.source,
        paused: false,
      });
      await handle.setConsumerPreferredLayers(consumer.consumerId, { spatialLayer: preferredSpatialLayer(settings, info, spatialLayers) });
    }
  }

  #task(what: string, task: () => Promise<void> | void): void {
    if (this.#closed) return;
    this.#queue.push(task).catch((error: unknown) => {
      if (this.#closed) return;
      this.#fault(`${what} failed`, error);
    });
  }

  #fault(what: string, error: unknown): void {
    this.#faults++;
    this.#log.info('livekit client fault', { what, error: error === undefined ? undefined : errorMessage(error), faults: this.#faults });
    if (this.#faults > this.#options.settings.maxFaults) {
      this.#leave({ reason: DisconnectReason.STATE_MISMATCH, action: LeaveRequest_Action.DISCONNECT }, 'too many protocol faults');
    }
  }

  #respond(message: SignalResponse['message']): void {
    if (this.#closed) return;
    this.#channel.send(message);
  }

  #leave(leave: { reason: DisconnectReason; action: LeaveRequest_Action }, closeReason: string, evicted = false): void {
    if (this.#closed) return;
    this.#respond({ case: 'leave', value: new LeaveRequest({ canReconnect: leave.action !== LeaveRequest_Action.DISCONNECT, reason: leave.reason, action: leave.action }) });
    this.#close(1000, closeReason, evicted);
  }

  #close(code: number, reason: string, evicted = false): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#unwatch?.();
    this.#dynacast.close();
    this.#data?.close();
    this.#handle?.close(evicted ? 'evicted' : 'disconnected');
    this.#ticket.closed(evicted);
    this.#queue.close();
    this.#channel.close(code, reason);
    this.#options.onClosed(this);
  }

  /**
   * The socket dropped without a leave: a joined participant is held for the resume grace
   * period (the others see nothing); a session still joining, or with resume off, ends.
   */
  #dropped(): void {
    if (this.#closed) return;
    const graceMs = this.#options.settings.resumeGraceMs;
    if (!this.#handle || graceMs <= 0) {
      this.#close(1000, 'socket closed');
      return;
    }
    this.#log.info('livekit signalling socket dropped; held for resume', { graceMs });
    this.#channel.hold(graceMs);
  }

  /**
   * A `reconnect=1` connect of this participant (admitted with `ticket`): the new socket
   * replaces the old one, the client gets a ReconnectResponse first, then what it missed
   * (participant updates, dynacast state, a fresh token) and a subscriber offer with an ICE
   * restart; it restarts ICE on its publisher PC with its next offer. False (nothing
   * changed) when the session cannot be resumed: closed, or not joined yet.
   */
  resume(socket: WebSocket, ticket: LiveKitTicket): boolean {
    if (this.#closed || !this.#handle) return false;
    const heldMs = this.#channel.droppedAtMs === undefined ? 0 : performance.now() - this.#channel.droppedAtMs;
    const previous = this.#ticket;
    this.#ticket = ticket;
    if (ticket.watch) {
      this.#unwatch?.();
      this.#unwatch = ticket.watch((reason) => {
        this.#log.info('livekit session evicted', { reason });
        this.#leave({ reason: DisconnectReason.PARTICIPANT_REMOVED, action: LeaveRequest_Action.DISCONNECT }, `evicted: ${reason}`, true);
      });
    }
    previous.closed(false);
    this.#channel.attach(socket);
    this.#log.info('livekit session resumed', { heldMs: Math.round(heldMs) });
    this.#options.onResume?.('resumed');
    this.#respond({
      case: 'reconnect',
      value: new ReconnectResponse({
        iceServers: (this.#options.settings.iceServers?.(this.#ticket.participantId) ?? []).map((s) => new ICEServer({ urls: [...s.urls], username: s.username, credential: s.credential })),
        clientConfiguration: this.#clientConfiguration(),
        serverInfo: new ServerInfo({ edition: ServerInfo_Edition.Standard, version: SERVER_VERSION, protocol: SERVER_PROTOCOL, nodeId: 'matrix-sfu' }),
      }),
    });
    this.#task('resume', () => this.#replay());
    return true;
  }

  /** After a resume: what changed while the socket was away, then the subscriber's ICE restart. */
  async #replay(): Promise<void> {
    const handle = this.#handle;
    if (!handle) return;
    this.#others.replay();
    this.#dynacast.replay();
    void this.#refreshToken();
    await this.#subscriber?.restartIce();
  }
}
