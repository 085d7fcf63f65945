// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  // Ask before destructive or long actions.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  // Long operations (rollouts): show progress instead of a frozen page.
  document.querySelectorAll("form.long").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (event.defaultPrevented) return;
      const button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.classList.add("busy");
        button.textContent = "Rolling out";
      }
    });
  });
  // Config values stay masked until revealed.
  document.querySelectorAll("button.reveal").forEach((button) => {
    button.addEventListener("click", () => {
      const secret = button.previousElementSibling;
      const shown = button.textContent === "Hide";
      secret.textContent = shown ? "••••••••" : secret.dataset.value;
      button.textContent = shown ? "Reveal" : "Hide";
    });
  });
  // Copy buttons.
  document.querySelectorAll("button.copy").forEach((button) => {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      try { await navigator.clipboard.writeText(text); button.textContent = "Copied"; }
      catch (_) { button.textContent = "Select and copy"; }
    });
  });
  // Type-the-name confirmation.
  document.querySelectorAll("input[data-must-match]").forEach((input) => {
    const button = input.form.querySelector("button[type=submit]");
    input.addEventListener("input", () => { button.disabled = input.value !== input.dataset.mustMatch; });
  });
  // A running operation's (or build's) output, live; the page reloads when it ends.
  document.querySelectorAll("pre.follow[data-source]").forEach((output) => {
    const source = new EventSource(output.dataset.source);
    source.onmessage = (event) => {
      output.append(event.data + "\n");
      output.scrollTop = output.scrollHeight;
    };
    source.addEventListener("end", () => { source.close(); window.location.reload(); });
  });
  // Live pages (the apps list, an app's header and overview): when what
  // they show changes, fetch the page again and swap its live parts.
  const live = document.querySelector("[data-live-source]");
  if (live) {
    let known = live.dataset.liveDigest;
    const changes = new EventSource(live.dataset.liveSource);
    // The page is going away (a form sent, a link followed): stop listening.
    document.addEventListener("submit", (event) => { if (!event.defaultPrevented) changes.close(); });
    window.addEventListener("pagehide", () => changes.close());
    changes.addEventListener("state", async (event) => {
      if (event.data === known) return;
      known = event.data;
      try {
        const response = await fetch(window.location.href, { headers: { accept: "text/html", "x-paas-live": "1" } });
        if (!response.ok) return;
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        document.querySelectorAll("[data-live][id]").forEach((part) => {
          const next = fresh.getElementById(part.id);
          if (next && !part.contains(document.activeElement)) part.replaceWith(next);
        });
      } catch (_) { /* the next change tries again */ }
    });
  }
  // Live logs over server-sent events, with a process filter and pause.
  const log = document.getElementById("log");
  if (log) {
    const status = document.getElementById("log-status");
    const filter = document.getElementById("log-filter");
    const pause = document.getElementById("log-pause");
    let source = null;
    let paused = false;
    const held = [];
    const append = (line) => {
      log.append(line + "\n");
      if (log.childNodes.length > 3000) log.removeChild(log.firstChild);
      log.scrollTop = log.scrollHeight;
    };
    const connect = () => {
      if (source) source.close();
      log.textContent = "";
      const ps = filter.value ? "?ps=" + encodeURIComponent(filter.value) : "";
      source = new EventSource(log.dataset.source + ps);
      source.onopen = () => { status.textContent = "live"; };
      source.onerror = () => { status.textContent = "reconnecting…"; };
      source.onmessage = (event) => { if (paused) held.push(event.data); else append(event.data); };
    };
    filter.addEventListener("change", connect);
    pause.addEventListener("click", () => {
      paused = !paused;
      pause.textContent = paused ? "Resume" : "Pause";
      status.textContent = paused ? "paused" : "live";
      if (!paused) held.splice(0).forEach(append);
    });
    connect();
  }
});
