// HTTP calls to the Tandem server. Errors become ApiError with the server's
// {code, field, message}, or a plain "can't reach" error when the network fails.

export class ApiError extends Error {
  constructor(status, { code, field, message, retry_after } = {}) {
    super(message || "Something went wrong.");
    this.status = status;
    this.code = code || "error";
    this.field = field || null;
    this.retryAfter = retry_after;
  }
}

export const OFFLINE_MESSAGE = "Can't reach Tandem right now. Check your connection and try again.";

export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, { code: "network", message: OFFLINE_MESSAGE });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : { code: "http_" + res.status, message: "Something went wrong (" + res.status + ")." };
    throw new ApiError(res.status, err);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
