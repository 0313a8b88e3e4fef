// asg-reconciler status page: polls /ui/state.json and lays it out. Everything from the daemon
// (commit messages are user input) is put in with textContent, never parsed as HTML.
"use strict";

(function () {
  var POLL_MS = 2000;
  var TOKEN_KEY = "asg-reconciler-action-token";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var main = document.getElementById("services");
  var articles = {}; // service name -> {article, body, actions}
  var lastText = "";
  var actionsEnabled = false;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "cls") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function badge(word, tone, reason) {
    return el("span", { cls: "badge tone-" + tone }, [
      el("span", { cls: "dot", "aria-hidden": "true" }),
      el("span", { text: word + (reason ? " (" + reason + ")" : "") }),
    ]);
  }

  function section(title, children) {
    return el("section", { cls: "part" }, [el("h3", { text: title })].concat(children));
  }

  function conditions(list) {
    return el("ul", { cls: "conditions", "aria-label": "Conditions" }, list.map(function (c) {
      var text = c.word + ": " + c.reason + (c.message ? " — " + c.message : "");
      return el("li", { cls: "cond tone-" + c.tone }, [
        el("span", { cls: "dot", "aria-hidden": "true" }),
        el("span", { text: text }),
      ]);
    }));
  }

  function progress(p) {
    var fill = el("div", { cls: "fill" });
    fill.style.width = p.percent + "%";
    var bar = el("div", {
      cls: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": String(p.percent), "aria-label": p.label,
    }, [fill]);
    p.marks.forEach(function (m) {
      var mark = el("span", { cls: "mark" + (m.reached ? " reached" : ""), title: m.label });
      mark.style.left = m.at + "%";
      bar.appendChild(mark);
    });
    var steps = p.marks.map(function (m) {
      var word = p.kind === "traffic" ? "step " : "checkpoint ";
      return el("li", { cls: m.reached ? "reached" : "", text: word + m.label + (m.reached ? " ✓ reached" : "") });
    });
    var kind = p.kind === "traffic" ? "Traffic steps" : "Checkpoints";
    return [
      el("p", { cls: "progress-label", text: p.label }),
      bar,
      steps.length ? el("ol", { cls: "steps", "aria-label": kind }, steps) : null,
    ];
  }

  function table(caption, heads, rows) {
    return el("div", { cls: "scroll" }, [el("table", {}, [
      el("caption", { text: caption }),
      el("thead", {}, [el("tr", {}, heads.map(function (h) { return el("th", { scope: "col", text: h }); }))]),
      el("tbody", {}, rows.map(function (r) {
        return el("tr", { cls: r.cls || "" }, r.cells.map(function (c) { return el("td", { text: String(c) }); }));
      })),
    ])]);
  }

  function weights(list) {
    return table("Blue/green weights", ["Side", "Traffic", "Health", "Revision"], list.map(function (s) {
      var role = (s.live ? " live" : "") + (s.target ? " target" : "");
      return { cells: [s.color + role, s.weight + "%", s.healthy, s.revision || "—"] };
    }));
  }

  function analysis(a) {
    var parts = [el("p", {}, [badge(a.verdict, toneOf(a.verdict)), el("span", { text: " " + a.message })])];
    a.signals.forEach(function (s) {
      parts.push(el("p", { cls: "signal", text: s.signal + ": " + s.verdict + (s.message ? " — " + s.message : "") }));
      if (s.samples.length) {
        parts.push(table(s.signal + " samples", ["Value", "Threshold", "Requests", "Verdict"],
          s.samples.map(function (x) {
            return {
              cls: x.over ? "over" : "",
              cells: [x.value + (x.over ? " (over)" : ""), x.threshold, x.requests, x.verdict + (x.note ? " " + x.note : "")],
            };
          })));
      }
    });
    return parts;
  }

  function toneOf(verdict) {
    return { Pass: "ok", Fail: "bad", Pending: "busy", Inconclusive: "busy" }[verdict] || "off";
  }

  function history(rows) {
    if (!rows.length) return [el("p", { text: "No revision rolled out yet." })];
    return [el("ol", { cls: "history" }, rows.map(function (r) {
      var commit = r.url
        ? el("a", { href: r.url, rel: "noopener noreferrer", text: r.commit })
        : el("code", { text: r.commit || "(no commit)" });
      var facts = [
        ["Author", r.author || "—"], ["Image", r.digest || r.image || "—"],
        ["Started", r.start || "—"], ["Ended", r.end || "—"], ["Took", r.duration || "—"],
      ];
      if (r.failure) facts.push(["Why it failed", r.failure]);
      return el("li", { cls: "rev" }, [
        el("p", { cls: "rev-head" }, [
          badge(r.outcome, r.tone), el("span", { text: " version " + r.version + " · " }), commit,
          el("span", { cls: "msg", text: " " + (r.message || "") }),
        ]),
        el("dl", {}, facts.reduce(function (out, f) {
          return out.concat([el("dt", { text: f[0] }), el("dd", { text: f[1] })]);
        }, [])),
      ]);
    }))];
  }

  function sync(s) {
    var parts = [el("p", { cls: "why", text: s.notInSync || "In sync: AWS matches the desired state." })];
    if (s.changes.length) {
      parts.push(table("Current diff", ["Resource", "Field", "Now", "Desired"], s.changes.map(function (c) {
        return { cells: [c.resource, c.field, c.old, c.new] };
      })));
    }
    return parts;
  }

  function body(s) {
    var facts = "applied " + (s.applied || "—") + ", desired " + (s.desired || "—") + (s.paused ? ", paused" : "");
    var parts = [
      el("p", { cls: "facts", text: facts }),
      conditions(s.conditions),
      s.next ? el("p", { cls: "next" }, [el("strong", { text: "Next: " }), el("span", { text: s.next })]) : null,
    ];
    var rollout = [];
    if (s.progress) rollout = rollout.concat(progress(s.progress));
    if (s.weights.length) rollout.push(weights(s.weights));
    if (s.analysis) rollout = rollout.concat(analysis(s.analysis));
    if (rollout.length) parts.push(section("Rollout", rollout));
    parts.push(section("Sync", sync(s)));
    parts.push(section("History", history(s.history)));
    return parts;
  }

  function actionForm(name) {
    var reason = el("input", { id: "reason-" + name, type: "text", maxlength: "500", autocomplete: "off" });
    var form = el("form", { cls: "actions", "aria-label": "Actions for " + name }, [
      el("label", { for: "reason-" + name, text: "Reason" }), reason, el("span", { cls: "buttons" }),
    ]);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    return form;
  }

  function buttons(form, s) {
    var holder = form.querySelector(".buttons");
    var wanted = s.actions.join(",");
    if (holder.getAttribute("data-actions") === wanted) return;
    holder.setAttribute("data-actions", wanted);
    holder.textContent = "";
    s.actions.forEach(function (action) {
      var button = el("button", { type: "button", "data-action": action, text: action + " " + s.name });
      button.addEventListener("click", function () { act(action, s.name, form.querySelector("input").value); });
      holder.appendChild(button);
    });
  }

  function render(doc) {
    var summary = (doc.ready ? "Daemon ready" : "Daemon not ready yet") + " · revision " + (doc.revision || "—") +
      " · " + doc.role + " · " + doc.services.length + " service(s) · " + doc.source;
    document.getElementById("summary").textContent = summary;
    var problem = doc.desiredError ? "Commit " + doc.desiredError.revision.slice(0, 12) + " refused: " + doc.desiredError.message
      : doc.sourceError || "";
    var alert = document.getElementById("source-error");
    alert.textContent = problem;
    alert.hidden = !problem;
    actionsEnabled = doc.actionsEnabled;
    document.getElementById("unlock").hidden = !actionsEnabled;
    var unlocked = actionsEnabled && !!sessionStorage.getItem(TOKEN_KEY);
    var names = {};
    doc.services.forEach(function (s) {
      names[s.name] = true;
      var entry = articles[s.name];
      if (!entry) {
        var heading = el("h2", { id: "svc-" + s.name });
        entry = { article: el("article", { cls: "service", "aria-labelledby": "svc-" + s.name }, [heading]),
          heading: heading, body: el("div"), form: actionForm(s.name) };
        entry.article.appendChild(entry.body);
        entry.article.appendChild(entry.form);
        main.appendChild(entry.article);
        articles[s.name] = entry;
      }
      entry.heading.textContent = "";
      entry.heading.appendChild(el("span", { text: s.name + " " }));
      entry.heading.appendChild(badge(s.headline.word, s.headline.tone, s.headline.reason));
      entry.article.className = "service tone-" + s.headline.tone;
      entry.body.replaceChildren.apply(entry.body, body(s).filter(Boolean));
      entry.form.hidden = !unlocked;
      buttons(entry.form, s);
    });
    var empty = document.getElementById("empty");
    if (!doc.services.length && !empty) {
      main.appendChild(el("p", { id: "empty", text: "No pass has finished yet: the services appear after the first tick." }));
    } else if (doc.services.length && empty) {
      main.removeChild(empty);
    }
    Object.keys(articles).forEach(function (name) {
      if (!names[name]) { main.removeChild(articles[name].article); delete articles[name]; }
    });
    document.getElementById("updated").textContent = new Date().toLocaleTimeString() +
      " (last pass " + (doc.lastTick || "not yet") + ")";
    document.body.setAttribute("data-ticks", String(doc.ticks)); // which tick is shown
  }

  function say(text) { document.getElementById("action-result").textContent = text; }

  function act(action, service, reason) {
    say(action + " " + service + "…");
    fetch("/ui/actions", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {
        "Content-Type": "application/json", "X-CSRF-Token": csrf,
        Authorization: "Bearer " + (sessionStorage.getItem(TOKEN_KEY) || ""),
      },
      body: JSON.stringify({ action: action, service: service, reason: reason }),
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (answer) {
      if (!answer.ok) { say("Refused: " + answer.data.error); return; }
      // A retry is no commit (it forgets a failure in AWS, as `reconciler retry` does).
      say(answer.data.commit ? "Committed " + String(answer.data.commit).slice(0, 12) + ": " + answer.data.summary
        : "Done: " + answer.data.summary);
    }, function () { say("The daemon did not answer."); });
  }

  function poll() {
    fetch("/ui/state.json", { cache: "no-store" }).then(function (response) {
      return response.text();
    }).then(function (text) {
      if (text !== lastText) { lastText = text; render(JSON.parse(text)); }
    }, function () {
      document.getElementById("updated").textContent = "— the daemon did not answer; retrying";
    }).then(function () { setTimeout(poll, POLL_MS); });
  }

  document.getElementById("unlock-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("token");
    sessionStorage.setItem(TOKEN_KEY, input.value);
    input.value = "";
    say("Actions unlocked for this tab.");
    lastText = "";
  });
  poll();
})();
