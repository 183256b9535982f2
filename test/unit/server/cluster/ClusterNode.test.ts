// The pure parts of cluster mode: node records and delegations read from Redis are parsed
// (never trusted), the least-loaded live node takes a new room, and a node's base URL
// gives the URLs the token endpoints return.

import { describe, expect, it } from 'vitest';
import { parseDelegation, parseNodeInfo, pickNode, placementCandidate, routeUrls, servingNode, type NodeInfo } from '../../../../src/server/cluster/ClusterNode.ts';

const node = (id: string, participants: number, extra: Partial<NodeInfo> = {}): NodeInfo => ({
  id,
  url: `https://${id}.example.org`,
  draining: false,
  participants,
  conferences: 0,
  workers: 2,
  atMs: 1,
  ...extra,
});

describe('parseNodeInfo', () => {
  it('reads a node record and refuses malformed ones', () => {
    expect(parseNodeInfo(JSON.stringify(node('a', 3)))).toEqual(node('a', 3));
    expect(parseNodeInfo(null)).toBeUndefined();
    expect(parseNodeInfo('not json')).toBeUndefined();
    expect(parseNodeInfo(JSON.stringify({ ...node('a', 3), url: 'javascript:alert(1)' }))).toBeUndefined();
    expect(parseNodeInfo(JSON.stringify({ ...node('a', 3), participants: -1 }))).toBeUndefined();
    expect(parseNodeInfo(JSON.stringify({ ...node('a', 3), draining: 'no' }))).toBeUndefined();
  });
});

describe('pickNode', () => {
  it('takes the node with the fewest participants per worker, skipping draining nodes', () => {
    expect(pickNode([node('a', 10), node('b', 4), node('c', 1, { draining: true })])?.id).toBe('b');
    expect(pickNode([node('a', 10, { workers: 8 }), node('b', 4)])?.id).toBe('a');
  });

  it('breaks ties by conferences, then by id, so every node picks the same one', () => {
    expect(pickNode([node('b', 0), node('a', 0)])?.id).toBe('a');
    expect(pickNode([node('a', 0, { conferences: 2 }), node('b', 0)])?.id).toBe('b');
  });

  it('has no choice when every node drains', () => {
    expect(pickNode([node('a', 0, { draining: true })])).toBeUndefined();
  });
});

describe('servingNode (a room spans nodes at the participant budget)', () => {
  const nodes = [node('a', 4), node('b', 1), node('c', 0), node('d', 0, { draining: true })];

  it('keeps a joiner on the room node while it is under the budget, or without a budget', () => {
    expect(servingNode(nodes[0]!, nodes, new Set(['a']), 5).id).toBe('a');
    expect(servingNode(nodes[0]!, nodes, new Set(['a']), 0).id).toBe('a');
  });

  it('sends a joiner to another node already serving the room before opening a new one', () => {
    expect(servingNode(nodes[0]!, nodes, new Set(['a', 'b']), 4).id).toBe('b');
  });

  it('opens the least-loaded node with room to spare when no serving node has any, never a draining one', () => {
    expect(servingNode(nodes[0]!, nodes, new Set(['a']), 4).id).toBe('c');
    expect(servingNode(nodes[0]!, [nodes[0]!, nodes[3]!], new Set(['a']), 4).id).toBe('a');
  });

  it('leaves the joiner on the room node when every node is full', () => {
    expect(servingNode(nodes[0]!, [node('a', 4), node('b', 9)], new Set(['a']), 4).id).toBe('a');
  });
});

describe('placementCandidate (a room without a live owner that takes it)', () => {
  it('prefers a node already serving the room, so its participants there stay', () => {
    expect(placementCandidate([node('a', 0), node('b', 3)], new Set(['b']), 10)?.id).toBe('b');
  });

  it('falls back to the least-loaded node when the serving ones are full or draining', () => {
    expect(placementCandidate([node('a', 0), node('b', 3)], new Set(['b']), 3)?.id).toBe('a');
    expect(placementCandidate([node('a', 0), node('b', 3, { draining: true })], new Set(['b']), 0)?.id).toBe('a');
  });
});

describe('routeUrls', () => {
  it('gives the native signalling URL and the LiveKit base URL of a node', () => {
    expect(routeUrls('https://sfu1.example.org/')).toEqual({ signallingUrl: 'wss://sfu1.example.org/ws', liveKitUrl: 'wss://sfu1.example.org' });
    expect(routeUrls('http://127.0.0.1:8080')).toEqual({ signallingUrl: 'ws://127.0.0.1:8080/ws', liveKitUrl: 'ws://127.0.0.1:8080' });
  });
});

describe('parseDelegation', () => {
  const good = { roomId: '!r:s', userId: '@u:s', deviceId: 'D', delayId: 'syd_1', delayTimeoutMs: 8000, csApiUrl: 'https://s' };
  it('reads a delegation published by another node and refuses anything else', () => {
    expect(parseDelegation(good)).toEqual(good);
    expect(parseDelegation({ ...good, delayTimeoutMs: -1 })).toBeUndefined();
    expect(parseDelegation({ ...good, csApiUrl: 'x'.repeat(2000) })).toBeUndefined();
    expect(parseDelegation({ ...good, userId: 7 })).toBeUndefined();
    expect(parseDelegation('text')).toBeUndefined();
  });
});
