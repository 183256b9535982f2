// The cascade: one room served by several nodes of the cluster at once. Each node runs its
// own Conference for the room; for every other node serving the room it keeps one
// CascadeLink (a pair of pipe transports, SRTP on), over which its participants' media goes
// out and the other node's comes in, and the other node's participants appear in the local
// conference (Conference.upsertRemote). A room spans nodes when its node is at its
// participant budget (ClusterNode.route), and while a draining or dead node's participants
// move to another node.
//
// Who links with whom, without consensus of our own:
// - A node serving a room lists itself in `{prefix}roomnodes:{roomId}` (ClusterNode), at
//   once when its conference is created and with every heartbeat.
// - Every `discoverMs` (and when its conference is created) a node reads the room's live
//   nodes. Of each pair, the node with the smaller id offers the link; the other one says
//   `hello`, which makes the smaller one offer at once.
// - A link closes when the other node says `bye` (its conference closed), when it leaves
//   the registry (dead: heartbeat expired) or no longer lists the room (a lost bye), when
//   its offer is not answered within `offerTimeoutMs`, or when its pipe transport dies;
//   discovery links again while both still serve the room.
// Redis down: links that are up keep carrying media (the pipes are direct UDP between the
// nodes); snapshots wait for Redis, and are sent again every few seconds once it is back.

import type { Logger } from '../../common/lib/logger.ts';
import type { Conference } from '../conference/Conference.ts';
import type { ConferenceRegistry } from '../conference/ConferenceRegistry.ts';
import { CASCADE_VERSION, CascadeMessageError, parseCascadeMessage, type CascadeMessage } from './cascadeMessages.ts';
import { CascadeLink, type LinkMessage, type PipeListenSettings } from './CascadeLink.ts';
import type { ClusterNode } from './ClusterNode.ts';

/** A hello from a node we hold an up link to, for longer than this, means that link is stale. */
const STALE_LINK_MS = 3000;

/** Options of the cascade. */
export interface CascadeOptions {
  readonly cluster: ClusterNode;
  readonly registry: ConferenceRegistry;
  readonly listen: PipeListenSettings;
  readonly requestTimeoutMs: number;
  /** How often each served room's nodes are read (and links made). */
  readonly discoverMs: number;
  /** An offer not answered in this time is dropped (discovery offers again). Default 5000. */
  readonly offerTimeoutMs?: number;
  /** Snapshots are sent again this often per link. Default 5000. */
  readonly resendMs?: number;
  readonly logger: Logger;
}

/** What the cascade reports to metrics and dumps. */
export interface CascadeSummary {
  readonly roomsSpanningNodes: number;
  readonly links: { offered: number; up: number };
  readonly rooms: Array<{ room: string; links: Array<{ peerNode: string; state: string; exported: number; imported: number; remoteParticipants: number }> }>;
}

/** Links of the rooms this node serves to the other nodes serving them (see the header comment). */
export class Cascade {
  readonly #options: CascadeOptions;
  readonly #log: Logger;
  /** Room → other node id → link (offered or up). */
  readonly #rooms = new Map<string, Map<string, CascadeLink>>();
  /** Room|node pairs an offer is being made for (so two discoveries make one). */
  readonly #offering = new Set<string>();
  /** Room|node → when this node last said hello there (at most one per second). */
  readonly #helloAt = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(options: CascadeOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'cascade', nodeId: options.cluster.id });
    options.cluster.on('cascade', (payload) => this.#receive(payload));
    options.cluster.on('nodesChanged', (ids) => this.#nodesChanged(ids));
    options.registry.observer.on('conferenceCreated', (conference) => this.#watch(conference));
    for (const conference of options.registry.list()) this.#watch(conference);
    this.#timer = setInterval(() => this.#discoverAll(), options.discoverMs);
    this.#timer.unref();
  }

  summary(): CascadeSummary {
    const links = { offered: 0, up: 0 };
    let roomsSpanningNodes = 0;
    const rooms: CascadeSummary['rooms'] = [];
    for (const [room, byNode] of this.#rooms) {
      let up = 0;
      const entries = [];
      for (const link of byNode.values()) {
        if (link.state === 'up') up++;
        if (link.state === 'up' || link.state === 'offered') links[link.state]++;
        entries.push({ peerNode: link.peerNodeId, state: link.state, ...link.counts });
      }
      if (up > 0) roomsSpanningNodes++;
      rooms.push({ room, links: entries });
    }
    return { roomsSpanningNodes, links, rooms };
  }

  /** Closes every link, telling the other nodes, and leaves the rooms' node lists (a clean stop). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const rooms = new Set([...this.#rooms.keys(), ...this.#options.registry.list().map((conference) => conference.id as string)]);
    for (const room of rooms) this.#closeRoom(room, true);
    await Promise.all(
      [...rooms].map((room) => this.#options.cluster.leaveRoom(room).catch((error: unknown) => this.#log.debug('room not left in Redis (it lapses by itself)', { room, error }))),
    );
  }

  #watch(conference: Conference): void {
    const room = conference.id as string;
    conference.observer.on('localChanged', () => {
      this.#options.cluster.heartbeatSoon();
      for (const link of this.#rooms.get(room)?.values() ?? []) link.markDirty();
    });
    // A local participant left: another node's session of it, hidden while it was here, may show now.
    conference.observer.on('participantLeft', (participantId) => {
      for (const link of this.#rooms.get(room)?.values() ?? []) link.reveal(participantId);
    });
    conference.on('closed', () => {
      this.#closeRoom(room, true);
      this.#options.cluster.leaveRoom(room).catch((error: unknown) => this.#log.debug('room not left in Redis (it lapses by itself)', { error }));
    });
    this.#options.cluster
      .announceRoom(room)
      .then(() => this.#discover(conference))
      .catch((error: unknown) => this.#log.debug('room not announced (the next heartbeat lists it)', { error }));
  }

  #conference(room: string): Conference | undefined {
    const conference = this.#options.registry.get(room as Conference['id']);
    return conference && !conference.closed ? conference : undefined;
  }

  #discoverAll(): void {
    if (this.#closed || !this.#options.cluster.available) return;
    for (const conference of this.#options.registry.list()) {
      if (!conference.closed) void this.#discover(conference);
    }
  }

  /** Reads the room's live nodes; offers to the larger ids, says hello to the smaller ones. */
  async #discover(conference: Conference): Promise<void> {
    const room = conference.id as string;
    const self = this.#options.cluster.id;
    let nodes: string[];
    try {
      nodes = await this.#options.cluster.roomNodes(room);
    } catch (error) {
      this.#log.debug('room nodes not read', { room, error });
      return;
    }
    const live = new Set(this.#options.cluster.liveNodeIds);
    const links = this.#rooms.get(room);
    const offerTimeoutMs = this.#options.offerTimeoutMs ?? 5000;
    for (const node of nodes) {
      if (node === self || (live.size > 0 && !live.has(node))) continue;
      const link = links?.get(node);
      if (link?.state === 'offered' && performance.now() - link.createdAtMs > offerTimeoutMs) {
        this.#log.warn('cascade offer not answered in time; offering again', { room, peerNode: node });
        this.#dropLink(room, link, false);
      } else if (link) continue;
      if (self < node) void this.#offer(conference, node);
      else this.#hello(room, node);
    }
    // A link to a node that no longer lists the room (its conference closed and its bye was
    // lost) shows participants who are gone: drop it, unless the lists may be refilling after
    // a Redis restart or the link is younger than two discovery rounds.
    if (this.#options.cluster.registrySettling) return;
    const listed = new Set(nodes);
    for (const link of [...(this.#rooms.get(room)?.values() ?? [])]) {
      if (listed.has(link.peerNodeId) || performance.now() - link.createdAtMs < 2 * this.#options.discoverMs) continue;
      this.#log.warn('the other node no longer serves the room; link closed', { room, peerNode: link.peerNodeId });
      this.#dropLink(room, link, false);
    }
  }

  #hello(room: string, node: string): void {
    const key = `${room}|${node}`;
    const last = this.#helloAt.get(key) ?? -Infinity;
    if (performance.now() - last < 1000) return;
    this.#helloAt.set(key, performance.now());
    this.#send(node, { type: 'hello', room });
  }

  async #offer(conference: Conference, node: string): Promise<void> {
    const room = conference.id as string;
    const key = `${room}|${node}`;
    if (this.#offering.has(key) || this.#rooms.get(room)?.has(node)) return;
    this.#offering.add(key);
    try {
      const link = await CascadeLink.offer(this.#linkOptions(conference, node));
      if (this.#closed || conference.closed || this.#rooms.get(room)?.has(node)) {
        link.close();
        return;
      }
      this.#links(room).set(node, link);
      this.#log.info('cascade link offered', { room, peerNode: node });
    } catch (error) {
      this.#log.warn('cascade link not offered', { room, peerNode: node, error });
    } finally {
      this.#offering.delete(key);
    }
  }

  #linkOptions(conference: Conference, node: string) {
    const room = conference.id as string;
    return {
      room,
      peerNodeId: node,
      conference,
      listen: this.#options.listen,
      requestTimeoutMs: this.#options.requestTimeoutMs,
      resendMs: this.#options.resendMs ?? 5000,
      send: (message: LinkMessage) => this.#publish(node, { ...message, room }),
      onLost: (link: CascadeLink) => {
        if (this.#rooms.get(room)?.get(node) === link) this.#rooms.get(room)?.delete(node);
        // The conference closed (its routers with it): the other node drops what it shows of ours.
        if (conference.closed) this.#send(node, { type: 'bye', room, link: link.id });
      },
      logger: this.#log,
    };
  }

  #links(room: string): Map<string, CascadeLink> {
    let links = this.#rooms.get(room);
    if (!links) {
      links = new Map();
      this.#rooms.set(room, links);
    }
    return links;
  }

  #receive(payload: unknown): void {
    if (this.#closed) return;
    let message: CascadeMessage;
    try {
      message = parseCascadeMessage(payload);
    } catch (error) {
      this.#log.warn('cascade message from another node refused', { reason: error instanceof CascadeMessageError ? error.message : String(error) });
      return;
    }
    if (message.from === this.#options.cluster.id) return;
    void this.#handle(message).catch((error: unknown) => this.#log.warn('cascade message not handled', { type: message.type, room: message.room, error }));
  }

  async #handle(message: CascadeMessage): Promise<void> {
    const { room, from } = message;
    const conference = this.#conference(room);
    const link = this.#rooms.get(room)?.get(from);
    switch (message.type) {
      case 'hello':
        // The other node serves the room and has no link to us: the smaller id offers. A link we
        // still hold as up (for longer than a hello takes to arrive) is stale: the other node
        // restarted or dropped it.
        if (!conference || this.#options.cluster.id > from) return;
        if (link?.state === 'up' && performance.now() - link.upAtMs > STALE_LINK_MS) {
          this.#log.warn('the other node has no link to us any more; linking again', { room, peerNode: from });
          this.#dropLink(room, link, false);
        } else if (link) return;
        await this.#offer(conference, from);
        return;
      case 'offer': {
        if (!conference) {
          this.#send(from, { type: 'bye', room, link: message.link });
          return;
        }
        if (link) {
          if (link.id === message.link) return;
          this.#dropLink(room, link, false);
        }
        let answered: CascadeLink;
        try {
          answered = await CascadeLink.answer(this.#linkOptions(conference, from), message);
        } catch (error) {
          // E.g. the router is being rebuilt after a worker death: the offerer drops its offer and offers again.
          this.#log.warn('cascade offer not answered; the other node offers again', { room, peerNode: from, error });
          this.#send(from, { type: 'bye', room, link: message.link });
          return;
        }
        if (this.#closed || conference.closed) {
          answered.close();
          return;
        }
        const current = this.#rooms.get(room)?.get(from);
        if (current && current !== answered) this.#dropLink(room, current, false);
        this.#links(room).set(from, answered);
        return;
      }
      case 'answer':
        if (link && link.id === message.link) await link.accept(message);
        return;
      case 'peers':
        if (link && link.id === message.link) link.receive(message);
        return;
      case 'bye':
        if (link && (message.link === undefined || message.link === link.id)) {
          this.#log.info('the other node stopped serving the room; link closed', { room, peerNode: from });
          this.#dropLink(room, link, false);
        }
        return;
    }
  }

  /**
   * Live nodes changed: links to nodes that left the registry (dead) close; what they showed
   * goes. Right after Redis came back (empty after a restart) the registry is still filling
   * up: absence counts only once it settled, so running links survive a Redis restart.
   */
  #nodesChanged(ids: readonly string[]): void {
    const cluster = this.#options.cluster;
    if (cluster.registrySettling) {
      const timer = setTimeout(() => {
        if (!this.#closed) this.#nodesChanged(cluster.liveNodeIds);
      }, cluster.nodeTimeoutMs);
      timer.unref();
      this.#discoverAll();
      return;
    }
    const live = new Set(ids);
    for (const [room, links] of this.#rooms) {
      for (const link of [...links.values()]) {
        if (live.has(link.peerNodeId)) continue;
        this.#log.warn('the other node of a cascade link is gone; its participants leave this room', { room, peerNode: link.peerNodeId });
        this.#dropLink(room, link, false);
      }
    }
    this.#discoverAll();
  }

  #dropLink(room: string, link: CascadeLink, tell: boolean): void {
    const links = this.#rooms.get(room);
    if (links?.get(link.peerNodeId) === link) links.delete(link.peerNodeId);
    if (links?.size === 0) this.#rooms.delete(room);
    if (tell) this.#send(link.peerNodeId, { type: 'bye', room, link: link.id });
    link.close();
  }

  #closeRoom(room: string, tell: boolean): void {
    for (const link of [...(this.#rooms.get(room)?.values() ?? [])]) this.#dropLink(room, link, tell);
    this.#rooms.delete(room);
    for (const key of [...this.#helloAt.keys()]) if (key.startsWith(`${room}|`)) this.#helloAt.delete(key);
  }

  #send(node: string, message: { type: 'hello' | 'bye'; room: string; link?: string }): void {
    if (this.#closed && message.type === 'hello') return;
    this.#publish(node, message).catch((error: unknown) => this.#log.debug('cascade message not sent', { type: message.type, peerNode: node, error }));
  }

  #publish(node: string, message: Record<string, unknown>): Promise<void> {
    return this.#options.cluster.sendCascade(node, { v: CASCADE_VERSION, from: this.#options.cluster.id, ...message });
  }
}
