/** The body of the thread that runs a DelayProxy (see startDelayProxyThread): its forwarding stays off the bench's event loop. */
import { DelayProxy, type ProxyRequest } from "./delay-proxy.ts";

declare const self: Worker;

let proxy: DelayProxy | null = null;

self.onmessage = (event: MessageEvent<ProxyRequest>) => {
  const request = event.data;
  if (request.type === "start") {
    proxy = new DelayProxy(request.host, request.port, request.delayMs);
    self.postMessage({ port: proxy.start() });
  } else {
    proxy?.stop();
    self.postMessage({ stopped: true });
  }
};
