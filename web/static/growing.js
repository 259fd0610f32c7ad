// A video still encoding plays from growing HLS playlists (PLAYLIST-TYPE:EVENT, no ENDLIST yet:
// transcoder/package/progressive.py) that list only what is published so far. hls.js sets the media's
// duration to that (16 s of a 40 s video) and raises it as segments come: the controls would show a
// wrong total that keeps jumping. The asset API knows the source's probed duration: hls.js is told it
// through its public attach overrides (MediaAttachingData.overrides.duration, hls.js 1.6+), so the
// duration is the video's own from the first frame. A ready asset's playlists are complete and exact.

// What to pass to hls.attachMedia(): the <video>, with the probed duration while the asset grows.
export function hlsMedia(video, asset) {
  const growing = asset.state !== "ready" && Number.isFinite(asset.duration) && asset.duration > 0;
  return growing ? { media: video, overrides: { duration: asset.duration } } : video;
}
