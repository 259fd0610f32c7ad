// The creator page's video list as the server filters it (GET /assets): pure, tested under Node.

// The first page's URL: `state` and the search box's text `q` (the server searches titles and
// descriptions, any case; blank: no search), both encoded, as the API bounds them.
export function assetsUrl(api, limit, state, q) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (state) params.set("state", state);
  const text = (q || "").trim();
  if (text) params.set("q", text.slice(0, 100));
  return `${api}/assets?${params}`;
}
