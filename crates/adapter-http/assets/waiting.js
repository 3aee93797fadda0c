// The waiting room, followed live: `GET /api/token/stream` read with fetch (EventSource cannot
// send the bearer header), reconnected whenever the server ends it; polling `GET /api/token`
// when the stream is refused (429) or fails.

import { call, watch } from "./api.js";

const POLL_MS = 1000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `onStatus` with each token JSON while `stillWaiting()`; `onMode("live" | "polling")`
 * says how; `onRefusal(error)` gets what the server refused (a 401 ends the following).
 */
export async function followToken(token, { signal, stillWaiting, onStatus, onMode, onRefusal }) {
  while (stillWaiting()) {
    onMode("live");
    const opened = Date.now();
    try {
      await watch(token, onStatus, signal);
    } catch (error) {
      if (error.status === 401) return onRefusal(error);
      if (error.code === "TOO_MANY_STREAMS" || error.code === "STREAMS_FULL") onRefusal(error);
      return poll(token, { stillWaiting, onStatus, onMode, onRefusal });
    }
    // A stream that ends at once would make this loop spin: pace reconnects to one a second.
    if (Date.now() - opened < POLL_MS) await sleep(POLL_MS);
  }
}

async function poll(token, { stillWaiting, onStatus, onMode, onRefusal }) {
  onMode("polling");
  while (stillWaiting()) {
    try {
      onStatus(await call("GET", "/api/token", { token }));
    } catch (error) {
      onRefusal(error);
      if (error.status === 401) return;
    }
    await sleep(POLL_MS);
  }
}
