/* spacetime interactive viewer (MIT, part of spacetime). Draws every div of class st-figure
 * of the page from the JSON of its child script element of class st-data, with
 * three.js (window.THREE, three.bundle.min.js). Nothing is fetched: geometry is base64 inside the
 * page. Renders on demand (after a drag, a zoom, a resize), not in a loop.
 *
 * Test hooks: each figure gets data-ready="1" once drawn (and images loaded); window.spacetimeViewer
 * = {ready, readyMs, figures, errors}.
 */
(function () {
  "use strict";
  const T = window.THREE;
  const state = { ready: false, readyMs: null, figures: 0, errors: [] };
  window.spacetimeViewer = state;

  function bytes(b64) {
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(b64);
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function typed(spec) {
    const b = bytes(spec.b64);
    const buf = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.slice().buffer;
    switch (spec.dtype) {
      case "u8": return new Uint8Array(buf);
      case "u16": return new Uint16Array(buf);
      case "u32": return new Uint32Array(buf);
      case "f32": return new Float32Array(buf);
      default: throw new Error("unknown dtype " + spec.dtype);
    }
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function rgb(c) { return new T.Color(c[0], c[1], c[2]); }

  // positions are uint16 normalised to the object's box: local [0, 1]^3 -> offset + scale * q
  function place(obj3d, o) {
    obj3d.position.set(o.offset[0], o.offset[1], o.offset[2]);
    obj3d.scale.set(o.scale[0], o.scale[1], o.scale[2]);
  }

  function geometry(o) {
    const g = new T.BufferGeometry();
    g.setAttribute("position", new T.BufferAttribute(typed(o.position), 3, true));
    if (o.color) g.setAttribute("color", new T.BufferAttribute(typed(o.color), 3, true));
    return g;
  }

  function buildMesh(o, fig) {
    const g = geometry(o);
    g.setIndex(new T.BufferAttribute(typed(o.index), 1));
    const flat = o.shading === "flat";
    if (!flat) g.computeVertexNormals();
    const mat = new T.MeshPhongMaterial({
      color: o.color ? 0xffffff : rgb(o.rgb), vertexColors: !!o.color, flatShading: flat,
      side: T.DoubleSide, shininess: 15, transparent: o.opacity < 1, opacity: o.opacity,
      depthWrite: o.opacity >= 1, polygonOffset: true, polygonOffsetFactor: 1,
      polygonOffsetUnits: 1,
    });
    const mesh = new T.Mesh(g, mat);
    place(mesh, o);
    let wire = null;
    fig.wireframes.push(function (on) {
      if (on && !wire) {
        wire = new T.LineSegments(new T.WireframeGeometry(g),
          new T.LineBasicMaterial({ color: 0x202020, transparent: true, opacity: 0.45 }));
        mesh.add(wire);
      }
      if (wire) wire.visible = on;
    });
    return mesh;
  }

  function buildPoints(o) {
    const g = geometry(o);
    const mat = new T.PointsMaterial({
      size: o.size, sizeAttenuation: false, vertexColors: !!o.color,
      color: o.color ? 0xffffff : rgb(o.rgb),
    });
    const pts = new T.Points(g, mat);
    place(pts, o);
    return pts;
  }

  function buildCubes(o, fig) {
    const centres = typed(o.centres), sizes = typed(o.sizes);
    const n = sizes.length;
    const mat = new T.MeshPhongMaterial({ color: 0xffffff, flatShading: true, shininess: 10 });
    const cubes = new T.InstancedMesh(new T.BoxGeometry(1, 1, 1), mat, n);
    const m = new T.Matrix4();
    const q = 1 / 65535;
    for (let i = 0; i < n; i++) {
      const s = sizes[i];
      m.makeScale(s, s, s);
      m.setPosition(o.offset[0] + o.scale[0] * centres[3 * i] * q,
                    o.offset[1] + o.scale[1] * centres[3 * i + 1] * q,
                    o.offset[2] + o.scale[2] * centres[3 * i + 2] * q);
      cubes.setMatrixAt(i, m);
    }
    const c8 = typed(o.color), cf = new Float32Array(3 * n);
    for (let i = 0; i < 3 * n; i++) cf[i] = c8[i] / 255;
    cubes.instanceColor = new T.InstancedBufferAttribute(cf, 3);
    cubes.instanceMatrix.needsUpdate = true;
    cubes.computeBoundingSphere();
    fig.wireframes.push(function (on) { mat.wireframe = on; });
    return cubes;
  }

  function buildLines(o) {
    const g = new T.BufferGeometry();
    g.setAttribute("position", new T.BufferAttribute(typed(o.position), 3));
    return new T.LineSegments(g, new T.LineBasicMaterial({ color: rgb(o.rgb) }));
  }

  function buildImagePlane(o, fig, done) {
    const c = o.corners;  // top-left, top-right, bottom-right, bottom-left
    const g = new T.BufferGeometry();
    g.setAttribute("position", new T.BufferAttribute(new Float32Array([].concat(c[0], c[1], c[2], c[3])), 3));
    g.setAttribute("uv", new T.BufferAttribute(new Float32Array([0, 1, 1, 1, 1, 0, 0, 0]), 2));
    g.setIndex([0, 3, 1, 1, 3, 2]);
    const img = new Image();
    const tex = new T.Texture(img);
    tex.colorSpace = T.NoColorSpace;
    fig.pending += 1;
    img.onload = function () { tex.needsUpdate = true; fig.pending -= 1; done(); };
    img.onerror = function () { fig.pending -= 1; state.errors.push("image plane failed"); done(); };
    img.src = o.src;
    const mat = new T.MeshBasicMaterial({ map: tex, side: T.DoubleSide, transparent: o.opacity < 1,
                                          opacity: o.opacity });
    return new T.Mesh(g, mat);
  }

  function legend(spec) {
    const box = el("div", "st-legend");
    if (spec.title) box.appendChild(el("div", "st-legend-title", spec.title));
    if (spec.type === "categories") {
      for (const item of spec.items) {
        const row = el("div", "st-legend-item");
        const sw = el("span", "st-swatch");
        sw.style.background = item.color;
        row.appendChild(sw);
        row.appendChild(el("span", null, item.label));
        box.appendChild(row);
      }
      return box;
    }
    if (spec.type === "image") {
      const im = el("img", "st-legend-image");
      im.src = spec.src;
      im.alt = spec.title || "legend";
      box.appendChild(im);
      return box;
    }
    const bar = el("div", "st-colorbar");
    bar.style.background = "linear-gradient(to right, " +
      spec.stops.map(function (s) { return s[1] + " " + (100 * s[0]).toFixed(2) + "%"; }).join(", ") + ")";
    for (const mk of spec.marks || []) {
      const tick = el("div", "st-mark");
      tick.style.left = (100 * mk.pos).toFixed(2) + "%";
      tick.title = mk.label;
      bar.appendChild(tick);
      const lab = el("div", "st-mark-label", mk.label);
      lab.style.left = (100 * mk.pos).toFixed(2) + "%";
      bar.appendChild(lab);
    }
    box.appendChild(bar);
    const ends = el("div", "st-colorbar-ends");
    ends.appendChild(el("span", null, spec.min));
    ends.appendChild(el("span", null, spec.max));
    box.appendChild(ends);
    return box;
  }

  function fitCamera(camera, bounds, frame) {
    const lo = new T.Vector3().fromArray(bounds[0]), hi = new T.Vector3().fromArray(bounds[1]);
    const centre = lo.clone().add(hi).multiplyScalar(0.5);
    const radius = Math.max(hi.clone().sub(lo).length() / 2, 1e-6);
    const dist = radius / Math.sin((camera.fov / 2) * Math.PI / 180) * 0.92;
    let dir;
    if (frame === "opencv") {
      // the scene is turned by 180 deg about x (y down, z forward -> y up, z back): look along
      // the camera's own axis, a little from above and the side
      dir = new T.Vector3(0.35, 0.3, 1.0).normalize();
      centre.set(centre.x, -centre.y, -centre.z);
    } else {
      const az = 35 * Math.PI / 180, el = 25 * Math.PI / 180;
      dir = new T.Vector3(Math.sin(az) * Math.cos(el), Math.sin(el), Math.cos(az) * Math.cos(el));
    }
    camera.position.copy(centre.clone().add(dir.multiplyScalar(dist)));
    camera.near = dist / 1000;
    camera.far = dist * 100;
    camera.updateProjectionMatrix();
    return centre;
  }

  function unionBounds(panels) {
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (const p of panels) {
      for (let k = 0; k < 3; k++) {
        lo[k] = Math.min(lo[k], p.bounds[0][k]);
        hi[k] = Math.max(hi[k], p.bounds[1][k]);
      }
    }
    return [lo, hi];
  }

  function webglOk() {
    try {
      const c = document.createElement("canvas");
      return !!(window.WebGL2RenderingContext && c.getContext("webgl2"));
    } catch (e) { return false; }
  }

  function buildFigure(root) {
    const spec = JSON.parse(root.querySelector("script.st-data").textContent);
    const fig = { wireframes: [], pending: 0, views: [], drawn: false, frameRequested: false };
    if (spec.title) root.appendChild(el("div", "st-fig-title", spec.title));
    const bar = el("div", "st-toolbar");
    const grid = el("div", "st-grid");
    grid.style.gridTemplateColumns = "repeat(" + spec.cols + ", minmax(0, 1fr))";
    root.appendChild(bar);
    root.appendChild(grid);
    const has3d = spec.panels.some(function (p) { return p.kind === "3d"; });
    const gl = has3d && webglOk();
    // panels of the same frame share one camera when linked (turning one turns the others)
    const groups = {};
    for (const p of spec.panels) {
      if (p.kind !== "3d") continue;
      (groups[p.frame] = groups[p.frame] || { panels: [], camera: null, views: [] }).panels.push(p);
    }
    let anyLinked = false;

    function renderAll() {
      fig.frameRequested = false;
      for (const v of fig.views) v.render();
      if (!fig.drawn && fig.pending === 0) {
        fig.drawn = true;
        root.dataset.ready = "1";
        checkReady();
      }
    }
    function request() {
      if (!fig.frameRequested) { fig.frameRequested = true; requestAnimationFrame(renderAll); }
    }
    fig.request = request;

    for (const p of spec.panels) {
      const cell = el("div", "st-panel");
      if (p.title) cell.appendChild(el("div", "st-panel-title", p.title));
      const stage = el("div", "st-stage");
      stage.style.height = spec.height + "px";
      cell.appendChild(stage);
      if (p.legend) cell.appendChild(legend(p.legend));
      for (const note of p.notes) cell.appendChild(el("div", "st-note", note));
      grid.appendChild(cell);
      if (p.kind === "image") {
        stage.classList.add("st-image-stage");
        const im = el("img", "st-image");
        im.alt = p.title || "image";
        if (p.pixelated) im.style.imageRendering = "pixelated";
        fig.pending += 1;
        im.onload = function () { fig.pending -= 1; request(); };
        im.onerror = function () { fig.pending -= 1; state.errors.push("image failed"); request(); };
        im.src = p.src;
        stage.appendChild(im);
        continue;
      }
      if (!gl) {
        stage.appendChild(el("div", "st-nogl", "WebGL is not available in this browser: the 3D view cannot be drawn."));
        continue;
      }
      const canvas = el("canvas", "st-canvas");
      stage.appendChild(canvas);
      const renderer = new T.WebGLRenderer({ canvas: canvas, antialias: true });
      renderer.outputColorSpace = T.LinearSRGBColorSpace;
      renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
      renderer.setClearColor(0xffffff, 1);
      const scene = new T.Scene();
      const root3d = new T.Group();
      if (p.frame === "opencv") root3d.rotation.x = Math.PI;  // (x, y, z) -> (x, -y, -z)
      scene.add(root3d);
      scene.add(new T.HemisphereLight(0xffffff, 0x606060, 1.6));
      const group = groups[p.frame];
      const linked = spec.link_cameras && group.panels.length > 1;
      anyLinked = anyLinked || linked;
      const camera = linked ? (group.camera || (group.camera = new T.PerspectiveCamera(40, 1, 0.01, 100)))
        : new T.PerspectiveCamera(40, 1, 0.01, 100);
      const head = new T.DirectionalLight(0xffffff, 1.6);  // a head light, moved with the camera
      scene.add(head);
      scene.add(head.target);
      for (const o of p.objects) {
        let obj;
        if (o.type === "mesh") obj = buildMesh(o, fig);
        else if (o.type === "points") obj = buildPoints(o);
        else if (o.type === "cubes") obj = buildCubes(o, fig);
        else if (o.type === "lines") obj = buildLines(o);
        else if (o.type === "image") obj = buildImagePlane(o, fig, request);
        else throw new Error("unknown object type " + o.type);
        root3d.add(obj);
      }
      const target = fitCamera(camera, linked ? unionBounds(group.panels) : p.bounds, p.frame);
      const controls = new T.OrbitControls(camera, canvas);
      controls.target.copy(target);
      controls.screenSpacePanning = true;
      controls.update();
      const home = { position: camera.position.clone(), target: target.clone() };
      let size = [0, 0];
      const view = {
        controls: controls, home: home,
        render: function () {
          const w = stage.clientWidth, h = stage.clientHeight;
          if (w === 0 || h === 0) return;
          if (size[0] !== w || size[1] !== h) { renderer.setSize(w, h, false); size = [w, h]; }
          camera.aspect = w / h;
          camera.updateProjectionMatrix();
          // the light sits above and to the right of the camera, so that the faces of a
          // cube seen along its diagonal still get different shades
          const dist = camera.position.distanceTo(controls.target);
          head.position.set(0.5, 0.8, 0).multiplyScalar(dist).applyQuaternion(camera.quaternion)
            .add(camera.position);
          head.target.position.copy(controls.target);
          renderer.render(scene, camera);
        },
      };
      controls.addEventListener("change", function () {
        if (linked) {
          for (const v of group.views) if (v !== view) v.controls.target.copy(controls.target);
        }
        request();
      });
      fig.views.push(view);
      group.views.push(view);
      if (window.ResizeObserver) new ResizeObserver(request).observe(stage);
    }

    if (fig.views.length) {
      if (fig.wireframes.length) {
        const lab = el("label", "st-tool");
        const box = el("input");
        box.type = "checkbox";
        box.checked = !!spec.wireframe;
        box.addEventListener("change", function () {
          for (const f of fig.wireframes) f(box.checked);
          request();
        });
        fig.toggleWire = function () { box.checked = !box.checked; box.dispatchEvent(new Event("change")); };
        lab.appendChild(box);
        lab.appendChild(document.createTextNode(" wireframe (W)"));
        bar.appendChild(lab);
        if (spec.wireframe) for (const f of fig.wireframes) f(true);
      }
      const reset = el("button", "st-tool", "reset view (R)");
      reset.type = "button";
      fig.reset = function () {
        for (const v of fig.views) {
          v.controls.object.position.copy(v.home.position);
          v.controls.target.copy(v.home.target);
          v.controls.update();
        }
        request();
      };
      reset.addEventListener("click", fig.reset);
      bar.appendChild(reset);
      bar.appendChild(el("span", "st-help", (anyLinked ? "cameras linked · " : "") +
        "drag: turn · right-drag or shift-drag: pan · wheel: zoom"));
      root.tabIndex = 0;
      root.addEventListener("keydown", function (ev) {
        if (ev.key === "w" || ev.key === "W") { if (fig.toggleWire) fig.toggleWire(); }
        else if (ev.key === "r" || ev.key === "R") fig.reset();
      });
    }
    request();
    return fig;
  }

  let built = [];
  function checkReady() {
    if (built.every(function (r) { return r.dataset.ready === "1"; })) {
      state.ready = true;
      state.readyMs = performance.now();
    }
  }

  function start() {
    built = Array.prototype.slice.call(document.querySelectorAll("div.st-figure"));
    state.figures = built.length;
    for (const root of built) {
      try {
        buildFigure(root);
      } catch (err) {
        state.errors.push(String(err));
        root.dataset.ready = "1";
        root.appendChild(el("div", "st-nogl", "This view could not be drawn: " + err));
        console.error(err);
      }
    }
    checkReady();
  }

  T.ColorManagement.enabled = false;  // colours are shown as given (sRGB bytes), not converted
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
