// Words and numbers a creator reads (pure): durations, sizes, dates, time left, each asset's state.
export function humanDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function humanSize(bytes) {
  if (bytes == null) return "";
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit ? `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}` : `${bytes} bytes`;
}

// "less than a minute left", "2 min left", "1 h 5 min left": never "eta 3199 s".
export function timeLeft(seconds) {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return "less than a minute left";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min left`;
  const h = Math.floor(minutes / 60);
  return `${h} h ${minutes % 60} min left`;
}

export function humanDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

const pct = (fraction) => `${Math.floor(100 * Math.max(0, Math.min(1, fraction || 0)))}%`;

// The state column: what is happening, with progress in words.
export function stateText(asset) {
  switch (asset.state) {
    case "uploading":
      return `uploading ${pct(asset.progress)}`;
    case "queued":
      return asset.queue_position > 1 ? `waiting: ${asset.queue_position - 1} ahead in line` : "waiting for a worker";
    case "processing": {
      const left = timeLeft(asset.eta_seconds);
      return `encoding ${pct(asset.progress)}${left ? ` · ${left}` : ""}`;
    }
    case "ready":
      return "ready";
    case "failed":
      return "failed";
    default:
      return asset.state;
  }
}

// An <iframe> embed snippet; title escaped for an HTML attribute.
export function embedSnippet(pageOrigin, asset) {
  const token = asset.playback && asset.playback.hls ? new URL(asset.playback.hls).searchParams.get("token") : null;
  const src = `${pageOrigin}/embed/${encodeURIComponent(asset.id)}${token ? `?token=${encodeURIComponent(token)}` : ""}`;
  const title = String(asset.title || "video").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<iframe src="${src}" width="640" height="360" title="${title}" allow="fullscreen; picture-in-picture" allowfullscreen style="border:0"></iframe>`;
}
