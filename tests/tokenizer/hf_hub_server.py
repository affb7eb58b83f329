"""hf_hub_server.py ROOT PORT [TOKEN]: a stand-in for a HuggingFace hub
endpoint on 127.0.0.1, for the registry's download tests.

Serves GET /<org>/<name>/resolve/<rev>/<file> from ROOT/<org>/<name>/<file>,
with the X-Repo-Commit header the hub sends (the contents of
ROOT/<org>/<name>/.commit when present). /<org>/<name>/resolve/... paths that
map to ROOT/<org>/<name>/.redirect are answered with a 302 to the URL in that
file, as the hub redirects to its CDN. When TOKEN is given, requests without
"Authorization: Bearer TOKEN" get 401. Every request is appended to
ROOT/requests.log ("METHOD PATH AUTH-OK"). Prints "ready" once listening.
"""
import http.server
import os
import sys

ROOT, PORT = sys.argv[1], int(sys.argv[2])
TOKEN = sys.argv[3] if len(sys.argv) > 3 else None


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        auth_ok = TOKEN is None or self.headers.get(
            "Authorization") == "Bearer " + TOKEN
        with open(os.path.join(ROOT, "requests.log"), "a") as log:
            log.write("GET %s %d\n" % (self.path, auth_ok))
        if not auth_ok:
            return self.reply(401, b"unauthorized")
        parts = self.path.split("/")
        # ['', org, name, 'resolve', rev, file] or a /cdn/ path.
        if len(parts) == 6 and parts[3] == "resolve" and ".." not in parts:
            repo = os.path.join(ROOT, parts[1], parts[2])
            redirect = os.path.join(repo, ".redirect")
            if os.path.isfile(redirect):
                with open(redirect) as f:
                    target = f.read().strip() + "/" + parts[5]
                return self.reply(302, headers={"Location": target})
            return self.serve(repo, parts[5])
        if len(parts) == 5 and parts[1] == "cdn" and ".." not in parts:
            return self.serve(os.path.join(ROOT, parts[2], parts[3]), parts[4])
        return self.reply(404, b"not found")

    def serve(self, repo, name):
        path = os.path.join(repo, name)
        if not os.path.isfile(path):
            return self.reply(404, b"entry not found")
        headers = {"Content-Type": "application/json"}
        commit = os.path.join(repo, ".commit")
        if os.path.isfile(commit):
            with open(commit) as f:
                headers["X-Repo-Commit"] = f.read().strip()
        with open(path, "rb") as f:
            return self.reply(200, f.read(), headers)


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
