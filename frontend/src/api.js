// fetch() against /api/v1 with the signed-in session: the CSRF token from the page's meta tag.
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && method !== 'GET') {
    headers['X-CSRF-Token'] = meta.content;
  }
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = { raw: text };
  }
  return { ok: response.ok, status: response.status, data };
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function pageData() {
  const holder = document.getElementById('page-data');
  return holder ? JSON.parse(holder.textContent) : {};
}
