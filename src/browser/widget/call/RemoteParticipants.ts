// What the SFU says about the other participants of the current connection: who is there
// (join order kept for a stable layout), which tracks each one sends and whether the
// publisher paused them (consumerPaused → trackPaused: a muted microphone or a stopped
// camera), and who is speaking. Fed by one SfuClient at a time; cleared when the connection
// is rebuilt.

import type { SfuClient } from '../../client/SfuClient.ts';
import type { SfuClientEvents } from '../../client/events.ts';
import type { MediaSource, PeerInfo } from '../../../common/protocol/messages.ts';

/** One received track. */
export interface RemoteTrackState {
  readonly consumerId: string;
  readonly kind: 'audio' | 'video';
  readonly source: MediaSource;
  readonly track: MediaStreamTrack;
  paused: boolean;
}

/** One other participant. */
export interface RemotePeer {
  readonly participantId: string;
  /** The name the SFU reports (its admission: the Matrix user id). */
  readonly sfuName: string;
  readonly tracks: Map<string, RemoteTrackState>;
}

/** The other participants of one connection. */
export class RemoteParticipants {
  readonly #peers = new Map<string, RemotePeer>();
  readonly #onChange: () => void;
  #speaker: string | null = null;

  /** @param onChange called after every change (the UI re-renders from the getters). */
  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  /** Participants in join order. */
  get peers(): readonly RemotePeer[] {
    return [...this.#peers.values()];
  }

  /** The current active speaker's participant id (may be our own), or null. */
  get speaker(): string | null {
    return this.#speaker;
  }

  /** Received tracks of a source, with its peer. */
  find(participantId: string, source: MediaSource): RemoteTrackState | undefined {
    for (const state of this.#peers.get(participantId)?.tracks.values() ?? []) if (state.source === source) return state;
    return undefined;
  }

  /** Starts following `client`, seeded with the peers its join returned; returns the unsubscribe function. */
  attach(client: SfuClient, peers: readonly PeerInfo[]): () => void {
    this.clear();
    for (const peer of peers) this.#addPeer(peer);
    // A client that joined earlier (make-before-break off a draining node) already receives tracks.
    for (const track of client.remoteTracks) {
      const peer = this.#peers.get(track.participantId) ?? this.#addPeer({ participantId: track.participantId, displayName: track.participantId, publications: [] });
      peer.tracks.set(track.consumerId, { consumerId: track.consumerId, kind: track.kind, source: track.source, track: track.track, paused: track.producerPaused });
    }
    const subscriptions: Array<() => void> = [];
    const on = <K extends keyof SfuClientEvents & string>(event: K, listener: (...args: SfuClientEvents[K]) => void): void => {
      client.on(event, listener);
      subscriptions.push(() => client.off(event, listener));
    };
    on('peerJoined', (peer) => {
      this.#addPeer(peer);
      this.#onChange();
    });
    on('peerLeft', ({ participantId }) => {
      this.#peers.delete(participantId);
      this.#onChange();
    });
    on('trackAdded', (event) => {
      const peer = this.#peers.get(event.participantId) ?? this.#addPeer({ participantId: event.participantId, displayName: event.participantId, publications: [] });
      peer.tracks.set(event.consumerId, { consumerId: event.consumerId, kind: event.kind, source: event.source, track: event.track, paused: event.paused });
      this.#onChange();
    });
    on('trackRemoved', ({ participantId, consumerId }) => {
      if (this.#peers.get(participantId)?.tracks.delete(consumerId)) this.#onChange();
    });
    on('trackPaused', ({ consumerId }) => this.#setPaused(consumerId, true));
    on('trackResumed', ({ consumerId }) => this.#setPaused(consumerId, false));
    on('activeSpeaker', ({ participantId }) => {
      this.#speaker = participantId;
      this.#onChange();
    });
    return () => {
      for (const unsubscribe of subscriptions) unsubscribe();
    };
  }

  /** Forgets everyone (connection rebuilt or ended). */
  clear(): void {
    this.#peers.clear();
    this.#speaker = null;
  }

  #addPeer(peer: PeerInfo): RemotePeer {
    const existing = this.#peers.get(peer.participantId);
    if (existing) return existing;
    const created: RemotePeer = { participantId: peer.participantId, sfuName: peer.displayName, tracks: new Map() };
    this.#peers.set(peer.participantId, created);
    return created;
  }

  #setPaused(consumerId: string, paused: boolean): void {
    for (const peer of this.#peers.values()) {
      const state = peer.tracks.get(consumerId);
      if (state && state.paused !== paused) {
        state.paused = paused;
        this.#onChange();
        return;
      }
    }
  }
}
