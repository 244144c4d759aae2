// The visual email designer (SPEC §11): edits the design JSON only. The server
// (campaigns/designer.py) turns it into the email's HTML with inline styles on
// save, so what reopens is exactly what was saved. Blocks: heading, text (bold,
// italic, links), image (from the library), button, divider, spacer, two- and
// three-column rows, footer. Drag (or the arrows) to reorder, settings per
// block, undo/redo, personalization picker, and a code mode for the HTML.
(function () {
  "use strict";
  var root = document.getElementById("email-designer");
  var dataNode = document.getElementById("designer-data");
  if (!root || !dataNode) return;
  var data = JSON.parse(dataNode.textContent);
  var L = data.labels;
  var form = root.closest("form");
  var state = data.design && data.design.blocks ? data.design : { version: 1, settings: {}, blocks: [] };
  var selected = null; // a path: "2" or "3.1.0"
  var undo = [], redo = [];
  var canvas = root.querySelector(".dz-canvas");
  var panel = root.querySelector(".dz-settings");
  var lastEditable = null;
  var savedRange = null;

  var DEFAULTS = {
    heading: function () { return { type: "heading", text: L.newHeading, level: 1, color: "#102a43", align: "left", padding: 12 }; },
    text: function () { return { type: "text", html: L.newText, color: "#1f2933", align: "left", padding: 12, size: 16 }; },
    image: function () { return { type: "image", src: "", alt: "", href: "", width: 600, align: "center", padding: 12 }; },
    button: function () { return { type: "button", label: L.newButton, href: "https://", color: "#ffffff", background: "#2454d6", align: "left", padding: 12 }; },
    divider: function () { return { type: "divider", color: "#e4e7eb", padding: 12 }; },
    spacer: function () { return { type: "spacer", height: 24 }; },
    columns2: function () { return { type: "columns", padding: 0, columns: [[DEFAULTS.text()], [DEFAULTS.text()]] }; },
    columns3: function () { return { type: "columns", padding: 0, columns: [[DEFAULTS.text()], [DEFAULTS.text()], [DEFAULTS.text()]] }; },
    footer: function () { return { type: "footer", html: L.newFooter, color: "#52606d", align: "center", padding: 16 }; }
  };

  // --- state ---------------------------------------------------------------
  function snapshot() { return JSON.stringify(state); }
  function remember() { undo.push(snapshot()); if (undo.length > 100) undo.shift(); redo = []; }
  function listOf(path) {
    var parts = path.split(".").map(Number);
    if (parts.length === 1) return { list: state.blocks, index: parts[0] };
    return { list: state.blocks[parts[0]].columns[parts[1]], index: parts[2] };
  }
  function blockAt(path) { var at = listOf(path); return at.list[at.index]; }
  function change(fn) { remember(); fn(); render(); }

  // --- rendering of the canvas ---------------------------------------------
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function editable(node, block, key, rich) {
    node.contentEditable = "true";
    if (rich) node.innerHTML = block[key]; else node.textContent = block[key];
    node.addEventListener("focus", function () { lastEditable = node; remember(); });
    node.addEventListener("input", function () { block[key] = rich ? node.innerHTML : node.textContent; });
    // Where the caret was, so the personalization picker inserts there.
    ["keyup", "mouseup", "input"].forEach(function (name) {
      node.addEventListener(name, function () {
        var sel = window.getSelection();
        if (sel.rangeCount) savedRange = sel.getRangeAt(0).cloneRange();
      });
    });
  }

  function blockNode(block, path) {
    var wrap = el("div", { "class": "dz-block dz-type-" + block.type, "data-path": path, "data-type": block.type, draggable: "true" });
    if (path === selected) wrap.classList.add("selected");
    var body;
    if (block.type === "heading") {
      body = el("h" + block.level); editable(body, block, "text", false);
    } else if (block.type === "text" || block.type === "footer") {
      body = el("div", { "class": "dz-rich" }); editable(body, block, "html", true);
    } else if (block.type === "image") {
      body = block.src ? el("img", { src: block.src, alt: block.alt }) : el("div", { "class": "dz-placeholder" }, L.chooseImage);
    } else if (block.type === "button") {
      body = el("span", { "class": "dz-button" }); editable(body, block, "label", false);
      body.style.background = block.background; body.style.color = block.color;
    } else if (block.type === "divider") {
      body = el("hr");
    } else if (block.type === "spacer") {
      body = el("div", { "class": "dz-spacer" }); body.style.height = block.height + "px";
    } else {
      body = el("div", { "class": "dz-row" });
      block.columns.forEach(function (column, c) {
        var col = el("div", { "class": "dz-col" });
        column.forEach(function (inner, n) { col.appendChild(blockNode(inner, path + "." + c + "." + n)); });
        var add = el("select", { "class": "dz-add-inner", "aria-label": L.addToColumn });
        add.appendChild(el("option", { value: "" }, "+ " + L.addToColumn));
        ["heading", "text", "image", "button", "divider", "spacer"].forEach(function (t) {
          add.appendChild(el("option", { value: t }, L.types[t]));
        });
        add.addEventListener("change", function () {
          var t = add.value; if (!t) return;
          change(function () { column.push(DEFAULTS[t]()); selected = path + "." + c + "." + (column.length - 1); });
        });
        col.appendChild(add);
        body.appendChild(col);
      });
    }
    if (block.align && body.style) body.style.textAlign = block.align;
    if (block.color && block.type !== "button") body.style.color = block.color;
    wrap.appendChild(body);
    wrap.addEventListener("click", function (event) {
      event.stopPropagation();
      if (selected !== path) { selected = path; markSelection(); showSettings(); }
    });
    wrap.tabIndex = 0; // keyboard: Tab to a block, Enter to select it
    wrap.addEventListener("keydown", function (event) {
      if (event.target === wrap && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        selected = path; markSelection(); showSettings();
      }
    });
    wrap.addEventListener("dragstart", function (event) {
      if (event.target !== wrap) return;
      event.stopPropagation();
      event.dataTransfer.setData("text/plain", path);
    });
    wrap.addEventListener("dragover", function (event) { event.preventDefault(); event.stopPropagation(); });
    wrap.addEventListener("drop", function (event) {
      event.preventDefault(); event.stopPropagation();
      move(event.dataTransfer.getData("text/plain"), path);
    });
    return wrap;
  }

  function markSelection() {
    canvas.querySelectorAll(".dz-block").forEach(function (node) {
      node.classList.toggle("selected", node.dataset.path === selected);
    });
  }

  function render() {
    canvas.innerHTML = "";
    if (!state.blocks.length) canvas.appendChild(el("p", { "class": "dz-empty" }, L.empty));
    state.blocks.forEach(function (block, i) { canvas.appendChild(blockNode(block, String(i))); });
    root.querySelector(".dz-undo").disabled = !undo.length;
    root.querySelector(".dz-redo").disabled = !redo.length;
    showSettings();
  }

  // --- moving --------------------------------------------------------------
  function parent(path) { return path.split(".").slice(0, -1).join("."); }
  function move(from, to) {
    if (!from || from === to || parent(from) !== parent(to)) return;
    change(function () {
      var a = listOf(from), b = listOf(to);
      var item = a.list.splice(a.index, 1)[0];
      a.list.splice(b.index, 0, item);
      selected = to;
    });
  }
  function shift(delta) {
    if (selected === null) return;
    var at = listOf(selected), target = at.index + delta;
    if (target < 0 || target >= at.list.length) return;
    var prefix = parent(selected);
    move(selected, (prefix ? prefix + "." : "") + target);
  }

  // --- settings panel ------------------------------------------------------
  var FIELDS = {
    heading: ["level", "color", "align", "padding"],
    text: ["color", "align", "padding"],
    footer: ["color", "align", "padding"],
    image: ["src", "alt", "href", "width", "align", "padding"],
    button: ["href", "color", "background", "align", "padding"],
    divider: ["color", "padding"],
    spacer: ["height"],
    columns: []
  };

  function input(block, key) {
    var field = el("div", { "class": "field" });
    var id = "dz-" + key;
    field.appendChild(el("label", { "for": id }, L.fields[key]));
    var control;
    if (key === "align") {
      control = el("select", { id: id, name: "dz-" + key });
      ["left", "center", "right"].forEach(function (v) { control.appendChild(el("option", { value: v }, L.align[v])); });
    } else if (key === "level") {
      control = el("select", { id: id });
      [1, 2, 3].forEach(function (v) { control.appendChild(el("option", { value: String(v) }, "H" + v)); });
    } else {
      var type = key === "color" || key === "background" ? "color" : (key === "padding" || key === "width" || key === "height" ? "number" : "text");
      control = el("input", { id: id, type: type });
    }
    control.value = block[key];
    control.addEventListener("focus", remember);
    control.addEventListener("change", function () {
      var value = control.type === "number" || key === "level" ? parseInt(control.value, 10) || 0 : control.value;
      block[key] = value;
      render();
    });
    field.appendChild(control);
    if (key === "src") {
      var pick = el("button", { type: "button", "class": "button dz-pick" }, L.chooseImage);
      pick.addEventListener("click", function () { openPicker(block); });
      field.appendChild(pick);
    }
    return field;
  }

  function showSettings() {
    panel.innerHTML = "";
    if (selected === null || !blockAt(selected)) {
      panel.appendChild(el("p", { "class": "muted" }, L.selectHint));
      return;
    }
    var block = blockAt(selected);
    panel.appendChild(el("h3", {}, L.types[block.type === "columns" ? "columns" + block.columns.length : block.type]));
    FIELDS[block.type].forEach(function (key) { panel.appendChild(input(block, key)); });
    var actions = el("div", { "class": "dz-actions" });
    [["up", L.moveUp, function () { shift(-1); }], ["down", L.moveDown, function () { shift(1); }],
     ["delete", L.remove, function () {
       change(function () { var at = listOf(selected); at.list.splice(at.index, 1); selected = null; });
     }]].forEach(function (item) {
      var b = el("button", { type: "button", "class": "button dz-" + item[0] }, item[1]);
      b.addEventListener("click", item[2]);
      actions.appendChild(b);
    });
    panel.appendChild(actions);
  }

  // --- image library -------------------------------------------------------
  var dialog = root.querySelector(".dz-picker");
  var pickFor = null;
  function openPicker(block) {
    pickFor = block;
    fetch(data.pickerUrl, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      dialog.querySelector(".dz-picker-body").innerHTML = html;
      dialog.showModal();
    });
  }
  dialog.querySelector(".close").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("click", function (event) {
    var pick = event.target.closest("button.pick");
    if (!pick || !pickFor) return;
    var block = pickFor;
    change(function () {
      block.src = pick.dataset.url;
      block.alt = block.alt || (pick.dataset.alt || "").replace(/\.[a-z0-9]+$/i, "");
      block.width = Math.min(parseInt(pick.dataset.width, 10) || 600, 600);
    });
    dialog.close();
  });

  // --- toolbar -------------------------------------------------------------
  root.querySelectorAll("[data-add]").forEach(function (button) {
    button.addEventListener("click", function () {
      var kind = button.dataset.add;
      change(function () {
        var at = selected !== null && selected.indexOf(".") < 0 ? Number(selected) + 1 : state.blocks.length;
        state.blocks.splice(at, 0, DEFAULTS[kind]());
        selected = String(at);
      });
      if (kind === "image") openPicker(blockAt(selected));
    });
  });
  root.querySelector(".dz-undo").addEventListener("click", function () {
    if (!undo.length) return;
    redo.push(snapshot()); state = JSON.parse(undo.pop()); selected = null; render();
  });
  root.querySelector(".dz-redo").addEventListener("click", function () {
    if (!redo.length) return;
    undo.push(snapshot()); state = JSON.parse(redo.pop()); selected = null; render();
  });
  root.querySelectorAll("[data-format]").forEach(function (button) {
    button.addEventListener("mousedown", function (event) { event.preventDefault(); }); // keep the selection
    button.addEventListener("click", function () {
      var format = button.dataset.format;
      if (format === "createLink") {
        var url = window.prompt(L.linkPrompt, "https://");
        if (url) document.execCommand("createLink", false, url);
      } else {
        document.execCommand(format);
      }
      if (lastEditable) lastEditable.dispatchEvent(new Event("input"));
    });
  });
  var personalize = root.querySelector(".dz-personalize");
  personalize.addEventListener("mousedown", function () { /* the editable keeps its caret */ });
  personalize.addEventListener("change", function () {
    var value = personalize.value; personalize.value = "";
    if (!value || !lastEditable || !lastEditable.isConnected) return;
    lastEditable.focus();
    if (savedRange && lastEditable.contains(savedRange.startContainer)) {
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(savedRange);
    }
    document.execCommand("insertText", false, "{{ " + value + " }}");
    lastEditable.dispatchEvent(new Event("input"));
  });

  // --- modes and saving ----------------------------------------------------
  var modeInput = form.querySelector("input[name=mode]");
  var code = root.querySelector(".dz-code");
  root.querySelectorAll("[data-mode]").forEach(function (tab) {
    tab.addEventListener("click", function () {
      var mode = tab.dataset.mode;
      modeInput.value = mode;
      root.classList.toggle("code-mode", mode === "code");
      root.querySelectorAll("[data-mode]").forEach(function (t) { t.setAttribute("aria-pressed", String(t === tab)); });
      if (mode === "code") code.focus();
    });
  });
  form.addEventListener("submit", function () {
    form.querySelector("input[name=design]").value = JSON.stringify(state);
  });

  root.classList.add("dz-js");
  modeInput.value = "design";
  render();
})();
