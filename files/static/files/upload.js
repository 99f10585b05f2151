// The resumable upload widget of a record's admin page (files/templates/admin/files/owner_change_form.html).
//
// Each chosen file is sent with tus 1.0 to the record's `uploads/` endpoint of the API (README: "Resumable
// uploads (tus 1.0)"), with the page's session and CSRF token: a POST creates the upload, PATCHes send it
// CHUNK_SIZE bytes at a time. A chunk lost to the network or a server error is never sent from zero again:
// after a pause the widget asks the server (HEAD) how many bytes it kept and goes on from there. The file's
// checks run at its last byte; a refusal is shown with the API's own message.

const TUS_VERSION = "1.0.0";
// Small enough that a dropped connection loses little, large enough that a request's cost is negligible.
const CHUNK_SIZE = 5 * 1024 * 1024;
// Pauses before each new try after a network error or a 5xx, in milliseconds; then the file is given up.
const RETRY_DELAYS = [1000, 2000, 4000, 8000, 16000];
// Files sent at the same time; the others wait their turn.
const PARALLEL_UPLOADS = 3;

class Retryable extends Error {}

// The API's error body as a sentence: `{"detail": "..."}` or `{"detail": [{"loc": [...], "msg": "..."}]}`.
function errorMessage(status, text) {
  let detail;
  try {
    detail = JSON.parse(text).detail;
  } catch {
    return `The server answered ${status}.`;
  }
  if (Array.isArray(detail)) {
    return detail.map((error) => (error.type ? `${error.msg} (${error.type})` : error.msg)).join("; ");
  }
  return typeof detail === "string" ? detail : `The server answered ${status}.`;
}

function base64(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

// One request; resolves with the answer whatever its status, rejects (Retryable) when no answer came.
function send(method, url, { headers = {}, body = null, onProgress = null } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    if (onProgress) xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => resolve(xhr);
    xhr.onerror = xhr.onabort = xhr.ontimeout = () => reject(new Retryable("The connection was lost."));
    xhr.send(body);
  });
}

// The answer, or an error: Retryable when trying again may succeed (5xx, 409 offset, 460 checksum, 429).
function checked(xhr, ...expected) {
  if (expected.includes(xhr.status)) return xhr;
  if (xhr.status >= 500 || [409, 429, 460].includes(xhr.status)) {
    throw new Retryable(`The server answered ${xhr.status}.`);
  }
  throw new Error(errorMessage(xhr.status, xhr.responseText));
}

async function sha256(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
  return btoa(String.fromCharCode(...digest));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function formatSize(bytes) {
  const units = ["bytes", "KiB", "MiB", "GiB"];
  let unit = 0;
  while (bytes >= 1024 && unit < units.length - 1) {
    bytes /= 1024;
    unit += 1;
  }
  return unit ? `${bytes.toFixed(1)} ${units[unit]}` : `${bytes} bytes`;
}

class Upload {
  constructor(widget, file, category) {
    this.widget = widget;
    this.file = file;
    this.category = category;
    this.location = null;
    this.offset = 0;
    this.row = document.createElement("li");
    this.row.dataset.state = "waiting";
    const name = document.createElement("span");
    name.className = "files-upload-name";
    name.textContent = `${file.name} (${formatSize(file.size)}, ${category})`;
    this.progress = document.createElement("progress");
    this.progress.max = file.size || 1;
    this.progress.value = 0;
    this.status = document.createElement("span");
    this.status.className = "files-upload-status";
    this.status.textContent = "Waiting";
    this.row.append(name, this.progress, this.status);
  }

  get headers() {
    return { "Tus-Resumable": TUS_VERSION, "X-CSRFToken": this.widget.csrfToken };
  }

  show(state, text) {
    this.row.dataset.state = state;
    this.status.textContent = text;
  }

  async run() {
    this.show("uploading", "Uploading");
    try {
      const fileId = await this.send();
      this.progress.value = this.progress.max;
      const link = document.createElement("a");
      link.href = this.widget.fileUrl(fileId);
      link.textContent = "Stored: open the file";
      this.status.replaceChildren(link);
      this.row.dataset.state = "done";
      this.row.dataset.fileId = fileId;
    } catch (error) {
      this.show("failed", `Not stored: ${error.message}`);
    }
  }

  // Sends the file; resolves with the new file's id.
  async send() {
    if (this.file.size === 0) throw new Error("The file is empty.");
    let failures = 0;
    let resume = false;
    for (;;) {
      try {
        if (this.location === null) {
          await this.create();
        } else if (resume) {
          const fileId = await this.head();
          if (fileId) return fileId;
          resume = false;
        }
        const fileId = await this.patch();
        failures = 0;
        if (fileId) return fileId;
      } catch (error) {
        if (!(error instanceof Retryable) || failures >= RETRY_DELAYS.length) throw error;
        const delay = RETRY_DELAYS[failures];
        failures += 1;
        this.show("retrying", `${error.message} Trying again in ${delay / 1000} s`);
        await sleep(delay);
        this.show("uploading", "Uploading");
        resume = true;
      }
    }
  }

  async create() {
    const xhr = checked(
      await send("POST", this.widget.endpoint, {
        headers: {
          ...this.headers,
          "Upload-Length": String(this.file.size),
          "Upload-Metadata": `filename ${base64(this.file.name)},type ${base64(this.category)}`,
        },
      }),
      201,
    );
    this.location = new URL(xhr.getResponseHeader("Location"), window.location.href).href;
    this.offset = 0;
  }

  // How many bytes the server kept; the file's id when the upload was already complete.
  async head() {
    const xhr = await send("HEAD", this.location, { headers: this.headers });
    if (xhr.status === 404) throw new Error("The upload is no longer on the server (expired or refused).");
    checked(xhr, 200);
    this.offset = Number(xhr.getResponseHeader("Upload-Offset"));
    this.progress.value = this.offset;
    return xhr.getResponseHeader("X-File-Id");
  }

  async patch() {
    const chunk = await this.file.slice(this.offset, this.offset + CHUNK_SIZE).arrayBuffer();
    const headers = {
      ...this.headers,
      "Content-Type": "application/offset+octet-stream",
      "Upload-Offset": String(this.offset),
    };
    // SubtleCrypto exists on HTTPS pages (and localhost) only; elsewhere chunks go without a checksum.
    if (window.crypto?.subtle) headers["Upload-Checksum"] = `sha256 ${await sha256(chunk)}`;
    const start = this.offset;
    const xhr = checked(
      await send("PATCH", this.location, {
        headers,
        body: chunk,
        onProgress: (loaded) => {
          this.progress.value = start + loaded;
        },
      }),
      204,
    );
    this.offset = Number(xhr.getResponseHeader("Upload-Offset"));
    this.progress.value = this.offset;
    return xhr.getResponseHeader("X-File-Id");
  }
}

class UploadWidget {
  constructor(element) {
    this.element = element;
    this.endpoint = new URL(element.dataset.endpoint, window.location.href).href;
    this.csrfToken = element.dataset.csrfToken;
    this.input = element.querySelector("[data-files-upload-input]");
    this.category = element.querySelector("[data-files-upload-type]");
    this.button = element.querySelector("[data-files-upload-start]");
    this.list = element.querySelector("[data-files-upload-list]");
    this.queue = [];
    this.running = 0;
    this.stored = 0; // files stored since the page's list of files was last read
    this.input.addEventListener("change", () => {
      this.button.disabled = this.input.files.length === 0;
    });
    this.button.addEventListener("click", () => this.start());
    window.addEventListener("beforeunload", (event) => {
      if (this.running) event.preventDefault(); // leaving would stop the uploads in progress
    });
  }

  fileUrl(fileId) {
    return this.element.dataset.fileUrl.replace(this.element.dataset.fileIdPlaceholder, fileId);
  }

  start() {
    for (const file of this.input.files) {
      const upload = new Upload(this, file, this.category.value);
      this.list.append(upload.row);
      this.queue.push(upload);
    }
    this.input.value = "";
    this.button.disabled = true;
    this.next();
  }

  next() {
    while (this.running < PARALLEL_UPLOADS && this.queue.length) {
      const upload = this.queue.shift();
      this.running += 1;
      upload.run().finally(() => {
        this.running -= 1;
        if (upload.row.dataset.state === "done") this.stored += 1;
        if (this.stored && !this.running && !this.queue.length) {
          this.stored = 0;
          this.refreshFiles();
        }
        this.next();
      });
    }
  }

  // The page's list of the record's files, read again from the server, so that the new files show in it.
  async refreshFiles() {
    const id = this.element.dataset.filesList;
    const current = id && document.getElementById(id);
    if (!current) return;
    const response = await fetch(window.location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById(id);
    if (fresh) current.replaceWith(document.adoptNode(fresh));
  }
}

for (const element of document.querySelectorAll("[data-files-upload]")) new UploadWidget(element);
