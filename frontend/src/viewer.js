// Read-only diagrams: a version diff (added / removed / changed), an instance's path (where it
// is now, where it has been) and a version's heatmap (counts and mean durations per activity).
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import spiffworkflow from './spiffworkflow.json';
import { el, pageData } from './api.js';

async function open(container, xml) {
  const viewer = new NavigatedViewer({ container, moddleExtensions: { spiffworkflow } });
  await viewer.importXML(xml);
  viewer.get('canvas').zoom('fit-viewport');
  return viewer;
}

function mark(viewer, ids, marker) {
  const registry = viewer.get('elementRegistry');
  for (const id of ids) {
    if (registry.get(id)) {
      viewer.get('canvas').addMarker(id, marker);
    }
  }
}

async function showDiff(data) {
  const before = await open('#diagram-old', data.old_xml);
  const after = await open('#diagram-new', data.new_xml);
  mark(before, data.diff.removed.map((e) => e.element_id), 'cf-removed');
  mark(before, data.diff.changed.map((e) => e.element_id), 'cf-changed');
  mark(after, data.diff.added.map((e) => e.element_id), 'cf-added');
  mark(after, data.diff.changed.map((e) => e.element_id), 'cf-changed');
}

async function showHeatmap(data) {
  // Every element with its counts; the durations come formatted from the server (web.labels.duration), so the
  // diagram and the table read the same ("9 分钟" / "9 min"), in the page's one language.
  const viewer = await open('#diagram', data.xml);
  const canvas = viewer.get('canvas');
  canvas.zoom(canvas.zoom() * 0.9, 'auto'); // room for the badges at the diagram's edges
  const registry = viewer.get('elementRegistry');
  const overlays = viewer.get('overlays');
  const { labels } = data;
  const max = Math.max(1, ...data.stats.map((s) => s.count));
  for (const stat of data.stats) {
    if (!registry.get(stat.element_id) || !stat.count) continue;
    const heat = Math.round(80 + (175 * stat.count) / max);
    const timed = stat.avg_seconds !== null;
    const badge = el('span', {
      class: 'cf-heat', 'data-element': stat.element_id,
      title: `${stat.kind} · ${labels.entered} ${stat.count} · ${labels.active} ${stat.open}`
        + (timed ? ` · ${labels.mean} ${stat.avg} · ${labels.p90} ${stat.p90}` : ''),
    }, `${stat.count} · ${stat.avg}`);
    badge.style.background = `rgb(${heat}, 60, 40)`;
    overlays.add(stat.element_id, { position: { bottom: 14, left: -6 }, html: badge });
  }
}

async function showInstance(data) {
  const viewer = await open('#diagram', data.xml);
  const registry = viewer.get('elementRegistry');
  const overlays = viewer.get('overlays');
  const visited = Object.keys(data.path.visited);
  mark(viewer, visited, 'cf-visited');
  mark(viewer, data.path.current, 'cf-current');
  for (const [id, count] of Object.entries(data.path.visited)) {
    if (registry.get(id) && count > 1) {
      overlays.add(id, { position: { top: -10, left: -10 }, html: el('span', { class: 'cf-count' }, `×${count}`) });
    }
  }
  // A sequence flow was taken when both its ends were passed (or it leads to where the instance waits).
  const passed = new Set([...visited, ...data.path.current]);
  for (const element of registry.filter((e) => e.type === 'bpmn:SequenceFlow')) {
    const flow = element.businessObject;
    if (visited.includes(flow.sourceRef.id) && passed.has(flow.targetRef.id)) {
      viewer.get('canvas').addMarker(element.id, 'cf-visited');
    }
  }
}

const data = pageData();
const shows = { diff: showDiff, heatmap: showHeatmap, instance: showInstance };
shows[data.mode](data).then(() => {
  document.body.dataset.viewerReady = '1';
}).catch((error) => {
  document.getElementById('viewer-error').textContent = `无法显示 Cannot show the diagram: ${error.message}`;
});
