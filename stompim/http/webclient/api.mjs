// The REST API of stompim, as the web client calls it: every answer is a Result envelope
// {code, message, data, timestamp}; `call` returns `data` when code is 200 and throws an
// ApiError (with the business code and the server's message) otherwise.

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }

  /** The token is missing, expired or revoked: the user must log in again. */
  get unauthorized() {
    return this.status === 401;
  }
}

export class Api {
  constructor(base = "") {
    this.base = base;
    this.token = null;
    this.onUnauthorized = () => {};
  }

  async call(method, path, { body, query } = {}) {
    let url = `${this.base}${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
      }
      const text = params.toString();
      if (text) url += `?${text}`;
    }
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "the server cannot be reached", 0);
    }
    let envelope;
    try {
      envelope = await response.json();
    } catch {
      throw new ApiError(response.status, `unexpected answer (HTTP ${response.status})`, response.status);
    }
    if (envelope.code !== 200) {
      const error = new ApiError(envelope.code, envelope.message || "request failed", response.status);
      if (error.unauthorized && this.token) this.onUnauthorized(error);
      throw error;
    }
    return envelope.data;
  }

  get(path, query) {
    return this.call("GET", path, { query });
  }

  post(path, body = {}) {
    return this.call("POST", path, { body });
  }

  put(path, body = {}) {
    return this.call("PUT", path, { body });
  }

  del(path) {
    return this.call("DELETE", path);
  }
}
