// The source tree is split by runtime (server, browser, common, build); this test keeps the
// boundaries: server code never imports browser code and vice versa, common code imports
// neither, build tooling imports no runtime code, and no production server module loads the
// development homeserver statically. It reads every import specifier of every file under src/.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

/** Top folders under src/ and the top folders each may import from. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  server: ['server', 'common'],
  browser: ['browser', 'common'],
  common: ['common'],
  build: ['build'],
};

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listTs(path));
    else if (/\.(ts|mts)$/.test(name)) out.push(path);
  }
  return out;
}

interface ImportRef {
  readonly file: string;
  readonly target: string;
  readonly dynamic: boolean;
  readonly typeOnly: boolean;
}

// Static `import … from`, `export … from`, side-effect `import '…'` and dynamic `import('…')`.
const IMPORT_RE = /(?:^|\n)\s*(import\s+type\s[^;]*?from\s*|import\s[^;]*?from\s*|export\s[^;]*?from\s*|import\s*)(['"])(\.{1,2}\/[^'"]+)\2|import\(\s*(['"])(\.{1,2}\/[^'"]+)\4\s*\)/g;

function importsOf(file: string): ImportRef[] {
  const text = readFileSync(file, 'utf8');
  const refs: ImportRef[] = [];
  for (const match of text.matchAll(IMPORT_RE)) {
    const spec = match[3] ?? match[5]!;
    refs.push({
      file,
      target: resolve(dirname(file), spec),
      dynamic: match[5] !== undefined,
      typeOnly: match[1]?.startsWith('import type') === true,
    });
  }
  return refs;
}

function topOf(path: string): string {
  return relative(SRC, path).split(/[\\/]/)[0]!;
}

const files = listTs(SRC);

describe('src/ layout', () => {
  it('has exactly the runtime folders server, browser, common and build', () => {
    const tops = new Set(readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory()));
    expect([...tops].sort()).toEqual(Object.keys(ALLOWED).sort());
    expect(readdirSync(SRC).filter((name) => !tops.has(name))).toEqual([]);
  });

  it('every import stays inside the folders its runtime may use', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = topOf(file);
      for (const ref of importsOf(file)) {
        if (!ref.target.startsWith(SRC)) {
          violations.push(`${relative(SRC, file)} imports outside src/: ${relative(SRC, ref.target)}`);
          continue;
        }
        const to = topOf(ref.target);
        if (!ALLOWED[from]!.includes(to)) violations.push(`${relative(SRC, file)} (${from}) imports ${relative(SRC, ref.target)} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('no production server module imports the development homeserver except as a type or with import()', () => {
    const dev = join(SRC, 'server', 'dev');
    const violations = files
      .filter((file) => !file.startsWith(dev + '/'))
      .flatMap(importsOf)
      .filter((ref) => ref.target.startsWith(dev + '/') && !ref.dynamic && !ref.typeOnly)
      .map((ref) => `${relative(SRC, ref.file)} imports ${relative(SRC, ref.target)}`);
    expect(violations).toEqual([]);
  });

  it('the import scanner sees static, type-only and dynamic imports', () => {
    const refs = importsOf(join(SRC, 'server', 'main.ts'));
    expect(refs.some((ref) => ref.typeOnly && ref.target.includes(`${join('server', 'dev')}`))).toBe(true);
    expect(refs.some((ref) => ref.dynamic)).toBe(true);
    expect(refs.some((ref) => !ref.dynamic && !ref.typeOnly)).toBe(true);
  });
});
