"""Read a Detoxify checkpoint without torch: its config and its tensors as numpy arrays.

A torch checkpoint (`torch.save`, the zip format of torch >= 1.6) is a zip holding
`<name>/data.pkl`, a pickle whose tensors refer to raw storages stored as `<name>/data/<key>`.
The pickle is read with an unpickler that builds only plain containers, tensors and
storages of the dtypes below and refuses every other class, so a checkpoint cannot run
code here (unlike `torch.load(weights_only=False)`, which Detoxify uses). A checkpoint that
holds anything else raises ModelLoadError: load it with the `[torch]` extra instead.
"""

from __future__ import annotations

import collections
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from moderation.classifier.base import ModelLoadError

# torch storage class -> the dtype of its bytes (little-endian, as torch writes them).
_STORAGES: dict[str, str] = {
    "HalfStorage": "<f2",
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "BFloat16Storage": "<u2",  # numpy has no bfloat16: widened to float32 below
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype(_STORAGES[name])


class _Storage:
    """One raw storage: its values, and whether they are bfloat16 bits."""

    def __init__(self, values: np.ndarray[Any, Any], bfloat16: bool) -> None:
        self.values = values
        self.bfloat16 = bfloat16


def _rebuild_tensor_v2(
    storage: _Storage,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray[Any, Any]:
    values = storage.values
    itemsize = values.dtype.itemsize
    if size and any(n < 0 for n in size):
        raise ModelLoadError("a tensor in the checkpoint has a negative size")
    needed = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1
    if size and min(size) > 0 and needed > len(values):
        raise ModelLoadError("a tensor in the checkpoint reaches past its storage")
    view = np.lib.stride_tricks.as_strided(
        values[storage_offset:],
        shape=tuple(size),
        strides=tuple(s * itemsize for s in stride),
        writeable=False,
    )
    out = np.array(view)  # a contiguous copy: the storage may be shared by several tensors
    if storage.bfloat16:
        out = (out.astype(np.uint32) << 16).view(np.float32)
    return out


class _Unpickler(pickle.Unpickler):
    def __init__(self, archive: zipfile.ZipFile, prefix: str, data: bytes) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.prefix = prefix
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        raise ModelLoadError(
            f"the checkpoint holds a {module}.{name}, which is not read without torch "
            "(only tensors, dicts and lists are); install the [torch] extra to load it"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        # ('storage', storage type, key, location, number of elements)
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise ModelLoadError(f"unexpected persistent id in the checkpoint: {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise ModelLoadError(f"unexpected storage type in the checkpoint: {storage_type!r}")
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            values = np.frombuffer(raw, dtype=storage_type.dtype)
            self.storages[key] = _Storage(values, storage_type.name == "BFloat16Storage")
        return self.storages[key]


def read_checkpoint_arrays(checkpoint: Path) -> dict[str, Any]:
    """The checkpoint's top-level dict, its tensors as numpy arrays (ModelLoadError on
    anything this reader does not know)."""
    if not checkpoint.is_file():
        raise ModelLoadError(f"model checkpoint {checkpoint} does not exist")
    if sys.byteorder != "little":
        raise ModelLoadError("reading checkpoints without torch needs a little-endian machine")
    try:
        archive = zipfile.ZipFile(checkpoint)
    except zipfile.BadZipFile as exc:
        raise ModelLoadError(
            f"{checkpoint} is not a zip-format torch checkpoint (torch >= 1.6): {exc}"
        ) from exc
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ModelLoadError(f"{checkpoint} is not a torch checkpoint: no single data.pkl")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = f"{prefix}byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise ModelLoadError(f"{checkpoint} was written big-endian")
        try:
            loaded = _Unpickler(archive, prefix, archive.read(pickles[0])).load()
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"{checkpoint} is not a readable checkpoint: {exc}") from exc
    if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
        raise ModelLoadError(
            f"{checkpoint} is not a Detoxify checkpoint: it needs 'config' and 'state_dict'"
        )
    return loaded
