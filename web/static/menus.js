// Menus of the media-chrome control bar filled from what the manifests list: quality (hls.js levels of the
// codec family playing / dash.js representations of the video AdaptationSet playing, plus "auto"), audio tracks. Captions use media-chrome's own captions menu
// over the video's text tracks (hls.js and dash.js both add them); each menu and its button hide when
// there is nothing to choose between.
const kbps = (bps) => `${Math.round(bps / 1000)} kb/s`;

export const renditionLabel = ({ height, bandwidth }) =>
  `${height ? `${height}p` : "audio"}${bandwidth ? ` · ${kbps(bandwidth)}` : ""}`;

// items: [{ value, text }]; picked: the value checked now; onPick(value) when the viewer chooses.
export function fillMenu(menu, button, items, picked, onPick) {
  const entries = items.map(({ value, text }) => {
    const item = document.createElement("media-chrome-menu-item");
    item.setAttribute("type", "radio");
    // The role media-chrome gives an item once it is connected and upgraded, set from the start: a menu
    // read (by a screen reader, or axe-core) while its items are being replaced must still be a menu of items.
    item.setAttribute("role", "menuitemradio");
    item.setAttribute("value", value);
    item.textContent = text;
    if (value === picked) item.setAttribute("checked", "");
    return item;
  });
  menu.replaceChildren(...entries);
  // A menu of one choice (or none) is no choice: hide the button too.
  button.hidden = items.length < 2;
  menu.onchange = () => onPick(menu.value);
}

// The codec family of a video codecs string ("avc1" of "avc1.64001e", "av01" of "av01.0.04M.08"), as
// hls.js's level.codecSet names it; "" when there is none.
export const codecFamily = (codecs) => (codecs || "").split(",")[0].trim().slice(0, 4);

// The rungs a viewer chooses between: those of the codec family of rungs[playing] ({ family } each). With
// AV1 rungs beside the H.264 ones, hls.js lists a level per rung of each family a browser decodes: one
// entry per height, of the family that plays (hls.js's ABR stays in one codec set; picking a height never
// switches codecs). All the rungs when the one playing is not known.
export function familyRungs(rungs, playing) {
  const current = rungs[playing];
  return current ? rungs.filter((r) => r.family === current.family) : rungs;
}

// Quality: "auto" first, then the rungs from the highest down.
export function qualityItems(rungs) {
  const sorted = [...rungs].sort((a, b) => (b.height || 0) - (a.height || 0) || (b.bandwidth || 0) - (a.bandwidth || 0));
  return [{ value: "auto", text: "Auto" }, ...sorted.map((r) => ({ value: String(r.value), text: renditionLabel(r) }))];
}

export function audioItems(tracks) {
  return tracks.map((t, i) => ({ value: String(t.value ?? i), text: t.name || t.lang || `Track ${i + 1}` }));
}

// Captions: the button shows only when the video has subtitle or caption tracks.
export function watchCaptions(video, button) {
  const update = () => {
    const tracks = [...video.textTracks].filter((t) => t.kind === "subtitles" || t.kind === "captions");
    button.hidden = tracks.length === 0;
    document.body.dataset.captions = String(tracks.length);
  };
  video.textTracks.addEventListener("addtrack", update);
  video.textTracks.addEventListener("removetrack", update);
  update();
}
