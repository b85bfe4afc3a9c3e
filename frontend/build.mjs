// Bundles frontend/src into web/static/build/ (served by Flask at /static/build/).
//
// Every file gets a content hash in its name (modeler-3FJ2K7QX.js), so the server can let browsers keep it for a
// year; manifest.json maps each bundle's plain name ("modeler.js") to the hashed file, and the templates ask for
// the plain name (web/assets.py). The look (Bootstrap 5 with the bank's colours) is compiled from
// src/theme.scss by Sass first.
import * as esbuild from 'esbuild';
import * as sass from 'sass';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const out = new URL('../web/static/build/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
for (const name of readdirSync(out)) rmSync(join(out, name), { recursive: true, force: true });

const scratch = mkdtempSync(join(tmpdir(), 'careflow-theme-'));
const theme = join(scratch, 'theme.css');
const compiled = sass.compile(join(here, 'src/theme.scss'), {
  loadPaths: [join(here, 'node_modules')],
  style: 'compressed',
  quietDeps: true,
  silenceDeprecations: ['import', 'global-builtin', 'color-functions', 'if-function'],
});
writeFileSync(theme, compiled.css);

const fonts = { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file', '.svg': 'file' };
const common = {
  bundle: true, outdir: out, minify: true, metafile: true, logLevel: 'warning', loader: fonts,
  entryNames: '[name]-[hash]', assetNames: '[name]-[hash]',
};
const scripts = await esbuild.build({
  ...common,
  entryPoints: ['modeler', 'viewer', 'form-editor', 'form-viewer', 'reports', 'ui', 'inbox']
    .map((name) => ({ in: `src/${name}.js`, out: name })),
  format: 'iife',
  target: ['chrome100'],
  legalComments: 'linked',
});
// Stylesheets (with the bpmn icon font they reference): the editor's page needs form-js's editor styles too, the
// task page only the viewer's; careflow.css is the designer's own layout.
const styles = await esbuild.build({
  ...common,
  entryPoints: [
    { in: 'src/modeler.css', out: 'modeler-styles' }, { in: 'src/form.css', out: 'form-styles' },
    { in: 'src/form-viewer.css', out: 'form-viewer-styles' }, { in: 'src/careflow.css', out: 'careflow' },
    { in: theme, out: 'theme' },
  ],
});
rmSync(scratch, { recursive: true, force: true });

// manifest.json: "modeler.js" → "modeler-3FJ2K7QX.js" for every entry point (not for fonts and licence files).
const manifest = {};
for (const result of [scripts, styles]) {
  for (const [file, meta] of Object.entries(result.metafile.outputs)) {
    if (!meta.entryPoint) continue;
    const hashed = basename(file);
    const plain = hashed.replace(/-[A-Z0-9]{8}(\.[a-z]+)$/, '$1');
    manifest[plain] = hashed;
  }
}
writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1));
console.log(`built ${Object.keys(manifest).length} bundles into ${resolve(out)}`);
