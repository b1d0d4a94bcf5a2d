// The client view in a browser. No build step, no third-party code.
// It pairs with the code in the URL, keeps the viewer token for reconnections (this tab only),
// draws the newest state once per display frame, and reports each painted frame's time on
// the host's clock (estimated with ping/pong) so the host can measure sample-to-paint latency.
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const code = (params.get("code") || "").toUpperCase();
  const tokenKey = "emgfeedback-token:" + code;
  let token = sessionStorage.getItem(tokenKey) || "";
  let ws = null;
  let offsetMs = null; // host monotonic ms minus performance.now()
  let bestRtt = Infinity;
  let latest = null;
  let drawnSeq = -1;
  let paintToReport = null;
  let retryMs = 250;
  let finalState = null; // "refused" or "revoked": stop reconnecting
  let pingId = 0;
  let pingTimer = null;
  const $ = (id) => document.getElementById(id);

  // Touch the DOM only where something changed: an unchanged frame costs no layout.
  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function setStyle(el, prop, value) {
    if (el.style[prop] !== value) el.style[prop] = value;
  }

  function setStatus(state, text) {
    document.body.dataset.state = state;
    $("status").textContent = text;
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  }

  function ping() {
    pingId += 1;
    send({ t: "ping", id: pingId, c: performance.now() });
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = token ? "token=" + encodeURIComponent(token)
      : "code=" + encodeURIComponent(code);
    const usedToken = Boolean(token);
    ws = new WebSocket(scheme + "//" + location.host + "/ws?" + query);
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.t === "state") {
        latest = msg.s;
      } else if (msg.t === "hello") {
        token = msg.token;
        sessionStorage.setItem(tokenKey, token);
        retryMs = 250;
        setStatus("live", "live · screen " + msg.viewer);
        for (let i = 0; i < 5; i++) setTimeout(ping, 40 * i);
        clearInterval(pingTimer);
        pingTimer = setInterval(ping, 5000);
      } else if (msg.t === "pong") {
        const now = performance.now();
        const rtt = now - msg.c;
        if (rtt <= bestRtt * 1.5 || offsetMs === null) {
          bestRtt = Math.min(bestRtt, rtt);
          offsetMs = msg.s - (msg.c + now) / 2;
        }
      } else if (msg.t === "refused") {
        if (usedToken) { // the host forgot this screen (restarted): pair again with the code
          token = "";
          sessionStorage.removeItem(tokenKey);
        } else {
          finalState = "refused";
          setStatus("refused", "Not paired: " + msg.reason + ". Ask the therapist for a new code.");
          $("instruction").textContent = "Not paired";
        }
      } else if (msg.t === "revoked") {
        finalState = "revoked";
        sessionStorage.removeItem(tokenKey);
        setStatus("revoked", "The therapist ended this screen's pairing.");
        $("instruction").textContent = "Pairing ended";
      }
    };
    ws.onclose = () => {
      clearInterval(pingTimer);
      if (finalState) return;
      setStatus("reconnecting", "connection lost · reconnecting…");
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 4000);
    };
  }

  function fmt(v, digits) {
    return v === null || v === undefined ? "–" : v.toFixed(digits);
  }

  function scaleCaption(s) {
    const n = s.bars.length;
    if (!n || s.scale_uv === null) return "";
    return (n > 1 ? "one scale for all bars: 0–" : "scale 0–") + s.scale_uv + " µV";
  }

  function ensureBars(bars) {
    const box = $("bars");
    const sig = bars.map((b) => b.label + "|" + b.direction).join(";");
    if (box.dataset.sig === sig) return;
    box.dataset.sig = sig;
    box.replaceChildren();
    for (const b of bars) {
      const bar = document.createElement("div");
      bar.className = "bar";
      const value = document.createElement("div");
      value.className = "value";
      const column = document.createElement("div");
      column.className = "column";
      const fill = document.createElement("div");
      fill.className = "fill";
      const goal = document.createElement("div");
      goal.className = "goal " + (b.direction || "none");
      const goalLabel = document.createElement("span");
      goalLabel.className = "goal-label";
      goal.appendChild(goalLabel);
      column.append(fill, goal);
      const label = document.createElement("div");
      label.className = "label";
      label.textContent = b.label;
      bar.append(value, column, label);
      box.appendChild(bar);
    }
  }

  function frac(v, scale) {
    if (v === null || !scale) return 0;
    return Math.max(0, Math.min(1, v / scale));
  }

  function drawBars(s) {
    ensureBars(s.bars);
    const nodes = $("bars").children;
    s.bars.forEach((b, i) => {
      const node = nodes[i];
      node.classList.toggle("met", b.met);
      node.dataset.levelUv = b.level_uv === null ? "" : String(b.level_uv);
      setText(node.querySelector(".value"),
        (b.level_uv === null ? "– µV" : fmt(b.level_uv, 0) + " µV") + (b.met ? "  ✓" : ""));
      // a transform, not a height: the compositor scales the fill without a new layout
      setStyle(node.querySelector(".fill"), "transform",
        "scaleY(" + frac(b.level_uv, s.scale_uv).toFixed(4) + ")");
      const goal = node.querySelector(".goal");
      if (b.goal_uv === null || !b.direction) {
        goal.hidden = true;
      } else {
        goal.hidden = false;
        goal.dataset.goalUv = String(b.goal_uv);
        setStyle(goal, "bottom", (100 * frac(b.goal_uv, s.scale_uv)).toFixed(2) + "%");
        setText(goal.querySelector(".goal-label"),
          (b.direction === "above" ? "▲" : "▼") + " goal " + fmt(b.goal_uv, 0) + " µV");
      }
    });
  }

  function drawSymmetry(s) {
    const sym = s.symmetry || {};
    const [l, r] = s.bars;
    setStyle($("sym-left"), "transform", "scaleX(" + frac(l ? l.level_uv : null, s.scale_uv) + ")");
    setStyle($("sym-right"), "transform", "scaleX(" + frac(r ? r.level_uv : null, s.scale_uv) + ")");
    setText($("sym-left-label"), l ? l.label + "  " + fmt(l.level_uv, 0) + " µV" : "");
    setText($("sym-right-label"), r ? r.label + "  " + fmt(r.level_uv, 0) + " µV" : "");
    const idx = sym.index_pct;
    setText($("sym-index"), idx === null || idx === undefined ? "symmetry index –"
      : "symmetry index " + (idx > 0 ? "+" : "") + idx.toFixed(0) + " %" + (sym.ok ? "  ✓" : ""));
    setText($("sym-side"), !idx ? "" : idx > 0 ? "right side stronger" : "left side stronger");
  }

  function draw(s) {
    setText($("instruction"), s.instruction);
    setText($("reps"), s.reps ? "rep " + s.rep + " of " + s.reps + " · " + s.reps_passed + " ✓" : "");
    setText($("countdown"), s.countdown_s === null ? "" : s.countdown_s + " s");
    setText($("held"), s.met ? "goal held " + fmt(s.held_s, 1) + " s" : s.holding ? "hold it…" : "");
    setText($("zone"), s.in_zone_s === null ? "" : "in zone " + fmt(s.in_zone_s, 1) + " s");
    setText($("scale"), scaleCaption(s));
    const symmetry = s.mode === "symmetry";
    if ($("symmetry").hidden !== !symmetry) $("symmetry").hidden = !symmetry;
    if ($("bars").hidden !== symmetry) $("bars").hidden = symmetry;
    if (symmetry) drawSymmetry(s); else drawBars(s);
    const reward = $("reward");
    setStyle(reward, "opacity", String(s.reward || 0));
    setText(reward, s.reward > 0 ? "✓ " + s.reward_text : "");
    setText($("result"), s.result ? "Result: " + s.result : "");
    setText($("subject"), s.subject || "");
    if (document.body.dataset.mode !== s.mode) document.body.dataset.mode = s.mode;
    document.body.dataset.seq = String(s.seq);
  }

  function frame() {
    // The frame drawn in the previous callback has been presented by now: report it.
    if (paintToReport !== null && offsetMs !== null) {
      send({ t: "paint", seq: paintToReport, at_ms: performance.now() + offsetMs });
    }
    paintToReport = null;
    if (latest !== null && latest.seq !== drawnSeq) {
      draw(latest);
      drawnSeq = latest.seq;
      paintToReport = drawnSeq;
    }
    requestAnimationFrame(frame);
  }

  if (!code && !token) {
    setStatus("refused", "No pairing code in the address. Scan the QR code in the therapist's window.");
    $("instruction").textContent = "Not paired";
  } else {
    connect();
    requestAnimationFrame(frame);
  }
})();
