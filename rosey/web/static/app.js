// rosey's status page: charts from the JSON API (uPlot), and the live feed (server-sent events).
// Every user string goes into the page through textContent, never as HTML.
(function () {
  "use strict";
  var root = document.documentElement;
  // A script error is recorded on the page (tests read it; people see it in the console too).
  window.addEventListener("error", function (e) { root.dataset.error = String(e.message); });
  var api = document.body.getAttribute("data-api");
  if (!api) return;
  var $ = function (id) { return document.getElementById(id); };

  function getJSON(path) {
    return fetch(api + path, { headers: { accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      return r.json();
    });
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function link(href, text) {
    var a = el("a", text);
    if (href && /^https?:\/\//.test(href)) a.href = href;
    return a;
  }
  function clock(s) {
    if (s === null || s === undefined || !isFinite(s)) return "--:--";
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }
  function css(name) { return getComputedStyle(root).getPropertyValue(name).trim(); }

  // -- now: users, now playing, next -------------------------------------------------------
  var playing = null, playingSince = 0;
  function renderNow(now) {
    $("user-count").textContent = now.user_count;
    $("connected-count").textContent = now.connected_count === null ? "?" : now.connected_count;
    $("link-state").textContent = now.connected ? "connected" : "not connected";
    var list = $("user-list");
    list.replaceChildren();
    now.users.forEach(function (u) {
      var li = el("li", null, [u.afk ? "afk" : "", u.leader ? "leader" : ""].join(" ").trim());
      li.append(el("span", u.name, "name"), " ", el("span", "rank " + u.rank, "rank muted"));
      list.append(li);
    });
    var box = $("now-playing");
    box.replaceChildren();
    playing = now.now_playing;
    playingSince = Date.now();
    if (!playing) { box.textContent = "Nothing is playing."; }
    else {
      var a = link(playing.link, playing.title); a.className = "title";
      var by = el("p", "queued by ", "muted"); by.append(el("span", playing.queued_by || "?", "queued-by"));
      var bar = el("div", null, "progress"); bar.append(el("div", null, "bar"));
      var times = el("p", null, "muted times");
      times.append(el("span", "", "position"), " / ", el("span", playing.duration ? clock(playing.duration) : "live", "duration"));
      box.append(a, by, bar, times);
      tick();
    }
    var next = $("next");
    next.replaceChildren();
    now.next.forEach(function (item) {
      var li = el("li", item.title); li.append(" ", el("span", "(" + (item.queued_by || "?") + ")", "muted"));
      next.append(li);
    });
  }
  function tick() {
    if (!playing) return;
    var pos = Math.max(0, playing.position + (playing.paused ? 0 : (Date.now() - playingSince) / 1000));
    if (playing.duration) pos = Math.min(pos, playing.duration);
    var box = $("now-playing");
    var p = box.querySelector(".position"), bar = box.querySelector(".bar");
    if (p) p.textContent = clock(pos);
    if (bar && playing.duration) bar.style.width = (100 * pos / playing.duration).toFixed(1) + "%";
  }
  setInterval(tick, 1000);
  var refetching = null;
  function refreshNow() {
    if (refetching) return;
    refetching = setTimeout(function () {
      refetching = null;
      getJSON("").then(renderNow).catch(function () {});
    }, 300);
  }

  // -- charts ---------------------------------------------------------------------------
  var charts = {};
  function chart(id, opts, data) {
    var box = $(id);
    if (charts[id]) charts[id].destroy();
    opts.width = Math.max(box.clientWidth, 280);
    opts.height = 220;
    charts[id] = new uPlot(opts, data, box);
  }
  function usersChart(range) {
    return getJSON("/users?range=" + range).then(function (h) {
      var xs = h.points.map(function (p) { return p[0]; });
      var chat = h.points.map(function (p) { return p[1]; });
      var conn = h.points.map(function (p) { return p[2]; });
      var high = xs.map(function () { return h.max_users; });
      $("high-water").textContent = h.max_users + (h.max_users_at ? " (" + new Date(h.max_users_at * 1000).toLocaleString() + ")" : "");
      chart("users-chart", {
        series: [{}, { label: "chat users", stroke: css("--accent"), width: 2 },
          { label: "connected", stroke: css("--accent2"), width: 1 },
          { label: "high-water", stroke: css("--muted"), dash: [6, 4], width: 1 }],
        axes: [{ stroke: css("--muted") }, { stroke: css("--muted") }],
      }, [xs, chat, conn, high]);
      root.dataset.userPoints = String(xs.length);
    });
  }
  function activityChart() {
    return getJSON("/activity?days=7").then(function (a) {
      var xs = [], ys = [], byStart = {};
      a.points.forEach(function (p) { byStart[p[0]] = p[1]; });
      for (var t = a.start; t < a.end; t += a.bucket) { xs.push(t); ys.push(byStart[t] || 0); }
      chart("activity-chart", {
        series: [{}, { label: "lines per hour", stroke: css("--accent2"), fill: css("--accent2") + "33",
          paths: uPlot.paths.bars ? uPlot.paths.bars({ size: [0.9, 8] }) : undefined }],
        axes: [{ stroke: css("--muted") }, { stroke: css("--muted") }],
      }, [xs, ys]);
      heatmap(a.heatmap.counts);
      root.dataset.activityPoints = String(a.points.length);
    });
  }
  var DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  function heatmap(counts) {
    var table = $("heatmap"), max = 1;
    counts.forEach(function (row) { row.forEach(function (n) { if (n > max) max = n; }); });
    table.replaceChildren();
    var head = el("tr"); head.append(el("th"));
    for (var h = 0; h < 24; h++) head.append(el("th", h % 3 === 0 ? h : ""));
    table.append(head);
    counts.forEach(function (row, d) {
      var tr = el("tr"); tr.append(el("th", DAYS[d]));
      row.forEach(function (n, hour) {
        var td = el("td"); td.title = DAYS[d] + " " + hour + ":00 UTC: " + n + " lines";
        td.style.setProperty("--a", (n / max).toFixed(3));
        tr.append(td);
      });
      table.append(tr);
    });
  }
  function chatters(range) {
    return getJSON("/chatters?range=" + range).then(function (c) {
      var list = $("chatters");
      list.replaceChildren();
      c.chatters.forEach(function (u) {
        var li = el("li"); li.append(el("span", u.name, "name"), " ", el("span", u.lines, "muted"));
        list.append(li);
      });
    });
  }
  function media() {
    return getJSON("/media").then(function (m) {
      var recent = $("recent-media"), most = $("most-played");
      recent.replaceChildren(); most.replaceChildren();
      m.recent.forEach(function (p) {
        var li = el("li"); li.append(link(p.link, p.title), " ", el("span", "(" + (p.queued_by || "?") + ")", "muted"));
        recent.append(li);
      });
      m.most_played.forEach(function (p) {
        var li = el("li"); li.append(link(p.link, p.title), " ", el("span", "×" + p.plays, "muted"));
        most.append(li);
      });
    });
  }

  var range = "24h";
  document.querySelectorAll("#user-range button").forEach(function (b) {
    b.addEventListener("click", function () {
      range = b.getAttribute("data-range");
      document.querySelectorAll("#user-range button").forEach(function (o) { o.classList.toggle("on", o === b); });
      usersChart(range);
    });
  });
  $("chatter-range").addEventListener("change", function (e) { chatters(e.target.value); });

  Promise.all([usersChart(range), activityChart()]).then(function () {
    root.dataset.charts = "ready";
  }).catch(function (e) { root.dataset.charts = "failed: " + e.message; });

  // -- live -----------------------------------------------------------------------------
  var chatList = $("chat"), received = 0;
  // "#live-lines=N" closes the live feed after N chat lines, "#live-lines=0" never opens it:
  // a headless browser's virtual clock only runs once no request is open (the page's test).
  var limit = /live-lines=(\d+)/.exec(location.hash);
  var liveLines = limit ? parseInt(limit[1], 10) : -1;
  function addLine(li) {
    chatList.append(li);
    while (chatList.children.length > 100) chatList.firstElementChild.remove();
    chatList.scrollTop = chatList.scrollHeight;
  }
  function system(text) { addLine(el("li", text, "system")); }
  if (window.EventSource && liveLines !== 0) {
    var live = new EventSource(api + "/events");
    live.onopen = function () { $("live-state").textContent = "live"; root.dataset.live = "open"; };
    live.onerror = function () { $("live-state").textContent = "reconnecting…"; };
    live.addEventListener("chat", function (e) {
      var m = JSON.parse(e.data), li = el("li");
      li.append(el("b", m.user, "user"), " ", el("span", m.text, "text"));
      addLine(li);
      received += 1;
      root.dataset.chatReceived = String(received);
      if (received === liveLines) { live.close(); root.dataset.live = "closed"; }
    });
    live.addEventListener("join", function (e) { system(JSON.parse(e.data).user + " joined"); refreshNow(); });
    live.addEventListener("leave", function (e) { system(JSON.parse(e.data).user + " left"); refreshNow(); });
    live.addEventListener("users", refreshNow);
    live.addEventListener("media", function (e) {
      system("now playing: " + JSON.parse(e.data).title);
      refreshNow();
      setTimeout(media, 1000);
    });
    live.addEventListener("usercount", function (e) {
      var n = JSON.parse(e.data).count;
      if (n !== null) $("connected-count").textContent = n;
    });
  }
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (id) {
      charts[id].setSize({ width: Math.max($(id).clientWidth, 280), height: 220 });
    });
  });
})();
