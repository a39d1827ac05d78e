// The dashboard's only script: live updates over Server-Sent Events. The cookie
// authenticates every request (same origin); no key is ever seen by this script.
(() => {
  "use strict";
  const FINAL = new Set(["succeeded", "failed", "cancelled"]);
  const REFRESH_MS = 1000;   // at most one re-read of the fragments per second
  const PERIODIC_MS = 15000; // ages and heartbeats move on without events

  function toLogin() {
    window.location.assign("/dashboard/login");
  }

  async function fragment(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (response.status === 401 || response.redirected) {
      toLogin();
      return null;
    }
    return response.ok ? response.text() : null;
  }

  function setStatus(element, status) {
    element.textContent = status;
    element.className = element.className.replace(/status-\w+/, "status-" + status);
  }

  function throttled(work) {
    let timer = null;
    let again = false;
    const run = async () => {
      timer = null;
      again = false;
      try {
        await work();
      } finally {
        if (again && timer === null) timer = setTimeout(run, REFRESH_MS);
      }
    };
    return () => {
      if (timer === null) timer = setTimeout(run, REFRESH_MS);
      else again = true;
    };
  }

  function overview(root) {
    const runs = document.getElementById("runs");
    const queue = document.getElementById("queue");
    const refresh = throttled(async () => {
      for (const part of [runs, queue]) {
        const html = await fragment(part.dataset.fragment);
        if (html !== null) part.innerHTML = html;
      }
    });
    const source = new EventSource(root.dataset.live);
    let opened = false;
    source.addEventListener("open", () => {
      if (opened) refresh(); // reconnected: changes may have been missed
      opened = true;
    });
    source.addEventListener("runs", (event) => {
      const batch = JSON.parse(event.data);
      for (const change of batch.runs) {
        const row = runs.querySelector(`tr[data-run-id="${CSS.escape(String(change.data.run_id))}"]`);
        if (row === null) continue;
        const status = row.querySelector('[data-field="status"]');
        const progress = row.querySelector('[data-field="progress"]');
        if (change.kind === "completed") {
          setStatus(status, change.data.status);
          progress.textContent = "";
        } else if (!FINAL.has(status.textContent)) {
          if (status.textContent === "pending") setStatus(status, "running"); // claimed
          const pct = change.data.pct === null || change.data.pct === undefined ? 0 : change.data.pct;
          progress.textContent = `${Math.round(pct)} % ${change.data.stage || ""}`;
        }
      }
      refresh();
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) fragment(runs.dataset.fragment);
    });
    setInterval(refresh, PERIODIC_MS);
  }

  function runPage(root) {
    const body = () => document.getElementById("run-body");
    if (FINAL.has(body().dataset.status)) return;
    const reload = async () => {
      const html = await fragment(root.dataset.fragment);
      if (html !== null) root.innerHTML = html;
    };
    const source = new EventSource(root.dataset.stream);
    source.addEventListener("progress", (event) => {
      const data = JSON.parse(event.data);
      const pct = data.pct === null || data.pct === undefined ? 0 : data.pct;
      document.getElementById("run-progress").value = pct;
      document.getElementById("run-pct").textContent = `${Math.round(pct)} %`;
      document.getElementById("run-stage").textContent = data.stage || "";
      const status = document.getElementById("run-status");
      if (status.textContent === "pending") {
        setStatus(status, "running");
        reload(); // the worker, the start time and the buttons changed
      }
    });
    source.addEventListener("completed", (event) => {
      source.close(); // the server ends the stream; do not let EventSource reconnect
      setStatus(document.getElementById("run-status"), JSON.parse(event.data).status);
      reload(); // metrics, error, artifacts and events
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) fragment(root.dataset.fragment);
    });
  }

  const overviewRoot = document.getElementById("overview");
  if (overviewRoot !== null) overview(overviewRoot);
  const runRoot = document.getElementById("run");
  if (runRoot !== null) runPage(runRoot);
})();
