// The /v1 API as the page uses it: same-origin fetches with the session cookie; every
// change is a POST with a JSON body and the session's CSRF token in a header.

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

const w = (name) => `/v1/watchers/${encodeURIComponent(name)}`;

export class Api {
  constructor() {
    this.csrf = null; // kept in memory only: never in storage or a URL
  }

  async request(method, path, body) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store",
      redirect: "error" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      if (this.csrf) headers["X-Ringleader-CSRF"] = this.csrf;
      init.body = JSON.stringify(body ?? {});
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, "unreachable", "the controller cannot be reached");
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, data?.error ?? `http_${response.status}`,
        data?.detail ?? `${response.status} ${response.statusText}`);
    }
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body); }

  // -- the session ----------------------------------------------------------------------
  remember(answer) {
    const session = answer?.session ?? null;
    this.csrf = session ? session.csrf : null;
    return session;
  }
  async session() { return this.remember(await this.get("/v1/session")); }
  async exchange(token) { return this.remember(await this.post("/v1/session", { token })); }
  async logout() {
    await this.post("/v1/session/logout");
    this.csrf = null;
  }

  // -- watchers -------------------------------------------------------------------------
  watcher(name) { return this.get(w(name)); }
  options(name) { return this.get(`${w(name)}/options`); }
  action(name, op) { return this.post(`${w(name)}/${op}`); } // start stop restart reload
  scale(name, delta) {
    return this.post(`${w(name)}/${delta > 0 ? "incr" : "decr"}`, { count: Math.abs(delta) });
  }
  signal(name, signal, pid) {
    return this.post(`${w(name)}/signal`, pid ? { signal, pid } : { signal });
  }
  set(name, options) { return this.post(`${w(name)}/options`, { options }); }
  add(request) { return this.post("/v1/watchers", request); }
  remove(name) { return this.post(`${w(name)}/remove`); }

  // -- cluster (served by the controller, gathered server-side) ------------------------
  cluster() { return this.get("/v1/cluster/overview"); }
  drain(node) { return this.post(`/v1/cluster/nodes/${encodeURIComponent(node)}/drain`); }
  undrain(node) { return this.post(`/v1/cluster/nodes/${encodeURIComponent(node)}/undrain`); }
}
