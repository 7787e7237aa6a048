"""The engine service: models stay loaded, frames are rendered on request over a Unix socket.

``faceplate serve`` runs :class:`EngineService`. Each connection carries one request (see
:mod:`faceplate.wire`) and is handled on its own thread; the model step of concurrent requests is
stacked into one batch by :class:`Batcher` (one inference call for several frames). A failing
request gets an error response and the service carries on. With no request for ``idle_timeout``
seconds the service exits and removes its socket. Only the user who owns the service may talk to
it (the socket is mode 0600 in a 0700 folder, and the peer's uid is checked).
"""
from __future__ import annotations

import fcntl
import logging
import os
import socket
import struct
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceplate import __version__, wire
from faceplate.colour.ocio import ColourConfig
from faceplate.errors import FaceplateError, InputError, ServiceError
from faceplate.plates.image import read_image
from faceplate.plates.sequence import Sequence
from faceplate.render.facesource import FaceFinder, ShotFace, load_alignments, select
from faceplate.render.frame import empty_passes, finish, prepare
from faceplate.render.job import detect_shot_faces, frame_key, plate_arrays
from faceplate.render.model import ModelCache, SwapModel
from faceplate.render.passes import write_passes
from faceplate.render.settings import RenderSettings

log = logging.getLogger("faceplate.serve")


@dataclass
class _Item:
    model: SwapModel
    codes: np.ndarray
    future: Future


class Batcher:
    """Stacks the model inputs of concurrent requests into one inference call per model."""

    def __init__(self, max_batch: int = 16, wait_s: float = 0.004) -> None:
        self.max_batch, self.wait_s = max_batch, wait_s
        self._items: list[_Item] = []
        self._cv = threading.Condition()
        self._closed = False
        self.batches: list[int] = []  # sizes, for the bench and tests
        self._thread = threading.Thread(target=self._loop, name="faceplate-batcher", daemon=True)
        self._thread.start()

    def run(self, model: SwapModel, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fut: Future = Future()
        with self._cv:
            if self._closed:
                raise ServiceError("the service is shutting down")
            self._items.append(_Item(model, codes, fut))
            self._cv.notify()
        return fut.result()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=5)

    def _take(self) -> list[_Item]:
        with self._cv:
            while not self._items and not self._closed:
                self._cv.wait()
            if not self._items:
                return []
            end = time.monotonic() + self.wait_s
            while sum(len(i.codes) for i in self._items) < self.max_batch:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            first = self._items[0].model
            group, rest, n = [], [], 0
            for it in self._items:
                if it.model is first and (n == 0 or n + len(it.codes) <= self.max_batch):
                    group.append(it)
                    n += len(it.codes)
                else:
                    rest.append(it)
            self._items = rest
            return group

    def _loop(self) -> None:
        while True:
            group = self._take()
            if not group:
                return
            try:
                swaps, masks = group[0].model.run(np.concatenate([g.codes for g in group]))
                self.batches.append(len(swaps))
                i = 0
                for g in group:
                    n = len(g.codes)
                    g.future.set_result((swaps[i:i + n], masks[i:i + n]))
                    i += n
            except BaseException as exc:
                for g in group:
                    if not g.future.done():
                        g.future.set_exception(exc)


class EngineService:
    def __init__(self, socket_path: str | None = None, idle_timeout: float = 600.0, max_batch: int = 16,
                 max_clients: int = 32, config: ColourConfig | None = None) -> None:
        self.socket_path = socket_path or wire.default_socket_path()
        self.idle_timeout = float(idle_timeout)
        self.config = config or ColourConfig.from_env()
        self.config_key = wire.config_key(self.config.config)
        self.models = ModelCache()
        self.batcher = Batcher(max_batch=max_batch)
        self._slots = threading.BoundedSemaphore(max_clients)
        self._active = 0
        self._last = time.monotonic()
        self._state = threading.Lock()
        self._stop = threading.Event()
        self._alignments: dict[tuple, dict[int, list[ShotFace]]] = {}
        self.finder = FaceFinder()
        self._ahead: dict[tuple, tuple[Future, str]] = {}  # next frames rendered ahead (see _start_ahead)
        self._ahead_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._lock_fh = None
        self._inode: tuple[int, int] | None = None
        self.requests = 0
        self.failures = 0

    # --- socket ---------------------------------------------------------------------------
    def bind(self) -> None:
        """Take the per-socket lock, check the path, bind with mode 0600."""
        path = self.socket_path
        folder = os.path.dirname(path) or "."
        wire.ensure_private_dir(folder)
        exists = wire.check_socket_path(path, for_server=True)
        lock_path = path + ".lock"
        fh = open(lock_path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise ServiceError(f"socket {path}: another Faceplate service is already running there")
        self._lock_fh = fh
        if exists:  # a stale socket of ours (its service holds no lock any more)
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            raise ServiceError(f"socket {path}: cannot bind ({exc.strerror or exc})") from exc
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        st = os.lstat(path)
        self._inode = (st.st_dev, st.st_ino)
        sock.listen(64)
        sock.settimeout(0.25)
        self._sock = sock

    def close(self) -> None:
        self._stop.set()
        self.drop_ahead()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            try:
                st = os.lstat(self.socket_path)
                if (st.st_dev, st.st_ino) == self._inode:
                    os.unlink(self.socket_path)
            except OSError:
                pass
        self.batcher.close()
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    # --- loop -----------------------------------------------------------------------------
    def serve_forever(self) -> None:
        if self._sock is None:
            self.bind()
        log.info("serving on %s (pid %d, idle timeout %.0fs)", self.socket_path, os.getpid(), self.idle_timeout)
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._sock.accept()
                except socket.timeout:
                    with self._state:
                        idle = self._active == 0 and time.monotonic() - self._last > self.idle_timeout
                    if idle:
                        log.info("idle for %.0fs: exiting", self.idle_timeout)
                        break
                    continue
                except OSError:
                    if self._stop.is_set():
                        break
                    raise
                self._slots.acquire()
                with self._state:
                    self._active += 1
                    self._last = time.monotonic()
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        finally:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with self._state:
                    if self._active == 0:
                        break
                time.sleep(0.05)
            self.close()

    def stop(self) -> None:
        self._stop.set()

    def _handle(self, conn: socket.socket) -> None:
        try:
            with conn:
                resp = self._answer(conn)
                if resp is not None:
                    try:
                        wire.send_message(conn, resp, wire.MAX_RESPONSE)
                    except wire.WireError as exc:
                        log.warning("could not send the response: %s", exc)
        finally:
            with self._state:
                self._active -= 1
                self._last = time.monotonic()
            self._slots.release()

    def _answer(self, conn: socket.socket) -> dict[str, Any] | None:
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _, uid, _ = struct.unpack("3i", creds)
            if uid != os.getuid():
                log.warning("refused a connection from uid %d", uid)
                return {"ok": False, "error": f"refused: the service belongs to uid {os.getuid()}"}
        except (OSError, AttributeError):
            pass
        t = time.perf_counter()
        req_id = None
        try:
            doc = wire.recv_message(conn, wire.MAX_REQUEST, deadline=time.monotonic() + 30)
            req_id = doc.get("id")
            wire.check_request(doc)
            with self._state:
                self.requests += 1
            if doc["op"] == "ping":
                resp = {"ok": True, "pid": os.getpid(), "version": __version__, "protocol": wire.PROTOCOL}
            elif doc["op"] == "shutdown":
                self.stop()
                resp = {"ok": True, "pid": os.getpid()}
            else:
                resp = self.render(doc)
        except FaceplateError as exc:
            with self._state:
                self.failures += 1
            log.warning("request failed: %s", exc)
            resp = {"ok": False, "error": str(exc), "kind": type(exc).__name__}
        except Exception as exc:  # the service survives any failing request
            with self._state:
                self.failures += 1
            log.exception("request failed with an internal error")
            resp = {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}", "kind": "InternalError"}
        resp["seconds"] = round(time.perf_counter() - t, 6)
        if req_id is not None:
            resp["id"] = req_id
        return resp

    # --- rendering ------------------------------------------------------------------------
    def _faces(self, doc: dict[str, Any], img, settings: RenderSettings) -> list[ShotFace]:
        frame = doc["frame"]
        if doc.get("faces") is not None:
            faces = []
            for i, pts in enumerate(doc["faces"]):
                try:
                    arr = np.asarray(pts, np.float64)
                except (TypeError, ValueError):
                    raise InputError(f"render request, face {i}: expected 468×3 numbers") from None
                if arr.ndim != 2 or arr.shape[0] != 468 or arr.shape[1] not in (2, 3) or not np.isfinite(arr).all():
                    raise InputError(f"render request, face {i}: expected 468×3 finite landmarks, found {arr.shape}")
                if arr.shape[1] == 2:
                    arr = np.hstack([arr, np.zeros((468, 1))])
                faces.append(ShotFace(points=arr, track=i))
            return faces
        if doc.get("alignments"):
            path = doc["alignments"]
            try:
                st = os.stat(path)
                key = (path, st.st_size, st.st_mtime_ns)
            except OSError:
                key = (path, 0, 0)
            al = self._alignments.get(key)
            if al is None:
                al = load_alignments(path)
                self._alignments = {k: v for k, v in self._alignments.items() if k[0] != path}
                self._alignments[key] = al
            if frame not in al:
                raise InputError(f"alignments {path}: frame {frame} is not covered (re-run 'faceplate extract')")
            return al[frame]
        plate = doc["plate"]
        seq = Sequence(plate)  # a pattern: neighbouring frames on disk smooth the landmarks
        if seq.is_still:
            space = self.config.resolve(settings.colour_space, "--colour-space")
            proxy = self.config.to_proxy(img.rgb(), space)
            return self.finder.faces(lambda f: (proxy, (img.data_window[0], img.data_window[1])), [frame], settings,
                                     key=lambda f: frame_key(seq, f, space))[frame]
        return detect_shot_faces(self.finder, seq, [frame], settings, self.config)[frame]

    def render(self, doc: dict[str, Any]) -> dict[str, Any]:
        ocio = doc.get("ocio")
        if ocio and wire.config_key(ocio) != self.config_key:
            raise ServiceError(f"this engine service works in the OCIO config {self.config.config}; the request "
                               f"is for {ocio} (a service never serves another config: use the default socket, "
                               f"which is per config, or start one with OCIO={ocio})")
        frame = doc["frame"]
        done = self._claim_ahead(doc, frame)
        if done is None:
            files, faces = self._render_to(doc, frame, doc["out"], doc.get("deadline"))
        else:
            tmp_files, faces = done
            deadline = doc.get("deadline")
            if deadline is not None and time.time() > float(deadline):
                raise ServiceError(f"frame {frame}: the client's deadline passed before writing; nothing written")
            files = []
            for tmp in tmp_files:
                final = os.path.join(os.path.dirname(tmp), os.path.basename(tmp)[len(self._ahead_prefix(doc)):])
                os.replace(tmp, final)
                files.append(final)
        self._start_ahead(doc, frame + 1)
        return {"ok": True, "frame": frame, "faces": faces, "files": [str(p) for p in files]}

    def _render_to(self, doc: dict[str, Any], frame: int, out: str, deadline) -> tuple[list, int]:
        """Render ``frame`` of the request into the ``out`` pattern: (files written, faces replaced)."""
        values = dict(doc.get("settings") or {})
        values["model"] = doc["model"]
        settings = RenderSettings.from_values(values)
        model = self.models.get(settings.model, settings.device)
        img = read_image(wire.frame_path(doc["plate"], frame), frame)  # a pattern or the frame's file
        space = self.config.resolve(settings.colour_space, "--colour-space")
        faces = select(self._faces(dict(doc, frame=frame), img, settings), settings)
        rgb, alpha, offset = plate_arrays(img)
        if faces:
            crops = prepare(rgb, offset, [f.points for f in faces], model, settings, self.config, space)
            swaps, masks = self.batcher.run(model, np.stack([c.code for c in crops]))
            passes = finish(rgb, alpha, offset, crops, swaps, masks, model, settings, self.config, space)
        else:
            passes = empty_passes(rgb, alpha, settings)
        if deadline is not None and time.time() > float(deadline):
            raise ServiceError(f"frame {frame}: the client's deadline passed before writing; nothing written")
        files = write_passes(out, frame, img, passes, settings, bool(doc.get("separate")), model.sha256)
        return files, passes.faces

    # --- rendering ahead -------------------------------------------------------------------------
    # A per-frame caller (Natron's RunScript) asks for frames in order, one at a time, and waits for
    # each. So after answering frame N the service renders N + 1 with the same request into hidden
    # files beside the output, while the caller is between frames; when N + 1 is asked for with the
    # same plate file, model, alignments, settings, output and OCIO config, those files are renamed
    # into place (same computation, same bits), else they are dropped. At most two frames are ahead.

    @staticmethod
    def _file_key(path: str | None) -> tuple | None:
        if not path:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        return path, st.st_size, st.st_mtime_ns

    def _ahead_key(self, doc: dict[str, Any], frame: int) -> tuple | None:
        if doc.get("faces") is not None:
            return None
        plate = self._file_key(wire.frame_path(doc["plate"], frame))
        model = self._file_key(doc["model"])
        if plate is None or model is None or Sequence(doc["plate"]).is_still:
            return None
        import json

        return (doc["plate"], frame, plate, model, self._file_key(doc.get("alignments")), doc.get("alignments"),
                json.dumps(doc.get("settings") or {}, sort_keys=True), doc["out"], bool(doc.get("separate")),
                doc.get("ocio"))

    @staticmethod
    def _ahead_prefix(doc: dict[str, Any]) -> str:
        return ".faceplate-ahead-%d-" % os.getpid()

    def _claim_ahead(self, doc: dict[str, Any], frame: int):
        key = self._ahead_key(doc, frame)
        with self._ahead_lock:
            entry = self._ahead.pop(key, None) if key is not None else None
        if entry is None:
            return None
        try:
            return entry[0].result()
        except Exception:  # noqa: BLE001 - render it again in the request, which reports any error
            return None

    def _start_ahead(self, doc: dict[str, Any], frame: int) -> None:
        key = self._ahead_key(doc, frame)
        if key is None:
            return
        fut: Future = Future()
        with self._ahead_lock:
            if key in self._ahead:
                return
            while len(self._ahead) >= 2:
                old, _ = self._ahead.pop(next(iter(self._ahead)))
                old.add_done_callback(_drop_files)
            self._ahead[key] = (fut, doc["out"])
        folder, name = os.path.split(doc["out"])
        tmp_out = os.path.join(folder, self._ahead_prefix(doc) + name)

        def work() -> None:
            try:
                fut.set_result(self._render_to(dict(doc, frame=frame), frame, tmp_out, None))
            except BaseException as exc:  # noqa: BLE001 - the request for that frame renders it again
                fut.set_exception(exc)

        threading.Thread(target=work, name="faceplate-ahead", daemon=True).start()

    def drop_ahead(self, wait_s: float = 30.0) -> None:
        """Remove every frame rendered ahead (the service is stopping): waits for those in progress."""
        with self._ahead_lock:
            entries, self._ahead = list(self._ahead.values()), {}
        end = time.monotonic() + wait_s
        for fut, _ in entries:
            try:
                fut.exception(timeout=max(0.0, end - time.monotonic()))
            except Exception:  # noqa: BLE001 - still running: its files are dropped when it ends
                pass
            fut.add_done_callback(_drop_files)


def _drop_files(fut: Future) -> None:
    try:
        files, _ = fut.result()
    except BaseException:  # noqa: BLE001
        return
    for f in files:
        try:
            os.unlink(f)
        except OSError:
            pass


def serve(socket_path: str | None = None, idle_timeout: float = 600.0, max_batch: int = 16) -> int:
    svc = EngineService(socket_path, idle_timeout, max_batch)
    svc.bind()
    svc.serve_forever()
    return 0


__all__ = ["Batcher", "EngineService", "serve"]
