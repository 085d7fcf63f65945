// The dashboard's console: a terminal (xterm.js) attached to a one-off
// process over the run protocol of `paas run` (see server/src/api/runs.rs):
// a JSON request first, then input as binary frames one way and output as
// binary frames (a stream byte, then the bytes) the other, control as JSON
// text, the exit status last.
(() => {
  const form = document.getElementById("console-form");
  if (!form) return;
  const status = document.getElementById("console-status");
  const button = document.getElementById("console-run");
  const term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();
  const encoder = new TextEncoder();
  let socket = null;

  const send = (data) => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(data); };
  term.onData((data) => send(encoder.encode(data)));
  term.onResize(({ cols, rows }) => send(JSON.stringify({ resize: [cols, rows] })));
  window.addEventListener("resize", () => fit.fit());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (socket) socket.close();
    term.reset();
    const command = document.getElementById("console-command").value;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}${form.dataset.socket}`);
    socket.binaryType = "arraybuffer";
    status.textContent = "starting...";
    button.disabled = true;
    socket.onopen = () => {
      socket.send(JSON.stringify({ command, tty: true, cols: term.cols, rows: term.rows, env: { TERM: "xterm-256color" } }));
    };
    socket.onmessage = (message) => {
      if (typeof message.data !== "string") {
        term.write(new Uint8Array(message.data).subarray(1));
        return;
      }
      const control = JSON.parse(message.data);
      if (control.process) {
        status.textContent = `${control.process}: running`;
        term.focus();
      } else if (control.error) {
        status.textContent = control.error;
      } else if (control.exit !== undefined) {
        status.textContent = `exited with status ${control.exit}`;
      }
    };
    socket.onclose = () => {
      button.disabled = false;
      if (status.textContent.endsWith("running") || status.textContent === "starting...") {
        status.textContent = "disconnected";
      }
    };
  });
})();
