// The display name other participants see. It comes from Matrix room state (the admitted
// user's `m.room.member` displayname, else the user id), never from the client alone: a
// client may only narrow it, by appending to it (a device label such as " (phone)").

/** Longest display name kept (characters); longer ones are cut. */
export const MAX_DISPLAY_NAME_LENGTH = 128;

/** A display name fit for other participants' screens: no control or format characters, bounded, not blank. */
export function cleanDisplayName(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  // Control and format characters (bidi overrides included) could disguise a name.
  const cleaned = value.replace(/[\p{Cc}\p{Cf}]/gu, '').trim().slice(0, MAX_DISPLAY_NAME_LENGTH);
  return cleaned === '' ? undefined : cleaned;
}

/**
 * The name to show for a participant whose Matrix name is `matrixName` and whose client
 * asked for `requested`: `requested` (cleaned of control and format characters, trimmed, cut
 * to 128 characters) when it begins with `matrixName`, otherwise `matrixName`.
 */
export function narrowDisplayName(matrixName: string, requested: string | undefined): string {
  if (requested === undefined) return matrixName;
  const cleaned = cleanDisplayName(requested);
  if (cleaned === undefined || !cleaned.startsWith(matrixName)) return matrixName;
  return cleaned;
}
