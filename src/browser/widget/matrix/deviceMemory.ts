// Standalone sign-ins reuse their Matrix device. Only the device id of the last password
// sign-in per homeserver and user is kept (localStorage; no token is ever stored), and the
// next password login asks for it (`device_id`), so the homeserver gives that device a new
// token instead of adding one more "SFU call" session that Element lists as unverified.
// Sign-out deletes the device on the homeserver and forgets it here. Storage that is missing
// or refuses (private windows) only means a new device, as before.

const STORAGE_KEY = 'matrix-sfu.widget.devices';
/** Sign-ins remembered at most; the oldest is forgotten first. */
export const MAX_REMEMBERED_DEVICES = 20;

interface Remembered {
  readonly homeserverUrl: string;
  readonly userId: string;
  readonly deviceId: string;
}

function storage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

function load(): Remembered[] {
  try {
    const parsed: unknown = JSON.parse(storage()?.getItem(STORAGE_KEY) ?? '[]');
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (entry): entry is Remembered =>
        typeof entry === 'object' && entry !== null &&
        typeof (entry as Remembered).homeserverUrl === 'string' &&
        typeof (entry as Remembered).userId === 'string' &&
        typeof (entry as Remembered).deviceId === 'string' &&
        (entry as Remembered).deviceId.length > 0 && (entry as Remembered).deviceId.length <= 255,
    );
  } catch {
    return [];
  }
}

function save(entries: readonly Remembered[]): void {
  try {
    storage()?.setItem(STORAGE_KEY, JSON.stringify(entries.slice(-MAX_REMEMBERED_DEVICES)));
  } catch {
    // Full or refused storage: the next sign-in makes a new device, as it did before.
  }
}

/** The device of the last sign-in of `user` (a full user id, or the localpart as typed) on `homeserverUrl`. */
export function rememberedDevice(homeserverUrl: string, user: string): string | undefined {
  const matches = (entry: Remembered): boolean =>
    entry.homeserverUrl === homeserverUrl && (entry.userId === user || entry.userId.startsWith(`@${user.replace(/^@/, '')}:`));
  return load().findLast(matches)?.deviceId;
}

/** Remembers the device of a successful password sign-in. */
export function rememberDevice(homeserverUrl: string, userId: string, deviceId: string): void {
  save([...load().filter((entry) => !(entry.homeserverUrl === homeserverUrl && entry.userId === userId)), { homeserverUrl, userId, deviceId }]);
}

/** Forgets the device of `userId` (it was logged out). */
export function forgetDevice(homeserverUrl: string, userId: string): void {
  save(load().filter((entry) => !(entry.homeserverUrl === homeserverUrl && entry.userId === userId)));
}
