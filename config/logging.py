"""One JSON object per log line (production)."""

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = getattr(record, "request", None)
        if request is not None:
            entry["method"] = getattr(request, "method", None)
            entry["path"] = getattr(request, "path", None)
        # Structured fields of a security event (training/security.py), as top-level keys.
        for key, value in (getattr(record, "security", None) or {}).items():
            entry.setdefault(key, value)
        status = getattr(record, "status_code", None)
        if status is not None:
            entry["status"] = status
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
