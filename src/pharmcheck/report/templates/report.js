// pharmcheck audit report: sorting, filtering and per-site drill-downs.
// Site text arrives as JSON and only ever becomes DOM text (textContent), never markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pc-data").textContent);
  var sites = data.sites;
  sites.forEach(function (s, i) { s.i = i; });
  var verdictRank = {}, statusRank = {};
  data.verdictOrder.forEach(function (v, i) { verdictRank[v] = i; });
  data.statusOrder.forEach(function (s, i) { statusRank[s] = i; });
  var PAGE_SIZE_DEFAULT = 100;

  // --- small DOM helpers -----------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function add(parent) {
    for (var k = 1; k < arguments.length; k++) {
      var child = arguments[k];
      if (child === null || child === undefined) continue;
      parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return parent;
  }
  function hrefOf(text) {
    // Live links show the real URL, so the text is the href; only ever http(s).
    return data.live && /^https?:\/\//i.test(text) ? text : null;
  }
  function url(text, href) {
    if (href && /^https?:\/\//i.test(href)) {
      var a = el("a", "url", text);
      a.setAttribute("href", href);
      a.setAttribute("rel", "noopener noreferrer nofollow");
      a.setAttribute("target", "_blank");
      return a;
    }
    return el("span", "url", text);
  }
  function badge(kind, key) {
    var meta = (kind === "v" ? data.verdicts : data.statuses)[key];
    var b = el("span", "badge " + (kind === "v" ? "v-" : "st-") + key);
    var icon = el("span", "icon", meta.icon);
    icon.setAttribute("aria-hidden", "true");
    return add(b, icon, " " + meta.label);
  }
  function signed(w) { return (w > 0 ? "+" : "−") + String(Math.abs(w)); }

  // --- compact data -> the view the drill-down draws (fields as site_view() in html.py) ----
  function expand(c) {
    var pages = c.p.map(function (p) {
      return { url: p[0], href: hrefOf(p[0]), status: p[1], title: p[2], error: p[3], language: p[4] || "" };
    });
    var criteria = data.criteria.map(function (crit, col) {
      return { name: crit.name, label: crit.label, status: c.c[col][0], score: c.c[col][1], findings: [] };
    });
    var columns = criteria.slice();
    c.F.forEach(function (f) {
      var rule = data.rules[f[1]];
      columns[f[0]].findings.push({
        rule: rule[0], name: rule[1], severity: rule[2], confidence: rule[3], weight: rule[4], message: rule[5],
        evidence: f[2].map(function (e) {
          var shown = typeof e[0] === "number" ? pages[e[0]].url : e[0];
          return { url: shown, href: hrefOf(shown), text: e[1] };
        })
      });
    });
    // Red flags first, as in the text report; otherwise the table's column order.
    criteria.sort(function (a, b) {
      return (a.status !== "red_flag") - (b.status !== "red_flag") || columns.indexOf(a) - columns.indexOf(b);
    });
    return {
      i: c.i, url: c.u, href: hrefOf(c.u), final: c.f || null, final_href: c.f ? hrefOf(c.f) : null,
      verdict: c.v, score: c.s, summary: c.m || "", checked_at: c.t || "", duration: c.d, read: c.r,
      confidence: c.k ? c.k[0] : null,
      contributions: c.k ? c.k[1].map(function (k) { return { feature: k[0], weight: k[1], toward: k[2], detail: k[3] }; }) : [],
      tool: data.tools[c.T], criteria: criteria, pages: pages,
      errors: c.e.map(function (e) { return { code: e[0], url: e[1], message: e[2] }; }),
      facts: (c.x || []).map(function (x) { return { provider: x[0], subject: x[1], ok: x[2], text: x[3] }; })
    };
  }

  // --- drill-down (twin of the drilldown macro in _macros.html.j2) -----------------------
  function renderSite(s) {
    var art = el("article", "site");
    art.setAttribute("aria-labelledby", "site-title");
    var head = add(el("header", "site-head"), el("p", "eyebrow", "Site report"));
    var h = add(el("h2", "site-url"), url(s.url, s.href));
    h.id = "site-title";
    h.tabIndex = -1;
    add(head, h);
    if (s.final) add(head, add(el("p", "final"), "Ended up at ", url(s.final, s.final_href), " after redirects"));
    var score = s.score === null ? el("span", "score", "no score (not assessed)")
      : add(el("span", "score"), el("strong", null, s.score), "/100");
    add(head, add(el("p", "verdict-line"), badge("v", s.verdict), " ", score));
    if (s.summary) add(head, el("p", "summary", s.summary));
    if (s.confidence !== null) {
      var why = add(el("details", "contributions"), el("summary", null,
        "Decided by (confidence " + Math.round(100 * s.confidence) + "%)"));
      var list = el("ol");
      s.contributions.forEach(function (k) {
        add(list, add(el("li", k.weight > 0 ? "good" : "bad"),
          el("span", "sign", (k.weight > 0 ? "+" : "−") + Math.abs(k.weight).toFixed(2)), " ",
          el("code", null, k.feature), k.detail ? " " + k.detail : ""));
      });
      add(head, add(why, list));
    }
    var facts = el("dl", "facts");
    [["Checked", s.checked_at || "—"], ["Pages read", s.read + " of " + s.pages.length + " tried"],
     ["Took", s.duration.toFixed(1) + " s"], ["Tool", s.tool]].forEach(function (f) {
      add(facts, add(el("div"), el("dt", null, f[0]), el("dd", null, f[1])));
    });
    add(art, add(head, facts));

    var grid = el("nav", "crit-grid");
    grid.setAttribute("aria-label", "Criteria");
    s.criteria.forEach(function (c) {
      var card = el("a", "crit-card st-" + c.status);
      card.setAttribute("href", "#site-" + s.i);  // keeps the route; the click scrolls instead
      card.addEventListener("click", function (ev) {
        ev.preventDefault();
        var target = document.getElementById("crit-" + c.name);
        if (target) target.scrollIntoView();
      });
      var cs = add(el("span", "crit-score", c.score === null ? "—" : c.score), el("small", null, "/100"));
      add(grid, add(card, el("span", "crit-name", c.label), " ", badge("s", c.status), cs));
    });
    add(art, grid);

    s.criteria.forEach(function (c) {
      var sec = el("section", "criterion");
      sec.id = "crit-" + c.name;
      add(sec, add(el("h3"), el("span", "crit-title", c.label), " ", badge("s", c.status), " ",
                   el("span", "crit-score", (c.score === null ? "—" : c.score) + "/100")));
      if (c.findings.length) {
        var ol = el("ol", "findings");
        c.findings.forEach(function (f) {
          var li = el("li", "finding " + (f.weight > 0 ? "good" : "bad"));
          var sign = el("span", "sign", f.weight > 0 ? "+" : "−");
          sign.title = (f.weight > 0 ? "raises" : "lowers") + " the score";
          add(li, add(el("p", "f-head"), sign, " ", el("span", "f-msg", f.message)));
          add(li, add(el("p", "f-meta"), el("code", null, f.rule),
                      (f.name && f.name !== f.message ? " · " + f.name : "") + " · severity " + f.severity + " · " + f.confidence +
                      " confidence · weight " + signed(f.weight)));
          if (f.evidence.length) {
            var ul = el("ul", "evidence");
            f.evidence.forEach(function (e) {
              add(ul, add(el("li"), el("q", null, e.text), " ", el("span", "on", "on"), " ", url(e.url, e.href)));
            });
            add(li, ul);
          }
          add(ol, li);
        });
        add(sec, ol);
      } else {
        add(sec, el("p", "none", "No evidence either way" +
                    (c.status === "unknown" ? ": absence of evidence is not taken as proof" : "") + "."));
      }
      add(art, sec);
    });

    if (s.facts.length) {
      var facts = el("ul");
      s.facts.forEach(function (f) {
        add(facts, add(el("li", f.ok ? "fact-ok" : "fact-unchecked"), el("code", null, f.provider), " " + f.subject + ": " + f.text));
      });
      add(art, add(el("section", "facts"), el("h3", null, "Site facts"), facts));
    }
    if (s.errors.length) {
      var errs = el("ul");
      s.errors.forEach(function (e) { add(errs, add(el("li"), el("code", null, e.code), " ", url(e.url, null), ": " + e.message)); });
      add(art, add(el("section", "errors"), el("h3", null, "Fetch errors"), errs));
    }
    var pages = add(el("section", "pages"), el("h3", null, "Pages tried"));
    if (s.pages.length) {
      var t = el("table");
      add(t, add(el("thead"), add(el("tr"), el("th", null, "Page"), el("th", null, "Status"), el("th", null, "Language"), el("th", null, "Title"))));
      var tb = el("tbody");
      s.pages.forEach(function (p) {
        add(tb, add(el("tr"), add(el("td"), url(p.url, p.href)), el("td", null, p.error || p.status), el("td", null, p.language), el("td", null, p.title)));
      });
      add(pages, add(el("div", "table-wrap"), add(t, tb)));
    } else {
      add(pages, el("p", "none", "No page was fetched."));
    }
    return add(art, pages);
  }

  // --- table: sort, filter and page -------------------------------------------------------
  var table = document.getElementById("site-table");
  var tbody = document.getElementById("site-rows");
  var sortKey = null, sortDir = 1, page = 0, perPage = PAGE_SIZE_DEFAULT, current = sites;
  function keyOf(s, key) {
    if (key === "site") return s.n.toLowerCase();
    if (key === "verdict") return verdictRank[s.v];
    if (key === "score") return s.s === null ? 101 : s.s;  // no score (unassessed): after the highest
    if (key === "pages") return s.r;
    if (key === "error") return s.e.length ? s.e[0][0] : "\uffff";
    return statusRank[s.c[+key.slice(1)][0]];
  }
  function compare(a, b) {
    var ka = keyOf(a, sortKey), kb = keyOf(b, sortKey);
    if (ka < kb) return -sortDir;
    if (ka > kb) return sortDir;
    return a.i - b.i;  // ties keep the audit's order
  }
  function row(s) {
    var tr = el("tr");
    tr.setAttribute("data-i", s.i);
    var link = el("a", "open", s.n);
    link.setAttribute("href", "#site-" + s.i);
    link.title = s.u;
    var th = add(el("th"), link);
    th.scope = "row";
    add(tr, th, add(el("td"), badge("v", s.v)), el("td", "num", s.s === null ? "—" : s.s));
    s.c.forEach(function (c) {
      var b = badge("s", c[0]);
      if (c[0] === "unknown") {
        // The commonest status, kept quiet in the table: the "?" shows, the word is for screen readers.
        b.lastChild.remove();
        add(b, el("span", "sr", " unknown"));
        b.classList.add("quiet");
        b.title = "unknown: no evidence either way";
      }
      add(tr, add(el("td", "st"), b));
    });
    add(tr, el("td", "num", s.r + "/" + s.p.length));
    var err = el("td");
    if (s.e.length) add(err, el("code", null, s.e[0][0]), s.e.length > 1 ? " +" + (s.e.length - 1) : null);
    return add(tr, err);
  }

  var q = document.getElementById("q"), fv = document.getElementById("fv");
  var fr = document.getElementById("fr"), fe = document.getElementById("fe");
  var shown = document.getElementById("shown"), noMatch = document.getElementById("no-match");
  var pager = document.getElementById("pager"), pageInfo = document.getElementById("page-info");
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  var perPageSelect = document.getElementById("per-page");
  function matches(s, text) {
    if (fv.value && s.v !== fv.value) return false;
    if (fr.checked && !s.c.some(function (c) { return c[0] === "red_flag"; })) return false;
    if (fe.checked && !s.e.length) return false;
    return !text || s.u.toLowerCase().indexOf(text) >= 0 || (s.f || "").toLowerCase().indexOf(text) >= 0;
  }
  function fmt(n) { return n.toLocaleString("en"); }
  function draw() {
    var size = perPage || current.length || 1;
    var pages = Math.max(1, Math.ceil(current.length / size));
    page = Math.min(page, pages - 1);
    var frag = document.createDocumentFragment();
    current.slice(page * size, (page + 1) * size).forEach(function (s) { frag.appendChild(row(s)); });
    tbody.replaceChildren(frag);
    shown.textContent = current.length === sites.length ? "all " + fmt(sites.length) + " sites"
      : fmt(current.length) + " of " + fmt(sites.length) + " sites";
    noMatch.hidden = current.length > 0;
    pager.hidden = sites.length <= 50;
    pageInfo.textContent = current.length ? "rows " + fmt(page * size + 1) + "–" + fmt(Math.min((page + 1) * size, current.length)) +
      " of " + fmt(current.length) : "";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  function update() {
    var text = q.value.trim().toLowerCase();
    current = sites.filter(function (s) { return matches(s, text); });
    if (sortKey) current.sort(compare);
    page = 0;
    draw();
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    var key = th.getAttribute("data-key");
    var button = el("button", "sort", th.textContent);
    button.type = "button";
    button.addEventListener("click", function () {
      // First click sorts ascending (verdicts and statuses: worst first), the next reverses.
      sortDir = sortKey === key ? -sortDir : 1;
      sortKey = key;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      update();
    });
    th.textContent = "";
    th.appendChild(button);
  });
  [q, fv, fr, fe].forEach(function (input) { input.addEventListener("input", update); });
  prev.addEventListener("click", function () { page--; draw(); });
  next.addEventListener("click", function () { page++; draw(); });
  perPageSelect.addEventListener("input", function () { perPage = +perPageSelect.value; page = 0; draw(); });
  document.getElementById("controls").addEventListener("submit", function (ev) { ev.preventDefault(); });
  document.getElementById("controls").hidden = false;
  update();

  // --- routing: #site-N shows that site's drill-down ---------------------------------------
  var overview = document.getElementById("overview"), detail = document.getElementById("detail");
  var detailBody = document.getElementById("detail-body"), baseTitle = document.title, lastOpened = null;
  function route() {
    var m = /^#site-(\d+)$/.exec(location.hash);
    var s = m ? sites[+m[1]] : null;
    if (s) {
      detailBody.replaceChildren(renderSite(expand(s)));
      overview.hidden = true;
      detail.hidden = false;
      document.title = data.verdicts[s.v].label + ": " + s.u + " · " + baseTitle;
      lastOpened = s.i;
      window.scrollTo(0, 0);
      document.getElementById("site-title").focus({ preventScroll: true });
    } else {
      detail.hidden = true;
      detailBody.replaceChildren();
      overview.hidden = false;
      document.title = baseTitle;
      var link = lastOpened === null ? null : tbody.querySelector('tr[data-i="' + lastOpened + '"] a.open');
      if (link) {
        link.scrollIntoView({ block: "center" });
        link.focus({ preventScroll: true });
      }
    }
  }
  window.addEventListener("hashchange", route);
  route();
})();
