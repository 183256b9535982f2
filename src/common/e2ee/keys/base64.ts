// Base64 of media keys (README.md, "Wire format"): we send padded standard base64; we accept the
// standard or URL-safe alphabet, padded or not, as js-sdk does. atob/btoa only, so it runs in
// browsers and Node without Buffer.

const BASE64_BODY = /^[A-Za-z0-9+/]*$/;

/** Padded standard base64 (RFC 4648 §4) of `bytes`. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Decodes standard or URL-safe base64 (RFC 4648 §4, §5), with or without `=` padding.
 * Returns undefined for anything else: other characters, a mixed alphabet within one string,
 * wrong padding, or an impossible length.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  const urlSafe = /[-_]/.test(text);
  if (urlSafe && /[+/]/.test(text)) return undefined;
  const normalised = urlSafe ? text.replace(/-/g, '+').replace(/_/g, '/') : text;
  const body = normalised.replace(/={1,2}$/, '');
  if (!BASE64_BODY.test(body)) return undefined;
  const remainder = body.length % 4;
  if (remainder === 1) return undefined;
  if (body.length !== normalised.length && normalised.length % 4 !== 0) return undefined;
  const padded = remainder === 0 ? body : body + '='.repeat(4 - remainder);
  let binary: string;
  try {
    binary = atob(padded);
  } catch {
    return undefined;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
