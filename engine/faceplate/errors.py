"""One exception tree for the whole engine.

Library code raises these; only ``faceplate.cli.main`` maps them to exit codes
and only the Natron bridge turns them into messages for the artist. Every
message names the file, frame or parameter, what was expected and what was found.
"""
from __future__ import annotations


class FaceplateError(Exception):
    """Base class of every error Faceplate raises on purpose."""

    exit_code = 2


class InputError(FaceplateError):
    """A user-supplied value (parameter, option, pattern) is wrong."""


class PlateError(FaceplateError):
    """A plate file or sequence cannot be read as expected."""


class MissingFrameError(PlateError):
    """A frame of a sequence does not exist on disk."""


class OutputError(FaceplateError):
    """An output cannot be written (folder unwritable, disk full...)."""


class ColourError(FaceplateError):
    """Unknown colour space, bad OCIO config, or a failed conversion."""


class AssetError(FaceplateError):
    """Face-model assets are missing, corrupt or failed verification."""


class ModelError(FaceplateError):
    """A swap model file is missing, corrupt or incompatible."""


class FaceSetError(FaceplateError):
    """A face set folder is missing, corrupt or inconsistent."""


class CheckpointError(FaceplateError):
    """A training checkpoint is missing, corrupt, truncated or foreign."""


class ServiceError(FaceplateError):
    """The engine service cannot be reached or refused a request."""


class ClusterError(FaceplateError):
    """Chunks or sources failed on a cluster after their retries (each one named with its cause)."""


class MissingDependencyError(FaceplateError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra.

    >>> require("json", "dev").__name__
    'json'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"this feature needs the Python package {module!r}, which is not installed "
            f"({exc}); install it with: pip install 'faceplate[{extra}]'"
        ) from exc
