// Viewer QoE: CMCD (CTA-5004) on every request hls.js and dash.js make, and a beacon to the edge
// (POST /qoe, cdn_edge/beacon.py) for what CMCD cannot carry: the player's own startup time and a
// fatal error. The edge turns both into Prometheus metrics (cdn_edge/qoe.py). CMCD goes in the
// query (one parameter the edge strips before its cache looks): headers would cost every media
// request a CORS preflight.

// A session per playback: the edge counts sessions, their startup and their rebuffers by it.
export const newSessionId = () =>
  (crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

// hls.js `cmcd` config (hls.js 1.x: CMCDController).
export const hlsCmcd = (sessionId, contentId) => ({ sessionId, contentId, useHeaders: false });

// dash.js settings carrying CMCD (dash.js 5: streaming.cmcd).
export const dashCmcd = (sessionId, contentId) => ({
  streaming: { cmcd: { enabled: true, sid: sessionId, cid: contentId, mode: "query" } },
});

function send(mediaUrl, body) {
  let url;
  try {
    url = new URL("/qoe", mediaUrl).href; // the edge that serves the media
  } catch {
    return;
  }
  const data = JSON.stringify(body);
  // sendBeacon survives the page closing; a text/plain body needs no CORS preflight.
  if (navigator.sendBeacon && navigator.sendBeacon(url, data)) return;
  fetch(url, { method: "POST", body: data, keepalive: true, headers: { "content-type": "text/plain" } }).catch(() => {});
}

// Report the startup time once, when `video` first plays; the clock starts now (when the source is set).
export function watchStartup(video, mediaUrl, sessionId) {
  const began = performance.now();
  const onPlaying = () => {
    video.removeEventListener("playing", onPlaying);
    send(mediaUrl, { sid: sessionId, event: "start", startup_ms: Math.round(performance.now() - began) });
  };
  video.addEventListener("playing", onPlaying);
  return () => video.removeEventListener("playing", onPlaying);
}

// Report a fatal playback error (before playback started, the edge counts a start failure).
export function reportFatal(mediaUrl, sessionId, reason) {
  send(mediaUrl, { sid: sessionId, event: "error", error: String(reason).slice(0, 200) });
}
