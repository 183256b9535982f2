// Development demo page. With the embedded dev homeserver of `npm start`
// (served /demo/dev.json) it is a launcher for the call widget (src/browser/widget) in
// standalone mode: one link per demo user, opening /widget/ pre-filled with
// the dev homeserver, the user and the demo room (the password is shown, never
// put in a URL). Without it (auth.mode none) it joins the conference named by
// `?conference=` with dev admission, publishes camera and microphone and shows
// a tile per participant with mute buttons and leave: that path exercises
// SfuClient alone.

import { SfuClient } from '../SfuClient.ts';
import type { LocalPublication } from '../LocalPublication.ts';

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

/** The widget URL that signs `userId` in to the demo room (standalone mode). */
function widgetUrl(info: DevInfo, userId: string): string {
  const query = new URLSearchParams({ homeserver: info.homeserverUrl, user: userId, roomId: info.roomId });
  return `/widget/?${query}`;
}

/** The launcher: one link per demo user; `?user=alice` goes straight to the widget. */
function showWidgetLauncher(info: DevInfo): void {
  const wanted = params.get('user');
  const preset = info.users.find((user) => user.userId === wanted || user.userId.startsWith(`@${wanted}:`));
  if (preset) {
    location.assign(widgetUrl(info, preset.userId));
    return;
  }
  for (const button of [micButton, camButton, leaveButton]) button.hidden = true;
  element<HTMLElement>('title').textContent = 'matrix-sfu demo: Demo call';
  const passwords = [...new Set(info.users.map((user) => user.password))].join(', ');
  status.textContent = `open the call widget as one demo user per tab (password: ${passwords})`;
  const list = document.createElement('ul');
  list.className = 'launcher';
  for (const user of info.users) {
    const link = document.createElement('a');
    link.href = widgetUrl(info, user.userId);
    link.target = '_blank';
    link.rel = 'noopener';
    link.textContent = `Join the demo call as ${user.userId}`;
    const item = document.createElement('li');
    item.append(link);
    list.append(item);
  }
  const note = document.createElement('li');
  note.textContent =
    'Calls signed in here are not end-to-end encrypted (every tile says so): a sign-in page has no Olm keys to share media keys with. ' +
    'For an encrypted call, add /widget/ to a room in Element Web with perParticipantE2EE=true (README, "The call widget").';
  list.append(note);
  grid.replaceChildren(list);
}

/** Connects with dev admission (auth.mode none). */
async function connect(): Promise<{ client: SfuClient; self: string; name: string }> {
  const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const client = await SfuClient.connect({ url: wsBase, query: { conference, participant, name: displayName } });
  return { client, self: participant, name: displayName };
}

async function main(): Promise<void> {
  const info = await devInfo();
  if (info) {
    showWidgetLauncher(info);
    return;
  }
  const { client, self, name } = await connect();
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
    void client.leave().finally(() => {
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
