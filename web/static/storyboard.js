// Storyboard thumbnails for media-chrome's <media-preview-thumbnail>: it reads a
// <track kind="metadata" label="thumbnails"> whose cues are "sprite.jpg#xywh=x,y,w,h". The published
// map has relative sprite names; resolved against the track's URL they would lose the playback token
// of a private asset, so the map is fetched here and given to the track (as a blob: URL) with every
// sprite made absolute and carrying the same query as the map.
export function absoluteStoryboard(vttText, vttUrl) {
  const base = new URL(vttUrl);
  const lines = vttText.split(/\r?\n/);
  let cues = 0;
  for (let i = 1; i < lines.length; i++) {
    if (!lines[i - 1].includes("-->") || !lines[i].trim()) continue;
    const [image, fragment] = lines[i].trim().split("#");
    const src = new URL(image, base);
    if (!src.search) src.search = base.search;
    lines[i] = fragment ? `${src.href}#${fragment}` : src.href;
    cues++;
  }
  return { text: lines.join("\n"), cues, sprites: [...new Set(lines.filter((l, i) => i && lines[i - 1].includes("-->")).map((l) => l.split("#")[0]))] };
}

// Adds the thumbnails track to `video`; resolves to the number of cues (0 when there is no storyboard).
export async function attachStoryboard(video, vttUrl) {
  if (!vttUrl) return 0;
  const resp = await fetch(vttUrl).catch(() => null);
  if (!resp || !resp.ok) return 0;
  const { text, cues, sprites } = absoluteStoryboard(await resp.text(), vttUrl);
  if (!cues) return 0;
  for (const old of video.querySelectorAll('track[label="thumbnails"]')) old.remove();
  const track = document.createElement("track");
  track.kind = "metadata";
  track.label = "thumbnails";
  track.default = true;
  track.src = URL.createObjectURL(new Blob([text], { type: "text/vtt" }));
  video.appendChild(track);
  track.track.mode = "hidden"; // cues load without being drawn
  // Fetch the sprites now, so the first hover shows a picture, not an empty frame.
  await Promise.all(sprites.map((src) => new Promise((done) => Object.assign(new Image(), { onload: done, onerror: done, src }))));
  return cues;
}
