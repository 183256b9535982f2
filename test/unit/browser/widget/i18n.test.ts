// The widget's catalogues: Swedish and English have exactly the same keys, no empty
// sentence, and the same {placeholders} per key; language choice and plurals.

import { describe, expect, it } from 'vitest';
import { en } from '../../../../src/browser/widget/i18n/en.ts';
import { sv } from '../../../../src/browser/widget/i18n/sv.ts';
import { CATALOGUES, createTranslator, pickLanguage } from '../../../../src/browser/widget/i18n/index.ts';

const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1] ?? '').sort();

describe('widget i18n', () => {
  it('sv and en have every key, and no others', () => {
    expect(Object.keys(sv).sort()).toEqual(Object.keys(en).sort());
  });

  it('every catalogue has a non-empty sentence with the same placeholders as English for every key', () => {
    for (const [language, messages] of Object.entries(CATALOGUES)) {
      for (const [key, english] of Object.entries(en)) {
        const text = (messages as Record<string, string>)[key] ?? '';
        expect(text.trim(), `${language} ${key}`).not.toBe('');
        expect(placeholders(text), `${language} ${key}`).toEqual(placeholders(english));
      }
    }
  });

  it('pickLanguage() takes the lang parameter first, then the browser languages, by primary subtag', () => {
    expect(pickLanguage('sv')).toBe('sv');
    expect(pickLanguage('sv-FI', ['en-GB'])).toBe('sv');
    expect(pickLanguage('de', ['sv-SE', 'en'])).toBe('sv');
    expect(pickLanguage(undefined, ['fr', 'en-US'])).toBe('en');
    expect(pickLanguage('$org.matrix.msc2873.client_language', [])).toBe('en');
    expect(pickLanguage('SV_se')).toBe('sv');
  });

  it('t() fills placeholders and plural() picks .one or .other', () => {
    const t = createTranslator('sv');
    expect(t.t('call.you', { name: 'Anna' })).toBe('Anna (du)');
    expect(t.plural('call.participants', 1)).toBe('1 deltagare');
    expect(t.plural('rooms.inCall', 3)).toBe('3 personer i samtalet');
    expect(createTranslator('en').plural('rooms.inCall', 1)).toBe('1 person in the call');
    expect(t.t('call.you')).toBe('{name} (du)');
  });
});
