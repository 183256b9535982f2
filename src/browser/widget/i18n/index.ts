// Language choice and message lookup. The language comes from the host's `lang` URL
// parameter (Element substitutes the user's client language), else the browser's preferred
// languages, else English. Only the primary subtag counts (`sv-FI` → Swedish).

import { en, type MessageKey, type Messages } from './en.ts';
import { sv } from './sv.ts';

export type { MessageKey, Messages } from './en.ts';

/** Languages the widget speaks. */
export const CATALOGUES = Object.freeze({ en, sv } satisfies Record<string, Messages>);

/** A supported language code. */
export type Language = keyof typeof CATALOGUES;

/** Values substituted into `{name}` placeholders. */
export type MessageParams = Readonly<Record<string, string | number>>;

/** Looks up messages in one language. */
export interface Translator {
  readonly language: Language;
  /** The sentence for `key` with `{placeholders}` filled in (unknown placeholders stay as written). */
  t(key: MessageKey, params?: MessageParams): string;
  /** `${base}.one` when count is 1, else `${base}.other`, with `{count}` filled in. */
  plural(base: PluralBase, count: number, params?: MessageParams): string;
}

/** Keys that have `.one` and `.other` forms. */
export type PluralBase = {
  [K in MessageKey]: K extends `${infer B}.one` ? (`${B}.other` extends MessageKey ? B : never) : never;
}[MessageKey];

function isLanguage(code: string): code is Language {
  return Object.hasOwn(CATALOGUES, code);
}

/**
 * Picks the language: the first of `requested` (the `lang` parameter), then `preferred`
 * (navigator.languages) whose primary subtag we support; English otherwise.
 */
export function pickLanguage(requested: string | null | undefined, preferred: readonly string[] = []): Language {
  for (const candidate of [requested ?? '', ...preferred]) {
    const primary = candidate.trim().toLowerCase().split(/[-_]/)[0] ?? '';
    if (isLanguage(primary)) return primary;
  }
  return 'en';
}

function fill(template: string, params: MessageParams | undefined): string {
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(params, name) ? String(params[name]) : whole));
}

/** A translator for `language`. */
export function createTranslator(language: Language): Translator {
  const messages: Messages = CATALOGUES[language];
  return {
    language,
    t: (key, params) => fill(messages[key], params),
    plural: (base, count, params) => fill(messages[`${base}.${count === 1 ? 'one' : 'other'}` as MessageKey], { ...params, count }),
  };
}
