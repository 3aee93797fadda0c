// The API of the server that served this page: JSON requests with the queue token, and the
// waiting room's live stream read with fetch (EventSource cannot send the bearer header).

/** An API refusal: the contract's error code, the HTTP status and the body. */
export class ApiError extends Error {
  constructor(code, status, body) {
    super(code);
    this.code = code;
    this.status = status;
    this.body = body;
  }
}

/** Sends one request; resolves with the JSON body of a 2xx answer, rejects with an ApiError. */
export async function call(method, path, { token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError("NETWORK", 0, null);
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  throw new ApiError(data?.code ?? (response.status >= 500 ? "UNAVAILABLE" : "UNKNOWN"), response.status, data);
}

/**
 * Reads `GET /api/token/stream` until it ends, calling `onStatus` with each token JSON.
 * Resolves when the server closes the stream (the caller reconnects or moves on); rejects with
 * an ApiError when the stream is refused (429: too many streams) or the connection fails.
 */
export async function watch(token, onStatus, signal) {
  let response;
  try {
    response = await fetch("/api/token/stream", {
      headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
      cache: "no-store",
      signal,
    });
  } catch {
    throw new ApiError("NETWORK", 0, null);
  }
  if (!response.ok || !response.body) {
    const data = await response.json().catch(() => null);
    throw new ApiError(data?.code ?? "UNKNOWN", response.status, data);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trim())
          .join("\n");
        if (data) onStatus(JSON.parse(data));
      }
    }
  } catch (error) {
    if (signal?.aborted) return;
    throw error instanceof ApiError ? error : new ApiError("NETWORK", 0, null);
  }
}
