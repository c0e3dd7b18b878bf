// compose.yaml's example application: talks to the Astronaut sidecar over its
// HTTP API with nothing but Node's fetch. Inserts a few documents, searches
// them, then searches once a minute (watch it with `docker compose logs -f app`).
const base = process.env.ASTRONAUT_HTTP_URL ?? 'http://astronaut:8080';
const password = process.env.ASTRONAUT_REQUIREPASS ?? '';
const headers = { 'content-type': 'application/json', ...(password ? { authorization: `Bearer ${password}` } : {}) };

async function api(method, path, body) {
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${json.error}`);
  return json;
}

await api('POST', '/v1/insert', {
  key: 'docs',
  points: [
    { id: 'a', vector: [1, 0, 0], payload: { year: 1990, genre: 'drama' } },
    { id: 'b', vector: [0, 1, 0], payload: { year: 1975, genre: 'comedy' } },
    { id: 'c', vector: [0.7, 0.7, 0], payload: { year: 2001, genre: 'drama' } },
  ],
});
const search = () => api('POST', '/v1/search', { key: 'docs', vector: [0.9, 0.1, 0], top_k: 2, filter: '.genre == "drama"', with_payload: true });
console.log(JSON.stringify(await search()));
setInterval(async () => {
  try { console.log(JSON.stringify(await search())); } catch (e) { console.error(String(e)); }
}, 60_000);
