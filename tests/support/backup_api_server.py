"""A local stand-in for the three AWS Backup reads ``ops status`` makes, over real HTTP.

moto 5.2.5's backup backend has vaults, plans and tags only, and a subprocess
cannot take botocore's Stubber, so ``python -m ops status`` runs as operators run
it with ``AWS_ENDPOINT_URL_BACKUP`` pointing here. The server speaks AWS Backup's
REST-JSON for an unmodified boto3 client (botocore's own request serialization
and response parsing) and answers from data seeded by the test:

* ``GET /backup-vaults/{name}/recovery-points/?resourceArn=`` (ListRecoveryPointsByBackupVault);
* ``GET /backup-jobs/?backupVaultName=&state=`` (ListBackupJobs);
* ``GET /restore-jobs/?status=`` (ListRestoreJobs);
* ``POST /_seed`` replaces the data: ``{"recovery_points": [...], "backup_jobs": [...],
  "restore_jobs": [...]}``, items shaped as the API returns them, dates as epoch seconds;
* an unknown vault answers ``ResourceNotFoundException``, as the service does.

Run: ``python -m tests.support.backup_api_server --port P``.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Json = dict[str, Any]
_LOCK = threading.Lock()
_DATA: Json = {"recovery_points": [], "backup_jobs": [], "restore_jobs": [], "vaults": []}


def recovery_points(vault: str, query: dict[str, list[str]]) -> Json:
    if vault not in _DATA["vaults"]:
        raise LookupError(f"Backup vault {vault} not found")
    wanted = query.get("resourceArn", [None])[0]
    points = [
        p
        for p in _DATA["recovery_points"]
        if p.get("BackupVaultName") == vault and (wanted is None or p.get("ResourceArn") == wanted)
    ]
    return {"RecoveryPoints": points}


def backup_jobs(query: dict[str, list[str]]) -> Json:
    vault = query.get("backupVaultName", [None])[0]
    state = query.get("state", [None])[0]
    jobs = [
        j
        for j in _DATA["backup_jobs"]
        if (vault is None or j.get("BackupVaultName") == vault)
        and (state is None or j.get("State") == state)
    ]
    return {"BackupJobs": jobs}


def restore_jobs(query: dict[str, list[str]]) -> Json:
    status = query.get("status", [None])[0]
    jobs = [j for j in _DATA["restore_jobs"] if status is None or j.get("Status") == status]
    return {"RestoreJobs": jobs}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def send_json(self, status: int, body: Json, error: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error:
            self.send_header("x-amzn-ErrorType", error)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        path = parts.path
        with _LOCK:
            try:
                if path == "/_health":
                    self.send_json(200, {})
                elif path.startswith("/backup-vaults/") and path.endswith("/recovery-points/"):
                    vault = unquote(path.split("/")[2])
                    self.send_json(200, recovery_points(vault, query))
                elif path == "/backup-jobs/":
                    self.send_json(200, backup_jobs(query))
                elif path == "/restore-jobs/":
                    self.send_json(200, restore_jobs(query))
                else:
                    self.send_json(404, {"message": f"no route {path}"}, "UnknownOperation")
            except LookupError as exc:
                self.send_json(400, {"Message": str(exc)}, "ResourceNotFoundException")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/_seed":
            self.send_json(404, {"message": f"no route {self.path}"})
            return
        with _LOCK:
            for key in _DATA:
                _DATA[key] = list(body.get(key, []))
        self.send_json(200, {})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
