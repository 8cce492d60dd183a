// The REST API of stompim, as the web client calls it: every answer is a Result envelope
// {code, message, data, timestamp}; `call` returns `data` when code is 200 and throws an
// ApiError (with the business code and the server's message) otherwise. Offset-paged lists
// answer {records, total, size, current, pages}; `all` reads every page of one.

const AUTH_CODES = new Set([1003, 9002]); // token expired or revoked; authentication required

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }

  /** The token is missing, expired or revoked: the user must log in again. By the code
   * too, for a node answering refusals with HTTP 200 (http.error_status = "ok"). */
  get unauthorized() {
    return this.status === 401 || AUTH_CODES.has(this.code);
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

  /**
   * Every record of an offset-paged list ({records, total, size, current, pages}), page by
   * page (at most `maxPages` of `size`).
   */
  async all(path, query = {}, { size = 100, maxPages = 50 } = {}) {
    const records = [];
    for (let current = 1; current <= maxPages; current++) {
      const page = await this.get(path, { ...query, current, size });
      records.push(...page.records);
      if (current >= page.pages) break;
    }
    return records;
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
