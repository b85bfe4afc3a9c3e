// Bundles frontend/src/*.js into web/static/build/ (served by Flask at /static/build/).
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const out = new URL('../web/static/build/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: ['src/modeler.js', 'src/viewer.js', 'src/form-editor.js', 'src/form-viewer.js', 'src/reports.js'],
  bundle: true,
  format: 'iife',
  target: ['chrome100'],
  outdir: out,
  minify: true,
  sourcemap: false,
  legalComments: 'linked',
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file', '.svg': 'file' },
  logLevel: 'warning',
});

// Stylesheets (with the bpmn icon font they reference) bundled the same way.
await esbuild.build({
  // The editor's page needs form-js's editor styles too; the task page only the viewer's.
  entryPoints: { 'modeler-styles': 'src/modeler.css', 'form-styles': 'src/form.css',
                 'form-viewer-styles': 'src/form-viewer.css' },
  bundle: true,
  outdir: out,
  minify: true,
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file', '.svg': 'file' },
  logLevel: 'warning',
});
copyFileSync(new URL('src/careflow.css', import.meta.url).pathname, `${out}careflow.css`);
console.log(`built into ${out}`);
