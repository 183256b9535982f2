// Renders native-config/synapse/homeserver.template.yaml: a pure string function, kept apart
// from process handling so that a typo in a placeholder fails loudly and testably.

/** Values for the `{{name}}` placeholders; each is written as its JSON encoding. */
export type TemplateValues = Readonly<Record<string, unknown>>;

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g;

/**
 * Replaces every `{{name}}` in `template` with `JSON.stringify(values[name])`.
 *
 * JSON scalars, arrays and objects are valid YAML flow nodes, so strings are quoted and
 * escaped correctly and lists (such as the MatrixRTC transports) drop in as they are.
 * Comment lines (first non-blank character `#`) are left untouched.
 *
 * @throws {TypeError} listing every placeholder without a value, every value no
 *   placeholder used, and every value JSON cannot encode (undefined, functions).
 */
export function renderTemplate(template: string, values: TemplateValues): string {
  const faults: string[] = [];
  const used = new Set<string>();
  const lines = template.split('\n').map((line) => {
    if (line.trimStart().startsWith('#')) return line;
    return line.replace(PLACEHOLDER, (whole, name: string) => {
      used.add(name);
      if (!Object.hasOwn(values, name)) {
        faults.push(`no value for placeholder {{${name}}}`);
        return whole;
      }
      const encoded = JSON.stringify(values[name]);
      if (encoded === undefined) {
        faults.push(`value for {{${name}}} has no JSON encoding`);
        return whole;
      }
      return encoded;
    });
  });
  for (const name of Object.keys(values)) {
    if (!used.has(name)) faults.push(`value ${name} is not used by the template`);
  }
  if (faults.length > 0) {
    throw new TypeError(`cannot render template: ${faults.join('; ')}`);
  }
  return lines.join('\n');
}
