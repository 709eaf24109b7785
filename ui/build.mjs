// Builds the dashboard into ui/dist/: index.html, app-<hash>.js, app-<hash>.css and
// source.sha256. Run with `npm run build` (after `npm ci`).
//
// Staleness guard: `dist/source.sha256` holds the lowercase hex SHA-256 (plus "\n") of the
// sources the bundle was built from, so `tests/ui_bundle.rs` can tell a stale bundle
// without Node. The scheme, exactly:
//   files  = every regular file under ui/src/ (recursively), plus ui/build.mjs,
//            ui/package.json and ui/package-lock.json;
//   path   = the file's path relative to ui/, with "/" separators (e.g. "src/main.tsx");
//   order  = files sorted by path, bytewise ascending (UTF-8);
//   digest = SHA-256 over the concatenation, for each file in order, of
//            path bytes, one 0x00 byte, the content length in decimal ASCII, one 0x00
//            byte, then the content bytes.
// Asset names carry the first 16 hex digits of the SHA-256 of their content, so the
// server can cache them for a year.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ui = dirname(fileURLToPath(import.meta.url));
const dist = join(ui, 'dist');

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...walk(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

export function sourceDigest() {
  const files = [...walk(join(ui, 'src')), join(ui, 'build.mjs'), join(ui, 'package.json'), join(ui, 'package-lock.json')];
  const entries = files.map((f) => [relative(ui, f).split(sep).join('/'), f]);
  entries.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  const h = createHash('sha256');
  for (const [rel, f] of entries) {
    const content = readFileSync(f);
    h.update(Buffer.from(rel, 'utf8'));
    h.update(Buffer.from([0]));
    h.update(Buffer.from(String(content.length), 'ascii'));
    h.update(Buffer.from([0]));
    h.update(content);
  }
  return h.digest('hex');
}

const result = await build({
  entryPoints: { app: join(ui, 'src/main.tsx') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: dist,
  write: false,
  legalComments: 'none',
  sourcemap: false,
  logLevel: 'warning',
});

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const names = {};
for (const f of result.outputFiles) {
  const ext = f.path.endsWith('.css') ? 'css' : 'js';
  const hash = createHash('sha256').update(f.contents).digest('hex').slice(0, 16);
  const name = `app-${hash}.${ext}`;
  writeFileSync(join(dist, name), f.contents);
  names[ext] = name;
}
if (!names.js || !names.css) throw new Error('esbuild produced no JS or no CSS');

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'">
<meta name="color-scheme" content="dark light">
<title>Strix</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/${names.css}">
<script type="module" src="/ui/${names.js}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The Strix dashboard needs JavaScript. The APIs under /api work without it.</noscript>
</body>
</html>
`;
writeFileSync(join(dist, 'index.html'), html);
writeFileSync(join(dist, 'source.sha256'), `${sourceDigest()}\n`);
for (const n of ['index.html', names.css, names.js]) {
  console.log(`${n}\t${statSync(join(dist, n)).size} bytes`);
}
