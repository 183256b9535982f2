// Development demo page. With the embedded dev homeserver of `npm start`
// (served /demo/dev.json), it goes through the full Matrix flow: log in as a
// demo user, publish the call membership, OpenID → /sfu/get → JWT → join.
// Without it (auth.mode none) it joins the conference named by
// `?conference=` with dev admission. Either way it publishes camera and
// microphone and shows a tile per participant with mute buttons and leave.
// The real widget lives elsewhere; this page exercises SfuClient.

import { SfuClient } from '../SfuClient.ts';
import type { LocalPublication } from '../LocalPublication.ts';
import { CallMembership, loginWithPassword, requestSfuAccess } from '../matrix/matrixCall.ts';

const params = new URLSearchParams(location.search);
const conference = params.get('conference') ?? 'demo';
const participant = params.get('participant') ?? `p-${crypto.randomUUID().slice(0, 8)}`;
const displayName = params.get('name') ?? participant;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing #${id}`);
  return found as T;
}

const grid = element<HTMLElement>('grid');
const status = element<HTMLElement>('status');
const micButton = element<HTMLButtonElement>('mic');
const camButton = element<HTMLButtonElement>('cam');
const leaveButton = element<HTMLButtonElement>('leave');
element<HTMLElement>('title').textContent = `matrix-sfu demo: ${conference}`;

/** One tile per participant; its video shows the camera, audio plays the microphone. */
function tile(participantId: string, name: string): HTMLElement {
  const id = `tile-${participantId}`;
  const existing = document.getElementById(id);
  if (existing) return existing;
  const box = document.createElement('div');
  box.className = 'tile';
  box.id = id;
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true;
  const label = document.createElement('span');
  label.className = 'name';
  label.textContent = name;
  box.append(video, label);
  grid.append(box);
  return box;
}

function setTrack(box: HTMLElement, track: MediaStreamTrack | undefined): void {
  if (!track || track.kind === 'video') {
    const video = box.querySelector('video');
    if (video) video.srcObject = track ? new MediaStream([track]) : null;
    return;
  }
  const audio = document.createElement('audio');
  audio.autoplay = true;
  audio.dataset['trackId'] = track.id;
  audio.srcObject = new MediaStream([track]);
  box.append(audio);
  audio.play().catch(() => (status.textContent = 'click anywhere to enable audio'));
}

function toggle(button: HTMLButtonElement, publication: LocalPublication | undefined, labels: [string, string], client: SfuClient): void {
  if (!publication) return;
  button.disabled = false;
  button.addEventListener('click', () => {
    const pause = !publication.paused;
    button.disabled = true;
    const change = pause ? client.pausePublication(publication) : client.resumePublication(publication);
    change
      .then(() => {
        button.setAttribute('aria-pressed', String(pause));
        button.textContent = pause ? labels[1] : labels[0];
      })
      .catch((error: unknown) => (status.textContent = `error: ${String(error)}`))
      .finally(() => (button.disabled = false));
  });
}

/** What /demo/dev.json says about the embedded dev homeserver. */
interface DevInfo {
  homeserverUrl: string;
  roomId: string;
  users: Array<{ userId: string; password: string }>;
}

async function devInfo(): Promise<DevInfo | undefined> {
  const response = await fetch('dev.json').catch(() => undefined);
  return response?.ok ? ((await response.json()) as DevInfo) : undefined;
}

/** Lets the person pick a demo account (one per tab). */
function chooseUser(info: DevInfo): Promise<{ userId: string; password: string }> {
  const wanted = params.get('user');
  const preset = info.users.find((user) => user.userId === wanted || user.userId.startsWith(`@${wanted}:`));
  if (preset) return Promise.resolve(preset);
  status.textContent = 'join the demo call as:';
  return new Promise((resolve) => {
    for (const user of info.users) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = user.userId;
      button.addEventListener('click', () => {
        grid.replaceChildren();
        resolve(user);
      });
      grid.append(button);
    }
  });
}

/** Connects through Matrix admission (dev homeserver) or dev admission. */
async function connect(): Promise<{ client: SfuClient; membership?: CallMembership; self: string; name: string }> {
  const info = await devInfo();
  const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  if (!info) {
    const client = await SfuClient.connect({ url: wsBase, query: { conference, participant, name: displayName } });
    return { client, self: participant, name: displayName };
  }
  const user = await chooseUser(info);
  status.textContent = `logging in as ${user.userId}…`;
  const session = await loginWithPassword(info.homeserverUrl, user.userId, user.password);
  const focus = { type: 'org.matrix_sfu.mediasoup', sfu_service_url: location.origin };
  const membership = await CallMembership.join({ session, roomId: info.roomId, focus });
  status.textContent = 'asking the SFU for access…';
  const access = await requestSfuAccess(session, info.roomId, focus);
  const client = await SfuClient.connect({ url: access.url, query: { jwt: access.jwt } });
  addEventListener('pagehide', () => void membership.leave());
  element<HTMLElement>('title').textContent = 'matrix-sfu demo: Demo call (Matrix)';
  return { client, membership, self: `${session.userId}:${session.deviceId}`, name: session.userId };
}

async function main(): Promise<void> {
  const { client, membership, self, name } = await connect();
  const names = new Map<string, string>();
  client.on('peerJoined', (peer) => {
    names.set(peer.participantId, peer.displayName);
    tile(peer.participantId, peer.displayName);
  });
  client.on('peerLeft', ({ participantId }) => document.getElementById(`tile-${participantId}`)?.remove());
  client.on('trackAdded', ({ participantId, track }) => setTrack(tile(participantId, names.get(participantId) ?? participantId), track));
  client.on('trackRemoved', ({ participantId, kind }) => {
    const box = document.getElementById(`tile-${participantId}`);
    if (!box) return;
    if (kind === 'video') setTrack(box, undefined);
    else box.querySelectorAll('audio').forEach((audio) => audio.remove());
  });
  client.on('activeSpeaker', ({ participantId }) => {
    for (const box of grid.querySelectorAll('.tile')) box.classList.toggle('speaking', box.id === `tile-${participantId}`);
  });
  client.on('reconnecting', ({ reason }) => (status.textContent = `reconnecting (${reason})…`));
  client.on('reconnected', () => (status.textContent = `in the call as ${name}`));
  client.on('error', (error) => (status.textContent = `error: ${error.code}`));
  client.on('closed', ({ code, reason }) => {
    status.textContent = `disconnected (${code}${reason ? `: ${reason}` : ''})`;
    for (const button of [micButton, camButton, leaveButton]) button.disabled = true;
  });

  const { peers } = await client.join({ displayName: name });
  for (const peer of peers) {
    names.set(peer.participantId, peer.displayName);
    tile(peer.participantId, peer.displayName);
  }
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
  const mine = tile(self, `${name} (you)`);
  const [camera] = stream.getVideoTracks();
  const [microphone] = stream.getAudioTracks();
  if (camera) setTrack(mine, camera);
  const cam = camera ? await client.publish(camera, { source: 'camera' }) : undefined;
  const mic = microphone ? await client.publish(microphone, { source: 'microphone' }) : undefined;
  toggle(micButton, mic, ['Mute mic', 'Unmute mic'], client);
  toggle(camButton, cam, ['Stop camera', 'Start camera'], client);
  leaveButton.disabled = false;
  leaveButton.addEventListener('click', () => {
    void Promise.allSettled([client.leave(), membership?.leave()]).finally(() => {
      for (const track of stream.getTracks()) track.stop();
      grid.replaceChildren();
    });
  });
  document.addEventListener('click', () => grid.querySelectorAll('audio').forEach((audio) => void audio.play().catch(() => undefined)));
  status.textContent = `in the call as ${name}`;
}

main().catch((error: unknown) => {
  status.textContent = `failed: ${error instanceof Error ? error.message : String(error)}`;
  console.error(error);
});
