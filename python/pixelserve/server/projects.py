"""Warm projects: loaded once, kept while memory allows, reloaded when the file changes."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from ..api import Project, open_project

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectKey:
    path: str
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: str) -> "ProjectKey":
        stat = os.stat(path)
        return cls(path, stat.st_mtime_ns, stat.st_size)


class ProjectCache:
    """Loaded projects keyed by path, modification time and size, least recently used first
    out when their footprint passes `max_bytes`.

    Loading happens outside the cache's lock, under a lock per key, so that a slow first
    load of one project never blocks requests for others, and two requests for the same cold
    project load it once.
    """

    def __init__(self, max_bytes: int = 2 << 30, check_stored_file=None):
        self.max_bytes = max_bytes
        self.check_stored_file = check_stored_file  # files a project names pass it (the allowed roots)
        self._projects: OrderedDict[ProjectKey, tuple[Project, int]] = OrderedDict()
        self._loading: dict[ProjectKey, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> Project:
        key = ProjectKey.of(path)
        with self._lock:
            if key in self._projects:
                self._projects.move_to_end(key)
                return self._projects[key][0]
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                if key in self._projects:
                    return self._projects[key][0]
            project = open_project(path, check_stored_file=self.check_stored_file)
            footprint = project.workflow.memory_bytes()
            with self._lock:
                self._loading.pop(key, None)
                for stale in [k for k in self._projects if k.path == path]:
                    logger.info("%s changed on disk: reloaded", path)
                    del self._projects[stale]
                self._projects[key] = (project, footprint)
                self._evict()
            return project

    def _evict(self) -> None:
        while len(self._projects) > 1 and sum(f for _, f in self._projects.values()) > self.max_bytes:
            key, _ = self._projects.popitem(last=False)
            logger.info("Unloaded %s (project cache full)", key.path)

    def __len__(self) -> int:
        return len(self._projects)
