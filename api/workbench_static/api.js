// Calls to the geogrid service with the signed-in key (X-API-Key, kept in sessionStorage).

const KEY = "geogrid.workbench.key";

export class ApiError extends Error {
  constructor(status, body, headers) {
    const detail = body && typeof body === "object" ? body.detail : body;
    const text = Array.isArray(detail)
      ? detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ")
      : String(detail ?? status);
    super(text);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export function headers(extra = {}) {
  const key = getKey();
  return key ? { "X-API-Key": key, ...extra } : { ...extra };
}

// One call: JSON in (json) or any body (body), JSON or text out; an error status throws ApiError.
export async function call(method, path, { json, body, ifMatch, query } = {}) {
  const extra = {};
  if (json !== undefined) extra["Content-Type"] = "application/json";
  if (ifMatch) extra["If-Match"] = ifMatch;
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) params.set(k, v);
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const response = await fetch(url, {
    method,
    headers: headers(extra),
    body: json !== undefined ? JSON.stringify(json) : body,
  });
  const type = response.headers.get("content-type") || "";
  let data = null;
  if (response.status !== 204) {
    data = type.includes("json") ? await response.json() : await response.text();
  }
  if (!response.ok) throw new ApiError(response.status, data, response.headers);
  return { data, etag: response.headers.get("ETag"), headers: response.headers, status: response.status };
}

// A file answer (PDF, xlsx): fetched with the key, then handed to the browser as a download.
export async function download(path, filename) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) {
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    throw new ApiError(response.status, data, response.headers);
  }
  const blob = await response.blob();
  const disposition = response.headers.get("content-disposition") || "";
  const match = /filename\*=UTF-8''([^;]+)/i.exec(disposition) || /filename="([^"]+)"/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : filename;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { name, size: blob.size, type: blob.type };
}

export const enc = encodeURIComponent;
