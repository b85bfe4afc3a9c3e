// Charts of the report pages (/reports, /reports/processes), drawn with Chart.js from the page's
// JSON block (#page-data: {labels, charts: {name: {columns, rows}}}); the tables under them hold
// the same figures and are what gets exported.
import { Chart, registerables } from 'chart.js';
import { pageData } from './api.js';

Chart.register(...registerables);

const COLORS = ['#0b3d91', '#c62828', '#f9a825', '#2e7d32', '#6a1b9a', '#00838f', '#8d6e63', '#546e7a'];

// Which columns each chart draws: the first column names the bars, the others are series. Counts are whole
// numbers, so their axis ticks are too (no "0.5 complaints"); measures (averages, seconds) are not counts.
const SPECS = {
  work: { type: 'bar', label: 0, series: ['open', 'overdue'] },
  complaints_by_channel: { type: 'bar', label: 0, series: ['complaints'] },
  satisfaction: { type: 'line', label: 0, series: ['average'], measure: true },
  cross_sell_funnel: { type: 'funnel', series: ['leads', 'contacted', 'interested', 'sold', 'blocked'] },
  care: { type: 'bar', label: 0, series: ['sent', 'refused_consent', 'refused_dnd', 'refused_other', 'failed', 'pending'], stacked: true },
  revisits: { type: 'bar', label: [0, 1], series: ['due', 'completed', 'on_time'] },
  versions: { type: 'bar', label: 0, series: ['p50_seconds', 'p90_seconds', 'p95_seconds'], prefix: 'v', measure: true },
  activities: { type: 'bar', label: 0, series: ['avg_seconds'], measure: true },
  waits: { type: 'bar', label: 0, series: ['avg_age_seconds', 'max_age_seconds'], measure: true },
};

function rowLabel(row, label, prefix) {
  const parts = Array.isArray(label) ? label.map((i) => row[i]) : [row[label]];
  return (prefix || '') + parts.filter((p) => p !== '' && p !== null).join(' · ');
}

// Whole-number ticks on a count axis, grouped the page's way (1,234).
const COUNT_AXIS = { beginAtZero: true, ticks: { precision: 0 } };

function scales(spec, valueAxis) {
  const axes = {};
  if (spec.stacked) { axes.x = { stacked: true }; axes.y = { stacked: true }; }
  if (!spec.measure) axes[valueAxis] = { ...(axes[valueAxis] || {}), ...COUNT_AXIS };
  return axes;
}

function config(spec, table, labels) {
  const index = (name) => table.columns.indexOf(name);
  if (spec.type === 'funnel') {  // one row: the stages become the bars
    const row = table.rows[0] || [];
    return {
      type: 'bar',
      data: {
        labels: spec.series.map((s) => labels[s] || s),
        datasets: [{ label: labels.leads || 'leads', data: spec.series.map((s) => Number(row[index(s)] || 0)), backgroundColor: COLORS }],
      },
      options: { indexAxis: 'y', plugins: { legend: { display: false } }, scales: scales(spec, 'x') },
    };
  }
  return {
    type: spec.type,
    data: {
      labels: table.rows.map((r) => rowLabel(r, spec.label, spec.prefix)),
      datasets: spec.series.filter((s) => index(s) >= 0).map((s, i) => ({
        label: labels[s] || s,
        data: table.rows.map((r) => (r[index(s)] === '' ? null : Number(r[index(s)]))),
        backgroundColor: COLORS[i % COLORS.length],
        borderColor: COLORS[i % COLORS.length],
      })),
    },
    options: { responsive: true, animation: false, scales: scales(spec, 'y') },
  };
}

function draw() {
  const data = pageData();
  if (!data || !data.charts) return;
  for (const [name, table] of Object.entries(data.charts)) {
    const canvas = document.getElementById(`chart-${name}`);
    const spec = SPECS[name];
    if (!canvas || !spec) continue;
    if (!table.rows.length) {  // an empty chart says so instead of drawing bare axes (the page adds the note)
      canvas.hidden = true;
      canvas.dataset.drawn = '0';
      continue;
    }
    const chart = new Chart(canvas, config(spec, table, data.labels || {}));
    canvas.dataset.drawn = String(chart.data.datasets.length);
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', draw);
else draw();
