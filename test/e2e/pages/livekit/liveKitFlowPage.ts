// Test page for dynacast and resume with the real livekit-client: a Room with `dynacast` as
// asked, publishing a simulcast camera (640x360: two layers, rids q and h), exposing the
// local sender's encodings (RTCRtpSender.getParameters(), what dynacast switches), decode
// stats of remote video and the room's connection events, as `window.lkFlow`.

import { Room, RoomEvent, Track, VideoQuality, type RemoteTrackPublication } from 'livekit-client';
import type { LiveKitFlowApi, LiveKitFlowConnectOptions, SenderEncoding } from './liveKitFlowApi.ts';

let room: Room | undefined;
let startedAt = 0;
const events: string[] = [];
const note = (event: string) => events.push(`${Math.round(performance.now() - startedAt)} ${event}`);

function cameraOf(identity: string): RemoteTrackPublication | undefined {
  const participant = [...(room?.remoteParticipants.values() ?? [])].find((p) => p.identity === identity);
  return participant?.getTrackPublication(Track.Source.Camera) as RemoteTrackPublication | undefined;
}

const api: LiveKitFlowApi = {
  async connect(options: LiveKitFlowConnectOptions) {
    room = new Room({ adaptiveStream: false, dynacast: options.dynacast, publishDefaults: { simulcast: true } });
    room.on(RoomEvent.TrackSubscribed, (track) => {
      const element = track.attach();
      element.muted = true;
      document.body.appendChild(element);
    });
    room.on(RoomEvent.ParticipantConnected, (participant) => note(`joined ${participant.identity}`));
    room.on(RoomEvent.ParticipantDisconnected, (participant) => note(`left ${participant.identity}`));
    room.on(RoomEvent.SignalReconnecting, () => note('signal-reconnecting'));
    room.on(RoomEvent.Reconnecting, () => note('reconnecting'));
    room.on(RoomEvent.Reconnected, () => note('reconnected'));
    room.on(RoomEvent.Disconnected, (reason) => note(`disconnected ${String(reason)}`));
    startedAt = performance.now();
    await room.connect(options.url, options.token, { autoSubscribe: true });
    if (options.camera) await room.localParticipant.setCameraEnabled(true, { resolution: { width: 640, height: 360, frameRate: 30 } });
    if (options.microphone) await room.localParticipant.setMicrophoneEnabled(true);
    return { identity: room.localParticipant.identity, sid: room.localParticipant.sid };
  },
  cameraEncodings() {
    const sender = room?.localParticipant.getTrackPublication(Track.Source.Camera)?.track?.sender;
    const encodings = sender?.getParameters().encodings ?? [];
    return encodings.map((e): SenderEncoding => ({ rid: e.rid ?? '', active: e.active !== false }));
  },
  async videoFrom(identity) {
    const receiver = cameraOf(identity)?.track?.receiver;
    let framesDecoded = 0;
    let frameWidth = 0;
    if (receiver) {
      (await receiver.getStats()).forEach((stat: Record<string, unknown>) => {
        if (stat['type'] !== 'inbound-rtp') return;
        framesDecoded += Number(stat['framesDecoded'] ?? 0);
        frameWidth = Math.max(frameWidth, Number(stat['frameWidth'] ?? 0));
      });
    }
    return { framesDecoded, frameWidth };
  },
  setVideoQuality(identity, quality) {
    cameraOf(identity)?.setVideoQuality({ low: VideoQuality.LOW, medium: VideoQuality.MEDIUM, high: VideoQuality.HIGH }[quality]);
  },
  setSubscribed(identity, subscribed) {
    cameraOf(identity)?.setSubscribed(subscribed);
  },
  localTrackSids() {
    return [...(room?.localParticipant.trackPublications.values() ?? [])].map((p) => p.trackSid);
  },
  events: () => [...events],
  async disconnect() {
    await room?.disconnect();
  },
};

(globalThis as unknown as { lkFlow: LiveKitFlowApi }).lkFlow = api;
