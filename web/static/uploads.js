// Uploads of the creator page: one tus-js-client upload per file (dropped or chosen), each with its
// own row and progress, resumable across reloads; pause and resume act on every running upload.
import { authHeaders } from "./auth.js";
import { humanSize, timeLeft } from "./format.js";

export class UploadQueue {
  constructor({ api, chunkBytes, list, onChange, onDone }) {
    Object.assign(this, { api, chunkBytes, list, onChange, onDone });
    this.items = []; // { file, upload, sent, total, state, started, el }
  }

  add(files) {
    for (const file of files) {
      const item = { file, sent: 0, total: file.size, state: "starting", started: 0 };
      item.el = this.row(item);
      this.list.appendChild(item.el);
      this.items.push(item);
      this.start(item);
    }
    this.changed();
  }

  row(item) {
    const li = document.createElement("li");
    li.dataset.file = item.file.name;
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = item.file.name;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", `upload of ${item.file.name}`);
    const text = document.createElement("span");
    text.className = "upload-text muted";
    li.append(name, bar, text);
    return li;
  }

  start(item) {
    const { file } = item;
    item.upload = new tus.Upload(file, {
      endpoint: `${this.api}/files/`,
      headers: authHeaders(),
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      chunkSize: this.chunkBytes || 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      // Resumable across page reloads: the upload URL is remembered by file fingerprint.
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => {
        Object.assign(item, { sent, total, state: "uploading" });
        this.changed();
      },
      onSuccess: () => {
        Object.assign(item, { sent: item.total, state: "uploaded" });
        this.changed();
        this.onDone();
      },
      onError: (error) => {
        item.state = "failed";
        item.error = error.message || String(error);
        this.changed();
      },
    });
    item.started = performance.now();
    item.upload.findPreviousUploads().then((previous) => {
      if (previous.length) item.upload.resumeFromPreviousUpload(previous[0]);
      item.upload.start();
    });
  }

  running() {
    return this.items.filter((i) => i.state === "uploading" || i.state === "starting");
  }

  pause() {
    for (const item of this.running()) {
      item.upload.abort();
      item.state = "paused";
    }
    this.changed();
  }

  resume() {
    for (const item of this.items.filter((i) => i.state === "paused")) {
      item.state = "uploading";
      item.started = performance.now() - 1; // the rate is measured again from here
      item.resumedAt = item.sent;
      item.upload.start();
    }
    this.changed();
  }

  text(item) {
    const fraction = item.total ? item.sent / item.total : 0;
    const amount = `${Math.floor(100 * fraction)}% of ${humanSize(item.total)}`;
    if (item.state === "uploaded") return "uploaded, transcoding";
    if (item.state === "failed") return `failed: ${item.error}`;
    if (item.state === "paused") return `${amount} (paused)`;
    const seconds = (performance.now() - item.started) / 1000;
    const rate = seconds > 1 ? (item.sent - (item.resumedAt || 0)) / seconds : 0;
    const left = rate > 0 ? timeLeft((item.total - item.sent) / rate) : "";
    return left ? `${amount} · ${left}` : amount;
  }

  changed() {
    for (const item of this.items) {
      item.el.querySelector("progress").value = item.total ? item.sent / item.total : 0;
      item.el.querySelector(".upload-text").textContent = this.text(item);
      item.el.dataset.state = item.state;
    }
    const sent = this.items.reduce((n, i) => n + i.sent, 0);
    const total = this.items.reduce((n, i) => n + i.total, 0);
    const done = this.items.filter((i) => i.state === "uploaded").length;
    this.onChange({ fraction: total ? sent / total : 0, done, count: this.items.length, running: this.running().length });
  }
}
