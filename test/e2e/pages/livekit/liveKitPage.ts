// Test page running the real livekit-client (the version Element Call ships) against the
// SFU's livekit edge. Exposes `window.lkTest` (liveKitApi.ts); remote video is attached to
// <video> elements so Chromium decodes it, and getStats() of each receiver is reported.

import {
  ExternalE2EEKeyProvider,
  LocalAudioTrack,
  LocalVideoTrack,
  Room,
  RoomEvent,
  Track,
  VideoQuality,
  version,
  type RemoteTrackPublication,
} from 'livekit-client';
import type { LiveKitConnectOptions, LiveKitRemoteTrackStat, LiveKitTestApi } from './liveKitApi.ts';
import { MatrixStyleKeyProvider } from './matrixStyleKeyProvider.ts';

let room: Room | undefined;
let connectStarted = 0;
const firstFrames: Record<string, number> = {};
const events: string[] = [];
let disconnectedAt: number | undefined;
let participantKeys: MatrixStyleKeyProvider | undefined;

function bytesFromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

async function inboundStats(publication: RemoteTrackPublication): Promise<{ framesDecoded: number; bytesReceived: number; frameWidth: number }> {
  const receiver = publication.track?.receiver;
  if (!receiver) return { framesDecoded: 0, bytesReceived: 0, frameWidth: 0 };
  const report = await receiver.getStats();
  let framesDecoded = 0;
  let bytesReceived = 0;
  let frameWidth = 0;
  report.forEach((stat: Record<string, unknown>) => {
    if (stat['type'] !== 'inbound-rtp') return;
    framesDecoded += Number(stat['framesDecoded'] ?? 0);
    bytesReceived += Number(stat['bytesReceived'] ?? 0);
    frameWidth = Math.max(frameWidth, Number(stat['frameWidth'] ?? 0));
  });
  return { framesDecoded, bytesReceived, frameWidth };
}

async function watchFirstFrame(identity: string, publication: RemoteTrackPublication): Promise<void> {
  for (let i = 0; i < 600 && firstFrames[identity] === undefined; i++) {
    const { framesDecoded } = await inboundStats(publication);
    if (framesDecoded > 0) {
      firstFrames[identity] = Math.round(performance.now() - connectStarted);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const api: LiveKitTestApi = {
  treatAsEncrypted(identity: string) {
    // BaseE2EEManager.setParticipantCryptorEnabled() is public; the manager field of Room is not.
    const manager = (room as unknown as { e2eeManager?: { setParticipantCryptorEnabled(enabled: boolean, identity: string): void } } | undefined)?.e2eeManager;
    if (!manager) throw new Error('no e2ee manager');
    manager.setParticipantCryptorEnabled(true, identity);
  },
  async connect(options: LiveKitConnectOptions) {
    let e2ee: { keyProvider: ExternalE2EEKeyProvider | MatrixStyleKeyProvider; worker: Worker } | undefined;
    if (options.e2eeParticipantKeys) {
      participantKeys = new MatrixStyleKeyProvider();
      for (const { identity, keyIndex, keyHex } of options.e2eeParticipantKeys) await participantKeys.setParticipantKey(identity, keyIndex, bytesFromHex(keyHex));
      e2ee = { keyProvider: participantKeys, worker: new Worker(new URL('lk-e2ee-worker.js', import.meta.url), { type: 'module' }) };
    } else if (options.e2eeKey) {
      const keyProvider = new ExternalE2EEKeyProvider();
      await keyProvider.setKey(options.e2eeKey);
      // livekit-client's own E2EE worker, copied beside this page by buildLiveKitPage().
      e2ee = { keyProvider, worker: new Worker(new URL('lk-e2ee-worker.js', import.meta.url), { type: 'module' }) };
    }
    room = new Room({ adaptiveStream: false, dynacast: false, publishDefaults: { simulcast: options.simulcast ?? true }, ...(e2ee ? { e2ee } : {}) });
    room.on(RoomEvent.EncryptionError, (error) => events.push(`encryption-error ${String(error)}`));
    if (e2ee) await room.setE2EEEnabled(true);
    room.on(RoomEvent.TrackSubscribed, (track, publication, participant) => {
      events.push(`subscribed ${participant.identity} ${track.kind}`);
      const element = track.attach();
      element.muted = true;
      document.body.appendChild(element);
      if (track.kind === Track.Kind.Video) void watchFirstFrame(participant.identity, publication as RemoteTrackPublication);
    });
    room.on(RoomEvent.TrackMuted, (publication, participant) => events.push(`muted ${participant.identity} ${publication.kind}`));
    room.on(RoomEvent.TrackUnmuted, (publication, participant) => events.push(`unmuted ${participant.identity} ${publication.kind}`));
    room.on(RoomEvent.ParticipantConnected, (participant) => events.push(`joined ${participant.identity}`));
    room.on(RoomEvent.ParticipantDisconnected, (participant) => events.push(`left ${participant.identity}`));
    room.on(RoomEvent.Disconnected, (reason) => {
      disconnectedAt = Date.now();
      events.push(`disconnected ${String(reason)}`);
    });
    room.on(RoomEvent.Reconnecting, () => events.push('reconnecting'));
    room.on(RoomEvent.Reconnected, () => events.push('reconnected'));
    room.on(RoomEvent.ActiveSpeakersChanged, (speakers) => events.push(`speakers ${speakers.map((s) => s.identity).join(',')}`));
    room.on(RoomEvent.ConnectionQualityChanged, (quality, participant) => events.push(`quality ${participant.identity} ${quality}`));
    connectStarted = performance.now();
    await room.connect(options.url, options.token, { autoSubscribe: true });
    const connectMs = Math.round(performance.now() - connectStarted);
    if (options.ownTracks) {
      const stream = await navigator.mediaDevices.getUserMedia({ video: options.camera ? { width: 640, height: 360, frameRate: 30 } : false, audio: options.microphone });
      for (const track of stream.getVideoTracks()) await room.localParticipant.publishTrack(new LocalVideoTrack(track, undefined, true), { source: Track.Source.Camera });
      for (const track of stream.getAudioTracks()) await room.localParticipant.publishTrack(new LocalAudioTrack(track, undefined, true), { source: Track.Source.Microphone });
    } else {
      if (options.camera) await room.localParticipant.setCameraEnabled(true, { resolution: { width: 640, height: 360, frameRate: 30 } });
      if (options.microphone) await room.localParticipant.setMicrophoneEnabled(true);
    }
    return { identity: room.localParticipant.identity, sid: room.localParticipant.sid, connectMs };
  },
  async remoteTracks() {
    const stats: LiveKitRemoteTrackStat[] = [];
    for (const participant of room?.remoteParticipants.values() ?? []) {
      for (const publication of participant.trackPublications.values()) {
        const inbound = await inboundStats(publication);
        stats.push({
          identity: participant.identity,
          kind: publication.kind === Track.Kind.Audio ? 'audio' : 'video',
          trackSid: publication.trackSid,
          muted: publication.isMuted,
          subscribed: publication.isSubscribed,
          ...inbound,
        });
      }
    }
    return stats;
  },
  async localSent() {
    const sent: Record<string, number> = {};
    for (const publication of room?.localParticipant.trackPublications.values() ?? []) {
      const sender = publication.track?.sender;
      const media = publication.track?.mediaStreamTrack;
      sent[`${String(publication.kind)}State`] = media ? (media.readyState === 'live' ? 1 : 0) + (media.enabled ? 2 : 0) + (media.muted ? 4 : 0) : -1;
      if (!sender) continue;
      const report = await sender.getStats();
      report.forEach((stat: Record<string, unknown>) => {
        if (stat['type'] === 'outbound-rtp') sent[String(publication.kind)] = (sent[String(publication.kind)] ?? 0) + Number(stat['bytesSent'] ?? 0);
      });
    }
    return sent;
  },
  setVideoQuality(identity, quality) {
    const participant = [...(room?.remoteParticipants.values() ?? [])].find((p) => p.identity === identity);
    const publication = participant?.getTrackPublication(Track.Source.Camera);
    publication?.setVideoQuality({ low: VideoQuality.LOW, medium: VideoQuality.MEDIUM, high: VideoQuality.HIGH }[quality]);
  },
  remoteIdentities() {
    return [...(room?.remoteParticipants.values() ?? [])].map((p) => p.identity);
  },
  async setMuted(kind, muted) {
    if (!room) return;
    if (kind === 'video') await room.localParticipant.setCameraEnabled(!muted);
    else await room.localParticipant.setMicrophoneEnabled(!muted);
  },
  firstFrames: () => ({ ...firstFrames }),
  events: () => [...events],
  version: () => version,
  async disconnect() {
    await room?.disconnect();
  },
  async fetchJson(url, body) {
    const started = performance.now();
    const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const reply = (await response.json()) as unknown;
    return { status: response.status, body: reply, ms: Math.round(performance.now() - started) };
  },
  elementCallPayload(jwt) {
    return JSON.parse(atob(jwt.split('.')[1] ?? '')) as unknown;
  },
  permissions() {
    const permissions = room?.localParticipant.permissions;
    return permissions ? { canPublish: permissions.canPublish, canSubscribe: permissions.canSubscribe } : undefined;
  },
  async forcePublishCamera() {
    const permissions = room?.localParticipant.permissions;
    if (permissions) permissions.canPublish = true;
    return api.tryPublishCamera();
  },
  async tryPublishCamera() {
    try {
      await room?.localParticipant.setCameraEnabled(true, { resolution: { width: 640, height: 360, frameRate: 30 } });
      return 'published';
    } catch (error) {
      return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
  },
  disconnectedAt: () => disconnectedAt,
};

(globalThis as unknown as { lkTest: LiveKitTestApi }).lkTest = api;
