// What one LiveKit client is told about the other participants of its conference: a
// ParticipantView per remote participant (its tracks as TrackInfos from the TrackDirectory),
// sent as a ParticipantUpdate on every change; the active speaker (SpeakersChanged); and each
// one's connection quality (ConnectionQualityUpdate when its bucket changes). While the
// client's socket is away (a resume grace) the changed infos are kept, and replay() sends
// them, the current speaker and fresh qualities once it is back. Used by LiveKitSession only,
// inside its queue.

import {
  ConnectionQuality,
  ConnectionQualityInfo,
  ConnectionQualityUpdate,
  ParticipantUpdate,
  SpeakerInfo,
  SpeakersChanged,
  type ParticipantInfo,
  type SignalResponse,
} from '@livekit/protocol';
import type { PeerInfo } from '../conference/types.ts';
import { connectionQualityOf } from './policy.ts';
import type { TrackDirectory } from './TrackDirectory.ts';
import { ParticipantInfo_State, nextParticipantVersion, participantInfo, participantSid, type ParticipantView } from './wire.ts';

/** Options of RemoteParticipants. */
export interface RemoteParticipantsOptions {
  readonly conferenceId: string;
  /** The client's own participant id and sid (it can be the active speaker too). */
  readonly selfId: string;
  readonly selfSid: () => string | undefined;
  readonly directory: TrackDirectory;
  readonly send: (message: SignalResponse['message']) => void;
  /** Whether the client's socket is there (else changes are kept for replay()). */
  readonly attached: () => boolean;
  /** The consumer id that carries a remote track sid to this client, if any. */
  readonly consumerIdOfTrack: (trackSid: string) => string | undefined;
}

/** The remote participants one LiveKit session knows. */
export class RemoteParticipants {
  readonly #options: RemoteParticipantsOptions;
  readonly #views = new Map<string, ParticipantView>();
  /** Infos changed while the socket was away, latest per sid. */
  readonly #missed = new Map<string, ParticipantInfo>();
  /** Last connection quality told per remote participant id (updates only on change). */
  readonly #quality = new Map<string, ConnectionQuality>();
  #speaker: string | undefined;

  constructor(options: RemoteParticipantsOptions) {
    this.#options = options;
  }

  /** Infos of every remote participant (the JoinResponse's `otherParticipants`). */
  infos(): ParticipantInfo[] {
    return [...this.#views.values()].map(participantInfo);
  }

  /** The view of a remote participant, created from what the core said about it. */
  viewOf(peer: PeerInfo): ParticipantView {
    let view = this.#views.get(peer.participantId);
    if (!view) {
      view = {
        sid: participantSid(this.#options.conferenceId, peer.participantId),
        identity: peer.participantId,
        name: peer.displayName,
        joinedAtMs: Date.now(),
        version: nextParticipantVersion(),
        state: ParticipantInfo_State.ACTIVE,
        tracks: new Map(),
        canPublish: true,
      };
      this.#views.set(peer.participantId, view);
    }
    // With the publisher's id, a track still being produced resolves to its announced
    // TrackInfo (mime type, encryption); without it the directory would invent a bare one,
    // and livekit-client cannot set up its E2EE cryptor for a track without a mime type.
    for (const publication of peer.publications) {
      view.tracks.set(publication.producerId, this.#options.directory.infoFor({ ...publication, participantId: peer.participantId }));
    }
    return view;
  }

  /** Tells the client a view changed (a new version). */
  update(view: ParticipantView): void {
    view.version = nextParticipantVersion();
    const info = participantInfo(view);
    if (!this.#options.attached()) this.#missed.set(view.sid, info);
    this.#options.send({ case: 'update', value: new ParticipantUpdate({ participants: [info] }) });
  }

  /** A remote participant left: DISCONNECTED, without tracks. */
  left(participantId: string): void {
    const view = this.#views.get(participantId);
    if (!view) return;
    this.#views.delete(participantId);
    this.#quality.delete(participantId);
    view.state = ParticipantInfo_State.DISCONNECTED;
    view.tracks.clear();
    this.update(view);
  }

  /** A remote participant's track is gone (its consumer closed). */
  trackClosed(participantId: string, producerId: string): void {
    const view = this.#views.get(participantId);
    if (view?.tracks.delete(producerId)) this.update(view);
  }

  /** The producer behind a consumer of this client was paused or resumed by its publisher. */
  muted(consumerId: string, muted: boolean): void {
    for (const view of this.#views.values()) {
      for (const [producerId, info] of view.tracks) {
        if (this.#options.consumerIdOfTrack(info.sid) !== consumerId) continue;
        this.#options.directory.setMuted(producerId, muted);
        info.muted = muted;
        this.update(view);
        return;
      }
    }
  }

  /**
   * ConnectionQuality of a remote participant from its producers' scores (mediasoup 0-10: how
   * well its uplink reaches us): 8+ EXCELLENT, 5+ GOOD, else POOR; sent when the bucket changes.
   */
  connectionQuality(consumerId: string, producerScore: number): void {
    for (const view of this.#views.values()) {
      for (const info of view.tracks.values()) {
        if (this.#options.consumerIdOfTrack(info.sid) !== consumerId) continue;
        const quality = connectionQualityOf(producerScore);
        if (this.#quality.get(view.identity) === quality) return;
        this.#quality.set(view.identity, quality);
        this.#options.send({
          case: 'connectionQuality',
          value: new ConnectionQualityUpdate({ updates: [new ConnectionQualityInfo({ participantSid: view.sid, quality, score: producerScore / 2 })] }),
        });
        return;
      }
    }
  }

  /** The conference's dominant speaker changed (null: nobody). */
  activeSpeaker(participantId: string | null): void {
    const speakers: SpeakerInfo[] = [];
    const sidOf = (id: string) => (id === this.#options.selfId ? this.#options.selfSid() : this.#views.get(id)?.sid);
    if (this.#speaker && this.#speaker !== participantId) {
      const sid = sidOf(this.#speaker);
      if (sid) speakers.push(new SpeakerInfo({ sid, level: 0, active: false }));
    }
    const sid = participantId ? sidOf(participantId) : undefined;
    if (sid) speakers.push(new SpeakerInfo({ sid, level: 1, active: true }));
    this.#speaker = participantId ?? undefined;
    if (speakers.length > 0) this.#options.send({ case: 'speakersChanged', value: new SpeakersChanged({ speakers }) });
  }

  /** After a resume: the infos that changed meanwhile, the current speaker, qualities afresh. */
  replay(): void {
    if (this.#missed.size > 0) {
      this.#options.send({ case: 'update', value: new ParticipantUpdate({ participants: [...this.#missed.values()] }) });
      this.#missed.clear();
    }
    if (this.#speaker) this.activeSpeaker(this.#speaker);
    this.#quality.clear();
  }
}
